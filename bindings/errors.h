// JS errors of the addon. Every native failure reaches JS as an Error whose `code` names its kind
// (biofeg::ErrorKind): ERR_BIOFEG_ARGUMENT, ERR_BIOFEG_DEVICE, ERR_BIOFEG_MEMORY or
// ERR_BIOFEG_INTERNAL. Once src/native.ts has registered the library's classes
// (setErrorClasses), it is an instance of the class of src/errors.ts for that code; before (a
// bare require of the addon), a plain Error with that `code` and `name`.
#pragma once
#include <napi.h>

#include <exception>
#include <new>
#include <stdexcept>
#include <string>

#include "../native/core/error.h"
#include "addon_data.h"

namespace biofeg::js {

// kind_of: the kind of any exception (std::bad_alloc: Memory; not ours: Internal).
// error_value: the JS error for a message of a kind (an instance of the registered class, if any).
// throw_js: throws e into JS as above; a JS exception caught on its way through C++ (Napi::Error)
// is rethrown as it was.
// set_error_classes: setErrorClasses({ERR_BIOFEG_ARGUMENT: ArgumentError, ...}), constructors
// taking (message), per environment.
namespace detail {
inline constexpr const char* kCodes[] = {"ERR_BIOFEG_ARGUMENT", "ERR_BIOFEG_DEVICE", "ERR_BIOFEG_MEMORY", "ERR_BIOFEG_INTERNAL"};
inline constexpr const char* kNames[] = {"ArgumentError", "DeviceUnavailableError", "OutOfMemoryError", "BiofegError"};
}  // namespace detail

inline ErrorKind kind_of(const std::exception& e) {
  if (const auto* b = dynamic_cast<const Error*>(&e)) return b->kind;
  if (dynamic_cast<const std::bad_alloc*>(&e) || dynamic_cast<const std::length_error*>(&e)) return ErrorKind::Memory;
  return ErrorKind::Internal;
}

inline Napi::Value error_value(Napi::Env env, ErrorKind k, const std::string& message) {
  const int i = static_cast<int>(k);
  AddonData* d = env.GetInstanceData<AddonData>();
  if (d && !d->error_classes[i].IsEmpty()) {
    try {
      return d->error_classes[i].New({Napi::String::New(env, message)});
    } catch (const Napi::Error&) {
      // a constructor that throws: fall back to the plain Error below
    }
  }
  Napi::Error e = Napi::Error::New(env, message);
  e.Set("code", detail::kCodes[i]);
  e.Set("name", detail::kNames[i]);
  return e.Value();
}

inline void throw_js(Napi::Env env, const std::exception& e) {
  if (const auto* js = dynamic_cast<const Napi::Error*>(&e)) {
    js->ThrowAsJavaScriptException();
    return;
  }
  Napi::Error(env, error_value(env, kind_of(e), e.what())).ThrowAsJavaScriptException();
}

inline Napi::Value set_error_classes(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() != 1 || !info[0].IsObject()) {
    Napi::Error(env, error_value(env, ErrorKind::Argument, "setErrorClasses: expected {code: constructor}"))
        .ThrowAsJavaScriptException();
    return env.Undefined();
  }
  Napi::Object o = info[0].As<Napi::Object>();
  AddonData& d = addon_data(env);
  for (int i = 0; i < 4; ++i) {
    Napi::Value c = o.Get(detail::kCodes[i]);
    if (c.IsFunction()) d.error_classes[i] = Napi::Persistent(c.As<Napi::Function>());
  }
  return env.Undefined();
}

}  // namespace biofeg::js
