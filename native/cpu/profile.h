// Opt-in per-op wall-time profile of the fast CPU backend (BIOFEG_PROFILE=1 at start-up).
// When on, cpu_backend() hands out a table whose entries time the real op and accumulate
// wall time, calls and FLOPs per op name (GEMM per shape); when off, nothing is wrapped.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "../ops.h"

namespace biofeg::host {

struct ProfileEntry {
  std::string op;    // op name, "gemm MxNxK ..." per GEMM shape
  double ns = 0;     // summed wall time
  int64_t calls = 0;
  double flops = 0;  // GEMM and attention only (0 elsewhere)
};

bool profile_enabled();
// A table that times every entry of `inner` (which must outlive it).
const Backend& profiled_backend(const Backend& inner);
void profile_add(const std::string& op, double ns, double flops);
std::vector<ProfileEntry> profile_snapshot();
void profile_reset();

}  // namespace biofeg::host
