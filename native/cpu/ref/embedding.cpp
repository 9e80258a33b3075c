// Reference kernels of the embedding family.
#include <algorithm>

#include "ref.h"

namespace biofeg::ref {

void embedding_fwd(Buf ids_, Buf table, Buf y, int64_t N, int64_t C, int64_t V) {
  const int32_t* ids = ids_.i32();
  const In t(table, V * C);
  Out py(y, N * C, false);
  for (int64_t n = 0; n < N; ++n) std::copy_n(t.p + static_cast<int64_t>(ids[n]) * C, C, py.p + n * C);
  py.done();
}

void embedding_bwd(Buf ids_, Buf dy, Buf dtable, int64_t N, int64_t C, int64_t V) {
  const int32_t* ids = ids_.i32();
  const In pd(dy, N * C);
  Out t(dtable, V * C, true);
  for (int64_t n = 0; n < N; ++n)
    for (int64_t c = 0; c < C; ++c) t.p[static_cast<int64_t>(ids[n]) * C + c] += pd.p[n * C + c];
  t.done();
}

}  // namespace biofeg::ref
