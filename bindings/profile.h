#pragma once
#include <napi.h>

namespace biofeg::js {
// profileEnabled(), profile() -> [{op, ms, calls, gflop}], profileReset(): the fast CPU
// backend's per-op timings (on only when BIOFEG_PROFILE=1 was set at start-up).
void register_profile(Napi::Env env, Napi::Object exports);
}  // namespace biofeg::js
