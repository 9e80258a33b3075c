import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Command } from 'commander';
import { afterAll, describe, expect, it, vi } from 'vitest';
import { register, tokenizeJsonl, tokenizerFromFlags } from '../src/cli/commands/tokenize.js';
import { fromVocab } from '../src/tokenize/index.js';
import { tinyVocab } from './support/vocab.js';

const dir = mkdtempSync(join(tmpdir(), 'biofeg-tokcli-'));
const tiny = tinyVocab('breast', 'cancer', 'brca', '##1', '.', 'cafe');
const vocab = join(dir, 'vocab.txt');
writeFileSync(vocab, tiny.join('\n') + '\n');

function program(): Command {
  const p = new Command().exitOverride();
  register(p);
  return p;
}

describe('biofeg tokenize', () => {
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('turns {"text"} lines into {"input_ids"} lines, [CLS] text [SEP], skipping blank lines', () => {
    const input = join(dir, 'in.jsonl');
    writeFileSync(input, '{"text": "[unused0] BRCA1 Breast Cancer [unused1]"}\n\n{"text": "Café.", "extra": 1}\r\n{"text": ""}\n');
    expect(tokenizeJsonl(input, fromVocab(vocab))).toEqual([
      '{"input_ids":[5,1,10,11,8,9,2,6]}',
      '{"input_ids":[5,13,12,6]}',
      '{"input_ids":[5,6]}',
    ]);
  });

  it('names the file and line of a bad input line', () => {
    const tok = fromVocab(vocab);
    const cases: Array<[string, number]> = [
      ['{"text": "ok"}\n{"text": 3}\n', 2],
      ['{"text": "ok"}\n\nnot json\n', 3],
      ['["text"]\n', 1],
      ['null\n', 1],
      ['{"txt": "a"}\n', 1],
    ];
    for (const [body, line] of cases) {
      const input = join(dir, 'bad.jsonl');
      writeFileSync(input, body);
      expect(() => tokenizeJsonl(input, tok)).toThrow(`${input}:${line}: expected a JSON object with a string "text"`);
    }
  });

  it('builds the tokenizer from --vocab or --model, with --cased overriding', () => {
    const model = join(dir, 'model');
    mkdirSync(model, { recursive: true });
    writeFileSync(join(model, 'vocab.txt'), tiny.join('\n') + '\n');
    writeFileSync(join(model, 'tokenizer_config.json'), JSON.stringify({ do_lower_case: true }));
    expect(tokenizerFromFlags({ model }).encode('Breast')).toEqual([5, 8, 6]);
    expect(tokenizerFromFlags({ model, cased: true }).encode('Breast')).toEqual([5, 4, 6]);
    expect(tokenizerFromFlags({ vocab }).encode('Breast')).toEqual([5, 8, 6]);
    expect(() => tokenizerFromFlags({})).toThrow(/exactly one of --model/);
    expect(() => tokenizerFromFlags({ model, vocab })).toThrow(/exactly one of --model/);
  });

  it('the registered command prints to stdout, or writes --output atomically', async () => {
    const input = join(dir, 'in2.jsonl');
    writeFileSync(input, '{"text": "breast cancer"}\n');
    const chunks: string[] = [];
    const spy = vi.spyOn(process.stdout, 'write').mockImplementation((c: string | Uint8Array) => {
      chunks.push(String(c));
      return true;
    });
    try {
      await program().parseAsync(['node', 'biofeg', 'tokenize', '--vocab', vocab, '--input_path', input]);
    } finally {
      spy.mockRestore();
    }
    expect(chunks.join('')).toBe('{"input_ids":[5,8,9,6]}\n');

    const out = join(dir, 'out.jsonl');
    await program().parseAsync(['node', 'biofeg', 'tokenize', '--vocab', vocab, '--input', input, '--output', out]);
    expect(readFileSync(out, 'utf8')).toBe('{"input_ids":[5,8,9,6]}\n');

    // A bad input leaves no output file behind.
    const bad = join(dir, 'bad2.jsonl');
    writeFileSync(bad, '{"text": 1}\n');
    const out2 = join(dir, 'out2.jsonl');
    await expect(program().parseAsync(['node', 'biofeg', 'tokenize', '--vocab', vocab, '--input', bad, '--output', out2])).rejects.toThrow(
      /bad2\.jsonl:1:/,
    );
    expect(existsSync(out2)).toBe(false);
  });
});
