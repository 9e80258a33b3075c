// The cross-encoder's pair inputs as the original builds them (BLINK / BioFEG train_cross.py
// modify() and crossencoder.py to_bert_input()), quirks included:
// - modify() never pads: a pair is the whole 0-padded context window then the candidate window
//   without its [CLS], cut to max_seq_length; so a short context's padding stays between context
//   and candidate, and the candidate starts at the bi-encoder's context length.
// - segment ids are 1 only for non-zero tokens at or after max_context_length (the cross-encoder's
//   setting, not where the candidate really starts), and none at all when it is 0.
// - the attention mask is token != 0.

/** Token ids [rows, seq] with BERT's token type ids and mask, row-major. */
export interface PairBatch {
  ids: Int32Array;
  typeIds: Int32Array;
  mask: Int32Array;
  rows: number;
  seq: number;
}

/** The length of every pair of modify(): the context, the candidate less its [CLS], at most maxSeqLength. */
export function pairLength(ctxLen: number, candLen: number, maxSeqLength: number): number {
  return Math.max(0, Math.min(ctxLen + candLen - 1, maxSeqLength));
}

/**
 * modify() for `n` mentions: `contexts` [n, ctxLen], `candidates` [n, k, candLen] -> pair ids
 * [n * k, pairLength]. Rows are mention-major (mention i's k pairs together), as the original's
 * view(-1, seq).
 */
export function joinPairs(
  contexts: Int32Array,
  ctxLen: number,
  candidates: Int32Array,
  candLen: number,
  n: number,
  k: number,
  maxSeqLength: number,
): { ids: Int32Array; rows: number; seq: number } {
  if (contexts.length !== n * ctxLen) throw new RangeError(`contexts hold ${contexts.length} ids, expected ${n} x ${ctxLen}`);
  if (candidates.length !== n * k * candLen)
    throw new RangeError(`candidates hold ${candidates.length} ids, expected ${n} x ${k} x ${candLen}`);
  if (!Number.isInteger(maxSeqLength) || maxSeqLength < 1) throw new RangeError(`max_seq_length must be >= 1, got ${maxSeqLength}`);
  const seq = pairLength(ctxLen, candLen, maxSeqLength);
  const rows = n * k;
  const ids = new Int32Array(rows * seq);
  const fromCtx = Math.min(ctxLen, seq);
  const fromCand = seq - fromCtx;
  for (let i = 0; i < n; i++) {
    const ctx = contexts.subarray(i * ctxLen, i * ctxLen + fromCtx);
    for (let j = 0; j < k; j++) {
      const r = (i * k + j) * seq;
      ids.set(ctx, r);
      const c = (i * k + j) * candLen + 1; // the candidate's [CLS] dropped
      if (fromCand > 0) ids.set(candidates.subarray(c, c + fromCand), r + fromCtx);
    }
  }
  return { ids, rows, seq };
}

/** to_bert_input(): type 1 for non-zero ids from `segmentPos` on (none when it is 0), mask id != 0. */
export function toBertInput(ids: Int32Array, rows: number, seq: number, segmentPos: number): PairBatch {
  if (ids.length !== rows * seq) throw new RangeError(`${ids.length} ids, expected ${rows} x ${seq}`);
  const typeIds = new Int32Array(ids.length);
  const mask = new Int32Array(ids.length);
  for (let i = 0; i < ids.length; i++) mask[i] = ids[i] !== 0 ? 1 : 0;
  if (segmentPos > 0)
    for (let r = 0; r < rows; r++) for (let t = segmentPos; t < seq; t++) typeIds[r * seq + t] = ids[r * seq + t] !== 0 ? 1 : 0;
  return { ids, typeIds, mask, rows, seq };
}

/**
 * Drops the trailing columns that are padding in every row (at least one column stays). Exact:
 * padding keys are masked and the score reads the [CLS] row only; positions are unchanged.
 */
export function trimPairs(b: PairBatch): PairBatch {
  let keep = 1;
  for (let r = 0; r < b.rows; r++)
    for (let t = b.seq - 1; t >= keep; t--)
      if (b.ids[r * b.seq + t] !== 0) {
        keep = t + 1;
        break;
      }
  if (keep === b.seq) return b;
  const cut = (a: Int32Array): Int32Array => {
    const o = new Int32Array(b.rows * keep);
    for (let r = 0; r < b.rows; r++) o.set(a.subarray(r * b.seq, r * b.seq + keep), r * keep);
    return o;
  };
  return { ids: cut(b.ids), typeIds: cut(b.typeIds), mask: cut(b.mask), rows: b.rows, seq: keep };
}

/** modify() then to_bert_input(), trailing padding trimmed unless `trim` is false. */
export function pairInputs(
  contexts: Int32Array,
  ctxLen: number,
  candidates: Int32Array,
  candLen: number,
  n: number,
  k: number,
  o: { maxSeqLength: number; maxContextLength: number; trim?: boolean },
): PairBatch {
  const j = joinPairs(contexts, ctxLen, candidates, candLen, n, k, o.maxSeqLength);
  const b = toBertInput(j.ids, j.rows, j.seq, o.maxContextLength);
  return o.trim === false ? b : trimPairs(b);
}
