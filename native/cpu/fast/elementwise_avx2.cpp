// AVX2/FMA kernels of the fast backend's elementwise family: dropout (8-lane Philox), GELU. Compiled with -mavx2 -mfma;
// every entry is only called after vec_avx2() said yes (vec.h).
#include <immintrin.h>

#include <algorithm>
#include <cmath>
#include <limits>

#include "avx2.h"
#include "vec.h"

namespace biofeg::host {
using namespace avx2;

void dropout_avx2(const float* x, float* y, int64_t n, float p, float scale, uint64_t seed, uint64_t ctr0,
                  uint8_t* bits) {
  const __m256 vp = _mm256_set1_ps(p), vs = _mm256_set1_ps(scale);
  alignas(32) uint32_t buf[64 + 4];
  for (int64_t i = 0; i < n;) {
    const int64_t m = std::min<int64_t>(n - i, 64);
    const uint64_t e0 = ctr0 + static_cast<uint64_t>(i);
    const uint32_t* r = m > 32 ? philox_elements<2>(seed, e0, buf) : philox_elements<1>(seed, e0, buf);
    int64_t j = 0;
    for (; j + 8 <= m; j += 8) {
      const __m256 k = keep8(r + j, vp);
      _mm256_storeu_ps(y + i + j, _mm256_and_ps(k, _mm256_mul_ps(_mm256_loadu_ps(x + i + j), vs)));
      if (bits) bits[(i + j) / 8] = static_cast<uint8_t>(_mm256_movemask_ps(k));
    }
    if (bits && j < m) bits[(i + j) / 8] = 0;  // only the last range has a tail
    for (; j < m; ++j) {
      const bool keep = static_cast<float>(r[j] >> 8) * (1.0f / 16777216.0f) >= p;
      y[i + j] = keep ? x[i + j] * scale : 0.0f;
      if (bits && keep) bits[(i + j) / 8] = static_cast<uint8_t>(bits[(i + j) / 8] | (1u << ((i + j) % 8)));
    }
    i += m;
  }
}

void dropout_bits_avx2(const float* x, float* y, int64_t n, float scale, const uint8_t* bits) {
  const __m256 vs = _mm256_set1_ps(scale);
  const __m256i lane = _mm256_setr_epi32(1, 2, 4, 8, 16, 32, 64, 128);
  int64_t i = 0;
  for (; i + 8 <= n; i += 8) {
    const __m256i b = _mm256_and_si256(_mm256_set1_epi32(bits[i / 8]), lane);
    const __m256 k = _mm256_castsi256_ps(_mm256_cmpeq_epi32(b, lane));
    _mm256_storeu_ps(y + i, _mm256_and_ps(k, _mm256_mul_ps(_mm256_loadu_ps(x + i), vs)));
  }
  for (; i < n; ++i) y[i] = (bits[i / 8] >> (i % 8)) & 1u ? x[i] * scale : 0.0f;
}

void gelu_fwd_avx2(const float* x, float* y, int64_t n) {
  int64_t i = 0;
  for (; i + 8 <= n; i += 8) _mm256_storeu_ps(y + i, gelu8(_mm256_loadu_ps(x + i)));
  if (i < n) {
    alignas(32) float t[8] = {};
    for (int64_t j = i; j < n; ++j) t[j - i] = x[j];
    _mm256_store_ps(t, gelu8(_mm256_load_ps(t)));
    for (int64_t j = i; j < n; ++j) y[j] = t[j - i];
  }
}

void gelu_bwd_avx2(const float* x, const float* dy, float* dx, int64_t n) {
  int64_t i = 0;
  for (; i + 8 <= n; i += 8)
    _mm256_storeu_ps(dx + i, _mm256_mul_ps(_mm256_loadu_ps(dy + i), gelu_grad8(_mm256_loadu_ps(x + i))));
  if (i < n) {
    alignas(32) float t[8] = {};
    for (int64_t j = i; j < n; ++j) t[j - i] = x[j];
    _mm256_store_ps(t, gelu_grad8(_mm256_load_ps(t)));
    for (int64_t j = i; j < n; ++j) dx[j] = dy[j] * t[j - i];
  }
}

}  // namespace biofeg::host
