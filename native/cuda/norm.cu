// CUDA kernels of the norm family: LayerNorm rows (one warp per row, 4 rows per block) and the
// deterministic two-pass column sums of its dw/db, which bias_grad (gemm.cu) shares: row slabs
// write f32 partials to scratch, then one thread per column adds the slabs in order and
// accumulates into the gradient.
#include "common.cuh"

namespace biofeg::cuda {
namespace {

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
void column_sums_t(const char* op, const T* dy, const T* x, const float* mean, const float* rstd, AnyPtr acc1,
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

// l2norm (host::l2norm_rows): one warp per row.
constexpr float kL2Eps = 1e-12f;
template <typename T>
__global__ void k_l2norm_fwd(const T* x, T* y, float* norms, int64_t N, int64_t C) {
  const int64_t row = static_cast<int64_t>(blockIdx.x) * kRowsPerBlock + (threadIdx.x >> 5);
  const int lane = threadIdx.x & 31;
  if (row >= N) return;
  const T* r = x + row * C;
  float s = 0;
  for (int64_t c = lane; c < C; c += 32) s += ld(r + c) * ld(r + c);
  const float norm = fmaxf(sqrtf(warp_sum(s)), kL2Eps);
  for (int64_t c = lane; c < C; c += 32) y[row * C + c] = cvt<T>(ld(r + c) / norm);
  if (lane == 0) norms[row] = norm;
}
template <typename T>
__global__ void k_l2norm_bwd(const T* y, const float* norms, const T* dy, T* dx, int64_t N, int64_t C) {
  const int64_t row = static_cast<int64_t>(blockIdx.x) * kRowsPerBlock + (threadIdx.x >> 5);
  const int lane = threadIdx.x & 31;
  if (row >= N) return;
  const T *yr = y + row * C, *dr = dy + row * C;
  const float norm = norms[row];
  float s = 0;
  if (norm > kL2Eps)
    for (int64_t c = lane; c < C; c += 32) s += ld(yr + c) * ld(dr + c);
  const float k = warp_sum(s);
  for (int64_t c = lane; c < C; c += 32) dx[row * C + c] = cvt<T>((ld(dr + c) - ld(yr + c) * k) / norm);
}

}  // namespace

void column_sums(const char* op, Buf dy, Buf acc, int64_t N, int64_t C) {
  if (N <= 0 || C <= 0) return;
  BIOFEG_FLOAT_DISPATCH(dy.t, op, T,
                        column_sums_t<T, false>(op, static_cast<const T*>(dy.p), nullptr, nullptr, nullptr,
                                                AnyPtr{nullptr, 0}, any(acc), N, C));
}

namespace ops {

void layernorm_fwd(Buf x, Buf w, Buf b, Buf y, Buf mean, Buf rstd, int64_t N, int64_t C, float eps) {
  if (N <= 0) return;
  BIOFEG_FLOAT_DISPATCH(x.t, "layernorm", T,
                        k_ln_fwd<T><<<row_blocks(N, "layernorm"), 32 * kRowsPerBlock>>>(
                            static_cast<const T*>(x.p), static_cast<const T*>(w.p), static_cast<const T*>(b.p),
                            static_cast<T*>(y.p), mean.f32(), rstd.f32(), N, C, eps));
  check_launch("layernorm");
}

void layernorm_bwd(Buf dy, Buf x, Buf w, Buf mean, Buf rstd, Buf dx, Buf dw, Buf db, int64_t N, int64_t C) {
  if (N <= 0) return;
  // Parameter gradients first: they read dy, which dx may overwrite in place.
  BIOFEG_FLOAT_DISPATCH(x.t, "layernorm_bwd", T, {
    column_sums_t<T, true>("layernorm_bwd", static_cast<const T*>(dy.p), static_cast<const T*>(x.p), mean.f32(),
                           rstd.f32(), any(dw), any(db), N, C);
    k_ln_bwd_rows<T><<<row_blocks(N, "layernorm_bwd"), 32 * kRowsPerBlock>>>(
        static_cast<const T*>(dy.p), static_cast<const T*>(x.p), static_cast<const T*>(w.p), mean.f32(), rstd.f32(),
        static_cast<T*>(dx.p), N, C);
  });
  check_launch("layernorm_bwd");
}

void l2norm_fwd(Buf x, Buf y, Buf norms, int64_t N, int64_t C) {
  if (N <= 0) return;
  BIOFEG_FLOAT_DISPATCH(x.t, "l2norm", T,
                        k_l2norm_fwd<T><<<row_blocks(N, "l2norm"), 32 * kRowsPerBlock>>>(
                            static_cast<const T*>(x.p), static_cast<T*>(y.p), norms.f32(), N, C));
  check_launch("l2norm");
}

void l2norm_bwd(Buf y, Buf norms, Buf dy, Buf dx, int64_t N, int64_t C) {
  if (N <= 0) return;
  BIOFEG_FLOAT_DISPATCH(y.t, "l2norm_bwd", T,
                        k_l2norm_bwd<T><<<row_blocks(N, "l2norm_bwd"), 32 * kRowsPerBlock>>>(
                            static_cast<const T*>(y.p), norms.f32(), static_cast<const T*>(dy.p),
                            static_cast<T*>(dx.p), N, C));
  check_launch("l2norm_bwd");
}

}  // namespace ops
}  // namespace biofeg::cuda
