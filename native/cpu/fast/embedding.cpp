// Fast kernels of the embedding family.
#include <cstring>

#include "fast.h"

namespace biofeg::fast {

// A row gather: rows are copied as bytes when table and output share a dtype (the reference
// kernel widens the whole table to f32 first, which a gather of activation rows cannot afford).
void embedding_fwd(Buf ids, Buf table, Buf y, int64_t N, int64_t C, int64_t V) {
  if (table.t != y.t)
    return parallel_for(N, row_grain(C), [&](int64_t lo, int64_t hi) {
      ref::embedding_fwd(at(ids, lo), table, at(y, lo * C), hi - lo, C, V);
    });
  const int32_t* id = ids.i32();
  const size_t row = static_cast<size_t>(C) * dtype_size(y.t);
  const char* t = static_cast<const char*>(table.p);
  char* out = static_cast<char*>(y.p);
  parallel_for(N, row_grain(C), [&](int64_t lo, int64_t hi) {
    for (int64_t n = lo; n < hi; ++n) std::memcpy(out + n * row, t + static_cast<int64_t>(id[n]) * row, row);
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
