import { readFileSync, readdirSync, renameSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { prepare } from '../../src/data/prepare.js';
import { loadPrepared } from '../../src/data/prepared.js';
import { pyDumpString, pyDumps, pySplit, pyStrip } from '../../src/data/pyjson.js';
import { copyFixture, fixtures, tempDir } from './helpers/tmp.js';

const OUTPUTS = ['test.jsonl', 'test_seen.jsonl', 'test_unseen.jsonl', 'train.jsonl', 'val.jsonl'];

describe('prepare: identical to the original data_process.py', () => {
  it('writes the five files byte for byte as the original did on arboel-small', async () => {
    const out = tempDir();
    const report = await prepare({ dataDir: join(fixtures, 'arboel-small'), outDir: out });
    expect(readdirSync(out).sort()).toEqual(OUTPUTS);
    for (const f of OUTPUTS) {
      const ours = readFileSync(join(out, f));
      const theirs = readFileSync(join(fixtures, 'arboel-small-expected', f));
      expect(ours.equals(theirs), f).toBe(true);
    }
    expect(report.splits.train.mentions).toBe(5);
    expect(report.testSeen + report.testUnseen).toBe(report.splits.test.mentions);
    expect(report.entities).toBe(6);
  });

  it('defaults the output to <data>/processed and accepts valid.json for val.json', async () => {
    const d = copyFixture('arboel-small');
    renameSync(join(d, 'mentions', 'val.json'), join(d, 'mentions', 'valid.json'));
    renameSync(join(d, 'documents', 'val.json'), join(d, 'documents', 'valid.json'));
    await prepare({ dataDir: d });
    const ours = readFileSync(join(d, 'processed', 'val.jsonl'));
    expect(ours.equals(readFileSync(join(fixtures, 'arboel-small-expected', 'val.jsonl')))).toBe(true);
  });

  it('loadPrepared streams records; "valid" is an alias of "val"', async () => {
    const rows = [];
    for await (const r of loadPrepared(join(fixtures, 'arboel-small-expected'), 'valid')) rows.push(r);
    expect(rows.map((r) => r.mention_id)).toEqual(['v1', 'v2']);
    expect(rows[0]).toMatchObject({ mention: 'migraine', label_id: 3, label_title: 'Migraine', context_doc_id: 'P200' });
  });
});

describe('Python twins', () => {
  it('pyDumps matches json.dumps defaults', () => {
    expect(pyDumps({ a: 'x', b: [1, null, true], c: 'é😀"\\\n\t\u0001\u007f' })).toBe(
      '{"a": "x", "b": [1, null, true], "c": "\\u00e9\\ud83d\\ude00\\"\\\\\\n\\t\\u0001\\u007f"}',
    );
    expect(pyDumpString('')).toBe('""');
  });
  it('pySplit / pyStrip use Python whitespace (\\x1c-\\x1f, \\x85, \\xa0 yes; \\ufeff no)', () => {
    expect(pySplit('  a\u00a0b\u0085c\x1cd\ufeffe  ')).toEqual(['a', 'b', 'c', 'd\ufeffe']);
    expect(pySplit('')).toEqual([]);
    expect(pySplit('   ')).toEqual([]);
    expect(pyStrip('\u3000 x y \x1f')).toBe('x y');
  });
});
