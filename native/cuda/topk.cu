// Batched dot-product top-k: scores = queries [Q, D] x pool [P, D]^T, the k best per query,
// descending, ties to the lower pool index. The pool is streamed in blocks: the gemm op writes a
// Q x block score tile to scratch, then one 1024-thread block per query merges that tile into
// the query's running top-k (kept in the output arrays between blocks). Working memory is
// O(Q x block) beyond the outputs; queries are processed in chunks so it stays bounded.
//
// Merge, per query and per chunk of 1024 scores: each thread tests one score against the k-th
// best of the list as last sorted (a candidate can only enter by beating it, and a later index
// loses ties; a stale k-th is a lower bound, so no true member is missed); those that pass are
// appended after the list in shared memory. List + candidates are bitonic-sorted (<= 2048
// entries) under the total order (score desc, index asc) only when the next chunk might not fit,
// and once at the end: after the first few chunks few scores pass, so most chunks cost a compare
// and two barriers instead of a sort. Empty slots hold the sentinel (-inf, INT_MAX), which every
// real candidate beats.
#include <climits>

#include "common.cuh"

namespace biofeg::cuda {
namespace {

constexpr int TK_THREADS = 1024;  // = candidates per chunk
constexpr int TK_BUF = 2048;      // k (<= 1024) + candidates (<= 1024)

__device__ __forceinline__ bool before(float va, int32_t ia, float vb, int32_t ib) {
  return va > vb || (va == vb && ia < ib);
}

__global__ void k_topk_init(float* s, int32_t* idx, int64_t n) {
  for (int64_t i = gtid(); i < n; i += gstride()) {
    s[i] = -INFINITY;
    idx[i] = INT_MAX;
  }
}

// Sorts vs/is[0, n) under the total order, n = k + c padded to a power of two with sentinels.
__device__ void sort_list(float* vs, int32_t* is, int n) {
  const int tid = threadIdx.x;
  int n2 = 1;
  while (n2 < n) n2 <<= 1;
  for (int t = n + tid; t < n2; t += TK_THREADS) {
    vs[t] = -INFINITY;
    is[t] = INT_MAX;
  }
  __syncthreads();
  for (int size = 2; size <= n2; size <<= 1) {
    for (int stride = size >> 1; stride > 0; stride >>= 1) {
      if (tid < (n2 >> 1)) {
        const int i = 2 * tid - (tid & (stride - 1)), j = i + stride;  // bit `stride` of i is 0
        const float vi = vs[i], vj = vs[j];
        const int32_t ii = is[i], ij = is[j];
        const bool best_first = (i & size) == 0;  // this run ends up best-first
        const bool swap = best_first ? before(vj, ij, vi, ii) : before(vi, ii, vj, ij);
        if (swap) {
          vs[i] = vj;
          vs[j] = vi;
          is[i] = ij;
          is[j] = ii;
        }
      }
      __syncthreads();
    }
  }
}

__global__ void __launch_bounds__(TK_THREADS) k_topk_merge(const float* S, int64_t nb, int64_t p0, float* best_s,
                                                           int32_t* best_i, int k) {
  __shared__ float vs[TK_BUF];
  __shared__ int32_t is[TK_BUF];
  __shared__ int cnt;
  const int tid = threadIdx.x;
  const int64_t q = blockIdx.x;
  float* bs = best_s + q * k;
  int32_t* bi = best_i + q * k;
  for (int t = tid; t < k; t += TK_THREADS) {
    vs[t] = bs[t];
    is[t] = bi[t];
  }
  if (tid == 0) cnt = 0;
  __syncthreads();
  const float* srow = S + q * nb;
  for (int64_t c0 = 0; c0 < nb; c0 += TK_THREADS) {
    const float tv = vs[k - 1];
    const int32_t ti = is[k - 1];
    const int64_t jl = c0 + tid;
    if (jl < nb) {
      const float v = srow[jl];
      const int32_t id = static_cast<int32_t>(p0 + jl);
      if (before(v, id, tv, ti)) {
        const int pos = atomicAdd(&cnt, 1);
        vs[k + pos] = v;
        is[k + pos] = id;
      }
    }
    __syncthreads();
    const int c = cnt;
    __syncthreads();  // everyone has read cnt before it changes again
    if (c > TK_BUF - k - TK_THREADS) {  // another chunk might not fit: sort, keep the best k
      sort_list(vs, is, k + c);
      if (tid == 0) cnt = 0;
      __syncthreads();
    }
  }
  if (cnt > 0) sort_list(vs, is, k + cnt);  // cnt is stable here: the last barrier follows its last change
  for (int t = tid; t < k; t += TK_THREADS) {
    bs[t] = vs[t];
    bi[t] = is[t];
  }
}

// Slots never filled (only possible with NaN scores) report index -1.
__global__ void k_topk_finish(int32_t* idx, int64_t n) {
  for (int64_t i = gtid(); i < n; i += gstride())
    if (idx[i] == INT_MAX) idx[i] = -1;
}

}  // namespace

namespace ops {

void topk(const TopkDesc& d) {
  if (d.Q <= 0 || d.k <= 0) return;
  const DType t = d.pool.t;  // queries share it (Caps: no f32 queries against a bf16 pool here)
  const int64_t blk = d.block > 0 ? (d.block < d.P ? d.block : d.P) : (d.P < 8192 ? d.P : 8192);
  // Query chunk: a score tile of at most ~256 MiB (at least one query).
  const int64_t cap = (int64_t(256) << 20) / (blk * static_cast<int64_t>(sizeof(float)));
  int64_t qc = cap < 1 ? 1 : cap;
  if (qc > d.Q) qc = d.Q;
  if (qc > INT_MAX) qc = INT_MAX;
  DeviceBuffer S(static_cast<size_t>(qc * blk) * sizeof(float), "topk");
  const int64_t nk = d.Q * d.k;
  k_topk_init<<<grid_for(nk, 256), 256>>>(d.scores.f32(), d.index.i32(), nk);
  check_launch("topk");
  const size_t es = dtype_size(t);
  for (int64_t q0 = 0; q0 < d.Q; q0 += qc) {
    const int64_t qn = d.Q - q0 < qc ? d.Q - q0 : qc;
    for (int64_t p0 = 0; p0 < d.P; p0 += blk) {
      const int64_t nb = d.P - p0 < blk ? d.P - p0 : blk;
      GemmDesc g;
      g.M = qn, g.N = nb, g.K = d.D, g.batch = 1, g.alpha = 1.0f, g.beta = 0.0f;
      g.A = Buf{static_cast<char*>(d.queries.p) + q0 * d.D * static_cast<int64_t>(es), t}, g.lda = d.D;
      g.B = Buf{static_cast<char*>(d.pool.p) + p0 * d.D * static_cast<int64_t>(es), t}, g.ldb = d.D;
      g.transB = true;
      g.C = Buf{S.as<float>(), DType::F32}, g.ldc = nb;
      ops::gemm(g);
      k_topk_merge<<<static_cast<unsigned>(qn), TK_THREADS>>>(S.as<float>(), nb, p0, d.scores.f32() + q0 * d.k,
                                                              d.index.i32() + q0 * d.k, static_cast<int>(d.k));
      check_launch("topk (merge)");
    }
  }
  k_topk_finish<<<grid_for(nk, 256), 256>>>(d.index.i32(), nk);
  check_launch("topk");
}

}  // namespace ops
}  // namespace biofeg::cuda
