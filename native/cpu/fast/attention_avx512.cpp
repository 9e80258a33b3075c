// AVX-512 kernel of the fast backend's attention family: one softmax row, as softmax_row_avx2
// on 16 lanes with masked tails. Compiled with the AVX-512 flags; only called when vec_avx512()
// said yes (vec.h).
#include <immintrin.h>

#include <cmath>
#include <limits>

#include "avx512.h"
#include "vec.h"

namespace biofeg::host {
using namespace avx512;

float softmax_row_avx512(float* s, const float* keep, int64_t T, bool have_l, float l) {
  const float ninf = -std::numeric_limits<float>::infinity();
  const __m512 zero = _mm512_setzero_ps();
  if (!have_l) {
    __m512 vm = _mm512_set1_ps(ninf);
    for (int64_t j = 0; j < T; j += 16) {
      const __mmask16 t = T - j >= 16 ? static_cast<__mmask16>(0xFFFF) : tail(T - j);
      const __mmask16 k = _mm512_mask_cmp_ps_mask(t, _mm512_maskz_loadu_ps(t, keep + j), zero, _CMP_NEQ_OQ);
      vm = _mm512_mask_max_ps(vm, k, vm, _mm512_maskz_loadu_ps(k, s + j));
    }
    const float mx = _mm512_reduce_max_ps(vm);
    if (mx == ninf) {
      for (int64_t j = 0; j < T; ++j) s[j] = 0.0f;
      return ninf;
    }
    const __m512 vmx = _mm512_set1_ps(mx);
    __m512 vz = zero;
    for (int64_t j = 0; j < T; j += 16) {
      const __mmask16 t = T - j >= 16 ? static_cast<__mmask16>(0xFFFF) : tail(T - j);
      const __mmask16 k = _mm512_mask_cmp_ps_mask(t, _mm512_maskz_loadu_ps(t, keep + j), zero, _CMP_NEQ_OQ);
      const __m512 e = _mm512_maskz_mov_ps(k, exp16(_mm512_sub_ps(_mm512_maskz_loadu_ps(t, s + j), vmx)));
      _mm512_mask_storeu_ps(s + j, t, e);
      vz = _mm512_add_ps(vz, e);
    }
    const float z = hsum(vz);
    const __m512 inv = _mm512_set1_ps(1.0f / z);
    for (int64_t j = 0; j < T; j += 16) {
      const __mmask16 t = T - j >= 16 ? static_cast<__mmask16>(0xFFFF) : tail(T - j);
      _mm512_mask_storeu_ps(s + j, t, _mm512_mul_ps(_mm512_maskz_loadu_ps(t, s + j), inv));
    }
    return mx + std::log(z);
  }
  if (std::isinf(l)) {
    for (int64_t j = 0; j < T; ++j) s[j] = 0.0f;
    return l;
  }
  const __m512 vl = _mm512_set1_ps(l);
  for (int64_t j = 0; j < T; j += 16) {
    const __mmask16 t = T - j >= 16 ? static_cast<__mmask16>(0xFFFF) : tail(T - j);
    const __mmask16 k = _mm512_mask_cmp_ps_mask(t, _mm512_maskz_loadu_ps(t, keep + j), zero, _CMP_NEQ_OQ);
    _mm512_mask_storeu_ps(s + j, t, _mm512_maskz_mov_ps(k, exp16(_mm512_sub_ps(_mm512_maskz_loadu_ps(t, s + j), vl))));
  }
  return l;
}

}  // namespace biofeg::host
