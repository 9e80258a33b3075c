// BertModel for JS. Every entry point checks its arguments (shapes, dtypes, devices, ids in
// range) before native code runs and turns failures into JS Errors. While a forwardAsync or
// backwardAsync is in flight the model refuses other calls that would touch its buffers.
#include "model_bert.h"

#include <cmath>
#include <cstring>
#include <memory>

#include "../native/backends.h"
#include "../native/comm/grad_buckets.h"
#include "../native/cpu/fast/gemm_bf16.h"
#include "../native/models/bert.h"
#include "check.h"
#include "errors.h"

namespace biofeg::js {
namespace {

struct State {
  explicit State(napi_env e) : env(e) {}
  ~State() {
    m.reset();
    int64_t total = 0;
    if (reported) napi_adjust_external_memory(env, -reported, &total);  // a destructor must not throw
  }
  State(const State&) = delete;
  State& operator=(const State&) = delete;

  std::unique_ptr<BertModel> m;
  bool busy = false;               // touched on the main thread only
  uint64_t next_seed = 0x9E3779B97F4A7C15ull;  // train seeds when none is given: a fixed sequence
  // The model's storages (parameters, gradients, activations: made in its constructor and as it
  // runs, on the JS thread or an async worker's) are charged to `acct` (AccountScope around every
  // call), and their bytes reported to V8 as external memory, host and device alike (the reason:
  // tensor_wrap.h), so an encoder opened and dropped without dispose is collected under memory
  // pressure. `report` runs on the JS thread after each call; ~State, on the JS thread too (a
  // finalizer, or the last async worker's deletion), takes the report back.
  napi_env env;
  std::shared_ptr<MemAccount> acct = std::make_shared<MemAccount>();
  int64_t reported = 0;
  void report() {
    const int64_t now = acct->bytes.load(std::memory_order_relaxed);
    int64_t total = 0;
    if (now != reported && napi_adjust_external_memory(env, now - reported, &total) == napi_ok) reported = now;
  }
};

// 'cpu', 'cuda' or 'ref' (not 'auto': a model's device is the caller's decision).
const Backend* backend_for(const std::string& d) {
  BIOFEG_CHECK(d == "cpu" || d == "cuda" || d == "ref", "BertModel: device must be 'cpu', 'cuda' or 'ref', got '", d, "'");
  try {
    return &backend_named(d);
  } catch (const Error& e) {
    fail_as(e.kind, "BertModel: ", e.what());
  }
}

int64_t int_field(const OpCtx& c, const Napi::Object& o, const char* key, bool required, int64_t dflt = 0) {
  Napi::Value v = o.Get(key);
  if (v.IsUndefined()) {
    BIOFEG_CHECK(!required, c.op, ": '", key, "' is required");
    return dflt;
  }
  const double x = number_arg(c, v, key);
  BIOFEG_CHECK(x == std::floor(x) && std::fabs(x) < 9e15, c.op, ": '", key, "' must be an integer, got ", x);
  return static_cast<int64_t>(x);
}

// options.precision: 'f32' (default) or 'bf16' (mixed precision, native/models/bert.h), the
// latter where the backend's Caps take bf16: CUDA, the CPU backend on a CPU with AVX512_BF16
// (inference), and the reference backend, which emulates bf16 storage for tests.
DType parse_precision(const OpCtx& c, const Napi::Value& v) {
  if (v.IsUndefined() || v.IsNull()) return DType::F32;
  BIOFEG_CHECK(v.IsObject(), c.op, ": the third argument must be an options object {precision?}");
  Napi::Value p = v.As<Napi::Object>().Get("precision");
  if (p.IsUndefined()) return DType::F32;
  const std::string s = p.IsString() ? p.As<Napi::String>().Utf8Value() : std::string("?");
  BIOFEG_CHECK(s == "f32" || s == "bf16", c.op, ": precision must be 'f32' or 'bf16', got ",
               p.IsString() ? "'" + s + "'" : std::string("a non-string"));
  if (s == "f32") return DType::F32;
  BIOFEG_CHECK(c.be->caps.floats.has(DType::BF16), c.op, ": precision 'bf16' is not available on device '", c.be->name,
               "': the CPU backend computes bf16 only with AVX512_BF16 (", host::bf16_unavailable_reason(),
               "); bf16 also runs on CUDA, and the ref backend emulates it for tests");
  return DType::BF16;
}

BertConfig parse_config(const OpCtx& c, const Napi::Value& v) {
  BIOFEG_CHECK(v.IsObject(), c.op, ": the first argument must be a config object");
  Napi::Object o = v.As<Napi::Object>();
  BertConfig k;
  k.vocab = int_field(c, o, "vocabSize", true);
  k.hidden = int_field(c, o, "hiddenSize", true);
  k.layers = int_field(c, o, "numLayers", true);
  k.heads = int_field(c, o, "numHeads", true);
  k.intermediate = int_field(c, o, "intermediateSize", true);
  k.max_pos = int_field(c, o, "maxPositions", true);
  k.type_vocab = int_field(c, o, "typeVocabSize", false, 2);
  k.ln_eps = static_cast<float>(option(c, o, "layerNormEps", 1e-12));
  k.pooler = flag(c, o, "pooler", true);
  k.hidden_dropout = static_cast<float>(option(c, o, "hiddenDropout", 0.1));
  k.attn_dropout = static_cast<float>(option(c, o, "attentionDropout", 0.1));
  k.validate();
  return k;
}

// Output tensors share the model's storage: make a JS Tensor and point it at that storage.
Napi::Object wrap(Napi::Env env, const Tensor& t) {
  return TensorWrap::wrap(env, t);
}

Napi::Object outputs(Napi::Env env, const BertModel& m) {
  Napi::Object r = Napi::Object::New(env);
  if (!m.last_cls_only()) r.Set("lastHidden", wrap(env, m.last_hidden()));
  r.Set("cls", wrap(env, m.cls()));
  r.Set("tokenRows", Napi::Number::New(env, static_cast<double>(m.last_rows())));
  if (m.config().pooler) r.Set("pooled", wrap(env, m.pooled()));
  return r;
}

// Ids or mask: an Int32Array, or an i32 Tensor on the model's device; n entries.
std::vector<int32_t> ints(const OpCtx& c, const Napi::Value& v, const char* name, int64_t n) {
  std::vector<int32_t> out;
  HostArray ta;
  if (host_array(v, &ta)) {  // an ArrayBuffer's or a SharedArrayBuffer's
    BIOFEG_CHECK(ta.type == napi_int32_array, c.op, ": '", name, "' must be an Int32Array or an i32 Tensor, got a ",
                 typed_array_name(ta.type));
    BIOFEG_CHECK(static_cast<int64_t>(ta.length) == n, c.op, ": '", name, "' must have batch x seq = ", n,
                 " entries, got ", ta.length);
    out.resize(static_cast<size_t>(n));
    if (n) std::memcpy(out.data(), ta.data, static_cast<size_t>(n) * 4);
    return out;
  }
  BIOFEG_CHECK(TensorWrap::is(v.Env(), v), c.op, ": '", name,
               "' must be an Int32Array or an i32 Tensor");
  Tensor& t = tensor_arg(c, v, name);
  expect_i32(c, t, name);
  expect_numel(c, t, name, n);
  out.resize(static_cast<size_t>(n));
  t.download(out.data(), static_cast<size_t>(n) * 4);  // checked on the host below, then uploaded by forward
  return out;
}

struct FwdArgs {
  std::vector<int32_t> ids, mask, types;
  int64_t B = 0, T = 0;
  bool train = false, grad = true, cls_only = false, skip_padding = true;
  uint64_t seed = 0;
  BertInputs inputs() const {
    BertInputs in;
    in.ids = ids.data();
    in.mask = mask.empty() ? nullptr : mask.data();
    in.types = types.empty() ? nullptr : types.data();
    in.B = B, in.T = T, in.train = train, in.grad = grad, in.seed = seed, in.cls_only = cls_only;
    in.skip_padding = skip_padding;
    return in;
  }
};

FwdArgs parse_forward(const OpCtx& c, const Napi::CallbackInfo& info, State& st) {
  BIOFEG_CHECK(info.Length() >= 1 && info[0].IsObject(), c.op,
               ": expected an object {inputIds, attentionMask?, tokenTypeIds?, batch, seq, train?, grad?, seed?, clsOnly?, skipPadding?}");
  Napi::Object o = info[0].As<Napi::Object>();
  const BertConfig& k = st.m->config();
  FwdArgs a;
  a.B = int_field(c, o, "batch", true);
  a.T = int_field(c, o, "seq", true);
  BIOFEG_CHECK(a.B >= 1 && a.T >= 1, c.op, ": batch and seq must be >= 1, got ", a.B, " x ", a.T);
  BIOFEG_CHECK(a.T <= k.max_pos, c.op, ": seq ", a.T, " exceeds the model's max positions ", k.max_pos);
  BIOFEG_CHECK(a.B <= (int64_t(1) << 24) / a.T, c.op, ": batch x seq = ", a.B, " x ", a.T, " is too large");
  const int64_t n = a.B * a.T;
  BIOFEG_CHECK(!o.Get("inputIds").IsUndefined(), c.op, ": 'inputIds' is required");
  a.ids = ints(c, o.Get("inputIds"), "inputIds", n);
  Napi::Value mv = o.Get("attentionMask"), tv = o.Get("tokenTypeIds");
  if (!mv.IsUndefined() && !mv.IsNull()) a.mask = ints(c, mv, "attentionMask", n);
  if (!tv.IsUndefined() && !tv.IsNull()) a.types = ints(c, tv, "tokenTypeIds", n);
  for (int64_t i = 0; i < n; ++i) {
    BIOFEG_CHECK(a.ids[i] >= 0 && a.ids[i] < k.vocab, c.op, ": inputIds[", i, "] = ", a.ids[i], " is outside [0, ",
                 k.vocab, ")");
    if (!a.mask.empty())
      BIOFEG_CHECK(a.mask[i] == 0 || a.mask[i] == 1, c.op, ": attentionMask[", i, "] = ", a.mask[i], " must be 0 or 1");
    if (!a.types.empty())
      BIOFEG_CHECK(a.types[i] >= 0 && a.types[i] < k.type_vocab, c.op, ": tokenTypeIds[", i, "] = ", a.types[i],
                   " is outside [0, ", k.type_vocab, ")");
  }
  a.train = flag(c, o, "train", false);
  a.grad = flag(c, o, "grad", true);
  a.cls_only = flag(c, o, "clsOnly", false);
  a.skip_padding = flag(c, o, "skipPadding", true);
  Napi::Value sv = o.Get("seed");
  if (!sv.IsUndefined()) a.seed = u64_arg(c, sv, "seed");
  else if (a.train) a.seed = st.next_seed++;
  return a;
}

// {allreduce: {bucketElements, nccl?}}: the gradient buffer's sum over the ranks, in buckets sent
// while the backward runs (native/comm/grad_buckets.h): over MPI for a host model, over the NCCL
// communicator `nccl` (a handle from ncclInit) for a CUDA one. bucket 0: none asked.
struct Allreduce {
  int64_t bucket = 0;
  int nccl = 0;
  int buckets = 0, overlapped = 0;  // after the run
};

Allreduce parse_allreduce(const OpCtx& c, const Napi::CallbackInfo& info, size_t i, const BertModel& m) {
  Napi::Object o = options_arg(c, info, i);
  Allreduce r;
  Napi::Value v = o.Get("allreduce");
  if (v.IsUndefined()) return r;
  BIOFEG_CHECK(v.IsObject(), c.op, ": 'allreduce' must be an object {bucketElements, nccl?}");
  Napi::Object a = v.As<Napi::Object>();
  BIOFEG_CHECK(!a.Get("bucketElements").IsUndefined(), c.op, ": allreduce.bucketElements is required");
  r.bucket = int_arg(c, a.Get("bucketElements"), "allreduce.bucketElements");
  BIOFEG_CHECK(r.bucket >= 1, c.op, ": allreduce.bucketElements must be at least 1, got ", r.bucket);
  if (!a.Get("nccl").IsUndefined()) r.nccl = static_cast<int>(int_arg(c, a.Get("nccl"), "allreduce.nccl"));
  if (m.device() == Device::CUDA)
    BIOFEG_CHECK(r.nccl > 0, c.op, ": a CUDA model's gradients are all-reduced over NCCL: give allreduce.nccl");
  else
    BIOFEG_CHECK(r.nccl == 0, c.op, ": allreduce.nccl is for a CUDA model; a host model's gradients go over MPI");
  return r;
}

Napi::Value allreduce_result(Napi::Env env, const Allreduce& r) {
  if (r.bucket == 0) return env.Undefined();
  Napi::Object o = Napi::Object::New(env);
  o.Set("buckets", Napi::Number::New(env, r.buckets));
  o.Set("overlapped", Napi::Number::New(env, r.overlapped));
  return o;
}

// Runs `body` with the buckets of `r` (or none), then sends the rest and waits.
template <typename F>
void with_buckets(BertModel& m, Allreduce& r, F body) {
  if (r.bucket == 0) return body(nullptr);
  std::unique_ptr<comm::GradBuckets> b;
  if (r.nccl > 0) b = std::make_unique<comm::NcclGradBuckets>(m.grads(), r.bucket, r.nccl);
  else b = std::make_unique<comm::MpiGradBuckets>(m.grads(), r.bucket);
  body(b.get());
  b->finish();
  r.buckets = b->buckets(), r.overlapped = b->sent_early();
}

struct BwdArgs {
  Tensor dl, dc, dp;  // given gradients (their storage stays alive while a worker runs)
  bool hl = false, hc = false, hp = false;
  Allreduce ar;
  void run(BertModel& m) {
    with_buckets(m, ar, [&](GradReady* ready) { m.backward(hl ? &dl : nullptr, hc ? &dc : nullptr, hp ? &dp : nullptr, ready); });
  }
};

// A gradient: Float32Array (copied to the model's device) or an f32 Tensor there.
bool grad_arg(const OpCtx& c, const Napi::Object& o, const char* key, const BertModel& m, int64_t n, Tensor& out) {
  Napi::Value v = o.Get(key);
  if (v.IsUndefined() || v.IsNull()) return false;
  HostArray ta;
  if (host_array(v, &ta)) {
    BIOFEG_CHECK(ta.type == napi_float32_array, c.op, ": '", key, "' must be a Float32Array or an f32 Tensor, got a ",
                 typed_array_name(ta.type));
    BIOFEG_CHECK(static_cast<int64_t>(ta.length) == n, c.op, ": '", key, "' must have ", n, " entries, got ", ta.length);
    out = Tensor::empty(m.device(), DType::F32, {n});
    out.upload(ta.data, static_cast<size_t>(n) * 4);
    return true;
  }
  BIOFEG_CHECK(TensorWrap::is(v.Env(), v), c.op, ": '", key,
               "' must be a Float32Array or an f32 Tensor");
  out = tensor_arg(c, v, key);
  return true;
}

BwdArgs parse_backward(const OpCtx& c, const Napi::CallbackInfo& info, const BertModel& m) {
  BIOFEG_CHECK(info.Length() >= 1 && info[0].IsObject(), c.op, ": expected an object {dLastHidden?, dCls?, dPooled?}");
  BIOFEG_CHECK(m.has_forward(), c.op, ": no forward has run (or the activation plan changed since)");
  Napi::Object o = info[0].As<Napi::Object>();
  const int64_t B = m.last_B(), N = B * m.last_T(), C = m.config().hidden;
  BwdArgs a;
  a.hl = grad_arg(c, o, "dLastHidden", m, N * C, a.dl);
  a.hc = grad_arg(c, o, "dCls", m, B * C, a.dc);
  a.hp = grad_arg(c, o, "dPooled", m, B * C, a.dp);
  BIOFEG_CHECK(a.hl || a.hc || a.hp, c.op, ": give at least one of dLastHidden, dCls, dPooled");
  m.check_backward(a.hl ? &a.dl : nullptr, a.hc ? &a.dc : nullptr, a.hp ? &a.dp : nullptr);
  a.ar = parse_allreduce(c, info, 1, m);
  return a;
}

void sync_device(const BertModel& m) { synchronize(m.device()); }

class ForwardWorker : public Napi::AsyncWorker {
 public:
  ForwardWorker(Napi::Env env, std::shared_ptr<State> st, FwdArgs a)
      : Napi::AsyncWorker(env), deferred_(Napi::Promise::Deferred::New(env)), st_(std::move(st)), a_(std::move(a)) {}
  Napi::Promise promise() { return deferred_.Promise(); }
  void Execute() override {
    try {
      AccountScope scope(st_->acct);
      st_->m->forward(a_.inputs());
      // An inference forward (no dropout, no grad) waits here, off the JS thread, so a server's event
      // loop stays free when it downloads the result; a training one does not: the step queues on,
      // and its loss read-back waits.
      if (!a_.train && !a_.grad) sync_device(*st_->m);
    } catch (const std::exception& e) {
      kind_ = kind_of(e);
      SetError(e.what());
    }
  }
  void OnOK() override {
    st_->busy = false;
    st_->report();
    try {
      deferred_.Resolve(outputs(Env(), *st_->m));
    } catch (const std::exception& e) {
      deferred_.Reject(error_value(Env(), kind_of(e), e.what()));
    }
  }
  void OnError(const Napi::Error& e) override {
    st_->busy = false;
    st_->report();
    deferred_.Reject(error_value(Env(), kind_, e.Message()));
  }

