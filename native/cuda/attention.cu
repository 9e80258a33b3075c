// Scaled-dot-product attention with a key-padding mask, flash-attention style: the T x T score
// matrix never reaches global memory. f32 SIMT kernels (storage f32 or bf16), head dim <= 128.
//
// Layout: qkv [B, T, 3, H, D], out/dout [B, T, H, D], lse f32 [B, H, T], mask i32 [B, T].
// Tiles of 32 rows; a 128-thread block gives each row 4 threads; thread g of a row owns the
// output features e = g, g+4, g+8, ... (registers) and, for score tiles, keys (or queries)
// g*8 .. g*8+7. Shared-memory rows are padded to D+1 floats so the strided reads are
// conflict-free.
// - forward: one block per (b, h, 32-query tile); K/V tiles stream through shared memory with
//   an online softmax (running max m, running sum l); dropout multiplies the probabilities
//   after the normaliser is accumulated, exactly as the reference.
// - backward: dQ with one block per query tile streaming K/V, and dK/dV with one block per key
//   tile streaming Q/dO: each gradient row is owned by one block, so there are no atomics and
//   dqkv is written exactly once (overwrite). Probabilities are recomputed from lse with the
//   forward's dropout mask. D_i = sum_j p_ij dp_ij / sum_j p_ij is summed by a first pass of the
//   dQ kernel over the keys (into scratch, read by the dK/dV kernel), from the same p and dp as
//   dS, so each dS row sums to zero. Flash attention's rowsum(dO * O) is the same number in
//   exact arithmetic, but with a bf16-rounded O its error is shared by a whole row of dS and adds
//   up in every dQ and dK (the bf16 BERT's key-bias gradients, truly 0, showed it; the measured
//   effect is in the README's Tests section).
#include <climits>
#include <mutex>

#include "../core/philox.h"
#include "common.cuh"

