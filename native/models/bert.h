// BERT encoder (Hugging Face BertModel semantics, post-LayerNorm) written out on the op table.
//
// llm.c style: the config fixes the parameter sizes; parameters live in one flat f32 buffer and
// gradients in another of the same layout; activations are planned once for a token capacity and
// reused; forward keeps what backward needs; backward runs layer by layer in reverse and
// ACCUMULATES into the gradient buffer (call zero_grad() between steps).
//
// Only ops.h is called, so the same code runs on every backend. Activations have their own dtype
// (f32 today; bf16 on CUDA is planned: the weights would then be read through a bf16 copy, see
// w()). Statistics (LayerNorm mean/rstd, attention lse) are always f32.
//
// HF semantics notes
// - The attention mask drops padded KEYS exactly (HF adds finfo.min, the same after softmax);
//   padded query positions are computed as in HF, so the whole last hidden state matches.
//   Exception: a sequence with no real token at all gets attention output 0 here, where HF
//   averages over all (padded) keys.
// - Dropout sites (embeddings, attention probabilities, attention output, FFN output) draw from
//   disjoint Philox counter ranges of one per-step seed; backward regenerates the masks.
// - Linear weights are HF's [out, in]; GELU is the erf form (HF "gelu"); position ids are 0..T-1.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "../core/tensor.h"
#include "../ops.h"

namespace biofeg {

struct BertConfig {
  int64_t vocab = 0, hidden = 0, layers = 0, heads = 0, intermediate = 0;
  int64_t max_pos = 0, type_vocab = 0;
  float ln_eps = 1e-12f;
  bool pooler = true;
  float hidden_dropout = 0.1f, attn_dropout = 0.1f;
  void validate() const;  // throws Error naming the bad field
};

// A named slice of the flat parameter (or gradient) buffer, with HF's name and shape.
struct ParamView {
  std::string name;
  std::vector<int64_t> shape;
  int64_t offset = 0;  // in elements
  int64_t numel() const { return numel_of(shape); }
};

// One forward call. Host arrays of B*T entries; mask and types may be null (all real, all 0).
// Ids are checked by the caller (the binding) and again here.
struct BertInputs {
  const int32_t* ids = nullptr;
  const int32_t* mask = nullptr;   // 1 = real token, 0 = padding (keys only, as HF)
  const int32_t* types = nullptr;
  int64_t B = 0, T = 0;
  bool train = false;
  bool grad = true;                // false: inference only (2 layers of activations, no backward)
  uint64_t seed = 0;               // dropout seed of this step (train only)
};

class BertModel {
 public:
  BertModel(const BertConfig& cfg, const Backend& be, DType act = DType::F32);

  const BertConfig& config() const { return cfg_; }
  const Backend& backend() const { return be_; }
  Device device() const { return be_.device; }
  DType act_dtype() const { return act_; }

  // HF names in HF order (embeddings, layers, pooler); offsets follow our flat layout, where each
  // layer's query/key/value weights (and biases) sit next to each other so one GEMM makes qkv.
  const std::vector<ParamView>& layout() const { return layout_; }
  int64_t num_params() const { return nparams_; }
  Tensor& params() { return params_; }
  Tensor& grads() { return grads_; }
  void zero_grad();

  // Plans activations (all layers and backward scratch) for at least B sequences and B*T tokens
  // (grows, never shrinks). forward() also grows the plan as needed.
  void reserve(int64_t B, int64_t T);
  void forward(const BertInputs& in);
  bool has_forward() const { return fwdB_ > 0; }
  int64_t last_B() const { return fwdB_; }
  int64_t last_T() const { return fwdT_; }

  // Outputs of the last forward: tensors sharing the plan's storage (valid until the next
  // forward that re-plans or overwrites them).
  Tensor last_hidden() const;  // [B, T, hidden]
  Tensor cls() const;          // [B, hidden]
  Tensor pooled() const;       // [B, hidden]; pooler models only

  // Gradients of a scalar loss w.r.t. the outputs of the last forward; any may be null (zero).
  // They must be on the model's device, f32, with the output's element count.
  void backward(const Tensor* d_last, const Tensor* d_cls, const Tensor* d_pooled);
  // The checks backward makes first (device, dtype, size, a forward to go back through).
  void check_backward(const Tensor* d_last, const Tensor* d_cls, const Tensor* d_pooled) const;

 private:
  struct Layer {  // offsets into the flat parameter buffer
    int64_t wqkv, bqkv, wo, bo, ln1w, ln1b, wi, bi, wout, bout, ln2w, ln2b;
  };
  struct LayerActs {
    Tensor qkv, att, lse, res1, ln1, mean1, rstd1, pre, res2, out, mean2, rstd2;  // GELU(pre) is recomputed
  };
  struct Plan {
    int64_t capB = 0, capN = 0;
    Tensor ids, pos, types, mask, cls_idx;  // i32
    Tensor emb_sum, emb_ln, emb_out, emb_mean, emb_rstd, tmp, h;  // tmp, h: scratch shared by layers
    std::vector<LayerActs> L;
    Tensor cls, pool_pre, pooled;
    // backward scratch
    Tensor g_out, g_res, g_drop, g_att, g_h, g_pre, g_qkv, g_cls, g_pool;
  };

  void reserve_plan(int64_t B, int64_t T, int64_t sets, bool grad);
  Buf w(int64_t off) const;   // weight view for compute
  Buf g(int64_t off) const;   // gradient view
  Tensor act(int64_t n) const;
  Tensor f32(int64_t n) const;
  Tensor i32(int64_t n) const;

  BertConfig cfg_;
  const Backend& be_;
  DType act_;
  std::vector<ParamView> layout_;
  int64_t nparams_ = 0;
  int64_t o_word_ = 0, o_pos_ = 0, o_type_ = 0, o_eln_w_ = 0, o_eln_b_ = 0, o_pool_w_ = 0, o_pool_b_ = 0;
  std::vector<Layer> layers_;
  Tensor params_, grads_;
  Plan plan_;
  int64_t fwdB_ = 0, fwdT_ = 0;
  bool fwd_train_ = false, fwd_grad_ = false;
  int64_t out_set_ = 0;  // activation set holding the last layer's output
  uint64_t fwd_seed_ = 0;
};

}  // namespace biofeg
