// AVX512_BF16 kernels of the fast backend's bf16 GEMM (gemm_bf16.h): the 6x64 vdpbf16ps
// micro-kernels (packed A, or A read in place), the epilogue store (bias, pre, GELU; f32 or bf16
// outputs, masked tails) and the f32 -> bf16 narrowing of casts (integer rounding, as f32_to_bf16). Compiled with -mavx512f
// -mavx512bw -mavx512vl -mavx512dq -mavx512bf16 -mfma on x86-64 only; called only when cpu_level() says
// Avx512Bf16 (gemm_bf16.cpp). Elsewhere the entry points return nullptr (the #else below).
#include "gemm_bf16.h"

#if defined(__x86_64__) && defined(__AVX512BF16__)
// GCC 12 flags the deliberately undefined vectors inside its own AVX-512 intrinsics.
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#endif
#include <immintrin.h>

#include <algorithm>
#include <cstring>

#include "avx512.h"

namespace biofeg::host {
namespace {

inline __m512bh as_bh(__m512i v) { return (__m512bh)v; }  // same-size vector reinterpretation

inline __m512i pair_at(const uint16_t* p) {
  int32_t v;
  std::memcpy(&v, p, 4);  // two bf16: one k-pair of a row
  return _mm512_set1_epi32(v);
}

// c[r][v] += the k-pairs of rows a_r against the four 16-column slices of b.
template <bool Direct>
inline void kernel_body(int64_t kp, const uint16_t* a, int64_t lda, int64_t h, const uint16_t* b, float* acc,
                        bool load) {
  __m512 c[kBfMR][4];
  for (int r = 0; r < kBfMR; ++r)
    for (int v = 0; v < 4; ++v) c[r][v] = load ? _mm512_loadu_ps(acc + r * kBfNR + 16 * v) : _mm512_setzero_ps();
  const uint16_t* row[kBfMR];
  for (int r = 0; r < kBfMR; ++r) row[r] = Direct ? a + (r < h ? r : 0) * lda : a + 2 * r;
  for (int64_t p = 0; p < kp; ++p) {
    const __m512bh b0 = as_bh(_mm512_load_si512(b)), b1 = as_bh(_mm512_load_si512(b + 32));
    const __m512bh b2 = as_bh(_mm512_load_si512(b + 64)), b3 = as_bh(_mm512_load_si512(b + 96));
    for (int r = 0; r < kBfMR; ++r) {
      const __m512bh x = as_bh(pair_at(row[r] + (Direct ? 2 * p : 2 * kBfMR * p)));
      c[r][0] = _mm512_dpbf16_ps(c[r][0], x, b0);
      c[r][1] = _mm512_dpbf16_ps(c[r][1], x, b1);
      c[r][2] = _mm512_dpbf16_ps(c[r][2], x, b2);
      c[r][3] = _mm512_dpbf16_ps(c[r][3], x, b3);
    }
    b += 2 * kBfNR;
  }
  for (int r = 0; r < kBfMR; ++r)
    for (int v = 0; v < 4; ++v) _mm512_storeu_ps(acc + r * kBfNR + 16 * v, c[r][v]);
}

void kernel_packed(int64_t kp, const uint16_t* a, const uint16_t* b, float* acc, bool load) {
  kernel_body<false>(kp, a, 0, kBfMR, b, acc, load);
}
void kernel_direct(int64_t kp, const uint16_t* a, int64_t lda, int64_t h, const uint16_t* b, float* acc, bool load) {
  kernel_body<true>(kp, a, lda, h, b, acc, load);
}

using avx512::gelu16;  // the f32 GEMM's GELU (avx512.h), so both round alike

inline __m512 load16(const void* p, bool bf16, int64_t i, __mmask16 m) {
  if (!bf16) return _mm512_maskz_loadu_ps(m, static_cast<const float*>(p) + i);
  const __m256i h = _mm256_maskz_loadu_epi16(m, static_cast<const uint16_t*>(p) + i);
  return _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_cvtepu16_epi32(h), 16));
}
inline void store16(void* p, bool bf16, int64_t i, __mmask16 m, __m512 v) {
  if (!bf16) return _mm512_mask_storeu_ps(static_cast<float*>(p) + i, m, v);
  // Integer round-to-nearest-even, bit for bit f32_to_bf16 (vcvtneps2bf16 would flush denormals).
  const __m512i u = _mm512_castps_si512(v);
  const __m512i lsb = _mm512_and_si512(_mm512_srli_epi32(u, 16), _mm512_set1_epi32(1));
  __m512i r = _mm512_srli_epi32(_mm512_add_epi32(u, _mm512_add_epi32(lsb, _mm512_set1_epi32(0x7fff))), 16);
  const __mmask16 nan = _mm512_cmpgt_epu32_mask(_mm512_and_si512(u, _mm512_set1_epi32(0x7fffffff)), _mm512_set1_epi32(0x7f800000));
  r = _mm512_mask_or_epi32(r, nan, _mm512_srli_epi32(u, 16), _mm512_set1_epi32(0x40));
  const __m256i h = _mm512_cvtepi32_epi16(r);
  _mm256_mask_storeu_epi16(static_cast<uint16_t*>(p) + i, m, h);
}

