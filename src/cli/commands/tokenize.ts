import { Option, type Command } from 'commander';
import { AtomicOutputs, checkOutputFile } from '../../data/atomic.js';
import { DataError } from '../../data/errors.js';
import { isBlank, readLinesSync, type LineLimits } from '../../data/lines.js';
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
 * Core of `biofeg tokenize`: every non-blank line of `inputPath` is `{"text": ...}`; `emit` gets
 * one `{"input_ids":[...]}` line per input line ([CLS] text [SEP], no padding). The input is read
 * by the one line reader (streamed, bounded lines, BOM accepted, invalid UTF-8 an error naming
 * path:line). Returns the number of lines emitted.
 */
export function tokenizeJsonlTo(
  inputPath: string,
  tokenizer: WordPieceTokenizer,
  emit: (line: string) => void,
  limits?: LineLimits,
): number {
  let n = 0;
  for (const { line, text: raw } of readLinesSync(inputPath, limits)) {
    if (isBlank(raw)) continue;
    let value: unknown;
    try {
      value = JSON.parse(raw);
    } catch {
      value = undefined;
    }
    const text =
      value !== null && typeof value === 'object' && !Array.isArray(value) ? (value as Record<string, unknown>)['text'] : undefined;
    if (typeof text !== 'string') throw new DataError(inputPath, line, 'expected a JSON object with a string "text"');
    emit(JSON.stringify({ input_ids: tokenizer.encode(text) }));
    n++;
  }
  return n;
}

/**
 * {@link tokenizeJsonlTo} collected into lines. The whole file is checked before anything is
 * returned, so a bad line yields no partial output.
 */
export function tokenizeJsonl(inputPath: string, tokenizer: WordPieceTokenizer): string[] {
  const out: string[] = [];
  tokenizeJsonlTo(inputPath, tokenizer, (l) => out.push(l));
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
      if (f.output === undefined) {
        // Nothing is printed unless the whole input is good: the output is kept as buffers (not
        // one string, which V8 bounds) and written at the end.
        const chunks: Buffer[] = [];
        let pending: string[] = [];
        let size = 0;
        const flush = (): void => {
          if (pending.length) chunks.push(Buffer.from(pending.join(''), 'utf8'));
          pending = [];
          size = 0;
        };
        tokenizeJsonlTo(input, tok, (l) => {
          pending.push(l, '\n');
          size += l.length + 1;
          if (size >= 1 << 20) flush();
        });
        flush();
        for (const c of chunks) process.stdout.write(c);
        return;
      }
      // Written to a temporary beside the output and renamed at the end (a failed run leaves
      // nothing, and a killed run's temporary is removed by the next run writing this output).
      checkOutputFile(f.output);
      const out = new AtomicOutputs();
      try {
        const w = out.open(f.output);
        tokenizeJsonlTo(input, tok, (l) => w.write(`${l}\n`));
        out.commit();
      } catch (e) {
        out.abort();
        throw e;
      }
    });
}
