// Generated from the op list in native/ops.h by native/gen-engine-ops.mjs: do not edit.
// The engine methods (src/engine.ts) and their order; each op's semantics are in native/ops.h.
import type { AdamWOptions, AttentionOptions, GemmOptions, MsLossOptions, TopkOptions } from './engine.js';
import type { NativeTensor as T } from './native.js';

type Seed = number | bigint;

/** The JS names of the ops, in the order of the list. */
export const OP_NAMES = [
  'gemm',
  'biasGrad',
  'fill',
  'cast',
  'add',
  'axpy',
  'scale',
  'gelu',
  'geluBackward',
  'relu',
  'reluBackward',
  'leakyRelu',
  'leakyReluBackward',
  'tanh',
  'tanhBackward',
  'silu',
  'siluBackward',
  'dropout',
  'dropoutBackward',
  'concat',
  'concatBackward',
  'rowAxpy',
  'layernorm',
  'layernormBackward',
  'l2Normalize',
  'l2NormalizeBackward',
  'embedding',
  'embeddingBackward',
  'crossEntropy',
  'crossEntropyBackward',
  'mse',
  'mseBackward',
  'gradPenalty',
  'multiSimilarityLoss',
  'attention',
  'attentionBackward',
  'adamw',
  'sumsq',
  'topk',
] as const;
export type OpName = (typeof OP_NAMES)[number];

