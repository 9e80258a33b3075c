// The op table: one list of ops (BIOFEG_OPS below), backend-neutral. Models and bindings call a
// Backend through the validated entry points op::NAME (native/op_table.h); the reference (plain
// loops), fast CPU and CUDA backends each fill the same table, by name, from their family files.
//
// Conventions
// - Row-major, contiguous unless a leading dimension says otherwise.
// - Float operands of one call share a dtype (f32 everywhere; CUDA and the reference backend
//   also bf16, the fast CPU backend f32 only: Caps says which), with these mixed cases: GEMM A
//   and B share a dtype while C, bias and pre may each be f32 or bf16; parameter-gradient
//   accumulators (dw, db, dtable, bias_grad's db) may be f32 for bf16 operands; cast converts.
//   Arithmetic is f32 (or wider) whatever the storage; bf16 outputs are rounded to nearest even
//   on store. Statistics (mean, rstd, lse, losses, scalars) and AdamW state are f32; ids and
//   targets are i32.
// - Backward ops overwrite input gradients (dx = ...) and ACCUMULATE parameter gradients
//   (dw += ..., db += ..., dtable += ...), so a model can sum contributions across uses.
// - Dropout and attention dropout draw element i from Philox: e = offset + i takes output e % 4
//   of the Philox4x32-10 block at counter e / 4 (core/philox.h).
// - Kernels do not validate: every call goes through its op's validator first (native/check/,
//   one per op), which checks dtypes against the backend's Caps, required operands, sizes and
//   parameter ranges. Element counts against tensor shapes are the binding's part.
#pragma once
#include <cstdint>
#include <type_traits>

#include "core/dtype.h"

