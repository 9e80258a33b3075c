// The AVX-512 chains of the FMA peak (peak.h). Compiled with the AVX-512 flags; only called when
// the detected CPU level is at least Avx512.
#include <immintrin.h>

#include "peak.h"

namespace biofeg::host {

float fma_chains_avx512(int64_t iters) {
  __m512 c[16];
  for (int i = 0; i < 16; ++i) c[i] = _mm512_set1_ps(static_cast<float>(i));
  const __m512 a = _mm512_set1_ps(0.999999f), b = _mm512_set1_ps(1e-6f);
  for (int64_t k = 0; k < iters; ++k)
#pragma GCC unroll 16
    for (int i = 0; i < 16; ++i) c[i] = _mm512_fmadd_ps(c[i], a, b);
  __m512 s = c[0];
  for (int i = 1; i < 16; ++i) s = _mm512_add_ps(s, c[i]);
  return _mm512_cvtss_f32(s);
}

}  // namespace biofeg::host
