// JS class Tensor: owns a native biofeg::Tensor until dispose() or garbage collection.
// Context-aware: the class is defined once per Node environment (the main thread and every
// worker_threads Worker that loads the addon), and its constructor lives in that environment's
// instance data (addon_data.h), never in a process-global handle.
#pragma once
#include <napi.h>

#include "../native/core/tensor.h"

namespace biofeg::js {

class TensorWrap : public Napi::ObjectWrap<TensorWrap> {
 public:
  // Defines the class in env and keeps its constructor in env's AddonData.
  static Napi::Function Init(Napi::Env env);
  // True when v is a Tensor of env (Tensors do not cross threads).
  static bool is(Napi::Env env, const Napi::Value& v);
  explicit TensorWrap(const Napi::CallbackInfo& info);

  // Throws "<op>: <what> has been disposed" when empty.
  Tensor& get(const char* op, const char* what);
  bool alive() const { return static_cast<bool>(t_.st); }
  // A JS Tensor owning (sharing) `t`.
  static Napi::Object wrap(Napi::Env env, Tensor t);

 private:
  Napi::Value Shape(const Napi::CallbackInfo& info);
  Napi::Value Dtype(const Napi::CallbackInfo& info);
  Napi::Value DeviceName(const Napi::CallbackInfo& info);
  Napi::Value Nbytes(const Napi::CallbackInfo& info);
  Napi::Value Disposed(const Napi::CallbackInfo& info);
  void Upload(const Napi::CallbackInfo& info);
  Napi::Value Download(const Napi::CallbackInfo& info);
  void CopyFrom(const Napi::CallbackInfo& info);
  Napi::Value View(const Napi::CallbackInfo& info);
  void Dispose(const Napi::CallbackInfo& info);

  Tensor t_;
};

}  // namespace biofeg::js
