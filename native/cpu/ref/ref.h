// The reference backend: plain loops that read like the math. It is the spec every other
// backend is tested against, so clarity beats speed here. Storage f32 or bf16 with the CUDA
// backend's rules: inputs widen to f32, arithmetic in f32/double, outputs rounded once on store;
// bf16 runs on the host only here, to test mixed-precision code without a GPU.
//
// A kernel reads its float inputs through In (bf16 widens exactly to f32) and writes through
// Out, which rounds each element once, round-to-nearest-even (f32_to_bf16, as CUDA's
// __float2bfloat16_rn), when the kernel calls done(). f32 operands are used in place, so the f32
// path is exactly the plain loops. Arguments were validated by the op's validator (check/).
#pragma once
#include <cstdint>
#include <vector>

#include "../../ops.h"
#include "../common.h"

namespace biofeg::ref {

BIOFEG_DECLARE_OPS  // every op, defined in the family files of this folder

// Elements a strided (batched) matrix spans: the last element's index + 1.
inline int64_t span(int64_t batch, int64_t stride, int64_t rows, int64_t cols, int64_t ld) {
  if (batch <= 0 || rows <= 0 || cols <= 0) return 0;
  return (batch - 1) * stride + (rows - 1) * ld + cols;
}

// n elements of a float operand, read as f32. A null Buf gives p == nullptr (optional operands).
class In {
 public:
  In(Buf b, int64_t n) {
    if (!b.p) return;
    if (b.t == DType::F32) {
      p = b.f32();
      return;
    }
    const uint16_t* h = static_cast<const uint16_t*>(b.p);
    copy_.resize(static_cast<size_t>(n));
    for (int64_t i = 0; i < n; ++i) copy_[i] = bf16_to_f32(h[i]);
    p = copy_.data();
  }
  const float* p = nullptr;

 private:
  std::vector<float> copy_;
};

// n elements of a float output, written as f32 and stored (rounded) by done(). keep: start from
// the current contents (accumulators, beta != 0); otherwise bf16 outputs start at 0. A null Buf
// gives p == nullptr.
class Out {
 public:
  Out(Buf b, int64_t n, bool keep) : b_(b), n_(n) {
    if (!b.p) return;
    if (b.t == DType::F32) {
      p = b.f32();
      return;
    }
    copy_.assign(static_cast<size_t>(n), 0.0f);
    if (keep) {
      const uint16_t* h = static_cast<const uint16_t*>(b.p);
      for (int64_t i = 0; i < n; ++i) copy_[i] = bf16_to_f32(h[i]);
    }
    p = copy_.data();
  }
  void done() {
    if (!b_.p || b_.t == DType::F32) return;
    uint16_t* h = static_cast<uint16_t*>(b_.p);
    for (int64_t i = 0; i < n_; ++i) h[i] = f32_to_bf16(copy_[i]);
  }
  float* p = nullptr;

 private:
  Buf b_;
  int64_t n_ = 0;
  std::vector<float> copy_;
};

// y[i] = f(a[i], b[i], i) over n elements of one float dtype; b may be null (unary ops). y may
// alias a or b.
template <typename Fn>
void map(Buf a, Buf b, Buf y, int64_t n, Fn f) {
  const In pa(a, n), pb(b, n);
  Out py(y, n, false);
  for (int64_t i = 0; i < n; ++i) py.p[i] = f(pa.p[i], pb.p ? pb.p[i] : 0.0f, i);
  py.done();
}

}  // namespace biofeg::ref
