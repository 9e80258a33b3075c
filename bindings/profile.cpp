// Bindings of the opt-in CPU backend profile (native/cpu/profile.h).
#include "profile.h"

#include "../native/cpu/profile.h"

namespace biofeg::js {
namespace {

Napi::Value enabled(const Napi::CallbackInfo& info) { return Napi::Boolean::New(info.Env(), host::profile_enabled()); }

Napi::Value snapshot(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const auto rows = host::profile_snapshot();
  Napi::Array a = Napi::Array::New(env, rows.size());
  for (size_t i = 0; i < rows.size(); ++i) {
    Napi::Object o = Napi::Object::New(env);
    o.Set("op", rows[i].op);
    o.Set("ms", rows[i].ns / 1e6);
    o.Set("calls", static_cast<double>(rows[i].calls));
    o.Set("gflop", rows[i].flops / 1e9);
    a.Set(static_cast<uint32_t>(i), o);
  }
  return a;
}

Napi::Value reset(const Napi::CallbackInfo& info) {
  host::profile_reset();
  return info.Env().Undefined();
}

}  // namespace

void register_profile(Napi::Env env, Napi::Object exports) {
  exports.Set("profileEnabled", Napi::Function::New(env, enabled, "profileEnabled"));
  exports.Set("profile", Napi::Function::New(env, snapshot, "profile"));
  exports.Set("profileReset", Napi::Function::New(env, reset, "profileReset"));
}

}  // namespace biofeg::js
