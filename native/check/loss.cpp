// Validators of the loss family. Targets in host memory are checked here; a backend with
// Caps::device_index_checks checks them in its kernels (reported at the next synchronisation).
#include "check.h"

namespace biofeg::check {
namespace {
void targets_in_range(const V& v, Buf t, int64_t N, int64_t C) {
  v.i32({t, "targets"});
  if (!v.host()) {
    v.need(v.be.caps.device_index_checks, "backend '", v.be.name, "' cannot check targets in device memory");
    return;
  }
  const int32_t* p = t.i32();
  for (int64_t i = 0; i < N; ++i)
    v.need(p[i] < C, "targets[", i, "] = ", p[i], " is not below the class count ", C, " (negative ignores a row)");
}
}  // namespace

void xent_fwd(const Backend& be, Buf logits, Buf target, Buf loss, int64_t N, int64_t C) {
  const V v(be, Op::xent_fwd);
  v.counts({N, C});
  v.fits({N, C}, "logits (N x C)");
  v.need(C > 0 || N == 0, "rows need at least one class");
  v.floats({{logits, "logits"}});
  v.f32({loss, "loss"});
  targets_in_range(v, target, N, C);
}

void xent_bwd(const Backend& be, Buf logits, Buf target, Buf dloss, Buf dlogits, int64_t N, int64_t C) {
  const V v(be, Op::xent_bwd);
  v.counts({N, C});
  v.fits({N, C}, "logits (N x C)");
  v.need(C > 0 || N == 0, "rows need at least one class");
  v.floats({{logits, "logits"}, {dlogits, "dlogits"}});
  v.f32({dloss, "dloss"});
  targets_in_range(v, target, N, C);
}

void mse_fwd(const Backend& be, Buf a, Buf b, Buf out, int64_t n) {
  const V v(be, Op::mse_fwd);
  v.counts({n});
  v.floats({{a, "a"}, {b, "b"}}, n > 0);
  v.f32({out, "out"});
}

void mse_bwd(const Backend& be, Buf a, Buf b, float dout, Buf da, int64_t n) {
  const V v(be, Op::mse_bwd);
  v.counts({n});
  v.finite(dout, "dout");
  v.floats({{a, "a"}, {b, "b"}, {da, "da"}}, n > 0);
}

void grad_penalty(const Backend& be, Buf g, float lambda, Buf u, Buf norms, int64_t N, int64_t C) {
  const V v(be, Op::grad_penalty);
  v.counts({N, C});
  v.fits({N, C}, "g (N x C)");
  v.finite(lambda, "lambda");
  v.floats({{g, "g"}, {u, "u"}}, N * C > 0);
  v.f32({norms, "norms"}, N == 0);
}

void ms_loss(const Backend& be, const MsLossDesc& d) {
  const V v(be, Op::ms_loss);
  v.counts({d.M});
  v.fits({d.M, d.M}, "sim (M x M)");
  const bool any = d.M > 0;
  v.f32({d.sim, "sim"}, !any);
  v.f32({d.dsim, "dsim"}, !any);
  v.f32({d.loss, "loss"}, !any);
  v.i32({d.labels, "labels"}, !any);
  v.need(std::isfinite(d.alpha) && d.alpha > 0, "alpha must be positive, got ", d.alpha);
  v.need(std::isfinite(d.beta) && d.beta > 0, "beta must be positive, got ", d.beta);
  v.finite(d.base, "base");
  v.finite(d.margin, "margin");
  v.finite(d.scale, "scale");
  v.need(d.sim.p != d.dsim.p || !any, "'dsim' must not be 'sim' (every row reads the whole of sim)");
}

}  // namespace biofeg::check
