// Reference kernels of the optim family.
#include "ref.h"

namespace biofeg::ref {

void adamw(const AdamWDesc& d) { host::adamw_range(d, 0, d.n); }

void sumsq(Buf x, int64_t n, Buf out) {
  const In px(x, n);
  const float* p = px.p;
  double s = 0;
  for (int64_t i = 0; i < n; ++i) s += static_cast<double>(p[i]) * p[i];
  out.f32()[0] += static_cast<float>(s);
}

}  // namespace biofeg::ref

namespace biofeg::host {
void adamw_range(const AdamWDesc& d, int64_t lo, int64_t hi) {
  float step_size = d.lr;
  if (d.bias_correction) {
    const double bc1 = 1.0 - std::pow(static_cast<double>(d.beta1), static_cast<double>(d.step));
    const double bc2 = 1.0 - std::pow(static_cast<double>(d.beta2), static_cast<double>(d.step));
    step_size = static_cast<float>(d.lr * std::sqrt(bc2) / bc1);
  }
  const float decay = d.lr * d.weight_decay;
  float *param = d.param.f32(), *m = d.m.f32(), *v = d.v.f32();
  const float *grad = d.grad.f32(), *mask = d.decay_mask.p ? d.decay_mask.f32() : nullptr;
  for (int64_t i = lo; i < hi; ++i) {
    const float g = grad[i];
    const float mi = d.beta1 * m[i] + (1.0f - d.beta1) * g;
    const float vi = d.beta2 * v[i] + (1.0f - d.beta2) * g * g;
    m[i] = mi;
    v[i] = vi;
    float p = param[i] - step_size * mi / (std::sqrt(vi) + d.eps);
    // Decoupled decay on the updated weight, as HF/pytorch-transformers AdamW (BLINK's optimiser).
    if (decay != 0.0f && (!mask || mask[i] != 0.0f)) p -= decay * p;
    param[i] = p;
  }
}
}  // namespace biofeg::host
