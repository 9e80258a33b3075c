// CUDA kernels of the loss family: softmax cross-entropy and the WGAN-GP penalty's rows (one
// warp per row, 4 rows per block), MSE (its sum shared with sumsq, optim.cu). Targets are
// range-checked here (Caps::device_index_checks), reported at the next synchronisation.
#include "common.cuh"

namespace biofeg::cuda {
namespace {

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
__global__ void k_xent_fwd(const T* x, const int32_t* t, float* loss, int64_t N, int64_t C, IndexError* err) {
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
  // A target past the last class: NaN, never an out-of-bounds read, and reported.
  if (lane == 0) {
    loss[row] = tg < C ? lse - ld(r + tg) : NAN;
    if (tg >= C) report_index(err, Op::xent_fwd, C, row, tg);
  }
}

template <typename T>
__global__ void k_xent_bwd(const T* x, const int32_t* t, const float* dloss, T* dx, int64_t N, int64_t C,
                           IndexError* err) {
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
  if (tg >= C && lane == 0) report_index(err, Op::xent_bwd, C, row, tg);
  for (int64_t c = lane; c < C; c += 32) o[c] = cvt<T>(dl * (expf(ld(r + c) - lse) - (c == tg ? 1.0f : 0.0f)));
}

template <typename T>
__global__ void k_mse_bwd(const T* a, const T* b, float dout, T* da, int64_t n) {
  const float fn = static_cast<float>(n);
  for (int64_t i = gtid(); i < n; i += gstride()) da[i] = cvt<T>(dout * 2.0f * (ld(a + i) - ld(b + i)) / fn);
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

}  // namespace

namespace ops {

void xent_fwd(Buf logits, Buf target, Buf loss, int64_t N, int64_t C) {
  if (N <= 0) return;
  const IndexCheck check_ids;
  BIOFEG_FLOAT_DISPATCH(logits.t, "xent",
                        T, k_xent_fwd<T><<<row_blocks(N, "xent"), 32 * kRowsPerBlock>>>(
                               static_cast<const T*>(logits.p), target.i32(), loss.f32(), N, C, check_ids.slot()));
  check_launch("xent");
}

void xent_bwd(Buf logits, Buf target, Buf dloss, Buf dlogits, int64_t N, int64_t C) {
  if (N <= 0) return;
  const IndexCheck check_ids;
  BIOFEG_FLOAT_DISPATCH(logits.t, "xent_bwd", T,
                        k_xent_bwd<T><<<row_blocks(N, "xent_bwd"), 32 * kRowsPerBlock>>>(
                            static_cast<const T*>(logits.p), target.i32(), dloss.f32(), static_cast<T*>(dlogits.p), N,
                            C, check_ids.slot()));
  check_launch("xent_bwd");
}

void mse_fwd(Buf a, Buf b, Buf out, int64_t n) { sum_squares("mse", a, b, n, out.f32(), true); }

void mse_bwd(Buf a, Buf b, float dout, Buf da, int64_t n) {
  if (n <= 0) return;
  BIOFEG_FLOAT_DISPATCH(a.t, "mse_bwd", T,
                        k_mse_bwd<T><<<grid_for(n, 256), 256>>>(static_cast<const T*>(a.p), static_cast<const T*>(b.p),
                                                               dout, static_cast<T*>(da.p), n));
  check_launch("mse_bwd");
}

void grad_penalty(Buf g, float lambda, Buf u, Buf norms, int64_t N, int64_t C) {
  if (N <= 0) return;
  BIOFEG_FLOAT_DISPATCH(g.t, "grad_penalty", T,
                        k_grad_penalty<T><<<row_blocks(N, "grad_penalty"), 32 * kRowsPerBlock>>>(
                            static_cast<const T*>(g.p), lambda, static_cast<T*>(u.p), norms.f32(), N, C));
  check_launch("grad_penalty");
}

}  // namespace ops
}  // namespace biofeg::cuda
