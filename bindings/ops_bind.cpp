// One binding per op: check every argument, derive sizes from shapes, call the backend.
#include <cmath>

#include "../native/core/device.h"
#include "check.h"
#include "ops_bind.h"

namespace biofeg::js {
namespace {

#define OP(NAME) void NAME(const Napi::CallbackInfo& info, const OpCtx& c)

// A float operand: f32 or bf16 on 'cuda', and on 'ref' (which emulates bf16 storage on the
// host so mixed-precision code is testable without a GPU); f32 only on the fast 'cpu' backend.
void float_arg(const OpCtx& c, const Tensor& t, const char* name) {
  if (c.be == &ref_backend())
    BIOFEG_CHECK(t.dtype != DType::I32, c.op, ": '", name, "' must be f32 or bf16, got ", t.describe());
  else
    expect_float(c, t, name);
}

// A parameter-gradient accumulator: f32 (mixed precision: bf16 activations, f32 gradients) or
// the dtype of the gradient it sums.
void acc_arg(const OpCtx& c, const Tensor& acc, const char* an, const Tensor& g, const char* gn) {
  float_arg(c, acc, an);
  BIOFEG_CHECK(acc.dtype == DType::F32 || acc.dtype == g.dtype, c.op, ": '", an, "' (", acc.describe(),
               ") must be f32 or share the dtype of '", gn, "' (", g.describe(), ")");
}

void argc(const OpCtx& c, const Napi::CallbackInfo& info, size_t n) {
  BIOFEG_CHECK(info.Length() >= n, c.op, ": expected at least ", n, " arguments, got ", info.Length());
}

// Elementwise ops: same shape, same dtype.
void same(const OpCtx& c, const Tensor& a, const char* an, const Tensor& b, const char* bn) {
  float_arg(c, a, an);
  float_arg(c, b, bn);
  expect_same_dtype(c, a, an, b, bn);
  BIOFEG_CHECK(a.shape == b.shape, c.op, ": '", an, "' ", a.describe(), " and '", bn, "' ", b.describe(),
               " must have the same shape");
}

OP(gemm) {
  argc(c, info, 4);
  Tensor &A = tensor_arg(c, info[1], "A"), &B = tensor_arg(c, info[2], "B"), &C = tensor_arg(c, info[3], "C");
  Napi::Object o = options_arg(c, info, 4);
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
  float_arg(c, A, "A");
  float_arg(c, B, "B");
  float_arg(c, C, "C");
  expect_same_dtype(c, A, "A", B, "B");
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
    float_arg(c, *bias, "bias");  // f32 or bf16 whatever C is (e.g. f32 master biases)
    expect_numel(c, *bias, "bias", g.N);
    g.bias = bias->buf();
  }
  if (Tensor* pre = optional_tensor(c, o.Get("pre"), "pre")) {
    float_arg(c, *pre, "pre");
    BIOFEG_CHECK(pre->shape == C.shape, c.op, ": 'pre' must have C's shape ", shape_str(C.shape));
    g.pre = pre->buf();
  }
  g.epilogue = flag(c, o, "gelu", false) ? Epilogue::Gelu : Epilogue::None;
  c.be->gemm(g);
}

OP(bias_grad) {
  argc(c, info, 3);
  Tensor &dy = tensor_arg(c, info[1], "dy"), &db = tensor_arg(c, info[2], "db");
  float_arg(c, dy, "dy");
  acc_arg(c, db, "db", dy, "dy");
  expect_numel(c, db, "db", cols_of(dy));
  c.be->bias_grad(dy.buf(), db.buf(), rows_of(dy), cols_of(dy));
}

OP(fill) {
  argc(c, info, 3);
  Tensor& y = tensor_arg(c, info[1], "y");
  if (c.be == &cpu_backend())
    BIOFEG_CHECK(y.dtype != DType::BF16, c.op, ": bf16 tensors are not computed on backend '", c.be->name,
                 "' (bf16 runs on 'cuda'; 'ref' emulates it)");
  c.be->fill(y.buf(), y.numel(), static_cast<float>(number_arg(c, info[2], "value")));
}

OP(cast) {
  argc(c, info, 3);
  Tensor &x = tensor_arg(c, info[1], "x"), &y = tensor_arg(c, info[2], "y");
  float_arg(c, x, "x");
  float_arg(c, y, "y");
  BIOFEG_CHECK(x.shape == y.shape, c.op, ": x ", x.describe(), " and y ", y.describe(), " must have the same shape");
  c.be->cast(x.buf(), y.buf(), x.numel());
}

OP(add) {
  argc(c, info, 4);
  Tensor &a = tensor_arg(c, info[1], "a"), &b = tensor_arg(c, info[2], "b"), &y = tensor_arg(c, info[3], "y");
  same(c, a, "a", b, "b");
  same(c, a, "a", y, "y");
  c.be->add(a.buf(), b.buf(), y.buf(), a.numel());
}

OP(axpy) {
  argc(c, info, 4);
  const float alpha = static_cast<float>(number_arg(c, info[1], "alpha"));
  Tensor &x = tensor_arg(c, info[2], "x"), &y = tensor_arg(c, info[3], "y");
  same(c, x, "x", y, "y");
  c.be->axpy(alpha, x.buf(), y.buf(), x.numel());
}

OP(scale) {
  argc(c, info, 4);
  Tensor &x = tensor_arg(c, info[1], "x"), &y = tensor_arg(c, info[2], "y");
  same(c, x, "x", y, "y");
  c.be->scale(x.buf(), y.buf(), x.numel(), static_cast<float>(number_arg(c, info[3], "s")));
}

#define UNARY(NAME, FIELD)                                                         \
  OP(NAME) {                                                                       \
    argc(c, info, 3);                                                              \
    Tensor &x = tensor_arg(c, info[1], "x"), &y = tensor_arg(c, info[2], "y");     \
    same(c, x, "x", y, "y");                                                       \
    c.be->FIELD(x.buf(), y.buf(), x.numel());                                      \
  }
#define UNARY_BWD(NAME, FIELD, XN)                                                 \
  OP(NAME) {                                                                       \
    argc(c, info, 4);                                                              \
    Tensor &x = tensor_arg(c, info[1], XN), &dy = tensor_arg(c, info[2], "dy"),    \
           &dx = tensor_arg(c, info[3], "dx");                                     \
    same(c, x, XN, dy, "dy");                                                      \
    same(c, x, XN, dx, "dx");                                                      \
    c.be->FIELD(x.buf(), dy.buf(), dx.buf(), x.numel());                           \
  }
UNARY(gelu, gelu_fwd)
UNARY(relu, relu_fwd)
UNARY(tanh_op, tanh_fwd)
UNARY_BWD(gelu_bwd, gelu_bwd, "x")
UNARY_BWD(relu_bwd, relu_bwd, "x")
UNARY_BWD(tanh_bwd, tanh_bwd, "y")

OP(leaky_relu) {
  argc(c, info, 4);
  Tensor &x = tensor_arg(c, info[1], "x"), &y = tensor_arg(c, info[2], "y");
  same(c, x, "x", y, "y");
  c.be->leaky_relu_fwd(x.buf(), y.buf(), x.numel(), static_cast<float>(number_arg(c, info[3], "slope")));
}
OP(leaky_relu_bwd) {
  argc(c, info, 5);
  Tensor &x = tensor_arg(c, info[1], "x"), &dy = tensor_arg(c, info[2], "dy"), &dx = tensor_arg(c, info[3], "dx");
  same(c, x, "x", dy, "dy");
  same(c, x, "x", dx, "dx");
  c.be->leaky_relu_bwd(x.buf(), dy.buf(), dx.buf(), x.numel(), static_cast<float>(number_arg(c, info[4], "slope")));
}

float prob_arg(const OpCtx& c, const Napi::Value& v) {
  const double p = number_arg(c, v, "p");
  BIOFEG_CHECK(p >= 0 && p < 1, c.op, ": dropout probability must be in [0, 1), got ", p);
  return static_cast<float>(p);
}
OP(dropout) {
  argc(c, info, 6);
  Tensor &x = tensor_arg(c, info[1], "x"), &y = tensor_arg(c, info[2], "y");
  same(c, x, "x", y, "y");
  c.be->dropout_fwd(x.buf(), y.buf(), x.numel(), prob_arg(c, info[3]), u64_arg(c, info[4], "seed"),
                    u64_arg(c, info[5], "offset"));
}
OP(dropout_bwd) {
  argc(c, info, 6);
  Tensor &dy = tensor_arg(c, info[1], "dy"), &dx = tensor_arg(c, info[2], "dx");
  same(c, dy, "dy", dx, "dx");
  c.be->dropout_bwd(dy.buf(), dx.buf(), dy.numel(), prob_arg(c, info[3]), u64_arg(c, info[4], "seed"),
                    u64_arg(c, info[5], "offset"));
}

// Row statistics: f32 with one entry per row of x.
void stats(const OpCtx& c, const Tensor& s, const char* name, int64_t rows) {
  expect_f32(c, s, name);
  expect_numel(c, s, name, rows);
}

OP(layernorm) {
  argc(c, info, 8);
  Tensor &x = tensor_arg(c, info[1], "x"), &w = tensor_arg(c, info[2], "weight"), &b = tensor_arg(c, info[3], "bias");
  Tensor &y = tensor_arg(c, info[4], "y"), &mean = tensor_arg(c, info[5], "mean"), &rstd = tensor_arg(c, info[6], "rstd");
  const double eps = number_arg(c, info[7], "eps");
  BIOFEG_CHECK(eps > 0, c.op, ": eps must be positive");
  same(c, x, "x", y, "y");
  const int64_t N = rows_of(x), C = cols_of(x);
  same(c, w, "weight", b, "bias");
  expect_same_dtype(c, x, "x", w, "weight");
  expect_numel(c, w, "weight", C);
  stats(c, mean, "mean", N);
  stats(c, rstd, "rstd", N);
  c.be->layernorm_fwd(x.buf(), w.buf(), b.buf(), y.buf(), mean.buf().f32(), rstd.buf().f32(), N, C, static_cast<float>(eps));
}

OP(layernorm_bwd) {
  argc(c, info, 9);
  Tensor &dy = tensor_arg(c, info[1], "dy"), &x = tensor_arg(c, info[2], "x"), &w = tensor_arg(c, info[3], "weight");
  Tensor &mean = tensor_arg(c, info[4], "mean"), &rstd = tensor_arg(c, info[5], "rstd");
  Tensor &dx = tensor_arg(c, info[6], "dx"), &dw = tensor_arg(c, info[7], "dweight"), &db = tensor_arg(c, info[8], "dbias");
  same(c, x, "x", dy, "dy");
  same(c, x, "x", dx, "dx");
  const int64_t N = rows_of(x), C = cols_of(x);
  acc_arg(c, dw, "dweight", w, "weight");
  acc_arg(c, db, "dbias", w, "weight");
  expect_numel(c, dw, "dweight", C);
  expect_numel(c, db, "dbias", C);
  expect_same_dtype(c, x, "x", w, "weight");
  expect_numel(c, w, "weight", C);
  stats(c, mean, "mean", N);
  stats(c, rstd, "rstd", N);
  c.be->layernorm_bwd(dy.buf(), x.buf(), w.buf(), mean.buf().f32(), rstd.buf().f32(), dx.buf(), dw.buf(), db.buf(), N, C);
}

void check_ids(const OpCtx& c, const Tensor& ids, const char* name, int64_t limit) {
  expect_i32(c, ids, name);
  const std::vector<int32_t> v = host_ints(ids);
  for (size_t i = 0; i < v.size(); ++i)
    BIOFEG_CHECK(v[i] >= 0 && v[i] < limit, c.op, ": ", name, "[", i, "] = ", v[i], " is outside [0, ", limit, ")");
}

OP(embedding) {
  argc(c, info, 4);
  Tensor &ids = tensor_arg(c, info[1], "ids"), &table = tensor_arg(c, info[2], "table"), &y = tensor_arg(c, info[3], "y");
  expect_rank(c, table, "table", {2});
  float_arg(c, table, "table");
  expect_same_dtype(c, table, "table", y, "y");
  const int64_t N = ids.numel(), C = table.shape[1];
  check_ids(c, ids, "ids", table.shape[0]);
  expect_numel(c, y, "y", N * C);
  c.be->embedding_fwd(ids.buf().i32(), table.buf(), y.buf(), N, C);
}

OP(embedding_bwd) {
  argc(c, info, 4);
  Tensor &ids = tensor_arg(c, info[1], "ids"), &dy = tensor_arg(c, info[2], "dy"), &dt = tensor_arg(c, info[3], "dtable");
  expect_rank(c, dt, "dtable", {2});
  float_arg(c, dy, "dy");
  acc_arg(c, dt, "dtable", dy, "dy");
  const int64_t N = ids.numel(), C = dt.shape[1];
  check_ids(c, ids, "ids", dt.shape[0]);
  expect_numel(c, dy, "dy", N * C);
  c.be->embedding_bwd(ids.buf().i32(), dy.buf(), dt.buf(), N, C);
}

OP(concat) {
  argc(c, info, 4);
  Tensor &a = tensor_arg(c, info[1], "a"), &b = tensor_arg(c, info[2], "b"), &y = tensor_arg(c, info[3], "y");
  float_arg(c, a, "a");
  expect_same_dtype(c, a, "a", b, "b");
  expect_same_dtype(c, a, "a", y, "y");
  const int64_t N = rows_of(a), Ca = cols_of(a), Cb = cols_of(b);
  BIOFEG_CHECK(rows_of(b) == N && rows_of(y) == N && cols_of(y) == Ca + Cb, c.op, ": y ", y.describe(),
               " must hold the rows of a ", a.describe(), " and b ", b.describe(), " side by side");
  c.be->concat_fwd(a.buf(), b.buf(), y.buf(), N, Ca, Cb);
}

OP(concat_bwd) {
  argc(c, info, 4);
  Tensor &dy = tensor_arg(c, info[1], "dy"), &da = tensor_arg(c, info[2], "da"), &db = tensor_arg(c, info[3], "db");
  float_arg(c, dy, "dy");
  expect_same_dtype(c, dy, "dy", da, "da");
  expect_same_dtype(c, dy, "dy", db, "db");
  const int64_t N = rows_of(da), Ca = cols_of(da), Cb = cols_of(db);
  BIOFEG_CHECK(rows_of(db) == N && rows_of(dy) == N && cols_of(dy) == Ca + Cb, c.op, ": dy ", dy.describe(),
               " must hold the rows of da ", da.describe(), " and db ", db.describe(), " side by side");
  c.be->concat_bwd(dy.buf(), da.buf(), db.buf(), N, Ca, Cb);
}

void check_targets(const OpCtx& c, const Tensor& t, int64_t N, int64_t C) {
  expect_i32(c, t, "targets");
  expect_numel(c, t, "targets", N);
  const std::vector<int32_t> v = host_ints(t);
  for (size_t i = 0; i < v.size(); ++i)
    BIOFEG_CHECK(v[i] < C, c.op, ": targets[", i, "] = ", v[i], " is not below the class count ", C,
                 " (negative ignores a row)");
}

OP(xent) {
  argc(c, info, 4);
  Tensor &x = tensor_arg(c, info[1], "logits"), &t = tensor_arg(c, info[2], "targets"), &l = tensor_arg(c, info[3], "loss");
  float_arg(c, x, "logits");
  expect_rank(c, x, "logits", {2});
  const int64_t N = x.shape[0], C = x.shape[1];
  check_targets(c, t, N, C);
  stats(c, l, "loss", N);
  c.be->xent_fwd(x.buf(), t.buf().i32(), l.buf().f32(), N, C);
}

OP(xent_bwd) {
  argc(c, info, 5);
  Tensor &x = tensor_arg(c, info[1], "logits"), &t = tensor_arg(c, info[2], "targets");
  Tensor &dl = tensor_arg(c, info[3], "dloss"), &dx = tensor_arg(c, info[4], "dlogits");
  same(c, x, "logits", dx, "dlogits");
  expect_rank(c, x, "logits", {2});
  const int64_t N = x.shape[0], C = x.shape[1];
  check_targets(c, t, N, C);
  stats(c, dl, "dloss", N);
  c.be->xent_bwd(x.buf(), t.buf().i32(), dl.buf().f32(), dx.buf(), N, C);
}

OP(mse) {
  argc(c, info, 4);
  Tensor &a = tensor_arg(c, info[1], "a"), &b = tensor_arg(c, info[2], "b"), &o = tensor_arg(c, info[3], "out");
  same(c, a, "a", b, "b");
  stats(c, o, "out", 1);
  c.be->mse_fwd(a.buf(), b.buf(), o.buf().f32(), a.numel());
}

OP(mse_bwd) {
  argc(c, info, 5);
  Tensor &a = tensor_arg(c, info[1], "a"), &b = tensor_arg(c, info[2], "b");
  const float dout = static_cast<float>(number_arg(c, info[3], "dout"));
  Tensor& da = tensor_arg(c, info[4], "da");
  same(c, a, "a", b, "b");
  same(c, a, "a", da, "da");
  c.be->mse_bwd(a.buf(), b.buf(), dout, da.buf(), a.numel());
}

OP(row_axpy) {
  argc(c, info, 4);
  Tensor &a = tensor_arg(c, info[1], "a"), &x = tensor_arg(c, info[2], "x"), &y = tensor_arg(c, info[3], "y");
  same(c, x, "x", y, "y");
  const int64_t N = rows_of(x), C = cols_of(x);
  stats(c, a, "a", N);
  c.be->row_axpy(a.buf().f32(), x.buf(), y.buf(), N, C);
}

OP(grad_penalty) {
  argc(c, info, 5);
  Tensor& g = tensor_arg(c, info[1], "g");
  const double lambda = number_arg(c, info[2], "lambda");
  Tensor &u = tensor_arg(c, info[3], "u"), &norms = tensor_arg(c, info[4], "norms");
  same(c, g, "g", u, "u");
  const int64_t N = rows_of(g), C = cols_of(g);
  stats(c, norms, "norms", N);
  c.be->grad_penalty(g.buf(), static_cast<float>(lambda), u.buf(), norms.buf().f32(), N, C);
}

AttnDesc attn_desc(const OpCtx& c, const Tensor& qkv, Tensor* mask, const Tensor& out, const Tensor& lse,
                   const Napi::Object& o) {
  float_arg(c, qkv, "qkv");
  expect_rank(c, qkv, "qkv", {5});
  BIOFEG_CHECK(qkv.shape[2] == 3, c.op, ": qkv must be [B, T, 3, H, D], got ", qkv.describe());
  AttnDesc d;
  d.B = qkv.shape[0], d.T = qkv.shape[1], d.H = qkv.shape[3], d.D = qkv.shape[4];
  expect_same_dtype(c, qkv, "qkv", out, "out");
  expect_shape(c, out, "out", {d.B, d.T, d.H, d.D});
  expect_f32(c, lse, "lse");
  expect_shape(c, lse, "lse", {d.B, d.H, d.T});
  if (mask) {
    expect_i32(c, *mask, "mask");
    expect_shape(c, *mask, "mask", {d.B, d.T});
    d.mask = mask->buf();
  }
  d.scale = static_cast<float>(option(c, o, "scale", 1.0 / std::sqrt(static_cast<double>(d.D ? d.D : 1))));
  const double p = option(c, o, "dropout", 0.0);
  BIOFEG_CHECK(p >= 0 && p < 1, c.op, ": dropout must be in [0, 1), got ", p);
  d.dropout_p = static_cast<float>(p);
  d.seed = o.Get("seed").IsUndefined() ? 0 : u64_arg(c, o.Get("seed"), "seed");
  d.offset = o.Get("offset").IsUndefined() ? 0 : u64_arg(c, o.Get("offset"), "offset");
  d.qkv = qkv.buf(), d.out = out.buf(), d.lse = lse.buf();
  return d;
}

OP(attention) {
  argc(c, info, 5);
  Tensor& qkv = tensor_arg(c, info[1], "qkv");
  Tensor* mask = optional_tensor(c, info[2], "mask");
  Tensor &out = tensor_arg(c, info[3], "out"), &lse = tensor_arg(c, info[4], "lse");
  c.be->attention_fwd(attn_desc(c, qkv, mask, out, lse, options_arg(c, info, 5)));
}

OP(attention_bwd) {
  argc(c, info, 7);
  Tensor& qkv = tensor_arg(c, info[1], "qkv");
  Tensor* mask = optional_tensor(c, info[2], "mask");
  Tensor &out = tensor_arg(c, info[3], "out"), &dout = tensor_arg(c, info[4], "dout");
  Tensor &lse = tensor_arg(c, info[5], "lse"), &dqkv = tensor_arg(c, info[6], "dqkv");
  AttnDesc d = attn_desc(c, qkv, mask, out, lse, options_arg(c, info, 7));
  same(c, out, "out", dout, "dout");
  same(c, qkv, "qkv", dqkv, "dqkv");
  d.dout = dout.buf(), d.dqkv = dqkv.buf();
  c.be->attention_bwd(d);
}

OP(adamw) {
  argc(c, info, 6);
  Tensor &p = tensor_arg(c, info[1], "param"), &g = tensor_arg(c, info[2], "grad");
  Tensor &m = tensor_arg(c, info[3], "m"), &v = tensor_arg(c, info[4], "v");
  Tensor* mask = optional_tensor(c, info[5], "decayMask");
  Napi::Object o = options_arg(c, info, 6);
  for (auto [t, n] : {std::pair<Tensor*, const char*>{&p, "param"}, {&g, "grad"}, {&m, "m"}, {&v, "v"}}) {
    expect_f32(c, *t, n);
    expect_numel(c, *t, n, p.numel());
  }
  AdamWDesc d;
  if (mask) {
    expect_f32(c, *mask, "decayMask");
    expect_numel(c, *mask, "decayMask", p.numel());
    d.decay_mask = mask->buf().f32();
  }
  d.param = p.buf().f32(), d.grad = g.buf().f32(), d.m = m.buf().f32(), d.v = v.buf().f32();
  d.n = p.numel();
  d.lr = static_cast<float>(option(c, o, "lr", 1e-3));
  d.beta1 = static_cast<float>(option(c, o, "beta1", 0.9));
  d.beta2 = static_cast<float>(option(c, o, "beta2", 0.999));
  d.eps = static_cast<float>(option(c, o, "eps", 1e-6));
  d.weight_decay = static_cast<float>(option(c, o, "weightDecay", 0.0));
  const double step = option(c, o, "step", 1.0);
  BIOFEG_CHECK(step >= 1 && step == std::floor(step), c.op, ": step must be an integer >= 1");
  BIOFEG_CHECK(d.beta1 >= 0 && d.beta1 < 1 && d.beta2 >= 0 && d.beta2 < 1, c.op, ": betas must be in [0, 1)");
  d.step = static_cast<int64_t>(step);
  d.bias_correction = flag(c, o, "biasCorrection", true);
  c.be->adamw(d);
}

OP(sumsq) {
  argc(c, info, 3);
  Tensor &x = tensor_arg(c, info[1], "x"), &o = tensor_arg(c, info[2], "out");
  float_arg(c, x, "x");
  stats(c, o, "out", 1);
  c.be->sumsq(x.buf(), x.numel(), o.buf().f32());
}

}  // namespace

