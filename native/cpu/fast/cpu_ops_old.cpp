// The fast CPU backend. Memory-bound ops reuse the reference loops on per-thread ranges
// (the math lives in one place); GEMM, attention, reductions and top-k have their own code.
#include <algorithm>
#include <cmath>
#include <limits>
#include <memory>
#include <mutex>
#include <vector>

#include "../core/philox.h"
#include "../core/threadpool.h"
#include "common.h"
#include "gemm.h"
#include "profile.h"
#include "vec.h"

namespace biofeg {
namespace {
using host::F;

const Backend& R() { return ref_backend(); }
Buf at(Buf b, int64_t i) { return Buf{static_cast<char*>(b.p) + i * static_cast<int64_t>(dtype_size(b.t)), b.t}; }
constexpr int64_t kGrain = 1 << 15;

#define BIOFEG_SPLIT_UNARY(NAME)                                                                      \
  void NAME(Buf x, Buf y, int64_t n) {                                                                \
    parallel_for(n, kGrain, [&](int64_t lo, int64_t hi) { R().NAME(at(x, lo), at(y, lo), hi - lo); }); \
  }
#define BIOFEG_SPLIT_BINARY(NAME)                                                   \
  void NAME(Buf a, Buf b, Buf y, int64_t n) {                                       \
    parallel_for(n, kGrain, [&](int64_t lo, int64_t hi) {                           \
      R().NAME(at(a, lo), at(b, lo), at(y, lo), hi - lo);                           \
    });                                                                             \
  }
BIOFEG_SPLIT_UNARY(relu_fwd)
BIOFEG_SPLIT_UNARY(tanh_fwd)
BIOFEG_SPLIT_UNARY(cast)
BIOFEG_SPLIT_BINARY(add)

// GELU and dropout: AVX2 loops (polynomial erf/exp, 8-lane Philox) when the CPU has them.
void gelu_fwd(Buf x, Buf y, int64_t n) {
  if (!host::vec_avx2())
    return parallel_for(n, kGrain, [&](int64_t lo, int64_t hi) { R().gelu_fwd(at(x, lo), at(y, lo), hi - lo); });
  const float* px = F(x, "gelu");
  float* py = F(y, "gelu");
  parallel_for(n, kGrain, [&](int64_t lo, int64_t hi) { host::gelu_fwd_avx2(px + lo, py + lo, hi - lo); });
}
void gelu_bwd(Buf x, Buf dy, Buf dx, int64_t n) {
  if (!host::vec_avx2())
    return parallel_for(n, kGrain, [&](int64_t lo, int64_t hi) { R().gelu_bwd(at(x, lo), at(dy, lo), at(dx, lo), hi - lo); });
  const float *px = F(x, "gelu_bwd"), *pd = F(dy, "gelu_bwd");
  float* po = F(dx, "gelu_bwd");
  parallel_for(n, kGrain, [&](int64_t lo, int64_t hi) { host::gelu_bwd_avx2(px + lo, pd + lo, po + lo, hi - lo); });
}
BIOFEG_SPLIT_BINARY(relu_bwd)
BIOFEG_SPLIT_BINARY(tanh_bwd)

void fill(Buf y, int64_t n, float v) {
  parallel_for(n, kGrain, [&](int64_t lo, int64_t hi) { R().fill(at(y, lo), hi - lo, v); });
}
void axpy(float a, Buf x, Buf y, int64_t n) {
  parallel_for(n, kGrain, [&](int64_t lo, int64_t hi) { R().axpy(a, at(x, lo), at(y, lo), hi - lo); });
}
void scale(Buf x, Buf y, int64_t n, float s) {
  parallel_for(n, kGrain, [&](int64_t lo, int64_t hi) { R().scale(at(x, lo), at(y, lo), hi - lo, s); });
}
void leaky_relu_fwd(Buf x, Buf y, int64_t n, float s) {
  parallel_for(n, kGrain, [&](int64_t lo, int64_t hi) { R().leaky_relu_fwd(at(x, lo), at(y, lo), hi - lo, s); });
}
void leaky_relu_bwd(Buf x, Buf dy, Buf dx, int64_t n, float s) {
  parallel_for(n, kGrain, [&](int64_t lo, int64_t hi) {
    R().leaky_relu_bwd(at(x, lo), at(dy, lo), at(dx, lo), hi - lo, s);
  });
}
// Dropout masks recorded by a forward and taken back by the matching backward (same seed,
// counter offset, size and p: the mask is a pure function of those, so a hit is exactly what
// Philox would regenerate). Bounded FIFO: a forward never followed by its backward is evicted.
struct MaskKey {
  uint64_t seed, offset;
  int64_t n;
  float p;
  bool operator==(const MaskKey& o) const { return seed == o.seed && offset == o.offset && n == o.n && p == o.p; }
};
class MaskCache {
 public:
  void put(const MaskKey& k, std::shared_ptr<std::vector<uint8_t>> bits) {
    std::lock_guard<std::mutex> lk(mu_);
    bytes_ += bits->size();
    items_.push_back({k, std::move(bits)});
    while (!items_.empty() && (bytes_ > kMaxBytes || items_.size() > kMaxItems)) {
      bytes_ -= items_.front().second->size();
      items_.erase(items_.begin());
    }
  }
  std::shared_ptr<std::vector<uint8_t>> take(const MaskKey& k) {
    std::lock_guard<std::mutex> lk(mu_);
    for (size_t i = items_.size(); i-- > 0;)
      if (items_[i].first == k) {
        auto b = std::move(items_[i].second);
        bytes_ -= b->size();
        items_.erase(items_.begin() + static_cast<std::ptrdiff_t>(i));
        return b;
      }
    return nullptr;
  }

