// The reference backend: plain loops that read like the math. It is the spec every other
// backend is tested against, so clarity beats speed here. Storage f32 or bf16 with the CUDA
// backend's rules (ref_dtype.h): inputs widen to f32, arithmetic in f32/double, outputs rounded
// once on store; bf16 runs on the host only here, to test mixed-precision code without a GPU.
#include <algorithm>
#include <cmath>
#include <limits>
#include <vector>

#include "../core/philox.h"
#include "common.h"
#include "ref_dtype.h"

namespace biofeg {
namespace {
using ref::In;
using ref::Out;
using ref::same_float;

void gemm(const GemmDesc& g) {
  const char* op = "gemm";
  if (g.M <= 0 || g.N <= 0 || g.batch <= 0) return;
  BIOFEG_CHECK(g.A.t == g.B.t, op, ": A and B must share a dtype, got ", dtype_name(g.A.t), " and ", dtype_name(g.B.t));
  BIOFEG_CHECK(ref::is_float(g.A.t) && ref::is_float(g.C.t) && g.C.p, op, ": expected f32 or bf16 operands");
  BIOFEG_CHECK(!g.bias.p || ref::is_float(g.bias.t), op, ": bias must be f32 or bf16");
  BIOFEG_CHECK(!g.pre.p || ref::is_float(g.pre.t), op, ": pre must be f32 or bf16");
  const int64_t nC = ref::span(g.batch, g.strideC, g.M, g.N, g.ldc);
  const In A(g.A, ref::span(g.batch, g.strideA, g.transA ? g.K : g.M, g.transA ? g.M : g.K, g.lda));
  const In B(g.B, ref::span(g.batch, g.strideB, g.transB ? g.N : g.K, g.transB ? g.K : g.N, g.ldb));
  const In bias(g.bias, g.N);
  Out C(g.C, nC, true), pre(g.pre, nC, true);  // kept: elements between rows (ld > N) are not ours
  for (int64_t b = 0; b < g.batch; ++b)
    for (int64_t i = 0; i < g.M; ++i)
      for (int64_t j = 0; j < g.N; ++j) {
        double acc = 0;
        for (int64_t k = 0; k < g.K; ++k) {
          const float a = g.transA ? A.p[b * g.strideA + k * g.lda + i] : A.p[b * g.strideA + i * g.lda + k];
          const float w = g.transB ? B.p[b * g.strideB + j * g.ldb + k] : B.p[b * g.strideB + k * g.ldb + j];
          acc += static_cast<double>(a) * w;
        }
        float* c = &C.p[b * g.strideC + i * g.ldc + j];
        float v = g.alpha * static_cast<float>(acc) + (g.beta != 0.0f ? g.beta * *c : 0.0f);
        if (bias.p) v += bias.p[j];
        if (pre.p) pre.p[b * g.strideC + i * g.ldc + j] = v;
        *c = g.epilogue == Epilogue::Gelu ? host::gelu(v) : v;
      }
  C.done();
  pre.done();
}

void bias_grad(Buf dy, Buf db, int64_t N, int64_t C) {
  ref::check_acc("bias_grad", db, same_float("bias_grad", {dy}));
  const In d(dy, N * C);
  Out o(db, C, true);
  for (int64_t c = 0; c < C; ++c) {
    double s = 0;
    for (int64_t n = 0; n < N; ++n) s += d.p[n * C + c];
    o.p[c] += static_cast<float>(s);
  }
  o.done();
}

void fill(Buf y, int64_t n, float v) {
  if (y.t == DType::I32) {
    std::fill_n(y.i32(), n, static_cast<int32_t>(v));
    return;
  }
  same_float("fill", {y});
  Out o(y, n, false);
  std::fill_n(o.p, n, v);
  o.done();
}
void cast(Buf x, Buf y, int64_t n) {
  BIOFEG_CHECK(ref::is_float(x.t) && ref::is_float(y.t), "cast: between f32 and bf16 only, got ", dtype_name(x.t),
               " -> ", dtype_name(y.t));
  const In px(x, n);
  Out py(y, n, false);
  std::copy_n(px.p, n, py.p);
  py.done();
}

// y[i] = f(a[i], b[i]) over n elements of one float dtype; b may be null (unary ops). y may
// alias a or b.
template <typename Fn>
void map(const char* op, Buf a, Buf b, Buf y, int64_t n, Fn f) {
  if (b.p) same_float(op, {a, b, y});
  else same_float(op, {a, y});
  const In pa(a, n), pb(b, n);
  Out py(y, n, false);
  for (int64_t i = 0; i < n; ++i) py.p[i] = f(pa.p[i], pb.p ? pb.p[i] : 0.0f, i);
  py.done();
}

void add(Buf a, Buf b, Buf y, int64_t n) {
  map("add", a, b, y, n, [](float x, float z, int64_t) { return x + z; });
}
void axpy(float alpha, Buf x, Buf y, int64_t n) {
  map("axpy", x, y, y, n, [alpha](float xi, float yi, int64_t) { return yi + alpha * xi; });
}
void scale(Buf x, Buf y, int64_t n, float s) {
  map("scale", x, {}, y, n, [s](float xi, float, int64_t) { return s * xi; });
}
void gelu_fwd(Buf x, Buf y, int64_t n) {
  map("gelu", x, {}, y, n, [](float xi, float, int64_t) { return host::gelu(xi); });
}
void gelu_bwd(Buf x, Buf dy, Buf dx, int64_t n) {
  map("gelu_bwd", x, dy, dx, n, [](float xi, float d, int64_t) { return d * host::gelu_grad(xi); });
}
void relu_fwd(Buf x, Buf y, int64_t n) {
  map("relu", x, {}, y, n, [](float xi, float, int64_t) { return xi > 0 ? xi : 0.0f; });
}
void relu_bwd(Buf x, Buf dy, Buf dx, int64_t n) {
  map("relu_bwd", x, dy, dx, n, [](float xi, float d, int64_t) { return xi > 0 ? d : 0.0f; });
}
void leaky_relu_fwd(Buf x, Buf y, int64_t n, float s) {
  map("leaky_relu", x, {}, y, n, [s](float xi, float, int64_t) { return xi > 0 ? xi : s * xi; });
}
void leaky_relu_bwd(Buf x, Buf dy, Buf dx, int64_t n, float s) {
  map("leaky_relu_bwd", x, dy, dx, n, [s](float xi, float d, int64_t) { return xi > 0 ? d : s * d; });
}
void tanh_fwd(Buf x, Buf y, int64_t n) {
  map("tanh", x, {}, y, n, [](float xi, float, int64_t) { return std::tanh(xi); });
}
void tanh_bwd(Buf y, Buf dy, Buf dx, int64_t n) {
  map("tanh_bwd", y, dy, dx, n, [](float yi, float d, int64_t) { return d * (1.0f - yi * yi); });
}
void dropout_fwd(Buf x, Buf y, int64_t n, float p, uint64_t seed, uint64_t off) {
  const float s = p < 1.0f ? 1.0f / (1.0f - p) : 0.0f;
  map("dropout", x, {}, y, n,
      [=](float xi, float, int64_t i) { return dropout_keep(seed, off + i, p) ? xi * s : 0.0f; });
}
void dropout_bwd(Buf dy, Buf dx, int64_t n, float p, uint64_t seed, uint64_t off) {
  dropout_fwd(dy, dx, n, p, seed, off);  // the same mask and scale
}

void layernorm_fwd(Buf x, Buf w, Buf b, Buf y, float* mean, float* rstd, int64_t N, int64_t C, float eps) {
  same_float("layernorm", {x, w, b, y});
  const In px(x, N * C), pw(w, C), pb(b, C);
  Out py(y, N * C, false);
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
void layernorm_bwd(Buf dy, Buf x, Buf w, const float* mean, const float* rstd, Buf dx, Buf dw, Buf db,
                   int64_t N, int64_t C) {
  const DType t = same_float("layernorm_bwd", {dy, x, w, dx});
  ref::check_acc("layernorm_bwd", dw, t);
  ref::check_acc("layernorm_bwd", db, t);
  const In pd(dy, N * C), px(x, N * C), pw(w, C);
  Out pdx(dx, N * C, false), pdw(dw, C, true), pdb(db, C, true);
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

// Rows of a table that ids address: max id + 1.
int64_t rows_used(const int32_t* ids, int64_t N) {
  int64_t r = 0;
  for (int64_t n = 0; n < N; ++n) r = std::max<int64_t>(r, static_cast<int64_t>(ids[n]) + 1);
  return r;
}
void embedding_fwd(const int32_t* ids, Buf table, Buf y, int64_t N, int64_t C) {
  same_float("embedding", {table, y});
  const In t(table, rows_used(ids, N) * C);
  Out py(y, N * C, false);
  for (int64_t n = 0; n < N; ++n) std::copy_n(t.p + static_cast<int64_t>(ids[n]) * C, C, py.p + n * C);
  py.done();
}
void embedding_bwd(const int32_t* ids, Buf dy, Buf dtable, int64_t N, int64_t C) {
  ref::check_acc("embedding_bwd", dtable, same_float("embedding_bwd", {dy}));
  const In pd(dy, N * C);
  Out t(dtable, rows_used(ids, N) * C, true);
  for (int64_t n = 0; n < N; ++n)
    for (int64_t c = 0; c < C; ++c) t.p[static_cast<int64_t>(ids[n]) * C + c] += pd.p[n * C + c];
  t.done();
}
void concat_fwd(Buf a, Buf b, Buf y, int64_t N, int64_t Ca, int64_t Cb) {
  same_float("concat", {a, b, y});
  const In pa(a, N * Ca), pb(b, N * Cb);
  Out py(y, N * (Ca + Cb), false);
  for (int64_t n = 0; n < N; ++n) {
    std::copy_n(pa.p + n * Ca, Ca, py.p + n * (Ca + Cb));
    std::copy_n(pb.p + n * Cb, Cb, py.p + n * (Ca + Cb) + Ca);
  }
  py.done();
}
void concat_bwd(Buf dy, Buf da, Buf db, int64_t N, int64_t Ca, int64_t Cb) {
  same_float("concat_bwd", {dy, da, db});
  const In py(dy, N * (Ca + Cb));
  Out pa(da, N * Ca, false), pb(db, N * Cb, false);
  for (int64_t n = 0; n < N; ++n) {
    std::copy_n(py.p + n * (Ca + Cb), Ca, pa.p + n * Ca);
    std::copy_n(py.p + n * (Ca + Cb) + Ca, Cb, pb.p + n * Cb);
  }
  pa.done();
  pb.done();
}

double row_lse(const float* r, int64_t C) {
  float mx = -std::numeric_limits<float>::infinity();
  for (int64_t c = 0; c < C; ++c) mx = std::max(mx, r[c]);
  double s = 0;
  for (int64_t c = 0; c < C; ++c) s += std::exp(static_cast<double>(r[c]) - mx);
  return mx + std::log(s);
}
void xent_fwd(Buf logits, const int32_t* t, float* loss, int64_t N, int64_t C) {
  same_float("xent", {logits});
  const In x(logits, N * C);
  for (int64_t n = 0; n < N; ++n)
    loss[n] = t[n] < 0 ? 0.0f : static_cast<float>(row_lse(x.p + n * C, C) - x.p[n * C + t[n]]);
}
void xent_bwd(Buf logits, const int32_t* t, const float* dloss, Buf dlogits, int64_t N, int64_t C) {
  same_float("xent_bwd", {logits, dlogits});
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
void mse_fwd(Buf a, Buf b, float* out, int64_t n) {
  if (n) same_float("mse", {a, b});
  const In pa(a, n), pb(b, n);
  double s = 0;
  for (int64_t i = 0; i < n; ++i) s += (pa.p[i] - pb.p[i]) * static_cast<double>(pa.p[i] - pb.p[i]);
  out[0] = n ? static_cast<float>(s / n) : 0.0f;
}
void mse_bwd(Buf a, Buf b, float dout, Buf da, int64_t n) {
  const float fn = static_cast<float>(n);
  map("mse_bwd", a, b, da, n, [=](float x, float y, int64_t) { return dout * 2.0f * (x - y) / fn; });
}

void row_axpy(const float* a, Buf x, Buf y, int64_t N, int64_t C) {
  same_float("row_axpy", {x, y});
  BIOFEG_CHECK(a || N == 0, "row_axpy: null row factors");
  const In px(x, N * C);
  Out py(y, N * C, true);
  for (int64_t n = 0; n < N; ++n)
    for (int64_t c = 0; c < C; ++c) py.p[n * C + c] += a[n] * px.p[n * C + c];
  py.done();
}
void grad_penalty(Buf g, float lambda, Buf u, float* norms, int64_t N, int64_t C) {
  same_float("grad_penalty", {g, u});
  BIOFEG_CHECK(norms || N == 0, "grad_penalty: null norms");
  const In pg(g, N * C);
  Out pu(u, N * C, false);
  host::grad_penalty_rows(pg.p, lambda, pu.p, norms, 0, N, N, C);
  pu.done();
}

// Attention, one (b, h, query i) at a time; probabilities recomputed in backward from lse.
void attention_fwd(const AttnDesc& d) {
  same_float("attention", {d.qkv, d.out});
  ref::check_f32("attention", d.lse, "lse");
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
  same_float("attention_bwd", {d.qkv, d.out, d.dout, d.dqkv});
  ref::check_f32("attention_bwd", d.lse, "lse");
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

void adamw(const AdamWDesc& d) { host::adamw_range(d, 0, d.n); }

void sumsq(Buf x, int64_t n, float* out) {
  if (n) same_float("sumsq", {x});
  const In px(x, n);
  const float* p = px.p;
  double s = 0;
  for (int64_t i = 0; i < n; ++i) s += static_cast<double>(p[i]) * p[i];
  out[0] += static_cast<float>(s);
}

void topk(const TopkDesc& d) {
  same_float("topk", {d.queries, d.pool});
  const In pq(d.queries, d.Q * d.D), pp(d.pool, d.P * d.D);
  const float *q = pq.p, *p = pp.p;
  std::vector<std::pair<float, int32_t>> s(d.P);
  for (int64_t i = 0; i < d.Q; ++i) {
    for (int64_t j = 0; j < d.P; ++j) {
      double dot = 0;
      for (int64_t e = 0; e < d.D; ++e) dot += static_cast<double>(q[i * d.D + e]) * p[j * d.D + e];
      s[j] = {static_cast<float>(dot), static_cast<int32_t>(j)};
    }
    std::partial_sort(s.begin(), s.begin() + d.k, s.end(), [](const auto& a, const auto& b) {
      return a.first > b.first || (a.first == b.first && a.second < b.second);
    });
    for (int64_t r = 0; r < d.k; ++r) {
      d.scores[i * d.k + r] = s[r].first;
      d.index[i * d.k + r] = s[r].second;
    }
  }
}

}  // namespace

namespace host {
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

void adamw_range(const AdamWDesc& d, int64_t lo, int64_t hi) {
  float step_size = d.lr;
  if (d.bias_correction) {
    const double bc1 = 1.0 - std::pow(static_cast<double>(d.beta1), static_cast<double>(d.step));
    const double bc2 = 1.0 - std::pow(static_cast<double>(d.beta2), static_cast<double>(d.step));
    step_size = static_cast<float>(d.lr * std::sqrt(bc2) / bc1);
  }
  const float decay = d.lr * d.weight_decay;
  for (int64_t i = lo; i < hi; ++i) {
    const float g = d.grad[i];
    const float m = d.beta1 * d.m[i] + (1.0f - d.beta1) * g;
    const float v = d.beta2 * d.v[i] + (1.0f - d.beta2) * g * g;
    d.m[i] = m;
    d.v[i] = v;
    float p = d.param[i] - step_size * m / (std::sqrt(v) + d.eps);
    // Decoupled decay on the updated weight, as HF/pytorch-transformers AdamW (BLINK's optimiser).
    if (decay != 0.0f && (!d.decay_mask || d.decay_mask[i] != 0.0f)) p -= decay * p;
    d.param[i] = p;
  }
}
}  // namespace host

const Backend& ref_backend() {
  static const Backend b = {
      "ref", Device::CPU, gemm, bias_grad, fill, cast, add, axpy, scale, gelu_fwd, gelu_bwd, relu_fwd, relu_bwd,
      leaky_relu_fwd, leaky_relu_bwd, tanh_fwd, tanh_bwd, dropout_fwd, dropout_bwd, layernorm_fwd, layernorm_bwd,
      embedding_fwd, embedding_bwd, concat_fwd, concat_bwd, xent_fwd, xent_bwd, mse_fwd, mse_bwd, row_axpy,
      grad_penalty, attention_fwd, attention_bwd, adamw, sumsq, topk};
  return b;
}

}  // namespace biofeg
