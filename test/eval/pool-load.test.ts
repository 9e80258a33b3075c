// The entity pool's blockwise paths: a pool file read back in chunks of any size equals the
// encoded pool (f32 exactly; a bf16 pool equals the f32 values rounded to bf16), dtype conversion
// on CPU goes through the host one batch at a time, and a bf16 pool is accepted exactly where the
// build's top-k takes bf16 (probed), refused with a clear message elsewhere.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { TokenCache } from '../../src/data/token-cache.js';
import { copyInto, encodeEntityPool, loadPoolFile, poolDtypeSupported } from '../../src/eval/entity-pool.js';
import { retrieve } from '../../src/eval/retrieve.js';
import type { BiEncoder } from '../../src/models/biencoder.js';
import { engine } from '../../src/engine.js';
import { tensor } from '../../src/native.js';
import { caches, cleanup, smallDataset, tinyModel, tmp } from './retrieve-helpers.js';

let mentions: TokenCache, entities: TokenCache, model: BiEncoder;
let cachePath: string, want: Float32Array;

beforeAll(async () => {
  const d = await smallDataset({ train: 4, val: 4, test: 12 });
  ({ mentions, entities } = await caches(d.processed, d.entities, 'test'));
  model = tinyModel(5);
  const pool = await encodeEntityPool(model, entities, { batchSize: 16, cacheDir: tmp('biofeg-pool-load-') });
  cachePath = pool.cachePath!;
  want = pool.tensor.download() as Float32Array;
  pool.dispose();
});
afterAll(() => {
  mentions?.close();
  entities?.close();
  cleanup();
});

/** The f32 values rounded to bf16 as the engine rounds them (a bf16 upload, downloaded). */
function bf16Rounded(x: Float32Array): Float32Array {
  const t = tensor('cpu', 'bf16', [x.length], x);
  const r = t.download() as Float32Array;
  t.dispose();
  return r;
}

describe('pool file loading in chunks', () => {
  it('any chunk size (1 row, a ragged 7, more than the rows) gives back the encoded f32 pool exactly', () => {
    const [rows, dim] = [entities.rows, model.embedDim];
    expect(rows % 7).not.toBe(0); // the last chunk is partial
    for (const chunk of [1, 7, rows + 5]) {
      const t = tensor('cpu', 'f32', [rows, dim]);
      const ticks: number[] = [];
      loadPoolFile(cachePath, t, chunk, (d) => ticks.push(d));
      expect(t.download()).toEqual(want);
      expect(ticks.length).toBe(Math.ceil(rows / Math.min(chunk, rows)));
      expect(ticks.at(-1)).toBe(rows);
      t.dispose();
    }
  });

  it('into a bf16 tensor on CPU: the f32 values rounded to bf16 (converted by the upload, chunk by chunk)', () => {
    const t = tensor('cpu', 'bf16', [entities.rows, model.embedDim]);
    loadPoolFile(cachePath, t, 7);
    const got = t.download() as Float32Array;
    t.dispose();
    expect(got).toEqual(bf16Rounded(want));
    let maxRel = 0;
    for (let i = 0; i < want.length; i++) maxRel = Math.max(maxRel, Math.abs(got[i]! - want[i]!) / Math.max(Math.abs(want[i]!), 1e-6));
    expect(maxRel).toBeLessThan(1 / 128);
  });

  it('rejects a chunk size below 1 and a tensor that is not [rows, dim]', () => {
    const t = tensor('cpu', 'f32', [entities.rows, model.embedDim]);
    expect(() => loadPoolFile(cachePath, t, 0)).toThrow(/chunk rows must be >= 1/);
    t.dispose();
    const flat = tensor('cpu', 'f32', [entities.rows * model.embedDim]);
    expect(() => loadPoolFile(cachePath, flat, 8)).toThrow(/expected a \[rows, dim\] tensor/);
    flat.dispose();
  });
});

describe('dtype conversion on CPU', () => {
  it('copyInto f32 -> bf16 -> f32 on the cpu backend rounds to bf16 (the CPU cast takes f32 only)', () => {
    const x = want.subarray(0, 3 * model.embedDim);
    const src = tensor('cpu', 'f32', [3, model.embedDim], x);
    const mid = tensor('cpu', 'bf16', [3, model.embedDim]);
    const back = tensor('cpu', 'f32', [3, model.embedDim]);
    copyInto(engine('cpu'), src, mid);
    copyInto(engine('cpu'), mid, back);
    expect(back.download()).toEqual(bf16Rounded(x));
    for (const t of [src, mid, back]) t.dispose();
  });
});

describe('bf16 pool on CPU, by capability', () => {
  it('f32 is always supported; bf16 as the backend declares it (its top-k pool dtypes)', () => {
    expect(poolDtypeSupported('cpu', 'f32')).toBe(true);
    expect(poolDtypeSupported('cpu', 'bf16')).toBe(engine('cpu').floats('topk').includes('bf16'));
  });

  it('a bf16 pool is built and searched on the CPU (its top-k takes f32 queries against a bf16 pool)', async () => {
    expect(poolDtypeSupported('cpu', 'bf16')).toBe(true);
    // Encoded and read from the disk cache alike: the f32 pool rounded to bf16, half the bytes.
    for (const cacheDir of [undefined, cachePath.slice(0, cachePath.lastIndexOf('/'))]) {
      const pool = await encodeEntityPool(model, entities, { batchSize: 16, dtype: 'bf16', ...(cacheDir ? { cacheDir } : {}) });
      expect(pool.fromCache).toBe(cacheDir !== undefined);
      expect(pool.tensor.dtype).toBe('bf16');
      expect(pool.tensor.nbytes).toBe(entities.rows * model.embedDim * 2);
      expect(pool.tensor.download()).toEqual(bf16Rounded(want));
      pool.dispose();
    }
    // Retrieval over the bf16 pool finds what the f32 pool finds, scores within bf16 rounding.
    const k = 8;
    const f32 = await encodeEntityPool(model, entities, { batchSize: 16 });
    const a = await retrieve(model, mentions, f32, { topK: k, batchSize: 4 });
    f32.dispose();
    const b16 = await encodeEntityPool(model, entities, { batchSize: 16, dtype: 'bf16' });
    const b = await retrieve(model, mentions, b16, { topK: k, batchSize: 4 });
    b16.dispose();
    let same = 0;
    for (let i = 0; i < a.mentions; i++) {
      const sa = new Set(a.indices.subarray(i * k, (i + 1) * k));
      for (const j of b.indices.subarray(i * k, (i + 1) * k)) if (sa.has(j)) same++;
      const scale = Math.max(1, Math.abs(a.scores[i * k]!));
      expect(Math.abs(a.scores[i * k]! - b.scores[i * k]!)).toBeLessThan(0.05 * scale);
    }
    expect(same / (a.mentions * k)).toBeGreaterThan(0.8);
  });
});
