// Inline AVX2/FMA building blocks shared by the fast backend's *_avx2.cpp files (compiled with
// -mavx2 -mfma; include this header from those files only): polynomial exp and normal CDF,
// 8-lane Philox, horizontal sums.
#pragma once
#include <immintrin.h>

#include <cstdint>

#include "../../core/philox.h"

namespace biofeg::host::avx2 {

// exp(x), Cephes-style: x = n ln2 + r, degree-6 polynomial in r, 2^n through the exponent bits.
inline __m256 exp8(__m256 x) {
  x = _mm256_min_ps(_mm256_max_ps(x, _mm256_set1_ps(-87.3f)), _mm256_set1_ps(88.3f));
  const __m256 fx = _mm256_floor_ps(_mm256_fmadd_ps(x, _mm256_set1_ps(1.44269504088896341f), _mm256_set1_ps(0.5f)));
  x = _mm256_fnmadd_ps(fx, _mm256_set1_ps(0.693359375f), x);
  x = _mm256_fnmadd_ps(fx, _mm256_set1_ps(-2.12194440e-4f), x);
  __m256 y = _mm256_set1_ps(1.9875691500e-4f);
  y = _mm256_fmadd_ps(y, x, _mm256_set1_ps(1.3981999507e-3f));
  y = _mm256_fmadd_ps(y, x, _mm256_set1_ps(8.3334519073e-3f));
  y = _mm256_fmadd_ps(y, x, _mm256_set1_ps(4.1665795894e-2f));
  y = _mm256_fmadd_ps(y, x, _mm256_set1_ps(1.6666665459e-1f));
  y = _mm256_fmadd_ps(y, x, _mm256_set1_ps(5.0000001201e-1f));
  y = _mm256_fmadd_ps(y, _mm256_mul_ps(x, x), _mm256_add_ps(x, _mm256_set1_ps(1.0f)));
  const __m256i n = _mm256_slli_epi32(_mm256_add_epi32(_mm256_cvttps_epi32(fx), _mm256_set1_epi32(127)), 23);
  return _mm256_mul_ps(y, _mm256_castsi256_ps(n));
}

// Normal CDF Phi(x) and e = exp(-x^2 / 2), from erf by Abramowitz-Stegun 7.1.26 (|error| < 1.5e-7),
// written as Phi = 1 - q (x >= 0) or q (x < 0) so the negative tail keeps its relative accuracy.
inline __m256 cdf8(__m256 x, __m256* e_out) {
  const __m256 z = _mm256_mul_ps(_mm256_andnot_ps(_mm256_set1_ps(-0.0f), x), _mm256_set1_ps(0.70710678118654752f));
  const __m256 e = exp8(_mm256_mul_ps(_mm256_mul_ps(x, x), _mm256_set1_ps(-0.5f)));
  const __m256 t = _mm256_div_ps(_mm256_set1_ps(1.0f), _mm256_fmadd_ps(z, _mm256_set1_ps(0.3275911f), _mm256_set1_ps(1.0f)));
  __m256 p = _mm256_set1_ps(1.061405429f);
  p = _mm256_fmadd_ps(p, t, _mm256_set1_ps(-1.453152027f));
  p = _mm256_fmadd_ps(p, t, _mm256_set1_ps(1.421413741f));
  p = _mm256_fmadd_ps(p, t, _mm256_set1_ps(-0.284496736f));
  p = _mm256_fmadd_ps(p, t, _mm256_set1_ps(0.254829592f));
  const __m256 q = _mm256_mul_ps(_mm256_mul_ps(_mm256_mul_ps(p, t), e), _mm256_set1_ps(0.5f));
  const __m256 neg = _mm256_cmp_ps(x, _mm256_setzero_ps(), _CMP_LT_OQ);
  if (e_out) *e_out = e;
  return _mm256_blendv_ps(_mm256_sub_ps(_mm256_set1_ps(1.0f), q), q, neg);
}
inline __m256 gelu8(__m256 x) { return _mm256_mul_ps(x, cdf8(x, nullptr)); }
inline __m256 gelu_grad8(__m256 x) {
  __m256 e;
  const __m256 cdf = cdf8(x, &e);
  return _mm256_fmadd_ps(_mm256_mul_ps(x, _mm256_set1_ps(0.39894228040143268f)), e, cdf);
}

// High and low 32 bits of a * m per lane (m broadcast).
inline void mulhilo8(__m256i a, __m256i m, __m256i* hi, __m256i* lo) {
  const __m256i even = _mm256_mul_epu32(a, m);
  const __m256i odd = _mm256_mul_epu32(_mm256_srli_epi64(a, 32), m);
  *hi = _mm256_blend_epi32(_mm256_srli_epi64(even, 32), odd, 0xAA);
  *lo = _mm256_blend_epi32(even, _mm256_slli_epi64(odd, 32), 0xAA);
}

// Philox4x32-10 (core/philox.h) of the 8 * NC consecutive blocks b0, b0 + 1, ...: their
// 32 * NC outputs in element order (block b's four outputs at 4 (b - b0) ...) into out. NC
// independent 8-lane chains are interleaved (one chain is latency-bound).
template <int NC>
inline void philox_blocks(uint64_t seed, uint64_t b0, uint32_t* out) {
  alignas(32) uint32_t lo[8 * NC], hi[8 * NC];
  for (int i = 0; i < 8 * NC; ++i) {
    const uint64_t c = b0 + static_cast<uint64_t>(i);
    lo[i] = static_cast<uint32_t>(c);
    hi[i] = static_cast<uint32_t>(c >> 32);
  }
  __m256i c0[NC], c1[NC], c2[NC], c3[NC];
  for (int j = 0; j < NC; ++j) {
    c0[j] = _mm256_load_si256(reinterpret_cast<const __m256i*>(lo + 8 * j));
    c1[j] = _mm256_load_si256(reinterpret_cast<const __m256i*>(hi + 8 * j));
    c2[j] = c3[j] = _mm256_setzero_si256();
  }
  const __m256i m0 = _mm256_set1_epi32(static_cast<int>(0xD2511F53u)), m1 = _mm256_set1_epi32(static_cast<int>(0xCD9E8D57u));
  uint32_t k0 = static_cast<uint32_t>(seed), k1 = static_cast<uint32_t>(seed >> 32);
  for (int r = 0; r < 10; ++r) {
    const __m256i vk0 = _mm256_set1_epi32(static_cast<int>(k0)), vk1 = _mm256_set1_epi32(static_cast<int>(k1));
    for (int j = 0; j < NC; ++j) {
      __m256i hi0, lo0, hi1, lo1;
      mulhilo8(c0[j], m0, &hi0, &lo0);
      mulhilo8(c2[j], m1, &hi1, &lo1);
      c0[j] = _mm256_xor_si256(_mm256_xor_si256(hi1, c1[j]), vk0);
      c1[j] = lo1;
      c2[j] = _mm256_xor_si256(_mm256_xor_si256(hi0, c3[j]), vk1);
      c3[j] = lo0;
    }
    k0 += 0x9E3779B9u;
    k1 += 0xBB67AE85u;
  }
  for (int j = 0; j < NC; ++j) {
    // Lane b of c0..c3 holds block b's outputs: transpose 4 x 8 into element order.
    const __m256i t0 = _mm256_unpacklo_epi32(c0[j], c1[j]), t1 = _mm256_unpacklo_epi32(c2[j], c3[j]);
    const __m256i t2 = _mm256_unpackhi_epi32(c0[j], c1[j]), t3 = _mm256_unpackhi_epi32(c2[j], c3[j]);
    const __m256i u0 = _mm256_unpacklo_epi64(t0, t1), u1 = _mm256_unpackhi_epi64(t0, t1);  // blocks 0|4, 1|5
    const __m256i u2 = _mm256_unpacklo_epi64(t2, t3), u3 = _mm256_unpackhi_epi64(t2, t3);  // blocks 2|6, 3|7
    __m256i* o = reinterpret_cast<__m256i*>(out + 32 * j);
    _mm256_storeu_si256(o + 0, _mm256_permute2x128_si256(u0, u1, 0x20));
    _mm256_storeu_si256(o + 1, _mm256_permute2x128_si256(u2, u3, 0x20));
    _mm256_storeu_si256(o + 2, _mm256_permute2x128_si256(u0, u1, 0x31));
    _mm256_storeu_si256(o + 3, _mm256_permute2x128_si256(u2, u3, 0x31));
  }
}

// The Philox outputs of elements e0 .. e0 + 32 * NC - 1 (element e: output e % 4 of block e / 4),
// computed into buf (32 * NC + 4 entries); returns where element e0's output is.
template <int NC>
inline const uint32_t* philox_elements(uint64_t seed, uint64_t e0, uint32_t* buf) {
  const uint64_t b0 = e0 >> 2, s = e0 & 3;
  philox_blocks<NC>(seed, b0, buf);
  if (s) philox_block(seed, b0 + 8 * NC, buf + 32 * NC);  // the misaligned range reaches one block further
  return buf + s;
}

// Keep mask (all-ones lanes) of 8 outputs: uniform (top 24 bits) >= p, as philox_uniform.
inline __m256 keep8(const uint32_t* r, __m256 p) {
  const __m256i v = _mm256_srli_epi32(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(r)), 8);
  return _mm256_cmp_ps(_mm256_mul_ps(_mm256_cvtepi32_ps(v), _mm256_set1_ps(1.0f / 16777216.0f)), p, _CMP_GE_OQ);
}

inline float hsum(__m256 v) {
  alignas(32) float t[8];
  _mm256_store_ps(t, v);
  return ((t[0] + t[1]) + (t[2] + t[3])) + ((t[4] + t[5]) + (t[6] + t[7]));
}

}  // namespace biofeg::host::avx2
