// Token-cache rows -> encoder batches. Rows are 0-padded to the full window; a batch is cut to
// its longest real row, which changes nothing in the embeddings (padding keys are masked and
// positions are absolute) but saves the attention and FFN work on padding.
import type { TokenBatch } from '../models/biencoder.js';

/** Real length of a 0-padded row: one past its last non-zero id (at least 1). */
export function realLength(ids: Int32Array, start: number, width: number): number {
  for (let j = width - 1; j >= 0; j--) if (ids[start + j] !== 0) return j + 1;
  return 1;
}

/**
 * `rows` row-major [count, rowWidth]; the first `take` ids of each row are the tokens (the rest,
 * e.g. a mention's label id, is left out). Returns ids [count, seq] with seq the longest row.
 */
export function trimmedBatch(rows: Int32Array, count: number, rowWidth: number, take: number): TokenBatch {
  let seq = 1;
  for (let i = 0; i < count; i++) seq = Math.max(seq, realLength(rows, i * rowWidth, take));
  const ids = new Int32Array(count * seq);
  for (let i = 0; i < count; i++) ids.set(rows.subarray(i * rowWidth, i * rowWidth + seq), i * seq);
  return { ids, rows: count, seq };
}
