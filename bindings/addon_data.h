// Per-environment state of the addon. Node runs one environment per thread that loads the
// addon (the main thread and each worker_threads Worker); JS handles belong to the environment
// that made them, so any handle kept across calls lives here, in the environment's instance
// data, never in a process-global. Node deletes it (and releases the handles) when the
// environment is torn down, e.g. when a Worker exits or is terminated.
#pragma once
#include <napi.h>

#include <map>
#include <string>

namespace biofeg::js {

struct AddonData {
  Napi::FunctionReference tensor_ctor;   // the Tensor class of this environment (TensorWrap::Init)
  Napi::FunctionReference backend_ctor;  // the Backend class (backend_wrap.cpp)
  std::map<std::string, Napi::ObjectReference> backends;  // one handle per backend name
  Napi::FunctionReference error_classes[4];  // by biofeg::ErrorKind (errors.h): src/errors.ts's classes
};

// Creates env's AddonData; called first by the module's init.
void init_addon_data(Napi::Env env);
// env's AddonData (throws when the addon was not initialised in env: cannot happen for calls
// that come through the addon's own functions).
AddonData& addon_data(Napi::Env env);

}  // namespace biofeg::js
