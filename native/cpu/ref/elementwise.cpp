// Reference kernels of the elementwise family.
#include <algorithm>

#include "../../core/philox.h"
#include "ref.h"

namespace biofeg::ref {

void fill(Buf y, int64_t n, float v) {
  if (y.t == DType::I32) {
    std::fill_n(y.i32(), n, static_cast<int32_t>(v));
    return;
  }
  Out o(y, n, false);
  std::fill_n(o.p, n, v);
  o.done();
}
void cast(Buf x, Buf y, int64_t n) {
  const In px(x, n);
  Out py(y, n, false);
  std::copy_n(px.p, n, py.p);
  py.done();
}

void add(Buf a, Buf b, Buf y, int64_t n) {
  map(a, b, y, n, [](float x, float z, int64_t) { return x + z; });
}
void axpy(float alpha, Buf x, Buf y, int64_t n) {
  map(x, y, y, n, [alpha](float xi, float yi, int64_t) { return yi + alpha * xi; });
}
void scale(Buf x, Buf y, int64_t n, float s) {
  map(x, {}, y, n, [s](float xi, float, int64_t) { return s * xi; });
}
void gelu_fwd(Buf x, Buf y, int64_t n) {
  map(x, {}, y, n, [](float xi, float, int64_t) { return host::gelu(xi); });
}
void gelu_bwd(Buf x, Buf dy, Buf dx, int64_t n) {
  map(x, dy, dx, n, [](float xi, float d, int64_t) { return d * host::gelu_grad(xi); });
}
void relu_fwd(Buf x, Buf y, int64_t n) {
  map(x, {}, y, n, [](float xi, float, int64_t) { return xi > 0 ? xi : 0.0f; });
}
void relu_bwd(Buf x, Buf dy, Buf dx, int64_t n) {
  map(x, dy, dx, n, [](float xi, float d, int64_t) { return xi > 0 ? d : 0.0f; });
}
void leaky_relu_fwd(Buf x, Buf y, int64_t n, float s) {
  map(x, {}, y, n, [s](float xi, float, int64_t) { return xi > 0 ? xi : s * xi; });
}
void leaky_relu_bwd(Buf x, Buf dy, Buf dx, int64_t n, float s) {
  map(x, dy, dx, n, [s](float xi, float d, int64_t) { return xi > 0 ? d : s * d; });
}
void tanh_fwd(Buf x, Buf y, int64_t n) {
  map(x, {}, y, n, [](float xi, float, int64_t) { return std::tanh(xi); });
}
void tanh_bwd(Buf y, Buf dy, Buf dx, int64_t n) {
  map(y, dy, dx, n, [](float yi, float d, int64_t) { return d * (1.0f - yi * yi); });
}
void silu_fwd(Buf x, Buf y, int64_t n) {
  map(x, {}, y, n, [](float xi, float, int64_t) { return xi / (1.0f + std::exp(-xi)); });
}
void silu_bwd(Buf x, Buf dy, Buf dx, int64_t n) {
  map(x, dy, dx, n, [](float xi, float d, int64_t) {
    const float s = 1.0f / (1.0f + std::exp(-xi));
    return d * s * (1.0f + xi * (1.0f - s));
  });
}
void dropout_fwd(Buf x, Buf y, int64_t n, float p, uint64_t seed, uint64_t off) {
  const float s = p < 1.0f ? 1.0f / (1.0f - p) : 0.0f;
  map(x, {}, y, n, [=](float xi, float, int64_t i) { return dropout_keep(seed, off + i, p) ? xi * s : 0.0f; });
}
void dropout_bwd(Buf dy, Buf dx, int64_t n, float p, uint64_t seed, uint64_t off) {
  dropout_fwd(dy, dx, n, p, seed, off);  // the same mask and scale
}

void concat_fwd(Buf a, Buf b, Buf y, int64_t N, int64_t Ca, int64_t Cb) {
  const In pa(a, N * Ca), pb(b, N * Cb);
  Out py(y, N * (Ca + Cb), false);
  for (int64_t n = 0; n < N; ++n) {
    std::copy_n(pa.p + n * Ca, Ca, py.p + n * (Ca + Cb));
    std::copy_n(pb.p + n * Cb, Cb, py.p + n * (Ca + Cb) + Ca);
  }
  py.done();
}
void concat_bwd(Buf dy, Buf da, Buf db, int64_t N, int64_t Ca, int64_t Cb) {
  const In py(dy, N * (Ca + Cb));
  Out pa(da, N * Ca, false), pb(db, N * Cb, false);
  for (int64_t n = 0; n < N; ++n) {
    std::copy_n(py.p + n * (Ca + Cb), Ca, pa.p + n * Ca);
    std::copy_n(py.p + n * (Ca + Cb) + Ca, Cb, pb.p + n * Cb);
  }
  pa.done();
  pb.done();
}

void row_axpy(Buf a, Buf x, Buf y, int64_t N, int64_t C) {
  const float* f = a.f32();
  const In px(x, N * C);
  Out py(y, N * C, true);
  for (int64_t n = 0; n < N; ++n)
    for (int64_t c = 0; c < C; ++c) py.p[n * C + c] += f[n] * px.p[n * C + c];
  py.done();
}

}  // namespace biofeg::ref
