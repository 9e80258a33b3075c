// CUDA kernels of the embedding family: row gather, and the scatter-add gradient (atomicAdd).
// Ids are range-checked here (Caps::device_index_checks), reported at the next synchronisation:
// no copy of the ids to the host per call.
#include "common.cuh"

namespace biofeg::cuda {
namespace {

template <typename T>
__global__ void k_embedding_fwd(const int32_t* ids, const T* table, T* y, int64_t N, int64_t C, int64_t V,
                                IndexError* err) {
  const int64_t n = N * C;
  for (int64_t i = gtid(); i < n; i += gstride()) {
    const int64_t r = i / C, c = i - r * C;
    const int32_t id = ids[r];
    const bool ok = id >= 0 && id < V;
    y[i] = ok ? table[static_cast<int64_t>(id) * C + c] : cvt<T>(0.0f);  // a bad id gives zeros, and is reported
    if (!ok && c == 0) report_index(err, Op::embedding_fwd, V, r, id);
  }
}
template <typename T>
__global__ void k_embedding_bwd(const int32_t* ids, const T* dy, AnyPtr dtable, int64_t N, int64_t C, int64_t V,
                                IndexError* err) {
  const int64_t n = N * C;
  for (int64_t i = gtid(); i < n; i += gstride()) {
    const int64_t r = i / C, c = i - r * C;
    const int32_t id = ids[r];
    if (id >= 0 && id < V) dtable.atomic_add(static_cast<int64_t>(id) * C + c, ld(dy + i));
    else if (c == 0) report_index(err, Op::embedding_bwd, V, r, id);
  }
}

}  // namespace

namespace ops {

void embedding_fwd(Buf ids, Buf table, Buf y, int64_t N, int64_t C, int64_t V) {
  if (N <= 0 || C <= 0) return;
  const IndexCheck check_ids;
  BIOFEG_FLOAT_DISPATCH(table.t, "embedding", T,
                        k_embedding_fwd<T><<<grid_for(N * C, 256), 256>>>(ids.i32(), static_cast<const T*>(table.p),
                                                                          static_cast<T*>(y.p), N, C, V, check_ids.slot()));
  check_launch("embedding");
}

void embedding_bwd(Buf ids, Buf dy, Buf dtable, int64_t N, int64_t C, int64_t V) {
  if (N <= 0 || C <= 0) return;
  const IndexCheck check_ids;
  BIOFEG_FLOAT_DISPATCH(dy.t, "embedding_bwd", T,
                        k_embedding_bwd<T><<<grid_for(N * C, 256), 256>>>(ids.i32(), static_cast<const T*>(dy.p),
                                                                          any(dtable), N, C, V, check_ids.slot()));
  check_launch("embedding_bwd");
}

}  // namespace ops
}  // namespace biofeg::cuda
