// JS class Tensor: owns a native biofeg::Tensor until dispose() or garbage collection. The bytes
// of a storage made by the constructor are reported to V8 as external memory while a JS Tensor
// refers to it (the Charge, shared with the views made from it), so a program that forgets
// dispose() still has its tensors collected under memory pressure. Device (CUDA) bytes count too:
// V8 cannot see VRAM either, and its finalizers are what free an undisposed tensor's VRAM; the
// cost is more frequent garbage collections while device memory is being allocated.
// Context-aware: the class is defined once per Node environment (the main thread and every
// worker_threads Worker that loads the addon), and its constructor lives in that environment's
// instance data (addon_data.h), never in a process-global handle.
#pragma once
#include <napi.h>

#include <memory>

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
  // External memory reported to V8 for one storage: +bytes when made, -bytes when the last JS
  // Tensor referring to it lets go (dispose or finalizer, on the JS thread of env).
  struct Charge {
    Charge(napi_env env, int64_t bytes);
    ~Charge();
    Charge(const Charge&) = delete;
    Charge& operator=(const Charge&) = delete;
    napi_env env;
    int64_t bytes;
  };
  // A JS Tensor owning (sharing) `t`; `charge` is the storage's when JS made it (views), null
  // for storages another native object accounts for (a BertModel's outputs).
  static Napi::Object wrap(Napi::Env env, Tensor t, std::shared_ptr<Charge> charge = nullptr);

 private:
  Napi::Value Shape(const Napi::CallbackInfo& info);
  Napi::Value Dtype(const Napi::CallbackInfo& info);
  Napi::Value DeviceName(const Napi::CallbackInfo& info);
  Napi::Value Nbytes(const Napi::CallbackInfo& info);
  Napi::Value Disposed(const Napi::CallbackInfo& info);
  void Upload(const Napi::CallbackInfo& info);
  Napi::Value Download(const Napi::CallbackInfo& info);
  void CopyFrom(const Napi::CallbackInfo& info);
  void ReadFile(const Napi::CallbackInfo& info);
  static Napi::Value MapFile(const Napi::CallbackInfo& info);
  Napi::Value View(const Napi::CallbackInfo& info);
  void Dispose(const Napi::CallbackInfo& info);

  Tensor t_;
  std::shared_ptr<Charge> charge_;
};

}  // namespace biofeg::js
