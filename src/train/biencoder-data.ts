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

/**
 * Fine-tuning data (finetune.py / finetune_hard.py): generated features stand in for the context
 * side. `file` is a generate-features candidate file (features required); its rows' candidates are
 * the entities scored against each feature: in-batch files have k = 1 (the entity itself), hard
 * files k candidates with the gold's position.
 */
export interface FeatureData {
  features: CandidateFile;
  entities: TokenCache;
  /** Score each feature against its saved k candidates (hard) instead of the batch's entities. */
  hard: boolean;
}

/** A batch whose context side is given features [B x dim] (host) rather than tokens. */
export interface FeatureBatch {
  features: Float32Array;
  dim: number;
  cand: TokenBatch;
  k?: number;
  gold?: Int32Array;
}

/** What the training loop reads: token data (mentions) or generated-feature data. */
export type TrainData = BiencoderData | FeatureData;

export function isFeatureData(d: TrainData): d is FeatureData {
  return 'features' in d;
}

export function exampleCount(d: TrainData): number {
  if (isFeatureData(d)) return d.features.header.count;
  return d.hard ? d.hard.header.count : d.mentions.rows;
}

/** Checks a feature file before training reads it: features present, entities in range. */
export function checkFeatureData(d: FeatureData, path = 'features'): void {
  const h = d.features.header;
  if (h.featureDim <= 0 || !d.features.rows.features)
    throw new Error(`${path}: the candidate file holds no features (expected the output of generate-features)`);
  for (const e of d.features.rows.candidates)
    if (e < 0 || e >= d.entities.rows)
      throw new Error(`${path}: entity ${e} is outside the ${d.entities.rows} entities of ${d.entities.path}`);
}

/** Rows `examples` of feature data: in-batch (each feature's own entity) or hard (its k candidates). */
export function readFeatureBatch(d: FeatureData, examples: ArrayLike<number>): FeatureBatch {
  const { header, rows } = d.features;
  const dim = header.featureDim,
    k = header.topK,
    B = examples.length;
  const features = new Float32Array(B * dim);
  for (let b = 0; b < B; b++) features.set(rows.features!.subarray(examples[b]! * dim, (examples[b]! + 1) * dim), b * dim);
  if (!d.hard) {
    const ents = Int32Array.from({ length: B }, (_, b) => rows.gold[examples[b]!]!);
    return { features, dim, cand: candidates(d, ents) };
  }
  const gold = new Int32Array(B),
    ents = new Int32Array(B * k);
  for (let b = 0; b < B; b++) {
    const e = examples[b]!;
    gold[b] = rows.goldPos[e]!;
    ents.set(rows.candidates.subarray(e * k, e * k + k), b * k);
  }
  return { features, dim, cand: candidates(d, ents), k, gold };
}

/** A training batch of either kind. */
export function readTrainBatch(d: TrainData, examples: ArrayLike<number>): Batch | FeatureBatch {
  return isFeatureData(d) ? readFeatureBatch(d, examples) : readBatch(d, examples);
}

/** Mention rows -> context ids [B, <= w-1] (cut to the longest real row) and label ids [B]. */
function contexts(d: BiencoderData, rows: ArrayLike<number>): { ctx: TokenBatch; labels: Int32Array } {
  const w = d.mentions.width,
    B = rows.length;
  const raw = d.mentions.readRows(rows);
  const labels = new Int32Array(B);
  for (let b = 0; b < B; b++) labels[b] = raw[b * w + w - 1]!;
  return { ctx: trimmedBatch(raw, B, w, w - 1), labels };
}

/** Entity rows -> candidate ids, cut to the longest real row. */
function candidates(d: { entities: TokenCache }, ents: ArrayLike<number>): TokenBatch {
  const w = d.entities.width;
  return trimmedBatch(d.entities.readRows(ents), ents.length, w, w);
}

export function readBatch(d: BiencoderData, examples: ArrayLike<number>): Batch {
  if (!d.hard) {
    const { ctx, labels } = contexts(d, examples);
    for (const l of labels)
      if (l < 0 || l >= d.entities.rows) throw new Error(`${d.mentions.path}: label id ${l} is outside the ${d.entities.rows} entities`);
    return { ctx, cand: candidates(d, labels) };
  }
  const r = d.hard.rows,
    k = d.hard.header.topK,
    B = examples.length;
  const mentionRows = new Int32Array(B),
    gold = new Int32Array(B),
    ents = new Int32Array(B * k);
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
