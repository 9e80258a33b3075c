import { Option, type Command } from 'commander';
import { readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import type { WordPieceTokenizer } from '../../tokenize/types.js';
import { fromVocab, loadTokenizer } from '../../tokenize/load.js';
import type { NormalizationOptions } from '../../tokenize/load.js';

interface TokenizeFlags {
  model?: string;
  bertModel?: string;
  bert_model?: string;
  vocab?: string;
  input?: string;
  inputPath?: string;
  input_path?: string;
  output?: string;
  cased?: boolean;
  lowercase?: boolean;
}

/**
 * Core of `biofeg tokenize`: every non-blank line of `inputPath` is `{"text": ...}`; returns one
 * `{"input_ids":[...]}` line per input line ([CLS] text [SEP], no padding). The whole file is
 * checked before anything is returned, so a bad line yields no partial output.
 */
export function tokenizeJsonl(inputPath: string, tokenizer: WordPieceTokenizer): string[] {
  const lines = readFileSync(inputPath, 'utf8').split(/\r?\n/);
  const out: string[] = [];
  lines.forEach((line, i) => {
    if (line.trim() === '') return;
    let value: unknown;
    try {
      value = JSON.parse(line);
    } catch {
      value = undefined;
    }
    const text = value !== null && typeof value === 'object' && !Array.isArray(value) ? (value as Record<string, unknown>)['text'] : undefined;
    if (typeof text !== 'string') throw new Error(`${inputPath}:${i + 1}: expected a JSON object with a string "text"`);
    out.push(JSON.stringify({ input_ids: tokenizer.encode(text) }));
  });
  return out;
}

/** Tokenizer from --model DIR or --vocab FILE, with --cased / --lowercase overriding the folder's config. */
export function tokenizerFromFlags(f: { model?: string; vocab?: string; cased?: boolean; lowercase?: boolean }): WordPieceTokenizer {
  if (f.cased && f.lowercase) throw new Error('tokenize: --cased and --lowercase contradict each other');
  if ((f.model === undefined) === (f.vocab === undefined)) throw new Error('tokenize: give exactly one of --model DIR and --vocab FILE');
  const opts: NormalizationOptions = {};
  if (f.cased) opts.lowercase = false;
  if (f.lowercase) opts.lowercase = true;
  return f.model !== undefined ? loadTokenizer(f.model, opts) : fromVocab(f.vocab!, opts);
}

/** `biofeg tokenize`: JSONL texts -> JSONL input_ids with a BERT WordPiece tokenizer. */
export function register(program: Command): void {
  program
    .command('tokenize')
    .description('read {"text": ...} lines, print {"input_ids": [...]} lines ([CLS] text [SEP], no padding)')
    .option('--model <dir>', 'HF model folder (tokenizer.json, or vocab.txt + tokenizer_config.json)')
    .addOption(new Option('--bert-model <dir>').hideHelp())
    .addOption(new Option('--bert_model <dir>').hideHelp())
    .option('--vocab <file>', 'a WordPiece vocab.txt instead of --model (lower-cases unless --cased)')
    .option('--input <file>', 'JSONL input, one {"text": ...} a line')
    .addOption(new Option('--input-path <file>').hideHelp())
    .addOption(new Option('--input_path <file>').hideHelp())
    .option('--output <file>', 'write here (atomically) instead of stdout')
    .option('--cased', 'do not lower-case (overrides tokenizer_config.json)')
    .option('--lowercase', 'lower-case (overrides tokenizer_config.json)')
    .action((f: TokenizeFlags) => {
      const input = f.input ?? f.inputPath ?? f.input_path;
      if (input === undefined) throw new Error('tokenize: --input is required');
      const model = f.model ?? f.bertModel ?? f.bert_model;
      const tok = tokenizerFromFlags({ model, vocab: f.vocab, cased: f.cased, lowercase: f.lowercase });
      const lines = tokenizeJsonl(input, tok);
      const body = lines.length === 0 ? '' : lines.join('\n') + '\n';
      if (f.output === undefined) {
        process.stdout.write(body);
        return;
      }
      const tmp = join(dirname(f.output), `.${basename(f.output)}.${process.pid}.tmp`);
      try {
        writeFileSync(tmp, body);
        renameSync(tmp, f.output);
      } catch (e) {
        rmSync(tmp, { force: true });
        throw e;
      }
    });
}
