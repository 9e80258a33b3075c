#include "check.h"

#include <cmath>
#include <cstring>

#include "../native/core/device.h"

namespace biofeg::js {

OpCtx op_ctx(const Napi::CallbackInfo& info, const char* op) {
  BIOFEG_CHECK(info.Length() >= 1 && info[0].IsString(), op, ": the first argument names the backend ('ref', 'cpu' or 'cuda')");
  const std::string b = info[0].As<Napi::String>();
  if (b == "ref") return {op, &ref_backend()};
  if (b == "cpu") return {op, &cpu_backend()};
  if (b == "cuda") {
    BIOFEG_CHECK(cuda::compiled(), op, ": this build has no CUDA backend");
    BIOFEG_CHECK(cuda::device_count() > 0, op, ": no CUDA device is available");
    return {op, cuda::backend()};
  }
  fail(op, ": unknown backend '", b, "' (expected 'ref', 'cpu' or 'cuda')");
}

Tensor& tensor_arg(const OpCtx& c, const Napi::Value& v, const char* name) {
  BIOFEG_CHECK(TensorWrap::is(v.Env(), v), c.op, ": argument '", name,
               "' must be a Tensor");
  Tensor& t = TensorWrap::Unwrap(v.As<Napi::Object>())->get(c.op, name);
  BIOFEG_CHECK(t.device() == c.be->device, c.op, ": '", name, "' is on ", device_name(t.device()), " but backend '",
               c.be->name, "' runs on ", device_name(c.be->device));
  return t;
}

Tensor* optional_tensor(const OpCtx& c, const Napi::Value& v, const char* name) {
  if (v.IsNull() || v.IsUndefined()) return nullptr;
  return &tensor_arg(c, v, name);
}

void expect_float(const OpCtx& c, const Tensor& t, const char* name) {
  if (c.be->device == Device::CPU)
    BIOFEG_CHECK(t.dtype == DType::F32, c.op, ": '", name, "' must be f32 on backend '", c.be->name, "', got ", t.describe());
  else
    BIOFEG_CHECK(t.dtype != DType::I32, c.op, ": '", name, "' must be f32 or bf16, got ", t.describe());
}
void expect_f32(const OpCtx& c, const Tensor& t, const char* name) {
  BIOFEG_CHECK(t.dtype == DType::F32, c.op, ": '", name, "' must be f32, got ", t.describe());
}
void expect_i32(const OpCtx& c, const Tensor& t, const char* name) {
  BIOFEG_CHECK(t.dtype == DType::I32, c.op, ": '", name, "' must be i32, got ", t.describe());
}
void expect_same_dtype(const OpCtx& c, const Tensor& a, const char* an, const Tensor& b, const char* bn) {
  BIOFEG_CHECK(a.dtype == b.dtype, c.op, ": '", an, "' (", a.describe(), ") and '", bn, "' (", b.describe(),
               ") must share a dtype");
}
void expect_shape(const OpCtx& c, const Tensor& t, const char* name, const std::vector<int64_t>& shape) {
  BIOFEG_CHECK(t.shape == shape, c.op, ": '", name, "' must have shape ", shape_str(shape), ", got ", t.describe());
}
void expect_numel(const OpCtx& c, const Tensor& t, const char* name, int64_t n) {
  BIOFEG_CHECK(t.numel() == n, c.op, ": '", name, "' must have ", n, " elements, got ", t.describe());
}
void expect_rank(const OpCtx& c, const Tensor& t, const char* name, std::initializer_list<size_t> ranks) {
  for (size_t r : ranks)
    if (t.shape.size() == r) return;
  std::string want;
  for (size_t r : ranks) want += (want.empty() ? "" : " or ") + std::to_string(r);
  fail(c.op, ": '", name, "' must have rank ", want, ", got ", t.describe());
}
int64_t rows_of(const Tensor& t) { return t.shape.empty() ? 1 : t.numel() / std::max<int64_t>(t.shape.back(), 1); }
int64_t cols_of(const Tensor& t) { return t.shape.empty() ? 1 : t.shape.back(); }

double number_arg(const OpCtx& c, const Napi::Value& v, const char* name) {
  BIOFEG_CHECK(v.IsNumber(), c.op, ": '", name, "' must be a number");
  const double x = v.As<Napi::Number>().DoubleValue();
  BIOFEG_CHECK(std::isfinite(x), c.op, ": '", name, "' must be finite, got ", x);
  return x;
}
Napi::Object options_arg(const OpCtx& c, const Napi::CallbackInfo& info, size_t i) {
  if (info.Length() <= i || info[i].IsUndefined()) return Napi::Object::New(info.Env());
  BIOFEG_CHECK(info[i].IsObject(), c.op, ": the options argument must be an object");
  return info[i].As<Napi::Object>();
}
double option(const OpCtx& c, const Napi::Object& o, const char* key, double dflt) {
  Napi::Value v = o.Get(key);
  if (v.IsUndefined()) return dflt;
  return number_arg(c, v, key);
}
bool flag(const OpCtx& c, const Napi::Object& o, const char* key, bool dflt) {
  Napi::Value v = o.Get(key);
  if (v.IsUndefined()) return dflt;
  BIOFEG_CHECK(v.IsBoolean(), c.op, ": option '", key, "' must be a boolean");
  return v.As<Napi::Boolean>();
}
uint64_t u64_arg(const OpCtx& c, const Napi::Value& v, const char* name) {
  if (v.IsBigInt()) {
    bool lossless = true;
    const uint64_t x = v.As<Napi::BigInt>().Uint64Value(&lossless);
    BIOFEG_CHECK(lossless, c.op, ": '", name, "' must fit in 64 unsigned bits");
    return x;
  }
  const double x = number_arg(c, v, name);
  BIOFEG_CHECK(x >= 0 && x <= 9007199254740991.0 && x == std::floor(x), c.op, ": '", name,
               "' must be a non-negative integer (or a BigInt)");
  return static_cast<uint64_t>(x);
}

std::vector<int32_t> host_ints(const Tensor& t) {
  std::vector<int32_t> v(static_cast<size_t>(t.numel()));
  if (v.empty()) return v;
  if (t.device() == Device::CPU) std::memcpy(v.data(), t.data(), v.size() * 4);
  else cuda::memcpy_d2h(v.data(), t.data(), v.size() * 4);
  return v;
}

}  // namespace biofeg::js
