// Fast kernels of the optim family.
#include "fast.h"

namespace biofeg::fast {

void adamw(const AdamWDesc& d) {
  if (host::vec_avx2()) {  // step size and decay as host::adamw_range
    float step_size = d.lr;
    if (d.bias_correction) {
      const double bc1 = 1.0 - std::pow(static_cast<double>(d.beta1), static_cast<double>(d.step));
      const double bc2 = 1.0 - std::pow(static_cast<double>(d.beta2), static_cast<double>(d.step));
      step_size = static_cast<float>(d.lr * std::sqrt(bc2) / bc1);
    }
    float *param = d.param.f32(), *m = d.m.f32(), *v = d.v.f32();
    const float *grad = d.grad.f32(), *mask = d.decay_mask.p ? d.decay_mask.f32() : nullptr;
    const auto fn = host::vec_avx512() ? host::adamw_avx512 : host::adamw_avx2;
    return parallel_for(d.n, kGrain, [&](int64_t lo, int64_t hi) {
      fn({param + lo, m + lo, v + lo, grad + lo, mask ? mask + lo : nullptr, d.beta1, d.beta2, d.eps,
                        step_size, d.lr * d.weight_decay},
                       hi - lo);
    });
  }
  parallel_for(d.n, kGrain, [&](int64_t lo, int64_t hi) { host::adamw_range(d, lo, hi); });
}

void sumsq(Buf x, int64_t n, Buf out) {
  const float* p = x.f32();
  if (host::vec_avx2()) {  // fixed chunks (as parallel_sum's), each summed 8 lanes wide
    const int64_t chunks = std::max<int64_t>(1, std::min<int64_t>(num_threads() * 4, n / kGrain + 1));
    const int64_t step = (n + chunks - 1) / chunks;
    std::vector<double> part(chunks, 0.0);
    run_tasks(chunks, [&](int64_t c) {
      const int64_t lo = std::min(n, c * step), hi = std::min(n, lo + step);
      part[c] = host::sumsq_avx2(p + lo, hi - lo);
    });
    double s = 0;
    for (double v : part) s += v;
    out.f32()[0] += static_cast<float>(s);
    return;
  }
  out.f32()[0] += static_cast<float>(parallel_sum(n, [&](int64_t i) { return static_cast<double>(p[i]) * p[i]; }));
}

}  // namespace biofeg::fast
