// Reading JS arguments for the bindings: every failure names the op and the argument. What an
// op's operands must be (dtypes, ranges) is its validator's part (native/check/); here: that an
// argument is a Tensor on the backend's device, shapes, numbers and options.
#pragma once
#include <napi.h>

#include <initializer_list>
#include <cstdint>
#include <string>
#include <vector>

#include "../native/core/error.h"
#include "../native/ops.h"
#include "tensor_wrap.h"

namespace biofeg::js {

struct OpCtx {
  const char* op;     // the name in messages (an op's JS name)
  const Backend* be;  // the backend the call runs on
};

void argc(const OpCtx& c, const Napi::CallbackInfo& info, size_t n);
// A Tensor on c.be's device: "<op>: 'x' is on cuda but backend 'cpu' runs on cpu" otherwise.
Tensor& tensor_arg(const OpCtx& c, const Napi::Value& v, const char* name);
// Tensor or null/undefined; returns nullptr for the latter.
Tensor* optional_tensor(const OpCtx& c, const Napi::Value& v, const char* name);
void expect_f32(const OpCtx& c, const Tensor& t, const char* name);
void expect_i32(const OpCtx& c, const Tensor& t, const char* name);
void expect_shape(const OpCtx& c, const Tensor& t, const char* name, const std::vector<int64_t>& shape);
void expect_numel(const OpCtx& c, const Tensor& t, const char* name, int64_t n);
void expect_rank(const OpCtx& c, const Tensor& t, const char* name, std::initializer_list<size_t> ranks);
void expect_same_shape(const OpCtx& c, const Tensor& a, const char* an, const Tensor& b, const char* bn);
// The product of all dims but the last (rows) and the last dim (cols).
int64_t rows_of(const Tensor& t);
int64_t cols_of(const Tensor& t);

double number_arg(const OpCtx& c, const Napi::Value& v, const char* name);
double option(const OpCtx& c, const Napi::Object& o, const char* key, double dflt);
bool flag(const OpCtx& c, const Napi::Object& o, const char* key, bool dflt);
Napi::Object options_arg(const OpCtx& c, const Napi::CallbackInfo& info, size_t i);
uint64_t u64_arg(const OpCtx& c, const Napi::Value& v, const char* name);
// An integer-valued number (e.g. k, a step count).
int64_t int_arg(const OpCtx& c, const Napi::Value& v, const char* name);

// A size or an offset: a finite integer in [0, 2^53] ("<op>: <name> must be ..." otherwise).
int64_t size_arg(const char* op, const Napi::Value& v, const char* name);
// A shape: an array of at most 8 sizes (the Tensor's own checks follow: checked_numel).
std::vector<int64_t> shape_arg(const char* op, const Napi::Value& v);

// A typed array's element type, length and first byte, whether its memory is an ArrayBuffer or a
// SharedArrayBuffer (Napi::TypedArray::ArrayBuffer() takes only the former: "Invalid argument").
struct HostArray {
  napi_typedarray_type type = napi_int8_array;
  size_t length = 0;
  void* data = nullptr;
};
// False when v is not a typed array.
bool host_array(const Napi::Value& v, HostArray* out);
const char* typed_array_name(napi_typedarray_type t);

}  // namespace biofeg::js
