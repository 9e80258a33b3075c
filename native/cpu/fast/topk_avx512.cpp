// AVX-512 kernel of the fast backend's topk family: the threshold scan of a score row (16
// compares per instruction; most scores fail the test once a query's k best are filled).
// Compiled with the AVX-512 flags; only called when vec_avx512() said yes (vec.h).
#include <immintrin.h>

#include "avx512.h"
#include "vec.h"

namespace biofeg::host {
using namespace avx512;

int64_t above_avx512(const float* s, int64_t n, float thr, int32_t* idx) {
  const __m512 vt = _mm512_set1_ps(thr);
  const __m512i step = _mm512_set1_epi32(16);
  __m512i j16 = _mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15);
  int64_t out = 0;
  for (int64_t j = 0; j < n; j += 16) {
    const __mmask16 t = n - j >= 16 ? static_cast<__mmask16>(0xFFFF) : tail(n - j);
    const __mmask16 k = _mm512_mask_cmp_ps_mask(t, _mm512_maskz_loadu_ps(t, s + j), vt, _CMP_GT_OQ);
    if (k) {
      _mm512_mask_compressstoreu_epi32(idx + out, k, j16);
      out += __builtin_popcount(k);
    }
    j16 = _mm512_add_epi32(j16, step);
  }
  return out;
}

}  // namespace biofeg::host
