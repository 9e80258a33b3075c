// Vector kernels of the fast CPU backend's non-GEMM ops: <family>_avx2.cpp (compiled with -mavx2
// -mfma) and <family>_avx512.cpp (-mavx512f -mavx512bw -mavx512vl -mavx512dq -mfma). Callers ask
// vec_avx512() / vec_avx2() (the active CPU level, cpu_level.h) and keep their scalar loop as the
// fallback.
// exp/erf are polynomial approximations (relative error ~1e-7), not libm's: results differ from
// the reference backend by rounding, never by more; the Philox masks are bit-identical.
#pragma once
#include <cstdint>

namespace biofeg::host {

bool vec_avx2();    // the active level is at least Avx2 (throws as cpu_level())
bool vec_avx512();  // the active level is at least Avx512 (throws as cpu_level())

// y[i] = keep(seed, ctr0 + i) ? x[i] * scale : 0 (x and y may alias). With bits, keep(i) is
// also written to bit i % 8 of bits[i / 8] (the caller's range starts on a byte).
void dropout_avx2(const float* x, float* y, int64_t n, float p, float scale, uint64_t seed, uint64_t ctr0,
                  uint8_t* bits = nullptr);
// y[i] = bit i of bits ? x[i] * scale : 0: a mask recorded by dropout_avx2, applied again.
void dropout_bits_avx2(const float* x, float* y, int64_t n, float scale, const uint8_t* bits);
// y = gelu(x); dx = dy * gelu'(x) (erf GELU).
void gelu_fwd_avx2(const float* x, float* y, int64_t n);
void gelu_bwd_avx2(const float* x, const float* dy, float* dx, int64_t n);
// A full 6x16 tile's last store: v = alpha*acc + (first ? beta*c : c) (+ bias[16]); pre = v when
// given; c = gelu(v) when gelu, else v.
void store_tile_epi_avx2(const float* acc, float* c, int64_t ldc, float alpha, float beta, bool first,
                         const float* bias, float* pre, bool gelu);
// One attention row of T scores in place: s = exp(s - l) over real keys (keep[j] != 0), 0 on
// the rest; l = the row's log-sum-exp, computed (returned) unless given (have_l).
float softmax_row_avx2(float* s, const float* keep, int64_t T, bool have_l, float l);
// out[c] += sum over N rows of d[n * ld + c], for c < C, summed in double in row order.
void colsum_avx2(const float* d, int64_t N, int64_t ld, int64_t C, float* out);
// sum of x[i]^2 over [0, n) in double (fixed order).
double sumsq_avx2(const float* x, int64_t n);

}  // namespace biofeg::host

namespace biofeg::host {
// AdamW over [0, n) of d's arrays (d.param etc. already offset by the caller), as adamw_range.
struct AdamWDescAvx { float *param, *m, *v; const float *grad, *decay_mask; float b1, b2, eps, step_size, decay; };
void adamw_avx2(const AdamWDescAvx& d, int64_t n);
// LayerNorm over N rows of C features (C % 8 == 0), as the reference (float sums, 8 lanes).
void layernorm_fwd_avx2(const float* x, const float* w, const float* b, float* y, float* mean, float* rstd,
                        int64_t N, int64_t C, float eps);
// dx overwritten; dw, db accumulated (the caller's per-chunk buffers).
void layernorm_bwd_avx2(const float* dy, const float* x, const float* w, const float* mean, const float* rstd,
                        float* dx, float* dw, float* db, int64_t N, int64_t C);
}  // namespace biofeg::host

namespace biofeg::host {
// The AVX-512 versions of the entries above (same contracts, 16 lanes, masked tails: any C).
void gelu_fwd_avx512(const float* x, float* y, int64_t n);
void gelu_bwd_avx512(const float* x, const float* dy, float* dx, int64_t n);
float softmax_row_avx512(float* s, const float* keep, int64_t T, bool have_l, float l);
void adamw_avx512(const AdamWDescAvx& d, int64_t n);
void layernorm_fwd_avx512(const float* x, const float* w, const float* b, float* y, float* mean, float* rstd,
                          int64_t N, int64_t C, float eps);
void layernorm_bwd_avx512(const float* dy, const float* x, const float* w, const float* mean, const float* rstd,
                          float* dx, float* dw, float* db, int64_t N, int64_t C);
// Top-k scan of one score row: appends to idx the positions j < n with s[j] > thr (in order),
// returns how many. The caller's insertion then sees only the candidates.
int64_t above_avx512(const float* s, int64_t n, float thr, int32_t* idx);
}  // namespace biofeg::host
