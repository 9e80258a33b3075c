// Reference kernels of the norm family.
#include <algorithm>
#include <cmath>

#include "ref.h"

namespace biofeg::ref {

void layernorm_fwd(Buf x, Buf w, Buf b, Buf y, Buf mean_, Buf rstd_, int64_t N, int64_t C, float eps) {
  const In px(x, N * C), pw(w, C), pb(b, C);
  Out py(y, N * C, false);
  float *mean = mean_.f32(), *rstd = rstd_.f32();
  for (int64_t n = 0; n < N; ++n) {
    const float* r = px.p + n * C;
    double m = 0, v = 0;
    for (int64_t c = 0; c < C; ++c) m += r[c];
    m /= C;
    for (int64_t c = 0; c < C; ++c) v += (r[c] - m) * (r[c] - m);
    v /= C;
    const float rs = static_cast<float>(1.0 / std::sqrt(v + eps));
    for (int64_t c = 0; c < C; ++c) py.p[n * C + c] = (r[c] - static_cast<float>(m)) * rs * pw.p[c] + pb.p[c];
    mean[n] = static_cast<float>(m);
    rstd[n] = rs;
  }
  py.done();
}

void layernorm_bwd(Buf dy, Buf x, Buf w, Buf mean_, Buf rstd_, Buf dx, Buf dw, Buf db, int64_t N, int64_t C) {
  const In pd(dy, N * C), px(x, N * C), pw(w, C);
  Out pdx(dx, N * C, false), pdw(dw, C, true), pdb(db, C, true);
  const float *mean = mean_.f32(), *rstd = rstd_.f32();
  std::vector<double> sw(C, 0.0), sb(C, 0.0);  // column sums, added to the accumulators once
  for (int64_t n = 0; n < N; ++n) {
    const float *g = pd.p + n * C, *r = px.p + n * C;
    double s1 = 0, s2 = 0;  // mean of dxhat and of dxhat * xhat
    for (int64_t c = 0; c < C; ++c) {
      const float xh = (r[c] - mean[n]) * rstd[n];
      s1 += g[c] * pw.p[c];
      s2 += g[c] * pw.p[c] * xh;
      sw[c] += g[c] * xh;
      sb[c] += g[c];
    }
    s1 /= C;
    s2 /= C;
    for (int64_t c = 0; c < C; ++c) {
      const float xh = (r[c] - mean[n]) * rstd[n];
      pdx.p[n * C + c] = rstd[n] * (g[c] * pw.p[c] - static_cast<float>(s1) - xh * static_cast<float>(s2));
    }
  }
  for (int64_t c = 0; c < C; ++c) {
    pdw.p[c] += static_cast<float>(sw[c]);
    pdb.p[c] += static_cast<float>(sb[c]);
  }
  pdx.done();
  pdw.done();
  pdb.done();
}

}  // namespace biofeg::ref

namespace biofeg::ref {

void l2norm_fwd(Buf x, Buf y, Buf norms, int64_t N, int64_t C) {
  const In px(x, N * C);
  Out py(y, N * C, false);
  host::l2norm_rows(px.p, py.p, norms.f32(), 0, N, C);
  py.done();
}

void l2norm_bwd(Buf y, Buf norms, Buf dy, Buf dx, int64_t N, int64_t C) {
  const In py(y, N * C), pd(dy, N * C);
  Out px(dx, N * C, false);
  host::l2norm_bwd_rows(py.p, norms.f32(), pd.p, px.p, 0, N, C);
  px.done();
}

}  // namespace biofeg::ref

namespace biofeg::host {

constexpr float kL2Eps = 1e-12f;  // torch.nn.functional.normalize's

void l2norm_rows(const float* x, float* y, float* norms, int64_t lo, int64_t hi, int64_t C) {
  for (int64_t n = lo; n < hi; ++n) {
    const float* r = x + n * C;
    double s = 0;
    for (int64_t c = 0; c < C; ++c) s += static_cast<double>(r[c]) * r[c];
    const float norm = std::max(static_cast<float>(std::sqrt(s)), kL2Eps);
    norms[n] = norm;
    for (int64_t c = 0; c < C; ++c) y[n * C + c] = r[c] / norm;
  }
}

void l2norm_bwd_rows(const float* y, const float* norms, const float* dy, float* dx, int64_t lo, int64_t hi, int64_t C) {
  for (int64_t n = lo; n < hi; ++n) {
    const float *yr = y + n * C, *dr = dy + n * C;
    // A clamped norm is a constant: y = x / eps, whose gradient is dy / eps alone.
    double dot = 0;
    if (norms[n] > kL2Eps)
      for (int64_t c = 0; c < C; ++c) dot += static_cast<double>(yr[c]) * dr[c];
    const float k = static_cast<float>(dot);
    for (int64_t c = 0; c < C; ++c) dx[n * C + c] = (dr[c] - yr[c] * k) / norms[n];
  }
}

}  // namespace biofeg::host
