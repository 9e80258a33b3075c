// Module entry: Tensor, backend handles (their methods are the ops), and engine facts (backends
// and their capabilities, threads, memory).
// Context-aware: init runs once per Node environment (main thread, each worker thread), and
// every JS handle the addon keeps is per environment (addon_data.h).
#include <napi.h>

#include <cmath>
#include <stdexcept>

#include "../native/backends.h"
#include "../native/core/device.h"
#include "../native/core/tensor.h"
#include "../native/core/threadpool.h"
#include "../native/cpu/fast/cpu_level.h"
#include "../native/cpu/fast/gemm.h"
#include "../native/cpu/fast/peak.h"
#include "addon_data.h"
#include "backend_wrap.h"
#include "bench_blas.h"
#include "comm_bind.h"
#include "errors.h"
#include "model_bert.h"
#include "profile.h"
#include "tensor_wrap.h"

namespace biofeg::js {
namespace {

Napi::Object info_object(Napi::Env env) {
  Napi::Object o = Napi::Object::New(env);
  o.Set("cudaCompiled", cuda::compiled());
  const int n = cuda::device_count();
  o.Set("cudaDevices", n);
  o.Set("cudaDevice", n > 0 ? cuda::device_info() : std::string("none"));
  o.Set("gemmEngine", n > 0 ? cuda::gemm_engine() : std::string("none"));
  // The fast CPU backend's kernel level (cpu_level.h): the active one (BIOFEG_CPU_KERNEL may lower
  // it; a bad value throws here, as at the first op), the detected one, and the CPU's features.
  o.Set("cpuKernel", host::micro_kernel_name());
  o.Set("cpuLevel", host::cpu_level_name(host::cpu_level()));
  o.Set("cpuDetectedLevel", host::cpu_level_name(host::cpu_detected_level()));
  Napi::Array feats = Napi::Array::New(env);
  for (const char *f = host::cpu_features(), *e = f; *f; f = *e ? e + 1 : e) {
    for (e = f; *e && *e != ' '; ++e) {
    }
    feats.Set(feats.Length(), std::string(f, e));
  }
  o.Set("cpuFeatures", feats);
  o.Set("threads", num_threads());
  o.Set("napiVersion", NAPI_VERSION);  // the Node-API version the addon was built for
  // Every backend this process can run, with its device and capabilities.
  Napi::Object bs = Napi::Object::New(env);
  for (const char* name : {"ref", "cpu", "cuda"}) {
    if (std::string(name) == "cuda" && !device_available(Device::CUDA)) continue;
    const Backend& be = backend_named(name);
    Napi::Object b = Napi::Object::New(env);
    b.Set("device", device_name(be.device));
    b.Set("caps", caps_object(env, be));
    bs.Set(name, b);
  }
  o.Set("backends", bs);
  return o;
}

Napi::Value info(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  try {
    return info_object(env);
  } catch (const std::exception& e) {
    throw_js(env, e);
    return env.Undefined();
  }
}

// cpuFmaPeak(lanes, seconds): the FMA GFLOP/s of 8- or 16-lane vectors on the pool's threads
// (0 where the CPU lacks them), for bench:kernels' share-of-peak figures.
Napi::Value cpu_fma_peak(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  try {
    BIOFEG_CHECK(info.Length() == 2 && info[0].IsNumber() && info[1].IsNumber(), "cpuFmaPeak: expected (lanes, seconds)");
    const double lanes = info[0].As<Napi::Number>().DoubleValue(), seconds = info[1].As<Napi::Number>().DoubleValue();
    BIOFEG_CHECK(lanes == 8 || lanes == 16, "cpuFmaPeak: lanes must be 8 or 16, got ", lanes);
    BIOFEG_CHECK(seconds > 0 && seconds <= 10, "cpuFmaPeak: seconds must be in (0, 10], got ", seconds);
    return Napi::Number::New(env, host::fma_peak_gflops(static_cast<int>(lanes), seconds));
  } catch (const std::exception& e) {
    throw_js(env, e);
    return env.Undefined();
  }
}

// setThreads(n): an integer 0..1024 (0: all cores); anything else (NaN, 2.5, -1) is refused
// rather than truncated to a count nobody asked for.
Napi::Value set_threads(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  try {
    BIOFEG_CHECK(info.Length() == 1 && info[0].IsNumber(), "setThreads: expected a number (0 = all cores)");
    const double n = info[0].As<Napi::Number>().DoubleValue();
    BIOFEG_CHECK(n >= 0 && n <= 1024 && n == std::floor(n), "setThreads: expected an integer in 0..1024 (0 = all cores), got ", n);
    set_num_threads(static_cast<int>(n));
    return Napi::Number::New(env, num_threads());
  } catch (const std::exception& e) {
    throw_js(env, e);
    return env.Undefined();
  }
}

Napi::Value bytes(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const std::string d = info.Length() > 0 && info[0].IsString() ? info[0].As<Napi::String>().Utf8Value() : "cpu";
  try {
    try {
      return Napi::Number::New(env, static_cast<double>(bytes_in_use(device_named(d))));
    } catch (const Error& e) {
      fail("bytesInUse: ", e.what());
    }
  } catch (const std::exception& e) {
    throw_js(env, e);
    return env.Undefined();
  }
}

Napi::Value synchronize(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  try {
    if (cuda::device_count() > 0) cuda::synchronize();
  } catch (const std::exception& e) {
    throw_js(env, e);
  }
  return env.Undefined();
}

// cuda::sync_counts() as numbers (all zero without CUDA): tests count the waits inside a step.
Napi::Value sync_counts(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const cuda::SyncCounts c = cuda::sync_counts();
  Napi::Object o = Napi::Object::New(env);
  o.Set("device", static_cast<double>(c.device));
  o.Set("d2h", static_cast<double>(c.d2h));
  o.Set("h2d", static_cast<double>(c.h2d));
  return o;
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
  exports.Set("cpuFmaPeak", Napi::Function::New(env, cpu_fma_peak, "cpuFmaPeak"));
  exports.Set("setThreads", Napi::Function::New(env, set_threads, "setThreads"));
  exports.Set("bytesInUse", Napi::Function::New(env, bytes, "bytesInUse"));
  exports.Set("synchronize", Napi::Function::New(env, synchronize, "synchronize"));
  exports.Set("cudaSyncCounts", Napi::Function::New(env, sync_counts, "cudaSyncCounts"));
  exports.Set("setErrorClasses", Napi::Function::New(env, set_error_classes, "setErrorClasses"));
  exports.Set("Backend", backend_class(env));
  exports.Set("backend", Napi::Function::New(env, backend_handle, "backend"));
  exports.Set("BertModel", bert_model_class(env));
  register_bench_blas(env, exports);
  register_profile(env, exports);
  register_comm(env, exports);
  return exports;
}

}  // namespace biofeg::js

static Napi::Object InitAddon(Napi::Env env, Napi::Object exports) { return biofeg::js::init(env, exports); }
NODE_API_MODULE(biofeg, InitAddon)
