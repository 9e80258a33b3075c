// The binders of the op list (native/ops.h): each reads an op's JS arguments (Tensors on the
// backend's device, numbers, options), checks shapes and derives sizes from them, and calls the
// validated entry point (op_table.h), whose validator checks dtypes and ranges. Ops of a generic
// kind (Unary, UnaryBwd, UnaryBwdOut) share one binder; the others (kind Own) have theirs in
// namespace `own`, under the op's name. backend_wrap.cpp makes them the methods of a backend.
#include "ops_bind.h"

#include <cmath>

#include "../native/backends.h"
#include "../native/op_table.h"
#include "errors.h"

namespace biofeg::js {
namespace {

// Elementwise operands: same shape (dtypes: the validator).
void same(const OpCtx& c, const Tensor& a, const char* an, const Tensor& b, const char* bn) {
  expect_same_shape(c, a, an, b, bn);
}
// Row statistics: one entry per row.
void stats(const OpCtx& c, const Tensor& s, const char* name, int64_t rows) { expect_numel(c, s, name, rows); }
// a x b for sizes of two different tensors (each bounded, their product not): a wrapped product
// could match a small operand's element count.
int64_t product(const OpCtx& c, int64_t a, int64_t b, const char* what) {
  const int64_t n = mul_size(a, b);
  BIOFEG_CHECK(n >= 0, c.op, ": ", what, " = ", a, " x ", b, " exceeds 2^40 elements");
  return n;
}

}  // namespace

namespace own {

void gemm(const Napi::CallbackInfo& info, const OpCtx& c) {
  argc(c, info, 3);
  Tensor &A = tensor_arg(c, info[0], "A"), &B = tensor_arg(c, info[1], "B"), &C = tensor_arg(c, info[2], "C");
  Napi::Object o = options_arg(c, info, 3);
  GemmDesc g;
  g.transA = flag(c, o, "transA", false);
  g.transB = flag(c, o, "transB", false);
  g.alpha = static_cast<float>(option(c, o, "alpha", 1.0));
  g.beta = static_cast<float>(option(c, o, "beta", 0.0));
  expect_rank(c, A, "A", {2, 3});
  expect_rank(c, B, "B", {2, 3});
  expect_rank(c, C, "C", {2, 3});
  BIOFEG_CHECK(A.shape.size() == B.shape.size() && B.shape.size() == C.shape.size(), c.op,
               ": A, B and C must all be 2-D or all 3-D (batched)");
  const size_t r = A.shape.size();
  g.batch = r == 3 ? A.shape[0] : 1;
  if (r == 3)
    BIOFEG_CHECK(B.shape[0] == g.batch && C.shape[0] == g.batch, c.op, ": batch sizes differ: A ", A.describe(), ", B ",
                 B.describe(), ", C ", C.describe());
  const int64_t a0 = A.shape[r - 2], a1 = A.shape[r - 1], b0 = B.shape[r - 2], bw = B.shape[r - 1];
  // bCols: B is the leading bCols columns of the stored rows (a column block of a weight matrix).
  const double bc = option(c, o, "bCols", static_cast<double>(bw));
  BIOFEG_CHECK(bc == static_cast<double>(bw) || (bc == std::floor(bc) && bc >= 1 && bc <= static_cast<double>(bw)), c.op,
               ": bCols must be an integer in [1, ", bw, "], got ", bc);
  const int64_t b1 = static_cast<int64_t>(bc);
  g.M = g.transA ? a1 : a0;
  g.K = g.transA ? a0 : a1;
  const int64_t kb = g.transB ? b1 : b0;
  g.N = g.transB ? b0 : b1;
  BIOFEG_CHECK(kb == g.K, c.op, ": inner dimensions differ: op(A) is ", g.M, "x", g.K, ", op(B) is ", kb, "x", g.N);
  BIOFEG_CHECK(C.shape[r - 2] == g.M && C.shape[r - 1] == g.N, c.op, ": C must be ", g.M, "x", g.N, ", got ",
               C.describe());
  g.A = A.buf(), g.B = B.buf(), g.C = C.buf();
  g.lda = a1, g.ldb = bw, g.ldc = g.N;
  g.strideA = a0 * a1, g.strideB = b0 * bw, g.strideC = g.M * g.N;
  if (Tensor* bias = optional_tensor(c, o.Get("bias"), "bias")) {
    expect_numel(c, *bias, "bias", g.N);  // f32 or bf16 whatever C is (e.g. f32 master biases)
    g.bias = bias->buf();
  }
  if (Tensor* pre = optional_tensor(c, o.Get("pre"), "pre")) {
    BIOFEG_CHECK(pre->shape == C.shape, c.op, ": 'pre' must have C's shape ", shape_str(C.shape));
    g.pre = pre->buf();
  }
  g.epilogue = flag(c, o, "gelu", false) ? Epilogue::Gelu : Epilogue::None;
  op::gemm(*c.be, g);
}

void bias_grad(const Napi::CallbackInfo& info, const OpCtx& c) {
  argc(c, info, 2);
  Tensor &dy = tensor_arg(c, info[0], "dy"), &db = tensor_arg(c, info[1], "db");
  expect_numel(c, db, "db", cols_of(dy));
  op::bias_grad(*c.be, dy.buf(), db.buf(), rows_of(dy), cols_of(dy));
}

void fill(const Napi::CallbackInfo& info, const OpCtx& c) {
  argc(c, info, 2);
  Tensor& y = tensor_arg(c, info[0], "y");
  op::fill(*c.be, y.buf(), y.numel(), static_cast<float>(number_arg(c, info[1], "value")));
}

void cast(const Napi::CallbackInfo& info, const OpCtx& c) {
  argc(c, info, 2);
  Tensor &x = tensor_arg(c, info[0], "x"), &y = tensor_arg(c, info[1], "y");
  BIOFEG_CHECK(x.shape == y.shape, c.op, ": x ", x.describe(), " and y ", y.describe(), " must have the same shape");
  op::cast(*c.be, x.buf(), y.buf(), x.numel());
}

void add(const Napi::CallbackInfo& info, const OpCtx& c) {
  argc(c, info, 3);
  Tensor &a = tensor_arg(c, info[0], "a"), &b = tensor_arg(c, info[1], "b"), &y = tensor_arg(c, info[2], "y");
  same(c, a, "a", b, "b");
  same(c, a, "a", y, "y");
  op::add(*c.be, a.buf(), b.buf(), y.buf(), a.numel());
}

void axpy(const Napi::CallbackInfo& info, const OpCtx& c) {
  argc(c, info, 3);
  const float alpha = static_cast<float>(number_arg(c, info[0], "alpha"));
  Tensor &x = tensor_arg(c, info[1], "x"), &y = tensor_arg(c, info[2], "y");
  same(c, x, "x", y, "y");
  op::axpy(*c.be, alpha, x.buf(), y.buf(), x.numel());
}

void scale(const Napi::CallbackInfo& info, const OpCtx& c) {
  argc(c, info, 3);
  Tensor &x = tensor_arg(c, info[0], "x"), &y = tensor_arg(c, info[1], "y");
  same(c, x, "x", y, "y");
  op::scale(*c.be, x.buf(), y.buf(), x.numel(), static_cast<float>(number_arg(c, info[2], "s")));
}

void leaky_relu_fwd(const Napi::CallbackInfo& info, const OpCtx& c) {
  argc(c, info, 3);
  Tensor &x = tensor_arg(c, info[0], "x"), &y = tensor_arg(c, info[1], "y");
  same(c, x, "x", y, "y");
  op::leaky_relu_fwd(*c.be, x.buf(), y.buf(), x.numel(), static_cast<float>(number_arg(c, info[2], "slope")));
}
void leaky_relu_bwd(const Napi::CallbackInfo& info, const OpCtx& c) {
  argc(c, info, 4);
  Tensor &x = tensor_arg(c, info[0], "x"), &dy = tensor_arg(c, info[1], "dy"), &dx = tensor_arg(c, info[2], "dx");
  same(c, x, "x", dy, "dy");
  same(c, x, "x", dx, "dx");
  op::leaky_relu_bwd(*c.be, x.buf(), dy.buf(), dx.buf(), x.numel(), static_cast<float>(number_arg(c, info[3], "slope")));
}

void dropout_fwd(const Napi::CallbackInfo& info, const OpCtx& c) {
  argc(c, info, 5);
  Tensor &x = tensor_arg(c, info[0], "x"), &y = tensor_arg(c, info[1], "y");
  same(c, x, "x", y, "y");
  op::dropout_fwd(*c.be, x.buf(), y.buf(), x.numel(), static_cast<float>(number_arg(c, info[2], "p")),
                  u64_arg(c, info[3], "seed"), u64_arg(c, info[4], "offset"));
}
void dropout_bwd(const Napi::CallbackInfo& info, const OpCtx& c) {
  argc(c, info, 5);
  Tensor &dy = tensor_arg(c, info[0], "dy"), &dx = tensor_arg(c, info[1], "dx");
  same(c, dy, "dy", dx, "dx");
  op::dropout_bwd(*c.be, dy.buf(), dx.buf(), dy.numel(), static_cast<float>(number_arg(c, info[2], "p")),
                  u64_arg(c, info[3], "seed"), u64_arg(c, info[4], "offset"));
}

void concat_fwd(const Napi::CallbackInfo& info, const OpCtx& c) {
  argc(c, info, 3);
  Tensor &a = tensor_arg(c, info[0], "a"), &b = tensor_arg(c, info[1], "b"), &y = tensor_arg(c, info[2], "y");
  const int64_t N = rows_of(a), Ca = cols_of(a), Cb = cols_of(b);
  BIOFEG_CHECK(rows_of(b) == N && rows_of(y) == N && cols_of(y) == Ca + Cb, c.op, ": y ", y.describe(),
               " must hold the rows of a ", a.describe(), " and b ", b.describe(), " side by side");
  op::concat_fwd(*c.be, a.buf(), b.buf(), y.buf(), N, Ca, Cb);
}
void concat_bwd(const Napi::CallbackInfo& info, const OpCtx& c) {
  argc(c, info, 3);
  Tensor &dy = tensor_arg(c, info[0], "dy"), &da = tensor_arg(c, info[1], "da"), &db = tensor_arg(c, info[2], "db");
  const int64_t N = rows_of(da), Ca = cols_of(da), Cb = cols_of(db);
  BIOFEG_CHECK(rows_of(db) == N && rows_of(dy) == N && cols_of(dy) == Ca + Cb, c.op, ": dy ", dy.describe(),
               " must hold the rows of da ", da.describe(), " and db ", db.describe(), " side by side");
  op::concat_bwd(*c.be, dy.buf(), da.buf(), db.buf(), N, Ca, Cb);
}

void row_axpy(const Napi::CallbackInfo& info, const OpCtx& c) {
  argc(c, info, 3);
  Tensor &a = tensor_arg(c, info[0], "a"), &x = tensor_arg(c, info[1], "x"), &y = tensor_arg(c, info[2], "y");
  same(c, x, "x", y, "y");
  const int64_t N = rows_of(x), C = cols_of(x);
  stats(c, a, "a", N);
  op::row_axpy(*c.be, a.buf(), x.buf(), y.buf(), N, C);
}

void layernorm_fwd(const Napi::CallbackInfo& info, const OpCtx& c) {
  argc(c, info, 7);
  Tensor &x = tensor_arg(c, info[0], "x"), &w = tensor_arg(c, info[1], "weight"), &b = tensor_arg(c, info[2], "bias");
  Tensor &y = tensor_arg(c, info[3], "y"), &mean = tensor_arg(c, info[4], "mean"), &rstd = tensor_arg(c, info[5], "rstd");
  const double eps = number_arg(c, info[6], "eps");
  same(c, x, "x", y, "y");
  const int64_t N = rows_of(x), C = cols_of(x);
  same(c, w, "weight", b, "bias");
  expect_numel(c, w, "weight", C);
  stats(c, mean, "mean", N);
  stats(c, rstd, "rstd", N);
  op::layernorm_fwd(*c.be, x.buf(), w.buf(), b.buf(), y.buf(), mean.buf(), rstd.buf(), N, C, static_cast<float>(eps));
}

void layernorm_bwd(const Napi::CallbackInfo& info, const OpCtx& c) {
  argc(c, info, 8);
  Tensor &dy = tensor_arg(c, info[0], "dy"), &x = tensor_arg(c, info[1], "x"), &w = tensor_arg(c, info[2], "weight");
  Tensor &mean = tensor_arg(c, info[3], "mean"), &rstd = tensor_arg(c, info[4], "rstd");
  Tensor &dx = tensor_arg(c, info[5], "dx"), &dw = tensor_arg(c, info[6], "dweight"), &db = tensor_arg(c, info[7], "dbias");
  same(c, x, "x", dy, "dy");
  same(c, x, "x", dx, "dx");
  const int64_t N = rows_of(x), C = cols_of(x);
  expect_numel(c, dw, "dweight", C);
  expect_numel(c, db, "dbias", C);
  expect_numel(c, w, "weight", C);
  stats(c, mean, "mean", N);
  stats(c, rstd, "rstd", N);
  op::layernorm_bwd(*c.be, dy.buf(), x.buf(), w.buf(), mean.buf(), rstd.buf(), dx.buf(), dw.buf(), db.buf(), N, C);
}

void l2norm_fwd(const Napi::CallbackInfo& info, const OpCtx& c) {
  argc(c, info, 3);
  Tensor &x = tensor_arg(c, info[0], "x"), &y = tensor_arg(c, info[1], "y"), &norms = tensor_arg(c, info[2], "norms");
  same(c, x, "x", y, "y");
  const int64_t N = rows_of(x), C = cols_of(x);
  stats(c, norms, "norms", N);
  op::l2norm_fwd(*c.be, x.buf(), y.buf(), norms.buf(), N, C);
}

void l2norm_bwd(const Napi::CallbackInfo& info, const OpCtx& c) {
  argc(c, info, 4);
  Tensor &y = tensor_arg(c, info[0], "y"), &norms = tensor_arg(c, info[1], "norms");
  Tensor &dy = tensor_arg(c, info[2], "dy"), &dx = tensor_arg(c, info[3], "dx");
  same(c, y, "y", dy, "dy");
  same(c, y, "y", dx, "dx");
  const int64_t N = rows_of(y), C = cols_of(y);
  stats(c, norms, "norms", N);
  op::l2norm_bwd(*c.be, y.buf(), norms.buf(), dy.buf(), dx.buf(), N, C);
}

void embedding_fwd(const Napi::CallbackInfo& info, const OpCtx& c) {
  argc(c, info, 3);
  Tensor &ids = tensor_arg(c, info[0], "ids"), &table = tensor_arg(c, info[1], "table"), &y = tensor_arg(c, info[2], "y");
  expect_rank(c, table, "table", {2});
  const int64_t N = ids.numel(), C = table.shape[1];
  expect_numel(c, y, "y", product(c, N, C, "ids x width"));
  op::embedding_fwd(*c.be, ids.buf(), table.buf(), y.buf(), N, C, table.shape[0]);
}

void embedding_bwd(const Napi::CallbackInfo& info, const OpCtx& c) {
  argc(c, info, 3);
  Tensor &ids = tensor_arg(c, info[0], "ids"), &dy = tensor_arg(c, info[1], "dy"), &dt = tensor_arg(c, info[2], "dtable");
  expect_rank(c, dt, "dtable", {2});
  const int64_t N = ids.numel(), C = dt.shape[1];
  expect_numel(c, dy, "dy", product(c, N, C, "ids x width"));
  op::embedding_bwd(*c.be, ids.buf(), dy.buf(), dt.buf(), N, C, dt.shape[0]);
}

void xent_fwd(const Napi::CallbackInfo& info, const OpCtx& c) {
  argc(c, info, 3);
  Tensor &x = tensor_arg(c, info[0], "logits"), &t = tensor_arg(c, info[1], "targets"), &l = tensor_arg(c, info[2], "loss");
  expect_rank(c, x, "logits", {2});
  const int64_t N = x.shape[0], C = x.shape[1];
  expect_numel(c, t, "targets", N);
  stats(c, l, "loss", N);
  op::xent_fwd(*c.be, x.buf(), t.buf(), l.buf(), N, C);
}

void xent_bwd(const Napi::CallbackInfo& info, const OpCtx& c) {
  argc(c, info, 4);
  Tensor &x = tensor_arg(c, info[0], "logits"), &t = tensor_arg(c, info[1], "targets");
  Tensor &dl = tensor_arg(c, info[2], "dloss"), &dx = tensor_arg(c, info[3], "dlogits");
  same(c, x, "logits", dx, "dlogits");
  expect_rank(c, x, "logits", {2});
  const int64_t N = x.shape[0], C = x.shape[1];
  expect_numel(c, t, "targets", N);
  stats(c, dl, "dloss", N);
  op::xent_bwd(*c.be, x.buf(), t.buf(), dl.buf(), dx.buf(), N, C);
}

void mse_fwd(const Napi::CallbackInfo& info, const OpCtx& c) {
  argc(c, info, 3);
  Tensor &a = tensor_arg(c, info[0], "a"), &b = tensor_arg(c, info[1], "b"), &o = tensor_arg(c, info[2], "out");
  same(c, a, "a", b, "b");
  stats(c, o, "out", 1);
  op::mse_fwd(*c.be, a.buf(), b.buf(), o.buf(), a.numel());
}

void mse_bwd(const Napi::CallbackInfo& info, const OpCtx& c) {
  argc(c, info, 4);
  Tensor &a = tensor_arg(c, info[0], "a"), &b = tensor_arg(c, info[1], "b");
  const float dout = static_cast<float>(number_arg(c, info[2], "dout"));
  Tensor& da = tensor_arg(c, info[3], "da");
  same(c, a, "a", b, "b");
  same(c, a, "a", da, "da");
  op::mse_bwd(*c.be, a.buf(), b.buf(), dout, da.buf(), a.numel());
}

void grad_penalty(const Napi::CallbackInfo& info, const OpCtx& c) {
  argc(c, info, 4);
  Tensor& g = tensor_arg(c, info[0], "g");
  const double lambda = number_arg(c, info[1], "lambda");
  Tensor &u = tensor_arg(c, info[2], "u"), &norms = tensor_arg(c, info[3], "norms");
  same(c, g, "g", u, "u");
  const int64_t N = rows_of(g), C = cols_of(g);
  stats(c, norms, "norms", N);
  op::grad_penalty(*c.be, g.buf(), static_cast<float>(lambda), u.buf(), norms.buf(), N, C);
}

void ms_loss(const Napi::CallbackInfo& info, const OpCtx& c) {
  argc(c, info, 4);
  Tensor &sim = tensor_arg(c, info[0], "sim"), &labels = tensor_arg(c, info[1], "labels");
  Tensor &loss = tensor_arg(c, info[2], "loss"), &dsim = tensor_arg(c, info[3], "dsim");
  Napi::Object o = options_arg(c, info, 4);
  expect_rank(c, sim, "sim", {2});
  MsLossDesc d;
  d.M = sim.shape[0];
  expect_shape(c, sim, "sim", {d.M, d.M});
  same(c, sim, "sim", dsim, "dsim");
  expect_numel(c, labels, "labels", d.M);
  stats(c, loss, "loss", d.M);
  d.sim = sim.buf(), d.labels = labels.buf(), d.loss = loss.buf(), d.dsim = dsim.buf();
  d.alpha = static_cast<float>(option(c, o, "alpha", 1.0));
  d.beta = static_cast<float>(option(c, o, "beta", 60.0));
  d.base = static_cast<float>(option(c, o, "base", 0.5));
  d.margin = static_cast<float>(option(c, o, "margin", 0.2));
  d.scale = static_cast<float>(option(c, o, "scale", 1.0));
  op::ms_loss(*c.be, d);
}

namespace {
AttnDesc attn_desc(const OpCtx& c, const Tensor& qkv, Tensor* mask, const Tensor& out, const Tensor& lse,
                   const Napi::Object& o) {
  expect_rank(c, qkv, "qkv", {5});
  BIOFEG_CHECK(qkv.shape[2] == 3, c.op, ": qkv must be [B, T, 3, H, D], got ", qkv.describe());
  AttnDesc d;
  d.B = qkv.shape[0], d.T = qkv.shape[1], d.H = qkv.shape[3], d.D = qkv.shape[4];
  expect_shape(c, out, "out", {d.B, d.T, d.H, d.D});
  expect_shape(c, lse, "lse", {d.B, d.H, d.T});
  if (mask) {
    expect_shape(c, *mask, "mask", {d.B, d.T});
    d.mask = mask->buf();
  }
  d.scale = static_cast<float>(option(c, o, "scale", 1.0 / std::sqrt(static_cast<double>(d.D ? d.D : 1))));
  d.dropout_p = static_cast<float>(option(c, o, "dropout", 0.0));
  d.seed = o.Get("seed").IsUndefined() ? 0 : u64_arg(c, o.Get("seed"), "seed");
  d.offset = o.Get("offset").IsUndefined() ? 0 : u64_arg(c, o.Get("offset"), "offset");
  d.qkv = qkv.buf(), d.out = out.buf(), d.lse = lse.buf();
  return d;
}
// No batch, no tokens or no heads: nothing to compute. The validator still runs; the kernels do
// not, as their loops over the other dims (up to 2^40 of them around a zero) would be long.
bool attn_empty(const AttnDesc& d) { return d.B == 0 || d.T == 0 || d.H == 0; }
}  // namespace

void attention_fwd(const Napi::CallbackInfo& info, const OpCtx& c) {
  argc(c, info, 4);
  Tensor& qkv = tensor_arg(c, info[0], "qkv");
  Tensor* mask = optional_tensor(c, info[1], "mask");
  Tensor &out = tensor_arg(c, info[2], "out"), &lse = tensor_arg(c, info[3], "lse");
  const AttnDesc d = attn_desc(c, qkv, mask, out, lse, options_arg(c, info, 4));
  if (attn_empty(d)) return check::attention_fwd(*c.be, d);
  op::attention_fwd(*c.be, d);
}

void attention_bwd(const Napi::CallbackInfo& info, const OpCtx& c) {
  argc(c, info, 6);
  Tensor& qkv = tensor_arg(c, info[0], "qkv");
  Tensor* mask = optional_tensor(c, info[1], "mask");
  Tensor &out = tensor_arg(c, info[2], "out"), &dout = tensor_arg(c, info[3], "dout");
  Tensor &lse = tensor_arg(c, info[4], "lse"), &dqkv = tensor_arg(c, info[5], "dqkv");
  AttnDesc d = attn_desc(c, qkv, mask, out, lse, options_arg(c, info, 6));
  same(c, out, "out", dout, "dout");
  same(c, qkv, "qkv", dqkv, "dqkv");
  d.dout = dout.buf(), d.dqkv = dqkv.buf();
  if (attn_empty(d)) return check::attention_bwd(*c.be, d);
  op::attention_bwd(*c.be, d);
}

void adamw(const Napi::CallbackInfo& info, const OpCtx& c) {
  argc(c, info, 5);
  Tensor &p = tensor_arg(c, info[0], "param"), &g = tensor_arg(c, info[1], "grad");
  Tensor &m = tensor_arg(c, info[2], "m"), &v = tensor_arg(c, info[3], "v");
  Tensor* mask = optional_tensor(c, info[4], "decayMask");
  Napi::Object o = options_arg(c, info, 5);
  for (auto [t, n] : {std::pair<Tensor*, const char*>{&g, "grad"}, {&m, "m"}, {&v, "v"}}) expect_numel(c, *t, n, p.numel());
  AdamWDesc d;
  if (mask) {
    expect_numel(c, *mask, "decayMask", p.numel());
    d.decay_mask = mask->buf();
  }
  d.param = p.buf(), d.grad = g.buf(), d.m = m.buf(), d.v = v.buf();
  d.n = p.numel();
  d.lr = static_cast<float>(option(c, o, "lr", 1e-3));
  d.beta1 = static_cast<float>(option(c, o, "beta1", 0.9));
  d.beta2 = static_cast<float>(option(c, o, "beta2", 0.999));
  d.eps = static_cast<float>(option(c, o, "eps", 1e-6));
  d.weight_decay = static_cast<float>(option(c, o, "weightDecay", 0.0));
  const double step = option(c, o, "step", 1.0);
  BIOFEG_CHECK(step >= 1 && step < 9e15 && step == std::floor(step), c.op, ": step must be an integer >= 1, got ", step);
  d.step = static_cast<int64_t>(step);
  d.bias_correction = flag(c, o, "biasCorrection", true);
  op::adamw(*c.be, d);
}

void sumsq(const Napi::CallbackInfo& info, const OpCtx& c) {
  argc(c, info, 2);
  Tensor &x = tensor_arg(c, info[0], "x"), &o = tensor_arg(c, info[1], "out");
  stats(c, o, "out", 1);
  op::sumsq(*c.be, x.buf(), x.numel(), o.buf());
}

}  // namespace own

TopkDesc topk_desc(const Napi::CallbackInfo& info, const OpCtx& c) {
  argc(c, info, 5);
  Tensor &q = tensor_arg(c, info[0], "queries"), &p = tensor_arg(c, info[1], "pool");
  const double k = number_arg(c, info[2], "k");
  Tensor &s = tensor_arg(c, info[3], "scores"), &ix = tensor_arg(c, info[4], "index");
  Napi::Object o = options_arg(c, info, 5);
  expect_rank(c, q, "queries", {2});
  expect_rank(c, p, "pool", {2});
  BIOFEG_CHECK(q.shape[1] == p.shape[1], c.op, ": queries ", q.describe(), " and pool ", p.describe(),
               " must have the same width");
  TopkDesc d;
  d.Q = q.shape[0], d.P = p.shape[0], d.D = q.shape[1];
  BIOFEG_CHECK(k == std::floor(k) && k >= 1 && k <= 1e9, c.op, ": k must be an integer in [1, ", c.be->caps.topk_max_k,
               "], got ", k);
  d.k = static_cast<int64_t>(k);
  BIOFEG_CHECK(d.k <= c.be->caps.topk_max_k, c.op, ": k must be an integer in [1, ", c.be->caps.topk_max_k, "], got ", k);
  expect_shape(c, s, "scores", {d.Q, d.k});
  expect_shape(c, ix, "index", {d.Q, d.k});
  const double blk = option(c, o, "block", 0);
  BIOFEG_CHECK(blk >= 0 && blk == std::floor(blk) && blk < 9e15, c.op, ": block must be a non-negative integer");
  d.block = static_cast<int64_t>(blk);
  d.queries = q.buf(), d.pool = p.buf(), d.scores = s.buf(), d.index = ix.buf();
  check::topk(*c.be, d);  // before the async variant leaves the event loop
  return d;
}

namespace own {
void topk(const Napi::CallbackInfo& info, const OpCtx& c) { c.be->topk(topk_desc(info, c)); }  // validated there
}  // namespace own

namespace {
// Keeps the tensors alive while the worker runs off the event loop.
class TopkWorker : public Napi::AsyncWorker {
 public:
  TopkWorker(Napi::Env env, const OpCtx& c, TopkDesc d, std::vector<Tensor> keep)
      : Napi::AsyncWorker(env), deferred_(Napi::Promise::Deferred::New(env)), be_(c.be), d_(d), keep_(std::move(keep)) {}
  Napi::Promise promise() { return deferred_.Promise(); }
  void Execute() override {
    try {
      be_->topk(d_);  // validated by topk_desc on the JS thread
      synchronize(be_->device);
    } catch (const std::exception& e) {
      kind_ = kind_of(e);
      SetError(e.what());
    }
  }
  void OnOK() override { deferred_.Resolve(Env().Undefined()); }
  void OnError(const Napi::Error& e) override { deferred_.Reject(error_value(Env(), kind_, e.Message())); }

 private:
  Napi::Promise::Deferred deferred_;
  const Backend* be_;
  TopkDesc d_;
  std::vector<Tensor> keep_;
  ErrorKind kind_ = ErrorKind::Internal;
};
}  // namespace

Napi::Value topk_async(const Napi::CallbackInfo& info, const OpCtx& c) {
  TopkDesc d = topk_desc(info, c);
  std::vector<Tensor> keep;
  for (int i : {0, 1, 3, 4}) keep.push_back(TensorWrap::Unwrap(info[i].As<Napi::Object>())->get(c.op, "tensor"));
  auto* w = new TopkWorker(info.Env(), c, d, std::move(keep));
  Napi::Promise p = w->promise();
  w->Queue();
  return p;
}

}  // namespace biofeg::js
