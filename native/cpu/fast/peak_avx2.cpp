// The AVX2/FMA chains of the FMA peak (peak.h). Compiled with -mavx2 -mfma; only called when the
// detected CPU level is at least Avx2.
#include <immintrin.h>

#include "peak.h"

namespace biofeg::host {

float fma_chains_avx2(int64_t iters) {
  // 16 chains: two FMA pipes of four-cycle latency need eight in flight; sixteen leave margin.
  __m256 c[16];
  for (int i = 0; i < 16; ++i) c[i] = _mm256_set1_ps(static_cast<float>(i));
  const __m256 a = _mm256_set1_ps(0.999999f), b = _mm256_set1_ps(1e-6f);
  for (int64_t k = 0; k < iters; ++k)
#pragma GCC unroll 16
    for (int i = 0; i < 16; ++i) c[i] = _mm256_fmadd_ps(c[i], a, b);
  __m256 s = c[0];
  for (int i = 1; i < 16; ++i) s = _mm256_add_ps(s, c[i]);
  return _mm256_cvtss_f32(s);
}

}  // namespace biofeg::host
