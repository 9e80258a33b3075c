// Validators of the optim family.
#include "check.h"

namespace biofeg::check {

void adamw(const Backend& be, const AdamWDesc& d) {
  const V v(be, Op::adamw);
  v.counts({d.n});
  for (const Arg& a : {Arg{d.param, "param"}, Arg{d.grad, "grad"}, Arg{d.m, "m"}, Arg{d.v, "v"}}) v.f32(a);
  v.f32({d.decay_mask, "decayMask"}, true);
  v.need(d.step >= 1, "step must be an integer >= 1");
  v.need(d.beta1 >= 0 && d.beta1 < 1 && d.beta2 >= 0 && d.beta2 < 1, "betas must be in [0, 1)");
  for (const auto& [x, name] : {std::pair<float, const char*>{d.lr, "lr"}, {d.eps, "eps"}, {d.weight_decay, "weightDecay"}})
    v.finite(x, name);
}

void sumsq(const Backend& be, Buf x, int64_t n, Buf out) {
  const V v(be, Op::sumsq);
  v.counts({n});
  v.floats({{x, "x"}}, n > 0);
  v.f32({out, "out"});
}

}  // namespace biofeg::check
