// AVX2/FMA kernels of the fast backend's gemm family: the 6x16 micro-kernels and tile stores, the
// fused epilogue store (bias, pre, GELU) and the column sums of bias_grad. Compiled with -mavx2
// -mfma; only called when cpu_level() is at least Avx2 (gemm.cpp).
#include <immintrin.h>

#include "../../core/dtype.h"
#include "avx2.h"
#include "gemm.h"
#include "vec.h"

namespace biofeg::host {
namespace {

void kernel_avx2(int64_t kc, const float* a, const float* b, float* acc) {
  __m256 c00 = _mm256_setzero_ps(), c01 = _mm256_setzero_ps(), c10 = _mm256_setzero_ps(),
         c11 = _mm256_setzero_ps(), c20 = _mm256_setzero_ps(), c21 = _mm256_setzero_ps(),
         c30 = _mm256_setzero_ps(), c31 = _mm256_setzero_ps(), c40 = _mm256_setzero_ps(),
         c41 = _mm256_setzero_ps(), c50 = _mm256_setzero_ps(), c51 = _mm256_setzero_ps();
  for (int64_t k = 0; k < kc; ++k) {
    const __m256 b0 = _mm256_load_ps(b), b1 = _mm256_load_ps(b + 8);
    __m256 x = _mm256_broadcast_ss(a + 0);
    c00 = _mm256_fmadd_ps(x, b0, c00);
    c01 = _mm256_fmadd_ps(x, b1, c01);
    x = _mm256_broadcast_ss(a + 1);
    c10 = _mm256_fmadd_ps(x, b0, c10);
    c11 = _mm256_fmadd_ps(x, b1, c11);
    x = _mm256_broadcast_ss(a + 2);
    c20 = _mm256_fmadd_ps(x, b0, c20);
    c21 = _mm256_fmadd_ps(x, b1, c21);
    x = _mm256_broadcast_ss(a + 3);
    c30 = _mm256_fmadd_ps(x, b0, c30);
    c31 = _mm256_fmadd_ps(x, b1, c31);
    x = _mm256_broadcast_ss(a + 4);
    c40 = _mm256_fmadd_ps(x, b0, c40);
    c41 = _mm256_fmadd_ps(x, b1, c41);
    x = _mm256_broadcast_ss(a + 5);
    c50 = _mm256_fmadd_ps(x, b0, c50);
    c51 = _mm256_fmadd_ps(x, b1, c51);
    a += kMR;
    b += kNR;
  }
  _mm256_storeu_ps(acc + 0, c00);
  _mm256_storeu_ps(acc + 8, c01);
  _mm256_storeu_ps(acc + 16, c10);
  _mm256_storeu_ps(acc + 24, c11);
  _mm256_storeu_ps(acc + 32, c20);
  _mm256_storeu_ps(acc + 40, c21);
  _mm256_storeu_ps(acc + 48, c30);
  _mm256_storeu_ps(acc + 56, c31);
  _mm256_storeu_ps(acc + 64, c40);
  _mm256_storeu_ps(acc + 72, c41);
  _mm256_storeu_ps(acc + 80, c50);
  _mm256_storeu_ps(acc + 88, c51);
}

// As kernel_avx2, but A read in place: row r of the tile at a + r * lda (rows >= h repeat row 0,
// their sums are discarded by the caller). Saves packing A when op(A) is row-major.
// A may hold bf16 values, widened as they are read (the top-k scan of a bf16 pool).
template <typename TA>
__m256 bcast(const TA* p) {
  if constexpr (sizeof(TA) == 4) return _mm256_broadcast_ss(p);
  else return _mm256_set1_ps(bf16_to_f32(*p));
}
template <typename TA>
void kernel_avx2_direct(int64_t kc, const TA* a, int64_t lda, int64_t h, const float* b, float* acc) {
  const TA* a0 = a;
  const TA* a1 = h > 1 ? a + lda : a;
  const TA* a2 = h > 2 ? a + 2 * lda : a;
  const TA* a3 = h > 3 ? a + 3 * lda : a;
  const TA* a4 = h > 4 ? a + 4 * lda : a;
  const TA* a5 = h > 5 ? a + 5 * lda : a;
  __m256 c00 = _mm256_setzero_ps(), c01 = _mm256_setzero_ps(), c10 = _mm256_setzero_ps(),
         c11 = _mm256_setzero_ps(), c20 = _mm256_setzero_ps(), c21 = _mm256_setzero_ps(),
         c30 = _mm256_setzero_ps(), c31 = _mm256_setzero_ps(), c40 = _mm256_setzero_ps(),
         c41 = _mm256_setzero_ps(), c50 = _mm256_setzero_ps(), c51 = _mm256_setzero_ps();
  for (int64_t k = 0; k < kc; ++k) {
    const __m256 b0 = _mm256_load_ps(b), b1 = _mm256_load_ps(b + 8);
    __m256 x = bcast(a0 + k);
    c00 = _mm256_fmadd_ps(x, b0, c00);
    c01 = _mm256_fmadd_ps(x, b1, c01);
    x = bcast(a1 + k);
    c10 = _mm256_fmadd_ps(x, b0, c10);
    c11 = _mm256_fmadd_ps(x, b1, c11);
    x = bcast(a2 + k);
    c20 = _mm256_fmadd_ps(x, b0, c20);
    c21 = _mm256_fmadd_ps(x, b1, c21);
    x = bcast(a3 + k);
    c30 = _mm256_fmadd_ps(x, b0, c30);
    c31 = _mm256_fmadd_ps(x, b1, c31);
    x = bcast(a4 + k);
    c40 = _mm256_fmadd_ps(x, b0, c40);
    c41 = _mm256_fmadd_ps(x, b1, c41);
    x = bcast(a5 + k);
    c50 = _mm256_fmadd_ps(x, b0, c50);
    c51 = _mm256_fmadd_ps(x, b1, c51);
    b += kNR;
  }
  _mm256_storeu_ps(acc + 0, c00);
  _mm256_storeu_ps(acc + 8, c01);
  _mm256_storeu_ps(acc + 16, c10);
  _mm256_storeu_ps(acc + 24, c11);
  _mm256_storeu_ps(acc + 32, c20);
  _mm256_storeu_ps(acc + 40, c21);
  _mm256_storeu_ps(acc + 48, c30);
  _mm256_storeu_ps(acc + 56, c31);
  _mm256_storeu_ps(acc + 64, c40);
  _mm256_storeu_ps(acc + 72, c41);
  _mm256_storeu_ps(acc + 80, c50);
  _mm256_storeu_ps(acc + 88, c51);
}

void store_avx2(const float* acc, float* c, int64_t ldc, float alpha, float beta, bool first) {
  const __m256 va = _mm256_set1_ps(alpha), vb = _mm256_set1_ps(first ? beta : 1.0f);
  const bool read = !first || beta != 0.0f;
  for (int r = 0; r < kMR; ++r) {
    float* row = c + r * ldc;
    __m256 x0 = _mm256_mul_ps(va, _mm256_loadu_ps(acc + r * kNR));
    __m256 x1 = _mm256_mul_ps(va, _mm256_loadu_ps(acc + r * kNR + 8));
    if (read) {
      x0 = _mm256_fmadd_ps(vb, _mm256_loadu_ps(row), x0);
      x1 = _mm256_fmadd_ps(vb, _mm256_loadu_ps(row + 8), x1);
    }
    _mm256_storeu_ps(row, x0);
    _mm256_storeu_ps(row + 8, x1);
  }
}

}  // namespace

GemmKernels gemm_kernels_avx2() {
  return {"avx2 6x16", kMR, kNR, kernel_avx2, kernel_avx2_direct<float>, store_avx2, store_tile_epi_avx2,
          kernel_avx2_direct<uint16_t>};
}

using namespace avx2;

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

}  // namespace biofeg::host
