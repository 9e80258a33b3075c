// Retrieval against brute force: the entity pool equals per-entity encoding of the full padded
// window, the engine's top-k equals a float64 JS top-k over downloaded embeddings (scores, and
// indices where the scores are not near-tied), the gold positions and recall equal hand-computed
// ones, and the disk cache of entity encodings is reused and invalidated as its key says.
import { existsSync, readdirSync, statSync, writeFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { TokenCache } from '../../src/data/token-cache.js';
import { encodeEntityPool, entityPoolHash, poolCachePath, readPoolHeader } from '../../src/eval/entity-pool.js';
import { recallReport } from '../../src/eval/recall.js';
import { retrieve } from '../../src/eval/retrieve.js';
import { trimmedBatch } from '../../src/eval/token-batch.js';
import type { BiEncoder } from '../../src/models/biencoder.js';
import { bruteTopk, caches, cleanup, smallDataset, tinyModel, tmp } from './retrieve-helpers.js';

let mentions: TokenCache, entities: TokenCache, model: BiEncoder;

beforeAll(async () => {
  const d = await smallDataset({ train: 4, val: 4, test: 30 });
  ({ mentions, entities } = await caches(d.processed, d.entities, 'test'));
  model = tinyModel(7);
});
afterAll(() => {
  mentions?.close();
  entities?.close();
  cleanup();
});

/** Embeddings of `cache` rows through `side`, one row at a time over the full padded window. */
async function encodeRows(side: 'context' | 'candidate', cache: TokenCache, take: number): Promise<Float32Array> {
  const out = new Float32Array(cache.rows * model.embedDim);
  for (let i = 0; i < cache.rows; i++) {
    const row = cache.row(i);
    const e = await model.encode(side, { ids: row.slice(0, take), rows: 1, seq: take });
    out.set(e.download() as Float32Array, i * model.embedDim);
  }
  return out;
}

function maxAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i]! - b[i]!));
  return m;
}

describe('trimmedBatch', () => {
  it('cuts a batch to its longest real row and drops the label column', () => {
    const rows = Int32Array.from([5, 7, 0, 0, 9, /**/ 5, 0, 0, 0, 3, /**/ 0, 0, 0, 0, 1]);
    expect(trimmedBatch(rows, 3, 5, 4)).toEqual({ ids: Int32Array.from([5, 7, 5, 0, 0, 0]), rows: 3, seq: 2 });
  });
});

describe('entity pool and retrieval vs brute force (tiny random BERT, default-dataset subset)', () => {
  it('pool rows equal single-row encodings of the full padded window (batching and trimming change nothing)', async () => {
    const pool = await encodeEntityPool(model, entities, { batchSize: 16 });
    expect(pool.tensor.shape).toEqual([entities.rows, model.embedDim]);
    const got = pool.tensor.download() as Float32Array;
    pool.dispose();
    const want = await encodeRows('candidate', entities, entities.width);
    expect(maxAbsDiff(got, want)).toBeLessThan(1e-4);
  });

  it('top-k indices and scores equal a float64 JS top-k over the downloaded embeddings', async () => {
    const k = 16;
    const pool = await encodeEntityPool(model, entities, { batchSize: 32 });
    const poolHost = pool.tensor.download() as Float32Array;
    // eval batch 3 and a query block of 7 rows: blocks end mid-batch boundaries and a partial last batch.
    const res = await retrieve(model, mentions, pool, { topK: k, batchSize: 3, queryBlock: 7 });
    pool.dispose();
    const queries = await encodeRows('context', mentions, mentions.width - 1);
    const bf = bruteTopk(queries, poolHost, model.embedDim, k);
    expect(res.mentions).toBe(mentions.rows);
    expect(maxAbsDiff(res.scores, bf.scores)).toBeLessThan(1e-3);
    let checked = 0;
    for (let i = 0; i < res.mentions; i++) {
      for (let r = 0; r < k; r++) {
        const j = res.indices[i * k + r]!;
        // The engine's score for its index is the true score of that entity.
        expect(Math.abs(bf.all[i]![j]! - res.scores[i * k + r]!)).toBeLessThan(1e-3);
        // Ties aside: where neighbours are clearly apart, the index is the brute-force one.
        const s = bf.scores[i * k + r]!;
        const prev = r > 0 ? bf.scores[i * k + r - 1]! : Infinity;
        const next = r + 1 < k ? bf.scores[i * k + r + 1]! : (Array.from(bf.all[i]!).sort((a, b) => b - a)[k] ?? -Infinity);
        if (prev - s > 1e-3 && s - next > 1e-3) {
          expect(j).toBe(bf.indices[i * k + r]!);
          checked++;
        }
      }
    }
    expect(checked).toBeGreaterThan(res.mentions * k * 0.8);
    // Gold = label id column; positions and recall as computed by hand.
    const gold = new Int32Array(mentions.rows);
    for (let i = 0; i < mentions.rows; i++) gold[i] = mentions.row(i)[mentions.width - 1]!;
    expect(res.gold).toEqual(gold);
    const pos = Array.from(gold, (g, i) => Array.from(res.indices.subarray(i * k, (i + 1) * k)).indexOf(g));
    expect(Array.from(res.positions)).toEqual(pos);
    expect(recallReport('test', k, res.positions)).toEqual(recallReport('test', k, pos));
  });

  it('rejects top_k above the pool size and a cache of the wrong kind', async () => {
    const pool = await encodeEntityPool(model, entities, { batchSize: 64 });
    await expect(retrieve(model, mentions, pool, { topK: entities.rows + 1, batchSize: 8 })).rejects.toThrow(
      /exceeds the number of entities/,
    );
    await expect(retrieve(model, entities, pool, { topK: 4, batchSize: 8 })).rejects.toThrow(/expected a mention token cache/);
    pool.dispose();
    await expect(encodeEntityPool(model, mentions, { batchSize: 8 })).rejects.toThrow(/expected an entity token cache/);
  });
});

