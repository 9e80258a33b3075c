// A bf16 bi-encoder against its f32 twin (same weights, same random token batch): the max-abs
// error of each side's embeddings relative to the f32 scale. Shared by the CPU and CUDA checks.
import type { BertConfig } from '../../src/models/bert.js';
import { BiEncoder, type BiEncoderOptions, type TokenBatch } from '../../src/models/biencoder.js';
import { mulberry32, randn } from './rng.js';

export interface TwinCase {
  config: BertConfig;
  device: BiEncoderOptions['device'];
  addLinear?: boolean;
  outDim?: number;
  /** First weight seed (one per part). */
  weightSeed: number;
  tokenSeed: number;
  rows: number;
  seq: number;
}

export async function bf16TwinErrors(c: TwinCase): Promise<Array<{ side: 'context' | 'candidate'; err: number; rel: number }>> {
  const base = { config: c.config, device: c.device, addLinear: c.addLinear ?? false, ...(c.outDim ? { outDim: c.outDim } : {}) };
  const f32 = new BiEncoder(base),
    bf16 = new BiEncoder({ ...base, precision: 'bf16' });
  f32.parts().forEach((p, i) => {
    p.params.upload(randn(p.params.shape[0]!, c.weightSeed + i, 0.2));
    bf16.parts()[i]!.params.copyFrom(p.params);
  });
  const r = mulberry32(c.tokenSeed),
    ids = new Int32Array(c.rows * c.seq);
  for (let i = 0; i < ids.length; i++) ids[i] = 1 + Math.floor(r() * (c.config.vocabSize - 1));
  const b: TokenBatch = { ids, rows: c.rows, seq: c.seq };
  const out = [];
  for (const side of ['context', 'candidate'] as const) {
    const a = (await f32.encode(side, b)).download() as Float32Array;
    const h = (await bf16.encode(side, b)).download() as Float32Array;
    const scale = Math.max(...a.map(Math.abs));
    const err = Math.max(...a.map((v, i) => Math.abs(v - h[i]!)));
    out.push({ side, err, rel: err / scale });
  }
  return out;
}
