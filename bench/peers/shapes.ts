// The bench:bert shapes and inputs, shared by bench/bert.ts and the onnxruntime-node peer (the PyTorch
// peer, bench/peers/bert_torch.py, holds the same table).
import { mulberry32 } from '../../src/models/rng.js';

export const SIZES = {
  tiny: { vocab: 8000, seq: 64, batch: 32 },
  small: { vocab: 30522, seq: 128, batch: 16 },
  base: { vocab: 30522, seq: 128, batch: 8 },
} as const;
export type Size = keyof typeof SIZES;

export interface BenchBatch {
  ids: Int32Array;
  mask: Int32Array;
  rows: number;
  seq: number;
}

/** Ids with the last quarter of every row padding (id 0, which paddingMask and HF both mask). */
export function batchOf(size: Size, seed: number): BenchBatch {
  const { vocab, seq, batch } = SIZES[size];
  const real = seq - Math.floor(seq / 4);
  const r = mulberry32(seed);
  const ids = new Int32Array(batch * seq),
    mask = new Int32Array(batch * seq);
  for (let b = 0; b < batch; b++)
    for (let t = 0; t < real; t++) {
      ids[b * seq + t] = 1 + Math.floor(r() * (vocab - 1));
      mask[b * seq + t] = 1;
    }
  return { ids, mask, rows: batch, seq };
}