namespace biofeg {

enum class Epilogue : int { None = 0, Gelu = 1 };

// C[b] = alpha * op(A[b]) @ op(B[b]) + beta * C[b] (+ bias) then epilogue, for b < batch.
// op(A) is M x K (A stored K x M when transA), op(B) is K x N (B stored N x K when transB).
struct GemmDesc {
  bool transA = false, transB = false;
  int64_t M = 0, N = 0, K = 0, batch = 1;
  float alpha = 1.0f, beta = 0.0f;
  Buf A, B, C;
  int64_t lda = 0, ldb = 0, ldc = 0;
  int64_t strideA = 0, strideB = 0, strideC = 0;
  Buf bias;                  // optional, N entries, added before the epilogue
  Epilogue epilogue = Epilogue::None;
  Buf pre;                   // optional: the pre-activation (for GELU backward), ldc like C
};

struct AdamWDesc {
  Buf param, grad, m, v;     // f32, n entries each
  Buf decay_mask;            // optional f32: per element 0 or 1 (1 = apply weight decay)
  int64_t n = 0;
  float lr = 0, beta1 = 0.9f, beta2 = 0.999f, eps = 1e-6f, weight_decay = 0;
  int64_t step = 1;          // 1-based
  bool bias_correction = true;
};

// The multi-similarity loss with TripletMarginMiner("all") pairs (pytorch_metric_learning's, as
// SapBERT trains with them): see ms_loss below.
struct MsLossDesc {
  Buf sim;                   // f32 [M, M]: cosine similarities of the M embeddings
  Buf labels;                // i32 [M]: class of each embedding
  Buf loss;                  // f32 [M]: each anchor's loss (written)
  Buf dsim;                  // f32 [M, M]: scale * d(sum of loss) / d sim (written)
  int64_t M = 0;
  float alpha = 1, beta = 60, base = 0.5f, margin = 0.2f, scale = 1;
};

struct AttnDesc {
  int64_t B = 0, T = 0, H = 0, D = 0;
  float scale = 1.0f;        // usually 1/sqrt(D)
  float dropout_p = 0;       // on the attention probabilities
  uint64_t seed = 0, offset = 0;  // probability (b,h,i,j) uses counter offset + ((b*H+h)*T+i)*T+j
  Buf qkv;                   // [B, T, 3, H, D]
  Buf mask;                  // optional i32 [B, T]: 1 = key is real, 0 = padding
  Buf out;                   // [B, T, H, D]
  Buf lse;                   // f32 [B, H, T]: log-sum-exp of each scaled, masked score row
  Buf dout, dqkv;            // backward only; dqkv overwritten
};

struct TopkDesc {
  Buf queries;               // [Q, D]
  Buf pool;                  // [P, D]
  int64_t Q = 0, P = 0, D = 0, k = 0;
  Buf scores;                // f32 [Q, k], descending; ties by lower index
  Buf index;                 // i32 [Q, k]
  int64_t block = 0;         // pool rows per streamed block (0: backend default)
};

// ---- The op list ---------------------------------------------------------------------------
// X(name, js, kind, signature, ts): the table field and kernel name, the JS method name, how the
// binding reads the JS arguments (Unary: (x, y); UnaryBwd: (x, dy, dx); UnaryBwdOut: (y, dy, dx),
// the backward of an op computed from its output; Own: a binder of its own in
// bindings/ops_bind.cpp), the C++ signature every backend implements and the validator checks,
// and the TypeScript parameters of the engine method (src/engine-ops.ts is generated from this
// list by native/gen-engine-ops.mjs; T is a Tensor). Every backend defines each op as a function
// named `name` in its namespace (the family files), and the table is filled from those names, so
// a backend missing an op does not link. Adding an op: its line here, its kernels in each
// backend's family file, its validator (native/check/), its test case (native/README.md).
#define BIOFEG_OPS(X)                                                                                                  \
  /* gemm family */                                                                                                    \
  X(gemm, "gemm", Own, void(const GemmDesc& g), "(A: T, B: T, C: T, o?: GemmOptions)")                                 \
  X(bias_grad, "biasGrad", Own, void(Buf dy, Buf db, int64_t N, int64_t C), "(dy: T, db: T)")                          \
  /* elementwise family (n elements) */                                                                                \
  X(fill, "fill", Own, void(Buf y, int64_t n, float value), "(y: T, value: number)")                                  \
  X(cast, "cast", Own, void(Buf x, Buf y, int64_t n), "(x: T, y: T)")                                                  \
  X(add, "add", Own, void(Buf a, Buf b, Buf y, int64_t n), "(a: T, b: T, y: T)")                                       \
  X(axpy, "axpy", Own, void(float alpha, Buf x, Buf y, int64_t n), "(alpha: number, x: T, y: T)")                      \
  X(scale, "scale", Own, void(Buf x, Buf y, int64_t n, float s), "(x: T, y: T, s: number)")                            \
  X(gelu_fwd, "gelu", Unary, void(Buf x, Buf y, int64_t n), "(x: T, y: T)")                                            \
  X(gelu_bwd, "geluBackward", UnaryBwd, void(Buf x, Buf dy, Buf dx, int64_t n), "(x: T, dy: T, dx: T)")                \
  X(relu_fwd, "relu", Unary, void(Buf x, Buf y, int64_t n), "(x: T, y: T)")                                            \
  X(relu_bwd, "reluBackward", UnaryBwd, void(Buf x, Buf dy, Buf dx, int64_t n), "(x: T, dy: T, dx: T)")                \
  X(leaky_relu_fwd, "leakyRelu", Own, void(Buf x, Buf y, int64_t n, float slope), "(x: T, y: T, slope: number)")       \
  X(leaky_relu_bwd, "leakyReluBackward", Own, void(Buf x, Buf dy, Buf dx, int64_t n, float slope),                     \
    "(x: T, dy: T, dx: T, slope: number)")                                                                             \
  X(tanh_fwd, "tanh", Unary, void(Buf x, Buf y, int64_t n), "(x: T, y: T)")                                            \
  X(tanh_bwd, "tanhBackward", UnaryBwdOut, void(Buf y, Buf dy, Buf dx, int64_t n), "(y: T, dy: T, dx: T)")             \
  X(silu_fwd, "silu", Unary, void(Buf x, Buf y, int64_t n), "(x: T, y: T)")                                            \
  X(silu_bwd, "siluBackward", UnaryBwd, void(Buf x, Buf dy, Buf dx, int64_t n), "(x: T, dy: T, dx: T)")                \
  X(dropout_fwd, "dropout", Own, void(Buf x, Buf y, int64_t n, float p, uint64_t seed, uint64_t offset),               \
    "(x: T, y: T, p: number, seed: Seed, offset: Seed)")                                                               \
  X(dropout_bwd, "dropoutBackward", Own, void(Buf dy, Buf dx, int64_t n, float p, uint64_t seed, uint64_t offset),     \
    "(dy: T, dx: T, p: number, seed: Seed, offset: Seed)")                                                             \
  X(concat_fwd, "concat", Own, void(Buf a, Buf b, Buf y, int64_t N, int64_t Ca, int64_t Cb), "(a: T, b: T, y: T)")     \
  X(concat_bwd, "concatBackward", Own, void(Buf dy, Buf da, Buf db, int64_t N, int64_t Ca, int64_t Cb),                \
    "(dy: T, da: T, db: T)")                                                                                           \
  X(row_axpy, "rowAxpy", Own, void(Buf a, Buf x, Buf y, int64_t N, int64_t C), "(a: T, x: T, y: T)")                   \
  /* norm family (rows of C features) */                                                                               \
  X(layernorm_fwd, "layernorm", Own,                                                                                   \
    void(Buf x, Buf w, Buf b, Buf y, Buf mean, Buf rstd, int64_t N, int64_t C, float eps),                             \
    "(x: T, w: T, bias: T, y: T, mean: T, rstd: T, eps: number)")                                                      \
  X(layernorm_bwd, "layernormBackward", Own,                                                                           \
    void(Buf dy, Buf x, Buf w, Buf mean, Buf rstd, Buf dx, Buf dw, Buf db, int64_t N, int64_t C),                      \
    "(dy: T, x: T, w: T, mean: T, rstd: T, dx: T, dw: T, db: T)")                                                      \
  X(l2norm_fwd, "l2Normalize", Own, void(Buf x, Buf y, Buf norms, int64_t N, int64_t C), "(x: T, y: T, norms: T)")     \
  X(l2norm_bwd, "l2NormalizeBackward", Own, void(Buf y, Buf norms, Buf dy, Buf dx, int64_t N, int64_t C),              \
    "(y: T, norms: T, dy: T, dx: T)")                                                                                  \
  /* embedding family: V rows in the table, ids in [0, V) */                                                           \
  X(embedding_fwd, "embedding", Own, void(Buf ids, Buf table, Buf y, int64_t N, int64_t C, int64_t V),                 \
    "(ids: T, table: T, y: T)")                                                                                        \
  X(embedding_bwd, "embeddingBackward", Own, void(Buf ids, Buf dy, Buf dtable, int64_t N, int64_t C, int64_t V),       \
    "(ids: T, dy: T, dtable: T)")                                                                                      \
  /* loss family */                                                                                                    \
  X(xent_fwd, "crossEntropy", Own, void(Buf logits, Buf target, Buf loss, int64_t N, int64_t C),                       \
    "(logits: T, targets: T, loss: T)")                                                                                \
  X(xent_bwd, "crossEntropyBackward", Own, void(Buf logits, Buf target, Buf dloss, Buf dlogits, int64_t N, int64_t C), \
    "(logits: T, targets: T, dloss: T, dlogits: T)")                                                                   \
  X(mse_fwd, "mse", Own, void(Buf a, Buf b, Buf out, int64_t n), "(a: T, b: T, out: T)")                               \
  X(mse_bwd, "mseBackward", Own, void(Buf a, Buf b, float dout, Buf da, int64_t n), "(a: T, b: T, dout: number, da: T)") \
  X(grad_penalty, "gradPenalty", Own, void(Buf g, float lambda, Buf u, Buf norms, int64_t N, int64_t C),               \
    "(g: T, lambda: number, u: T, norms: T)")                                                                          \
  X(ms_loss, "multiSimilarityLoss", Own, void(const MsLossDesc& d),                                                    \
    "(sim: T, labels: T, loss: T, dsim: T, o?: MsLossOptions)")                                                        \
  /* attention family */                                                                                               \
  X(attention_fwd, "attention", Own, void(const AttnDesc& d),                                                          \
    "(qkv: T, mask: T | null, out: T, lse: T, o?: AttentionOptions)")                                                  \
  X(attention_bwd, "attentionBackward", Own, void(const AttnDesc& d),                                                  \
    "(qkv: T, mask: T | null, out: T, dout: T, lse: T, dqkv: T, o?: AttentionOptions)")                                \
  /* optim family */                                                                                                   \
  X(adamw, "adamw", Own, void(const AdamWDesc& d), "(param: T, grad: T, m: T, v: T, decayMask: T | null, o?: AdamWOptions)") \
  X(sumsq, "sumsq", Own, void(Buf x, int64_t n, Buf out), "(x: T, out: T)")                                            \
  /* topk family */                                                                                                    \
  X(topk, "topk", Own, void(const TopkDesc& d), "(queries: T, pool: T, k: number, scores: T, index: T, o?: TopkOptions)")

// What each op computes, beyond its name (shapes in the binding's terms):
// - bias_grad: db[c] += sum_n dy[n, c]. fill: y = value (f32, bf16 or i32). cast: between f32 and
//   bf16. add: y = a + b. axpy: y += alpha x. scale: y = s x. Activations: erf GELU, ReLU,
//   LeakyReLU(slope), tanh (backward from the output y), SiLU x sigmoid(x). dropout: y = keep ? x
//   / (1 - p) : 0 (backward: the same mask and scale). concat: y = [a | b] per row (backward:
//   the split). row_axpy: y[n, :] += a[n] x[n, :] (a f32 [N]).
// - layernorm: y = (x - mean) rstd w + b per row; mean, rstd f32 [N]. l2norm: y = x / norms per
//   row, norms f32 [N] = max(||x||, 1e-12) (torch's F.normalize); backward dx = (dy - y (y . dy)) /
//   norms (dy / norms where the norm was clamped).
// - ms_loss (f32): anchor a's distances d_aj = sqrt(max(0, 2 - 2 sim_aj)) (unit vectors); the
//   miner keeps the triplets (a, p, n) (p != a of a's label, n of another) with d_an - d_ap <=
//   margin, so positive pairs are the p with min_n d_an - d_ap <= margin and negative pairs the n
//   with d_an - max_p d_ap <= margin; loss_a = 1/alpha log(1 + sum_pos exp(alpha (base - sim)))
//   + 1/beta log(1 + sum_neg exp(beta (sim - base))) (0 without pairs); dsim row a = scale d
//   loss_a / d sim_a (pairs fixed). As pytorch_metric_learning, at most one mined triplet gives
//   loss and dsim 0 everywhere (at most one triplet <=> sum_a max(#pos_a, #neg_a) <= 1).
// - embedding: y[n, :] = table[ids[n], :]; backward scatter-adds dy into dtable.
// - xent: softmax cross-entropy per row, loss f32 [N]; target < 0 ignores the row (loss 0,
//   gradient 0). mse: out[0] = mean (a - b)^2; backward da = dout 2 (a - b) / n.
// - grad_penalty (the WGAN gradient penalty's rows): norms[n] = ||g[n, :]||; u[n, :] = k_n g[n,
//   :], k_n = 2 lambda (norms[n] - 1) / (N norms[n]) (0 where the norm is 0, as torch's norm
//   backward): u = d/dg of lambda/N sum_n (||g_n|| - 1)^2. u may be g.
// - attention_bwd: out is checked but not read: D_i = sum_j p_ij dp_ij / sum_j p_ij is summed from
//   the recomputed p and dp, the very values of dS_ij = p_ij (dp_ij - D_i), so each dS row sums
//   to zero in any storage dtype and whatever the rounding of lse (sum_j p_ij is 1 and D_i is
//   rowsum(dO * O) in exact arithmetic only; with a bf16 O the latter is off for the whole row).
// - sumsq: out[0] += sum x^2 (f32 out). topk: the k best dot products of each query, streamed
//   over the pool.

// The ops as an enumeration, and each op's names.
enum class Op : int {
#define BIOFEG_OP_ENUM(name, ...) name,
  BIOFEG_OPS(BIOFEG_OP_ENUM)
#undef BIOFEG_OP_ENUM
};
#define BIOFEG_OP_COUNT(...) +1
inline constexpr int kOpCount = 0 BIOFEG_OPS(BIOFEG_OP_COUNT);
#undef BIOFEG_OP_COUNT

struct OpInfo {
  const char* name;  // the C++ name (table field, kernels)
  const char* js;    // the JS method name (used in every error message)
  const char* ts;    // TypeScript parameters
};
inline constexpr OpInfo kOps[kOpCount] = {
#define BIOFEG_OP_INFO(name, js, kind, sig, ts) {#name, js, ts},
    BIOFEG_OPS(BIOFEG_OP_INFO)
#undef BIOFEG_OP_INFO
};
inline constexpr const OpInfo& op_info(Op o) { return kOps[static_cast<int>(o)]; }

// Each op's C++ signature as a type: sig::gemm is void(const GemmDesc&).
namespace sig {
#define BIOFEG_OP_SIG(name, js, kind, s, ts) using name = s;
BIOFEG_OPS(BIOFEG_OP_SIG)
#undef BIOFEG_OP_SIG
}  // namespace sig

// ---- Capabilities: what a backend takes, declared by the backend, asked by its callers ------

// A set of dtypes.
struct DTypes {
  unsigned bits = 0;
  static constexpr DTypes of(DType t) { return DTypes{1u << static_cast<int>(t)}; }
  constexpr DTypes operator|(DTypes o) const { return DTypes{bits | o.bits}; }
  constexpr bool has(DType t) const { return (bits >> static_cast<int>(t)) & 1u; }
  constexpr bool empty() const { return bits == 0; }
};

struct Caps {
  DTypes floats;                       // storage dtypes of float operands
  DTypes op_floats[kOpCount] = {};     // where an op takes other float dtypes (empty: `floats`)
  bool f32_accumulators = false;       // parameter-gradient accumulators may be f32 with bf16 operands
  bool topk_f32_queries = false;       // top-k queries are f32 whatever the pool's dtype (else: the pool's)
  bool gemm_epilogue = true;           // gemm takes bias, GELU and pre (fused in the kernel or its store)
  int64_t attention_max_head_dim = 0;  // 0: any head dim
  int64_t topk_max_k = 1024;
  // ids (embedding) and targets (cross-entropy) are range-checked by the kernels themselves; a
  // bad one is reported by the next synchronisation (a download, synchronize()), not by the call.
  bool device_index_checks = false;

