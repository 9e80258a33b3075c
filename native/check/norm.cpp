// Validators of the norm family.
#include "check.h"

namespace biofeg::check {

void layernorm_fwd(const Backend& be, Buf x, Buf w, Buf b, Buf y, Buf mean, Buf rstd, int64_t N, int64_t C,
                   float eps) {
  const V v(be, Op::layernorm_fwd);
  v.counts({N, C});
  v.fits({N, C}, "x (N x C)");
  v.need(C > 0 || N == 0, "rows need at least one feature");
  v.need(std::isfinite(eps) && eps > 0, "eps must be positive");
  v.floats({{x, "x"}, {w, "weight"}, {b, "bias"}, {y, "y"}});
  v.f32({mean, "mean"});
  v.f32({rstd, "rstd"});
}

void layernorm_bwd(const Backend& be, Buf dy, Buf x, Buf w, Buf mean, Buf rstd, Buf dx, Buf dw, Buf db, int64_t N,
                   int64_t C) {
  const V v(be, Op::layernorm_bwd);
  v.counts({N, C});
  v.fits({N, C}, "x (N x C)");
  v.need(C > 0 || N == 0, "rows need at least one feature");
  v.floats({{x, "x"}, {dy, "dy"}, {w, "weight"}, {dx, "dx"}});
  v.acc({dw, "dweight"}, {w, "weight"});
  v.acc({db, "dbias"}, {w, "weight"});
  v.f32({mean, "mean"});
  v.f32({rstd, "rstd"});
}

void l2norm_fwd(const Backend& be, Buf x, Buf y, Buf norms, int64_t N, int64_t C) {
  const V v(be, Op::l2norm_fwd);
  v.counts({N, C});
  v.fits({N, C}, "x (N x C)");
  v.floats({{x, "x"}, {y, "y"}}, N * C > 0);
  v.f32({norms, "norms"}, N == 0);
}

void l2norm_bwd(const Backend& be, Buf y, Buf norms, Buf dy, Buf dx, int64_t N, int64_t C) {
  const V v(be, Op::l2norm_bwd);
  v.counts({N, C});
  v.fits({N, C}, "y (N x C)");
  v.floats({{y, "y"}, {dy, "dy"}, {dx, "dx"}}, N * C > 0);
  v.f32({norms, "norms"}, N == 0);
}

}  // namespace biofeg::check
