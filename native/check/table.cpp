// The load-time check of a backend table (ops.h): every op has a kernel.
#include "../core/error.h"
#include "../ops.h"

namespace biofeg {

void require_complete(const Backend& be) {
  const char* const who = be.name ? be.name : "?";
#define BIOFEG_REQUIRE_OP(op_, ...) \
  BIOFEG_CHECK(be.op_ != nullptr, "backend '", who, "': its table has no kernel for op ", #op_);
  BIOFEG_OPS(BIOFEG_REQUIRE_OP)
#undef BIOFEG_REQUIRE_OP
}

}  // namespace biofeg
