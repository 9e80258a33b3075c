// Row and column reductions: LayerNorm, softmax cross-entropy, MSE, sum of squares, bias and
// LayerNorm parameter gradients, embedding lookup and scatter-add.
// Row ops use one warp per row (4 rows per 128-thread block). Column sums (bias_grad, LayerNorm
// dw/db) are two-pass and deterministic: row slabs write f32 partials to scratch, then one
// thread per column adds the slabs in order and accumulates into the gradient.
#include <limits>

#include "common.cuh"

namespace biofeg::cuda {
namespace {

constexpr int kRowsPerBlock = 4;  // warps per 128-thread block, one row each

unsigned row_blocks(int64_t N, const char* op) {
  const int64_t b = (N + kRowsPerBlock - 1) / kRowsPerBlock;
  BIOFEG_CHECK(b <= 0x7fffffff, op, ": too many rows (", N, ")");
  return static_cast<unsigned>(b);
}

template <typename T>
__global__ void k_ln_fwd(const T* x, const T* w, const T* b, T* y, float* mean, float* rstd, int64_t N, int64_t C,
                         float eps) {
  const int64_t row = static_cast<int64_t>(blockIdx.x) * kRowsPerBlock + (threadIdx.x >> 5);
  const int lane = threadIdx.x & 31;
  if (row >= N) return;  // whole warps leave together
  const T* r = x + row * C;
  T* o = y + row * C;
  const float fc = static_cast<float>(C);
  float s = 0;
  for (int64_t c = lane; c < C; c += 32) s += ld(r + c);
  const float m = warp_sum(s) / fc;
  float v = 0;
  for (int64_t c = lane; c < C; c += 32) {
    const float d = ld(r + c) - m;
    v += d * d;
  }
  v = warp_sum(v) / fc;
  const float rs = 1.0f / sqrtf(v + eps);
  for (int64_t c = lane; c < C; c += 32) o[c] = cvt<T>((ld(r + c) - m) * rs * ld(w + c) + ld(b + c));
  if (lane == 0) {
    mean[row] = m;
    rstd[row] = rs;
  }
}

template <typename T>
__global__ void k_ln_bwd_rows(const T* dy, const T* x, const T* w, const float* mean, const float* rstd, T* dx,
                              int64_t N, int64_t C) {
  const int64_t row = static_cast<int64_t>(blockIdx.x) * kRowsPerBlock + (threadIdx.x >> 5);
  const int lane = threadIdx.x & 31;
  if (row >= N) return;
  const T *g = dy + row * C, *r = x + row * C;
  const float m = mean[row], rs = rstd[row], fc = static_cast<float>(C);
  float s1 = 0, s2 = 0;
  for (int64_t c = lane; c < C; c += 32) {
    const float gw = ld(g + c) * ld(w + c);
    s1 += gw;
    s2 += gw * ((ld(r + c) - m) * rs);
  }
  s1 = warp_sum(s1) / fc;
  s2 = warp_sum(s2) / fc;
  for (int64_t c = lane; c < C; c += 32) {
    const float xh = (ld(r + c) - m) * rs;
    dx[row * C + c] = cvt<T>(rs * (ld(g + c) * ld(w + c) - s1 - xh * s2));
  }
}

// Column partial sums over a slab of rows: block (32, 8), grid (column tiles, slabs).
// part1[s*C + c] = sum dy*xhat (LN only), part2[s*C + c] = sum dy.
template <typename T, bool LN>
__global__ void k_colsum(const T* dy, const T* x, const float* mean, const float* rstd, float* part1, float* part2,
                         int64_t N, int64_t C, int64_t rows_per_slab) {
  __shared__ float s1[8][33];
  __shared__ float s2[8][33];
  const int64_t c = static_cast<int64_t>(blockIdx.x) * 32 + threadIdx.x;
  const int64_t r0 = static_cast<int64_t>(blockIdx.y) * rows_per_slab;
  const int64_t r1 = r0 + rows_per_slab < N ? r0 + rows_per_slab : N;
  float a1 = 0, a2 = 0;
  if (c < C) {
    for (int64_t n = r0 + threadIdx.y; n < r1; n += 8) {
      const float g = ld(dy + n * C + c);
      a2 += g;
      if (LN) a1 += g * ((ld(x + n * C + c) - mean[n]) * rstd[n]);
    }
  }
  s1[threadIdx.y][threadIdx.x] = a1;
  s2[threadIdx.y][threadIdx.x] = a2;
  __syncthreads();
  if (threadIdx.y == 0 && c < C) {
    float t1 = 0, t2 = 0;
    for (int i = 0; i < 8; ++i) {
      t1 += s1[i][threadIdx.x];
      t2 += s2[i][threadIdx.x];
    }
    if (LN) part1[blockIdx.y * C + c] = t1;
    part2[blockIdx.y * C + c] = t2;
  }
}

// acc1[c] += sum_s part1[s, c] (when acc1.p), acc2[c] += sum_s part2[s, c].
__global__ void k_colsum_finish(const float* part1, const float* part2, int64_t S, int64_t C, AnyPtr acc1,
                                AnyPtr acc2) {
  for (int64_t c = gtid(); c < C; c += gstride()) {
    float t1 = 0, t2 = 0;
    for (int64_t s = 0; s < S; ++s) {
      if (acc1.p) t1 += part1[s * C + c];
      t2 += part2[s * C + c];
    }
    if (acc1.p) acc1.add(c, t1);
    acc2.add(c, t2);
  }
}

struct ColPlan {
  int64_t col_tiles, slabs, rows_per_slab;
};
ColPlan plan_columns(int64_t N, int64_t C, const char* op) {
  ColPlan p;
  p.col_tiles = (C + 31) / 32;
  BIOFEG_CHECK(p.col_tiles <= 0x7fffffff, op, ": too many columns (", C, ")");
  const int64_t want = (4 * static_cast<int64_t>(sm_count()) + p.col_tiles - 1) / p.col_tiles;  // ~4 blocks per SM
  const int64_t max_slabs = (N + 63) / 64;                                                        // >= 64 rows each
  p.slabs = want < 1 ? 1 : want;
  if (p.slabs > max_slabs) p.slabs = max_slabs;
  if (p.slabs > 1024) p.slabs = 1024;
  if (p.slabs < 1) p.slabs = 1;
  p.rows_per_slab = (N + p.slabs - 1) / p.slabs;
  p.slabs = (N + p.rows_per_slab - 1) / p.rows_per_slab;
  if (p.slabs < 1) p.slabs = 1;
  return p;
}

template <typename T, bool LN>
void column_sums(const char* op, const T* dy, const T* x, const float* mean, const float* rstd, AnyPtr acc1,
                 AnyPtr acc2, int64_t N, int64_t C) {
  const ColPlan p = plan_columns(N, C, op);
  Scratch scratch(static_cast<size_t>(2 * p.slabs * C) * sizeof(float), op);
  float* part1 = scratch.as<float>();
  float* part2 = part1 + p.slabs * C;
  k_colsum<T, LN><<<dim3(static_cast<unsigned>(p.col_tiles), static_cast<unsigned>(p.slabs)), dim3(32, 8)>>>(
      dy, x, mean, rstd, part1, part2, N, C, p.rows_per_slab);
  check_launch(op);
  k_colsum_finish<<<grid_for(C, 256), 256>>>(part1, part2, p.slabs, C, acc1, acc2);
  check_launch(op);
}

// Softmax cross-entropy, one warp per row. lse = max + log(sum exp(x - max)).
template <typename T>
__device__ __forceinline__ float row_lse(const T* r, int64_t C, int lane) {
  float mx = -INFINITY;
  for (int64_t c = lane; c < C; c += 32) mx = fmaxf(mx, ld(r + c));
  mx = warp_max(mx);
  float s = 0;
  for (int64_t c = lane; c < C; c += 32) s += expf(ld(r + c) - mx);
  s = warp_sum(s);
  return mx + logf(s);
}

template <typename T>
__global__ void k_xent_fwd(const T* x, const int32_t* t, float* loss, int64_t N, int64_t C) {
  const int64_t row = static_cast<int64_t>(blockIdx.x) * kRowsPerBlock + (threadIdx.x >> 5);
  const int lane = threadIdx.x & 31;
  if (row >= N) return;
  const int32_t tg = t[row];
  if (tg < 0) {
    if (lane == 0) loss[row] = 0.0f;
    return;
  }
  const T* r = x + row * C;
  const float lse = row_lse(r, C, lane);
  // A target past the last class is the caller's bug: NaN, never an out-of-bounds read.
  if (lane == 0) loss[row] = tg < C ? lse - ld(r + tg) : NAN;
}

template <typename T>
__global__ void k_xent_bwd(const T* x, const int32_t* t, const float* dloss, T* dx, int64_t N, int64_t C) {
  const int64_t row = static_cast<int64_t>(blockIdx.x) * kRowsPerBlock + (threadIdx.x >> 5);
  const int lane = threadIdx.x & 31;
  if (row >= N) return;
  const int32_t tg = t[row];
  T* o = dx + row * C;
  if (tg < 0) {
    for (int64_t c = lane; c < C; c += 32) o[c] = cvt<T>(0.0f);
    return;
  }
  const T* r = x + row * C;
  const float lse = row_lse(r, C, lane);
  const float dl = tg < C ? dloss[row] : NAN;
  for (int64_t c = lane; c < C; c += 32) o[c] = cvt<T>(dl * (expf(ld(r + c) - lse) - (c == tg ? 1.0f : 0.0f)));
}

// Block partials of sum (a-b)^2 (DIFF) or sum a^2, in double; then one block adds them in order.
constexpr int kSumThreads = 256, kSumBlocksMax = 1024;
template <typename T, bool DIFF>
__global__ void k_sum_part(const T* a, const T* b, int64_t n, double* part) {
  double s = 0;
  for (int64_t i = gtid(); i < n; i += gstride()) {
    const double d = DIFF ? static_cast<double>(ld(a + i) - ld(b + i)) : static_cast<double>(ld(a + i));
    s += d * d;
  }
  s = block_sum_d(s);
  if (threadIdx.x == 0) part[blockIdx.x] = s;
}
// mode 0: out[0] = n ? s / n : 0 (MSE); mode 1: out[0] += s (sumsq).
__global__ void k_sum_finish(const double* part, int nparts, float* out, int64_t n, int mode) {
  double s = 0;
  for (int i = threadIdx.x; i < nparts; i += blockDim.x) s += part[i];
  s = block_sum_d(s);
  if (threadIdx.x == 0) {
    if (mode == 0) out[0] = n ? static_cast<float>(s / static_cast<double>(n)) : 0.0f;
    else out[0] += static_cast<float>(s);
  }
}

template <typename T, bool DIFF>
void sum_squares(const char* op, const T* a, const T* b, int64_t n, float* out, int mode) {
  unsigned blocks = grid_for(n, kSumThreads);
  if (blocks > static_cast<unsigned>(kSumBlocksMax)) blocks = kSumBlocksMax;
  Scratch scratch(kSumBlocksMax * sizeof(double), op);
  double* part = scratch.as<double>();
  if (n > 0) {
    k_sum_part<T, DIFF><<<blocks, kSumThreads>>>(a, b, n, part);
    check_launch(op);
  } else {
    blocks = 0;
  }
  k_sum_finish<<<1, kSumThreads>>>(part, static_cast<int>(blocks), out, n, mode);
  check_launch(op);
}

template <typename T>
__global__ void k_embedding_fwd(const int32_t* ids, const T* table, T* y, int64_t N, int64_t C) {
  const int64_t n = N * C;
  for (int64_t i = gtid(); i < n; i += gstride()) {
    const int64_t r = i / C, c = i - r * C;
    const int32_t id = ids[r];
    y[i] = id >= 0 ? table[static_cast<int64_t>(id) * C + c] : cvt<T>(0.0f);  // guard: negative ids give zeros
  }
}
template <typename T>
__global__ void k_embedding_bwd(const int32_t* ids, const T* dy, AnyPtr dtable, int64_t N, int64_t C) {
  const int64_t n = N * C;
  for (int64_t i = gtid(); i < n; i += gstride()) {
    const int64_t r = i / C, c = i - r * C;
    const int32_t id = ids[r];
    if (id >= 0) dtable.atomic_add(static_cast<int64_t>(id) * C + c, ld(dy + i));
  }
}

// The WGAN-GP penalty's row pieces (host::grad_penalty_rows): one warp per row.
template <typename T>
__global__ void k_grad_penalty(const T* g, float lambda, T* u, float* norms, int64_t N, int64_t C) {
  const int64_t row = static_cast<int64_t>(blockIdx.x) * kRowsPerBlock + (threadIdx.x >> 5);
  const int lane = threadIdx.x & 31;
  if (row >= N) return;
  const T* r = g + row * C;
  float s = 0;
  for (int64_t c = lane; c < C; c += 32) s += ld(r + c) * ld(r + c);
  const float norm = sqrtf(warp_sum(s));
  const float k = norm > 0 ? 2.0f * lambda * (norm - 1.0f) / (static_cast<float>(N) * norm) : 0.0f;
  for (int64_t c = lane; c < C; c += 32) u[row * C + c] = cvt<T>(k * ld(r + c));  // after the sum: u may be g
  if (lane == 0) norms[row] = norm;
}

template <typename T>
__global__ void k_row_axpy(const float* a, const T* x, T* y, int64_t N, int64_t C) {
  const int64_t n = N * C;
  for (int64_t i = gtid(); i < n; i += gstride()) y[i] = cvt<T>(ld(y + i) + a[i / C] * ld(x + i));
}

}  // namespace

namespace ops {

void layernorm_fwd(Buf x, Buf w, Buf b, Buf y, float* mean, float* rstd, int64_t N, int64_t C, float eps) {
  BIOFEG_CHECK(N >= 0 && C > 0, "layernorm: bad shape N=", N, " C=", C);
  if (N == 0) return;
  BIOFEG_CHECK(mean && rstd, "layernorm: null mean/rstd");
  const DType t = same_float("layernorm", {x, w, b, y});
  BIOFEG_FLOAT_DISPATCH(t, "layernorm", T,
                        k_ln_fwd<T><<<row_blocks(N, "layernorm"), 32 * kRowsPerBlock>>>(
                            static_cast<const T*>(x.p), static_cast<const T*>(w.p), static_cast<const T*>(b.p),
                            static_cast<T*>(y.p), mean, rstd, N, C, eps));
  check_launch("layernorm");
}

void layernorm_bwd(Buf dy, Buf x, Buf w, const float* mean, const float* rstd, Buf dx, Buf dw, Buf db, int64_t N,
                   int64_t C) {
  BIOFEG_CHECK(N >= 0 && C > 0, "layernorm_bwd: bad shape N=", N, " C=", C);
  if (N == 0) return;
  BIOFEG_CHECK(mean && rstd, "layernorm_bwd: null mean/rstd");
  const DType t = same_float("layernorm_bwd", {dy, x, w, dx});
  check_acc("layernorm_bwd", dw, t);
  check_acc("layernorm_bwd", db, t);
  // Parameter gradients first: they read dy, which dx may overwrite in place.
  BIOFEG_FLOAT_DISPATCH(t, "layernorm_bwd", T, {
    column_sums<T, true>("layernorm_bwd", static_cast<const T*>(dy.p), static_cast<const T*>(x.p), mean, rstd,
                         any(dw), any(db), N, C);
    k_ln_bwd_rows<T><<<row_blocks(N, "layernorm_bwd"), 32 * kRowsPerBlock>>>(
        static_cast<const T*>(dy.p), static_cast<const T*>(x.p), static_cast<const T*>(w.p), mean, rstd,
        static_cast<T*>(dx.p), N, C);
  });
  check_launch("layernorm_bwd");
}

void bias_grad(Buf dy, Buf db, int64_t N, int64_t C) {
  BIOFEG_CHECK(N >= 0 && C >= 0, "bias_grad: bad shape N=", N, " C=", C);
  if (N == 0 || C == 0) return;
  const DType t = same_float("bias_grad", {dy});
  check_acc("bias_grad", db, t);
  BIOFEG_FLOAT_DISPATCH(t, "bias_grad", T,
                        column_sums<T, false>("bias_grad", static_cast<const T*>(dy.p), nullptr, nullptr, nullptr,
                                              AnyPtr{nullptr, 0}, any(db), N, C));
}

void xent_fwd(Buf logits, const int32_t* target, float* loss, int64_t N, int64_t C) {
  BIOFEG_CHECK(N >= 0 && C > 0, "xent: bad shape N=", N, " C=", C);
  if (N == 0) return;
  BIOFEG_CHECK(target && loss, "xent: null target/loss");
  const DType t = same_float("xent", {logits});
  BIOFEG_FLOAT_DISPATCH(t, "xent",
                        T, k_xent_fwd<T><<<row_blocks(N, "xent"), 32 * kRowsPerBlock>>>(
                               static_cast<const T*>(logits.p), target, loss, N, C));
  check_launch("xent");
}

void xent_bwd(Buf logits, const int32_t* target, const float* dloss, Buf dlogits, int64_t N, int64_t C) {
  BIOFEG_CHECK(N >= 0 && C > 0, "xent_bwd: bad shape N=", N, " C=", C);
  if (N == 0) return;
  BIOFEG_CHECK(target && dloss, "xent_bwd: null target/dloss");
  const DType t = same_float("xent_bwd", {logits, dlogits});
  BIOFEG_FLOAT_DISPATCH(t, "xent_bwd", T,
                        k_xent_bwd<T><<<row_blocks(N, "xent_bwd"), 32 * kRowsPerBlock>>>(
                            static_cast<const T*>(logits.p), target, dloss, static_cast<T*>(dlogits.p), N, C));
  check_launch("xent_bwd");
}

void mse_fwd(Buf a, Buf b, float* out, int64_t n) {
  BIOFEG_CHECK(n >= 0, "mse: negative element count ", n);
  BIOFEG_CHECK(out, "mse: null output");
  const DType t = n ? same_float("mse", {a, b}) : DType::F32;
  BIOFEG_FLOAT_DISPATCH(t, "mse", T,
                        sum_squares<T, true>("mse", static_cast<const T*>(a.p), static_cast<const T*>(b.p), n, out,
                                             0));
}

void sumsq(Buf x, int64_t n, float* out) {
  BIOFEG_CHECK(n >= 0, "sumsq: negative element count ", n);
  BIOFEG_CHECK(out, "sumsq: null output");
  if (n == 0) return;  // out[0] += 0
  const DType t = same_float("sumsq", {x});
  BIOFEG_FLOAT_DISPATCH(t, "sumsq", T,
                        sum_squares<T, false>("sumsq", static_cast<const T*>(x.p), nullptr, n, out, 1));
}

void embedding_fwd(const int32_t* ids, Buf table, Buf y, int64_t N, int64_t C) {
  BIOFEG_CHECK(N >= 0 && C >= 0, "embedding: bad shape N=", N, " C=", C);
  if (N == 0 || C == 0) return;
  BIOFEG_CHECK(ids, "embedding: null ids");
  const DType t = same_float("embedding", {table, y});
  BIOFEG_FLOAT_DISPATCH(t, "embedding", T,
                        k_embedding_fwd<T><<<grid_for(N * C, 256), 256>>>(ids, static_cast<const T*>(table.p),
                                                                          static_cast<T*>(y.p), N, C));
  check_launch("embedding");
}

void embedding_bwd(const int32_t* ids, Buf dy, Buf dtable, int64_t N, int64_t C) {
  BIOFEG_CHECK(N >= 0 && C >= 0, "embedding_bwd: bad shape N=", N, " C=", C);
  if (N == 0 || C == 0) return;
  BIOFEG_CHECK(ids, "embedding_bwd: null ids");
  const DType t = same_float("embedding_bwd", {dy});
  check_acc("embedding_bwd", dtable, t);
  BIOFEG_FLOAT_DISPATCH(t, "embedding_bwd", T,
                        k_embedding_bwd<T><<<grid_for(N * C, 256), 256>>>(ids, static_cast<const T*>(dy.p),
                                                                          any(dtable), N, C));
  check_launch("embedding_bwd");
}

void row_axpy(const float* a, Buf x, Buf y, int64_t N, int64_t C) {
  BIOFEG_CHECK(N >= 0 && C >= 0, "row_axpy: bad shape N=", N, " C=", C);
  if (N == 0 || C == 0) return;
  BIOFEG_CHECK(a, "row_axpy: null row factors");
  const DType t = same_float("row_axpy", {x, y});
  BIOFEG_FLOAT_DISPATCH(t, "row_axpy", T,
                        k_row_axpy<T><<<grid_for(N * C, 256), 256>>>(a, static_cast<const T*>(x.p),
                                                                     static_cast<T*>(y.p), N, C));
  check_launch("row_axpy");
}

void grad_penalty(Buf g, float lambda, Buf u, float* norms, int64_t N, int64_t C) {
  BIOFEG_CHECK(N >= 0 && C >= 0, "grad_penalty: bad shape N=", N, " C=", C);
  if (N == 0) return;
  BIOFEG_CHECK(norms, "grad_penalty: null norms");
  const DType t = same_float("grad_penalty", {g, u});
  BIOFEG_FLOAT_DISPATCH(t, "grad_penalty", T,
                        k_grad_penalty<T><<<row_blocks(N, "grad_penalty"), 32 * kRowsPerBlock>>>(
                            static_cast<const T*>(g.p), lambda, static_cast<T*>(u.p), norms, N, C));
  check_launch("grad_penalty");
}

}  // namespace ops
}  // namespace biofeg::cuda
