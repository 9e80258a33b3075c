// Storage rules of the reference backend, the same as the CUDA backend's (native/cuda/README.md):
// float operands are f32 or bf16 storage; the operands of one call share a dtype, except that
// GEMM C / bias / pre may each be f32 or bf16 whatever A and B are, and parameter-gradient
// accumulators (dw, db, dtable, bias_grad's db) may be f32 while the activations are bf16.
// Statistics (mean, rstd, lse, losses) are f32.
//
// Arithmetic is always f32/double: a kernel reads its inputs through In (bf16 widens exactly to
// f32) and writes through Out, which rounds each element once, round-to-nearest-even
// (f32_to_bf16, as CUDA's __float2bfloat16_rn), when the kernel calls done(). f32 operands are
// used in place, so the f32 path is exactly the plain loops it always was.
#pragma once
#include <cstdint>
#include <initializer_list>
#include <vector>

#include "../core/error.h"
#include "../ops.h"

namespace biofeg::ref {

inline bool is_float(DType t) { return t == DType::F32 || t == DType::BF16; }

// The dtype shared by an op's float operands (all non-null, f32 or bf16, equal), or an Error.
inline DType same_float(const char* op, std::initializer_list<Buf> bufs) {
  const DType t = bufs.begin()->t;
  for (const Buf& b : bufs) {
    BIOFEG_CHECK(b.p != nullptr, op, ": a required operand is null");
    BIOFEG_CHECK(is_float(b.t), op, ": expected f32 or bf16 operands, got ", dtype_name(b.t));
    BIOFEG_CHECK(b.t == t, op, ": operands mix ", dtype_name(t), " and ", dtype_name(b.t));
  }
  return t;
}
// A parameter-gradient accumulator: f32, or the operands' dtype t.
inline void check_acc(const char* op, Buf b, DType t) {
  BIOFEG_CHECK(b.p != nullptr, op, ": a required operand is null");
  BIOFEG_CHECK(b.t == DType::F32 || b.t == t, op, ": gradient accumulator must be f32 or ", dtype_name(t), ", got ",
               dtype_name(b.t));
}
inline void check_f32(const char* op, Buf b, const char* what) {
  BIOFEG_CHECK(b.p != nullptr && b.t == DType::F32, op, ": ", what, " must be f32, got ", dtype_name(b.t));
}

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

}  // namespace biofeg::ref
