// Fast kernels of the loss family: rows split across the pool, fixed-order parallel sums.
#include <atomic>

#include "fast.h"

namespace biofeg::fast {

void xent_fwd(Buf logits, Buf t, Buf loss, int64_t N, int64_t C) {
  parallel_for(N, row_grain(C), [&](int64_t lo, int64_t hi) {
    ref::xent_fwd(at(logits, lo * C), at(t, lo), at(loss, lo), hi - lo, C);
  });
}
void xent_bwd(Buf logits, Buf t, Buf dloss, Buf dl, int64_t N, int64_t C) {
  parallel_for(N, row_grain(C), [&](int64_t lo, int64_t hi) {
    ref::xent_bwd(at(logits, lo * C), at(t, lo), at(dloss, lo), at(dl, lo * C), hi - lo, C);
  });
}

void mse_fwd(Buf a, Buf b, Buf out, int64_t n) {
  const float *pa = a.f32(), *pb = b.f32();
  const double s = parallel_sum(n, [&](int64_t i) { const double d = pa[i] - pb[i]; return d * d; });
  out.f32()[0] = n ? static_cast<float>(s / n) : 0.0f;
}
void mse_bwd(Buf a, Buf b, float dout, Buf da, int64_t n) {
  const float *pa = a.f32(), *pb = b.f32();
  float* pd = da.f32();
  // Scaled by the full n, not a chunk's (so not the reference on ranges).
  parallel_for(n, kGrain, [&](int64_t lo, int64_t hi) {
    for (int64_t i = lo; i < hi; ++i) pd[i] = dout * 2.0f * (pa[i] - pb[i]) / static_cast<float>(n);
  });
}

void grad_penalty(Buf g, float lambda, Buf u, Buf norms, int64_t N, int64_t C) {
  const float* pg = g.f32();
  float *pu = u.f32(), *pn = norms.f32();
  parallel_for(N, row_grain(C), [&](int64_t lo, int64_t hi) { host::grad_penalty_rows(pg, lambda, pu, pn, lo, hi, N, C); });
}

// Anchors split across the pool; the mined-pair counts summed per chunk, then the gate.
void ms_loss(const MsLossDesc& d) {
  std::atomic<int64_t> mined{0};
  parallel_for(d.M, row_grain(d.M), [&](int64_t lo, int64_t hi) { mined += host::ms_loss_rows(d, lo, hi); });
  host::ms_loss_gate(d, mined.load());
}

}  // namespace biofeg::fast