TopkDesc topk_desc(const Napi::CallbackInfo& info, const OpCtx& c) {
  argc(c, info, 6);
  Tensor &q = tensor_arg(c, info[1], "queries"), &p = tensor_arg(c, info[2], "pool");
  const double k = number_arg(c, info[3], "k");
  Tensor &s = tensor_arg(c, info[4], "scores"), &ix = tensor_arg(c, info[5], "index");
  Napi::Object o = options_arg(c, info, 6);
  float_arg(c, q, "queries");
  // The fast CPU backend also takes a bf16 pool with f32 queries (each pool block widened to f32
  // scratch), so a large entity pool can be held in half the memory on the host.
  const bool host_bf16_pool = c.be == &cpu_backend() && q.dtype == DType::F32 && p.dtype == DType::BF16;
  if (!host_bf16_pool) expect_same_dtype(c, q, "queries", p, "pool");
  expect_rank(c, q, "queries", {2});
  expect_rank(c, p, "pool", {2});
  BIOFEG_CHECK(q.shape[1] == p.shape[1], c.op, ": queries ", q.describe(), " and pool ", p.describe(),
               " must have the same width");
  TopkDesc d;
  d.Q = q.shape[0], d.P = p.shape[0], d.D = q.shape[1];
  BIOFEG_CHECK(k >= 1 && k <= 1024 && k == std::floor(k), c.op, ": k must be an integer in [1, 1024], got ", k);
  d.k = static_cast<int64_t>(k);
  BIOFEG_CHECK(d.k <= d.P, c.op, ": k = ", d.k, " exceeds the pool size ", d.P);
  BIOFEG_CHECK(d.P < (int64_t(1) << 31), c.op, ": pools of 2^31 rows or more are not supported (i32 indices)");
  expect_f32(c, s, "scores");
  expect_shape(c, s, "scores", {d.Q, d.k});
  expect_i32(c, ix, "index");
  expect_shape(c, ix, "index", {d.Q, d.k});
  const double blk = option(c, o, "block", 0);
  BIOFEG_CHECK(blk >= 0 && blk == std::floor(blk), c.op, ": block must be a non-negative integer");
  d.block = static_cast<int64_t>(blk);
  if (d.block) BIOFEG_CHECK(d.block >= d.k, c.op, ": block must be at least k");
  d.queries = q.buf(), d.pool = p.buf(), d.scores = s.buf().f32(), d.index = ix.buf().i32();
  return d;
}

