// AVX2/FMA kernel of the fast backend's attention family: one softmax row. Compiled with -mavx2 -mfma;
// every entry is only called after vec_avx2() said yes (vec.h).
#include <immintrin.h>

#include <algorithm>
#include <cmath>
#include <limits>

#include "avx2.h"
#include "vec.h"

namespace biofeg::host {
using namespace avx2;

float softmax_row_avx2(float* s, const float* keep, int64_t T, bool have_l, float l) {
  const float ninf = -std::numeric_limits<float>::infinity();
  const int64_t T8 = T / 8 * 8;
  if (!have_l) {
    __m256 vm = _mm256_set1_ps(ninf);
    for (int64_t j = 0; j < T8; j += 8) {
      const __m256 k = _mm256_cmp_ps(_mm256_loadu_ps(keep + j), _mm256_setzero_ps(), _CMP_NEQ_OQ);
      vm = _mm256_max_ps(vm, _mm256_blendv_ps(_mm256_set1_ps(ninf), _mm256_loadu_ps(s + j), k));
    }
    alignas(32) float t[8];
    _mm256_store_ps(t, vm);
    float mx = ninf;
    for (float v : t) mx = std::max(mx, v);
    for (int64_t j = T8; j < T; ++j)
      if (keep[j] != 0.0f) mx = std::max(mx, s[j]);
    if (mx == ninf) {
      for (int64_t j = 0; j < T; ++j) s[j] = 0.0f;
      return ninf;
    }
    const __m256 vmx = _mm256_set1_ps(mx);
    __m256 vz = _mm256_setzero_ps();
    for (int64_t j = 0; j < T8; j += 8) {
      const __m256 e = _mm256_mul_ps(exp8(_mm256_sub_ps(_mm256_loadu_ps(s + j), vmx)), _mm256_loadu_ps(keep + j));
      _mm256_storeu_ps(s + j, e);
      vz = _mm256_add_ps(vz, e);
    }
    float z = hsum(vz);
    for (int64_t j = T8; j < T; ++j) {
      s[j] = keep[j] != 0.0f ? std::exp(s[j] - mx) : 0.0f;
      z += s[j];
    }
    const __m256 inv = _mm256_set1_ps(1.0f / z);
    for (int64_t j = 0; j < T8; j += 8) _mm256_storeu_ps(s + j, _mm256_mul_ps(_mm256_loadu_ps(s + j), inv));
    for (int64_t j = T8; j < T; ++j) s[j] *= 1.0f / z;
    return mx + std::log(z);
  }
  if (std::isinf(l)) {
    for (int64_t j = 0; j < T; ++j) s[j] = 0.0f;
    return l;
  }
  const __m256 vl = _mm256_set1_ps(l);
  for (int64_t j = 0; j < T8; j += 8)
    _mm256_storeu_ps(s + j, _mm256_mul_ps(exp8(_mm256_sub_ps(_mm256_loadu_ps(s + j), vl)), _mm256_loadu_ps(keep + j)));
  for (int64_t j = T8; j < T; ++j) s[j] = keep[j] != 0.0f ? std::exp(s[j] - l) : 0.0f;
  return l;
}

}  // namespace biofeg::host
