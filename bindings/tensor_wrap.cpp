#include "tensor_wrap.h"

#include "../native/backends.h"
#include "../native/core/error.h"
#include "addon_data.h"
#include "check.h"
#include "errors.h"

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
                                  InstanceMethod("readFile", &TensorWrap::ReadFile),
                                  InstanceMethod("view", &TensorWrap::View),
                                  InstanceMethod("dispose", &TensorWrap::Dispose),
                                  StaticMethod("mapFile", &TensorWrap::MapFile)});
  addon_data(env).tensor_ctor = Napi::Persistent(f);
  return f;
}

bool TensorWrap::is(Napi::Env env, const Napi::Value& v) {
  return v.IsObject() && v.As<Napi::Object>().InstanceOf(addon_data(env).tensor_ctor.Value());
}

TensorWrap::Charge::Charge(napi_env e, int64_t n) : env(e), bytes(n) {
  int64_t total = 0;
  if (bytes) napi_adjust_external_memory(env, bytes, &total);
}
TensorWrap::Charge::~Charge() {
  int64_t total = 0;
  if (bytes) napi_adjust_external_memory(env, -bytes, &total);  // status ignored: a destructor must not throw
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
    t_ = Tensor::empty(d, t, shape_arg("Tensor", info[2]));
    if (t_.st->bytes) charge_ = std::make_shared<Charge>(env, static_cast<int64_t>(t_.st->bytes));
  } catch (const std::exception& e) {
    throw_js(env, e);
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

// upload(data): a Float32Array (f32, bf16) or Int32Array (i32) of numel() elements; its memory
// may be an ArrayBuffer or a SharedArrayBuffer (copied as it is at the call).
void TensorWrap::Upload(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  try {
    Tensor& t = get("upload", "the tensor");
    const bool ints = t.dtype == DType::I32;
    const char* want = ints ? "Int32Array" : "Float32Array";
    HostArray ta;
    BIOFEG_CHECK(info.Length() == 1 && host_array(info[0], &ta), "upload: expected one typed array (a ", want, " for ",
                 t.describe(), ")");
    BIOFEG_CHECK(ta.type == (ints ? napi_int32_array : napi_float32_array), "upload: a ", t.describe(), " tensor takes a ",
                 want, ", got a ", typed_array_name(ta.type));
    BIOFEG_CHECK(static_cast<int64_t>(ta.length) == t.numel(), "upload: ", t.describe(), " needs ", t.numel(),
                 " elements, got ", ta.length);
    const uint8_t* src = static_cast<const uint8_t*>(ta.data);
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
    throw_js(env, e);
  }
}

// download(): a new Float32Array (f32, bf16) or Int32Array (i32), filled straight from the tensor
// (bf16 through a staging buffer). A tensor too large for one typed array is a Memory error
// naming it, before any copy.
Napi::Value TensorWrap::Download(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  try {
    Tensor& t = get("download", "the tensor");
    const size_t n = static_cast<size_t>(t.numel());
    Napi::TypedArray a;
    try {
      if (t.dtype == DType::I32) a = Napi::Int32Array::New(env, n);
      else a = Napi::Float32Array::New(env, n);
    } catch (const Napi::Error& e) {
      fail_as(ErrorKind::Memory, "download: cannot make a typed array of ", n, " elements for ", t.describe(), ": ",
              e.Message());
    }
    HostArray h;
    host_array(a, &h);
    if (t.dtype == DType::BF16) {
      std::vector<uint8_t> b = to_host(t);
      const uint16_t* p = reinterpret_cast<const uint16_t*>(b.data());
      float* f = static_cast<float*>(h.data);
      for (size_t i = 0; i < n; ++i) f[i] = bf16_to_f32(p[i]);
    } else if (n) {
      t.download(h.data, n * 4);
    }
    return a;
  } catch (const std::exception& e) {
    throw_js(env, e);
    return env.Undefined();
  }
}

// readFile(path, offset): the tensor's nbytes bytes from the file at byte `offset`
// (Tensor::read_file; how an entity index's bf16 vectors load, with no conversion).
void TensorWrap::ReadFile(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  try {
    Tensor& t = get("readFile", "the tensor");
    BIOFEG_CHECK(info.Length() == 2 && info[0].IsString(), "readFile: expected (path: string, offset: number)");
    const std::string path = info[0].As<Napi::String>();
    BIOFEG_CHECK(!path.empty() && path.find('\0') == std::string::npos, "readFile: expected a file path");
    t.read_file(path, size_arg("readFile", info[1], "offset"));
  } catch (const std::exception& e) {
    throw_js(env, e);
  }
}

// Tensor.mapFile(path, offset, dtype, shape): a host tensor over the file's bytes from `offset`
// (Tensor::map_file: memory-mapped copy-on-write, prefaulted); charged to V8 like a new tensor.
Napi::Value TensorWrap::MapFile(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  try {
    BIOFEG_CHECK(info.Length() == 4 && info[0].IsString() && info[2].IsString() && info[3].IsArray(),
                 "mapFile: expected (path: string, offset: number, dtype: 'f32'|'bf16'|'i32', shape: number[])");
    const std::string path = info[0].As<Napi::String>();
    BIOFEG_CHECK(!path.empty() && path.find('\0') == std::string::npos, "mapFile: expected a file path");
    const int64_t off = size_arg("mapFile", info[1], "offset");
    Tensor t = Tensor::map_file(path, off, parse_dtype(info[2].As<Napi::String>()), shape_arg("mapFile", info[3]));
    std::shared_ptr<Charge> charge;
    if (t.st->bytes) charge = std::make_shared<Charge>(env, static_cast<int64_t>(t.st->bytes));
    return wrap(env, std::move(t), std::move(charge));
  } catch (const std::exception& e) {
    throw_js(env, e);
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
    throw_js(env, e);
  }
}

// view(offset, shape): a Tensor sharing this one's memory (it keeps the memory alive, and the
// memory's charge with it).
Napi::Value TensorWrap::View(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  try {
    Tensor& t = get("view", "the tensor");
    BIOFEG_CHECK(info.Length() == 2 && info[1].IsArray(), "view: expected (offset: number, shape: number[])");
    const int64_t off = size_arg("view", info[0], "offset");
    return wrap(env, t.view(off, shape_arg("view", info[1])), charge_);
  } catch (const std::exception& e) {
    throw_js(env, e);
    return env.Undefined();
  }
}

Napi::Object TensorWrap::wrap(Napi::Env env, Tensor t, std::shared_ptr<Charge> charge) {
  Napi::Object o = addon_data(env).tensor_ctor.New({Napi::String::New(env, "cpu"), Napi::String::New(env, "f32"), Napi::Array::New(env, 0)});
  TensorWrap* w = TensorWrap::Unwrap(o);
  w->t_ = std::move(t);
  w->charge_ = std::move(charge);
  return o;
}

void TensorWrap::Dispose(const Napi::CallbackInfo&) {
  t_ = Tensor();
  charge_.reset();
}

}  // namespace biofeg::js
