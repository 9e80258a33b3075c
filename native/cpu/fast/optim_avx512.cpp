// AVX-512 kernels of the fast backend's optim family: AdamW, as adamw_avx2 on 16 lanes with a
// masked tail. Compiled with the AVX-512 flags; only called when vec_avx512() said yes (vec.h).
#include <immintrin.h>

#include "avx512.h"
#include "vec.h"

namespace biofeg::host {
using namespace avx512;

void adamw_avx512(const AdamWDescAvx& d, int64_t n) {
  const __m512 b1 = _mm512_set1_ps(d.b1), b2 = _mm512_set1_ps(d.b2), c1 = _mm512_set1_ps(1.0f - d.b1),
               c2 = _mm512_set1_ps(1.0f - d.b2), eps = _mm512_set1_ps(d.eps), ss = _mm512_set1_ps(d.step_size),
               dec = _mm512_set1_ps(d.decay), zero = _mm512_setzero_ps();
  for (int64_t i = 0; i < n; i += 16) {
    const __mmask16 k = n - i >= 16 ? static_cast<__mmask16>(0xFFFF) : tail(n - i);
    const __m512 g = _mm512_maskz_loadu_ps(k, d.grad + i);
    const __m512 m = _mm512_fmadd_ps(b1, _mm512_maskz_loadu_ps(k, d.m + i), _mm512_mul_ps(c1, g));
    const __m512 v = _mm512_fmadd_ps(b2, _mm512_maskz_loadu_ps(k, d.v + i), _mm512_mul_ps(_mm512_mul_ps(c2, g), g));
    _mm512_mask_storeu_ps(d.m + i, k, m);
    _mm512_mask_storeu_ps(d.v + i, k, v);
    __m512 p = _mm512_sub_ps(_mm512_maskz_loadu_ps(k, d.param + i),
                             _mm512_div_ps(_mm512_mul_ps(ss, m), _mm512_add_ps(_mm512_sqrt_ps(v), eps)));
    if (d.decay != 0.0f) {
      __mmask16 dm = k;
      if (d.decay_mask) dm = _mm512_mask_cmp_ps_mask(k, _mm512_maskz_loadu_ps(k, d.decay_mask + i), zero, _CMP_NEQ_OQ);
      p = _mm512_mask_sub_ps(p, dm, p, _mm512_mul_ps(dec, p));
    }
    _mm512_mask_storeu_ps(d.param + i, k, p);
  }
}

}  // namespace biofeg::host
