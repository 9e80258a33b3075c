// The FMA throughput of this machine per vector width, for benchmarks (bench:kernels prints GEMM
// GFLOP/s as a share of it): many independent FMA chains, no memory traffic.
#pragma once
#include <cstdint>

namespace biofeg::host {

// GFLOP/s of f32 FMAs with `lanes`-wide vectors (8: AVX2 ymm, 16: AVX-512 zmm) on the pool's
// threads, best of a few runs of about `seconds` each; 0 when the CPU (detected level) lacks them.
double fma_peak_gflops(int lanes, double seconds);
// `iters` steps of 16 independent FMA chains; returns a sum of the chains (so none is dropped).
float fma_chains_avx2(int64_t iters);
float fma_chains_avx512(int64_t iters);

}  // namespace biofeg::host
