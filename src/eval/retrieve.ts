// Retrieval: mentions through the context encoder in eval_batch_size batches, then the engine's
// top-k of dot products against the whole entity pool. Query embeddings are gathered into blocks
// of `queryBlock` rows before each top-k call, so the pool is streamed once per block rather than
// once per small eval batch (the scores and indices are the same either way).
import type { TokenCache } from '../data/token-cache.js';
import type { BiEncoder } from '../models/biencoder.js';
import { engineFor } from '../engine.js';
import { tensor } from '../native.js';
import { copyInto, queryDtype, type EntityPool } from './entity-pool.js';
import { goldPositions } from './recall.js';
import { trimmedBatch } from './token-batch.js';

export interface RetrieveOptions {
  topK: number;
  /** Mentions per context-encoder forward (eval_batch_size). */
  batchSize: number;
  /** Queries per top-k call (default: the largest multiple of batchSize up to 2048). */
  queryBlock?: number;
  onProgress?: (done: number, total: number) => void;
}

export interface RetrievalResult {
  topK: number;
  mentions: number;
  /** Row-major [mentions, topK] entity indices, best first (ties: lower index first). */
  indices: Int32Array;
  /** Row-major [mentions, topK] dot-product scores, descending. */
  scores: Float32Array;
  /** Gold entity of each mention (the label id column of the mention cache). */
  gold: Int32Array;
  /** Position of the gold in its row, -1 when not retrieved (recall.ts goldPositions). */
  positions: Int32Array;
}

export async function retrieve(model: BiEncoder, mentions: TokenCache, pool: EntityPool, o: RetrieveOptions): Promise<RetrievalResult> {
  const k = o.topK;
  if (!Number.isInteger(k) || k < 1) throw new Error(`top_k must be >= 1, got ${k}`);
  if (k > pool.rows) throw new Error(`top_k ${k} exceeds the number of entities (${pool.rows})`);
  if (!Number.isInteger(o.batchSize) || o.batchSize < 1) throw new Error(`eval_batch_size must be >= 1, got ${o.batchSize}`);
  if (mentions.header.kind !== 'mentions')
    throw new Error(`${mentions.path}: expected a mention token cache, found ${mentions.header.kind}`);
  if (pool.dim !== model.embedDim) throw new Error(`entity pool has ${pool.dim}-d embeddings, the model ${model.embedDim}-d`);
  const n = mentions.rows;
  const width = mentions.width;
  const ctx = width - 1;
  if (ctx > model.config.maxPositions)
    throw new Error(`max_context_length ${ctx} exceeds the model's ${model.config.maxPositions} positions`);
  const block = o.queryBlock ?? Math.max(o.batchSize, Math.floor(2048 / o.batchSize) * o.batchSize);
  const dim = pool.dim;
  const device = model.device;
  const eng = engineFor(device);

  const indices = new Int32Array(n * k);
  const scores = new Float32Array(n * k);
  const gold = new Int32Array(n);
  const bufRows = Math.min(block, Math.max(n, 1));
  const queries = tensor(device, queryDtype(device, pool.dtype), [bufRows, dim]);
  const sc = tensor(device, 'f32', [bufRows, k]);
  const ix = tensor(device, 'i32', [bufRows, k]);
  try {
    // Top-k of the queries gathered in [0, filled) of the block; results land at mention `first`.
    const flush = async (first: number, filled: number): Promise<void> => {
      const q = queries.view(0, [filled, dim]);
      const s = sc.view(0, [filled, k]);
      const x = ix.view(0, [filled, k]);
      try {
        await eng.topkAsync(q, pool.tensor, k, s, x);
        scores.set(s.download() as Float32Array, first * k);
        indices.set(x.download() as Int32Array, first * k);
      } finally {
        for (const t of [q, s, x]) t.dispose();
      }
    };
    let blockStart = 0;
    let filled = 0;
    for (let start = 0; start < n; start += o.batchSize) {
      const b = Math.min(o.batchSize, n - start);
      if (filled + b > bufRows) {
        await flush(blockStart, filled);
        blockStart = start;
        filled = 0;
      }
      const rows = mentions.readRange(start, b);
      for (let i = 0; i < b; i++) gold[start + i] = rows[i * width + ctx]!;
      const emb = await model.encode('context', trimmedBatch(rows, b, width, ctx), false);
      const dst = queries.view(filled * dim, [b, dim]);
      try {
        copyInto(eng, emb, dst);
      } finally {
        dst.dispose();
      }
      filled += b;
      o.onProgress?.(start + b, n);
    }
    if (filled > 0) await flush(blockStart, filled);
  } finally {
    queries.dispose();
    sc.dispose();
    ix.dispose();
  }
  for (let i = 0; i < n; i++) {
    if (gold[i]! < 0 || gold[i]! >= pool.rows)
      throw new Error(`${mentions.path}: mention ${i} has label id ${gold[i]}, outside the ${pool.rows} entities`);
  }
  return { topK: k, mentions: n, indices, scores, gold, positions: goldPositions(indices, k, gold) };
}
