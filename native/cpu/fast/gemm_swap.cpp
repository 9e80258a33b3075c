// Small-M GEMMs against a weight, C = A W^T with W [N, K] row-major (every Linear's forward on a
// short batch: one mention is about 32 token rows). The packed driver would repack all of W on
// every call, which a few rows cannot amortise; here C^T = W A^T runs on the same direct
// micro-kernel with W's rows read in place in A's role and the small A^T packed as the B panel.
// Each C element gets the same products in the same order (a fused multiply-add is symmetric in
// its factors), the same K blocks and the same vector stores (tiles transposed back first), so
// the result is bitwise the packed driver's: a row's values never depend on which path ran.
#include <algorithm>
#include <cstdlib>

#include "../../core/threadpool.h"
#include "gemm_tile.h"

namespace biofeg::host {
namespace {

// Largest M taking this path; BIOFEG_GEMM_SWAP_M overrides it (0: never, for A/B timing).
int64_t swap_max_m() {
  static const int64_t v = [] {
    const char* e = std::getenv("BIOFEG_GEMM_SWAP_M");
    return e ? static_cast<int64_t>(std::max(0L, std::atol(e))) : int64_t(64);
  }();
  return v;
}

}  // namespace

bool gemm_swapped(const GemmDesc& g, int64_t b, bool threaded) {
  const GemmKernels& ks = gemm_kernels();
  if (g.A.t != DType::F32 || g.transA || !g.transB || !ks.direct || !ks.store || !ks.epi) return false;
  if (g.K == 0 || g.M > swap_max_m() || g.M >= g.N) return false;
  const int64_t mr = ks.mr, nr = ks.nr, KC = k_block(ks.nr);
  const float* A = g.A.f32() + b * g.strideA;
  const float* W = g.B.f32() + b * g.strideB;
  const TileCtx base{&g, &ks, g.C.f32() + b * g.strideC, g.pre.p ? g.pre.f32() + b * g.strideC : nullptr,
                     g.bias.p ? g.bias.f32() : nullptr, true, true};

  // A^T as B panels of pw columns, every K block at once: block q's panels start at q * KC * mpad.
  // A few rows get a narrower panel (where the level has its kernel), not 32 columns of padding.
  DirectKernel direct = ks.direct;
  int64_t pw = nr;
  if (g.M <= 8 && ks.direct_w8 && nr > 8) direct = ks.direct_w8, pw = 8;
  else if (g.M <= 16 && ks.direct_w16 && nr > 16) direct = ks.direct_w16, pw = 16;
  const int64_t mpanels = (g.M + pw - 1) / pw, mpad = mpanels * pw;
  static thread_local Scratch<> apack;
  float* at = apack.get(static_cast<size_t>(g.K * mpad));
  const Operand AT{A, g.lda, true};
  for (int64_t pc = 0; pc < g.K; pc += KC) {
    const int64_t kc = std::min(KC, g.K - pc);
    for (int64_t p = 0; p < mpanels; ++p) pack_b(AT, pc, kc, 0, g.M, p, pw, at + pc * mpad);
  }

  // Tasks over groups of nr columns of C (nr rows of W): each group's C tiles are nr columns wide,
  // full vector tiles whenever the group and the row block are whole.
  const int64_t groups = (g.N + nr - 1) / nr;
  auto run_groups = [&](int64_t lo, int64_t hi) {
    alignas(64) float acct[(kNRMax + kMRMax) * kNRMax];  // rows: W rows of the group; columns: A rows
    alignas(64) float tile[kMRMax * kNRMax] = {};
    TileCtx t = base;
    for (int64_t gi = lo; gi < hi; ++gi) {
      const int64_t n0 = gi * nr, wn = std::min(nr, g.N - n0);
      for (int64_t pc = 0; pc < g.K; pc += KC) {
        const int64_t kc = std::min(KC, g.K - pc);
        t.first = pc == 0;
        t.last = pc + kc >= g.K;
        for (int64_t p = 0; p < mpanels; ++p) {
          const float* panel = at + pc * mpad + p * kc * pw;
          for (int64_t s = 0; s < wn; s += mr)
            direct(kc, W + (n0 + s) * g.ldb + pc, g.ldb, std::min(mr, wn - s), panel, acct + s * pw);
          const int64_t m0 = p * pw, wm = std::min(pw, g.M - m0);
          for (int64_t r0 = 0; r0 < wm; r0 += mr) {
            const int64_t hh = std::min(mr, wm - r0);
            for (int64_t r = 0; r < hh; ++r)
              for (int64_t j = 0; j < wn; ++j) tile[r * nr + j] = acct[j * pw + r0 + r];
            store_tile(t, tile, m0 + r0, n0, hh, wn);
          }
        }
      }
    }
  };
  if (threaded && num_threads() > 1) parallel_for(groups, 1, run_groups);
  else run_groups(0, groups);
  return true;
}

}  // namespace biofeg::host
