// Validators of the embedding family. Ids in host memory are checked here; a backend with
// Caps::device_index_checks checks them in its kernels (reported at the next synchronisation),
// so the ids never travel to the host for it.
#include "check.h"

namespace biofeg::check {
namespace {
void ids_in_range(const V& v, Buf ids, int64_t N, int64_t V_) {
  v.i32({ids, "ids"});
  if (!v.host()) {
    v.need(v.be.caps.device_index_checks, "backend '", v.be.name, "' cannot check ids in device memory");
    return;
  }
  const int32_t* p = ids.i32();
  for (int64_t i = 0; i < N; ++i)
    v.need(p[i] >= 0 && p[i] < V_, "ids[", i, "] = ", p[i], " is outside [0, ", V_, ")");
}
}  // namespace

void embedding_fwd(const Backend& be, Buf ids, Buf table, Buf y, int64_t N, int64_t C, int64_t V_) {
  const V v(be, Op::embedding_fwd);
  v.counts({N, C, V_});
  v.fits({N, C}, "y (N x C)");
  v.fits({V_, C}, "table (V x C)");
  v.floats({{table, "table"}, {y, "y"}});
  ids_in_range(v, ids, N, V_);
}

void embedding_bwd(const Backend& be, Buf ids, Buf dy, Buf dtable, int64_t N, int64_t C, int64_t V_) {
  const V v(be, Op::embedding_bwd);
  v.counts({N, C, V_});
  v.fits({N, C}, "dy (N x C)");
  v.fits({V_, C}, "dtable (V x C)");
  v.floats({{dy, "dy"}});
  v.acc({dtable, "dtable"}, {dy, "dy"});
  ids_in_range(v, ids, N, V_);
}

}  // namespace biofeg::check
