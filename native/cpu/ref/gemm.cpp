// Reference kernels of the gemm family.
#include "ref.h"

namespace biofeg::ref {

void gemm(const GemmDesc& g) {
  if (g.M <= 0 || g.N <= 0 || g.batch <= 0) return;
  const int64_t nC = span(g.batch, g.strideC, g.M, g.N, g.ldc);
  const In A(g.A, span(g.batch, g.strideA, g.transA ? g.K : g.M, g.transA ? g.M : g.K, g.lda));
  const In B(g.B, span(g.batch, g.strideB, g.transB ? g.N : g.K, g.transB ? g.K : g.N, g.ldb));
  const In bias(g.bias, g.N);
  Out C(g.C, nC, true), pre(g.pre, nC, true);  // kept: elements between rows (ld > N) are not ours
  for (int64_t b = 0; b < g.batch; ++b)
    for (int64_t i = 0; i < g.M; ++i)
      for (int64_t j = 0; j < g.N; ++j) {
        double acc = 0;
        for (int64_t k = 0; k < g.K; ++k) {
          const float a = g.transA ? A.p[b * g.strideA + k * g.lda + i] : A.p[b * g.strideA + i * g.lda + k];
          const float w = g.transB ? B.p[b * g.strideB + j * g.ldb + k] : B.p[b * g.strideB + k * g.ldb + j];
          acc += static_cast<double>(a) * w;
        }
        float* c = &C.p[b * g.strideC + i * g.ldc + j];
        float v = g.alpha * static_cast<float>(acc) + (g.beta != 0.0f ? g.beta * *c : 0.0f);
        if (bias.p) v += bias.p[j];
        if (pre.p) pre.p[b * g.strideC + i * g.ldc + j] = v;
        *c = g.epilogue == Epilogue::Gelu ? host::gelu(v) : v;
      }
  C.done();
  pre.done();
}

void bias_grad(Buf dy, Buf db, int64_t N, int64_t C) {
  const In d(dy, N * C);
  Out o(db, C, true);
  for (int64_t c = 0; c < C; ++c) {
    double s = 0;
    for (int64_t n = 0; n < N; ++n) s += d.p[n * C + c];
    o.p[c] += static_cast<float>(s);
  }
  o.done();
}

}  // namespace biofeg::ref
