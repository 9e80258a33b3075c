// Fast kernels of the attention family: per (batch, head), scores in a T x T scratch, GEMMs
// from the packed kernel, AVX-512 or AVX2 softmax rows (attention_avx512.cpp, _avx2.cpp) by CPU level.
#include <cmath>
#include <limits>

#include "../../core/philox.h"
#include "fast.h"

namespace biofeg::fast {
namespace {

// P = softmax(S) over real keys (row lse given or computed), then dropout -> P' (in place).
// Keys past the last real one of sequence b (trailing padding) get probability 0 and zero
// gradients: attention runs over the first keys_of(b) keys only (T without a mask).
int64_t keys_of(const AttnDesc& d, int64_t b) {
  if (!d.mask.p) return d.T;
  const int32_t* m = d.mask.i32() + b * d.T;
  int64_t n = d.T;
  while (n > 0 && !m[n - 1]) --n;
  return n;
}

// Score rows of K keys (row stride K) -> P = softmax over real keys (row lse given or computed),
// then dropout -> P' (Pd, stride K). Counters stay those of the full T x T layout.
// bits (T % 8 == 0): the whole call's mask, element (b,h,i,j) at bit ((b*H+h)*T+i)*T+j; written
// when the row's mask is drawn, read instead of Philox when `reuse`.
void softmax_rows(const AttnDesc& d, int64_t b, int64_t h, int64_t K, float* S, float* lse, bool have_lse, float* Pd,
                  uint8_t* bits = nullptr, bool reuse = false) {
  const int64_t T = d.T;
  const int32_t* mask = d.mask.p ? d.mask.i32() + b * T : nullptr;
  const float inv_keep = d.dropout_p > 0 ? 1.0f / (1.0f - d.dropout_p) : 1.0f;
  if (host::vec_avx2()) {
    const auto softmax_row = host::vec_avx512() ? host::softmax_row_avx512 : host::softmax_row_avx2;
    static thread_local std::vector<float> keep;
    keep.resize(std::max<int64_t>(K, 1));
    for (int64_t j = 0; j < K; ++j) keep[j] = !mask || mask[j] ? 1.0f : 0.0f;
    for (int64_t i = 0; i < T; ++i) {
      float* s = S + i * K;
      const float l = softmax_row(s, keep.data(), K, have_lse, have_lse ? lse[i] : 0.0f);
      if (!have_lse) lse[i] = l;
      if (!Pd) continue;
      const uint64_t base = d.offset + static_cast<uint64_t>(((b * d.H + h) * T + i) * T);
      const int64_t e0 = ((b * d.H + h) * T + i) * T;  // this row's first element
      if (d.dropout_p <= 0) std::copy_n(s, K, Pd + i * K);
      else if (bits && reuse) host::dropout_bits_avx2(s, Pd + i * K, K, inv_keep, bits + e0 / 8);
      else host::dropout_avx2(s, Pd + i * K, K, d.dropout_p, inv_keep, d.seed, base, bits ? bits + e0 / 8 : nullptr);
    }
    return;
  }
  for (int64_t i = 0; i < T; ++i) {
    float* s = S + i * K;
    float l;
    if (have_lse) {
      l = lse[i];
    } else {
      float mx = -std::numeric_limits<float>::infinity();
      for (int64_t j = 0; j < K; ++j)
        if (!mask || mask[j]) mx = std::max(mx, s[j]);
      if (mx == -std::numeric_limits<float>::infinity()) {
        l = mx;
      } else {
        double z = 0;
        for (int64_t j = 0; j < K; ++j)
          if (!mask || mask[j]) z += std::exp(static_cast<double>(s[j]) - mx);
        l = mx + static_cast<float>(std::log(z));
      }
      lse[i] = l;
    }
    const bool dead = std::isinf(l);
    const uint64_t base = d.offset + static_cast<uint64_t>(((b * d.H + h) * T + i) * T);
    for (int64_t j = 0; j < K; ++j) {
      const float p = (dead || (mask && !mask[j])) ? 0.0f : std::exp(s[j] - l);
      s[j] = p;
      if (Pd) Pd[i * K + j] = d.dropout_p > 0 ? (dropout_keep(d.seed, base + j, d.dropout_p) ? p * inv_keep : 0.0f) : p;
    }
  }
}

}  // namespace

void attention_fwd(const AttnDesc& d) {
  const float* qkv = d.qkv.f32();
  float *out = d.out.f32(), *lse = d.lse.f32();
  const int64_t T = d.T, H = d.H, D = d.D, row = 3 * H * D;
  const bool record = host::vec_avx2() && d.dropout_p > 0 && T % 8 == 0;  // for the backward
  auto bits = record ? std::make_shared<std::vector<uint8_t>>(static_cast<size_t>(d.B * H * T * T / 8)) : nullptr;
  run_tasks(d.B * H, [&](int64_t task) {
    const int64_t b = task / H, h = task % H, K = keys_of(d, b);
    static thread_local std::vector<float> S, P;
    S.resize(std::max<int64_t>(T * K, 1));
    const float* q = qkv + b * T * row + h * D;
    host::gemm_serial(mm(T, K, D, q, row, false, q + H * D, row, true, S.data(), K, d.scale));
    float* Pd = nullptr;
    if (d.dropout_p > 0) {
      P.resize(std::max<int64_t>(T * K, 1));
      Pd = P.data();
    }
    softmax_rows(d, b, h, K, S.data(), lse + (b * H + h) * T, false, Pd, bits ? bits->data() : nullptr);
    host::gemm_serial(mm(T, D, K, Pd ? Pd : S.data(), K, false, q + 2 * H * D, row, false,
                         out + b * T * H * D + h * D, H * D, 1.0f));
  });
  if (bits) masks().put({d.seed, d.offset, d.B * H * T * T, d.dropout_p}, std::move(bits));
}

void attention_bwd(const AttnDesc& d) {
  const float* qkv = d.qkv.f32();  // out is not read: Di comes from p and dp
  const float *dout = d.dout.f32(), *lse = d.lse.f32();
  float* dqkv = d.dqkv.f32();
  const int64_t T = d.T, H = d.H, D = d.D, row = 3 * H * D;
  const float inv_keep = d.dropout_p > 0 ? 1.0f / (1.0f - d.dropout_p) : 1.0f;
  const auto bits = host::vec_avx2() && d.dropout_p > 0 && T % 8 == 0
                        ? masks().take({d.seed, d.offset, d.B * H * T * T, d.dropout_p})
                        : nullptr;  // the forward's mask, when it was recorded
  run_tasks(d.B * H, [&](int64_t task) {
    const int64_t b = task / H, h = task % H, K = keys_of(d, b);
    static thread_local std::vector<float> S, P, dP;
    S.resize(std::max<int64_t>(T * K, 1));
    dP.resize(std::max<int64_t>(T * K, 1));
    const float* q = qkv + b * T * row + h * D;
    const float* go = dout + b * T * H * D + h * D;
    float* dq = dqkv + b * T * row + h * D;
    host::gemm_serial(mm(T, K, D, q, row, false, q + H * D, row, true, S.data(), K, d.scale));
    float* Pd = S.data();
    if (d.dropout_p > 0) {
      P.resize(std::max<int64_t>(T * K, 1));
      Pd = P.data();
    }
    std::vector<float> l(lse + (b * H + h) * T, lse + (b * H + h) * T + T);
    softmax_rows(d, b, h, K, S.data(), l.data(), true, d.dropout_p > 0 ? Pd : nullptr, bits ? bits->data() : nullptr,
                 bits != nullptr);
    // dV = P'^T dO ; dP' = dO V^T (keys >= K: dK = dV = 0)
    host::gemm_serial(mm(K, D, T, Pd, K, true, go, H * D, false, dq + 2 * H * D, row, 1.0f));
    host::gemm_serial(mm(T, K, D, go, H * D, false, q + 2 * H * D, row, true, dP.data(), K, 1.0f));
    for (int64_t i = 0; i < T; ++i) {
      float* dpi = dP.data() + i * K;
      const float* pi = S.data() + i * K;
      if (d.dropout_p > 0)
        for (int64_t j = 0; j < K; ++j) dpi[j] = Pd[i * K + j] != 0.0f ? dpi[j] * inv_keep : 0.0f;
      // Di = sum_j p_j dp_j / sum_j p_j, from the same p and dp as dS (ops.h, attention_bwd).
      double Di = 0, psum = 0;
      for (int64_t j = 0; j < K; ++j) Di += static_cast<double>(pi[j]) * dpi[j], psum += pi[j];
      if (psum > 0) Di /= psum;
      for (int64_t j = 0; j < K; ++j) dpi[j] = pi[j] * (dpi[j] - static_cast<float>(Di)) * d.scale;  // dS, scaled
    }
    host::gemm_serial(mm(T, D, K, dP.data(), K, false, q + H * D, row, false, dq, row, 1.0f));
    host::gemm_serial(mm(K, D, T, dP.data(), K, true, q, row, false, dq + H * D, row, 1.0f));
    for (int64_t j = K; j < T; ++j) {
      std::fill_n(dq + j * row + H * D, D, 0.0f);
      std::fill_n(dq + j * row + 2 * H * D, D, 0.0f);
    }
  });
}

}  // namespace biofeg::fast