void store_tile(const Bf16Epi& e, const float* acc, int64_t h, int64_t w) {
  const __m512 alpha = _mm512_set1_ps(e.alpha), beta = _mm512_set1_ps(e.beta);
  for (int64_t r = 0; r < h; ++r) {
    const int64_t off = r * e.ldc;
    for (int64_t j = 0; j < w; j += 16) {
      const __mmask16 m = w - j >= 16 ? __mmask16(0xFFFF) : static_cast<__mmask16>((1u << (w - j)) - 1u);
      __m512 v = _mm512_mul_ps(alpha, _mm512_maskz_loadu_ps(m, acc + r * kBfNR + j));
      if (e.beta != 0.0f) v = _mm512_fmadd_ps(beta, load16(e.C, e.c_bf16, off + j, m), v);
      if (e.bias) v = _mm512_add_ps(v, load16(e.bias, e.bias_bf16, j, m));
      if (e.pre) store16(e.pre, e.pre_bf16, off + j, m, v);
      if (e.gelu) v = gelu16(v);
      store16(e.C, e.c_bf16, off + j, m, v);
    }
  }
}

// One k-pair of a packed B panel from two rows of w <= 64 columns: dst[2j] = r0[j], dst[2j + 1] =
// r1[j] (r1 null: zeros), zero past w.
void interleave(const uint16_t* r0, const uint16_t* r1, int64_t w, uint16_t* dst) {
  alignas(64) static const uint16_t lo_idx[32] = {0, 32, 1, 33, 2, 34, 3, 35, 4, 36, 5, 37, 6, 38, 7, 39,
                                                  8, 40, 9, 41, 10, 42, 11, 43, 12, 44, 13, 45, 14, 46, 15, 47};
  const __m512i ilo = _mm512_load_si512(lo_idx), ihi = _mm512_add_epi16(ilo, _mm512_set1_epi16(16));
  for (int64_t c = 0; c < 2; ++c) {
    const int64_t n = std::min<int64_t>(32, std::max<int64_t>(0, w - 32 * c));
    const __mmask32 m = n >= 32 ? __mmask32(0xFFFFFFFFu) : static_cast<__mmask32>((1u << n) - 1u);
    const __m512i a = _mm512_maskz_loadu_epi16(m, r0 + 32 * c);
    const __m512i b = r1 ? _mm512_maskz_loadu_epi16(m, r1 + 32 * c) : _mm512_setzero_si512();
    _mm512_store_si512(dst + 64 * c, _mm512_permutex2var_epi16(a, ilo, b));
    _mm512_store_si512(dst + 64 * c + 32, _mm512_permutex2var_epi16(a, ihi, b));
  }
}

// k-pairs [0, kp) of w <= 64 rows of a row-major bf16 matrix (row j at src + j * ld, its pairs
// contiguous): dst[(q * 64 + j) * 2 ..] = pair q of row j, gathered 16 rows at a time; rows past
// w are left as they are (the caller zeroed them).
void gather_pairs(const uint16_t* src, int64_t ld, int64_t w, int64_t kp, uint16_t* dst) {
  const __m512i step = _mm512_mullo_epi32(_mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15),
                                          _mm512_set1_epi32(static_cast<int>(2 * ld)));
  for (int64_t c = 0; c < w; c += 16) {
    const int64_t n = std::min<int64_t>(16, w - c);
    const __mmask16 m = n >= 16 ? __mmask16(0xFFFF) : static_cast<__mmask16>((1u << n) - 1u);
    const uint16_t* base = src + c * ld;
    for (int64_t q = 0; q < kp; ++q) {
      const __m512i v = _mm512_mask_i32gather_epi32(_mm512_setzero_si512(), m, step, base + 2 * q, 1);
      _mm512_mask_storeu_epi32(dst + (q * 64 + c) * 2, m, v);
    }
  }
}

// hi = bf16(x), lo = bf16(x - hi): hi + lo carries about 16 bits of x's mantissa.
void split(const float* x, uint16_t* hi, uint16_t* lo, int64_t n) {
  for (int64_t i = 0; i < n; i += 16) {
    const __mmask16 m = n - i >= 16 ? __mmask16(0xFFFF) : static_cast<__mmask16>((1u << (n - i)) - 1u);
    const __m512 v = _mm512_maskz_loadu_ps(m, x + i);
    store16(hi, true, i, m, v);
    const __m512 h = load16(hi, true, i, m);
    store16(lo, true, i, m, _mm512_sub_ps(v, h));
  }
}

void narrow(const float* x, uint16_t* y, int64_t n) {
  int64_t i = 0;
  for (; i + 16 <= n; i += 16) store16(y, true, i, 0xFFFF, _mm512_loadu_ps(x + i));
  if (i < n) {
    const __mmask16 m = static_cast<__mmask16>((1u << (n - i)) - 1u);
    store16(y, true, i, m, _mm512_maskz_loadu_ps(m, x + i));
  }
}

}  // namespace

Bf16Kernel bf16_kernel_avx512() { return kernel_packed; }
Bf16DirectKernel bf16_direct_avx512() { return kernel_direct; }
Bf16Store bf16_store_avx512() { return store_tile; }
Bf16Narrow bf16_narrow_avx512() { return narrow; }
Bf16Split bf16_split_avx512() { return split; }
Bf16Interleave bf16_interleave_avx512() { return interleave; }
Bf16GatherPairs bf16_gather_pairs_avx512() { return gather_pairs; }

}  // namespace biofeg::host

#else  // not x86-64, or built without the AVX512_BF16 flags: the portable kernels run

namespace biofeg::host {
Bf16Kernel bf16_kernel_avx512() { return nullptr; }
Bf16DirectKernel bf16_direct_avx512() { return nullptr; }
Bf16Store bf16_store_avx512() { return nullptr; }
Bf16Narrow bf16_narrow_avx512() { return nullptr; }
Bf16Split bf16_split_avx512() { return nullptr; }
Bf16Interleave bf16_interleave_avx512() { return nullptr; }
Bf16GatherPairs bf16_gather_pairs_avx512() { return nullptr; }
}  // namespace biofeg::host

#endif
