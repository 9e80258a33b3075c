// Validators of the attention family.
#include "check.h"

namespace biofeg::check {
namespace {
void common(const V& v, const AttnDesc& d) {
  v.counts({d.B, d.T, d.H});
  v.fits({d.B, d.T, 3, d.H, d.D}, "qkv (B x T x 3 x H x D)");
  v.need(d.D >= 1, "head dim D=", d.D, " must be at least 1");
  const int64_t mx = v.be.caps.attention_max_head_dim;
  v.need(mx == 0 || d.D <= mx, "head dim D=", d.D, " is not supported by backend '", v.be.name, "' (1..", mx, ")");
  v.finite(d.scale, "scale");
  v.prob(d.dropout_p, "dropout");
  v.f32({d.lse, "lse"});
  v.i32({d.mask, "mask"}, true);
  // A key-padding mask is 0 (padding) or 1 (a token). In host memory each entry is checked here
  // (B x T reads, next to the B x H x T x T of the op). A device mask is not read back: that
  // would cost a copy and a synchronisation per call, and the CUDA kernels read any non-zero
  // entry as 1 and index nothing with it, so a bad value cannot reach memory it should not.
  if (d.mask.p && v.host()) {
    const int32_t* m = d.mask.i32();
    const int64_t n = d.B * d.T;
    for (int64_t i = 0; i < n; ++i)
      v.need(m[i] == 0 || m[i] == 1, "mask[", i / (d.T ? d.T : 1), ", ", i % (d.T ? d.T : 1), "] = ", m[i],
             " must be 0 (padding) or 1 (a token)");
  }
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
