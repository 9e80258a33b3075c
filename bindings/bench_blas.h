#pragma once
#include <napi.h>

namespace biofeg::js {
void register_bench_blas(Napi::Env env, Napi::Object exports);
}  // namespace biofeg::js
