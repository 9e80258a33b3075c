// Batches for bi-encoder training and validation, read from the token caches: mention rows hold
// the context ids then the label id; entity rows the candidate ids. With hard negatives the
// batch's candidates come from a top-k candidate file (k entities per mention, gold position).
// Batches are cut to their longest real row: padding keys are masked, so nothing else changes.
import type { CandidateFile } from '../eval/candidates.js';
import { trimmedBatch } from '../eval/token-batch.js';
import type { TokenCache } from '../data/token-cache.js';
import type { TokenBatch } from '../models/biencoder.js';
import { mulberry32 } from '../models/rng.js';

export interface BiencoderData {
  mentions: TokenCache;
  entities: TokenCache;
  /** --hard: the split's top-k candidates (rows refer to `mentions`). */
  hard?: CandidateFile;
}

export interface Batch {
  ctx: TokenBatch;
  cand: TokenBatch;
  /** Hard batches: candidates per mention and the gold's position; in-batch: undefined. */
  k?: number;
  gold?: Int32Array;
}

export function exampleCount(d: BiencoderData): number {
  return d.hard ? d.hard.header.count : d.mentions.rows;
}

/** Mention rows -> context ids [B, <= w-1] (cut to the longest real row) and label ids [B]. */
function contexts(d: BiencoderData, rows: ArrayLike<number>): { ctx: TokenBatch; labels: Int32Array } {
  const w = d.mentions.width, B = rows.length;
  const raw = d.mentions.readRows(rows);
  const labels = new Int32Array(B);
  for (let b = 0; b < B; b++) labels[b] = raw[b * w + w - 1]!;
  return { ctx: trimmedBatch(raw, B, w, w - 1), labels };
}

/** Entity rows -> candidate ids, cut to the longest real row. */
function candidates(d: BiencoderData, ents: ArrayLike<number>): TokenBatch {
  const w = d.entities.width;
  return trimmedBatch(d.entities.readRows(ents), ents.length, w, w);
}

export function readBatch(d: BiencoderData, examples: ArrayLike<number>): Batch {
  if (!d.hard) {
    const { ctx, labels } = contexts(d, examples);
    for (const l of labels) if (l < 0 || l >= d.entities.rows) throw new Error(`${d.mentions.path}: label id ${l} is outside the ${d.entities.rows} entities`);
    return { ctx, cand: candidates(d, labels) };
  }
  const r = d.hard.rows, k = d.hard.header.topK, B = examples.length;
  const mentionRows = new Int32Array(B), gold = new Int32Array(B), ents = new Int32Array(B * k);
  for (let b = 0; b < B; b++) {
    const e = examples[b]!;
    mentionRows[b] = r.mention[e]!;
    gold[b] = r.goldPos[e]!;
    ents.set(r.candidates.subarray(e * k, e * k + k), b * k);
  }
  const { ctx } = contexts(d, mentionRows);
  return { ctx, cand: candidates(d, ents), k, gold };
}

/** The epoch's example order: a seeded Fisher-Yates shuffle (or 0..n-1 without shuffling). */
export function epochOrder(n: number, seed: number, epoch: number, shuffle = true): Int32Array {
  const order = Int32Array.from({ length: n }, (_, i) => i);
  if (!shuffle) return order;
  const r = mulberry32((seed * 1000003 + epoch) >>> 0);
  for (let i = n - 1; i > 0; i--) {
    const j = Math.floor(r() * (i + 1));
    const t = order[i]!;
    order[i] = order[j]!;
    order[j] = t;
  }
  return order;
}