describe('entity pool disk cache', () => {
  it('is written, reused, and rebuilt when the candidate weights change or the file is damaged', async () => {
    const dir = tmp('biofeg-pool-');
    const m = tinyModel(11);
    const first = await encodeEntityPool(m, entities, { batchSize: 50, cacheDir: dir });
    expect(first.fromCache).toBe(false);
    expect(existsSync(first.cachePath!)).toBe(true);
    expect(readPoolHeader(first.cachePath!)).toMatchObject({ hash: first.hash, rows: entities.rows, dim: m.embedDim });
    const a = first.tensor.download() as Float32Array;
    first.dispose();

    let ticks = 0;
    const again = await encodeEntityPool(m, entities, { batchSize: 50, cacheDir: dir, onProgress: () => ticks++ });
    expect(again.fromCache).toBe(true);
    expect(again.hash).toBe(first.hash);
    expect(ticks).toBeGreaterThan(0);
    expect(again.tensor.download()).toEqual(a);
    again.dispose();

    // Context-side weights are not part of the key.
    const ctx = m.context.bert.parameters().download() as Float32Array;
    ctx[0]! += 1;
    m.context.bert.parameters().upload(ctx);
    expect(entityPoolHash(m, entities)).toBe(first.hash);

    // A candidate weight change is a new key: encoded again into a new file.
    const cand = m.candidate.bert.parameters().download() as Float32Array;
    for (let i = 0; i < cand.length; i += 97) cand[i]! += 0.05;
    m.candidate.bert.parameters().upload(cand);
    const changed = await encodeEntityPool(m, entities, { batchSize: 50, cacheDir: dir });
    expect(changed.fromCache).toBe(false);
    expect(changed.hash).not.toBe(first.hash);
    expect(maxAbsDiff(changed.tensor.download() as Float32Array, a)).toBeGreaterThan(1e-3);
    changed.dispose();
    expect(readdirSync(dir).filter((f) => f.startsWith('entity_embeddings.')).length).toBe(2);
    expect(readdirSync(dir).some((f) => f.includes('.tmp-'))).toBe(false);

    // A truncated file under the right name is not trusted.
    const path = poolCachePath(dir, changed.hash);
    writeFileSync(path, Buffer.alloc(statSync(path).size - 4));
    const repaired = await encodeEntityPool(m, entities, { batchSize: 50, cacheDir: dir });
    expect(repaired.fromCache).toBe(false);
    expect(readPoolHeader(path)?.hash).toBe(changed.hash);
    repaired.dispose();
  });
});
