// AVX-512 kernels of the fast backend's elementwise family: GELU forward and backward (the
// polynomial of avx2.h on 16 lanes, masked tails; dropout keeps its 8-lane Philox). Compiled
// with the AVX-512 flags; only called when vec_avx512() said yes (vec.h).
#include <immintrin.h>

#include "avx512.h"
#include "vec.h"

namespace biofeg::host {
using namespace avx512;

void gelu_fwd_avx512(const float* x, float* y, int64_t n) {
  int64_t i = 0;
  for (; i + 16 <= n; i += 16) _mm512_storeu_ps(y + i, gelu16(_mm512_loadu_ps(x + i)));
  if (i < n) {
    const __mmask16 m = tail(n - i);
    _mm512_mask_storeu_ps(y + i, m, gelu16(_mm512_maskz_loadu_ps(m, x + i)));
  }
}

void gelu_bwd_avx512(const float* x, const float* dy, float* dx, int64_t n) {
  int64_t i = 0;
  for (; i + 16 <= n; i += 16)
    _mm512_storeu_ps(dx + i, _mm512_mul_ps(_mm512_loadu_ps(dy + i), gelu_grad16(_mm512_loadu_ps(x + i))));
  if (i < n) {
    const __mmask16 m = tail(n - i);
    const __m512 g = gelu_grad16(_mm512_maskz_loadu_ps(m, x + i));
    _mm512_mask_storeu_ps(dx + i, m, _mm512_mul_ps(_mm512_maskz_loadu_ps(m, dy + i), g));
  }
}

}  // namespace biofeg::host
