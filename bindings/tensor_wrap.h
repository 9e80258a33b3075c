// JS class Tensor: owns a native biofeg::Tensor until dispose() or garbage collection.
#pragma once
#include <napi.h>

#include "../native/core/tensor.h"

namespace biofeg::js {

class TensorWrap : public Napi::ObjectWrap<TensorWrap> {
 public:
  static Napi::Function Init(Napi::Env env);
  static Napi::FunctionReference* ctor;
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
