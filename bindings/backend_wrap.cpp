#include "backend_wrap.h"

#include "../native/backends.h"
#include "addon_data.h"
#include "errors.h"
#include "ops_bind.h"

namespace biofeg::js {
namespace {

Napi::Array dtype_list(Napi::Env env, DTypes s) {
  Napi::Array a = Napi::Array::New(env);
  uint32_t n = 0;
  for (DType t : {DType::F32, DType::BF16, DType::I32})
    if (s.has(t)) a.Set(n++, dtype_name(t));
  return a;
}

class BackendWrap : public Napi::ObjectWrap<BackendWrap> {
 public:
  static Napi::Function Init(Napi::Env env) {
    std::vector<PropertyDescriptor> props = {
#define BIOFEG_BIND_METHOD(name, js, kind, ...) \
  InstanceMethod(js, &BackendWrap::Call<Op::name, BIOFEG_BINDER_##kind(name)>),
        BIOFEG_OPS(BIOFEG_BIND_METHOD)
#undef BIOFEG_BIND_METHOD
        InstanceMethod("topkAsync", &BackendWrap::TopkAsync),
        InstanceMethod("synchronize", &BackendWrap::Synchronize),
        InstanceAccessor("name", &BackendWrap::Name, nullptr),
        InstanceAccessor("device", &BackendWrap::DeviceName, nullptr),
        InstanceAccessor("caps", &BackendWrap::Caps, nullptr),
    };
    Napi::Function f = DefineClass(env, "Backend", props);
    addon_data(env).backend_ctor = Napi::Persistent(f);
    return f;
  }

  // new Backend(name): resolves the name (backend_named) once; its ops then run on that table.
  explicit BackendWrap(const Napi::CallbackInfo& info) : Napi::ObjectWrap<BackendWrap>(info) {
    Napi::Env env = info.Env();
    try {
      BIOFEG_CHECK(info.Length() == 1 && info[0].IsString(), "Backend: expected a name ('ref', 'cpu', 'cuda' or 'auto')");
      be_ = &backend_named(info[0].As<Napi::String>());
    } catch (const std::exception& e) {
      throw_js(env, e);
    }
  }

 private:
  template <Op O, Binder B>
  Napi::Value Call(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    try {
      B(info, OpCtx{op_info(O).js, be_});
    } catch (const std::exception& e) {
      throw_js(env, e);
    }
    return env.Undefined();
  }
  Napi::Value TopkAsync(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    try {
      return topk_async(info, OpCtx{"topkAsync", be_});
    } catch (const std::exception& e) {
      throw_js(env, e);
      return env.Undefined();
    }
  }
  // Waits for the backend's queued work (a no-op on the host backends).
  Napi::Value Synchronize(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    try {
      synchronize(be_->device);
    } catch (const std::exception& e) {
      throw_js(env, e);
    }
    return env.Undefined();
  }
  Napi::Value Name(const Napi::CallbackInfo& info) { return Napi::String::New(info.Env(), be_->name); }
  Napi::Value DeviceName(const Napi::CallbackInfo& info) { return Napi::String::New(info.Env(), device_name(be_->device)); }
  Napi::Value Caps(const Napi::CallbackInfo& info) { return caps_object(info.Env(), *be_); }

  const Backend* be_ = nullptr;
};

}  // namespace

Napi::Object caps_object(Napi::Env env, const Backend& be) {
  const biofeg::Caps& k = be.caps;
  Napi::Object o = Napi::Object::New(env);
  o.Set("floats", dtype_list(env, k.floats));
  Napi::Object per = Napi::Object::New(env);
  for (int i = 0; i < kOpCount; ++i)
    if (!k.op_floats[i].empty()) per.Set(kOps[i].js, dtype_list(env, k.op_floats[i]));
  o.Set("opFloats", per);
  o.Set("f32Accumulators", k.f32_accumulators);
  o.Set("topkF32Queries", k.topk_f32_queries);
  o.Set("gemmEpilogue", k.gemm_epilogue);
  o.Set("attentionMaxHeadDim", static_cast<double>(k.attention_max_head_dim));
  o.Set("topkMaxK", static_cast<double>(k.topk_max_k));
  o.Set("deviceIndexChecks", k.device_index_checks);
  return o;
}

Napi::Function backend_class(Napi::Env env) { return BackendWrap::Init(env); }

Napi::Value backend_handle(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  try {
    BIOFEG_CHECK(info.Length() == 1 && info[0].IsString(), "backend: expected a name ('ref', 'cpu', 'cuda' or 'auto')");
    const Backend& be = backend_named(info[0].As<Napi::String>());  // throws for an unknown or absent one
    AddonData& d = addon_data(env);
    auto it = d.backends.find(be.name);
    if (it != d.backends.end()) return it->second.Value();
    Napi::Object h = d.backend_ctor.New({Napi::String::New(env, be.name)});
    d.backends.emplace(be.name, Napi::Persistent(h));
    return h;
  } catch (const std::exception& e) {
    throw_js(env, e);
    return env.Undefined();
  }
}

}  // namespace biofeg::js
