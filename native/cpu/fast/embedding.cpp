// Fast kernels of the embedding family.
#include "fast.h"

namespace biofeg::fast {

void embedding_fwd(Buf ids, Buf table, Buf y, int64_t N, int64_t C, int64_t V) {
  parallel_for(N, row_grain(C), [&](int64_t lo, int64_t hi) {
    ref::embedding_fwd(at(ids, lo), table, at(y, lo * C), hi - lo, C, V);
  });
}

// Scatter-add without atomics: each thread owns a range of feature columns.
void embedding_bwd(Buf ids_, Buf dy, Buf dtable, int64_t N, int64_t C, int64_t) {
  const int32_t* ids = ids_.i32();
  const float* d = dy.f32();
  float* t = dtable.f32();
  parallel_for(C, 64, [&](int64_t lo, int64_t hi) {
    for (int64_t n = 0; n < N; ++n) {
      float* row = t + static_cast<int64_t>(ids[n]) * C;
      for (int64_t c = lo; c < hi; ++c) row[c] += d[n * C + c];
    }
  });
}

}  // namespace biofeg::fast
