// Argument checks for op bindings: every failure names the op and the argument.
#pragma once
#include <napi.h>

#include <initializer_list>
#include <string>
#include <vector>

#include "../native/core/error.h"
#include "../native/ops.h"
#include "tensor_wrap.h"

namespace biofeg::js {

struct OpCtx {
  const char* op;
  const Backend* be;
};

OpCtx op_ctx(const Napi::CallbackInfo& info, const char* op);  // info[0] names the backend
Tensor& tensor_arg(const OpCtx& c, const Napi::Value& v, const char* name);
// Tensor or null/undefined; returns nullptr for the latter.
Tensor* optional_tensor(const OpCtx& c, const Napi::Value& v, const char* name);
// Float tensor on the backend's device; f32 on host backends, f32 or bf16 on CUDA.
void expect_float(const OpCtx& c, const Tensor& t, const char* name);
void expect_f32(const OpCtx& c, const Tensor& t, const char* name);
void expect_i32(const OpCtx& c, const Tensor& t, const char* name);
void expect_same_dtype(const OpCtx& c, const Tensor& a, const char* an, const Tensor& b, const char* bn);
void expect_shape(const OpCtx& c, const Tensor& t, const char* name, const std::vector<int64_t>& shape);
void expect_numel(const OpCtx& c, const Tensor& t, const char* name, int64_t n);
void expect_rank(const OpCtx& c, const Tensor& t, const char* name, std::initializer_list<size_t> ranks);
// The product of all dims but the last (rows) and the last dim (cols).
int64_t rows_of(const Tensor& t);
int64_t cols_of(const Tensor& t);

double number_arg(const OpCtx& c, const Napi::Value& v, const char* name);
double option(const OpCtx& c, const Napi::Object& o, const char* key, double dflt);
bool flag(const OpCtx& c, const Napi::Object& o, const char* key, bool dflt);
Napi::Object options_arg(const OpCtx& c, const Napi::CallbackInfo& info, size_t i);
uint64_t u64_arg(const OpCtx& c, const Napi::Value& v, const char* name);
// i32 tensor contents on the host (copies from a device), to validate ids and targets.
std::vector<int32_t> host_ints(const Tensor& t);

}  // namespace biofeg::js
