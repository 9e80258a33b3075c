#include "check.h"

#include <cmath>
#include <vector>

namespace biofeg::js {

void argc(const OpCtx& c, const Napi::CallbackInfo& info, size_t n) {
  BIOFEG_CHECK(info.Length() >= n, c.op, ": expected at least ", n, " arguments, got ", info.Length());
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

void expect_f32(const OpCtx& c, const Tensor& t, const char* name) {
  BIOFEG_CHECK(t.dtype == DType::F32, c.op, ": '", name, "' must be f32, got ", t.describe());
}
void expect_i32(const OpCtx& c, const Tensor& t, const char* name) {
  BIOFEG_CHECK(t.dtype == DType::I32, c.op, ": '", name, "' must be i32, got ", t.describe());
}
void expect_same_shape(const OpCtx& c, const Tensor& a, const char* an, const Tensor& b, const char* bn) {
  BIOFEG_CHECK(a.shape == b.shape, c.op, ": '", an, "' ", a.describe(), " and '", bn, "' ", b.describe(),
               " must have the same shape");
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

int64_t int_arg(const OpCtx& c, const Napi::Value& v, const char* name) {
  const double x = number_arg(c, v, name);
  BIOFEG_CHECK(x == std::floor(x) && std::fabs(x) < 9e15, c.op, ": '", name, "' must be an integer, got ", x);
  return static_cast<int64_t>(x);
}

int64_t size_arg(const char* op, const Napi::Value& v, const char* name) {
  BIOFEG_CHECK(v.IsNumber(), op, ": ", name, " must be a number");
  const double x = v.As<Napi::Number>().DoubleValue();
  // Range first: casting a double outside int64 (or NaN) is undefined behaviour.
  BIOFEG_CHECK(x >= 0 && x <= 9007199254740992.0 && x == std::floor(x), op, ": ", name,
               " must be a non-negative integer (at most 2^53), got ", x);
  return static_cast<int64_t>(x);
}

std::vector<int64_t> shape_arg(const char* op, const Napi::Value& v) {
  BIOFEG_CHECK(v.IsArray(), op, ": the shape must be an array of non-negative integers");
  Napi::Array a = v.As<Napi::Array>();
  // The length first: a sparse array of 2^32 - 1 holes must not be walked.
  BIOFEG_CHECK(a.Length() <= 8, op, ": at most 8 dimensions, got ", a.Length());
  std::vector<int64_t> shape;
  for (uint32_t i = 0; i < a.Length(); ++i) {
    Napi::Value x = a.Get(i);
    BIOFEG_CHECK(x.IsNumber(), op, ": shape entries must be non-negative integers, got a ", x.IsUndefined() ? "hole" : "non-number");
    const double d = x.As<Napi::Number>().DoubleValue();
    BIOFEG_CHECK(d >= 0 && d <= 9007199254740992.0 && d == std::floor(d), op,
                 ": shape entries must be non-negative integers (at most 2^53), got ", d);
    shape.push_back(static_cast<int64_t>(d));
  }
  return shape;
}

bool host_array(const Napi::Value& v, HostArray* out) {
  if (!v.IsTypedArray()) return false;
  const napi_status s = napi_get_typedarray_info(v.Env(), v, &out->type, &out->length, &out->data, nullptr, nullptr);
  BIOFEG_CHECK(s == napi_ok, "cannot read the typed array");
  return true;
}

const char* typed_array_name(napi_typedarray_type t) {
  switch (t) {
    case napi_int8_array: return "Int8Array";
    case napi_uint8_array: return "Uint8Array";
    case napi_uint8_clamped_array: return "Uint8ClampedArray";
    case napi_int16_array: return "Int16Array";
    case napi_uint16_array: return "Uint16Array";
    case napi_int32_array: return "Int32Array";
    case napi_uint32_array: return "Uint32Array";
    case napi_float32_array: return "Float32Array";
    case napi_float64_array: return "Float64Array";
    case napi_bigint64_array: return "BigInt64Array";
    case napi_biguint64_array: return "BigUint64Array";
    default: return "typed array";
  }
}

}  // namespace biofeg::js