namespace biofeg::cuda {
namespace {

constexpr int AT = 32;   // rows per tile
constexpr int SP = 33;   // pitch of the 32 x 32 tiles
constexpr unsigned FULL = 0xffffffffu;

struct AttnArgs {
  const int32_t* mask;
  const float* lse_in;  // backward
  float* lse_out;       // forward
  float* Dv;            // backward: D_i = sum_j p_ij dp_ij / sum_j p_ij, [B, H, T] (dQ writes, dK/dV reads)
  int64_t T, H, tiles;
  int D;
  float scale, p, ks;
  uint64_t seed, offset;
};

__device__ __forceinline__ bool key_real(const AttnArgs& a, int64_t b, int64_t j) {
  return j < a.T && (!a.mask || a.mask[b * a.T + j] != 0);
}

// Key tile kt of sequence b (rows of `row` elements from base = this head's q) into shared
// memory: K and V rows (0 for padding keys) and the key mask kv. The caller synchronises.
template <typename T>
__device__ __forceinline__ void load_kv_tile(const T* base, const AttnArgs& a, int64_t b, int64_t kt, int64_t row,
                                             int64_t HD, float* Ks, float* Vs, int* kv) {
  const int D = a.D, Dp = D + 1;
  for (int idx = threadIdx.x; idx < AT * D; idx += 128) {
    const int jj = idx / D, e = idx % D;
    const int64_t j = kt * AT + jj;
    const bool real = key_real(a, b, j);
    Ks[jj * Dp + e] = real ? ld(base + j * row + HD + e) : 0.0f;
    Vs[jj * Dp + e] = real ? ld(base + j * row + 2 * HD + e) : 0.0f;
  }
  if (threadIdx.x < AT) kv[threadIdx.x] = key_real(a, b, kt * AT + threadIdx.x) ? 1 : 0;
}

template <typename T, int DM>
__global__ void __launch_bounds__(128) k_attn_fwd(const T* qkv, T* out, AttnArgs a) {
  constexpr int NT = DM / 4;
  extern __shared__ float sm[];
  const int D = a.D, Dp = D + 1;
  float* Qs = sm;
  float* Ks = Qs + AT * Dp;
  float* Vs = Ks + AT * Dp;
  float* Ps = Vs + AT * Dp;
  int* kv = reinterpret_cast<int*>(Ps + AT * SP);
  const int tid = threadIdx.x, r = tid >> 2, g = tid & 3;
  const int64_t bh = blockIdx.x / a.tiles, qt = blockIdx.x % a.tiles;
  const int64_t b = bh / a.H, h = bh % a.H, Tn = a.T, HD = a.H * D, row = 3 * HD;
  const T* base = qkv + b * Tn * row + h * D;
  for (int idx = tid; idx < AT * D; idx += 128) {
    const int rr = idx / D, e = idx % D;
    const int64_t i = qt * AT + rr;
    Qs[rr * Dp + e] = i < Tn ? ld(base + i * row + e) : 0.0f;
  }
  const int64_t i = qt * AT + r;
  const uint64_t cbase = a.offset + static_cast<uint64_t>(bh * Tn + i) * static_cast<uint64_t>(Tn);
  float o[NT];
#pragma unroll
  for (int u = 0; u < NT; ++u) o[u] = 0.0f;
  float m = -INFINITY, l = 0.0f;
  for (int64_t kt = 0; kt < a.tiles; ++kt) {
    __syncthreads();  // the previous tile is no longer read
    load_kv_tile(base, a, b, kt, row, HD, Ks, Vs, kv);
    __syncthreads();
    float s[8];
#pragma unroll
    for (int t = 0; t < 8; ++t) s[t] = 0.0f;
#pragma unroll 4
    for (int e = 0; e < D; ++e) {
      const float q = Qs[r * Dp + e];
#pragma unroll
      for (int t = 0; t < 8; ++t) s[t] = fmaf(q, Ks[(g * 8 + t) * Dp + e], s[t]);
    }
    float tmax = -INFINITY;
#pragma unroll
    for (int t = 0; t < 8; ++t) {
      s[t] = kv[g * 8 + t] ? s[t] * a.scale : -INFINITY;
      tmax = fmaxf(tmax, s[t]);
    }
    // The 4 threads of a row are adjacent lanes; every lane takes part in the shuffles.
    tmax = fmaxf(tmax, __shfl_xor_sync(FULL, tmax, 1));
    tmax = fmaxf(tmax, __shfl_xor_sync(FULL, tmax, 2));
    const float mnew = fmaxf(m, tmax);
    const bool none = mnew == -INFINITY;  // no real key yet: nothing to add
    const float corr = none ? 1.0f : expf(m - mnew);
    float psum = 0.0f;
#pragma unroll
    for (int t = 0; t < 8; ++t) {
      const float pr = none ? 0.0f : expf(s[t] - mnew);
      psum += pr;
      float pd = pr;
      if (a.p > 0.0f && pr != 0.0f) {
        const uint64_t j = static_cast<uint64_t>(kt * AT + g * 8 + t);
        pd = dropout_keep(a.seed, cbase + j, a.p) ? pr * a.ks : 0.0f;
      }
      Ps[r * SP + g * 8 + t] = pd;
    }
    psum += __shfl_xor_sync(FULL, psum, 1);
    psum += __shfl_xor_sync(FULL, psum, 2);
    l = l * corr + psum;
#pragma unroll
    for (int u = 0; u < NT; ++u) o[u] *= corr;
    m = mnew;
    __syncwarp();  // Ps row written by the row's 4 lanes, all in this warp
#pragma unroll 4
    for (int jj = 0; jj < AT; ++jj) {
      const float pj = Ps[r * SP + jj];
#pragma unroll
      for (int u = 0; u < NT; ++u) {
        const int e = g + 4 * u;
        if (e < D) o[u] = fmaf(pj, Vs[jj * Dp + e], o[u]);
      }
    }
  }
  if (i < Tn) {
    const bool none = m == -INFINITY;  // no real key at all: output 0, lse -inf
    if (g == 0) a.lse_out[bh * Tn + i] = none ? -INFINITY : m + logf(l);
    const float inv = none ? 0.0f : 1.0f / l;
    T* orow = out + ((b * Tn + i) * a.H + h) * D;
#pragma unroll
    for (int u = 0; u < NT; ++u) {
      const int e = g + 4 * u;
      if (e < D) orow[e] = cvt<T>(o[u] * inv);
    }
  }
}

// s[t] = x . X[g*8+t] and d[t] = y . Y[g*8+t] over D features, for this thread's 8 rows of the
// shared tiles X and Y (pitch D+1): a row's scores and dO.V products against 8 keys (x = q,
// y = dO), or a key's against 8 queries (x = k, y = v).
__device__ __forceinline__ void dots8(const float* x, const float* X, const float* y, const float* Y, int D, int g,
                                      float (&s)[8], float (&d)[8]) {
  const int Dp = D + 1;
#pragma unroll
  for (int t = 0; t < 8; ++t) s[t] = d[t] = 0.0f;
#pragma unroll 4
  for (int e = 0; e < D; ++e) {
    const float xe = x[e], ye = y[e];
#pragma unroll
    for (int t = 0; t < 8; ++t) {
      s[t] = fmaf(xe, X[(g * 8 + t) * Dp + e], s[t]);
      d[t] = fmaf(ye, Y[(g * 8 + t) * Dp + e], d[t]);
    }
  }
}

// The dQ kernel's step over key tile kt: loads K, V and the key mask into shared memory, then
// computes row r's scores s (unscaled) and dp = dO . V against this thread's 8 keys g*8 .. g*8+7.
template <typename T>
__device__ __forceinline__ void dq_scores(const T* base, const AttnArgs& a, int64_t b, int64_t kt, int64_t row,
                                          int64_t HD, const float* Qs, const float* dOs, float* Ks, float* Vs,
                                          int* kv, int r, int g, float (&s)[8], float (&dpd)[8]) {
  const int D = a.D, Dp = D + 1;
  __syncthreads();  // the previous tile is no longer read
  load_kv_tile(base, a, b, kt, row, HD, Ks, Vs, kv);
  __syncthreads();
  dots8(Qs + r * Dp, Ks, dOs + r * Dp, Vs, D, g, s, dpd);
}

template <typename T, int DM>
__global__ void __launch_bounds__(128) k_attn_bwd_dq(const T* qkv, const T* dout, T* dqkv, AttnArgs a) {
  constexpr int NT = DM / 4;
  extern __shared__ float sm[];
  const int D = a.D, Dp = D + 1;
  float* Qs = sm;
  float* dOs = Qs + AT * Dp;
  float* Ks = dOs + AT * Dp;
  float* Vs = Ks + AT * Dp;
  float* Ss = Vs + AT * Dp;
  int* kv = reinterpret_cast<int*>(Ss + AT * SP);
  const int tid = threadIdx.x, r = tid >> 2, g = tid & 3;
  const int64_t bh = blockIdx.x / a.tiles, qt = blockIdx.x % a.tiles;
  const int64_t b = bh / a.H, h = bh % a.H, Tn = a.T, HD = a.H * D, row = 3 * HD;
  const T* base = qkv + b * Tn * row + h * D;
  for (int idx = tid; idx < AT * D; idx += 128) {
    const int rr = idx / D, e = idx % D;
    const int64_t i = qt * AT + rr;
    Qs[rr * Dp + e] = i < Tn ? ld(base + i * row + e) : 0.0f;
    dOs[rr * Dp + e] = i < Tn ? ld(dout + ((b * Tn + i) * a.H + h) * D + e) : 0.0f;
  }
  const int64_t i = qt * AT + r;
  const float li = i < Tn ? a.lse_in[bh * Tn + i] : -INFINITY;
  const bool alive = i < Tn && !isinf(li);  // a row with no real key has no gradient
  const uint64_t cbase = a.offset + static_cast<uint64_t>(bh * Tn + i) * static_cast<uint64_t>(Tn);
  // p_ij and dp_ij (dL/dp after the dropout mask) of key jj of tile kt, 0 for a masked key.
  auto p_dp = [&](int64_t kt, int jj, float st, float dpt, float& pr, float& dp) {
    pr = dp = 0.0f;
    if (!alive || !kv[jj]) return;
    pr = expf(st * a.scale - li);
    dp = dpt;
    if (a.p > 0.0f) dp = dropout_keep(a.seed, cbase + static_cast<uint64_t>(kt * AT + jj), a.p) ? dp * a.ks : 0.0f;
  };
  float s[8], dpd[8], pr, dp;
  // Pass 1: D_i = sum_j p_ij dp_ij / sum_j p_ij, over the row's 4 threads.
  float Di = 0.0f, psum = 0.0f;
  for (int64_t kt = 0; kt < a.tiles; ++kt) {
    dq_scores(base, a, b, kt, row, HD, Qs, dOs, Ks, Vs, kv, r, g, s, dpd);
#pragma unroll
    for (int t = 0; t < 8; ++t) {
      p_dp(kt, g * 8 + t, s[t], dpd[t], pr, dp);
      Di = fmaf(pr, dp, Di);
      psum += pr;
    }
  }
  Di += __shfl_xor_sync(FULL, Di, 1);
  Di += __shfl_xor_sync(FULL, Di, 2);
  psum += __shfl_xor_sync(FULL, psum, 1);
  psum += __shfl_xor_sync(FULL, psum, 2);
  if (psum > 0.0f) Di /= psum;
  if (i < Tn && g == 0) a.Dv[bh * Tn + i] = Di;
  // Pass 2: dS_ij = p_ij (dp_ij - D_i) scale, dQ_i = sum_j dS_ij K_j.
  float dq[NT];
#pragma unroll
  for (int u = 0; u < NT; ++u) dq[u] = 0.0f;
  for (int64_t kt = 0; kt < a.tiles; ++kt) {
    dq_scores(base, a, b, kt, row, HD, Qs, dOs, Ks, Vs, kv, r, g, s, dpd);
#pragma unroll
    for (int t = 0; t < 8; ++t) {
      p_dp(kt, g * 8 + t, s[t], dpd[t], pr, dp);
      Ss[r * SP + g * 8 + t] = pr * (dp - Di) * a.scale;
    }
    __syncwarp();
#pragma unroll 4
    for (int jj = 0; jj < AT; ++jj) {
      const float dsj = Ss[r * SP + jj];
#pragma unroll
      for (int u = 0; u < NT; ++u) {
        const int e = g + 4 * u;
        if (e < D) dq[u] = fmaf(dsj, Ks[jj * Dp + e], dq[u]);
      }
    }
  }
  if (i < Tn) {
    T* dst = dqkv + (b * Tn + i) * row + h * D;
#pragma unroll
    for (int u = 0; u < NT; ++u) {
      const int e = g + 4 * u;
      if (e < D) dst[e] = cvt<T>(dq[u]);
    }
  }
}

template <typename T, int DM>
__global__ void __launch_bounds__(128) k_attn_bwd_dkv(const T* qkv, const T* dout, T* dqkv, AttnArgs a) {
  constexpr int NT = DM / 4;
  extern __shared__ float sm[];
  const int D = a.D, Dp = D + 1;
  float* Ks = sm;
  float* Vs = Ks + AT * Dp;
  float* Qs = Vs + AT * Dp;
  float* dOs = Qs + AT * Dp;
  float* Ps = dOs + AT * Dp;
  float* Ss = Ps + AT * SP;
  float* Ls = Ss + AT * SP;
  float* Ds = Ls + AT;
  const int tid = threadIdx.x, c = tid >> 2, g = tid & 3;
  const int64_t bh = blockIdx.x / a.tiles, kt = blockIdx.x % a.tiles;
  const int64_t b = bh / a.H, h = bh % a.H, Tn = a.T, HD = a.H * D, row = 3 * HD;
  const T* base = qkv + b * Tn * row + h * D;
  for (int idx = tid; idx < AT * D; idx += 128) {
    const int jj = idx / D, e = idx % D;
    const int64_t j = kt * AT + jj;
    const bool real = key_real(a, b, j);
    Ks[jj * Dp + e] = real ? ld(base + j * row + HD + e) : 0.0f;
    Vs[jj * Dp + e] = real ? ld(base + j * row + 2 * HD + e) : 0.0f;
  }
  const int64_t j = kt * AT + c;
  const bool kreal = key_real(a, b, j);  // a padding key gets zero gradients
  float dk[NT], dv[NT];
#pragma unroll
  for (int u = 0; u < NT; ++u) dk[u] = dv[u] = 0.0f;
  for (int64_t qt = 0; qt < a.tiles; ++qt) {
    __syncthreads();
    for (int idx = tid; idx < AT * D; idx += 128) {
      const int rr = idx / D, e = idx % D;
      const int64_t i = qt * AT + rr;
      Qs[rr * Dp + e] = i < Tn ? ld(base + i * row + e) : 0.0f;
      dOs[rr * Dp + e] = i < Tn ? ld(dout + ((b * Tn + i) * a.H + h) * D + e) : 0.0f;
    }
    if (tid < AT) {
      const int64_t i = qt * AT + tid;
      Ls[tid] = i < Tn ? a.lse_in[bh * Tn + i] : -INFINITY;
      Ds[tid] = i < Tn ? a.Dv[bh * Tn + i] : 0.0f;
    }
    __syncthreads();
    float s[8], dpd[8];
    dots8(Ks + c * Dp, Qs, Vs + c * Dp, dOs, D, g, s, dpd);
#pragma unroll
    for (int t = 0; t < 8; ++t) {
      const int ii = g * 8 + t;
      const int64_t i = qt * AT + ii;
      const float li = Ls[ii];
      float pd = 0.0f, ds = 0.0f;
      if (kreal && i < Tn && !isinf(li)) {
        const float pr = expf(s[t] * a.scale - li);
        float dp = dpd[t];
        pd = pr;
        if (a.p > 0.0f) {
          const uint64_t ctr = a.offset + static_cast<uint64_t>(bh * Tn + i) * static_cast<uint64_t>(Tn) +
                               static_cast<uint64_t>(j);
          const bool keep = dropout_keep(a.seed, ctr, a.p);
          pd = keep ? pr * a.ks : 0.0f;
          dp = keep ? dp * a.ks : 0.0f;
        }
        ds = pr * (dp - Ds[ii]) * a.scale;
      }
      Ps[c * SP + ii] = pd;
      Ss[c * SP + ii] = ds;
    }
    __syncwarp();
#pragma unroll 4
    for (int ii = 0; ii < AT; ++ii) {
      const float pv = Ps[c * SP + ii], sv = Ss[c * SP + ii];
#pragma unroll
      for (int u = 0; u < NT; ++u) {
        const int e = g + 4 * u;
        if (e < D) {
          dv[u] = fmaf(pv, dOs[ii * Dp + e], dv[u]);
          dk[u] = fmaf(sv, Qs[ii * Dp + e], dk[u]);
        }
      }
    }
  }
  if (j < Tn) {
    T* dst = dqkv + (b * Tn + j) * row + h * D;
#pragma unroll
    for (int u = 0; u < NT; ++u) {
      const int e = g + 4 * u;
      if (e < D) {
        dst[HD + e] = cvt<T>(dk[u]);
        dst[2 * HD + e] = cvt<T>(dv[u]);
      }
    }
  }
}

size_t smem_fwd(int D) { return (3 * AT * (D + 1) + AT * SP) * sizeof(float) + AT * sizeof(int); }
size_t smem_dq(int D) { return (4 * AT * (D + 1) + AT * SP) * sizeof(float) + AT * sizeof(int); }
size_t smem_dkv(int D) { return (4 * AT * (D + 1) + 2 * AT * SP + 2 * AT) * sizeof(float); }

// Returns the storage dtype and fills the launch arguments. The validator checked dtypes and the
// head dim (1..kMaxHeadDim, declared as Caps::attention_max_head_dim in runtime.cpp).
DType prepare(const AttnDesc& d, const char* op, AttnArgs& a, unsigned& blocks) {
  const DType t = d.qkv.t;
  a.mask = d.mask.p ? d.mask.i32() : nullptr;
  a.lse_in = d.lse.f32();
  a.lse_out = d.lse.f32();
  a.Dv = nullptr;
  a.T = d.T;
  a.H = d.H;
  a.D = static_cast<int>(d.D);
  a.tiles = (d.T + AT - 1) / AT;
  a.scale = d.scale;
  a.p = d.dropout_p;
  a.ks = d.dropout_p > 0 ? 1.0f / (1.0f - d.dropout_p) : 1.0f;
  a.seed = d.seed;
  a.offset = d.offset;
  const int64_t nb = d.B * d.H * a.tiles;
  BIOFEG_CHECK(nb <= INT_MAX, op, ": too many (batch, head, tile) blocks: ", nb);
  blocks = static_cast<unsigned>(nb);
  return t;
}

// Raises each instantiation's shared-memory limit once, to what its largest head dim (DM) needs.
template <typename T, int DM>
void allow_once() {
  static std::once_flag flag;  // an exception leaves it unset: the next call retries
  std::call_once(flag, [] {
    allow_smem(reinterpret_cast<const void*>(&k_attn_fwd<T, DM>), smem_fwd(DM), "attention");
    allow_smem(reinterpret_cast<const void*>(&k_attn_bwd_dq<T, DM>), smem_dq(DM), "attention_bwd");
    allow_smem(reinterpret_cast<const void*>(&k_attn_bwd_dkv<T, DM>), smem_dkv(DM), "attention_bwd");
  });
}

template <typename T, int DM>
void launch_fwd(const AttnDesc& d, const AttnArgs& a, unsigned blocks) {
  const size_t sm = smem_fwd(a.D);
  allow_once<T, DM>();
  k_attn_fwd<T, DM><<<blocks, 128, sm>>>(static_cast<const T*>(d.qkv.p), static_cast<T*>(d.out.p), a);
  check_launch("attention");
}

template <typename T, int DM>
void launch_bwd(const AttnDesc& d, const AttnArgs& a, unsigned blocks) {
  const T* qkv = static_cast<const T*>(d.qkv.p);
  const T* dout = static_cast<const T*>(d.dout.p);
  T* dqkv = static_cast<T*>(d.dqkv.p);
  const size_t s1 = smem_dq(a.D), s2 = smem_dkv(a.D);
  allow_once<T, DM>();
  k_attn_bwd_dq<T, DM><<<blocks, 128, s1>>>(qkv, dout, dqkv, a);
  check_launch("attention_bwd (dq)");
  k_attn_bwd_dkv<T, DM><<<blocks, 128, s2>>>(qkv, dout, dqkv, a);
  check_launch("attention_bwd (dk, dv)");
}

}  // namespace

namespace ops {

void attention_fwd(const AttnDesc& d) {
  AttnArgs a;
  unsigned blocks = 0;
  const DType t = prepare(d, "attention", a, blocks);
  if (blocks == 0) return;
  BIOFEG_FLOAT_DISPATCH(t, "attention", T, {
    if (a.D <= 64) launch_fwd<T, 64>(d, a, blocks);
    else launch_fwd<T, 128>(d, a, blocks);
  });
}

void attention_bwd(const AttnDesc& d) {
  AttnArgs a;
  unsigned blocks = 0;
  const DType t = prepare(d, "attention_bwd", a, blocks);
  if (blocks == 0) return;
  Scratch scratch(static_cast<size_t>(d.B * d.T * d.H) * sizeof(float), "attention_bwd");  // D_i
  a.Dv = scratch.as<float>();
  BIOFEG_FLOAT_DISPATCH(t, "attention_bwd", T, {
    if (a.D <= 64) launch_bwd<T, 64>(d, a, blocks);
    else launch_bwd<T, 128>(d, a, blocks);
  });
}

}  // namespace ops
}  // namespace biofeg::cuda
