// The reference backend: plain loops that read like the math. It is the spec every other
// backend is tested against, so clarity beats speed here.
#include <algorithm>
#include <cmath>
#include <limits>
#include <vector>

#include "../core/philox.h"
#include "common.h"

namespace biofeg {
namespace {
using host::F;
using host::Fopt;

void gemm(const GemmDesc& g) {
  const float *A = F(g.A, "gemm"), *B = F(g.B, "gemm"), *bias = Fopt(g.bias, "gemm");
  float *C = F(g.C, "gemm"), *pre = Fopt(g.pre, "gemm");
  for (int64_t b = 0; b < g.batch; ++b)
    for (int64_t i = 0; i < g.M; ++i)
      for (int64_t j = 0; j < g.N; ++j) {
        double acc = 0;
        for (int64_t k = 0; k < g.K; ++k) {
          const float a = g.transA ? A[b * g.strideA + k * g.lda + i] : A[b * g.strideA + i * g.lda + k];
          const float w = g.transB ? B[b * g.strideB + j * g.ldb + k] : B[b * g.strideB + k * g.ldb + j];
          acc += static_cast<double>(a) * w;
        }
        float* c = &C[b * g.strideC + i * g.ldc + j];
        float v = g.alpha * static_cast<float>(acc) + (g.beta != 0.0f ? g.beta * *c : 0.0f);
        if (bias) v += bias[j];
        if (pre) pre[b * g.strideC + i * g.ldc + j] = v;
        *c = g.epilogue == Epilogue::Gelu ? host::gelu(v) : v;
      }
}

void bias_grad(Buf dy, Buf db, int64_t N, int64_t C) {
  const float* d = F(dy, "bias_grad");
  float* o = F(db, "bias_grad");
  for (int64_t c = 0; c < C; ++c) {
    double s = 0;
    for (int64_t n = 0; n < N; ++n) s += d[n * C + c];
    o[c] += static_cast<float>(s);
  }
}

void fill(Buf y, int64_t n, float v) {
  if (y.t == DType::I32) std::fill_n(y.i32(), n, static_cast<int32_t>(v));
  else std::fill_n(F(y, "fill"), n, v);
}
void cast(Buf x, Buf y, int64_t n) {
  BIOFEG_CHECK(x.t == y.t && x.t == DType::F32, "cast: the CPU backends hold f32 only");
  std::copy_n(x.f32(), n, y.f32());
}
void add(Buf a, Buf b, Buf y, int64_t n) {
  const float *pa = F(a, "add"), *pb = F(b, "add");
  float* py = F(y, "add");
  for (int64_t i = 0; i < n; ++i) py[i] = pa[i] + pb[i];
}
void axpy(float alpha, Buf x, Buf y, int64_t n) {
  const float* px = F(x, "axpy");
  float* py = F(y, "axpy");
  for (int64_t i = 0; i < n; ++i) py[i] += alpha * px[i];
}
void scale(Buf x, Buf y, int64_t n, float s) {
  const float* px = F(x, "scale");
  float* py = F(y, "scale");
  for (int64_t i = 0; i < n; ++i) py[i] = s * px[i];
}
void gelu_fwd(Buf x, Buf y, int64_t n) {
  const float* px = F(x, "gelu");
  float* py = F(y, "gelu");
  for (int64_t i = 0; i < n; ++i) py[i] = host::gelu(px[i]);
}
void gelu_bwd(Buf x, Buf dy, Buf dx, int64_t n) {
  const float *px = F(x, "gelu_bwd"), *pd = F(dy, "gelu_bwd");
  float* po = F(dx, "gelu_bwd");
  for (int64_t i = 0; i < n; ++i) po[i] = pd[i] * host::gelu_grad(px[i]);
}
void relu_fwd(Buf x, Buf y, int64_t n) {
  const float* px = F(x, "relu");
  float* py = F(y, "relu");
  for (int64_t i = 0; i < n; ++i) py[i] = px[i] > 0 ? px[i] : 0.0f;
}
void relu_bwd(Buf x, Buf dy, Buf dx, int64_t n) {
  const float *px = F(x, "relu_bwd"), *pd = F(dy, "relu_bwd");
  float* po = F(dx, "relu_bwd");
  for (int64_t i = 0; i < n; ++i) po[i] = px[i] > 0 ? pd[i] : 0.0f;
}
void leaky_relu_fwd(Buf x, Buf y, int64_t n, float s) {
  const float* px = F(x, "leaky_relu");
  float* py = F(y, "leaky_relu");
  for (int64_t i = 0; i < n; ++i) py[i] = px[i] > 0 ? px[i] : s * px[i];
}
void leaky_relu_bwd(Buf x, Buf dy, Buf dx, int64_t n, float s) {
  const float *px = F(x, "leaky_relu_bwd"), *pd = F(dy, "leaky_relu_bwd");
  float* po = F(dx, "leaky_relu_bwd");
  for (int64_t i = 0; i < n; ++i) po[i] = px[i] > 0 ? pd[i] : s * pd[i];
}
void tanh_fwd(Buf x, Buf y, int64_t n) {
  const float* px = F(x, "tanh");
  float* py = F(y, "tanh");
  for (int64_t i = 0; i < n; ++i) py[i] = std::tanh(px[i]);
}
void tanh_bwd(Buf y, Buf dy, Buf dx, int64_t n) {
  const float *py = F(y, "tanh_bwd"), *pd = F(dy, "tanh_bwd");
  float* po = F(dx, "tanh_bwd");
  for (int64_t i = 0; i < n; ++i) po[i] = pd[i] * (1.0f - py[i] * py[i]);
}
void dropout_fwd(Buf x, Buf y, int64_t n, float p, uint64_t seed, uint64_t off) {
  const float* px = F(x, "dropout");
  float* py = F(y, "dropout");
  const float s = p < 1.0f ? 1.0f / (1.0f - p) : 0.0f;
  for (int64_t i = 0; i < n; ++i) py[i] = dropout_keep(seed, off + i, p) ? px[i] * s : 0.0f;
}
void dropout_bwd(Buf dy, Buf dx, int64_t n, float p, uint64_t seed, uint64_t off) {
  dropout_fwd(dy, dx, n, p, seed, off);  // the same mask and scale
}

void layernorm_fwd(Buf x, Buf w, Buf b, Buf y, float* mean, float* rstd, int64_t N, int64_t C, float eps) {
  const float *px = F(x, "layernorm"), *pw = F(w, "layernorm"), *pb = F(b, "layernorm");
  float* py = F(y, "layernorm");
  for (int64_t n = 0; n < N; ++n) {
    const float* r = px + n * C;
    double m = 0, v = 0;
    for (int64_t c = 0; c < C; ++c) m += r[c];
    m /= C;
    for (int64_t c = 0; c < C; ++c) v += (r[c] - m) * (r[c] - m);
    v /= C;
    const float rs = static_cast<float>(1.0 / std::sqrt(v + eps));
    for (int64_t c = 0; c < C; ++c) py[n * C + c] = (r[c] - static_cast<float>(m)) * rs * pw[c] + pb[c];
    mean[n] = static_cast<float>(m);
    rstd[n] = rs;
  }
}
void layernorm_bwd(Buf dy, Buf x, Buf w, const float* mean, const float* rstd, Buf dx, Buf dw, Buf db,
                   int64_t N, int64_t C) {
  const float *pd = F(dy, "layernorm_bwd"), *px = F(x, "layernorm_bwd"), *pw = F(w, "layernorm_bwd");
  float *pdx = F(dx, "layernorm_bwd"), *pdw = F(dw, "layernorm_bwd"), *pdb = F(db, "layernorm_bwd");
  for (int64_t n = 0; n < N; ++n) {
    const float *g = pd + n * C, *r = px + n * C;
    double s1 = 0, s2 = 0;  // mean of dxhat and of dxhat * xhat
    for (int64_t c = 0; c < C; ++c) {
      const float xh = (r[c] - mean[n]) * rstd[n];
      s1 += g[c] * pw[c];
      s2 += g[c] * pw[c] * xh;
      pdw[c] += g[c] * xh;
      pdb[c] += g[c];
    }
    s1 /= C;
    s2 /= C;
    for (int64_t c = 0; c < C; ++c) {
      const float xh = (r[c] - mean[n]) * rstd[n];
      pdx[n * C + c] = rstd[n] * (g[c] * pw[c] - static_cast<float>(s1) - xh * static_cast<float>(s2));
    }
  }
}

void embedding_fwd(const int32_t* ids, Buf table, Buf y, int64_t N, int64_t C) {
  const float* t = F(table, "embedding");
  float* py = F(y, "embedding");
  for (int64_t n = 0; n < N; ++n) std::copy_n(t + static_cast<int64_t>(ids[n]) * C, C, py + n * C);
}
void embedding_bwd(const int32_t* ids, Buf dy, Buf dtable, int64_t N, int64_t C) {
  const float* pd = F(dy, "embedding_bwd");
  float* t = F(dtable, "embedding_bwd");
  for (int64_t n = 0; n < N; ++n)
    for (int64_t c = 0; c < C; ++c) t[static_cast<int64_t>(ids[n]) * C + c] += pd[n * C + c];
}
void concat_fwd(Buf a, Buf b, Buf y, int64_t N, int64_t Ca, int64_t Cb) {
  const float *pa = F(a, "concat"), *pb = F(b, "concat");
  float* py = F(y, "concat");
  for (int64_t n = 0; n < N; ++n) {
    std::copy_n(pa + n * Ca, Ca, py + n * (Ca + Cb));
    std::copy_n(pb + n * Cb, Cb, py + n * (Ca + Cb) + Ca);
  }
}
void concat_bwd(Buf dy, Buf da, Buf db, int64_t N, int64_t Ca, int64_t Cb) {
  const float* py = F(dy, "concat_bwd");
  float *pa = F(da, "concat_bwd"), *pb = F(db, "concat_bwd");
  for (int64_t n = 0; n < N; ++n) {
    std::copy_n(py + n * (Ca + Cb), Ca, pa + n * Ca);
    std::copy_n(py + n * (Ca + Cb) + Ca, Cb, pb + n * Cb);
  }
}

double row_lse(const float* r, int64_t C) {
  float mx = -std::numeric_limits<float>::infinity();
  for (int64_t c = 0; c < C; ++c) mx = std::max(mx, r[c]);
  double s = 0;
  for (int64_t c = 0; c < C; ++c) s += std::exp(static_cast<double>(r[c]) - mx);
  return mx + std::log(s);
}
void xent_fwd(Buf logits, const int32_t* t, float* loss, int64_t N, int64_t C) {
  const float* x = F(logits, "xent");
  for (int64_t n = 0; n < N; ++n)
    loss[n] = t[n] < 0 ? 0.0f : static_cast<float>(row_lse(x + n * C, C) - x[n * C + t[n]]);
}
void xent_bwd(Buf logits, const int32_t* t, const float* dloss, Buf dlogits, int64_t N, int64_t C) {
  const float* x = F(logits, "xent_bwd");
  float* d = F(dlogits, "xent_bwd");
  for (int64_t n = 0; n < N; ++n) {
    const double lse = row_lse(x + n * C, C);
    for (int64_t c = 0; c < C; ++c) {
      const double p = std::exp(x[n * C + c] - lse);
      d[n * C + c] = t[n] < 0 ? 0.0f : static_cast<float>(dloss[n] * (p - (c == t[n] ? 1.0 : 0.0)));
    }
  }
}
void mse_fwd(Buf a, Buf b, float* out, int64_t n) {
  const float *pa = F(a, "mse"), *pb = F(b, "mse");
  double s = 0;
  for (int64_t i = 0; i < n; ++i) s += (pa[i] - pb[i]) * static_cast<double>(pa[i] - pb[i]);
  out[0] = n ? static_cast<float>(s / n) : 0.0f;
}
void mse_bwd(Buf a, Buf b, float dout, Buf da, int64_t n) {
  const float *pa = F(a, "mse_bwd"), *pb = F(b, "mse_bwd");
  float* pd = F(da, "mse_bwd");
  for (int64_t i = 0; i < n; ++i) pd[i] = dout * 2.0f * (pa[i] - pb[i]) / static_cast<float>(n);
}

// Attention, one (b, h, query i) at a time; probabilities recomputed in backward from lse.
void attention_fwd(const AttnDesc& d) {
  const float* qkv = F(d.qkv, "attention");
  float *out = F(d.out, "attention"), *lse = F(d.lse, "attention");
  const int32_t* mask = d.mask.p ? d.mask.i32() : nullptr;
  const int64_t T = d.T, H = d.H, D = d.D, row = 3 * H * D;
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
}

void attention_bwd(const AttnDesc& d) {
  const float *qkv = F(d.qkv, "attention_bwd"), *out = F(d.out, "attention_bwd");
  const float *dout = F(d.dout, "attention_bwd"), *lse = F(d.lse, "attention_bwd");
  float* dqkv = F(d.dqkv, "attention_bwd");
  const int32_t* mask = d.mask.p ? d.mask.i32() : nullptr;
  const int64_t T = d.T, H = d.H, D = d.D, row = 3 * H * D;
  const float keep_scale = d.dropout_p > 0 ? 1.0f / (1.0f - d.dropout_p) : 1.0f;
  std::fill_n(dqkv, d.B * T * row, 0.0f);
  for (int64_t b = 0; b < d.B; ++b)
    for (int64_t h = 0; h < H; ++h)
      for (int64_t i = 0; i < T; ++i) {
        const float l = lse[(b * H + h) * T + i];
        if (std::isinf(l)) continue;
        const float* q = qkv + (b * T + i) * row + h * D;
        const float* go = dout + ((b * T + i) * H + h) * D;
        const float* o = out + ((b * T + i) * H + h) * D;
        double Di = 0;  // rowsum(dO * O) = sum_j p'_j dp'_j
        for (int64_t e = 0; e < D; ++e) Di += static_cast<double>(go[e]) * o[e];
        float* dq = dqkv + (b * T + i) * row + h * D;
        const uint64_t base = d.offset + static_cast<uint64_t>(((b * H + h) * T + i) * T);
        for (int64_t j = 0; j < T; ++j) {
          if (mask && !mask[b * T + j]) continue;
          const float* k = qkv + (b * T + j) * row + H * D + h * D;
          const float* v = qkv + (b * T + j) * row + 2 * H * D + h * D;
          double dot = 0, dpd = 0;
          for (int64_t e = 0; e < D; ++e) {
            dot += static_cast<double>(q[e]) * k[e];
            dpd += static_cast<double>(go[e]) * v[e];
          }
          const double p = std::exp(dot * d.scale - l);
          double pd = p, dp = dpd;  // p' and dp = dL/dp
          if (d.dropout_p > 0) {
            const bool keep = dropout_keep(d.seed, base + j, d.dropout_p);
            pd = keep ? p * keep_scale : 0.0;
            dp = keep ? dpd * keep_scale : 0.0;
          }
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
}

void adamw(const AdamWDesc& d) { host::adamw_range(d, 0, d.n); }

void sumsq(Buf x, int64_t n, float* out) {
  const float* p = F(x, "sumsq");
  double s = 0;
  for (int64_t i = 0; i < n; ++i) s += static_cast<double>(p[i]) * p[i];
  out[0] += static_cast<float>(s);
}

void topk(const TopkDesc& d) {
  const float *q = F(d.queries, "topk"), *p = F(d.pool, "topk");
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
      embedding_fwd, embedding_bwd, concat_fwd, concat_bwd, xent_fwd, xent_bwd, mse_fwd, mse_bwd, attention_fwd,
      attention_bwd, adamw, sumsq, topk};
  return b;
}

}  // namespace biofeg
