// Fast kernels of the topk family.
#include <limits>

#include "fast.h"

namespace biofeg::fast {

// Stream the pool in blocks; GEMM a block of scores, then each query keeps its
// k best in a sorted array (most candidates fail the threshold test and cost one compare).
// Scratch is one (query chunk x pool block) score tile: constant beyond the k-best lists, and
// wide enough that the GEMM runs at full speed (packing amortised over 4096 pool rows).
// A bf16 pool (queries f32) is widened block by block into an f32 scratch of one block: the
// scores are exactly those of the f32 pool holding the bf16 values.
namespace {

// A query's k best so far (sorted, ties to the lower index) offered the scores s[0, nb) of pool
// rows p0.. in order. Most scores fail the threshold test once the list is full.
void offer_row(const float* s, int64_t nb, int64_t p0, int64_t k, float* bs, int32_t* bi, int64_t& f, bool avx512) {
  static thread_local std::vector<int32_t> cand;
  auto offer = [&](int64_t j) {
    const float v = s[j];
    if (f == k && !(v > bs[k - 1])) return;  // later index loses ties
    int64_t pos = f == k ? k - 1 : f++;
    while (pos > 0 && bs[pos - 1] < v) {
      bs[pos] = bs[pos - 1];
      bi[pos] = bi[pos - 1];
      --pos;
    }
    bs[pos] = v;
    bi[pos] = static_cast<int32_t>(p0 + j);
  };
  int64_t j = 0;
  for (; j < nb && f < k; ++j) offer(j);
  if (avx512 && j < nb) {
    // Once the list is full its threshold only rises: the scores above today's threshold are a
    // superset of those offer() keeps, offered in the same order.
    cand.resize(static_cast<size_t>(nb));
    const int64_t nc = host::above_avx512(s + j, nb - j, bs[k - 1], cand.data());
    for (int64_t c = 0; c < nc; ++c) offer(j + cand[c]);
  } else {
    for (; j < nb; ++j) offer(j);
  }
}

// Few queries (a service's batch): the pool block is the GEMM's A, read in place (bf16 widened as
// read), and the queries its packed B, so no pool row is ever copied; the scores [rows, queries]
// are transposed per query for the scan. Each score is the same sum as the many-query path's
// (same K blocks, same products in the same order: FMA is commutative in its factors; neither
// path splits K), so both paths return identical lists.
constexpr int64_t kFewQueries = 64;
void topk_few(const TopkDesc& d, bool avx512) {
  const bool bf16 = d.pool.t == DType::BF16;
  const int64_t Q = d.Q, k = d.k, D = d.D;
  const int64_t blk = d.block > 0 ? d.block : std::max<int64_t>(16384, k);
  const int64_t nbmax = std::min(blk, d.P);
  std::vector<float> S(static_cast<size_t>(nbmax * Q)), row(static_cast<size_t>(nbmax));
  std::vector<float> wide(bf16 && !host::gemm_kernels().direct16 ? static_cast<size_t>(nbmax * D) : 0);
  std::vector<int64_t> filled(static_cast<size_t>(Q), 0);
  for (int64_t p0 = 0; p0 < d.P; p0 += blk) {
    const int64_t nb = std::min(blk, d.P - p0);
    Buf A{static_cast<char*>(d.pool.p) + p0 * D * static_cast<int64_t>(dtype_size(d.pool.t)), d.pool.t};
    if (bf16 && !wide.empty()) {  // a level without the widening kernel: widen the block first
      const uint16_t* src = static_cast<const uint16_t*>(A.p);
      parallel_for(nb * D, kGrain, [&](int64_t lo, int64_t hi) {
        for (int64_t i = lo; i < hi; ++i) wide[i] = bf16_to_f32(src[i]);
      });
      A = Buf{wide.data(), DType::F32};
    }
    GemmDesc g;
    g.M = nb, g.N = Q, g.K = D;
    g.A = A, g.lda = D;
    g.B = d.queries, g.ldb = D, g.transB = true;
    g.C = Buf{S.data(), DType::F32}, g.ldc = Q;
    host::gemm_fast(g, false);
    for (int64_t i = 0; i < Q; ++i) {
      for (int64_t j = 0; j < nb; ++j) row[j] = S[j * Q + i];
      offer_row(row.data(), nb, p0, k, d.scores.f32() + i * k, d.index.i32() + i * k, filled[i], avx512);
    }
  }
}

}  // namespace

void topk(const TopkDesc& d) {
  std::fill_n(d.scores.f32(), d.Q * d.k, -std::numeric_limits<float>::infinity());
  std::fill_n(d.index.i32(), d.Q * d.k, -1);
  const bool avx512 = host::vec_avx512();
  if (d.Q <= kFewQueries) return topk_few(d, avx512);
  const float* q = d.queries.f32();
  const bool bf16 = d.pool.t == DType::BF16;
  const float* pool = bf16 ? nullptr : d.pool.f32();
  const uint16_t* pool16 = bf16 ? static_cast<const uint16_t*>(d.pool.p) : nullptr;
  const int64_t k = d.k;
  const int64_t blk = d.block > 0 ? d.block : std::max<int64_t>(4096, k);
  const int64_t qc = std::min<int64_t>(d.Q, 2048);
  std::vector<float> S(static_cast<size_t>(qc * std::min(blk, d.P)));
  std::vector<float> wide(bf16 ? static_cast<size_t>(std::min(blk, d.P) * d.D) : 0);
  float* scores = d.scores.f32();
  int32_t* index = d.index.i32();
  std::vector<int64_t> filled(d.Q, 0);
  // Pool blocks outside, query chunks inside: every query still sees the blocks in order.
  for (int64_t p0 = 0; p0 < d.P; p0 += blk) {
    const int64_t nb = std::min(blk, d.P - p0);
    const float* pb = pool ? pool + p0 * d.D : wide.data();
    if (bf16)
      parallel_for(nb * d.D, kGrain, [&](int64_t lo, int64_t hi) {
        const uint16_t* src = pool16 + p0 * d.D;
        for (int64_t i = lo; i < hi; ++i) wide[i] = bf16_to_f32(src[i]);
      });
    for (int64_t q0 = 0; q0 < d.Q; q0 += qc) {
      const int64_t nq = std::min(qc, d.Q - q0);
      host::gemm_fast(mm(nq, nb, d.D, q + q0 * d.D, d.D, false, pb, d.D, true, S.data(), nb, 1.0f), false);
      parallel_for(nq, 16, [&](int64_t lo, int64_t hi) {
        for (int64_t i = lo; i < hi; ++i)
          offer_row(S.data() + i * nb, nb, p0, k, scores + (q0 + i) * k, index + (q0 + i) * k, filled[q0 + i], avx512);
      });
    }
  }
}

}  // namespace biofeg::fast