 private:
  Napi::Promise::Deferred deferred_;
  std::shared_ptr<State> st_;
  FwdArgs a_;
  ErrorKind kind_ = ErrorKind::Internal;
};

class BackwardWorker : public Napi::AsyncWorker {
 public:
  BackwardWorker(Napi::Env env, std::shared_ptr<State> st, BwdArgs a)
      : Napi::AsyncWorker(env), deferred_(Napi::Promise::Deferred::New(env)), st_(std::move(st)), a_(std::move(a)) {}
  Napi::Promise promise() { return deferred_.Promise(); }
  void Execute() override {
    try {
      AccountScope scope(st_->acct);
      a_.run(*st_->m);  // no wait: training queues on (device errors show at the next synchronisation)
    } catch (const std::exception& e) {
      kind_ = kind_of(e);
      SetError(e.what());
    }
  }
  void OnOK() override {
    st_->busy = false;
    st_->report();
    deferred_.Resolve(allreduce_result(Env(), a_.ar));
  }
  void OnError(const Napi::Error& e) override {
    st_->busy = false;
    st_->report();
    deferred_.Reject(error_value(Env(), kind_, e.Message()));
  }

 private:
  Napi::Promise::Deferred deferred_;
  std::shared_ptr<State> st_;
  BwdArgs a_;
  ErrorKind kind_ = ErrorKind::Internal;
};

class BertWrap : public Napi::ObjectWrap<BertWrap> {
 public:
  static Napi::Function Init(Napi::Env env) {
    return DefineClass(env, "BertModel",
                       {InstanceMethod("parameters", &BertWrap::Parameters),
                        InstanceMethod("keepWeightCopy", &BertWrap::KeepWeightCopy),
                        InstanceMethod("gradients", &BertWrap::Gradients),
                        InstanceMethod("parameterLayout", &BertWrap::Layout),
                        InstanceMethod("config", &BertWrap::Config),
                        InstanceMethod("reserve", &BertWrap::Reserve),
                        InstanceMethod("forward", &BertWrap::Forward),
                        InstanceMethod("forwardAsync", &BertWrap::ForwardAsync),
                        InstanceMethod("backward", &BertWrap::Backward),
                        InstanceMethod("backwardAsync", &BertWrap::BackwardAsync),
                        InstanceMethod("allreduceGradients", &BertWrap::AllreduceGradients),
                        InstanceMethod("zeroGrad", &BertWrap::ZeroGrad),
                        InstanceMethod("dispose", &BertWrap::Dispose),
                        InstanceAccessor("device", &BertWrap::Device_, nullptr),
                        InstanceAccessor("precision", &BertWrap::Precision, nullptr),
                        InstanceAccessor("numParameters", &BertWrap::NumParams, nullptr),
                        InstanceAccessor("busy", &BertWrap::Busy, nullptr)});
  }

