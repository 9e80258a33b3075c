// biofeg_cuda_selftest: every CUDA op against the reference backend (cpu/ref/), f32 and bf16
// storage, both GEMM engines. Needs a GPU; prints one line per check and exits non-zero on any
// failure. Built only with -DBIOFEG_CUDA_SELFTEST=ON (see cuda.cmake). For bf16 runs the inputs
// are rounded to bf16 first and the reference sees the same rounded values, so the tolerance
// covers only the kernel's own rounding. Every CUDA call goes through the op's validator (as in
// the addon), and a coverage check at the end fails for any op of the list (ops.h) that no check
// here called.
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <functional>
#include <random>
#include <string>
#include <vector>

#include "../core/device.h"
#include "../core/dtype.h"
#include "../core/error.h"
#include "../op_table.h"
#include "cuda_ops.h"

using namespace biofeg;
using V = std::vector<float>;

namespace {

int g_fail = 0, g_pass = 0;
std::mt19937 g_rng(1234);

V rnd(size_t n, float lo = -1, float hi = 1) {
  std::uniform_real_distribution<float> u(lo, hi);
  V v(n);
  for (auto& x : v) x = u(g_rng);
  return v;
}
V ints(size_t n, int lo, int hi) {  // small integers: dot products are exact in f32 and bf16
  std::uniform_int_distribution<int> u(lo, hi);
  V v(n);
  for (auto& x : v) x = static_cast<float>(u(g_rng));
  return v;
}
V round_to(const V& v, DType t) {
  if (t != DType::BF16) return v;
  V r(v.size());
  for (size_t i = 0; i < v.size(); ++i) r[i] = bf16_to_f32(f32_to_bf16(v[i]));
  return r;
}

// A device copy of a host vector in dtype t; freed with the object.
struct D {
  void* p = nullptr;
  DType t = DType::F32;
  size_t n = 0;
  D(const V& h, DType tt) : t(tt), n(h.size()) {
    p = cuda::malloc(std::max<size_t>(1, n) * dtype_size(t));
    put(h);
  }
  D(const std::vector<int32_t>& h) : t(DType::I32), n(h.size()) {
    p = cuda::malloc(std::max<size_t>(1, n) * 4);
    cuda::memcpy_h2d(p, h.data(), n * 4);
  }
  ~D() { cuda::free(p); }
  D(const D&) = delete;
  void put(const V& h) {
    if (t == DType::BF16) {
      std::vector<uint16_t> b(n);
      for (size_t i = 0; i < n; ++i) b[i] = f32_to_bf16(h[i]);
      cuda::memcpy_h2d(p, b.data(), n * 2);
    } else {
      cuda::memcpy_h2d(p, h.data(), n * 4);
    }
  }
  V get() const {
    V h(n);
    if (t == DType::BF16) {
      std::vector<uint16_t> b(n);
      cuda::memcpy_d2h(b.data(), p, n * 2);
      for (size_t i = 0; i < n; ++i) h[i] = bf16_to_f32(b[i]);
    } else {
      cuda::memcpy_d2h(h.data(), p, n * 4);
    }
    return h;
  }
  std::vector<int32_t> geti() const {
    std::vector<int32_t> h(n);
    cuda::memcpy_d2h(h.data(), p, n * 4);
    return h;
  }
  Buf b() const { return Buf{p, t}; }
  float* f() const { return static_cast<float*>(p); }
};
Buf hb(V& v) { return Buf{v.data(), DType::F32}; }

// |got - want| <= atol + rtol * |want| everywhere (NaN/inf must match exactly).
void expect(const std::string& name, const V& got, const V& want, float atol, float rtol) {
  double worst = 0;
  size_t at = 0, bad = 0;
  for (size_t i = 0; i < want.size(); ++i) {
    const float g = got[i], w = want[i];
    bool ok;
    if (std::isnan(w) || std::isinf(w)) ok = (std::isnan(w) && std::isnan(g)) || g == w;
    else ok = std::fabs(g - w) <= atol + rtol * std::fabs(w);
    const double e = std::isfinite(w) ? std::fabs(static_cast<double>(g) - w) : (ok ? 0.0 : INFINITY);
    if (e > worst) worst = e, at = i;
    if (!ok) ++bad;
  }
  if (got.size() != want.size()) bad = 1;
  std::printf("%-4s %-52s max|err| %.3g", bad ? "FAIL" : "ok", name.c_str(), worst);
  if (bad) std::printf("  (%zu bad; worst at %zu: got %g want %g)", bad, at, got[at], want[at]);
  std::printf("\n");
  (bad ? g_fail : g_pass)++;
}
void expect_i(const std::string& name, const std::vector<int32_t>& got, const std::vector<int32_t>& want) {
  size_t bad = 0, at = 0;
  for (size_t i = 0; i < want.size(); ++i)
    if (got[i] != want[i]) at = bad++ ? at : i;
  std::printf("%-4s %-52s", bad ? "FAIL" : "ok", name.c_str());
  if (bad) std::printf("  (%zu mismatches; first at %zu: got %d want %d)", bad, at, got[at], want[at]);
  std::printf("\n");
  (bad ? g_fail : g_pass)++;
}
void run(const std::string& name, const std::function<void()>& f) {
  try {
    f();
  } catch (const std::exception& e) {
    std::printf("FAIL %-52s threw: %s\n", name.c_str(), e.what());
    ++g_fail;
  }
}

// The CUDA table, each entry counted and validated (op::NAME) before the kernel runs.
bool g_covered[kOpCount] = {};
struct Covered {
  template <Op O, typename... A>
  static void run(const Backend& inner, A... a) {
    g_covered[static_cast<int>(O)] = true;
    biofeg::run<O>(inner, a...);
  }
};
const Backend& R() { return ref_backend(); }
const Backend& C() {
  static const Backend b = Wrapped<Covered>::make(*cuda::backend());
  return b;
}
Buf ib(std::vector<int32_t>& v) { return Buf{v.data(), DType::I32}; }
const char* tn(DType t) { return dtype_name(t); }
float tol(DType t, float f32tol) { return t == DType::BF16 ? 1e-2f : f32tol; }

void test_elementwise(DType t) {
  const int64_t n = 100003;
  const std::string s = std::string(" ") + tn(t);
  V x = round_to(rnd(n, -3, 3), t), y2 = round_to(rnd(n, -3, 3), t);
  D dx(x, t), dy2(y2, t), out(V(n), t);
  auto un = [&](const char* name, void (*cf)(Buf, Buf, int64_t), void (*rf)(Buf, Buf, int64_t)) {
    run(name + s, [&] {
      V want(n);
      rf(hb(x), hb(want), n);
      cf(dx.b(), out.b(), n);
      expect(name + s, out.get(), want, tol(t, 1e-5f), tol(t, 1e-5f));
    });
  };
  auto bin = [&](const char* name, void (*cf)(Buf, Buf, Buf, int64_t), void (*rf)(Buf, Buf, Buf, int64_t)) {
    run(name + s, [&] {
      V want(n);
      rf(hb(x), hb(y2), hb(want), n);
      cf(dx.b(), dy2.b(), out.b(), n);
      expect(name + s, out.get(), want, tol(t, 1e-5f), tol(t, 1e-5f));
    });
  };
  un("gelu", C().gelu_fwd, R().gelu_fwd);
  un("relu", C().relu_fwd, R().relu_fwd);
  un("tanh", C().tanh_fwd, R().tanh_fwd);
  un("silu", C().silu_fwd, R().silu_fwd);
  bin("add", C().add, R().add);
  bin("gelu_bwd", C().gelu_bwd, R().gelu_bwd);
  bin("relu_bwd", C().relu_bwd, R().relu_bwd);
  bin("tanh_bwd", C().tanh_bwd, R().tanh_bwd);
  bin("silu_bwd", C().silu_bwd, R().silu_bwd);
  run("leaky_relu fwd/bwd" + s, [&] {
    V w1(n), w2(n);
    R().leaky_relu_fwd(hb(x), hb(w1), n, 0.2f);
    C().leaky_relu_fwd(dx.b(), out.b(), n, 0.2f);
    expect("leaky_relu" + s, out.get(), w1, tol(t, 1e-6f), tol(t, 1e-6f));
    R().leaky_relu_bwd(hb(x), hb(y2), hb(w2), n, 0.2f);
    C().leaky_relu_bwd(dx.b(), dy2.b(), out.b(), n, 0.2f);
    expect("leaky_relu_bwd" + s, out.get(), w2, tol(t, 1e-6f), tol(t, 1e-6f));
  });
  run("scale/axpy/fill" + s, [&] {
    V w(n);
    R().scale(hb(x), hb(w), n, 1.7f);
    C().scale(dx.b(), out.b(), n, 1.7f);
    expect("scale" + s, out.get(), w, tol(t, 1e-6f), tol(t, 1e-6f));
    V acc = y2;
    R().axpy(-0.3f, hb(x), hb(acc), n);
    out.put(y2);
    C().axpy(-0.3f, dx.b(), out.b(), n);
    expect("axpy" + s, out.get(), acc, tol(t, 1e-6f), tol(t, 1e-6f));
    C().fill(out.b(), n, 0.75f);
    expect("fill" + s, out.get(), V(n, 0.75f), 0, 0);
  });
  run("dropout" + s, [&] {
    for (float p : {0.0f, 0.1f, 0.5f}) {
      V w(n);
      R().dropout_fwd(hb(x), hb(w), n, p, 42, 1000);
      C().dropout_fwd(dx.b(), out.b(), n, p, 42, 1000);
      expect("dropout p=" + std::to_string(p) + s, out.get(), w, tol(t, 1e-6f), tol(t, 1e-6f));
      R().dropout_bwd(hb(y2), hb(w), n, p, 42, 1000);
      C().dropout_bwd(dy2.b(), out.b(), n, p, 42, 1000);
      expect("dropout_bwd p=" + std::to_string(p) + s, out.get(), w, tol(t, 1e-6f), tol(t, 1e-6f));
    }
  });
  run("mse" + s, [&] {
    V w(1);
    R().mse_fwd(hb(x), hb(y2), hb(w), n);
    D o(V(1), DType::F32);
    C().mse_fwd(dx.b(), dy2.b(), o.b(), n);
    expect("mse" + s, o.get(), w, 1e-5f, 1e-5f);
    V wd(n);
    R().mse_bwd(hb(x), hb(y2), 0.7f, hb(wd), n);
    C().mse_bwd(dx.b(), dy2.b(), 0.7f, out.b(), n);
    expect("mse_bwd" + s, out.get(), wd, tol(t, 1e-9f), tol(t, 1e-6f));
  });
  run("sumsq" + s, [&] {
    V w{2.5f};
    R().sumsq(hb(x), n, hb(w));
    D o(V{2.5f}, DType::F32);
    C().sumsq(dx.b(), n, o.b());
    expect("sumsq (accumulates)" + s, o.get(), w, 1e-3f, 1e-5f);
  });
  run("row_axpy / grad_penalty" + s, [&] {
    const int64_t N = 37, Cc = 300;
    V a = rnd(N, -2, 2), xr = round_to(rnd(N * Cc, -0.2f, 0.2f), t), yr = round_to(rnd(N * Cc), t);
    std::fill(xr.begin() + 5 * Cc, xr.begin() + 6 * Cc, 0.0f);  // a zero row: factor 0
    V w = yr;
    R().row_axpy(hb(a), hb(xr), hb(w), N, Cc);
    D da(a, DType::F32), dxr(xr, t), dyr(yr, t);
    C().row_axpy(da.b(), dxr.b(), dyr.b(), N, Cc);
    expect("row_axpy" + s, dyr.get(), w, tol(t, 1e-6f), tol(t, 1e-6f));
    V wu(N * Cc), wn(N);
    R().grad_penalty(hb(xr), 10.0f, hb(wu), hb(wn), N, Cc);
    D du(V(N * Cc), t), dn(V(N), DType::F32);
    C().grad_penalty(dxr.b(), 10.0f, du.b(), dn.b(), N, Cc);
    expect("grad_penalty norms" + s, dn.get(), wn, 1e-6f, 1e-5f);
    expect("grad_penalty u" + s, du.get(), wu, tol(t, 1e-6f), tol(t, 1e-5f));
    C().grad_penalty(dxr.b(), 10.0f, dxr.b(), dn.b(), N, Cc);  // in place
    expect("grad_penalty u in place" + s, dxr.get(), wu, tol(t, 1e-6f), tol(t, 1e-5f));
  });
  run("concat" + s, [&] {
    const int64_t N = 37, Ca = 19, Cb = 45;
    V a = round_to(rnd(N * Ca), t), b = round_to(rnd(N * Cb), t), w(N * (Ca + Cb));
    R().concat_fwd(hb(a), hb(b), hb(w), N, Ca, Cb);
    D da(a, t), db(b, t), dyy(V(N * (Ca + Cb)), t);
    C().concat_fwd(da.b(), db.b(), dyy.b(), N, Ca, Cb);
    expect("concat" + s, dyy.get(), w, 0, 0);
    D ga(V(N * Ca), t), gb(V(N * Cb), t);
    C().concat_bwd(dyy.b(), ga.b(), gb.b(), N, Ca, Cb);
    expect("concat_bwd a" + s, ga.get(), a, 0, 0);
    expect("concat_bwd b" + s, gb.get(), b, 0, 0);
  });
  if (t == DType::F32) {
    run("cast f32->bf16->f32", [&] {
      D bf(V(n), DType::BF16), back(V(n), DType::F32);
      V xr = rnd(n, -100, 100);
      D src(xr, DType::F32);
      C().cast(src.b(), bf.b(), n);
      C().cast(bf.b(), back.b(), n);
      expect("cast f32->bf16->f32 (RNE)", back.get(), round_to(xr, DType::BF16), 0, 0);
    });
  }
}

void test_rows(DType t) {
  const std::string s = std::string(" ") + tn(t);
  for (int64_t C_ : {64, 768, 1000}) {
    const int64_t N = 133;
    const std::string sc = s + " C=" + std::to_string(C_);
    run("layernorm" + sc, [&] {
      V x = round_to(rnd(N * C_, -2, 3), t), w = round_to(rnd(C_, 0.5f, 1.5f), t), b = round_to(rnd(C_), t);
      V y(N * C_), mean(N), rstd(N);
      R().layernorm_fwd(hb(x), hb(w), hb(b), hb(y), hb(mean), hb(rstd), N, C_, 1e-12f);
      D dx(x, t), dw(w, t), db(b, t), dy(V(N * C_), t), dm(V(N), DType::F32), dr(V(N), DType::F32);
      C().layernorm_fwd(dx.b(), dw.b(), db.b(), dy.b(), dm.b(), dr.b(), N, C_, 1e-12f);
      expect("layernorm y" + sc, dy.get(), y, tol(t, 1e-4f), tol(t, 1e-4f));
      expect("layernorm mean" + sc, dm.get(), mean, 1e-5f, 1e-5f);
      expect("layernorm rstd" + sc, dr.get(), rstd, 1e-5f, 1e-4f);
      V g = round_to(rnd(N * C_), t), gx(N * C_), gw = round_to(rnd(C_), t), gb = round_to(rnd(C_), t);
      D dg(g, t), dgx(V(N * C_), t), dgw(gw, t), dgb(gb, t);
      R().layernorm_bwd(hb(g), hb(x), hb(w), hb(mean), hb(rstd), hb(gx), hb(gw), hb(gb), N, C_);
      C().layernorm_bwd(dg.b(), dx.b(), dw.b(), dm.b(), dr.b(), dgx.b(), dgw.b(), dgb.b(), N, C_);
      expect("layernorm_bwd dx" + sc, dgx.get(), gx, tol(t, 1e-4f), tol(t, 1e-3f));
      expect("layernorm_bwd dw (accumulates)" + sc, dgw.get(), gw, t == DType::BF16 ? 0.5f : 1e-3f, tol(t, 1e-4f));
      expect("layernorm_bwd db (accumulates)" + sc, dgb.get(), gb, t == DType::BF16 ? 0.5f : 1e-3f, tol(t, 1e-4f));
    });
    run("xent" + sc, [&] {
      V x = round_to(rnd(N * C_, -4, 4), t), loss(N), dl = rnd(N, 0.1f, 1), g(N * C_);
      std::vector<int32_t> tg(N);
      for (int64_t i = 0; i < N; ++i) tg[i] = i % 7 == 3 ? -1 : static_cast<int32_t>((i * 31) % C_);
      R().xent_fwd(hb(x), ib(tg), hb(loss), N, C_);
      R().xent_bwd(hb(x), ib(tg), hb(dl), hb(g), N, C_);
      D dx(x, t), dt(tg), dloss(V(N), DType::F32), ddl(dl, DType::F32), dg(V(N * C_), t);
      C().xent_fwd(dx.b(), dt.b(), dloss.b(), N, C_);
      C().xent_bwd(dx.b(), dt.b(), ddl.b(), dg.b(), N, C_);
      expect("xent loss" + sc, dloss.get(), loss, 1e-4f, 1e-5f);
      expect("xent_bwd" + sc, dg.get(), g, tol(t, 1e-6f), tol(t, 1e-4f));
    });
    run("l2norm" + sc, [&] {
      V x = round_to(rnd(N * C_, -2, 2), t), y(N * C_), norms(N), g = round_to(rnd(N * C_), t), gx(N * C_);
      std::fill(x.begin() + 7 * C_, x.begin() + 8 * C_, 0.0f);  // a zero row: the clamped norm
      R().l2norm_fwd(hb(x), hb(y), hb(norms), N, C_);
      D dx(x, t), dy(V(N * C_), t), dn(V(N), DType::F32);
      C().l2norm_fwd(dx.b(), dy.b(), dn.b(), N, C_);
      expect("l2norm y" + sc, dy.get(), y, tol(t, 1e-6f), tol(t, 1e-5f));
      expect("l2norm norms" + sc, dn.get(), norms, 1e-6f, 1e-5f);
      V yv = round_to(y, t);
      R().l2norm_bwd(hb(yv), hb(norms), hb(g), hb(gx), N, C_);
      D dyv(yv, t), dg(g, t), dgx(V(N * C_), t), dnn(norms, DType::F32);
      C().l2norm_bwd(dyv.b(), dnn.b(), dg.b(), dgx.b(), N, C_);
      expect("l2norm_bwd" + sc, dgx.get(), gx, tol(t, 1e-4f), tol(t, 1e-4f));
    });
    run("bias_grad" + sc, [&] {
      V dy = round_to(rnd(N * C_), t), db = rnd(C_);
      D ddy(dy, t), ddb(db, DType::F32);
      R().bias_grad(hb(dy), hb(db), N, C_);
      C().bias_grad(ddy.b(), ddb.b(), N, C_);
      expect("bias_grad (f32 accumulator)" + sc, ddb.get(), db, 1e-4f, 1e-5f);
    });
  }
  if (t == DType::F32)
    run("ms_loss", [&] {
      // Cosine similarities of random unit vectors, 9 classes; then one mined triplet only (the gate).
      const int64_t M = 70, Cc = 16;
      V x = rnd(M * Cc), y(M * Cc), nrm(M), sim(M * M);
      R().l2norm_fwd(hb(x), hb(y), hb(nrm), M, Cc);
      for (int64_t i = 0; i < M; ++i)
        for (int64_t j = 0; j < M; ++j) {
          double a = 0;
          for (int64_t c = 0; c < Cc; ++c) a += static_cast<double>(y[i * Cc + c]) * y[j * Cc + c];
          sim[i * M + j] = static_cast<float>(a);
        }
      std::vector<int32_t> lab(M);
      for (int64_t i = 0; i < M; ++i) lab[i] = static_cast<int32_t>(i % 9);
      for (int one = 0; one < 2; ++one) {
        if (one) {  // anchors 0 and 1 of a class, 2 of another: only (0, 1, 2) is within the margin
          std::fill(lab.begin(), lab.end(), 5);
          lab[2] = 6;
        }
        const int64_t Mm = one ? 3 : M;
        V sm(Mm * Mm), loss(Mm), ds(Mm * Mm);
        const float tiny[3] = {0.2f, 0.3f, -0.9f};  // sim of {0,1}, {0,2}, {1,2}
        for (int64_t i = 0; i < Mm; ++i)
          for (int64_t j = 0; j < Mm; ++j) sm[i * Mm + j] = i == j ? 1.0f : one ? tiny[i + j - 1] : sim[i * M + j];
        MsLossDesc h;
        h.M = Mm, h.sim = hb(sm), h.labels = ib(lab), h.loss = hb(loss), h.dsim = hb(ds), h.scale = 1.0f / Mm;
        R().ms_loss(h);
        D dsm(sm, DType::F32), dl(lab), dloss(V(Mm), DType::F32), dds(V(Mm * Mm), DType::F32);
        MsLossDesc g = h;
        g.sim = dsm.b(), g.labels = dl.b(), g.loss = dloss.b(), g.dsim = dds.b();
        C().ms_loss(g);
        const std::string w = one ? " (one triplet: all 0)" : "";
        expect("ms_loss loss" + w, dloss.get(), loss, 1e-5f, 1e-4f);
        expect("ms_loss dsim" + w, dds.get(), ds, 1e-6f, 1e-4f);
        if (one) expect("ms_loss gate", dloss.get(), V(Mm, 0.0f), 0, 0);
        else expect("ms_loss: pairs mined", V{loss[0] > 0 ? 1.0f : 0.0f}, V{1.0f}, 0, 0);
      }
    });
  run("embedding" + s, [&] {
    const int64_t V_ = 50, C_ = 96, N = 300;  // V_: table rows
    V table = round_to(rnd(V_ * C_), t), y(N * C_), dy = round_to(rnd(N * C_), t), dt = round_to(rnd(V_ * C_), t);
    std::vector<int32_t> ids(N);
    for (int64_t i = 0; i < N; ++i) ids[i] = static_cast<int32_t>((i * i + 3) % V_);
    R().embedding_fwd(ib(ids), hb(table), hb(y), N, C_, V_);
    D dtab(table, t), did(ids), dyy(V(N * C_), t), ddy(dy, t), ddt(dt, DType::F32);
    C().embedding_fwd(did.b(), dtab.b(), dyy.b(), N, C_, V_);
    expect("embedding" + s, dyy.get(), y, 0, 0);
    R().embedding_bwd(ib(ids), hb(dy), hb(dt), N, C_, V_);
    C().embedding_bwd(did.b(), ddy.b(), ddt.b(), N, C_, V_);
    expect("embedding_bwd (f32 accumulator)" + s, ddt.get(), dt, 1e-5f, 1e-5f);
  });
}

// Ids and targets are range-checked by the kernels (Caps::device_index_checks), reported at the
// next synchronisation, and the slot is clean again afterwards.
void test_index_checks() {
  auto reported = [](const std::string& name, const std::function<void()>& launch, const char* want) {
    run(name, [&] {
      launch();
      std::string got = "nothing";
      try {
        cuda::synchronize();
      } catch (const Error& e) {
        got = e.what();
      }
      const bool ok = got.find(want) != std::string::npos;
      std::printf("%-4s %-52s%s%s\n", ok ? "ok" : "FAIL", name.c_str(), ok ? "" : "  got: ", ok ? "" : got.c_str());
      (ok ? g_pass : g_fail)++;
      cuda::synchronize();  // clean: no second report
    });
  };
  std::vector<int32_t> ids{0, 3, 9, 1}, tg{0, -1, 5};
  D did(ids), dtg(tg), tab(V(4 * 8), DType::F32), y(V(4 * 8), DType::F32), gt(V(4 * 8), DType::F32);
  D lg(V(3 * 5), DType::F32), loss(V(3), DType::F32);
  reported("embedding: a bad id is reported at the next sync", [&] { C().embedding_fwd(did.b(), tab.b(), y.b(), 4, 8, 4); },
           "embedding: ids[2] = 9 is outside [0, 4)");
  reported("embedding_bwd: a bad id is reported at the next sync",
           [&] { C().embedding_bwd(did.b(), y.b(), gt.b(), 4, 8, 4); }, "embeddingBackward: ids[2] = 9 is outside [0, 4)");
  reported("xent: a bad target is reported at the next sync", [&] { C().xent_fwd(lg.b(), dtg.b(), loss.b(), 3, 5); },
           "crossEntropy: targets[2] = 5 is not below the class count 5");
}

void test_adamw() {
  for (bool bc : {true, false}) {
    const std::string name = std::string("adamw bias_correction=") + (bc ? "1" : "0");
    run(name, [&] {
      const int64_t n = 70001;
      V p = rnd(n), g = rnd(n), m = rnd(n, -0.1f, 0.1f), v = rnd(n, 0, 0.01f), mask(n);
      for (int64_t i = 0; i < n; ++i) mask[i] = i % 3 ? 1.0f : 0.0f;
      D dp(p, DType::F32), dg(g, DType::F32), dm(m, DType::F32), dv(v, DType::F32), dmask(mask, DType::F32);
      AdamWDesc h;
      h.param = hb(p), h.grad = hb(g), h.m = hb(m), h.v = hb(v), h.decay_mask = hb(mask);
      h.n = n, h.lr = 1e-3f, h.weight_decay = 0.01f, h.step = 7, h.bias_correction = bc;
      AdamWDesc c = h;
      c.param = dp.b(), c.grad = dg.b(), c.m = dm.b(), c.v = dv.b(), c.decay_mask = dmask.b();
      R().adamw(h);
      C().adamw(c);
      expect(name + " param", dp.get(), p, 1e-7f, 1e-6f);
      expect(name + " m", dm.get(), m, 1e-8f, 1e-6f);
      expect(name + " v", dv.get(), v, 1e-9f, 1e-6f);
    });
  }
}

// One GEMM case on the gemm op or on the fallback (with this tile of its aligned kernel); A/B
// values rounded for the dtype. `aligned`: leading dimensions and batch strides of A and B
// multiples of 8 elements (16-byte rows in bf16, the fallback's vector path), else odd ones (its
// element-wise paths).
using cuda::ops::GemmTile;
void gemm_case(DType t, DType tc, bool ta, bool tb, int64_t M, int64_t N, int64_t K, int64_t batch, float alpha,
               float beta, bool bias, bool gelu, bool fallback, GemmTile tile = GemmTile::Auto, bool aligned = false) {
  static const char* const tiles[] = {"", " tile 64x64", " tile 128x64"};
  char name[240];
  std::snprintf(name, sizeof name, "gemm %s%s%s %s->%s %c%c M%lld N%lld K%lld b%lld a%.1f b%.1f%s%s",
                fallback ? "fallback" : "default", aligned ? " aligned" : "", tiles[static_cast<int>(tile)],
                tn(t), tn(tc), ta ? 'T' : 'N', tb ? 'T' : 'N', (long long)M, (long long)N, (long long)K, (long long)batch, alpha,
                beta, bias ? " bias" : "", gelu ? " gelu+pre" : "");
  run(name, [&] {
    const int64_t lda = (ta ? M : K) + (aligned ? 16 - (ta ? M : K) % 8 : 3);
    const int64_t ldb = (tb ? K : N) + (aligned ? 8 - (tb ? K : N) % 8 : 5), ldc = N + 2;
    const int64_t sA = (ta ? K : M) * lda + (aligned ? 8 : 7), sB = (tb ? N : K) * ldb + (aligned ? 24 : 1);
    const int64_t sC = M * ldc + 4;
    V A = round_to(rnd(batch * sA), t), B = round_to(rnd(batch * sB), t), Cm = round_to(rnd(batch * sC), tc);
    V bv = rnd(N), pre(batch * sC, 0.0f);
    GemmDesc h;
    h.transA = ta, h.transB = tb, h.M = M, h.N = N, h.K = K, h.batch = batch, h.alpha = alpha, h.beta = beta;
    h.lda = lda, h.ldb = ldb, h.ldc = ldc, h.strideA = sA, h.strideB = sB, h.strideC = sC;
    h.epilogue = gelu ? Epilogue::Gelu : Epilogue::None;
    D dA(A, t), dB(B, t), dC(Cm, tc), dbias(bv, DType::F32), dpre(pre, DType::F32);
    GemmDesc c = h;
    h.A = hb(A), h.B = hb(B), h.C = hb(Cm);
    if (bias) h.bias = hb(bv);
    if (gelu) h.pre = hb(pre);
    c.A = dA.b(), c.B = dB.b(), c.C = dC.b();
    if (bias) c.bias = dbias.b();
    if (gelu) c.pre = dpre.b();
    R().gemm(h);
    if (fallback) cuda::ops::gemm_fallback(c, tile);
    else C().gemm(c);
    const float at = tc == DType::BF16 ? 2e-2f : (t == DType::F32 ? 1e-4f : 2e-3f);
    const float rt = tc == DType::BF16 ? 1e-2f : (t == DType::F32 ? 1e-4f : 2e-3f);
    expect(name, dC.get(), Cm, at * std::sqrt(static_cast<float>(K) + 1), rt);
    if (gelu) expect(std::string(name) + " pre", dpre.get(), pre, 1e-4f * std::sqrt(static_cast<float>(K) + 1) * 20, 2e-3f);
  });
}

void test_gemm() {
  for (bool fb : {false, true})
    for (DType t : {DType::F32, DType::BF16})
      for (DType tc : {DType::F32, DType::BF16})
        for (int tr = 0; tr < 4; ++tr) {
          gemm_case(t, tc, tr & 1, tr & 2, 37, 45, 29, 1, 1.0f, 0.0f, false, false, fb);
          gemm_case(t, tc, tr & 1, tr & 2, 130, 70, 200, 3, 1.5f, 0.5f, true, tr == 3, fb);
        }
  // The fallback's vector path, every tile: edges in M, N and K (K % 8 != 0 gives partial
  // vectors), several K steps, batches, every transpose.
  for (GemmTile tile : {GemmTile::T64x64, GemmTile::T128x64})
    for (DType tc : {DType::F32, DType::BF16})
      for (int tr = 0; tr < 4; ++tr) {
        gemm_case(DType::BF16, tc, tr & 1, tr & 2, 150, 200, 75, 2, 1.5f, 0.5f, true, tr == 1, true, tile, true);
        gemm_case(DType::BF16, tc, tr & 1, tr & 2, 64, 128, 96, 1, 1.0f, 0.0f, false, false, true, tile, true);
      }
  gemm_case(DType::BF16, DType::F32, false, true, 512, 768, 768, 1, 1.0f, 0.0f, true, true, false, GemmTile::Auto, true);
  gemm_case(DType::BF16, DType::F32, false, true, 512, 768, 768, 1, 1.0f, 0.0f, true, true, true, GemmTile::Auto, true);
  gemm_case(DType::BF16, DType::F32, false, true, 512, 768, 768, 1, 1.0f, 0.0f, true, true, true);
  gemm_case(DType::BF16, DType::BF16, false, false, 64, 64, 0, 2, 1.0f, 0.5f, true, false, true, GemmTile::T128x64, true);  // K = 0
  gemm_case(DType::F32, DType::F32, false, false, 64, 64, 0, 2, 1.0f, 0.5f, true, false, false);  // K = 0
}

void test_attention(DType t) {
  struct Case {
    int64_t B, T, H, D;
    float p;
    bool mask;
  };
  for (const Case& k : {Case{2, 45, 2, 64, 0.0f, true}, Case{2, 45, 2, 64, 0.1f, true}, Case{1, 70, 3, 40, 0.0f, false},
                        Case{2, 33, 1, 128, 0.2f, true}, Case{1, 128, 12, 64, 0.0f, true}}) {
    char name[160];
    std::snprintf(name, sizeof name, "attention %s B%lld T%lld H%lld D%lld p%.1f%s", tn(t), (long long)k.B, (long long)k.T,
                  (long long)k.H, (long long)k.D, k.p, k.mask ? " mask" : "");
    run(name, [&] {
      const int64_t nq = k.B * k.T * 3 * k.H * k.D, no = k.B * k.T * k.H * k.D, nl = k.B * k.H * k.T;
      V qkv = round_to(rnd(nq, -2, 2), t), out(no), lse(nl), dout = round_to(rnd(no), t), dqkv(nq);
      std::vector<int32_t> mask(k.B * k.T, 1);
      if (k.mask) {
        for (int64_t j = k.T - 7; j < k.T; ++j) mask[j] = 0;               // batch 0: padded tail
        if (k.B > 1)
          for (int64_t j = 0; j < k.T; ++j) mask[k.T + j] = 0;             // batch 1: no real key at all
      }
      AttnDesc h;
      h.B = k.B, h.T = k.T, h.H = k.H, h.D = k.D, h.scale = 1.0f / std::sqrt(static_cast<float>(k.D));
      h.dropout_p = k.p, h.seed = 77, h.offset = 5;
      AttnDesc c = h;
      h.qkv = hb(qkv), h.out = hb(out), h.lse = hb(lse), h.dout = hb(dout), h.dqkv = hb(dqkv);
      if (k.mask) h.mask = Buf{mask.data(), DType::I32};
      D dq(qkv, t), dout_(V(no), t), dl(V(nl), DType::F32), dgo(dout, t), dg(V(nq), t), dm(mask);
      c.qkv = dq.b(), c.out = dout_.b(), c.lse = dl.b(), c.dout = dgo.b(), c.dqkv = dg.b();
      if (k.mask) c.mask = dm.b();
      R().attention_fwd(h);
      C().attention_fwd(c);
      expect(std::string(name) + " out", dout_.get(), out, tol(t, 1e-4f), tol(t, 1e-3f));
      expect(std::string(name) + " lse", dl.get(), lse, 1e-4f, 1e-5f);
      // Backward from the GPU's own forward (its out/lse), as training does.
      V gout = dout_.get(), glse = dl.get();
      h.out = hb(gout), h.lse = hb(glse);
      R().attention_bwd(h);
      C().attention_bwd(c);
      expect(std::string(name) + " dqkv", dg.get(), dqkv, tol(t, 2e-4f) * 3, tol(t, 2e-3f) * 3);
    });
  }
  run("attention D=129 rejected", [&] {
    AttnDesc c;
    c.B = 1, c.T = 4, c.H = 1, c.D = 129;
    try {
      C().attention_fwd(c);
      expect("attention D=129 rejected", V{1}, V{0}, 0, 0);
    } catch (const Error&) {
      expect("attention D=129 rejected", V{0}, V{0}, 0, 0);
    }
  });
}

void test_topk(DType t) {
  struct Case {
    int64_t Q, P, D, k, block;
  };
  for (const Case& c : {Case{7, 5000, 32, 17, 0}, Case{5, 3000, 16, 1024, 0}, Case{9, 20000, 48, 64, 1500},
                        Case{3, 100, 8, 100, 7}}) {
    char name[160];
    std::snprintf(name, sizeof name, "topk %s Q%lld P%lld D%lld k%lld block%lld", tn(t), (long long)c.Q, (long long)c.P,
                  (long long)c.D, (long long)c.k, (long long)c.block);
    run(name, [&] {
      // Small integers: exact dot products, many exact ties (ties must go to the lower index).
      V q = ints(c.Q * c.D, -2, 2), p = ints(c.P * c.D, -2, 2), ws(c.Q * c.k);
      std::vector<int32_t> wi(c.Q * c.k);
      TopkDesc h;
      h.Q = c.Q, h.P = c.P, h.D = c.D, h.k = c.k, h.block = c.block;
      TopkDesc g = h;
      h.queries = hb(q), h.pool = hb(p), h.scores = hb(ws), h.index = ib(wi);
      D dq(q, t), dp(p, t), ds(V(c.Q * c.k), DType::F32), di(std::vector<int32_t>(c.Q * c.k));
      g.queries = dq.b(), g.pool = dp.b(), g.scores = ds.b(), g.index = di.b();
      R().topk(h);
      C().topk(g);
      expect(std::string(name) + " scores", ds.get(), ws, 0, 0);
      expect_i(std::string(name) + " index", di.geti(), wi);
    });
  }
}

}  // namespace

int main() {
  if (cuda::device_count() == 0) {
    std::printf("skipped: no CUDA device (%s)\n", cuda::device_info().c_str());
    return 0;
  }
  std::printf("device: %s\ngemm engine: %s\n", cuda::device_info().c_str(), cuda::gemm_engine().c_str());
  for (DType t : {DType::F32, DType::BF16}) {
    test_elementwise(t);
    test_rows(t);
    test_attention(t);
    test_topk(t);
  }
  test_adamw();
  test_gemm();
  test_index_checks();
  run("synchronize", [] { cuda::synchronize(); });
  run("the CUDA table is complete", [] { require_complete(*cuda::backend()); });
  for (int i = 0; i < kOpCount; ++i) {  // coverage: every op of the list ran here at least once
    std::printf("%-4s coverage: %s\n", g_covered[i] ? "ok" : "FAIL", kOps[i].name);
    (g_covered[i] ? g_pass : g_fail)++;
  }
  std::printf("%d passed, %d failed\n", g_pass, g_fail);
  return g_fail ? 1 : 0;
}
