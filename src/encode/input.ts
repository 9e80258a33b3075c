// The input of `biofeg encode`: JSONL lines of {"text": ...}, {"input_ids": [...],
// "attention_mask": [...]}, or (a bi-encoder's context side) a mention in its context,
// {"mention", "context_left"?, "context_right"?}, windowed with the markers exactly as training
// does; checked line by line (errors name path:line), and the batch plan.
// Read by the one line reader (src/data/lines.ts): streamed, bounded lines, BOM accepted,
// invalid UTF-8 an error naming path:line.
import { DataError } from '../data/errors.js';
import { isBlank, readLinesSync, type LineLimits } from '../data/lines.js';
import { contextRepresentation } from '../data/blink-inputs.js';
import { encodeTruncated } from '../tokenize/truncate.js';
import type { WordPieceTokenizer } from '../tokenize/types.js';

export interface EncodeRow {
  ids: Int32Array;
  /** null = every token real. */
  mask: Int32Array | null;
}

export interface InputOptions {
  /** Longest sequence: texts are cut to it keeping [SEP] last; longer input_ids are refused. */
  maxLength: number;
  vocabSize: number;
  /** Built on the first text line (a model folder without a vocabulary can still encode ids). */
  tokenizer: () => WordPieceTokenizer;
  /** Line bounds (default: those of the line reader). */
  limits?: LineLimits;
  /** Whether mention lines are taken (a bi-encoder's context side); otherwise they are an error. */
  mentions?: boolean;
}

const MENTION_KEYS = ['mention', 'context_left', 'context_right'] as const;

function intArray(v: unknown, ok: (x: number) => boolean): Int32Array | null {
  if (!Array.isArray(v)) return null;
  const out = new Int32Array(v.length);
  for (let i = 0; i < v.length; i++) {
    const x: unknown = v[i];
    if (typeof x !== 'number' || !Number.isInteger(x) || !ok(x)) return null;
    out[i] = x;
  }
  return out;
}

/** One row per non-blank line, in file order. */
export function readEncodeInput(path: string, o: InputOptions): EncodeRow[] {
  if (!Number.isInteger(o.maxLength) || o.maxLength < 2)
    throw new Error(`encode: --max-length must be an integer >= 2, got ${o.maxLength}`);
  const rows: EncodeRow[] = [];
  let tok: WordPieceTokenizer | undefined;
  for (const { line, text } of readLinesSync(path, o.limits)) {
    if (isBlank(text)) continue;
    let value: unknown;
    try {
      value = JSON.parse(text);
    } catch {
      value = undefined;
    }
    if (value === null || typeof value !== 'object' || Array.isArray(value))
      throw new DataError(path, line, `expected a JSON object with a string "text", an "input_ids" array or a "mention"`);
    const obj = value as Record<string, unknown>;
    if ('mention' in obj) {
      if (!o.mentions) throw new DataError(path, line, `a "mention" line needs a bi-encoder checkpoint's context side (--side context)`);
      for (const k of MENTION_KEYS)
        if (obj[k] !== undefined && typeof obj[k] !== 'string') throw new DataError(path, line, `expected "${k}" to be a string`);
      tok ??= o.tokenizer();
      const str = (k: (typeof MENTION_KEYS)[number]): string => (typeof obj[k] === 'string' ? obj[k] : '');
      const rep = contextRepresentation(tok, str('mention'), str('context_left'), str('context_right'), o.maxLength);
      // The window is 0-padded to maxLength; training masks the padding (id 0), so it is cut off.
      let n = rep.ids.length;
      while (n > 0 && rep.ids[n - 1] === 0) n--;
      rows.push({ ids: rep.ids.slice(0, n), mask: null });
      continue;
    }
    const hasText = 'text' in obj,
      hasIds = 'input_ids' in obj;
    if (hasText === hasIds) throw new DataError(path, line, `expected exactly one of "text" and "input_ids"`);
    if (hasText) {
      if (typeof obj['text'] !== 'string') throw new DataError(path, line, `expected "text" to be a string`);
      tok ??= o.tokenizer();
      // [CLS] text [SEP] cut to maxLength with [SEP] kept last, as BLINK's truncation does; a
      // long text is tokenised only as far as needed.
      const ids = tok.encodeTruncated ? tok.encodeTruncated(obj['text'], o.maxLength) : encodeTruncated(tok, obj['text'], o.maxLength);
      rows.push({ ids: Int32Array.from(ids), mask: null });
      continue;
    }
    const ids = intArray(obj['input_ids'], (x) => x >= 0 && x < o.vocabSize);
    if (!ids || ids.length === 0)
      throw new DataError(path, line, `expected "input_ids" to be a non-empty array of integers in [0, ${o.vocabSize})`);
    if (ids.length > o.maxLength)
      throw new DataError(path, line, `expected at most ${o.maxLength} input_ids (--max-length), got ${ids.length}`);
    let mask: Int32Array | null = null;
    if (obj['attention_mask'] !== undefined && obj['attention_mask'] !== null) {
      mask = intArray(obj['attention_mask'], (x) => x === 0 || x === 1);
      if (!mask || mask.length !== ids.length)
        throw new DataError(path, line, `expected "attention_mask" to be an array of 0/1 as long as "input_ids" (${ids.length})`);
    }
    rows.push({ ids, mask });
  }
  return rows;
}

/**
 * Row indices in batches of at most `batchSize`, longest rows first: the least padding, and the
 * first batch holds the most tokens, so the model's activation plan is sized once.
 */
export function planBatches(rows: readonly EncodeRow[], batchSize: number): number[][] {
  if (!Number.isInteger(batchSize) || batchSize < 1) throw new Error(`encode: --batch-size must be an integer >= 1, got ${batchSize}`);
  const order = rows.map((_, i) => i).sort((a, b) => rows[b]!.ids.length - rows[a]!.ids.length || a - b);
  const out: number[][] = [];
  for (let i = 0; i < order.length; i += batchSize) out.push(order.slice(i, i + batchSize));
  return out;
}

/** Token ids and mask of one batch, padded with id 0 / mask 0 to its longest row. */
export function packBatch(
  rows: readonly EncodeRow[],
  idx: readonly number[],
): { ids: Int32Array; mask: Int32Array; batch: number; seq: number } {
  const seq = Math.max(...idx.map((i) => rows[i]!.ids.length));
  const ids = new Int32Array(idx.length * seq),
    mask = new Int32Array(idx.length * seq);
  idx.forEach((r, b) => {
    const row = rows[r]!;
    ids.set(row.ids, b * seq);
    if (row.mask) mask.set(row.mask, b * seq);
    else mask.fill(1, b * seq, b * seq + row.ids.length);
  });
  return { ids, mask, batch: idx.length, seq };
}