/** The ops, as methods of an engine (a backend): every tensor on the engine's device. */
export interface EngineOps {
  /** gemm: void(const GemmDesc& g) */
  gemm(A: T, B: T, C: T, o?: GemmOptions): void;
  /** bias_grad: void(Buf dy, Buf db, int64_t N, int64_t C) */
  biasGrad(dy: T, db: T): void;
  /** fill: void(Buf y, int64_t n, float value) */
  fill(y: T, value: number): void;
  /** cast: void(Buf x, Buf y, int64_t n) */
  cast(x: T, y: T): void;
  /** add: void(Buf a, Buf b, Buf y, int64_t n) */
  add(a: T, b: T, y: T): void;
  /** axpy: void(float alpha, Buf x, Buf y, int64_t n) */
  axpy(alpha: number, x: T, y: T): void;
  /** scale: void(Buf x, Buf y, int64_t n, float s) */
  scale(x: T, y: T, s: number): void;
  /** gelu_fwd: void(Buf x, Buf y, int64_t n) */
  gelu(x: T, y: T): void;
  /** gelu_bwd: void(Buf x, Buf dy, Buf dx, int64_t n) */
  geluBackward(x: T, dy: T, dx: T): void;
  /** relu_fwd: void(Buf x, Buf y, int64_t n) */
  relu(x: T, y: T): void;
  /** relu_bwd: void(Buf x, Buf dy, Buf dx, int64_t n) */
  reluBackward(x: T, dy: T, dx: T): void;
  /** leaky_relu_fwd: void(Buf x, Buf y, int64_t n, float slope) */
  leakyRelu(x: T, y: T, slope: number): void;
  /** leaky_relu_bwd: void(Buf x, Buf dy, Buf dx, int64_t n, float slope) */
  leakyReluBackward(x: T, dy: T, dx: T, slope: number): void;
  /** tanh_fwd: void(Buf x, Buf y, int64_t n) */
  tanh(x: T, y: T): void;
  /** tanh_bwd: void(Buf y, Buf dy, Buf dx, int64_t n) */
  tanhBackward(y: T, dy: T, dx: T): void;
  /** silu_fwd: void(Buf x, Buf y, int64_t n) */
  silu(x: T, y: T): void;
  /** silu_bwd: void(Buf x, Buf dy, Buf dx, int64_t n) */
  siluBackward(x: T, dy: T, dx: T): void;
  /** dropout_fwd: void(Buf x, Buf y, int64_t n, float p, uint64_t seed, uint64_t offset) */
  dropout(x: T, y: T, p: number, seed: Seed, offset: Seed): void;
  /** dropout_bwd: void(Buf dy, Buf dx, int64_t n, float p, uint64_t seed, uint64_t offset) */
  dropoutBackward(dy: T, dx: T, p: number, seed: Seed, offset: Seed): void;
  /** concat_fwd: void(Buf a, Buf b, Buf y, int64_t N, int64_t Ca, int64_t Cb) */
  concat(a: T, b: T, y: T): void;
  /** concat_bwd: void(Buf dy, Buf da, Buf db, int64_t N, int64_t Ca, int64_t Cb) */
  concatBackward(dy: T, da: T, db: T): void;
  /** row_axpy: void(Buf a, Buf x, Buf y, int64_t N, int64_t C) */
  rowAxpy(a: T, x: T, y: T): void;
  /** layernorm_fwd: void(Buf x, Buf w, Buf b, Buf y, Buf mean, Buf rstd, int64_t N, int64_t C, float eps) */
  layernorm(x: T, w: T, bias: T, y: T, mean: T, rstd: T, eps: number): void;
  /** layernorm_bwd: void(Buf dy, Buf x, Buf w, Buf mean, Buf rstd, Buf dx, Buf dw, Buf db, int64_t N, int64_t C) */
  layernormBackward(dy: T, x: T, w: T, mean: T, rstd: T, dx: T, dw: T, db: T): void;
  /** l2norm_fwd: void(Buf x, Buf y, Buf norms, int64_t N, int64_t C) */
  l2Normalize(x: T, y: T, norms: T): void;
  /** l2norm_bwd: void(Buf y, Buf norms, Buf dy, Buf dx, int64_t N, int64_t C) */
  l2NormalizeBackward(y: T, norms: T, dy: T, dx: T): void;
  /** embedding_fwd: void(Buf ids, Buf table, Buf y, int64_t N, int64_t C, int64_t V) */
  embedding(ids: T, table: T, y: T): void;
  /** embedding_bwd: void(Buf ids, Buf dy, Buf dtable, int64_t N, int64_t C, int64_t V) */
  embeddingBackward(ids: T, dy: T, dtable: T): void;
  /** xent_fwd: void(Buf logits, Buf target, Buf loss, int64_t N, int64_t C) */
  crossEntropy(logits: T, targets: T, loss: T): void;
  /** xent_bwd: void(Buf logits, Buf target, Buf dloss, Buf dlogits, int64_t N, int64_t C) */
  crossEntropyBackward(logits: T, targets: T, dloss: T, dlogits: T): void;
  /** mse_fwd: void(Buf a, Buf b, Buf out, int64_t n) */
  mse(a: T, b: T, out: T): void;
  /** mse_bwd: void(Buf a, Buf b, float dout, Buf da, int64_t n) */
  mseBackward(a: T, b: T, dout: number, da: T): void;
  /** grad_penalty: void(Buf g, float lambda, Buf u, Buf norms, int64_t N, int64_t C) */
  gradPenalty(g: T, lambda: number, u: T, norms: T): void;
  /** ms_loss: void(const MsLossDesc& d) */
  multiSimilarityLoss(sim: T, labels: T, loss: T, dsim: T, o?: MsLossOptions): void;
  /** attention_fwd: void(const AttnDesc& d) */
  attention(qkv: T, mask: T | null, out: T, lse: T, o?: AttentionOptions): void;
  /** attention_bwd: void(const AttnDesc& d) */
  attentionBackward(qkv: T, mask: T | null, out: T, dout: T, lse: T, dqkv: T, o?: AttentionOptions): void;
  /** adamw: void(const AdamWDesc& d) */
  adamw(param: T, grad: T, m: T, v: T, decayMask: T | null, o?: AdamWOptions): void;
  /** sumsq: void(Buf x, int64_t n, Buf out) */
  sumsq(x: T, out: T): void;
  /** topk: void(const TopkDesc& d) */
  topk(queries: T, pool: T, k: number, scores: T, index: T, o?: TopkOptions): void;
}
