// Fast kernels of the elementwise family: the reference loops on per-thread ranges, AVX-512 or
// AVX2 GELU and AVX2 dropout (8-lane Philox, masks recorded for the backward) by CPU level.
#include "fast.h"

namespace biofeg::fast {
namespace {

template <typename Fn>
void split(int64_t n, Fn fn) {
  parallel_for(n, kGrain, [&](int64_t lo, int64_t hi) { fn(lo, hi - lo); });
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

}  // namespace

void fill(Buf y, int64_t n, float v) {
  split(n, [&](int64_t i, int64_t m) { ref::fill(at(y, i), m, v); });
}
void cast(Buf x, Buf y, int64_t n) {
  split(n, [&](int64_t i, int64_t m) { ref::cast(at(x, i), at(y, i), m); });
}
void add(Buf a, Buf b, Buf y, int64_t n) {
  split(n, [&](int64_t i, int64_t m) { ref::add(at(a, i), at(b, i), at(y, i), m); });
}
void axpy(float a, Buf x, Buf y, int64_t n) {
  split(n, [&](int64_t i, int64_t m) { ref::axpy(a, at(x, i), at(y, i), m); });
}
void scale(Buf x, Buf y, int64_t n, float s) {
  split(n, [&](int64_t i, int64_t m) { ref::scale(at(x, i), at(y, i), m, s); });
}

void gelu_fwd(Buf x, Buf y, int64_t n) {
  if (!host::vec_avx2()) return split(n, [&](int64_t i, int64_t m) { ref::gelu_fwd(at(x, i), at(y, i), m); });
  const auto fn = host::vec_avx512() ? host::gelu_fwd_avx512 : host::gelu_fwd_avx2;
  const float* px = x.f32();
  float* py = y.f32();
  split(n, [&](int64_t i, int64_t m) { fn(px + i, py + i, m); });
}
void gelu_bwd(Buf x, Buf dy, Buf dx, int64_t n) {
  if (!host::vec_avx2())
    return split(n, [&](int64_t i, int64_t m) { ref::gelu_bwd(at(x, i), at(dy, i), at(dx, i), m); });
  const auto fn = host::vec_avx512() ? host::gelu_bwd_avx512 : host::gelu_bwd_avx2;
  const float *px = x.f32(), *pd = dy.f32();
  float* po = dx.f32();
  split(n, [&](int64_t i, int64_t m) { fn(px + i, pd + i, po + i, m); });
}
void relu_fwd(Buf x, Buf y, int64_t n) {
  split(n, [&](int64_t i, int64_t m) { ref::relu_fwd(at(x, i), at(y, i), m); });
}
void relu_bwd(Buf x, Buf dy, Buf dx, int64_t n) {
  split(n, [&](int64_t i, int64_t m) { ref::relu_bwd(at(x, i), at(dy, i), at(dx, i), m); });
}
void leaky_relu_fwd(Buf x, Buf y, int64_t n, float s) {
  split(n, [&](int64_t i, int64_t m) { ref::leaky_relu_fwd(at(x, i), at(y, i), m, s); });
}
void leaky_relu_bwd(Buf x, Buf dy, Buf dx, int64_t n, float s) {
  split(n, [&](int64_t i, int64_t m) { ref::leaky_relu_bwd(at(x, i), at(dy, i), at(dx, i), m, s); });
}
void tanh_fwd(Buf x, Buf y, int64_t n) {
  split(n, [&](int64_t i, int64_t m) { ref::tanh_fwd(at(x, i), at(y, i), m); });
}
void tanh_bwd(Buf y, Buf dy, Buf dx, int64_t n) {
  split(n, [&](int64_t i, int64_t m) { ref::tanh_bwd(at(y, i), at(dy, i), at(dx, i), m); });
}
void silu_fwd(Buf x, Buf y, int64_t n) {
  split(n, [&](int64_t i, int64_t m) { ref::silu_fwd(at(x, i), at(y, i), m); });
}
void silu_bwd(Buf x, Buf dy, Buf dx, int64_t n) {
  split(n, [&](int64_t i, int64_t m) { ref::silu_bwd(at(x, i), at(dy, i), at(dx, i), m); });
}

void dropout_fwd(Buf x, Buf y, int64_t n, float p, uint64_t seed, uint64_t off) {
  if (host::vec_avx2()) {
    const float* px = x.f32();
    float* py = y.f32();
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
    ref::dropout_fwd(at(x, lo), at(y, lo), hi - lo, p, seed, off + static_cast<uint64_t>(lo));
  });
}
void dropout_bwd(Buf dy, Buf dx, int64_t n, float p, uint64_t seed, uint64_t off) {
  if (host::vec_avx2()) {
    const float* px = dy.f32();
    float* py = dx.f32();
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

void concat_fwd(Buf a, Buf b, Buf y, int64_t N, int64_t Ca, int64_t Cb) {
  parallel_for(N, row_grain(Ca + Cb), [&](int64_t lo, int64_t hi) {
    ref::concat_fwd(at(a, lo * Ca), at(b, lo * Cb), at(y, lo * (Ca + Cb)), hi - lo, Ca, Cb);
  });
}
void concat_bwd(Buf dy, Buf da, Buf db, int64_t N, int64_t Ca, int64_t Cb) {
  parallel_for(N, row_grain(Ca + Cb), [&](int64_t lo, int64_t hi) {
    ref::concat_bwd(at(dy, lo * (Ca + Cb)), at(da, lo * Ca), at(db, lo * Cb), hi - lo, Ca, Cb);
  });
}

void row_axpy(Buf a, Buf x, Buf y, int64_t N, int64_t C) {
  const float *pa = a.f32(), *px = x.f32();
  float* py = y.f32();
  parallel_for(N, row_grain(C), [&](int64_t lo, int64_t hi) {
    for (int64_t n = lo; n < hi; ++n)
      for (int64_t c = 0; c < C; ++c) py[n * C + c] += pa[n] * px[n * C + c];
  });
}

}  // namespace biofeg::fast
