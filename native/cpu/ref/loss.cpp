// Reference kernels of the loss family.
#include <algorithm>
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

}  // namespace biofeg::ref

namespace biofeg::host {
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
