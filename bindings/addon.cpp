// Module entry: Tensor, ops, and engine facts (backends, threads, memory).
// Context-aware: init runs once per Node environment (main thread, each worker thread), and
// every JS handle the addon keeps is per environment (addon_data.h).
#include <napi.h>

#include <stdexcept>

#include "../native/core/device.h"
#include "../native/core/tensor.h"
#include "../native/core/threadpool.h"
#include "../native/cpu/gemm.h"
#include "addon_data.h"
#include "bench_blas.h"
#include "model_bert.h"
#include "ops_bind.h"
#include "profile.h"
#include "tensor_wrap.h"

namespace biofeg::js {
namespace {

Napi::Value info(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Napi::Object o = Napi::Object::New(env);
  o.Set("cudaCompiled", cuda::compiled());
  const int n = cuda::device_count();
  o.Set("cudaDevices", n);
  o.Set("cudaDevice", n > 0 ? cuda::device_info() : std::string("none"));
  o.Set("gemmEngine", n > 0 ? cuda::gemm_engine() : std::string("none"));
  o.Set("cpuKernel", host::micro_kernel_name());
  o.Set("threads", num_threads());
  o.Set("napiVersion", NAPI_VERSION);  // the Node-API version the addon was built for
  return o;
}

Napi::Value set_threads(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() != 1 || !info[0].IsNumber()) {
    Napi::TypeError::New(env, "setThreads: expected a number (0 = all cores)").ThrowAsJavaScriptException();
    return env.Undefined();
  }
  const int32_t n = info[0].As<Napi::Number>().Int32Value();
  if (n < 0 || n > 1024) {
    Napi::RangeError::New(env, "setThreads: expected 0..1024").ThrowAsJavaScriptException();
    return env.Undefined();
  }
  set_num_threads(n);
  return Napi::Number::New(env, num_threads());
}

Napi::Value bytes(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const std::string d = info.Length() > 0 && info[0].IsString() ? info[0].As<Napi::String>().Utf8Value() : "cpu";
  if (d != "cpu" && d != "cuda") {
    Napi::TypeError::New(env, "bytesInUse: device must be 'cpu' or 'cuda'").ThrowAsJavaScriptException();
    return env.Undefined();
  }
  return Napi::Number::New(env, static_cast<double>(bytes_in_use(d == "cpu" ? Device::CPU : Device::CUDA)));
}

Napi::Value synchronize(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  try {
    if (cuda::device_count() > 0) cuda::synchronize();
  } catch (const std::exception& e) {
    Napi::Error::New(env, e.what()).ThrowAsJavaScriptException();
  }
  return env.Undefined();
}

}  // namespace

void init_addon_data(Napi::Env env) { env.SetInstanceData(new AddonData()); }  // Node deletes it with env

AddonData& addon_data(Napi::Env env) {
  AddonData* d = env.GetInstanceData<AddonData>();
  if (!d) throw std::logic_error("biofeg: the addon is not initialised in this environment");
  return *d;
}

Napi::Object init(Napi::Env env, Napi::Object exports) {
  init_addon_data(env);
  exports.Set("Tensor", TensorWrap::Init(env));
  exports.Set("info", Napi::Function::New(env, info, "info"));
  exports.Set("setThreads", Napi::Function::New(env, set_threads, "setThreads"));
  exports.Set("bytesInUse", Napi::Function::New(env, bytes, "bytesInUse"));
  exports.Set("synchronize", Napi::Function::New(env, synchronize, "synchronize"));
  register_ops(env, exports);
  exports.Set("BertModel", bert_model_class(env));
  register_bench_blas(env, exports);
  register_profile(env, exports);
  return exports;
}

}  // namespace biofeg::js

static Napi::Object InitAddon(Napi::Env env, Napi::Object exports) { return biofeg::js::init(env, exports); }
NODE_API_MODULE(biofeg, InitAddon)