namespace {
OP(topk) { c.be->topk(topk_desc(info, c)); }

// Keeps the tensors alive while the worker runs off the event loop.
class TopkWorker : public Napi::AsyncWorker {
 public:
  TopkWorker(Napi::Env env, const OpCtx& c, TopkDesc d, std::vector<Tensor> keep)
      : Napi::AsyncWorker(env), deferred_(Napi::Promise::Deferred::New(env)), be_(c.be), d_(d), keep_(std::move(keep)) {}
  Napi::Promise promise() { return deferred_.Promise(); }
  void Execute() override {
    try {
      be_->topk(d_);
      if (be_->device == Device::CUDA) cuda::synchronize();
    } catch (const std::exception& e) {
      SetError(e.what());
    }
  }
  void OnOK() override { deferred_.Resolve(Env().Undefined()); }
  void OnError(const Napi::Error& e) override { deferred_.Reject(e.Value()); }

 private:
  Napi::Promise::Deferred deferred_;
  const Backend* be_;
  TopkDesc d_;
  std::vector<Tensor> keep_;
};

Napi::Value topk_async(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  try {
    OpCtx c = op_ctx(info, "topkAsync");
    TopkDesc d = topk_desc(info, c);
    std::vector<Tensor> keep;
    for (int i : {1, 2, 4, 5}) keep.push_back(TensorWrap::Unwrap(info[i].As<Napi::Object>())->get("topkAsync", "tensor"));
    auto* w = new TopkWorker(env, c, d, std::move(keep));
    Napi::Promise p = w->promise();
    w->Queue();
    return p;
  } catch (const std::exception& e) {
    Napi::Error::New(env, e.what()).ThrowAsJavaScriptException();
    return env.Undefined();
  }
}

}  // namespace

