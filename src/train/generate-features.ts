// Feature generation for unseen entities (generate_features.py / generate_features_hard.py): the
// entities whose dictionary index is no training mention's label id get ReLU(G(noise, E(desc)))
// features. They are written as a candidate file (eval/candidates.ts) with the features:
// in-batch: `<out>/candidates_50/generate.topk`, one row per entity, k = 1 (the entity itself);
// hard:     `<out>/candidates_80/generate.topk`, each feature's top-k among every entity encoding
//           of the bi-encoder's candidate side, the gold inserted at position 0 when missing
//           (the original's rule there, always).
// The folder names are the original's (its README's finetune_hard command points at
// candidates_50, the script writes candidates_80; findGeneratedFile accepts either).
import { existsSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';

import type { TokenCache } from '../data/token-cache.js';
import { applyMissingGoldRule, writeCandidateFile, type CandidateHeader, type RuleResult } from '../eval/candidates.js';
import { encodeEntityPool } from '../eval/entity-pool.js';
import type { BiEncoder } from '../models/biencoder.js';
import type { Gan } from '../models/gan.js';
import { engineFor } from '../engine.js';
import { tensor } from '../native.js';
import { generateFeatures } from './gan-features.js';

export const GENERATE_FILE = 'generate.topk';

/** Where generate-features writes (the original's folders). */
export function generatedFilePath(outputPath: string, hard: boolean): string {
  return join(outputPath, hard ? 'candidates_80' : 'candidates_50', GENERATE_FILE);
}

/**
 * --generate_data_path as given: the .topk file itself, a folder holding generate.topk (the
 * original passes `<out>/candidates_50/`), or the generate-features output folder.
 */
export function findGeneratedFile(path: string, hard: boolean): string {
  if (existsSync(path) && statSync(path).isFile()) return path;
  const tries = [join(path, GENERATE_FILE), generatedFilePath(path, hard), generatedFilePath(path, !hard)];
  const hit = tries.find((p) => existsSync(p));
  if (!hit)
    throw new Error(
      `${path}: no ${GENERATE_FILE} there (looked for ${tries.join(', ')}); run generate-features${hard ? ' --hard' : ''} first`,
    );
  return hit;
}

/**
 * --gan_path: a GAN checkpoint file (the original's `<out>/epoch_<i>`), or a train-gan output
 * folder, whose newest epoch_<i> file is taken.
 */
export function resolveGanPath(path: string): string {
  if (!existsSync(path)) throw new Error(`--gan_path: ${path} not found`);
  if (statSync(path).isFile()) return path;
  const epochs = readdirSync(path)
    .map((n) => /^epoch_(\d+)$/.exec(n))
    .filter((m): m is RegExpExecArray => m !== null && statSync(join(path, m[0])).isFile())
    .sort((a, b) => Number(b[1]) - Number(a[1]));
  if (epochs.length === 0)
    throw new Error(
      `--gan_path: ${path} is neither a GAN checkpoint file nor a train-gan output folder with epoch_<i> checkpoint files (see --save_every / --start_saving)`,
    );
  return join(path, epochs[0]![0]);
}

/** Label ids of a mention token cache (its last column). */
export function labelIds(mentions: TokenCache): Int32Array {
  const n = mentions.rows,
    w = mentions.width;
  const raw = mentions.readRange(0, n);
  return Int32Array.from({ length: n }, (_, i) => raw[i * w + w - 1]!);
}

/** Entity indices 0..entityCount-1 that no training label id names (data_process.py's "unseen"), ascending. */
export function unseenEntities(trainLabels: ArrayLike<number>, entityCount: number): Int32Array {
  const seen = new Uint8Array(entityCount);
  for (let i = 0; i < trainLabels.length; i++) {
    const l = trainLabels[i]!;
    if (l >= 0 && l < entityCount) seen[l] = 1;
  }
  const out: number[] = [];
  for (let e = 0; e < entityCount; e++) if (!seen[e]) out.push(e);
  return Int32Array.from(out);
}

export interface GenerateRun {
  biencoder: BiEncoder;
  gan: Gan;
  entities: TokenCache;
  /** Entities to generate for (unseenEntities). */
  rows: Int32Array;
  outputPath: string;
  hard: boolean;
  /** Candidates per feature with --hard. */
  topK: number;
  /** Entities per G call (the original: eval_batch_size) and per bi-encoder call (encode_batch_size). */
  batchSize: number;
  encodeBatchSize: number;
  seed: number;
  source?: Record<string, string>;
  onProgress?: (label: string, done: number, total: number) => void;
}

export interface GenerateResult {
  path: string;
  header: CandidateHeader;
  /** Feature rows (before the rule; equal to the file's with the 'insert' rule). */
  features: Float32Array;
}

/** Top-k of host features [n x dim] against the bi-encoder's encoding of every entity. */
async function topkOfFeatures(
  model: BiEncoder,
  entities: TokenCache,
  feats: Float32Array,
  n: number,
  k: number,
  encodeBatchSize: number,
  progress?: GenerateRun['onProgress'],
): Promise<Int32Array> {
  if (k > entities.rows) throw new Error(`top_k ${k} exceeds the number of entities (${entities.rows})`);
  const dim = model.embedDim,
    eng = engineFor(model.device);
  const pool = await encodeEntityPool(model, entities, {
    batchSize: encodeBatchSize,
    onProgress: (d, t) => progress?.('encode entities', d, t),
  });
  const out = new Int32Array(n * k);
  const block = 2048;
  try {
    for (let s = 0; s < n; s += block) {
      const b = Math.min(block, n - s);
      const q = tensor(model.device, 'f32', [b, dim], feats.subarray(s * dim, (s + b) * dim));
      const sc = tensor(model.device, 'f32', [b, k]),
        ix = tensor(model.device, 'i32', [b, k]);
      try {
        await eng.topkAsync(q, pool.tensor, k, sc, ix);
        out.set(ix.download() as Int32Array, s * k);
      } finally {
        for (const t of [q, sc, ix]) t.dispose();
      }
    }
  } finally {
    pool.dispose();
  }
  return out;
}

/** Generates the features of `rows` and writes the candidate file; returns its path and header. */
export async function generateFeatureFile(r: GenerateRun): Promise<GenerateResult> {
  const n = r.rows.length;
  if (n === 0) throw new Error('generate-features: every entity of the dictionary is seen in train; there is nothing to generate');
  const dim = r.gan.dims.featDim;
  if (dim !== r.biencoder.embedDim)
    throw new Error(`generate-features: the GAN makes ${dim}-d features, the bi-encoder's embeddings are ${r.biencoder.embedDim}-d`);
  const features = await generateFeatures(r.gan, r.entities, r.rows, { batchSize: r.batchSize, seed: r.seed });
  r.onProgress?.('generate', n, n);
  const gold = Int32Array.from(r.rows);
  let k: number, result: RuleResult;
  if (r.hard) {
    k = r.topK;
    const topk = await topkOfFeatures(r.biencoder, r.entities, features, n, k, r.encodeBatchSize, r.onProgress);
    result = applyMissingGoldRule(topk, k, gold, 'insert', { mentionRows: gold, features, featureDim: dim });
  } else {
    // In-batch: the feature's own entity is its only candidate; the batch supplies the negatives.
    k = 1;
    result = applyMissingGoldRule(gold, 1, gold, 'insert', { mentionRows: gold, features, featureDim: dim });
  }
  const path = generatedFilePath(r.outputPath, r.hard);
  const header = writeCandidateFile(path, 'generate', k, 'insert', result, {
    featureDim: dim,
    source: { ...(r.source ?? {}), entityCache: r.entities.path, seed: String(r.seed) },
  });
  return { path, header, features };
}
