// CUDA kernels of the optim family: AdamW (elementwise, rounding as the host's), and the sum of
// squares of the gradient norm (double block partials, one finishing block), which mse
// (loss.cu) shares.
#include "common.cuh"

namespace biofeg::cuda {
namespace {

constexpr int kThreads = 256;

// The update of host::adamw_range, operation for operation; the _rn intrinsics keep the
// compiler from fusing multiply-adds so the result matches the host's rounding.
__global__ void k_adamw(float* param, const float* grad, float* m, float* v, const float* mask, int64_t n,
                        float beta1, float beta2, float omb1, float omb2, float eps, float step_size, float decay) {
  for (int64_t i = gtid(); i < n; i += gstride()) {
    const float g = grad[i];
    const float mi = __fadd_rn(__fmul_rn(beta1, m[i]), __fmul_rn(omb1, g));
    const float vi = __fadd_rn(__fmul_rn(beta2, v[i]), __fmul_rn(__fmul_rn(omb2, g), g));
    m[i] = mi;
    v[i] = vi;
    float p = __fsub_rn(param[i], __fdiv_rn(__fmul_rn(step_size, mi), __fadd_rn(__fsqrt_rn(vi), eps)));
    if (decay != 0.0f && (!mask || mask[i] != 0.0f)) p = __fsub_rn(p, __fmul_rn(decay, p));
    param[i] = p;
  }
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
void sum_squares_t(const char* op, const T* a, const T* b, int64_t n, float* out, int mode) {
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

}  // namespace

void sum_squares(const char* op, Buf a, Buf b, int64_t n, float* out, bool mean) {
  BIOFEG_FLOAT_DISPATCH(n > 0 ? a.t : DType::F32, op, T, {
    if (mean) sum_squares_t<T, true>(op, static_cast<const T*>(a.p), static_cast<const T*>(b.p), n, out, 0);
    else sum_squares_t<T, false>(op, static_cast<const T*>(a.p), nullptr, n, out, 1);
  });
}

namespace ops {

void adamw(const AdamWDesc& d) {
  if (d.n <= 0) return;
  // Scalars exactly as host::adamw_range computes them.
  float step_size = d.lr;
  if (d.bias_correction) {
    const double bc1 = 1.0 - std::pow(static_cast<double>(d.beta1), static_cast<double>(d.step));
    const double bc2 = 1.0 - std::pow(static_cast<double>(d.beta2), static_cast<double>(d.step));
    step_size = static_cast<float>(d.lr * std::sqrt(bc2) / bc1);
  }
  const float decay = d.lr * d.weight_decay;
  k_adamw<<<grid_for(d.n, kThreads), kThreads>>>(d.param.f32(), d.grad.f32(), d.m.f32(), d.v.f32(),
                                                 d.decay_mask.p ? d.decay_mask.f32() : nullptr, d.n, d.beta1, d.beta2,
                                                 1.0f - d.beta1, 1.0f - d.beta2, d.eps, step_size, decay);
  check_launch("adamw");
}


void sumsq(Buf x, int64_t n, Buf out) {
  if (n <= 0) return;  // out[0] += 0
  sum_squares("sumsq", x, Buf{}, n, out.f32(), false);
}

}  // namespace ops
}  // namespace biofeg::cuda
