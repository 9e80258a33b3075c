#include "tensor_wrap.h"

#include <cstring>

#include "../native/backends.h"
#include "../native/core/error.h"
#include "addon_data.h"

namespace biofeg::js {

namespace {
DType parse_dtype(const std::string& s) {
  if (s == "f32") return DType::F32;
  if (s == "bf16") return DType::BF16;
  if (s == "i32") return DType::I32;
  fail("Tensor: dtype must be 'f32', 'bf16' or 'i32', got '", s, "'");
}
// Host staging buffer holding the tensor's bytes in its own dtype.
std::vector<uint8_t> to_host(const Tensor& t) {
  std::vector<uint8_t> b(t.nbytes());
  t.download(b.data(), b.size());
  return b;
}
}  // namespace

Napi::Function TensorWrap::Init(Napi::Env env) {
  Napi::Function f = DefineClass(env, "Tensor",
                                 {InstanceAccessor("shape", &TensorWrap::Shape, nullptr),
                                  InstanceAccessor("dtype", &TensorWrap::Dtype, nullptr),
                                  InstanceAccessor("device", &TensorWrap::DeviceName, nullptr),
                                  InstanceAccessor("nbytes", &TensorWrap::Nbytes, nullptr),
                                  InstanceAccessor("disposed", &TensorWrap::Disposed, nullptr),
                                  InstanceMethod("upload", &TensorWrap::Upload),
                                  InstanceMethod("download", &TensorWrap::Download),
                                  InstanceMethod("copyFrom", &TensorWrap::CopyFrom),
                                  InstanceMethod("view", &TensorWrap::View),
                                  InstanceMethod("dispose", &TensorWrap::Dispose)});
  addon_data(env).tensor_ctor = Napi::Persistent(f);
  return f;
}

bool TensorWrap::is(Napi::Env env, const Napi::Value& v) {
  return v.IsObject() && v.As<Napi::Object>().InstanceOf(addon_data(env).tensor_ctor.Value());
}

TensorWrap::TensorWrap(const Napi::CallbackInfo& info) : Napi::ObjectWrap<TensorWrap>(info) {
  Napi::Env env = info.Env();
  try {
    BIOFEG_CHECK(info.Length() == 3 && info[0].IsString() && info[1].IsString() && info[2].IsArray(),
                 "Tensor: expected (device: 'cpu'|'cuda', dtype: 'f32'|'bf16'|'i32', shape: number[])");
    Device d;
    try {
      d = device_named(info[0].As<Napi::String>());
    } catch (const Error& e) {
      fail("Tensor: ", e.what());
    }
    const DType t = parse_dtype(info[1].As<Napi::String>());
    Napi::Array a = info[2].As<Napi::Array>();
    std::vector<int64_t> shape;
    for (uint32_t i = 0; i < a.Length(); ++i) {
      Napi::Value v = a.Get(i);
      BIOFEG_CHECK(v.IsNumber(), "Tensor: shape entries must be numbers");
      const double x = v.As<Napi::Number>().DoubleValue();
      BIOFEG_CHECK(x >= 0 && x == static_cast<double>(static_cast<int64_t>(x)) && x < 9e15,
                   "Tensor: shape entries must be non-negative integers, got ", x);
      shape.push_back(static_cast<int64_t>(x));
    }
    t_ = Tensor::empty(d, t, shape);
  } catch (const std::exception& e) {
    Napi::Error::New(env, e.what()).ThrowAsJavaScriptException();
  }
}

Tensor& TensorWrap::get(const char* op, const char* what) {
  BIOFEG_CHECK(t_.st, op, ": ", what, " has been disposed");
  return t_;
}

Napi::Value TensorWrap::Shape(const Napi::CallbackInfo& info) {
  Napi::Array a = Napi::Array::New(info.Env(), t_.shape.size());
  for (size_t i = 0; i < t_.shape.size(); ++i) a.Set(static_cast<uint32_t>(i), static_cast<double>(t_.shape[i]));
  return a;
}
Napi::Value TensorWrap::Dtype(const Napi::CallbackInfo& info) { return Napi::String::New(info.Env(), dtype_name(t_.dtype)); }
Napi::Value TensorWrap::DeviceName(const Napi::CallbackInfo& info) {
  return Napi::String::New(info.Env(), t_.st ? device_name(t_.device()) : "disposed");
}
Napi::Value TensorWrap::Nbytes(const Napi::CallbackInfo& info) {
  return Napi::Number::New(info.Env(), t_.st ? static_cast<double>(t_.nbytes()) : 0.0);
}
Napi::Value TensorWrap::Disposed(const Napi::CallbackInfo& info) { return Napi::Boolean::New(info.Env(), !t_.st); }

void TensorWrap::Upload(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  try {
    Tensor& t = get("upload", "the tensor");
    BIOFEG_CHECK(info.Length() == 1 && info[0].IsTypedArray(), "upload: expected one typed array");
    Napi::TypedArray ta = info[0].As<Napi::TypedArray>();
    const bool ints = t.dtype == DType::I32;
    BIOFEG_CHECK(ta.TypedArrayType() == (ints ? napi_int32_array : napi_float32_array), "upload: a ",
                 t.describe(), " tensor takes a ", ints ? "Int32Array" : "Float32Array");
    BIOFEG_CHECK(static_cast<int64_t>(ta.ElementLength()) == t.numel(), "upload: ", t.describe(), " needs ",
                 t.numel(), " elements, got ", ta.ElementLength());
    const uint8_t* src = static_cast<const uint8_t*>(ta.ArrayBuffer().Data()) + ta.ByteOffset();
    std::vector<uint8_t> conv;
    if (t.dtype == DType::BF16) {
      conv.resize(t.nbytes());
      const float* f = reinterpret_cast<const float*>(src);
      uint16_t* h = reinterpret_cast<uint16_t*>(conv.data());
      for (int64_t i = 0; i < t.numel(); ++i) h[i] = f32_to_bf16(f[i]);
      src = conv.data();
    }
    t.upload(src, t.nbytes());
  } catch (const std::exception& e) {
    Napi::Error::New(env, e.what()).ThrowAsJavaScriptException();
  }
}

Napi::Value TensorWrap::Download(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  try {
    Tensor& t = get("download", "the tensor");
    std::vector<uint8_t> b = to_host(t);
    const size_t n = static_cast<size_t>(t.numel());
    if (t.dtype == DType::I32) {
      Napi::Int32Array a = Napi::Int32Array::New(env, n);
      if (n) std::memcpy(a.Data(), b.data(), n * 4);
      return a;
    }
    Napi::Float32Array a = Napi::Float32Array::New(env, n);
    if (t.dtype == DType::F32) {
      if (n) std::memcpy(a.Data(), b.data(), n * 4);
    } else {
      const uint16_t* h = reinterpret_cast<const uint16_t*>(b.data());
      for (size_t i = 0; i < n; ++i) a[i] = bf16_to_f32(h[i]);
    }
    return a;
  } catch (const std::exception& e) {
    Napi::Error::New(env, e.what()).ThrowAsJavaScriptException();
    return env.Undefined();
  }
}

void TensorWrap::CopyFrom(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  try {
    Tensor& dst = get("copyFrom", "the destination");
    BIOFEG_CHECK(info.Length() == 1 && is(env, info[0]),
                 "copyFrom: expected a Tensor");
    Tensor& src = TensorWrap::Unwrap(info[0].As<Napi::Object>())->get("copyFrom", "the source");
    dst.copy_from(src);
  } catch (const std::exception& e) {
    Napi::Error::New(env, e.what()).ThrowAsJavaScriptException();
  }
}

// view(offset, shape): a Tensor sharing this one's memory (it keeps the memory alive).
Napi::Value TensorWrap::View(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  try {
    Tensor& t = get("view", "the tensor");
    BIOFEG_CHECK(info.Length() == 2 && info[0].IsNumber() && info[1].IsArray(), "view: expected (offset: number, shape: number[])");
    std::vector<int64_t> shape;
    Napi::Array a = info[1].As<Napi::Array>();
    for (uint32_t i = 0; i < a.Length(); ++i) {
      Napi::Value v = a.Get(i);
      BIOFEG_CHECK(v.IsNumber(), "view: shape entries must be numbers");
      const double x = v.As<Napi::Number>().DoubleValue();
      BIOFEG_CHECK(x >= 0 && x == static_cast<double>(static_cast<int64_t>(x)), "view: shape entries must be non-negative integers");
      shape.push_back(static_cast<int64_t>(x));
    }
    const double off = info[0].As<Napi::Number>().DoubleValue();
    BIOFEG_CHECK(off >= 0 && off == static_cast<double>(static_cast<int64_t>(off)), "view: offset must be a non-negative integer");
    return wrap(env, t.view(static_cast<int64_t>(off), shape));
  } catch (const std::exception& e) {
    Napi::Error::New(env, e.what()).ThrowAsJavaScriptException();
    return env.Undefined();
  }
}

Napi::Object TensorWrap::wrap(Napi::Env env, Tensor t) {
  Napi::Object o = addon_data(env).tensor_ctor.New({Napi::String::New(env, "cpu"), Napi::String::New(env, "f32"), Napi::Array::New(env, 0)});
  TensorWrap::Unwrap(o)->t_ = std::move(t);
  return o;
}

void TensorWrap::Dispose(const Napi::CallbackInfo&) { t_ = Tensor(); }

}  // namespace biofeg::js
