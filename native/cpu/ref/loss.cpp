// Reference kernels of the loss family.
#include <algorithm>
#include <cmath>
#include <limits>

#include "ref.h"

namespace biofeg::ref {
namespace {
double row_lse(const float* r, int64_t C) {
  float mx = -std::numeric_limits<float>::infinity();
  for (int64_t c = 0; c < C; ++c) mx = std::max(mx, r[c]);
  double s = 0;
  for (int64_t c = 0; c < C; ++c) s += std::exp(static_cast<double>(r[c]) - mx);
  return mx + std::log(s);
}
}  // namespace

void xent_fwd(Buf logits, Buf target, Buf loss_, int64_t N, int64_t C) {
  const int32_t* t = target.i32();
  float* loss = loss_.f32();
  const In x(logits, N * C);
  for (int64_t n = 0; n < N; ++n)
    loss[n] = t[n] < 0 ? 0.0f : static_cast<float>(row_lse(x.p + n * C, C) - x.p[n * C + t[n]]);
}

void xent_bwd(Buf logits, Buf target, Buf dloss_, Buf dlogits, int64_t N, int64_t C) {
  const int32_t* t = target.i32();
  const float* dloss = dloss_.f32();
  const In x(logits, N * C);
  Out d(dlogits, N * C, false);
  for (int64_t n = 0; n < N; ++n) {
    const double lse = row_lse(x.p + n * C, C);
    for (int64_t c = 0; c < C; ++c) {
      const double p = std::exp(x.p[n * C + c] - lse);
      d.p[n * C + c] = t[n] < 0 ? 0.0f : static_cast<float>(dloss[n] * (p - (c == t[n] ? 1.0 : 0.0)));
    }
  }
  d.done();
}

void mse_fwd(Buf a, Buf b, Buf out, int64_t n) {
  const In pa(a, n), pb(b, n);
  double s = 0;
  for (int64_t i = 0; i < n; ++i) s += (pa.p[i] - pb.p[i]) * static_cast<double>(pa.p[i] - pb.p[i]);
  out.f32()[0] = n ? static_cast<float>(s / n) : 0.0f;
}

void mse_bwd(Buf a, Buf b, float dout, Buf da, int64_t n) {
  const float fn = static_cast<float>(n);
  map(a, b, da, n, [=](float x, float y, int64_t) { return dout * 2.0f * (x - y) / fn; });
}

void grad_penalty(Buf g, float lambda, Buf u, Buf norms, int64_t N, int64_t C) {
  const In pg(g, N * C);
  Out pu(u, N * C, false);
  host::grad_penalty_rows(pg.p, lambda, pu.p, norms.f32(), 0, N, N, C);
  pu.done();
}

void ms_loss(const MsLossDesc& d) {
  host::ms_loss_gate(d, host::ms_loss_rows(d, 0, d.M));
}

}  // namespace biofeg::ref

namespace biofeg::host {
int64_t ms_loss_rows(const MsLossDesc& d, int64_t lo, int64_t hi) {
  const int64_t M = d.M;
  const float* sim = d.sim.f32();
  const int32_t* lab = d.labels.i32();
  const float inf = std::numeric_limits<float>::infinity();
  auto dist = [](float s) { return std::sqrt(std::max(0.0f, 2.0f - 2.0f * s)); };
  int64_t mined = 0;
  for (int64_t a = lo; a < hi; ++a) {
    const float* s = sim + a * M;
    float* g = d.dsim.f32() + a * M;
    float min_neg = inf, max_pos = -inf;
    for (int64_t j = 0; j < M; ++j) {
      if (j == a) continue;
      if (lab[j] == lab[a]) max_pos = std::max(max_pos, dist(s[j]));
      else min_neg = std::min(min_neg, dist(s[j]));
    }
    // 1 = positive pair, 2 = negative pair (the miner's masks; an empty side mines nothing).
    auto kind = [&](int64_t j) {
      if (j == a) return 0;
      if (lab[j] == lab[a]) return min_neg < inf && min_neg - dist(s[j]) <= d.margin ? 1 : 0;
      return max_pos > -inf && dist(s[j]) - max_pos <= d.margin ? 2 : 0;
    };
    auto x_of = [&](int64_t j, int k) { return k == 1 ? d.alpha * (d.base - s[j]) : d.beta * (s[j] - d.base); };
    // log(1 + sum exp x) over each side: the 1 is exp(0), so the maximum starts at 0.
    double mx[3] = {0, 0, 0}, sum[3] = {0, 1, 1};
    int64_t cnt[3] = {0, 0, 0};
    for (int64_t j = 0; j < M; ++j) {
      const int k = kind(j);
      if (k) mx[k] = std::max(mx[k], static_cast<double>(x_of(j, k))), ++cnt[k];
    }
    sum[1] = std::exp(-mx[1]), sum[2] = std::exp(-mx[2]);
    for (int64_t j = 0; j < M; ++j) {
      const int k = kind(j);
      if (k) sum[k] += std::exp(x_of(j, k) - mx[k]);
    }
    const double lse[3] = {0, mx[1] + std::log(sum[1]), mx[2] + std::log(sum[2])};
    d.loss.f32()[a] = static_cast<float>((cnt[1] ? lse[1] / d.alpha : 0.0) + (cnt[2] ? lse[2] / d.beta : 0.0));
    for (int64_t j = 0; j < M; ++j) {
      const int k = kind(j);
      const double p = k ? std::exp(x_of(j, k) - lse[k]) : 0.0;
      g[j] = static_cast<float>(d.scale * (k == 1 ? -p : p));
    }
    mined += std::max(cnt[1], cnt[2]);
  }
  return mined;
}

void ms_loss_gate(const MsLossDesc& d, int64_t mined) {
  if (mined > 1) return;
  std::fill_n(d.loss.f32(), d.M, 0.0f);
  std::fill_n(d.dsim.f32(), d.M * d.M, 0.0f);
}

void grad_penalty_rows(const float* g, float lambda, float* u, float* norms, int64_t lo, int64_t hi, int64_t N,
                       int64_t C) {
  for (int64_t n = lo; n < hi; ++n) {
    const float* r = g + n * C;
    double s = 0;
    for (int64_t c = 0; c < C; ++c) s += static_cast<double>(r[c]) * r[c];
    const double norm = std::sqrt(s);
    const float k = norm > 0 ? static_cast<float>(2.0 * lambda * (norm - 1.0) / (static_cast<double>(N) * norm)) : 0.0f;
    norms[n] = static_cast<float>(norm);
    for (int64_t c = 0; c < C; ++c) u[n * C + c] = k * r[c];
  }
}
}  // namespace biofeg::host
