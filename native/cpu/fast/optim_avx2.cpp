// AVX2/FMA kernels of the fast backend's optim family: AdamW, sum of squares. Compiled with -mavx2 -mfma;
// every entry is only called after vec_avx2() said yes (vec.h).
#include <immintrin.h>

#include <algorithm>
#include <cmath>
#include <limits>

#include "avx2.h"
#include "vec.h"

namespace biofeg::host {
using namespace avx2;

void adamw_avx2(const AdamWDescAvx& d, int64_t n) {
  const __m256 b1 = _mm256_set1_ps(d.b1), b2 = _mm256_set1_ps(d.b2), c1 = _mm256_set1_ps(1.0f - d.b1),
               c2 = _mm256_set1_ps(1.0f - d.b2), eps = _mm256_set1_ps(d.eps), ss = _mm256_set1_ps(d.step_size),
               dec = _mm256_set1_ps(d.decay), zero = _mm256_setzero_ps();
  int64_t i = 0;
  for (; i + 8 <= n; i += 8) {
    const __m256 g = _mm256_loadu_ps(d.grad + i);
    const __m256 m = _mm256_fmadd_ps(b1, _mm256_loadu_ps(d.m + i), _mm256_mul_ps(c1, g));
    const __m256 v = _mm256_fmadd_ps(b2, _mm256_loadu_ps(d.v + i), _mm256_mul_ps(_mm256_mul_ps(c2, g), g));
    _mm256_storeu_ps(d.m + i, m);
    _mm256_storeu_ps(d.v + i, v);
    __m256 p = _mm256_sub_ps(_mm256_loadu_ps(d.param + i), _mm256_div_ps(_mm256_mul_ps(ss, m), _mm256_add_ps(_mm256_sqrt_ps(v), eps)));
    if (d.decay != 0.0f) {
      __m256 dp = _mm256_mul_ps(dec, p);
      if (d.decay_mask) dp = _mm256_and_ps(dp, _mm256_cmp_ps(_mm256_loadu_ps(d.decay_mask + i), zero, _CMP_NEQ_OQ));
      p = _mm256_sub_ps(p, dp);
    }
    _mm256_storeu_ps(d.param + i, p);
  }
  for (; i < n; ++i) {
    const float g = d.grad[i];
    const float m = d.b1 * d.m[i] + (1.0f - d.b1) * g;
    const float v = d.b2 * d.v[i] + (1.0f - d.b2) * g * g;
    d.m[i] = m;
    d.v[i] = v;
    float p = d.param[i] - d.step_size * m / (std::sqrt(v) + d.eps);
    if (d.decay != 0.0f && (!d.decay_mask || d.decay_mask[i] != 0.0f)) p -= d.decay * p;
    d.param[i] = p;
  }
}

double sumsq_avx2(const float* x, int64_t n) {
  __m256d a0 = _mm256_setzero_pd(), a1 = _mm256_setzero_pd();
  int64_t i = 0;
  for (; i + 8 <= n; i += 8) {
    const __m256 v = _mm256_loadu_ps(x + i);
    const __m256d lo = _mm256_cvtps_pd(_mm256_castps256_ps128(v)), hi = _mm256_cvtps_pd(_mm256_extractf128_ps(v, 1));
    a0 = _mm256_fmadd_pd(lo, lo, a0);
    a1 = _mm256_fmadd_pd(hi, hi, a1);
  }
  alignas(32) double t[4];
  _mm256_store_pd(t, _mm256_add_pd(a0, a1));
  double s = (t[0] + t[1]) + (t[2] + t[3]);
  for (; i < n; ++i) s += static_cast<double>(x[i]) * x[i];
  return s;
}

}  // namespace biofeg::host
