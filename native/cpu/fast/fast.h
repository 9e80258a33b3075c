// The fast CPU backend (f32): threads over the pool, AVX2/FMA loops where the CPU has them
// (vec.h), the packed GEMM (gemm.h). Memory-bound ops run the reference kernels (ref/) on
// per-thread ranges, so their math lives in one place. Arguments were validated by the op's
// validator (check/) before any kernel here runs.
#pragma once
#include <algorithm>
#include <memory>
#include <mutex>
#include <vector>

#include "../../core/threadpool.h"
#include "../../ops.h"
#include "../common.h"
#include "../ref/ref.h"
#include "gemm.h"
#include "vec.h"

namespace biofeg::fast {

BIOFEG_DECLARE_OPS  // every op, defined in the family files of this folder

inline Buf at(Buf b, int64_t i) { return Buf{static_cast<char*>(b.p) + i * static_cast<int64_t>(dtype_size(b.t)), b.t}; }
constexpr int64_t kGrain = 1 << 15;
inline int64_t row_grain(int64_t C) { return std::max<int64_t>(1, kGrain / std::max<int64_t>(C, 1)); }

// Dropout masks recorded by a forward and taken back by the matching backward (same seed,
// counter offset, size and p: the mask is a pure function of those, so a hit is exactly what
// Philox would regenerate). Bounded FIFO: a forward never followed by its backward is evicted.
// Shared by dropout (elementwise.cpp) and attention dropout (attention.cpp).
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
inline MaskCache& masks() {
  static auto* c = new MaskCache();  // leaked: no teardown order issues at exit
  return *c;
}

// Sum of f(i) over [0, n) in double, in fixed chunks across the pool (a fixed order).
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

// An f32 GEMM descriptor (attention's and top-k's inner products).
inline GemmDesc mm(int64_t M, int64_t N, int64_t K, const float* A, int64_t lda, bool ta, const float* B, int64_t ldb,
                   bool tb, float* C, int64_t ldc, float alpha) {
  GemmDesc g;
  g.M = M, g.N = N, g.K = K, g.alpha = alpha, g.beta = 0.0f;
  g.A = Buf{const_cast<float*>(A), DType::F32}, g.lda = lda, g.transA = ta;
  g.B = Buf{const_cast<float*>(B), DType::F32}, g.ldb = ldb, g.transB = tb;
  g.C = Buf{C, DType::F32}, g.ldc = ldc;
  return g;
}

}  // namespace biofeg::fast
