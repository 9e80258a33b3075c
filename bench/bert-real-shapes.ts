// The original's real BERT shapes (issue 21) and how their model FLOPs are counted, shared by
// bench/bert-real.ts and its PyTorch peer (bench/peers/bert_torch_real.py holds the same table).
import { mulberry32 } from '../src/models/rng.js';

export type RealKind = 'train' | 'hard' | 'encode';
export interface RealShape {
  kind: RealKind;
  /** train: pairs (B contexts + B candidates); hard: mentions; encode: sequences. */
  batch: number;
  /** hard: candidates per mention. */
  k?: number;
  seq: number;
}

/** BERT-base at seq 128: in-batch at the original's batch 64 (and 128), 4 x 64 hard negatives, encode at 256. */
export const REAL_SHAPES = {
  train64: { kind: 'train', batch: 64, seq: 128 },
  train128: { kind: 'train', batch: 128, seq: 128 },
  hard: { kind: 'hard', batch: 4, k: 64, seq: 128 },
  encode256: { kind: 'encode', batch: 256, seq: 128 },
} as const satisfies Record<string, RealShape>;
export type RealShapeName = keyof typeof REAL_SHAPES;

/** --smoke: the same code paths at tiny sizes (a tiny BERT, seq 16), for cuemu and tests. */
export const SMOKE_SHAPES: Record<RealShapeName, RealShape> = {
  train64: { kind: 'train', batch: 4, seq: 16 },
  train128: { kind: 'train', batch: 8, seq: 16 },
  hard: { kind: 'hard', batch: 2, k: 4, seq: 16 },
  encode256: { kind: 'encode', batch: 8, seq: 16 },
};

export interface Dims {
  hidden: number;
  layers: number;
  intermediate: number;
}

/** Sequences one step runs through BERT: train 2B, hard B + B*k, encode B. */
export function seqsPerStep(s: RealShape): number {
  return s.kind === 'train' ? 2 * s.batch : s.kind === 'hard' ? s.batch * (1 + (s.k ?? 0)) : s.batch;
}

/** Real (unpadded) tokens of a row: the last quarter of every row is padding, as in bench:bert. */
export const realTokens = (seq: number): number => seq - Math.floor(seq / 4);

/**
 * Model FLOPs of one step, on the real tokens only (padding is not useful work):
 * forward per sequence = layers x (2 n (4h^2 + 2hI) [QKV, output, FFN GEMMs] + 4 n^2 h [QK^T and AV]),
 * n real tokens; train and hard steps count 3x forward (backward = 2x forward); encode 1x.
 * Embedding gathers, LayerNorms, softmax, the pooler, the score GEMM and the optimizer are left out.
 */
export function stepFlops(s: RealShape, d: Dims): number {
  const n = realTokens(s.seq);
  const perSeq = d.layers * (2 * n * (4 * d.hidden * d.hidden + 2 * d.hidden * d.intermediate) + 4 * n * n * d.hidden);
  return seqsPerStep(s) * perSeq * (s.kind === 'encode' ? 1 : 3);
}

export const FLOPS_NOTE =
  'model FLOPs on the real tokens n (last quarter of each row is padding, not counted): per sequence layers x (2n(4h^2+2hI) + 4n^2h); train/hard steps 3x (forward + backward), encode 1x; embeddings, LayerNorm, softmax, pooler, scores and optimizer not counted';

/** Dense bf16 peak (TFLOP/s, no sparsity) by device name, for MFU; --peak-tflops overrides. */
export function peakTflops(deviceName: string): number | undefined {
  if (/H200|H100/i.test(deviceName)) return 989; // SXM: 989.4 dense bf16
  if (/A100/i.test(deviceName)) return 312;
  if (/L40S/i.test(deviceName)) return 362;
  return undefined;
}

export interface Tokens {
  ids: Int32Array;
  rows: number;
  seq: number;
}

/** rows x seq random ids in [1, vocab), the last quarter of each row padding (id 0). */
export function tokensOf(rows: number, seq: number, vocab: number, seed: number): Tokens {
  const r = mulberry32(seed);
  const real = realTokens(seq);
  const ids = new Int32Array(rows * seq);
  for (let b = 0; b < rows; b++) for (let t = 0; t < real; t++) ids[b * seq + t] = 1 + Math.floor(r() * (vocab - 1));
  return { ids, rows, seq };
}
