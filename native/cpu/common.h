// Math shared by the host backends (reference and fast CPU): one formula per function, so the
// two backends cannot drift apart.
#pragma once
#include <cmath>

#include "../ops.h"

namespace biofeg::host {

inline float gelu(float x) { return 0.5f * x * (1.0f + std::erf(x * 0.70710678118654752f)); }
inline float gelu_grad(float x) {
  const float cdf = 0.5f * (1.0f + std::erf(x * 0.70710678118654752f));
  const float pdf = 0.39894228040143268f * std::exp(-0.5f * x * x);
  return cdf + x * pdf;
}

// Elementwise kernels are memory-bound and simple: the fast backend threads these loops.
void adamw_range(const AdamWDesc& d, int64_t lo, int64_t hi);
// Rows [lo, hi) of grad_penalty (N: all rows, for the 1/N factor); u may be g.
void grad_penalty_rows(const float* g, float lambda, float* u, float* norms, int64_t lo, int64_t hi, int64_t N,
                       int64_t C);

// Rows [lo, hi) of l2norm (f32 rows).
void l2norm_rows(const float* x, float* y, float* norms, int64_t lo, int64_t hi, int64_t C);
void l2norm_bwd_rows(const float* y, const float* norms, const float* dy, float* dx, int64_t lo, int64_t hi, int64_t C);
// Anchors [lo, hi) of ms_loss before the gate: d.loss[a] and row a of d.dsim; returns the sum over
// those anchors of max(#positive pairs, #negative pairs). ms_loss_gate zeroes loss and dsim when
// the sum over all anchors is at most 1 (at most one mined triplet).
int64_t ms_loss_rows(const MsLossDesc& d, int64_t lo, int64_t hi);
void ms_loss_gate(const MsLossDesc& d, int64_t mined);

}  // namespace biofeg::host
