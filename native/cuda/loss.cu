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

// ms_loss (host::ms_loss_rows): one warp per anchor, four sweeps of its row (the miner's
// extreme distances; each side's maximum and count; the sums; loss and dsim); the anchors' mined
// pair counts summed into *mined for the gate.
__device__ __forceinline__ float ms_dist(float s) { return sqrtf(fmaxf(0.0f, 2.0f - 2.0f * s)); }

// The op's settings as the kernels read them (Buf's accessors are host functions).
struct MsArgs {
  const float* sim;
  const int32_t* lab;
  float *loss, *dsim;
  int64_t M;
  float alpha, beta, base, margin, scale;
};

__global__ void k_ms_loss(MsArgs d, unsigned long long* mined) {
  const int64_t a = static_cast<int64_t>(blockIdx.x) * kRowsPerBlock + (threadIdx.x >> 5);
  const int lane = threadIdx.x & 31;
  if (a >= d.M) return;
  const int64_t M = d.M;
  const float* s = d.sim + a * M;
  const int32_t* lab = d.lab;
  const int32_t la = lab[a];
  float min_neg = INFINITY, max_pos = -INFINITY;
  for (int64_t j = lane; j < M; j += 32) {
    if (j == a) continue;
    const float dj = ms_dist(s[j]);
    if (lab[j] == la) max_pos = fmaxf(max_pos, dj);
    else min_neg = fminf(min_neg, dj);
  }
  min_neg = -warp_max(-min_neg), max_pos = warp_max(max_pos);
  auto kind = [&](int64_t j) {
    if (j == a) return 0;
    if (lab[j] == la) return min_neg < INFINITY && min_neg - ms_dist(s[j]) <= d.margin ? 1 : 0;
    return max_pos > -INFINITY && ms_dist(s[j]) - max_pos <= d.margin ? 2 : 0;
  };
  auto x_of = [&](int64_t j, int k) { return k == 1 ? d.alpha * (d.base - s[j]) : d.beta * (s[j] - d.base); };
  float mx1 = 0, mx2 = 0, c1 = 0, c2 = 0;
  for (int64_t j = lane; j < M; j += 32) {
    const int k = kind(j);
    if (k == 1) mx1 = fmaxf(mx1, x_of(j, 1)), c1 += 1;
    if (k == 2) mx2 = fmaxf(mx2, x_of(j, 2)), c2 += 1;
  }
  mx1 = warp_max(mx1), mx2 = warp_max(mx2), c1 = warp_sum(c1), c2 = warp_sum(c2);
  float s1 = 0, s2 = 0;
  for (int64_t j = lane; j < M; j += 32) {
    const int k = kind(j);
    if (k == 1) s1 += expf(x_of(j, 1) - mx1);
    if (k == 2) s2 += expf(x_of(j, 2) - mx2);
  }
  s1 = warp_sum(s1) + expf(-mx1), s2 = warp_sum(s2) + expf(-mx2);
  const float lse1 = mx1 + logf(s1), lse2 = mx2 + logf(s2);
  float* g = d.dsim + a * M;
  for (int64_t j = lane; j < M; j += 32) {
    const int k = kind(j);
    const float p = k ? expf(x_of(j, k) - (k == 1 ? lse1 : lse2)) : 0.0f;
    g[j] = d.scale * (k == 1 ? -p : p);
  }
  if (lane == 0) {
    d.loss[a] = (c1 > 0 ? lse1 / d.alpha : 0.0f) + (c2 > 0 ? lse2 / d.beta : 0.0f);
    atomicAdd(mined, static_cast<unsigned long long>(fmaxf(c1, c2)));
  }
}

__global__ void k_ms_zero_count(unsigned long long* mined) { *mined = 0; }

// The gate: at most one mined triplet zeroes every loss and dsim (as pytorch_metric_learning).
__global__ void k_ms_gate(MsArgs d, const unsigned long long* mined) {
  if (*mined > 1) return;
  for (int64_t i = gtid(); i < d.M * d.M; i += gstride()) d.dsim[i] = 0.0f;
  for (int64_t i = gtid(); i < d.M; i += gstride()) d.loss[i] = 0.0f;
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

void ms_loss(const MsLossDesc& d) {
  if (d.M <= 0) return;
  Scratch scratch(sizeof(unsigned long long), "multiSimilarityLoss");
  unsigned long long* mined = scratch.as<unsigned long long>();
  const MsArgs k{d.sim.f32(), d.labels.i32(), d.loss.f32(), d.dsim.f32(), d.M, d.alpha, d.beta, d.base, d.margin, d.scale};
  k_ms_zero_count<<<1, 1>>>(mined);
  k_ms_loss<<<row_blocks(d.M, "multiSimilarityLoss"), 32 * kRowsPerBlock>>>(k, mined);
  k_ms_gate<<<grid_for(d.M * d.M, 256), 256>>>(k, mined);
  check_launch("multiSimilarityLoss");
}

}  // namespace ops
}  // namespace biofeg::cuda
