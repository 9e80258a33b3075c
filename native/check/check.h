// Helpers of the validators (one per op, check::NAME in the family files beside this header).
// A validator sees exactly the op's arguments and the backend, and checks what a kernel relies
// on: dtypes against the backend's Caps, required operands, sizes, parameter ranges, and (for
// host memory) ids and targets in range. Every message starts with the op's JS name and names
// the argument.
#pragma once
#include <cmath>
#include <initializer_list>

#include "../core/error.h"
#include "../op_table.h"

namespace biofeg::check {

struct Arg {
  Buf b;
  const char* name;
};

class V {
 public:
  V(const Backend& be, Op op) : be(be), op(op), js(op_info(op).js) {}
  const Backend& be;
  const Op op;
  const char* const js;

  template <typename... M>
  void need(bool ok, const M&... m) const {
    if (!ok) fail(js, ": ", m...);
  }
  void counts(std::initializer_list<int64_t> n) const {
    for (int64_t x : n) {
      need(x >= 0, "negative size ", x);
      need(x <= kMaxElements, "size ", x, " exceeds 2^40");
    }
  }
  // One operand's element count, the product of `dims` (non-negative), within kMaxElements: the
  // bindings derive sizes from Tensors (already bounded), but a model or a selftest passes its own,
  // and a wrapped product would make a kernel index outside its buffers.
  int64_t fits(std::initializer_list<int64_t> dims, const char* what) const {
    int64_t n = 1;
    for (int64_t x : dims) {
      need(x >= 0, "negative size ", x, " in ", what);
      n = mul_size(n, x);
      need(n >= 0, what, " exceeds 2^40 elements");
    }
    return n;
  }
  bool host() const { return be.device == Device::CPU; }

  // One float operand of a dtype this backend takes for the op (present unless `optional`).
  void float1(Arg a, bool optional = false) const {
    if (!a.b.p) {
      need(optional, "'", a.name, "' is missing");
      return;
    }
    const DTypes ok = be.caps.floats_of(op);
    if (ok.has(a.b.t)) return;
    if (ok.bits == DTypes::of(DType::F32).bits)
      fail(js, ": '", a.name, "' must be f32 on backend '", be.name, "', got ", dtype_name(a.b.t));
    fail(js, ": '", a.name, "' must be f32 or bf16, got ", dtype_name(a.b.t));
  }
  // Float operands sharing one dtype, which is returned. Null operands are skipped when not
  // `required` (the empty side of a concat), else an error.
  DType floats(std::initializer_list<Arg> args, bool required = true) const {
    const Arg* first = nullptr;
    for (const Arg& a : args) {
      if (!a.b.p && !required) continue;
      float1(a);
      if (!first) first = &a;
      else
        need(a.b.t == first->b.t, "'", first->name, "' (", dtype_name(first->b.t), ") and '", a.name, "' (",
             dtype_name(a.b.t), ") must share a dtype");
    }
    return first ? first->b.t : DType::F32;
  }
  // A parameter-gradient accumulator for operands like `of`: f32, or of's dtype.
  void acc(Arg a, Arg of) const {
    float1(a);
    need(a.b.t == DType::F32 || a.b.t == of.b.t, "'", a.name, "' (", dtype_name(a.b.t), ") must be f32 or share the dtype of '",
         of.name, "' (", dtype_name(of.b.t), ")");
  }
  void f32(Arg a, bool optional = false) const {
    if (!a.b.p && optional) return;
    need(a.b.p != nullptr, "'", a.name, "' is missing");
    need(a.b.t == DType::F32, "'", a.name, "' must be f32, got ", dtype_name(a.b.t));
  }
  void i32(Arg a, bool optional = false) const {
    if (!a.b.p && optional) return;
    need(a.b.p != nullptr, "'", a.name, "' is missing");
    need(a.b.t == DType::I32, "'", a.name, "' must be i32, got ", dtype_name(a.b.t));
  }
  void prob(float p, const char* what) const {
    need(std::isfinite(p) && p >= 0 && p < 1, what, " must be in [0, 1), got ", p);
  }
  void finite(float x, const char* what) const { need(std::isfinite(x), "'", what, "' must be finite, got ", x); }
};

// Unary elementwise ops and their backward (shared by the activation validators).
inline void unary(const V& v, Buf x, Buf y, int64_t n, const char* xn = "x") {
  v.counts({n});
  v.floats({{x, xn}, {y, "y"}}, n > 0);
}
inline void unary_bwd(const V& v, Buf x, Buf dy, Buf dx, int64_t n, const char* xn = "x") {
  v.counts({n});
  v.floats({{x, xn}, {dy, "dy"}, {dx, "dx"}}, n > 0);
}

}  // namespace biofeg::check
