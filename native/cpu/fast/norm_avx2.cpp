// AVX2/FMA kernels of the fast backend's norm family: LayerNorm forward and backward. Compiled with -mavx2 -mfma;
// every entry is only called after vec_avx2() said yes (vec.h).
#include <immintrin.h>

#include <algorithm>
#include <cmath>
#include <limits>

#include "avx2.h"
#include "vec.h"

namespace biofeg::host {
using namespace avx2;

void layernorm_fwd_avx2(const float* x, const float* w, const float* b, float* y, float* mean, float* rstd,
                        int64_t N, int64_t C, float eps) {
  for (int64_t n = 0; n < N; ++n) {
    const float* r = x + n * C;
    __m256 s = _mm256_setzero_ps();
    for (int64_t c = 0; c < C; c += 8) s = _mm256_add_ps(s, _mm256_loadu_ps(r + c));
    const float m = hsum(s) / static_cast<float>(C);
    const __m256 vm = _mm256_set1_ps(m);
    __m256 q = _mm256_setzero_ps();
    for (int64_t c = 0; c < C; c += 8) {
      const __m256 t = _mm256_sub_ps(_mm256_loadu_ps(r + c), vm);
      q = _mm256_fmadd_ps(t, t, q);
    }
    const float rs = static_cast<float>(1.0 / std::sqrt(static_cast<double>(hsum(q)) / C + eps));
    const __m256 vr = _mm256_set1_ps(rs);
    float* o = y + n * C;
    for (int64_t c = 0; c < C; c += 8) {
      const __m256 xh = _mm256_mul_ps(_mm256_sub_ps(_mm256_loadu_ps(r + c), vm), vr);
      _mm256_storeu_ps(o + c, _mm256_fmadd_ps(xh, _mm256_loadu_ps(w + c), _mm256_loadu_ps(b + c)));
    }
    mean[n] = m;
    rstd[n] = rs;
  }
}

void layernorm_bwd_avx2(const float* dy, const float* x, const float* w, const float* mean, const float* rstd,
                        float* dx, float* dw, float* db, int64_t N, int64_t C) {
  for (int64_t n = 0; n < N; ++n) {
    const float *g = dy + n * C, *r = x + n * C;
    const __m256 vm = _mm256_set1_ps(mean[n]), vr = _mm256_set1_ps(rstd[n]);
    __m256 s1 = _mm256_setzero_ps(), s2 = _mm256_setzero_ps();
    for (int64_t c = 0; c < C; c += 8) {
      const __m256 gv = _mm256_loadu_ps(g + c), xh = _mm256_mul_ps(_mm256_sub_ps(_mm256_loadu_ps(r + c), vm), vr);
      const __m256 gw = _mm256_mul_ps(gv, _mm256_loadu_ps(w + c));
      s1 = _mm256_add_ps(s1, gw);
      s2 = _mm256_fmadd_ps(gw, xh, s2);
      _mm256_storeu_ps(dw + c, _mm256_fmadd_ps(gv, xh, _mm256_loadu_ps(dw + c)));
      _mm256_storeu_ps(db + c, _mm256_add_ps(gv, _mm256_loadu_ps(db + c)));
    }
    const __m256 m1 = _mm256_set1_ps(hsum(s1) / static_cast<float>(C)), m2 = _mm256_set1_ps(hsum(s2) / static_cast<float>(C));
    for (int64_t c = 0; c < C; c += 8) {
      const __m256 gv = _mm256_loadu_ps(g + c), xh = _mm256_mul_ps(_mm256_sub_ps(_mm256_loadu_ps(r + c), vm), vr);
      const __m256 t = _mm256_sub_ps(_mm256_fmsub_ps(gv, _mm256_loadu_ps(w + c), m1), _mm256_mul_ps(xh, m2));
      _mm256_storeu_ps(dx + n * C + c, _mm256_mul_ps(vr, t));
    }
  }
}

}  // namespace biofeg::host
