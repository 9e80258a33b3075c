#pragma once
#include <napi.h>

#include "../native/ops.h"

namespace biofeg::js {
void register_ops(Napi::Env env, Napi::Object exports);
}  // namespace biofeg::js
