#include "bert.h"

#include <algorithm>
#include <cmath>
#include <cstring>

#include "../core/error.h"
#include "../op_table.h"

namespace biofeg {

namespace {

Buf at(Buf b, int64_t elems) {
  return Buf{static_cast<char*>(b.p) + elems * static_cast<int64_t>(dtype_size(b.t)), b.t};
}

// y[N, out] = x[N, in] W[out, in]^T + b (HF Linear), optionally through GELU (keeping `pre`).
void linear_fwd(const Backend& be, Buf x, Buf W, Buf b, Buf y, int64_t N, int64_t in, int64_t out,
                Epilogue ep = Epilogue::None, Buf pre = {}) {
  GemmDesc g;
  g.transB = true;
  g.M = N, g.N = out, g.K = in;
  g.A = x, g.lda = in;
  g.B = W, g.ldb = in;
  g.C = y, g.ldc = out;
  g.bias = b;
  g.epilogue = ep;
  g.pre = pre;
  op::gemm(be, g);
}

// dx[N, in] = dy[N, out] W[out, in] (+ beta * dx: beta 1 sums a residual branch in).
void linear_dx(const Backend& be, Buf dy, Buf W, Buf dx, int64_t N, int64_t in, int64_t out, float beta) {
  GemmDesc g;
  g.M = N, g.N = in, g.K = out;
  g.A = dy, g.lda = out;
  g.B = W, g.ldb = in;
  g.C = dx, g.ldc = in;
  g.beta = beta;
  op::gemm(be, g);
}

// dW[out, in] += dy^T x (the bias gradient is a separate bias_grad: in mixed precision it sums
// the f32 dy where there is one).
void linear_dw(const Backend& be, Buf dy, Buf x, Buf dW, int64_t N, int64_t in, int64_t out) {
  GemmDesc g;
  g.transA = true;
  g.M = out, g.N = in, g.K = N;
  g.A = dy, g.lda = out;
  g.B = x, g.ldb = in;
  g.C = dW, g.ldc = in;
  g.beta = 1.0f;
  op::gemm(be, g);
}

// Dropout call sites get disjoint Philox counter ranges, so every mask is independent and
// backward regenerates exactly the forward's mask from (seed, site).
constexpr int kSiteShift = 40;
uint64_t site_offset(int64_t site) { return static_cast<uint64_t>(site) << kSiteShift; }
int64_t site_emb() { return 0; }
int64_t site_attn_probs(int64_t l) { return 1 + 3 * l; }
int64_t site_attn_out(int64_t l) { return 2 + 3 * l; }
int64_t site_ffn_out(int64_t l) { return 3 + 3 * l; }

}  // namespace

void BertConfig::validate() const {
  auto pos = [](int64_t v, const char* n) { BIOFEG_CHECK(v >= 1, "bert config: ", n, " must be >= 1, got ", v); };
  pos(vocab, "vocab");
  pos(hidden, "hidden");
  pos(layers, "layers");
  pos(heads, "heads");
  pos(intermediate, "intermediate");
  pos(max_pos, "max_pos");
  pos(type_vocab, "type_vocab");
  BIOFEG_CHECK(hidden % heads == 0, "bert config: hidden (", hidden, ") must be a multiple of heads (", heads, ")");
  BIOFEG_CHECK(layers <= 1000, "bert config: layers must be <= 1000, got ", layers);
  BIOFEG_CHECK(std::isfinite(ln_eps) && ln_eps > 0, "bert config: ln_eps must be positive");
  for (float p : {hidden_dropout, attn_dropout})
    BIOFEG_CHECK(p >= 0 && p < 1, "bert config: dropout probabilities must be in [0, 1), got ", p);
  // Every parameter count must stay far from overflow; 2^36 floats is 256 GiB.
  const double total = static_cast<double>(vocab + max_pos + type_vocab) * hidden +
                       static_cast<double>(layers) * (4.0 * hidden * hidden + 2.0 * hidden * intermediate) +
                       static_cast<double>(hidden) * hidden;
  BIOFEG_CHECK(total < 68719476736.0, "bert config: the model is too large (", total, " parameters)");
}

BertModel::BertModel(const BertConfig& cfg, const Backend& be, DType act) : cfg_(cfg), be_(be), act_(act) {
  cfg_.validate();
  BIOFEG_CHECK(act == DType::F32 || act == DType::BF16, "bert: compute precision must be f32 or bf16, got ",
               dtype_name(act));
  const int64_t V = cfg.vocab, C = cfg.hidden, I = cfg.intermediate;

  // Flat layout (our order), recorded as HF-named views (HF order) below.
  int64_t off = 0;
  auto take = [&](int64_t n) {
    const int64_t o = off;
    off += n;
    return o;
  };
  o_word_ = take(V * C);
  o_pos_ = take(cfg.max_pos * C);
  o_type_ = take(cfg.type_vocab * C);
  o_eln_w_ = take(C);
  o_eln_b_ = take(C);
  for (int64_t l = 0; l < cfg.layers; ++l) {
    Layer y{};
    y.wqkv = take(3 * C * C);  // query, key, value weights back to back: [3C, C]
    y.bqkv = take(3 * C);
    y.wo = take(C * C);
    y.bo = take(C);
    y.ln1w = take(C);
    y.ln1b = take(C);
    y.wi = take(I * C);
    y.bi = take(I);
    y.wout = take(C * I);
    y.bout = take(C);
    y.ln2w = take(C);
    y.ln2b = take(C);
    layers_.push_back(y);
  }
  if (cfg.pooler) {
    o_pool_w_ = take(C * C);
    o_pool_b_ = take(C);
  }
  nparams_ = off;

  auto add = [&](const std::string& n, std::vector<int64_t> shape, int64_t o) {
    layout_.push_back(ParamView{n, std::move(shape), o});
  };
  add("embeddings.word_embeddings.weight", {V, C}, o_word_);
  add("embeddings.position_embeddings.weight", {cfg.max_pos, C}, o_pos_);
  add("embeddings.token_type_embeddings.weight", {cfg.type_vocab, C}, o_type_);
  add("embeddings.LayerNorm.weight", {C}, o_eln_w_);
  add("embeddings.LayerNorm.bias", {C}, o_eln_b_);
  for (int64_t l = 0; l < cfg.layers; ++l) {
    const Layer& y = layers_[l];
    const std::string p = "encoder.layer." + std::to_string(l) + ".";
    const char* qkv[3] = {"query", "key", "value"};
    for (int k = 0; k < 3; ++k) {
      add(p + "attention.self." + qkv[k] + ".weight", {C, C}, y.wqkv + k * C * C);
      add(p + "attention.self." + qkv[k] + ".bias", {C}, y.bqkv + k * C);
    }
    add(p + "attention.output.dense.weight", {C, C}, y.wo);
    add(p + "attention.output.dense.bias", {C}, y.bo);
    add(p + "attention.output.LayerNorm.weight", {C}, y.ln1w);
    add(p + "attention.output.LayerNorm.bias", {C}, y.ln1b);
    add(p + "intermediate.dense.weight", {I, C}, y.wi);
    add(p + "intermediate.dense.bias", {I}, y.bi);
    add(p + "output.dense.weight", {C, I}, y.wout);
    add(p + "output.dense.bias", {C}, y.bout);
    add(p + "output.LayerNorm.weight", {C}, y.ln2w);
    add(p + "output.LayerNorm.bias", {C}, y.ln2b);
  }
  if (cfg.pooler) {
    add("pooler.dense.weight", {C, C}, o_pool_w_);
    add("pooler.dense.bias", {C}, o_pool_b_);
  }

  params_ = Tensor::empty(be.device, DType::F32, {nparams_});
  o_enc_ = layers_[0].wqkv;  // the embedding tables are read in f32: no bf16 copy of them
  if (mixed()) wcopy_ = Tensor::empty(be.device, act_, {nparams_ - o_enc_});
  // LayerNorm weights start at 1 (HF's init); everything else stays 0 until weights are loaded.
  for (const ParamView& v : layout_)
    if (v.name.find("LayerNorm.weight") != std::string::npos) op::fill(be, at(params_.buf(), v.offset), v.numel(), 1.0f);
}

Buf BertModel::w(int64_t off) const {
  if (!mixed()) return at(params_.buf(), off);
  BIOFEG_CHECK(off >= o_enc_, "bert: internal: no bf16 copy of parameter offset ", off);
  return at(wcopy_.buf(), off - o_enc_);
}
Buf BertModel::p(int64_t off) const { return at(params_.buf(), off); }
Buf BertModel::g(int64_t off) const { return at(grads_.buf(), off); }
Tensor BertModel::act(int64_t n) const { return Tensor::empty(be_.device, act_, {n}); }
Tensor BertModel::f32(int64_t n) const { return Tensor::empty(be_.device, DType::F32, {n}); }
Tensor BertModel::i32(int64_t n) const { return Tensor::empty(be_.device, DType::I32, {n}); }

Buf BertModel::to_gemm(const Tensor& x, const Tensor& shadow, int64_t n) {
  if (!mixed()) return x.buf();
  op::cast(be_, x.buf(), shadow.buf(), n);
  return shadow.buf();
}

void BertModel::hidden_dropout(Buf x, Buf y, int64_t rows, int64_t T, bool cls, uint64_t seed, int64_t site,
                               bool bwd) const {
  const int64_t C = cfg_.hidden;
  const float ph = cfg_.hidden_dropout;
  const uint64_t base = site_offset(site);
  auto one = [&](Buf a, Buf b, int64_t n, uint64_t off) {
    if (bwd) op::dropout_bwd(be_, a, b, n, ph, seed, off);
    else op::dropout_fwd(be_, a, b, n, ph, seed, off);
  };
  if (!cls) return one(x, y, rows * C, base);
  for (int64_t b = 0; b < rows; ++b) one(at(x, b * C), at(y, b * C), C, base + static_cast<uint64_t>(b * T * C));
}

// The gradient buffer exists from the first use on (backward, zero_grad, grads()): a model that
// only encodes (eval, serving) never holds a second copy of its parameters' size.
Tensor& BertModel::grads() {
  if (!grads_.st) grads_ = Tensor::empty(be_.device, DType::F32, {nparams_});  // zero-filled
  return grads_;
}

void BertModel::zero_grad() {
  if (grads_.st) op::fill(be_, grads_.buf(), nparams_, 0.0f);
}

void BertModel::reserve(int64_t B, int64_t T) { reserve_plan(B, T, cfg_.layers, true); }

// Grows the plan to hold B sequences of T tokens, `sets` layers of activations and (if grad)
// the backward scratch. A larger capacity re-plans everything (previous outputs stay valid for
// whoever holds them, but backward needs a new forward).
void BertModel::reserve_plan(int64_t B, int64_t T, int64_t sets, bool grad) {
  BIOFEG_CHECK(B >= 1 && T >= 1, "bert: batch and seq must be >= 1, got ", B, " x ", T);
  BIOFEG_CHECK(T <= cfg_.max_pos, "bert: seq ", T, " exceeds max_position_embeddings ", cfg_.max_pos);
  BIOFEG_CHECK(B <= (int64_t(1) << 24) / T, "bert: batch x seq = ", B, " x ", T, " is too large");
  const int64_t C = cfg_.hidden, I = cfg_.intermediate, H = cfg_.heads;
  if (B > plan_.capB || B * T > plan_.capN) {
    const int64_t capB = std::max(B, plan_.capB), N = std::max(B * T, plan_.capN);
    sets = std::max<int64_t>(sets, static_cast<int64_t>(plan_.L.size()));
    grad = grad || plan_.g_out.st;
    plan_ = Plan();  // free the old plan first
    fwdB_ = fwdT_ = 0;
    Plan Q;
    Q.capB = capB, Q.capN = N;
    Q.ids = i32(N), Q.pos = i32(N), Q.types = i32(N), Q.mask = i32(N), Q.cls_idx = i32(capB);
    // The residual stream is f32 in both precisions; act() holds the GEMM-side tensors.
    Q.emb_sum = f32(N * C), Q.emb_ln = f32(N * C), Q.emb_out = f32(N * C), Q.tmp = f32(N * C);
    Q.emb_mean = f32(N), Q.emb_rstd = f32(N), Q.h = act(N * I);
    Q.cls = f32(capB * C);
    Q.att_cls = act(capB * C), Q.x_cls = f32(capB * C);
    if (cfg_.pooler) Q.pool_pre = f32(capB * C), Q.pooled = f32(capB * C);
    if (mixed()) Q.emb_h = act(N * C), Q.cls_h = act(capB * C);
    plan_ = std::move(Q);
  }
  Plan& P = plan_;
  const int64_t N = P.capN;
  while (static_cast<int64_t>(P.L.size()) < sets) {
    LayerActs a;
    a.qkv = act(N * 3 * C), a.att = act(N * C), a.lse = f32(N * H);
    a.res1 = f32(N * C), a.ln1 = f32(N * C), a.mean1 = f32(N), a.rstd1 = f32(N);
    a.pre = act(N * I);
    a.res2 = f32(N * C), a.out = f32(N * C), a.mean2 = f32(N), a.rstd2 = f32(N);
    if (mixed()) a.ln1_h = act(N * C), a.out_h = act(N * C);
    P.L.push_back(std::move(a));
  }
  if (grad && !P.g_out.st) {
    P.g_out = f32(N * C), P.g_res = f32(N * C), P.g_drop = f32(N * C), P.g_att = act(N * C);
    P.g_h = act(N * I), P.g_pre = act(N * I), P.g_qkv = act(N * 3 * C);
    P.g_cls = f32(P.capB * C), P.g_pool = f32(P.capB * C);
    if (mixed()) P.g_yh = act(N * C);
  }
}

std::vector<int32_t> BertModel::packed_rows(const BertInputs& in) const {
  std::vector<int32_t> rows;
  if (!in.skip_padding || in.grad || in.train || !in.cls_only || !in.mask) return rows;
  // The layouts are joined by row gathers (the embedding op) in the activation dtype.
  if (!be_.caps.floats_of(Op::embedding_fwd).has(act_)) return rows;
  const int64_t B = in.B, T = in.T, N = B * T;
  for (int64_t b = 0; b < B; ++b)
    if (in.mask[b * T] != 1) return rows;  // a padded [CLS]: computed as HF does, in full
  int64_t real = 0;
  for (int64_t i = 0; i < N; ++i) real += in.mask[i];
  if (real * 16 > N * 15) return rows;  // under 1/16 padding: the gathers would cost more than they save
  rows.reserve(static_cast<size_t>(real));
  for (int64_t i = 0; i < N; ++i)
    if (in.mask[i]) rows.push_back(static_cast<int32_t>(i));
  return rows;
}

void BertModel::forward(const BertInputs& in) {
  const int64_t B = in.B, T = in.T;
  BIOFEG_CHECK(in.ids, "bert forward: input ids are required");
  BIOFEG_CHECK(B >= 1 && T >= 1, "bert forward: batch and seq must be >= 1, got ", B, " x ", T);
  BIOFEG_CHECK(T <= cfg_.max_pos, "bert forward: seq ", T, " exceeds max_position_embeddings ", cfg_.max_pos);
  BIOFEG_CHECK(B <= (int64_t(1) << 24) / T, "bert forward: batch x seq = ", B, " x ", T, " is too large");
  const int64_t N = B * T, C = cfg_.hidden, I = cfg_.intermediate, H = cfg_.heads, D = C / H;
  for (int64_t i = 0; i < N; ++i) {
    BIOFEG_CHECK(in.ids[i] >= 0 && in.ids[i] < cfg_.vocab, "bert forward: inputIds[", i, "] = ", in.ids[i],
                 " is outside [0, ", cfg_.vocab, ")");
    if (in.types)
      BIOFEG_CHECK(in.types[i] >= 0 && in.types[i] < cfg_.type_vocab, "bert forward: tokenTypeIds[", i, "] = ",
                   in.types[i], " is outside [0, ", cfg_.type_vocab, ")");
    if (in.mask)
      BIOFEG_CHECK(in.mask[i] == 0 || in.mask[i] == 1, "bert forward: attentionMask[", i, "] = ", in.mask[i],
                   " must be 0 or 1");
  }
  // Without grad, layers take turns between two activation sets (inference keeps 2, not L).
  const int64_t sets = in.grad ? cfg_.layers : std::min<int64_t>(cfg_.layers, 2);
  reserve_plan(B, T, sets, false);
  fwdB_ = fwdT_ = 0;  // invalid until this forward completes
  Plan& P = plan_;
  const Backend& be = be_;

  // Inputs to the device: ids, positions 0..T-1, token types (default 0), key mask, [CLS] rows;
  // when padding is skipped, ids/positions/types of the real tokens only (Nr rows) and the maps.
  const std::vector<int32_t> real = packed_rows(in);
  const bool packed = !real.empty();
  const int64_t Nr = packed ? static_cast<int64_t>(real.size()) : N;
  std::vector<int32_t> host(static_cast<size_t>(N));
  auto upload_rows = [&](Tensor& t, const int32_t* v) {
    if (!packed) return t.upload(v, N * 4);
    std::vector<int32_t> g(static_cast<size_t>(Nr));
    for (int64_t j = 0; j < Nr; ++j) g[j] = v[real[j]];
    t.upload(g.data(), Nr * 4);
  };
  // Positions, default token types and [CLS] rows depend on the shape alone: uploaded again only
  // after a new plan, shape or a packed forward (on CUDA each upload waits for the stream).
  const bool same_shape = !packed && P.constB == B && P.constT == T;
  upload_rows(P.ids, in.ids);
  if (!same_shape) {
    for (int64_t i = 0; i < N; ++i) host[i] = static_cast<int32_t>(i % T);
    upload_rows(P.pos, host.data());
  }
  if (in.types) {
    upload_rows(P.types, in.types);
  } else if (!(same_shape && P.const_types)) {
    std::fill(host.begin(), host.end(), 0);
    upload_rows(P.types, host.data());
  }
  std::fill(host.begin(), host.end(), 1);
  P.mask.upload(in.mask ? in.mask : host.data(), N * 4);
  if (!same_shape) {
    for (int64_t b = 0; b < B; ++b) host[b] = static_cast<int32_t>(b * T);
    P.cls_idx.upload(host.data(), B * 4);
  }
  P.constB = packed ? 0 : B, P.constT = packed ? 0 : T, P.const_types = !packed && !in.types;
  if (packed) {
    if (!P.qkv_pad.st) {
      P.qkv_pad = act(P.capN * 3 * C), P.att_pad = act(P.capN * C);
      P.to_packed = i32(P.capN), P.to_padded = i32(P.capN), P.cls_packed = i32(P.capB);
    }
    P.to_padded.upload(real.data(), Nr * 4);
    // Padded positions read their sequence's [CLS] row: finite values that the mask hides.
    for (int64_t j = 0, b = -1; j < Nr; ++j) {
      const int64_t i = real[j];
      if (i / T != b) b = i / T, host[b] = static_cast<int32_t>(j);
    }
    P.cls_packed.upload(host.data(), B * 4);
    std::vector<int32_t> to_packed(static_cast<size_t>(N));
    for (int64_t i = 0, j = 0; i < N; ++i) {
      if (j < Nr && real[j] == i) to_packed[i] = static_cast<int32_t>(j++);
      else to_packed[i] = host[i / T];
    }
    P.to_packed.upload(to_packed.data(), N * 4);
  }

  const bool drop_h = in.train && cfg_.hidden_dropout > 0, drop_a = in.train && cfg_.attn_dropout > 0;
  const float ph = cfg_.hidden_dropout;
  const uint64_t seed = in.seed;
  // Mixed precision: this step's bf16 working copy of the encoder and pooler weights (kept from
  // the last forward when the model keeps it and nothing may have changed the weights since).
  if (mixed() && !(keep_wcopy_ && wcopy_fresh_)) op::cast(be, p(o_enc_), wcopy_.buf(), nparams_ - o_enc_);
  wcopy_fresh_ = keep_wcopy_ && !in.grad && !in.train;

  // Embeddings: word + position + type, LayerNorm, dropout.
  op::embedding_fwd(be, P.ids.buf(), p(o_word_), P.emb_sum.buf(), Nr, C, cfg_.vocab);
  op::embedding_fwd(be, P.pos.buf(), p(o_pos_), P.tmp.buf(), Nr, C, cfg_.max_pos);
  op::axpy(be, 1.0f, P.tmp.buf(), P.emb_sum.buf(), Nr * C);
  op::embedding_fwd(be, P.types.buf(), p(o_type_), P.tmp.buf(), Nr, C, cfg_.type_vocab);
  op::axpy(be, 1.0f, P.tmp.buf(), P.emb_sum.buf(), Nr * C);
  op::layernorm_fwd(be, P.emb_sum.buf(), p(o_eln_w_), p(o_eln_b_), P.emb_ln.buf(), P.emb_mean.buf(),
                   P.emb_rstd.buf(), Nr, C, cfg_.ln_eps);
  const Tensor* xt = &P.emb_ln;  // the layer input (f32) ...
  if (drop_h) {
    op::dropout_fwd(be, P.emb_ln.buf(), P.emb_out.buf(), N * C, ph, seed, site_offset(site_emb()));
    xt = &P.emb_out;
  }
  Buf xh = to_gemm(*xt, P.emb_h, Nr * C);  // ... and as a GEMM input

  for (int64_t l = 0; l < cfg_.layers; ++l) {
    const Layer& Y = layers_[l];
    LayerActs& A = P.L[in.grad ? l : l % sets];
    // Self-attention on packed qkv [B, T, 3, H, D].
    const Buf x = xt->buf();
    linear_fwd(be, xh, w(Y.wqkv), p(Y.bqkv), A.qkv.buf(), Nr, C, 3 * C);
    // Packed: attention runs on the padded layout, gathered from and back to the real rows.
    if (packed) op::embedding_fwd(be, P.to_packed.buf(), A.qkv.buf(), P.qkv_pad.buf(), N, 3 * C, Nr);
    const Buf att_full = packed ? P.att_pad.buf() : A.att.buf();
    AttnDesc d;
    d.B = B, d.T = T, d.H = H, d.D = D;
    d.scale = static_cast<float>(1.0 / std::sqrt(static_cast<double>(D)));
    d.dropout_p = drop_a ? cfg_.attn_dropout : 0.0f;
    d.seed = seed, d.offset = site_offset(site_attn_probs(l));
    d.qkv = packed ? P.qkv_pad.buf() : A.qkv.buf(), d.mask = P.mask.buf(), d.out = att_full, d.lse = A.lse.buf();
    op::attention_fwd(be, d);
    // cls_only: after attention, the last layer goes on with the [CLS] rows alone (R rows).
    const bool cls_rows = in.cls_only && l + 1 == cfg_.layers;
    const int64_t R = cls_rows ? B : Nr;
    Buf att = A.att.buf(), xr = x;
    if (cls_rows) {
      op::embedding_fwd(be, P.cls_idx.buf(), att_full, P.att_cls.buf(), B, C, N);
      op::embedding_fwd(be, packed ? P.cls_packed.buf() : P.cls_idx.buf(), x, P.x_cls.buf(), B, C, Nr);
      att = P.att_cls.buf(), xr = P.x_cls.buf();
    } else if (packed) {
      op::embedding_fwd(be, P.to_padded.buf(), att_full, A.att.buf(), Nr, C, N);
    }
    // Output dense -> dropout -> + input -> LayerNorm.
    linear_fwd(be, att, w(Y.wo), p(Y.bo), A.res1.buf(), R, C, C);
    if (drop_h) {
      hidden_dropout(A.res1.buf(), P.tmp.buf(), R, T, cls_rows, seed, site_attn_out(l), false);
      op::add(be, P.tmp.buf(), xr, A.res1.buf(), R * C);
    } else {
      op::axpy(be, 1.0f, xr, A.res1.buf(), R * C);
    }
    op::layernorm_fwd(be, A.res1.buf(), p(Y.ln1w), p(Y.ln1b), A.ln1.buf(), A.mean1.buf(), A.rstd1.buf(), R, C,
                     cfg_.ln_eps);
    // Feed-forward: GELU(ln1 Wi^T + bi) Wout^T + bout -> dropout -> + ln1 -> LayerNorm.
    const Buf ln1h = to_gemm(A.ln1, A.ln1_h, R * C);
    linear_fwd(be, ln1h, w(Y.wi), p(Y.bi), P.h.buf(), R, C, I, Epilogue::Gelu, A.pre.buf());
    linear_fwd(be, P.h.buf(), w(Y.wout), p(Y.bout), A.res2.buf(), R, I, C);
    if (drop_h) {
      hidden_dropout(A.res2.buf(), P.tmp.buf(), R, T, cls_rows, seed, site_ffn_out(l), false);
      op::add(be, P.tmp.buf(), A.ln1.buf(), A.res2.buf(), R * C);
    } else {
      op::axpy(be, 1.0f, A.ln1.buf(), A.res2.buf(), R * C);
    }
    op::layernorm_fwd(be, A.res2.buf(), p(Y.ln2w), p(Y.ln2b), A.out.buf(), A.mean2.buf(), A.rstd2.buf(), R, C,
                     cfg_.ln_eps);
    xt = &A.out;
    if (l + 1 < cfg_.layers) xh = to_gemm(A.out, A.out_h, Nr * C);
  }

  // [CLS] = row 0 of each sequence, gathered as an embedding lookup into the last hidden state
  // (cls_only: the last layer's output already is the [CLS] rows).
  if (in.cls_only) op::cast(be, xt->buf(), P.cls.buf(), B * C);
  else op::embedding_fwd(be, P.cls_idx.buf(), xt->buf(), P.cls.buf(), B, C, N);
  if (cfg_.pooler) {
    const Buf clsh = to_gemm(P.cls, P.cls_h, B * C);
    linear_fwd(be, clsh, w(o_pool_w_), p(o_pool_b_), P.pool_pre.buf(), B, C, C);
    op::tanh_fwd(be, P.pool_pre.buf(), P.pooled.buf(), B * C);
  }
  fwdB_ = B, fwdT_ = T, fwdRows_ = Nr, fwd_train_ = in.train, fwd_seed_ = seed, fwd_grad_ = in.grad, fwd_cls_only_ = in.cls_only;
  out_set_ = in.grad ? cfg_.layers - 1 : (cfg_.layers - 1) % sets;
}

Tensor BertModel::last_hidden() const {
  BIOFEG_CHECK(has_forward(), "bert: no forward has run");
  BIOFEG_CHECK(!fwd_cls_only_, "bert: the last forward was clsOnly: it has no last hidden state");
  Tensor t = plan_.L[out_set_].out;
  t.shape = {fwdB_, fwdT_, cfg_.hidden};
  return t;
}
Tensor BertModel::cls() const {
  BIOFEG_CHECK(has_forward(), "bert: no forward has run");
  Tensor t = plan_.cls;
  t.shape = {fwdB_, cfg_.hidden};
  return t;
}
Tensor BertModel::pooled() const {
  BIOFEG_CHECK(has_forward(), "bert: no forward has run");
  BIOFEG_CHECK(cfg_.pooler, "bert: this model has no pooler");
  Tensor t = plan_.pooled;
  t.shape = {fwdB_, cfg_.hidden};
  return t;
}

void BertModel::check_backward(const Tensor* d_last, const Tensor* d_cls, const Tensor* d_pooled) const {
  BIOFEG_CHECK(has_forward(), "bert backward: no forward has run (or the plan changed since)");
  BIOFEG_CHECK(fwd_grad_, "bert backward: the last forward ran with grad: false (inference only)");
  const int64_t B = fwdB_, N = B * fwdT_, C = cfg_.hidden;
  auto check = [&](const Tensor* t, const char* name, int64_t n) {
    if (!t) return;
    BIOFEG_CHECK(t->st, "bert backward: ", name, " has been disposed");
    BIOFEG_CHECK(t->device() == be_.device, "bert backward: ", name, " is on ", device_name(t->device()),
                 ", the model on ", device_name(be_.device));
    BIOFEG_CHECK(t->dtype == DType::F32, "bert backward: ", name, " must be f32, got ", t->describe());
    BIOFEG_CHECK(t->numel() == n, "bert backward: ", name, " must have ", n, " elements, got ", t->describe());
  };
  BIOFEG_CHECK(!d_last || !fwd_cls_only_, "bert backward: dLastHidden given but the forward was clsOnly");
  check(d_last, "dLastHidden", N * C);
  check(d_cls, "dCls", B * C);
  check(d_pooled, "dPooled", B * C);
  BIOFEG_CHECK(!d_pooled || cfg_.pooler, "bert backward: dPooled given but the model has no pooler");
  // A backend may take bf16 for the forward ops only (the CPU backend: bf16 inference); the
  // mixed-precision backward runs attention and GELU backward on bf16 tensors.
  BIOFEG_CHECK(!mixed() || (be_.caps.floats_of(Op::attention_bwd).has(act_) && be_.caps.floats_of(Op::gelu_bwd).has(act_)),
               "bert backward: bf16 training is not available on backend '", be_.name,
               "' (its bf16 kernels cover inference); train in f32, or in bf16 on CUDA");
}

std::vector<int64_t> BertModel::grad_ready_points() const {
  std::vector<int64_t> pts;
  if (cfg_.pooler) pts.push_back(o_pool_w_);
  for (int64_t l = cfg_.layers - 1; l >= 0; --l) pts.push_back(layers_[l].wqkv);
  pts.push_back(0);
  return pts;
}

void BertModel::backward(const Tensor* d_last, const Tensor* d_cls, const Tensor* d_pooled, GradReady* ready) {
  check_backward(d_last, d_cls, d_pooled);
  grads();                                        // the gradient buffer on first use
  reserve_plan(fwdB_, fwdT_, cfg_.layers, true);  // backward scratch on first use (never re-plans here)
  const int64_t B = fwdB_, T = fwdT_, N = B * T, C = cfg_.hidden, I = cfg_.intermediate, H = cfg_.heads, D = C / H;

  Plan& P = plan_;
  const Backend& be = be_;
  const bool drop_h = fwd_train_ && cfg_.hidden_dropout > 0, drop_a = fwd_train_ && cfg_.attn_dropout > 0;
  const float ph = cfg_.hidden_dropout;
  const uint64_t seed = fwd_seed_;

  // Gradient at the last hidden state: the given one plus the [CLS] rows' share (cls_only: the
  // last layer's output is the [CLS] rows, so its gradient is just theirs).
  const bool cls_only = fwd_cls_only_;
  if (d_last) op::cast(be, d_last->buf(), P.g_out.buf(), N * C);
  else op::fill(be, P.g_out.buf(), cls_only ? B * C : N * C, 0.0f);
  if (d_cls || d_pooled) {
    if (d_cls) op::cast(be, d_cls->buf(), P.g_cls.buf(), B * C);
    else op::fill(be, P.g_cls.buf(), B * C, 0.0f);
    if (d_pooled) {
      op::cast(be, d_pooled->buf(), P.g_pool.buf(), B * C);
      op::tanh_bwd(be, P.pooled.buf(), P.g_pool.buf(), P.g_res.buf(), B * C);  // g_res: free scratch here
      const Buf dyh = to_gemm(P.g_res, P.g_yh, B * C);
      linear_dw(be, dyh, gemm_side(P.cls, P.cls_h), g(o_pool_w_), B, C, C);
      op::bias_grad(be, P.g_res.buf(), g(o_pool_b_), B, C);
      linear_dx(be, dyh, w(o_pool_w_), P.g_cls.buf(), B, C, C, 1.0f);
    }
    if (cls_only) op::cast(be, P.g_cls.buf(), P.g_out.buf(), B * C);
    else op::embedding_bwd(be, P.cls_idx.buf(), P.g_cls.buf(), P.g_out.buf(), B, C, N);
  }
  if (ready && cfg_.pooler) ready->ready(o_pool_w_);

  for (int64_t l = cfg_.layers - 1; l >= 0; --l) {
    const Layer& Y = layers_[l];
    LayerActs& A = P.L[l];
    const bool cls_rows = cls_only && l + 1 == cfg_.layers;
    const int64_t R = cls_rows ? B : N;  // rows after the attention (see forward)
    // The layer input as its forward GEMM read it.
    const Buf xh = l > 0 ? gemm_side(P.L[l - 1].out, P.L[l - 1].out_h)
                         : gemm_side(drop_h ? P.emb_out : P.emb_ln, P.emb_h);
    // LayerNorm 2; its input gradient feeds both the FFN output and the residual (ln1).
    op::layernorm_bwd(be, P.g_out.buf(), A.res2.buf(), p(Y.ln2w), A.mean2.buf(), A.rstd2.buf(), P.g_res.buf(),
                     g(Y.ln2w), g(Y.ln2b), R, C);
    const Tensor* dy = &P.g_res;
    if (drop_h) {
      hidden_dropout(P.g_res.buf(), P.g_drop.buf(), R, T, cls_rows, seed, site_ffn_out(l), true);
      dy = &P.g_drop;
    }
    Buf dyh = to_gemm(*dy, P.g_yh, R * C);
    linear_dx(be, dyh, w(Y.wout), P.g_h.buf(), R, I, C, 0.0f);
    op::gelu_fwd(be, A.pre.buf(), P.h.buf(), R * I);  // recomputed: cheaper than keeping [N, I] per layer
    linear_dw(be, dyh, P.h.buf(), g(Y.wout), R, I, C);
    op::bias_grad(be, dy->buf(), g(Y.bout), R, C);
    op::gelu_bwd(be, A.pre.buf(), P.g_h.buf(), P.g_pre.buf(), R * I);
    linear_dw(be, P.g_pre.buf(), gemm_side(A.ln1, A.ln1_h), g(Y.wi), R, C, I);
    op::bias_grad(be, P.g_pre.buf(), g(Y.bi), R, I);
    linear_dx(be, P.g_pre.buf(), w(Y.wi), P.g_res.buf(), R, C, I, 1.0f);  // + residual: g_res = d ln1
    // LayerNorm 1; its input gradient feeds the attention output and the residual (x).
    op::layernorm_bwd(be, P.g_res.buf(), A.res1.buf(), p(Y.ln1w), A.mean1.buf(), A.rstd1.buf(), P.g_out.buf(),
                     g(Y.ln1w), g(Y.ln1b), R, C);
    dy = &P.g_out;
    if (drop_h) {
      hidden_dropout(P.g_out.buf(), P.g_drop.buf(), R, T, cls_rows, seed, site_attn_out(l), true);
      dy = &P.g_drop;
    }
    dyh = to_gemm(*dy, P.g_yh, R * C);
    if (cls_rows) {
      // d(attention output) on the [CLS] rows (in g_h), scattered into zeros for the attention
      // backward; the residual d x likewise (via g_drop, free again once wo's GEMMs are done).
      linear_dx(be, dyh, w(Y.wo), P.g_h.buf(), B, C, C, 0.0f);
      linear_dw(be, dyh, P.att_cls.buf(), g(Y.wo), B, C, C);
      op::bias_grad(be, dy->buf(), g(Y.bo), B, C);
      op::fill(be, P.g_att.buf(), N * C, 0.0f);
      op::embedding_bwd(be, P.cls_idx.buf(), P.g_h.buf(), P.g_att.buf(), B, C, N);
      op::cast(be, P.g_out.buf(), P.g_drop.buf(), B * C);
      op::fill(be, P.g_out.buf(), N * C, 0.0f);
      op::embedding_bwd(be, P.cls_idx.buf(), P.g_drop.buf(), P.g_out.buf(), B, C, N);
    } else {
      linear_dx(be, dyh, w(Y.wo), P.g_att.buf(), N, C, C, 0.0f);
      linear_dw(be, dyh, A.att.buf(), g(Y.wo), N, C, C);
      op::bias_grad(be, dy->buf(), g(Y.bo), N, C);
    }
    AttnDesc d;
    d.B = B, d.T = T, d.H = H, d.D = D;
    d.scale = static_cast<float>(1.0 / std::sqrt(static_cast<double>(D)));
    d.dropout_p = drop_a ? cfg_.attn_dropout : 0.0f;
    d.seed = seed, d.offset = site_offset(site_attn_probs(l));
    d.qkv = A.qkv.buf(), d.mask = P.mask.buf(), d.out = A.att.buf(), d.lse = A.lse.buf();
    d.dout = P.g_att.buf(), d.dqkv = P.g_qkv.buf();
    op::attention_bwd(be, d);
    linear_dw(be, P.g_qkv.buf(), xh, g(Y.wqkv), N, C, 3 * C);
    op::bias_grad(be, P.g_qkv.buf(), g(Y.bqkv), N, 3 * C);
    linear_dx(be, P.g_qkv.buf(), w(Y.wqkv), P.g_out.buf(), N, C, 3 * C, 1.0f);  // + residual: d x
    if (ready) ready->ready(Y.wqkv);  // a layer's first parameter: its block ends where the next begins
  }

  // Embeddings: dropout, LayerNorm, then scatter into the three tables.
  Buf dy = P.g_out.buf();
  if (drop_h) {
    op::dropout_bwd(be, P.g_out.buf(), P.g_drop.buf(), N * C, ph, seed, site_offset(site_emb()));
    dy = P.g_drop.buf();
  }
  op::layernorm_bwd(be, dy, P.emb_sum.buf(), p(o_eln_w_), P.emb_mean.buf(), P.emb_rstd.buf(), P.g_res.buf(),
                   g(o_eln_w_), g(o_eln_b_), N, C);
  op::embedding_bwd(be, P.ids.buf(), P.g_res.buf(), g(o_word_), N, C, cfg_.vocab);
  op::embedding_bwd(be, P.pos.buf(), P.g_res.buf(), g(o_pos_), N, C, cfg_.max_pos);
  op::embedding_bwd(be, P.types.buf(), P.g_res.buf(), g(o_type_), N, C, cfg_.type_vocab);
  if (ready) ready->ready(0);
}

}  // namespace biofeg
