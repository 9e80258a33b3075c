// Validators of the gemm family.
#include "check.h"

namespace biofeg::check {

void gemm(const Backend& be, const GemmDesc& g) {
  const V v(be, Op::gemm);
  v.need(g.M >= 0 && g.N >= 0 && g.K >= 0 && g.batch >= 0, "negative size M=", g.M, " N=", g.N, " K=", g.K, " batch=",
         g.batch);
  v.fits({g.M, g.K}, "A (M x K)");
  v.fits({g.K, g.N}, "B (K x N)");
  v.fits({g.M, g.N}, "C (M x N)");
  v.fits({g.batch, g.strideA > 0 ? g.strideA : 1}, "batch x strideA");
  v.fits({g.batch, g.strideB > 0 ? g.strideB : 1}, "batch x strideB");
  v.fits({g.batch, g.strideC > 0 ? g.strideC : 1}, "batch x strideC");
  v.fits({g.transA ? g.K : g.M, g.lda > 0 ? g.lda : 1}, "A's stored rows (rows x lda)");
  v.fits({g.transB ? g.N : g.K, g.ldb > 0 ? g.ldb : 1}, "B's stored rows (rows x ldb)");
  v.fits({g.M, g.ldc > 0 ? g.ldc : 1}, "C's stored rows (M x ldc)");
  if (g.M == 0 || g.N == 0 || g.batch == 0) return;
  v.float1({g.C, "C"});
  if (g.K > 0) {
    v.float1({g.A, "A"});
    v.float1({g.B, "B"});
    v.need(g.A.t == g.B.t, "A and B must share a dtype, got ", dtype_name(g.A.t), " and ", dtype_name(g.B.t));
  }
  v.float1({g.bias, "bias"}, true);
  v.float1({g.pre, "pre"}, true);
  v.need(be.caps.gemm_epilogue || (!g.bias.p && !g.pre.p && g.epilogue == Epilogue::None), "backend '", be.name,
         "' has no GEMM epilogue (bias, GELU, pre)");
  // Leading dimensions hold a stored row; batch strides are not negative.
  v.need(g.K == 0 || g.lda >= (g.transA ? g.M : g.K), "lda ", g.lda, " is shorter than a row of A");
  v.need(g.K == 0 || g.ldb >= (g.transB ? g.K : g.N), "ldb ", g.ldb, " is shorter than a row of B");
  v.need(g.ldc >= g.N, "ldc ", g.ldc, " is shorter than a row of C");
  v.need(g.strideA >= 0 && g.strideB >= 0 && g.strideC >= 0, "negative batch stride");
}

void bias_grad(const Backend& be, Buf dy, Buf db, int64_t N, int64_t C) {
  const V v(be, Op::bias_grad);
  v.fits({N, C}, "dy (N x C)");
  v.floats({{dy, "dy"}});
  v.acc({db, "db"}, {dy, "dy"});
}

}  // namespace biofeg::check
