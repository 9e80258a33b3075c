// AVX-512 kernels of the fast backend's gemm family: the MR x 32 micro-kernels (two zmm
// accumulators per row; A broadcast from memory into the FMA), the small-M path's 16- and
// 8-column direct kernels, the tile stores and the fused epilogue store. Compiled with -mavx512f
// -mavx512bw -mavx512vl -mavx512dq -mfma; only called when cpu_level() is at least Avx512 (gemm.cpp).
#include <immintrin.h>

#include <cstdlib>

#include "../../core/dtype.h"
#include "avx512.h"
#include "gemm.h"

namespace biofeg::host {
namespace {

// 32 columns (two zmm) by MR rows. 8 rows by default: the direct kernel reads 8 rows of A in
// place, and at strides of a few KiB (lda 768 or 3072 floats) more rows than the L1's 8 ways
// evict each other; 16 accumulators still cover the FMA latency. 12 and 14 rows (up to 28
// accumulators) are instantiated for tuning runs: BIOFEG_GEMM_MR512=12|14.
constexpr int kNR512 = 32;

template <int MR>
void kernel(int64_t kc, const float* a, const float* b, float* acc) {
  __m512 c0[MR], c1[MR];
#pragma GCC unroll 16
  for (int r = 0; r < MR; ++r) c0[r] = c1[r] = _mm512_setzero_ps();
  for (int64_t k = 0; k < kc; ++k) {
    const __m512 b0 = _mm512_load_ps(b), b1 = _mm512_load_ps(b + 16);
#pragma GCC unroll 16
    for (int r = 0; r < MR; ++r) {
      const __m512 x = _mm512_set1_ps(a[r]);
      c0[r] = _mm512_fmadd_ps(x, b0, c0[r]);
      c1[r] = _mm512_fmadd_ps(x, b1, c1[r]);
    }
    a += MR;
    b += kNR512;
  }
#pragma GCC unroll 16
  for (int r = 0; r < MR; ++r) {
    _mm512_store_ps(acc + r * kNR512, c0[r]);
    _mm512_store_ps(acc + r * kNR512 + 16, c1[r]);
  }
}

inline float a_at(const float* p) { return *p; }
inline float a_at(const uint16_t* p) { return bf16_to_f32(*p); }

// As kernel, but A read in place: row r at a + r * lda (rows >= h repeat row 0; the caller
// discards their sums). A may hold bf16 values (widened as read).
template <int MR, typename TA>
void kernel_direct(int64_t kc, const TA* a, int64_t lda, int64_t h, const float* b, float* acc) {
  const TA* ar[MR];
#pragma GCC unroll 16
  for (int r = 0; r < MR; ++r) ar[r] = r < h ? a + r * lda : a;
  __m512 c0[MR], c1[MR];
#pragma GCC unroll 16
  for (int r = 0; r < MR; ++r) c0[r] = c1[r] = _mm512_setzero_ps();
  for (int64_t k = 0; k < kc; ++k) {
    const __m512 b0 = _mm512_load_ps(b), b1 = _mm512_load_ps(b + 16);
#pragma GCC unroll 16
    for (int r = 0; r < MR; ++r) {
      const __m512 x = _mm512_set1_ps(a_at(ar[r] + k));
      c0[r] = _mm512_fmadd_ps(x, b0, c0[r]);
      c1[r] = _mm512_fmadd_ps(x, b1, c1[r]);
    }
    b += kNR512;
  }
#pragma GCC unroll 16
  for (int r = 0; r < MR; ++r) {
    _mm512_store_ps(acc + r * kNR512, c0[r]);
    _mm512_store_ps(acc + r * kNR512 + 16, c1[r]);
  }
}

// One register of a narrow panel's row: 16 columns (zmm) or 8 (ymm).
template <int W>
struct Lanes;
template <>
struct Lanes<16> {
  using V = __m512;
  static V zero() { return _mm512_setzero_ps(); }
  static V load(const float* p) { return _mm512_load_ps(p); }
  static V fma(float x, V b, V c) { return _mm512_fmadd_ps(_mm512_set1_ps(x), b, c); }
  static void store(float* p, V v) { _mm512_store_ps(p, v); }
};
template <>
struct Lanes<8> {
  using V = __m256;
  static V zero() { return _mm256_setzero_ps(); }
  static V load(const float* p) { return _mm256_load_ps(p); }
  static V fma(float x, V b, V c) { return _mm256_fmadd_ps(_mm256_set1_ps(x), b, c); }
  static void store(float* p, V v) { _mm256_store_ps(p, v); }
};

// As kernel_direct (f32 A) on a W-column panel (acc row stride W): the small-M path's A^T panel
// for a few A rows, where the 32-column kernel would mostly multiply padding.
template <int MR, int W>
void kernel_direct_narrow(int64_t kc, const float* a, int64_t lda, int64_t h, const float* b, float* acc) {
  using L = Lanes<W>;
  const float* ar[MR];
#pragma GCC unroll 16
  for (int r = 0; r < MR; ++r) ar[r] = r < h ? a + r * lda : a;
  typename L::V c[MR];
#pragma GCC unroll 16
  for (int r = 0; r < MR; ++r) c[r] = L::zero();
  for (int64_t k = 0; k < kc; ++k) {
    const typename L::V b0 = L::load(b);
#pragma GCC unroll 16
    for (int r = 0; r < MR; ++r) c[r] = L::fma(ar[r][k], b0, c[r]);
    b += W;
  }
#pragma GCC unroll 16
  for (int r = 0; r < MR; ++r) L::store(acc + r * W, c[r]);
}

template <int MR>
void store(const float* acc, float* c, int64_t ldc, float alpha, float beta, bool first) {
  const __m512 va = _mm512_set1_ps(alpha), vb = _mm512_set1_ps(first ? beta : 1.0f);
  const bool read = !first || beta != 0.0f;
  for (int r = 0; r < MR; ++r) {
    float* row = c + r * ldc;
    __m512 x0 = _mm512_mul_ps(va, _mm512_load_ps(acc + r * kNR512));
    __m512 x1 = _mm512_mul_ps(va, _mm512_load_ps(acc + r * kNR512 + 16));
    if (read) {
      x0 = _mm512_fmadd_ps(vb, _mm512_loadu_ps(row), x0);
      x1 = _mm512_fmadd_ps(vb, _mm512_loadu_ps(row + 16), x1);
    }
    _mm512_storeu_ps(row, x0);
    _mm512_storeu_ps(row + 16, x1);
  }
}

template <int MR>
void store_epi(const float* acc, float* c, int64_t ldc, float alpha, float beta, bool first, const float* bias,
               float* pre, bool gelu) {
  using namespace avx512;
  const __m512 va = _mm512_set1_ps(alpha), vb = _mm512_set1_ps(first ? beta : 1.0f);
  const bool read = !first || beta != 0.0f;
  const __m512 b0 = bias ? _mm512_loadu_ps(bias) : _mm512_setzero_ps();
  const __m512 b1 = bias ? _mm512_loadu_ps(bias + 16) : _mm512_setzero_ps();
  for (int r = 0; r < MR; ++r) {
    float* row = c + r * ldc;
    __m512 x0 = _mm512_mul_ps(va, _mm512_load_ps(acc + r * kNR512));
    __m512 x1 = _mm512_mul_ps(va, _mm512_load_ps(acc + r * kNR512 + 16));
    if (read) {
      x0 = _mm512_fmadd_ps(vb, _mm512_loadu_ps(row), x0);
      x1 = _mm512_fmadd_ps(vb, _mm512_loadu_ps(row + 16), x1);
    }
    if (bias) {
      x0 = _mm512_add_ps(x0, b0);
      x1 = _mm512_add_ps(x1, b1);
    }
    if (pre) {
      _mm512_storeu_ps(pre + r * ldc, x0);
      _mm512_storeu_ps(pre + r * ldc + 16, x1);
    }
    if (gelu) {
      x0 = gelu16(x0);
      x1 = gelu16(x1);
    }
    _mm512_storeu_ps(row, x0);
    _mm512_storeu_ps(row + 16, x1);
  }
}

template <int MR>
GemmKernels kernels(const char* name) {
  static_assert(MR <= kMRMax && kNR512 <= kNRMax, "gemm.h's accumulator scratch holds the tile");
  return {name, MR, kNR512, kernel<MR>, kernel_direct<MR, float>, store<MR>, store_epi<MR>, kernel_direct<MR, uint16_t>,
          kernel_direct_narrow<MR, 16>, kernel_direct_narrow<MR, 8>};
}

}  // namespace

GemmKernels gemm_kernels_avx512() {
  static const GemmKernels k = [] {
    const char* e = std::getenv("BIOFEG_GEMM_MR512");
    const int mr = e ? std::atoi(e) : 8;
    if (mr == 12) return kernels<12>("avx512 12x32");
    if (mr == 14) return kernels<14>("avx512 14x32");
    return kernels<8>("avx512 8x32");
  }();
  return k;
}

}  // namespace biofeg::host