  constexpr DTypes floats_of(Op o) const {
    return op_floats[static_cast<int>(o)].empty() ? floats : op_floats[static_cast<int>(o)];
  }
};

// ---- The table -----------------------------------------------------------------------------

struct Backend {
  const char* name = nullptr;
  Device device = Device::CPU;
  Caps caps;
#define BIOFEG_OP_FIELD(name, js, kind, s, ts) std::add_pointer_t<s> name = nullptr;
  BIOFEG_OPS(BIOFEG_OP_FIELD)
#undef BIOFEG_OP_FIELD
};

// Declares every op as a function of the enclosing namespace (a backend's kernels, a
// validator's checks): `namespace biofeg::ref { BIOFEG_DECLARE_OPS }`.
#define BIOFEG_DECLARE_OP(name, ...) ::biofeg::sig::name name;
#define BIOFEG_DECLARE_OPS BIOFEG_OPS(BIOFEG_DECLARE_OP)
// Fills table `t` from the functions of namespace BIOFEG_TABLE_NS, by name:
//   #define BIOFEG_TABLE_NS ref
//   BIOFEG_FILL_TABLE(t)
#define BIOFEG_FILL_OP(name, ...) biofeg_table_.name = &BIOFEG_TABLE_NS::name;
#define BIOFEG_FILL_TABLE(t)     \
  do {                           \
    Backend& biofeg_table_ = (t); \
    BIOFEG_OPS(BIOFEG_FILL_OP)   \
  } while (0)

// Throws naming the first op a table leaves empty (called when a backend is handed out).
void require_complete(const Backend& be);

const Backend& ref_backend();
const Backend& cpu_backend();

}  // namespace biofeg