 private:
  static constexpr size_t kMaxBytes = size_t(64) << 20, kMaxItems = 1024;
  std::mutex mu_;
  std::vector<std::pair<MaskKey, std::shared_ptr<std::vector<uint8_t>>>> items_;
  size_t bytes_ = 0;
};
MaskCache& masks() {
  static auto* c = new MaskCache();  // leaked: no teardown order issues at exit
  return *c;
}
constexpr int64_t kMinRecorded = 4096;  // elements: smaller dropout masks are regenerated, not cached
// Chunks of a multiple of 32 elements, so each chunk's mask starts on a byte.
template <typename Fn>
void byte_chunks(int64_t n, Fn fn) {
  if (n <= 0) return;
  const int64_t chunks = std::max<int64_t>(1, std::min<int64_t>(num_threads() * 4, n / (kGrain / 4)));
  const int64_t step = ((n + chunks - 1) / chunks + 31) / 32 * 32;
  run_tasks((n + step - 1) / step, [&](int64_t c) { fn(c * step, std::min(n, c * step + step)); });
}

void dropout_fwd(Buf x, Buf y, int64_t n, float p, uint64_t seed, uint64_t off) {
  if (host::vec_avx2()) {
    const float* px = F(x, "dropout");
    float* py = F(y, "dropout");
    const float s = p < 1.0f ? 1.0f / (1.0f - p) : 0.0f;  // the reference's scale
    // Small draws (e.g. a BERT's per-[CLS]-row dropout) are not recorded: regenerating them in
    // backward is cheap, and hundreds of them per step would crowd the large masks out of the cache.
    auto bits = n >= kMinRecorded ? std::make_shared<std::vector<uint8_t>>(static_cast<size_t>((n + 7) / 8)) : nullptr;
    byte_chunks(n, [&](int64_t lo, int64_t hi) {
      host::dropout_avx2(px + lo, py + lo, hi - lo, p, s, seed, off + static_cast<uint64_t>(lo),
                         bits ? bits->data() + lo / 8 : nullptr);
    });
    if (bits) masks().put({seed, off, n, p}, std::move(bits));
    return;
  }
  parallel_for(n, kGrain / 4, [&](int64_t lo, int64_t hi) {
    R().dropout_fwd(at(x, lo), at(y, lo), hi - lo, p, seed, off + static_cast<uint64_t>(lo));
  });
}
void dropout_bwd(Buf dy, Buf dx, int64_t n, float p, uint64_t seed, uint64_t off) {
  if (host::vec_avx2()) {
    const float* px = F(dy, "dropout_bwd");
    float* py = F(dx, "dropout_bwd");
    const float s = p < 1.0f ? 1.0f / (1.0f - p) : 0.0f;
    if (auto bits = masks().take({seed, off, n, p})) {
      return byte_chunks(n, [&](int64_t lo, int64_t hi) {
        host::dropout_bits_avx2(px + lo, py + lo, hi - lo, s, bits->data() + lo / 8);
      });
    }
    return parallel_for(n, kGrain / 4, [&](int64_t lo, int64_t hi) {
      host::dropout_avx2(px + lo, py + lo, hi - lo, p, s, seed, off + static_cast<uint64_t>(lo));
    });
  }
  dropout_fwd(dy, dx, n, p, seed, off);
}

int64_t row_grain(int64_t C) { return std::max<int64_t>(1, kGrain / std::max<int64_t>(C, 1)); }

void layernorm_fwd(Buf x, Buf w, Buf b, Buf y, float* mean, float* rstd, int64_t N, int64_t C, float eps) {
  if (host::vec_avx2() && C % 8 == 0) {
    const float *px = F(x, "layernorm"), *pw = F(w, "layernorm"), *pb = F(b, "layernorm");
    float* py = F(y, "layernorm");
    return parallel_for(N, row_grain(C), [&](int64_t lo, int64_t hi) {
      host::layernorm_fwd_avx2(px + lo * C, pw, pb, py + lo * C, mean + lo, rstd + lo, hi - lo, C, eps);
    });
  }
  parallel_for(N, row_grain(C), [&](int64_t lo, int64_t hi) {
    R().layernorm_fwd(at(x, lo * C), w, b, at(y, lo * C), mean + lo, rstd + lo, hi - lo, C, eps);
  });
}
// Parameter gradients are summed over rows: each chunk accumulates into its own buffer first.
void layernorm_bwd(Buf dy, Buf x, Buf w, const float* mean, const float* rstd, Buf dx, Buf dw, Buf db,
                   int64_t N, int64_t C) {
  const int64_t chunks = std::min<int64_t>(num_threads(), std::max<int64_t>(1, N / 8));
  std::vector<float> part(static_cast<size_t>(chunks * 2 * C), 0.0f);
  const int64_t step = (N + chunks - 1) / chunks;
  run_tasks(chunks, [&](int64_t c) {
    const int64_t lo = c * step, hi = std::min(N, lo + step);
    if (lo >= hi) return;
    float* pw = part.data() + c * 2 * C;
    if (host::vec_avx2() && C % 8 == 0) {
      host::layernorm_bwd_avx2(F(dy, "layernorm_bwd") + lo * C, F(x, "layernorm_bwd") + lo * C, F(w, "layernorm_bwd"),
                               mean + lo, rstd + lo, F(dx, "layernorm_bwd") + lo * C, pw, pw + C, hi - lo, C);
      return;
    }
    R().layernorm_bwd(at(dy, lo * C), at(x, lo * C), w, mean + lo, rstd + lo, at(dx, lo * C), Buf{pw, DType::F32},
                      Buf{pw + C, DType::F32}, hi - lo, C);
  });
  float *gw = F(dw, "layernorm_bwd"), *gb = F(db, "layernorm_bwd");
  for (int64_t c = 0; c < chunks; ++c)
    for (int64_t j = 0; j < C; ++j) {
      gw[j] += part[c * 2 * C + j];
      gb[j] += part[c * 2 * C + C + j];
    }
}

void bias_grad(Buf dy, Buf db, int64_t N, int64_t C) {
  const float* d = F(dy, "bias_grad");
  float* o = F(db, "bias_grad");
  if (host::vec_avx2())
    return parallel_for(C, 64, [&](int64_t lo, int64_t hi) { host::colsum_avx2(d + lo, N, C, hi - lo, o + lo); });
  parallel_for(C, 64, [&](int64_t lo, int64_t hi) {
    std::vector<double> s(hi - lo, 0.0);
    for (int64_t n = 0; n < N; ++n)
      for (int64_t c = lo; c < hi; ++c) s[c - lo] += d[n * C + c];
    for (int64_t c = lo; c < hi; ++c) o[c] += static_cast<float>(s[c - lo]);
  });
}

void embedding_fwd(const int32_t* ids, Buf table, Buf y, int64_t N, int64_t C) {
  parallel_for(N, row_grain(C), [&](int64_t lo, int64_t hi) { R().embedding_fwd(ids + lo, table, at(y, lo * C), hi - lo, C); });
}
// Scatter-add without atomics: each thread owns a range of feature columns.
void embedding_bwd(const int32_t* ids, Buf dy, Buf dtable, int64_t N, int64_t C) {
  const float* d = F(dy, "embedding_bwd");
  float* t = F(dtable, "embedding_bwd");
  parallel_for(C, 64, [&](int64_t lo, int64_t hi) {
    for (int64_t n = 0; n < N; ++n) {
      float* row = t + static_cast<int64_t>(ids[n]) * C;
      for (int64_t c = lo; c < hi; ++c) row[c] += d[n * C + c];
    }
  });
}
void concat_fwd(Buf a, Buf b, Buf y, int64_t N, int64_t Ca, int64_t Cb) {
  parallel_for(N, row_grain(Ca + Cb), [&](int64_t lo, int64_t hi) {
    R().concat_fwd(at(a, lo * Ca), at(b, lo * Cb), at(y, lo * (Ca + Cb)), hi - lo, Ca, Cb);
  });
}
void concat_bwd(Buf dy, Buf da, Buf db, int64_t N, int64_t Ca, int64_t Cb) {
  parallel_for(N, row_grain(Ca + Cb), [&](int64_t lo, int64_t hi) {
    R().concat_bwd(at(dy, lo * (Ca + Cb)), at(da, lo * Ca), at(db, lo * Cb), hi - lo, Ca, Cb);
  });
}
void xent_fwd(Buf logits, const int32_t* t, float* loss, int64_t N, int64_t C) {
  parallel_for(N, row_grain(C), [&](int64_t lo, int64_t hi) { R().xent_fwd(at(logits, lo * C), t + lo, loss + lo, hi - lo, C); });
}
void xent_bwd(Buf logits, const int32_t* t, const float* dloss, Buf dl, int64_t N, int64_t C) {
  parallel_for(N, row_grain(C), [&](int64_t lo, int64_t hi) {
    R().xent_bwd(at(logits, lo * C), t + lo, dloss + lo, at(dl, lo * C), hi - lo, C);
  });
}

// Sum of f(i) over [0, n) in double, chunked across the pool.
template <typename Fn>
double parallel_sum(int64_t n, Fn f) {
  const int64_t chunks = std::max<int64_t>(1, std::min<int64_t>(num_threads() * 4, n / kGrain + 1));
  std::vector<double> part(chunks, 0.0);
  const int64_t step = (n + chunks - 1) / chunks;
  run_tasks(chunks, [&](int64_t c) {
    double s = 0;
    for (int64_t i = c * step, e = std::min(n, i + step); i < e; ++i) s += f(i);
    part[c] = s;
  });
  double s = 0;
  for (double v : part) s += v;
  return s;
}
void mse_fwd(Buf a, Buf b, float* out, int64_t n) {
  const float *pa = F(a, "mse"), *pb = F(b, "mse");
  const double s = parallel_sum(n, [&](int64_t i) { const double d = pa[i] - pb[i]; return d * d; });
  out[0] = n ? static_cast<float>(s / n) : 0.0f;
}
void mse_bwd(Buf a, Buf b, float dout, Buf da, int64_t n) {
  parallel_for(n, kGrain, [&](int64_t lo, int64_t hi) {
    // Scale by the full n, not the chunk's: call the reference per element range by hand.
    const float *pa = F(a, "mse_bwd"), *pb = F(b, "mse_bwd");
    float* pd = F(da, "mse_bwd");
    for (int64_t i = lo; i < hi; ++i) pd[i] = dout * 2.0f * (pa[i] - pb[i]) / static_cast<float>(n);
  });
}
void row_axpy(const float* a, Buf x, Buf y, int64_t N, int64_t C) {
  const float* px = F(x, "row_axpy");
  float* py = F(y, "row_axpy");
  BIOFEG_CHECK(a || N == 0, "row_axpy: null row factors");
  parallel_for(N, row_grain(C), [&](int64_t lo, int64_t hi) {
    for (int64_t n = lo; n < hi; ++n)
      for (int64_t c = 0; c < C; ++c) py[n * C + c] += a[n] * px[n * C + c];
  });
}
void grad_penalty(Buf g, float lambda, Buf u, float* norms, int64_t N, int64_t C) {
  const float* pg = F(g, "grad_penalty");
  float* pu = F(u, "grad_penalty");
  BIOFEG_CHECK(norms || N == 0, "grad_penalty: null norms");
  parallel_for(N, row_grain(C), [&](int64_t lo, int64_t hi) {
    host::grad_penalty_rows(pg, lambda, pu, norms, lo, hi, N, C);
  });
}
void sumsq(Buf x, int64_t n, float* out) {
  const float* p = F(x, "sumsq");
  if (host::vec_avx2()) {  // fixed chunks (as parallel_sum's), each summed 8 lanes wide
    const int64_t chunks = std::max<int64_t>(1, std::min<int64_t>(num_threads() * 4, n / kGrain + 1));
    const int64_t step = (n + chunks - 1) / chunks;
    std::vector<double> part(chunks, 0.0);
    run_tasks(chunks, [&](int64_t c) {
      const int64_t lo = std::min(n, c * step), hi = std::min(n, lo + step);
      part[c] = host::sumsq_avx2(p + lo, hi - lo);
    });
    double s = 0;
    for (double v : part) s += v;
    out[0] += static_cast<float>(s);
    return;
  }
  out[0] += static_cast<float>(parallel_sum(n, [&](int64_t i) { return static_cast<double>(p[i]) * p[i]; }));
}
void adamw(const AdamWDesc& d) {
  if (host::vec_avx2()) {  // step size and decay as host::adamw_range
    float step_size = d.lr;
    if (d.bias_correction) {
      const double bc1 = 1.0 - std::pow(static_cast<double>(d.beta1), static_cast<double>(d.step));
      const double bc2 = 1.0 - std::pow(static_cast<double>(d.beta2), static_cast<double>(d.step));
      step_size = static_cast<float>(d.lr * std::sqrt(bc2) / bc1);
    }
    return parallel_for(d.n, kGrain, [&](int64_t lo, int64_t hi) {
      host::adamw_avx2({d.param + lo, d.m + lo, d.v + lo, d.grad + lo, d.decay_mask ? d.decay_mask + lo : nullptr, d.beta1,
                        d.beta2, d.eps, step_size, d.lr * d.weight_decay},
                       hi - lo);
    });
  }
  parallel_for(d.n, kGrain, [&](int64_t lo, int64_t hi) { host::adamw_range(d, lo, hi); });
}

// ---- attention: per (batch, head), scores in a T x T scratch, GEMMs from the packed kernel.

GemmDesc mm(int64_t M, int64_t N, int64_t K, const float* A, int64_t lda, bool ta, const float* B, int64_t ldb, bool tb,
            float* C, int64_t ldc, float alpha) {
  GemmDesc g;
  g.M = M, g.N = N, g.K = K, g.alpha = alpha, g.beta = 0.0f;
  g.A = Buf{const_cast<float*>(A), DType::F32}, g.lda = lda, g.transA = ta;
  g.B = Buf{const_cast<float*>(B), DType::F32}, g.ldb = ldb, g.transB = tb;
  g.C = Buf{C, DType::F32}, g.ldc = ldc;
  return g;
}

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
    static thread_local std::vector<float> keep;
    keep.resize(std::max<int64_t>(K, 1));
    for (int64_t j = 0; j < K; ++j) keep[j] = !mask || mask[j] ? 1.0f : 0.0f;
    for (int64_t i = 0; i < T; ++i) {
      float* s = S + i * K;
      const float l = host::softmax_row_avx2(s, keep.data(), K, have_lse, have_lse ? lse[i] : 0.0f);
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

void attention_fwd(const AttnDesc& d) {
  const float* qkv = F(d.qkv, "attention");
  float *out = F(d.out, "attention"), *lse = F(d.lse, "attention");
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
  const float* qkv = F(d.qkv, "attention_bwd");
  (void)F(d.out, "attention_bwd");  // checked like the other operands, not read (Di comes from p and dp)
  const float *dout = F(d.dout, "attention_bwd"), *lse = F(d.lse, "attention_bwd");
  float* dqkv = F(d.dqkv, "attention_bwd");
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

// ---- top-k: stream the pool in blocks; GEMM a block of scores, then each query keeps its
// k best in a sorted array (most candidates fail the threshold test and cost one compare).
// Scratch is one (query chunk x pool block) score tile: constant beyond the k-best lists, and
// wide enough that the GEMM runs at full speed (packing amortised over 4096 pool rows).
// A bf16 pool (queries f32) is widened block by block into an f32 scratch of one block: the
// scores are exactly those of the f32 pool holding the bf16 values.
void topk(const TopkDesc& d) {
  const float* q = F(d.queries, "topk");
  const bool bf16 = d.pool.t == DType::BF16;
  const float* pool = bf16 ? nullptr : F(d.pool, "topk");
  const uint16_t* pool16 = bf16 ? static_cast<const uint16_t*>(d.pool.p) : nullptr;
  const int64_t k = d.k;
  const int64_t blk = d.block > 0 ? d.block : std::max<int64_t>(4096, k);
  const int64_t qc = std::min<int64_t>(d.Q, 2048);
  std::vector<float> S(static_cast<size_t>(qc * std::min(blk, d.P)));
  std::vector<float> wide(bf16 ? static_cast<size_t>(std::min(blk, d.P) * d.D) : 0);
  std::fill_n(d.scores, d.Q * k, -std::numeric_limits<float>::infinity());
  std::fill_n(d.index, d.Q * k, -1);
  std::vector<int64_t> filled(d.Q, 0);
  // Pool blocks outside, query chunks inside: every query still sees the blocks in order.
  for (int64_t p0 = 0; p0 < d.P; p0 += blk) {
    const int64_t nb = std::min(blk, d.P - p0);
    const float* pb = pool ? pool + p0 * d.D : wide.data();
    if (bf16)
      parallel_for(nb * d.D, kGrain, [&](int64_t lo, int64_t hi) {
        const uint16_t* src = pool16 + p0 * d.D;
        for (int64_t i = lo; i < hi; ++i) wide[i] = bf16_to_f32(src[i]);
      });
    for (int64_t q0 = 0; q0 < d.Q; q0 += qc) {
      const int64_t nq = std::min(qc, d.Q - q0);
      host::gemm_fast(mm(nq, nb, d.D, q + q0 * d.D, d.D, false, pb, d.D, true, S.data(), nb, 1.0f));
      parallel_for(nq, 16, [&](int64_t lo, int64_t hi) {
        for (int64_t i = lo; i < hi; ++i) {
          float* bs = d.scores + (q0 + i) * k;
          int32_t* bi = d.index + (q0 + i) * k;
          int64_t& f = filled[q0 + i];
          const float* s = S.data() + i * nb;
          for (int64_t j = 0; j < nb; ++j) {
            const float v = s[j];
            if (f == k && !(v > bs[k - 1])) continue;  // later index loses ties
            int64_t pos = f == k ? k - 1 : f++;
            while (pos > 0 && bs[pos - 1] < v) {
              bs[pos] = bs[pos - 1];
              bi[pos] = bi[pos - 1];
              --pos;
            }
            bs[pos] = v;
            bi[pos] = static_cast<int32_t>(p0 + j);
          }
        }
      });
    }
  }
}

}  // namespace

const Backend& cpu_backend() {
  static const Backend b = {
      "cpu", Device::CPU, host::gemm_fast, bias_grad, fill, cast, add, axpy, scale, gelu_fwd, gelu_bwd, relu_fwd,
      relu_bwd, leaky_relu_fwd, leaky_relu_bwd, tanh_fwd, tanh_bwd, dropout_fwd, dropout_bwd, layernorm_fwd,
      layernorm_bwd, embedding_fwd, embedding_bwd, concat_fwd, concat_bwd, xent_fwd, xent_bwd, mse_fwd, mse_bwd,
      row_axpy, grad_penalty, attention_fwd, attention_bwd, adamw, sumsq, topk};
  static const Backend& chosen = host::profile_enabled() ? host::profiled_backend(b) : b;  // BIOFEG_PROFILE=1
  return chosen;
}

}  // namespace biofeg
