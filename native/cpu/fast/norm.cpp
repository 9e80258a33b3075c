// Fast kernels of the norm family: rows split across the pool, AVX-512 rows (any C) or AVX2 rows
// (C % 8 == 0) by CPU level.
#include "fast.h"

namespace biofeg::fast {

void layernorm_fwd(Buf x, Buf w, Buf b, Buf y, Buf mean, Buf rstd, int64_t N, int64_t C, float eps) {
  float *pm = mean.f32(), *pr = rstd.f32();
  if (host::vec_avx512() || (host::vec_avx2() && C % 8 == 0)) {
    const auto row = host::vec_avx512() ? host::layernorm_fwd_avx512 : host::layernorm_fwd_avx2;
    const float *px = x.f32(), *pw = w.f32(), *pb = b.f32();
    float* py = y.f32();
    return parallel_for(N, row_grain(C), [&](int64_t lo, int64_t hi) {
      row(px + lo * C, pw, pb, py + lo * C, pm + lo, pr + lo, hi - lo, C, eps);
    });
  }
  parallel_for(N, row_grain(C), [&](int64_t lo, int64_t hi) {
    ref::layernorm_fwd(at(x, lo * C), w, b, at(y, lo * C), at(mean, lo), at(rstd, lo), hi - lo, C, eps);
  });
}

// Parameter gradients are summed over rows: each chunk accumulates into its own buffer first.
void layernorm_bwd(Buf dy, Buf x, Buf w, Buf mean, Buf rstd, Buf dx, Buf dw, Buf db, int64_t N, int64_t C) {
  const int64_t chunks = std::min<int64_t>(num_threads(), std::max<int64_t>(1, N / 8));
  std::vector<float> part(static_cast<size_t>(chunks * 2 * C), 0.0f);
  const int64_t step = (N + chunks - 1) / chunks;
  const auto rows = host::vec_avx512()                    ? host::layernorm_bwd_avx512
                    : host::vec_avx2() && C % 8 == 0 ? host::layernorm_bwd_avx2
                                                          : nullptr;
  run_tasks(chunks, [&](int64_t c) {
    const int64_t lo = c * step, hi = std::min(N, lo + step);
    if (lo >= hi) return;
    float* pw = part.data() + c * 2 * C;
    if (rows) {
      rows(dy.f32() + lo * C, x.f32() + lo * C, w.f32(), mean.f32() + lo, rstd.f32() + lo,
                               dx.f32() + lo * C, pw, pw + C, hi - lo, C);
      return;
    }
    ref::layernorm_bwd(at(dy, lo * C), at(x, lo * C), w, at(mean, lo), at(rstd, lo), at(dx, lo * C),
                       Buf{pw, DType::F32}, Buf{pw + C, DType::F32}, hi - lo, C);
  });
  float *gw = dw.f32(), *gb = db.f32();
  for (int64_t c = 0; c < chunks; ++c)
    for (int64_t j = 0; j < C; ++j) {
      gw[j] += part[c * 2 * C + j];
      gb[j] += part[c * 2 * C + C + j];
    }
}

void l2norm_fwd(Buf x, Buf y, Buf norms, int64_t N, int64_t C) {
  const float* px = x.f32();
  float *py = y.f32(), *pn = norms.f32();
  parallel_for(N, row_grain(C), [&](int64_t lo, int64_t hi) { host::l2norm_rows(px, py, pn, lo, hi, C); });
}

void l2norm_bwd(Buf y, Buf norms, Buf dy, Buf dx, int64_t N, int64_t C) {
  const float *py = y.f32(), *pn = norms.f32(), *pd = dy.f32();
  float* px = dx.f32();
  parallel_for(N, row_grain(C), [&](int64_t lo, int64_t hi) { host::l2norm_bwd_rows(py, pn, pd, px, lo, hi, C); });
}

}  // namespace biofeg::fast
