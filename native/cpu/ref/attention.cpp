// Reference kernels of the attention family: one (b, h, query i) at a time; probabilities
// recomputed in backward from lse.
#include <algorithm>
#include <limits>

#include "../../core/philox.h"
#include "ref.h"

namespace biofeg::ref {

void attention_fwd(const AttnDesc& d) {
  const int64_t T = d.T, H = d.H, D = d.D, row = 3 * H * D;
  const In pq(d.qkv, d.B * T * row);
  Out po(d.out, d.B * T * H * D, false);
  const float* qkv = pq.p;
  float *out = po.p, *lse = d.lse.f32();
  const int32_t* mask = d.mask.p ? d.mask.i32() : nullptr;
  const float keep_scale = d.dropout_p > 0 ? 1.0f / (1.0f - d.dropout_p) : 1.0f;
  std::vector<double> s(T);
  for (int64_t b = 0; b < d.B; ++b)
    for (int64_t h = 0; h < H; ++h)
      for (int64_t i = 0; i < T; ++i) {
        const float* q = qkv + (b * T + i) * row + h * D;
        double mx = -std::numeric_limits<double>::infinity();
        for (int64_t j = 0; j < T; ++j) {
          if (mask && !mask[b * T + j]) continue;
          const float* k = qkv + (b * T + j) * row + H * D + h * D;
          double dot = 0;
          for (int64_t e = 0; e < D; ++e) dot += static_cast<double>(q[e]) * k[e];
          s[j] = dot * d.scale;
          mx = std::max(mx, s[j]);
        }
        float* o = out + ((b * T + i) * H + h) * D;
        std::fill_n(o, D, 0.0f);
        float& l = lse[(b * H + h) * T + i];
        if (mx == -std::numeric_limits<double>::infinity()) {  // no real key: output 0
          l = -std::numeric_limits<float>::infinity();
          continue;
        }
        double z = 0;
        for (int64_t j = 0; j < T; ++j)
          if (!mask || mask[b * T + j]) z += std::exp(s[j] - mx);
        const double lz = mx + std::log(z);
        l = static_cast<float>(lz);
        const uint64_t base = d.offset + static_cast<uint64_t>(((b * H + h) * T + i) * T);
        for (int64_t j = 0; j < T; ++j) {
          if (mask && !mask[b * T + j]) continue;
          double p = std::exp(s[j] - lz);
          if (d.dropout_p > 0) p = dropout_keep(d.seed, base + j, d.dropout_p) ? p * keep_scale : 0.0;
          const float* v = qkv + (b * T + j) * row + 2 * H * D + h * D;
          for (int64_t e = 0; e < D; ++e) o[e] += static_cast<float>(p * v[e]);
        }
      }
  po.done();
}

void attention_bwd(const AttnDesc& d) {
  const int64_t T = d.T, H = d.H, D = d.D, row = 3 * H * D;
  const In pq(d.qkv, d.B * T * row), pdo(d.dout, d.B * T * H * D);  // out: not needed (Di below)
  Out pdq(d.dqkv, d.B * T * row, false);
  const float *qkv = pq.p, *dout = pdo.p, *lse = d.lse.f32();
  float* dqkv = pdq.p;
  const int32_t* mask = d.mask.p ? d.mask.i32() : nullptr;
  const float keep_scale = d.dropout_p > 0 ? 1.0f / (1.0f - d.dropout_p) : 1.0f;
  std::fill_n(dqkv, d.B * T * row, 0.0f);
  for (int64_t b = 0; b < d.B; ++b)
    for (int64_t h = 0; h < H; ++h)
      for (int64_t i = 0; i < T; ++i) {
        const float l = lse[(b * H + h) * T + i];
        if (std::isinf(l)) continue;
        const float* q = qkv + (b * T + i) * row + h * D;
        const float* go = dout + ((b * T + i) * H + h) * D;
        float* dq = dqkv + (b * T + i) * row + h * D;
        const uint64_t base = d.offset + static_cast<uint64_t>(((b * H + h) * T + i) * T);
        // p_j, p'_j (after dropout) and dp_j = dL/dp_j of key j.
        auto key = [&](int64_t j, double& p, double& pd, double& dp) {
          const float* k = qkv + (b * T + j) * row + H * D + h * D;
          const float* v = qkv + (b * T + j) * row + 2 * H * D + h * D;
          double dot = 0, dpd = 0;
          for (int64_t e = 0; e < D; ++e) {
            dot += static_cast<double>(q[e]) * k[e];
            dpd += static_cast<double>(go[e]) * v[e];
          }
          p = std::exp(dot * d.scale - l);
          pd = p, dp = dpd;
          if (d.dropout_p > 0) {
            const bool keep = dropout_keep(d.seed, base + j, d.dropout_p);
            pd = keep ? p * keep_scale : 0.0;
            dp = keep ? dpd * keep_scale : 0.0;
          }
        };
        // Di = sum_j p_j dp_j / sum_j p_j from the same p and dp as dS below (ops.h, attention_bwd).
        double Di = 0, psum = 0, p, pd, dp;
        for (int64_t j = 0; j < T; ++j) {
          if (mask && !mask[b * T + j]) continue;
          key(j, p, pd, dp);
          Di += p * dp;
          psum += p;
        }
        Di /= psum;
        for (int64_t j = 0; j < T; ++j) {
          if (mask && !mask[b * T + j]) continue;
          key(j, p, pd, dp);
          const float* k = qkv + (b * T + j) * row + H * D + h * D;
          const double ds = p * (dp - Di) * d.scale;
          float* dk = dqkv + (b * T + j) * row + H * D + h * D;
          float* dv = dqkv + (b * T + j) * row + 2 * H * D + h * D;
          for (int64_t e = 0; e < D; ++e) {
            dq[e] += static_cast<float>(ds * k[e]);
            dk[e] += static_cast<float>(ds * q[e]);
            dv[e] += static_cast<float>(pd * go[e]);
          }
        }
      }
  pdq.done();
}

}  // namespace biofeg::ref
