// Shared by the retrieval tests: a small subset of the built-in dataset prepared into a temp
// folder, token caches with its vocab, and a tiny random bi-encoder.
import { cpSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { ensureTokenCache } from '../../src/data/cache-build.js';
import { prepare } from '../../src/data/prepare.js';
import type { TokenCache } from '../../src/data/token-cache.js';
import { BiEncoder } from '../../src/models/biencoder.js';
import type { BertConfig } from '../../src/models/bert.js';
import { fromVocab } from '../../src/tokenize/index.js';
import { randn } from '../support/rng.js';

export const ROOT = resolve(import.meta.dirname, '..', '..');
export const DEFAULT = join(ROOT, 'data', 'default');
export const VOCAB = join(DEFAULT, 'vocab.txt');

export const TINY: BertConfig = {
  vocabSize: 5353,
  hiddenSize: 32,
  numLayers: 2,
  numHeads: 2,
  intermediateSize: 64,
  maxPositions: 160,
  typeVocabSize: 2,
  layerNormEps: 1e-12,
  pooler: false,
  hiddenDropout: 0.1,
  attentionDropout: 0.1,
};

const made: string[] = [];
export function tmp(prefix: string): string {
  const d = mkdtempSync(join(tmpdir(), prefix));
  made.push(d);
  return d;
}
export function cleanup(): void {
  for (const d of made.splice(0)) rmSync(d, { recursive: true, force: true });
}

/** The default dataset with only the first `n` mentions of each split, prepared. */
export async function smallDataset(
  n: Record<'train' | 'val' | 'test', number>,
): Promise<{ dir: string; processed: string; entities: string }> {
  const dir = tmp('biofeg-eval-data-');
  cpSync(join(DEFAULT, 'documents'), join(dir, 'documents'), { recursive: true });
  mkdirSync(join(dir, 'mentions'));
  for (const s of ['train', 'val', 'test'] as const) {
    const lines = readFileSync(join(DEFAULT, 'mentions', `${s}.json`), 'utf8')
      .split('\n')
      .filter((l) => l.trim() !== '');
    writeFileSync(join(dir, 'mentions', `${s}.json`), lines.slice(0, n[s]).join('\n') + '\n');
  }
  const processed = join(dir, 'processed');
  await prepare({ dataDir: dir, outDir: processed });
  return { dir, processed, entities: join(dir, 'documents', 'all_documents.json') };
}

export const tokenizer = () => fromVocab(VOCAB, { lowercase: true });

export async function caches(
  processed: string,
  entities: string,
  split: string,
  ctx = 32,
  cand = 48,
): Promise<{ mentions: TokenCache; entities: TokenCache }> {
  const tok = tokenizer();
  const m = await ensureTokenCache({
    kind: 'mentions',
    source: join(processed, `${split}.jsonl`),
    cachePath: join(processed, 'cache', `${split}.${ctx}.tokens`),
    tokenizer: tok,
    maxContextLength: ctx,
    workers: 0,
  });
  const e = await ensureTokenCache({
    kind: 'entities',
    source: entities,
    cachePath: join(processed, 'cache', `entities.${cand}.tokens`),
    tokenizer: tok,
    maxCandLength: cand,
    workers: 0,
  });
  return { mentions: m.cache, entities: e.cache };
}

/** Both encoders random (different seeds); LayerNorm weights near 1. */
export function tinyModel(seed = 1, extra: Partial<ConstructorParameters<typeof BiEncoder>[0]> = {}): BiEncoder {
  const model = new BiEncoder({ config: TINY, device: 'cpu', ...extra });
  let s = seed;
  for (const enc of [model.context, model.candidate]) {
    const flat = randn(enc.bert.numParameters, s++, 0.3);
    for (const e of enc.bert.layout)
      if (e.name.endsWith('LayerNorm.weight')) for (let i = 0; i < e.shape[0]!; i++) flat[e.offset + i]! += 1;
    enc.bert.parameters().upload(flat);
  }
  return model;
}

/** Brute force: scores [q, P] in float64, top-k by score descending then index ascending. */
export function bruteTopk(
  queries: Float32Array,
  pool: Float32Array,
  dim: number,
  k: number,
): { indices: Int32Array; scores: Float64Array; all: Float64Array[] } {
  const q = queries.length / dim,
    p = pool.length / dim;
  const indices = new Int32Array(q * k),
    scores = new Float64Array(q * k),
    all: Float64Array[] = [];
  for (let i = 0; i < q; i++) {
    const s = new Float64Array(p);
    for (let j = 0; j < p; j++) {
      let acc = 0;
      for (let d = 0; d < dim; d++) acc += queries[i * dim + d]! * pool[j * dim + d]!;
      s[j] = acc;
    }
    all.push(s);
    const order = Array.from({ length: p }, (_, j) => j).sort((a, b) => s[b]! - s[a]! || a - b);
    for (let r = 0; r < k; r++) {
      indices[i * k + r] = order[r]!;
      scores[i * k + r] = s[order[r]!]!;
    }
  }
  return { indices, scores, all };
}
