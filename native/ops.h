// The op table: one signature per op, backend-neutral. Models and bindings call a Backend;
// the reference (plain loops), fast CPU and CUDA backends fill the same table.
//
// Conventions
// - Row-major, contiguous unless a leading dimension says otherwise.
// - Float operands of one call share a dtype (f32 everywhere; CUDA and the reference backend
//   also bf16, the fast CPU backend f32 only), with these mixed cases: GEMM A and B share a dtype
//   while C, bias and pre may each be f32 or bf16; parameter-gradient accumulators (dw, db,
//   dtable, bias_grad's db) may be f32 for bf16 operands; cast converts. Arithmetic is f32 (or
//   wider) whatever the storage; bf16 outputs are rounded to nearest even on store. Statistics
//   (mean, rstd, lse, losses, scalars) and AdamW state are f32; ids and targets are i32.
// - Backward ops overwrite input gradients (dx = ...) and ACCUMULATE parameter gradients
//   (dw += ..., db += ..., dtable += ...), so a model can sum contributions across uses.
// - Dropout and attention dropout draw element i from Philox: e = offset + i takes output e % 4
//   of the Philox4x32-10 block at counter e / 4 (core/philox.h).
#pragma once
#include <cstdint>

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
  float* param = nullptr;
  const float* grad = nullptr;
  float* m = nullptr;
  float* v = nullptr;
  const float* decay_mask = nullptr;  // optional: per element 0 or 1 (1 = apply weight decay)
  int64_t n = 0;
  float lr = 0, beta1 = 0.9f, beta2 = 0.999f, eps = 1e-6f, weight_decay = 0;
  int64_t step = 1;          // 1-based
  bool bias_correction = true;
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
  float* scores = nullptr;   // f32 [Q, k], descending; ties by lower index
  int32_t* index = nullptr;  // i32 [Q, k]
  int64_t block = 0;         // pool rows per streamed block (0: backend default)
};

struct Backend {
  const char* name;
  Device device;

  void (*gemm)(const GemmDesc& g);
  void (*bias_grad)(Buf dy, Buf db, int64_t N, int64_t C);              // db[c] += sum_n dy[n,c]

  // Elementwise, n elements.
  void (*fill)(Buf y, int64_t n, float value);
  void (*cast)(Buf x, Buf y, int64_t n);                                // between dtypes
  void (*add)(Buf a, Buf b, Buf y, int64_t n);                          // y = a + b
  void (*axpy)(float alpha, Buf x, Buf y, int64_t n);                   // y += alpha * x
  void (*scale)(Buf x, Buf y, int64_t n, float s);                      // y = s * x
  void (*gelu_fwd)(Buf x, Buf y, int64_t n);                            // erf GELU
  void (*gelu_bwd)(Buf x, Buf dy, Buf dx, int64_t n);
  void (*relu_fwd)(Buf x, Buf y, int64_t n);
  void (*relu_bwd)(Buf x, Buf dy, Buf dx, int64_t n);
  void (*leaky_relu_fwd)(Buf x, Buf y, int64_t n, float slope);
  void (*leaky_relu_bwd)(Buf x, Buf dy, Buf dx, int64_t n, float slope);
  void (*tanh_fwd)(Buf x, Buf y, int64_t n);
  void (*tanh_bwd)(Buf y, Buf dy, Buf dx, int64_t n);                   // from the output y
  void (*dropout_fwd)(Buf x, Buf y, int64_t n, float p, uint64_t seed, uint64_t offset);
  void (*dropout_bwd)(Buf dy, Buf dx, int64_t n, float p, uint64_t seed, uint64_t offset);

  // Rows of C features.
  void (*layernorm_fwd)(Buf x, Buf w, Buf b, Buf y, float* mean, float* rstd, int64_t N, int64_t C, float eps);
  void (*layernorm_bwd)(Buf dy, Buf x, Buf w, const float* mean, const float* rstd, Buf dx, Buf dw, Buf db,
                        int64_t N, int64_t C);
  void (*embedding_fwd)(const int32_t* ids, Buf table, Buf y, int64_t N, int64_t C);
  void (*embedding_bwd)(const int32_t* ids, Buf dy, Buf dtable, int64_t N, int64_t C);
  void (*concat_fwd)(Buf a, Buf b, Buf y, int64_t N, int64_t Ca, int64_t Cb);   // y = [a | b]
  void (*concat_bwd)(Buf dy, Buf da, Buf db, int64_t N, int64_t Ca, int64_t Cb); // split

  // Softmax cross-entropy over rows; target < 0 ignores the row (loss 0, gradient 0).
  void (*xent_fwd)(Buf logits, const int32_t* target, float* loss, int64_t N, int64_t C);
  void (*xent_bwd)(Buf logits, const int32_t* target, const float* dloss, Buf dlogits, int64_t N, int64_t C);
  void (*mse_fwd)(Buf a, Buf b, float* out, int64_t n);                 // out[0] = mean (a-b)^2
  void (*mse_bwd)(Buf a, Buf b, float dout, Buf da, int64_t n);          // da = dout * 2 (a-b) / n

  // Row-wise pieces of the WGAN gradient penalty (rows of C features, a and norms f32 [N]).
  void (*row_axpy)(const float* a, Buf x, Buf y, int64_t N, int64_t C);  // y[n,:] += a[n] * x[n,:]
  // norms[n] = ||g[n,:]||; u[n,:] = k_n g[n,:], k_n = 2 lambda (norms[n] - 1) / (N norms[n]) (0 where
  // the norm is 0, as torch's norm backward): u = d/dg of lambda/N sum_n (||g_n|| - 1)^2. u may be g.
  void (*grad_penalty)(Buf g, float lambda, Buf u, float* norms, int64_t N, int64_t C);

  void (*attention_fwd)(const AttnDesc& d);
  // out is checked but not read: D_i = sum_j p_ij dp_ij / sum_j p_ij is summed from the
  // recomputed p and dp, the very values of dS_ij = p_ij (dp_ij - D_i), so each dS row sums to
  // zero in any storage dtype and whatever the rounding of lse (sum_j p_ij is 1 and D_i is
  // rowsum(dO * O) in exact arithmetic only; with a bf16 O the latter is off for the whole row).
  void (*attention_bwd)(const AttnDesc& d);

  void (*adamw)(const AdamWDesc& d);
  void (*sumsq)(Buf x, int64_t n, float* out);                          // out[0] += sum x^2 (f32)

  void (*topk)(const TopkDesc& d);
};

const Backend& ref_backend();
const Backend& cpu_backend();

}  // namespace biofeg
