// Reference kernels of the topk family.
#include <algorithm>

#include "ref.h"

namespace biofeg::ref {

void topk(const TopkDesc& d) {
  const In pq(d.queries, d.Q * d.D), pp(d.pool, d.P * d.D);
  const float *q = pq.p, *p = pp.p;
  float* scores = d.scores.f32();
  int32_t* index = d.index.i32();
  std::vector<std::pair<float, int32_t>> s(d.P);
  for (int64_t i = 0; i < d.Q; ++i) {
    for (int64_t j = 0; j < d.P; ++j) {
      double dot = 0;
      for (int64_t e = 0; e < d.D; ++e) dot += static_cast<double>(q[i * d.D + e]) * p[j * d.D + e];
      s[j] = {static_cast<float>(dot), static_cast<int32_t>(j)};
    }
    std::partial_sort(s.begin(), s.begin() + d.k, s.end(), [](const auto& a, const auto& b) {
      return a.first > b.first || (a.first == b.first && a.second < b.second);
    });
    for (int64_t r = 0; r < d.k; ++r) {
      scores[i * d.k + r] = s[r].first;
      index[i * d.k + r] = s[r].second;
    }
  }
}

}  // namespace biofeg::ref