void register_ops(Napi::Env env, Napi::Object exports) {
  Napi::Object ops = Napi::Object::New(env);
  auto put = [&](const char* name, Napi::Function::Callback cb) { ops.Set(name, Napi::Function::New(env, cb, name)); };
#define REG(JS, FN)                                                                   \
  put(JS, [](const Napi::CallbackInfo& info) -> Napi::Value {                         \
    Napi::Env env = info.Env();                                                       \
    try {                                                                             \
      FN(info, op_ctx(info, JS));                                                     \
    } catch (const std::exception& e) {                                               \
      Napi::Error::New(env, e.what()).ThrowAsJavaScriptException();                   \
    }                                                                                 \
    return env.Undefined();                                                           \
  })
  REG("gemm", gemm);
  REG("biasGrad", bias_grad);
  REG("fill", fill);
  REG("cast", cast);
  REG("add", add);
  REG("axpy", axpy);
  REG("scale", scale);
  REG("gelu", gelu);
  REG("geluBackward", gelu_bwd);
  REG("relu", relu);
  REG("reluBackward", relu_bwd);
  REG("leakyRelu", leaky_relu);
  REG("leakyReluBackward", leaky_relu_bwd);
  REG("tanh", tanh_op);
  REG("tanhBackward", tanh_bwd);
  REG("dropout", dropout);
  REG("dropoutBackward", dropout_bwd);
  REG("layernorm", layernorm);
  REG("layernormBackward", layernorm_bwd);
  REG("embedding", embedding);
  REG("embeddingBackward", embedding_bwd);
  REG("concat", concat);
  REG("concatBackward", concat_bwd);
  REG("crossEntropy", xent);
  REG("crossEntropyBackward", xent_bwd);
  REG("mse", mse);
  REG("mseBackward", mse_bwd);
  REG("rowAxpy", row_axpy);
  REG("gradPenalty", grad_penalty);
  REG("attention", attention);
  REG("attentionBackward", attention_bwd);
  REG("adamw", adamw);
  REG("sumsq", sumsq);
  REG("topk", topk);
#undef REG
  ops.Set("topkAsync", Napi::Function::New(env, topk_async, "topkAsync"));
  exports.Set("ops", ops);
}

}  // namespace biofeg::js