  explicit BertWrap(const Napi::CallbackInfo& info) : Napi::ObjectWrap<BertWrap>(info) {
    Napi::Env env = info.Env();
    try {
      BIOFEG_CHECK((info.Length() == 2 || info.Length() == 3) && info[1].IsString(),
                   "BertModel: expected (config object, device: 'cpu' | 'cuda' | 'ref', options?: {precision})");
      const Backend* be = backend_for(info[1].As<Napi::String>());
      OpCtx c{"BertModel", be};
      const BertConfig k = parse_config(c, info[0]);
      const DType act = parse_precision(c, info.Length() == 3 ? info[2] : info.Env().Undefined());
      st_ = std::make_shared<State>(env);
      {
        AccountScope scope(st_->acct);
        st_->m = std::make_unique<BertModel>(k, *be, act);
      }
      st_->report();
    } catch (const std::exception& e) {
      throw_js(env, e);
    }
  }

 private:
  // Runs fn with a context, turning native errors into JS exceptions.
  template <typename Fn>
  Napi::Value guarded(const Napi::CallbackInfo& info, const char* op, bool needs_idle, Fn fn) {
    Napi::Env env = info.Env();
    try {
      BIOFEG_CHECK(st_ && st_->m, op, ": the model has been disposed (or was not constructed)");
      if (needs_idle)
        BIOFEG_CHECK(!st_->busy, op, ": an async forward/backward is still running on this model; await it first");
      OpCtx c{op, &st_->m->backend()};
      Napi::Value r;
      {
        AccountScope scope(st_->acct);
        r = fn(c);
      }
      st_->report();
      return r;
    } catch (const Napi::Error& e) {
      throw;
    } catch (const std::exception& e) {
      throw_js(env, e);
      return env.Undefined();
    }
  }

