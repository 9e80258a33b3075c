// Validators of the attention family.
#include "check.h"

namespace biofeg::check {
namespace {
void common(const V& v, const AttnDesc& d) {
  v.counts({d.B, d.T, d.H});
  v.need(d.D >= 1, "head dim D=", d.D, " must be at least 1");
  const int64_t mx = v.be.caps.attention_max_head_dim;
  v.need(mx == 0 || d.D <= mx, "head dim D=", d.D, " is not supported by backend '", v.be.name, "' (1..", mx, ")");
  v.finite(d.scale, "scale");
  v.prob(d.dropout_p, "dropout");
  v.f32({d.lse, "lse"});
  v.i32({d.mask, "mask"}, true);
}
}  // namespace

void attention_fwd(const Backend& be, const AttnDesc& d) {
  const V v(be, Op::attention_fwd);
  common(v, d);
  v.floats({{d.qkv, "qkv"}, {d.out, "out"}});
}

void attention_bwd(const Backend& be, const AttnDesc& d) {
  const V v(be, Op::attention_bwd);
  common(v, d);
  v.floats({{d.qkv, "qkv"}, {d.out, "out"}, {d.dout, "dout"}, {d.dqkv, "dqkv"}});
}

}  // namespace biofeg::check
