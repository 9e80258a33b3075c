// Validators of the topk family.
#include "check.h"

namespace biofeg::check {

void topk(const Backend& be, const TopkDesc& d) {
  const V v(be, Op::topk);
  v.counts({d.Q, d.P, d.D});
  v.fits({d.Q, d.D}, "queries (Q x D)");
  v.fits({d.P, d.D}, "pool (P x D)");
  const int64_t kmax = be.caps.topk_max_k;
  v.need(d.k >= 1 && d.k <= kmax, "k must be an integer in [1, ", kmax, "], got ", d.k);
  v.need(d.k <= d.P, "k = ", d.k, " exceeds the pool size ", d.P);
  v.need(d.P < (int64_t(1) << 31), "pools of 2^31 rows or more are not supported (i32 indices)");
  v.need(d.block >= 0, "block must be a non-negative integer");  // any size: each block merges into the k best
  v.float1({d.pool, "pool"});
  if (be.caps.topk_f32_queries) v.f32({d.queries, "queries"});  // any pool dtype: widened block by block
  else v.floats({{d.queries, "queries"}, {d.pool, "pool"}});
  v.f32({d.scores, "scores"});
  v.i32({d.index, "index"});
}

}  // namespace biofeg::check
