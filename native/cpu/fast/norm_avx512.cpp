// AVX-512 kernels of the fast backend's norm family: LayerNorm forward and backward, as the
// AVX2 rows on 16 lanes with masked tails (any C). Compiled with the AVX-512 flags; only called
// when vec_avx512() said yes (vec.h).
#include <immintrin.h>

#include <cmath>

#include "avx512.h"
#include "vec.h"

namespace biofeg::host {
using namespace avx512;

namespace {
inline __mmask16 lanes(int64_t C, int64_t c) { return C - c >= 16 ? static_cast<__mmask16>(0xFFFF) : tail(C - c); }
}  // namespace

void layernorm_fwd_avx512(const float* x, const float* w, const float* b, float* y, float* mean, float* rstd,
                          int64_t N, int64_t C, float eps) {
  for (int64_t n = 0; n < N; ++n) {
    const float* r = x + n * C;
    __m512 s = _mm512_setzero_ps();
    for (int64_t c = 0; c < C; c += 16) s = _mm512_add_ps(s, _mm512_maskz_loadu_ps(lanes(C, c), r + c));
    const float m = hsum(s) / static_cast<float>(C);
    const __m512 vm = _mm512_set1_ps(m);
    __m512 q = _mm512_setzero_ps();
    for (int64_t c = 0; c < C; c += 16) {
      const __mmask16 k = lanes(C, c);
      const __m512 t = _mm512_maskz_sub_ps(k, _mm512_maskz_loadu_ps(k, r + c), vm);
      q = _mm512_fmadd_ps(t, t, q);
    }
    const float rs = static_cast<float>(1.0 / std::sqrt(static_cast<double>(hsum(q)) / C + eps));
    const __m512 vr = _mm512_set1_ps(rs);
    float* o = y + n * C;
    for (int64_t c = 0; c < C; c += 16) {
      const __mmask16 k = lanes(C, c);
      const __m512 xh = _mm512_mul_ps(_mm512_sub_ps(_mm512_maskz_loadu_ps(k, r + c), vm), vr);
      _mm512_mask_storeu_ps(o + c, k, _mm512_fmadd_ps(xh, _mm512_maskz_loadu_ps(k, w + c), _mm512_maskz_loadu_ps(k, b + c)));
    }
    mean[n] = m;
    rstd[n] = rs;
  }
}

void layernorm_bwd_avx512(const float* dy, const float* x, const float* w, const float* mean, const float* rstd,
                          float* dx, float* dw, float* db, int64_t N, int64_t C) {
  // Whole vectors unmasked, then one masked tail (masks on every vector cost more than the width gains here).
  const int64_t C16 = C / 16 * 16;
  const __mmask16 kt = tail(C - C16);
  for (int64_t n = 0; n < N; ++n) {
    const float *g = dy + n * C, *r = x + n * C;
    const __m512 vm = _mm512_set1_ps(mean[n]), vr = _mm512_set1_ps(rstd[n]);
    __m512 s1 = _mm512_setzero_ps(), s2 = _mm512_setzero_ps();
    auto pass1 = [&](int64_t c, __m512 gv, __m512 xv, __m512 wv, __m512 dwv, __m512 dbv, __mmask16 k) {
      const __m512 xh = _mm512_mul_ps(_mm512_maskz_sub_ps(k, xv, vm), vr);
      const __m512 gw = _mm512_mul_ps(gv, wv);
      s1 = _mm512_add_ps(s1, gw);
      s2 = _mm512_fmadd_ps(gw, xh, s2);
      _mm512_mask_storeu_ps(dw + c, k, _mm512_fmadd_ps(gv, xh, dwv));
      _mm512_mask_storeu_ps(db + c, k, _mm512_add_ps(gv, dbv));
    };
    int64_t c = 0;
    for (; c < C16; c += 16)
      pass1(c, _mm512_loadu_ps(g + c), _mm512_loadu_ps(r + c), _mm512_loadu_ps(w + c), _mm512_loadu_ps(dw + c),
            _mm512_loadu_ps(db + c), static_cast<__mmask16>(0xFFFF));
    if (kt)
      pass1(c, _mm512_maskz_loadu_ps(kt, g + c), _mm512_maskz_loadu_ps(kt, r + c), _mm512_maskz_loadu_ps(kt, w + c),
            _mm512_maskz_loadu_ps(kt, dw + c), _mm512_maskz_loadu_ps(kt, db + c), kt);
    const __m512 m1 = _mm512_set1_ps(hsum(s1) / static_cast<float>(C)), m2 = _mm512_set1_ps(hsum(s2) / static_cast<float>(C));
    auto pass2 = [&](int64_t c, __m512 gv, __m512 xv, __m512 wv, __mmask16 k) {
      const __m512 xh = _mm512_mul_ps(_mm512_sub_ps(xv, vm), vr);
      const __m512 t = _mm512_sub_ps(_mm512_fmsub_ps(gv, wv, m1), _mm512_mul_ps(xh, m2));
      _mm512_mask_storeu_ps(dx + n * C + c, k, _mm512_mul_ps(vr, t));
    };
    for (c = 0; c < C16; c += 16)
      pass2(c, _mm512_loadu_ps(g + c), _mm512_loadu_ps(r + c), _mm512_loadu_ps(w + c), static_cast<__mmask16>(0xFFFF));
    if (kt) pass2(c, _mm512_maskz_loadu_ps(kt, g + c), _mm512_maskz_loadu_ps(kt, r + c), _mm512_maskz_loadu_ps(kt, w + c), kt);
  }
}

}  // namespace biofeg::host