  // dispose(): frees the model's storages now rather than at garbage collection (a model built
  // and then not used); later calls throw. Tensors from parameters()/gradients() keep theirs.
  Napi::Value Dispose(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    try {
      if (!st_ || !st_->m) return env.Undefined();  // twice is fine
      BIOFEG_CHECK(!st_->busy, "BertModel.dispose: an async forward/backward is still running on this model; await it first");
      st_->m.reset();
      st_->report();
    } catch (const std::exception& e) {
      throw_js(env, e);
    }
    return env.Undefined();
  }

  Napi::Value Parameters(const Napi::CallbackInfo& info) {
    return guarded(info, "BertModel.parameters", false, [&](const OpCtx&) -> Napi::Value {
      st_->m->weights_touched();  // the caller may write the weights through it
      return wrap(info.Env(), st_->m->params());
    });
  }
  Napi::Value KeepWeightCopy(const Napi::CallbackInfo& info) {
    return guarded(info, "BertModel.keepWeightCopy", true, [&](const OpCtx&) -> Napi::Value {
      BIOFEG_CHECK(info.Length() == 1 && info[0].IsBoolean(), "BertModel.keepWeightCopy: expected (on: boolean)");
      st_->m->keep_weight_copy(info[0].As<Napi::Boolean>().Value());
      return info.Env().Undefined();
    });
  }
  Napi::Value Gradients(const Napi::CallbackInfo& info) {
    return guarded(info, "BertModel.gradients", false, [&](const OpCtx&) -> Napi::Value {
      return wrap(info.Env(), st_->m->grads());
    });
  }
  Napi::Value Layout(const Napi::CallbackInfo& info) {
    return guarded(info, "BertModel.parameterLayout", false, [&](const OpCtx&) -> Napi::Value {
      Napi::Env env = info.Env();
      const auto& L = st_->m->layout();
      Napi::Array a = Napi::Array::New(env, L.size());
      for (size_t i = 0; i < L.size(); ++i) {
        Napi::Object e = Napi::Object::New(env);
        e.Set("name", L[i].name);
        Napi::Array s = Napi::Array::New(env, L[i].shape.size());
        for (size_t j = 0; j < L[i].shape.size(); ++j) s.Set(static_cast<uint32_t>(j), static_cast<double>(L[i].shape[j]));
        e.Set("shape", s);
        e.Set("offset", static_cast<double>(L[i].offset));
        a.Set(static_cast<uint32_t>(i), e);
      }
      return a;
    });
  }
  Napi::Value Config(const Napi::CallbackInfo& info) {
    return guarded(info, "BertModel.config", false, [&](const OpCtx&) -> Napi::Value {
      const BertConfig& k = st_->m->config();
      Napi::Object o = Napi::Object::New(info.Env());
      o.Set("vocabSize", static_cast<double>(k.vocab));
      o.Set("hiddenSize", static_cast<double>(k.hidden));
      o.Set("numLayers", static_cast<double>(k.layers));
      o.Set("numHeads", static_cast<double>(k.heads));
      o.Set("intermediateSize", static_cast<double>(k.intermediate));
      o.Set("maxPositions", static_cast<double>(k.max_pos));
      o.Set("typeVocabSize", static_cast<double>(k.type_vocab));
      o.Set("layerNormEps", k.ln_eps);
      o.Set("pooler", k.pooler);
      o.Set("hiddenDropout", k.hidden_dropout);
      o.Set("attentionDropout", k.attn_dropout);
      return o;
    });
  }
  Napi::Value Reserve(const Napi::CallbackInfo& info) {
    return guarded(info, "BertModel.reserve", true, [&](const OpCtx& c) -> Napi::Value {
      BIOFEG_CHECK(info.Length() == 2, c.op, ": expected (batch, seq)");
      const double b = number_arg(c, info[0], "batch"), t = number_arg(c, info[1], "seq");
      BIOFEG_CHECK(b >= 1 && t >= 1 && b == std::floor(b) && t == std::floor(t) && b * t <= 16777216.0, c.op,
                   ": batch and seq must be positive integers with batch x seq <= 2^24");
      st_->m->reserve(static_cast<int64_t>(b), static_cast<int64_t>(t));
      return info.Env().Undefined();
    });
  }
  Napi::Value Forward(const Napi::CallbackInfo& info) {
    return guarded(info, "BertModel.forward", true, [&](const OpCtx& c) -> Napi::Value {
      FwdArgs a = parse_forward(c, info, *st_);
      st_->m->forward(a.inputs());
      return outputs(info.Env(), *st_->m);
    });
  }
  Napi::Value ForwardAsync(const Napi::CallbackInfo& info) {
    return guarded(info, "BertModel.forwardAsync", true, [&](const OpCtx& c) -> Napi::Value {
      FwdArgs a = parse_forward(c, info, *st_);
      auto* w = new ForwardWorker(info.Env(), st_, std::move(a));
      Napi::Promise p = w->promise();
      st_->busy = true;
      w->Queue();
      return p;
    });
  }
  Napi::Value Backward(const Napi::CallbackInfo& info) {
    return guarded(info, "BertModel.backward", true, [&](const OpCtx& c) -> Napi::Value {
      BwdArgs a = parse_backward(c, info, *st_->m);
      a.run(*st_->m);
      return allreduce_result(info.Env(), a.ar);
    });
  }
  // allreduceGradients({allreduce}): the buckets a backward would send, without one (a rank with
  // no rows in a step must issue the same collectives as the others).
  Napi::Value AllreduceGradients(const Napi::CallbackInfo& info) {
    return guarded(info, "BertModel.allreduceGradients", true, [&](const OpCtx& c) -> Napi::Value {
      Allreduce r = parse_allreduce(c, info, 0, *st_->m);
      BIOFEG_CHECK(r.bucket > 0, c.op, ": expected {allreduce: {bucketElements, nccl?}}");
      BertModel& m = *st_->m;
      with_buckets(m, r, [&](GradReady* ready) {
        for (int64_t p : m.grad_ready_points()) ready->ready(p);
      });
      return allreduce_result(info.Env(), r);
    });
  }
  Napi::Value BackwardAsync(const Napi::CallbackInfo& info) {
    return guarded(info, "BertModel.backwardAsync", true, [&](const OpCtx& c) -> Napi::Value {
      BwdArgs a = parse_backward(c, info, *st_->m);
      auto* w = new BackwardWorker(info.Env(), st_, std::move(a));
      Napi::Promise p = w->promise();
      st_->busy = true;
      w->Queue();
      return p;
    });
  }
  Napi::Value ZeroGrad(const Napi::CallbackInfo& info) {
    return guarded(info, "BertModel.zeroGrad", true, [&](const OpCtx&) -> Napi::Value {
      st_->m->zero_grad();
      return info.Env().Undefined();
    });
  }
  Napi::Value Device_(const Napi::CallbackInfo& info) {
    return guarded(info, "BertModel.device", false, [&](const OpCtx&) -> Napi::Value {
      return Napi::String::New(info.Env(), st_->m->backend().name);
    });
  }
  Napi::Value Precision(const Napi::CallbackInfo& info) {
    return guarded(info, "BertModel.precision", false, [&](const OpCtx&) -> Napi::Value {
      return Napi::String::New(info.Env(), dtype_name(st_->m->act_dtype()));
    });
  }
  Napi::Value NumParams(const Napi::CallbackInfo& info) {
    return guarded(info, "BertModel.numParameters", false, [&](const OpCtx&) -> Napi::Value {
      return Napi::Number::New(info.Env(), static_cast<double>(st_->m->num_params()));
    });
  }
  Napi::Value Busy(const Napi::CallbackInfo& info) {
    return Napi::Boolean::New(info.Env(), st_ && st_->busy);
  }

  std::shared_ptr<State> st_;
};

}  // namespace

Napi::Function bert_model_class(Napi::Env env) { return BertWrap::Init(env); }

}  // namespace biofeg::js
