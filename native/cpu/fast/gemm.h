// Fast f32 GEMM for the CPU backend: packed panels, cache blocking, a 6x16 FMA micro-kernel.
#pragma once
#include "../../ops.h"

namespace biofeg::host {

constexpr int kMR = 6, kNR = 16;

// Micro-kernel: acc[6][16] = sum_k a[k*6 + r] * b[k*16 + c] over kc steps (packed panels).
using MicroKernel = void (*)(int64_t kc, const float* a, const float* b, float* acc);
MicroKernel micro_kernel_avx2();     // nullptr when the CPU lacks AVX2/FMA
MicroKernel micro_kernel_generic();
// Micro-kernel on an unpacked row-major A: row r at a + r * lda for r < h (h <= 6). nullptr without AVX2.
using DirectKernel = void (*)(int64_t kc, const float* a, int64_t lda, int64_t h, const float* b, float* acc);
DirectKernel micro_kernel_direct_avx2();
// Stores a full 6x16 tile: c = alpha * acc + (first ? beta * c : c). nullptr without AVX2.
using TileStore = void (*)(const float* acc, float* c, int64_t ldc, float alpha, float beta, bool first);
TileStore tile_store_avx2();
const char* micro_kernel_name();

// Threaded GEMM over the pool, and a serial one for callers already inside a parallel loop.
void gemm_fast(const GemmDesc& g);
void gemm_serial(const GemmDesc& g);

}  // namespace biofeg::host
