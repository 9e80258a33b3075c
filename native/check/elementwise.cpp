// Validators of the elementwise family.
#include "check.h"

namespace biofeg::check {

void fill(const Backend& be, Buf y, int64_t n, float value) {
  const V v(be, Op::fill);
  v.counts({n});
  v.finite(value, "value");
  v.need(y.p || n == 0, "'y' is missing");
  if (y.t == DType::I32) return;  // any backend fills ids
  v.need(be.caps.floats_of(Op::fill).has(y.t), dtype_name(y.t), " tensors are not computed on backend '", be.name, "'",
         y.t == DType::BF16 ? " (bf16 runs on 'cuda'; 'ref' emulates it)" : "");
}

void cast(const Backend& be, Buf x, Buf y, int64_t n) {
  const V v(be, Op::cast);
  v.counts({n});
  v.float1({x, "x"});  // x and y each f32 or bf16 (that is the point of a cast)
  v.float1({y, "y"});
}

void add(const Backend& be, Buf a, Buf b, Buf y, int64_t n) {
  const V v(be, Op::add);
  v.counts({n});
  v.floats({{a, "a"}, {b, "b"}, {y, "y"}});
}

void axpy(const Backend& be, float alpha, Buf x, Buf y, int64_t n) {
  const V v(be, Op::axpy);
  v.counts({n});
  v.finite(alpha, "alpha");
  v.floats({{x, "x"}, {y, "y"}});
}

void scale(const Backend& be, Buf x, Buf y, int64_t n, float s) {
  const V v(be, Op::scale);
  v.counts({n});
  v.finite(s, "s");
  v.floats({{x, "x"}, {y, "y"}});
}

void gelu_fwd(const Backend& be, Buf x, Buf y, int64_t n) { unary(V(be, Op::gelu_fwd), x, y, n); }
void gelu_bwd(const Backend& be, Buf x, Buf dy, Buf dx, int64_t n) { unary_bwd(V(be, Op::gelu_bwd), x, dy, dx, n); }
void relu_fwd(const Backend& be, Buf x, Buf y, int64_t n) { unary(V(be, Op::relu_fwd), x, y, n); }
void relu_bwd(const Backend& be, Buf x, Buf dy, Buf dx, int64_t n) { unary_bwd(V(be, Op::relu_bwd), x, dy, dx, n); }
void tanh_fwd(const Backend& be, Buf x, Buf y, int64_t n) { unary(V(be, Op::tanh_fwd), x, y, n); }
void tanh_bwd(const Backend& be, Buf y, Buf dy, Buf dx, int64_t n) {
  unary_bwd(V(be, Op::tanh_bwd), y, dy, dx, n, "y");  // from the forward's output
}

void silu_fwd(const Backend& be, Buf x, Buf y, int64_t n) { unary(V(be, Op::silu_fwd), x, y, n); }
void silu_bwd(const Backend& be, Buf x, Buf dy, Buf dx, int64_t n) { unary_bwd(V(be, Op::silu_bwd), x, dy, dx, n); }

void leaky_relu_fwd(const Backend& be, Buf x, Buf y, int64_t n, float slope) {
  const V v(be, Op::leaky_relu_fwd);
  v.finite(slope, "slope");
  unary(v, x, y, n);
}
void leaky_relu_bwd(const Backend& be, Buf x, Buf dy, Buf dx, int64_t n, float slope) {
  const V v(be, Op::leaky_relu_bwd);
  v.finite(slope, "slope");
  unary_bwd(v, x, dy, dx, n);
}

void dropout_fwd(const Backend& be, Buf x, Buf y, int64_t n, float p, uint64_t, uint64_t) {
  const V v(be, Op::dropout_fwd);
  v.prob(p, "dropout probability");
  unary(v, x, y, n);
}
void dropout_bwd(const Backend& be, Buf dy, Buf dx, int64_t n, float p, uint64_t, uint64_t) {
  const V v(be, Op::dropout_bwd);
  v.prob(p, "dropout probability");
  v.counts({n});
  v.floats({{dy, "dy"}, {dx, "dx"}}, n > 0);
}

void concat_fwd(const Backend& be, Buf a, Buf b, Buf y, int64_t N, int64_t Ca, int64_t Cb) {
  const V v(be, Op::concat_fwd);
  v.counts({N, Ca, Cb});
  v.fits({N, Ca + Cb}, "y (N x (Ca + Cb))");
  v.floats({{a, "a"}, {b, "b"}, {y, "y"}}, false);  // an empty side may be null
  v.need((a.p || N * Ca == 0) && (b.p || N * Cb == 0) && (y.p || N * (Ca + Cb) == 0), "an operand is missing");
}
void concat_bwd(const Backend& be, Buf dy, Buf da, Buf db, int64_t N, int64_t Ca, int64_t Cb) {
  const V v(be, Op::concat_bwd);
  v.counts({N, Ca, Cb});
  v.fits({N, Ca + Cb}, "dy (N x (Ca + Cb))");
  v.floats({{dy, "dy"}, {da, "da"}, {db, "db"}}, false);
  v.need((da.p || N * Ca == 0) && (db.p || N * Cb == 0) && (dy.p || N * (Ca + Cb) == 0), "an operand is missing");
}

void row_axpy(const Backend& be, Buf a, Buf x, Buf y, int64_t N, int64_t C) {
  const V v(be, Op::row_axpy);
  v.counts({N, C});
  v.fits({N, C}, "x (N x C)");
  v.f32({a, "a"});
  v.floats({{x, "x"}, {y, "y"}});
}

}  // namespace biofeg::check
