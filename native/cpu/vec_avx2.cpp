// AVX2/FMA loops for the fast CPU backend (see vec.h). Compiled with -mavx2 -mfma; every entry
// is only called after vec_avx2() said yes.
#include <immintrin.h>

#include <algorithm>
#include <cmath>
#include <limits>

#include "../core/philox.h"
#include "vec.h"

namespace biofeg::host {
namespace {

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

float hsum(__m256 v) {
  alignas(32) float t[8];
  _mm256_store_ps(t, v);
  return ((t[0] + t[1]) + (t[2] + t[3])) + ((t[4] + t[5]) + (t[6] + t[7]));
}

}  // namespace

bool vec_avx2() {
  static const bool ok = [] {
    __builtin_cpu_init();
    return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
  }();
  return ok;
}

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

void store_tile_epi_avx2(const float* acc, float* c, int64_t ldc, float alpha, float beta, bool first,
                         const float* bias, float* pre, bool gelu) {
  const __m256 va = _mm256_set1_ps(alpha), vb = _mm256_set1_ps(first ? beta : 1.0f);
  const bool read = !first || beta != 0.0f;
  const __m256 b0 = bias ? _mm256_loadu_ps(bias) : _mm256_setzero_ps();
  const __m256 b1 = bias ? _mm256_loadu_ps(bias + 8) : _mm256_setzero_ps();
  for (int r = 0; r < 6; ++r) {
    float* row = c + r * ldc;
    __m256 x0 = _mm256_mul_ps(va, _mm256_loadu_ps(acc + r * 16));
    __m256 x1 = _mm256_mul_ps(va, _mm256_loadu_ps(acc + r * 16 + 8));
    if (read) {
      x0 = _mm256_fmadd_ps(vb, _mm256_loadu_ps(row), x0);
      x1 = _mm256_fmadd_ps(vb, _mm256_loadu_ps(row + 8), x1);
    }
    if (bias) {
      x0 = _mm256_add_ps(x0, b0);
      x1 = _mm256_add_ps(x1, b1);
    }
    if (pre) {
      _mm256_storeu_ps(pre + r * ldc, x0);
      _mm256_storeu_ps(pre + r * ldc + 8, x1);
    }
    if (gelu) {
      x0 = gelu8(x0);
      x1 = gelu8(x1);
    }
    _mm256_storeu_ps(row, x0);
    _mm256_storeu_ps(row + 8, x1);
  }
}

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

void colsum_avx2(const float* d, int64_t N, int64_t ld, int64_t C, float* out) {
  int64_t c = 0;
  for (; c + 16 <= C; c += 16) {
    __m256d a0 = _mm256_setzero_pd(), a1 = _mm256_setzero_pd(), a2 = _mm256_setzero_pd(), a3 = _mm256_setzero_pd();
    for (int64_t n = 0; n < N; ++n) {
      const float* r = d + n * ld + c;
      const __m256 x0 = _mm256_loadu_ps(r), x1 = _mm256_loadu_ps(r + 8);
      a0 = _mm256_add_pd(a0, _mm256_cvtps_pd(_mm256_castps256_ps128(x0)));
      a1 = _mm256_add_pd(a1, _mm256_cvtps_pd(_mm256_extractf128_ps(x0, 1)));
      a2 = _mm256_add_pd(a2, _mm256_cvtps_pd(_mm256_castps256_ps128(x1)));
      a3 = _mm256_add_pd(a3, _mm256_cvtps_pd(_mm256_extractf128_ps(x1, 1)));
    }
    alignas(32) double t[16];
    _mm256_store_pd(t, a0);
    _mm256_store_pd(t + 4, a1);
    _mm256_store_pd(t + 8, a2);
    _mm256_store_pd(t + 12, a3);
    for (int j = 0; j < 16; ++j) out[c + j] += static_cast<float>(t[j]);
  }
  for (; c < C; ++c) {
    double s = 0;
    for (int64_t n = 0; n < N; ++n) s += d[n * ld + c];
    out[c] += static_cast<float>(s);
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

namespace biofeg::host {

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

void layernorm_fwd_avx2(const float* x, const float* w, const float* b, float* y, float* mean, float* rstd,
                        int64_t N, int64_t C, float eps) {
  for (int64_t n = 0; n < N; ++n) {
    const float* r = x + n * C;
    __m256 s = _mm256_setzero_ps();
    for (int64_t c = 0; c < C; c += 8) s = _mm256_add_ps(s, _mm256_loadu_ps(r + c));
    const float m = hsum(s) / static_cast<float>(C);
    const __m256 vm = _mm256_set1_ps(m);
    __m256 q = _mm256_setzero_ps();
    for (int64_t c = 0; c < C; c += 8) {
      const __m256 t = _mm256_sub_ps(_mm256_loadu_ps(r + c), vm);
      q = _mm256_fmadd_ps(t, t, q);
    }
    const float rs = static_cast<float>(1.0 / std::sqrt(static_cast<double>(hsum(q)) / C + eps));
    const __m256 vr = _mm256_set1_ps(rs);
    float* o = y + n * C;
    for (int64_t c = 0; c < C; c += 8) {
      const __m256 xh = _mm256_mul_ps(_mm256_sub_ps(_mm256_loadu_ps(r + c), vm), vr);
      _mm256_storeu_ps(o + c, _mm256_fmadd_ps(xh, _mm256_loadu_ps(w + c), _mm256_loadu_ps(b + c)));
    }
    mean[n] = m;
    rstd[n] = rs;
  }
}

void layernorm_bwd_avx2(const float* dy, const float* x, const float* w, const float* mean, const float* rstd,
                        float* dx, float* dw, float* db, int64_t N, int64_t C) {
  for (int64_t n = 0; n < N; ++n) {
    const float *g = dy + n * C, *r = x + n * C;
    const __m256 vm = _mm256_set1_ps(mean[n]), vr = _mm256_set1_ps(rstd[n]);
    __m256 s1 = _mm256_setzero_ps(), s2 = _mm256_setzero_ps();
    for (int64_t c = 0; c < C; c += 8) {
      const __m256 gv = _mm256_loadu_ps(g + c), xh = _mm256_mul_ps(_mm256_sub_ps(_mm256_loadu_ps(r + c), vm), vr);
      const __m256 gw = _mm256_mul_ps(gv, _mm256_loadu_ps(w + c));
      s1 = _mm256_add_ps(s1, gw);
      s2 = _mm256_fmadd_ps(gw, xh, s2);
      _mm256_storeu_ps(dw + c, _mm256_fmadd_ps(gv, xh, _mm256_loadu_ps(dw + c)));
      _mm256_storeu_ps(db + c, _mm256_add_ps(gv, _mm256_loadu_ps(db + c)));
    }
    const __m256 m1 = _mm256_set1_ps(hsum(s1) / static_cast<float>(C)), m2 = _mm256_set1_ps(hsum(s2) / static_cast<float>(C));
    for (int64_t c = 0; c < C; c += 8) {
      const __m256 gv = _mm256_loadu_ps(g + c), xh = _mm256_mul_ps(_mm256_sub_ps(_mm256_loadu_ps(r + c), vm), vr);
      const __m256 t = _mm256_sub_ps(_mm256_fmsub_ps(gv, _mm256_loadu_ps(w + c), m1), _mm256_mul_ps(xh, m2));
      _mm256_storeu_ps(dx + n * C + c, _mm256_mul_ps(vr, t));
    }
  }
}

}  // namespace biofeg::host
