// Fast f32 GEMM for the CPU backend: packed panels, cache blocking, an FMA micro-kernel chosen
// at run time for the CPU level (cpu_level.h): 8x32 zmm tiles with AVX-512, 6x16 ymm tiles
// with AVX2/FMA, a plain-loop 6x16 tile otherwise.
#pragma once
#include "../../ops.h"

namespace biofeg::host {

constexpr int kMR = 6, kNR = 16;         // the AVX2 and generic tile
constexpr int kMRMax = 14, kNRMax = 32;  // the largest tile of any level (accumulator scratch)

// Micro-kernel: acc[mr][nr] = sum_k a[k*mr + r] * b[k*nr + c] over kc steps (packed panels).
using MicroKernel = void (*)(int64_t kc, const float* a, const float* b, float* acc);
// Micro-kernel on an unpacked row-major A: row r at a + r * lda for r < h (h <= mr).
using DirectKernel = void (*)(int64_t kc, const float* a, int64_t lda, int64_t h, const float* b, float* acc);
// As DirectKernel, on an A of bf16 values widened as they are read (the top-k scan of a bf16
// entity pool: the products are those of the widened f32 values, in the same order).
using DirectKernel16 = void (*)(int64_t kc, const uint16_t* a, int64_t lda, int64_t h, const float* b, float* acc);
// Stores a full mr x nr tile: c = alpha * acc + (first ? beta * c : c).
using TileStore = void (*)(const float* acc, float* c, int64_t ldc, float alpha, float beta, bool first);
// A full tile's last store: v = alpha*acc + (first ? beta*c : c) (+ bias[nr]); pre = v when
// given; c = gelu(v) when gelu, else v.
using EpiStore = void (*)(const float* acc, float* c, int64_t ldc, float alpha, float beta, bool first,
                          const float* bias, float* pre, bool gelu);

// One level's GEMM kernels. direct, store and epi may be nullptr (the generic level): the
// driver then packs A and stores tiles with its scalar loop.
struct GemmKernels {
  const char* name;
  int mr, nr;
  MicroKernel packed;
  DirectKernel direct;
  TileStore store;
  EpiStore epi;
  DirectKernel16 direct16 = nullptr;  // nullptr: a bf16 A must be widened first
  // DirectKernels on narrower B panels (acc row stride 16 and 8; nullptr where the level has
  // none): the small-M path's A^T panel for M <= 16 and M <= 8, with a column's sum computed as
  // by .direct (same products, same order).
  DirectKernel direct_w16 = nullptr;
  DirectKernel direct_w8 = nullptr;
};
// The kernels of a level; .packed is nullptr when this build lacks them (not an x86-64 target).
// They are only called when cpu_level() is at least that level.
GemmKernels gemm_kernels_avx2();
GemmKernels gemm_kernels_avx512();
GemmKernels gemm_kernels_generic();
// The kernels of the active level (throws as cpu_level() on a bad BIOFEG_CPU_KERNEL).
const GemmKernels& gemm_kernels();
const char* micro_kernel_name();  // gemm_kernels().name, e.g. "avx512 8x32"

// Rows per task of an M-row GEMM on nt threads: near `target` (at most `cap`), a multiple of mr,
// chosen so the row blocks spread evenly over the threads (11 blocks of 96 rows on 2 threads
// leave one thread idle for a twelfth of the GEMM; 8 blocks of 128 do not).
int64_t balanced_rows(int64_t M, int mr, int64_t target, int64_t cap, int nt);

// Threaded GEMM over the pool, and a serial one for callers already inside a parallel loop.
// gemm_fast also takes a bf16 A (row-major, f32 B and C) where gemm_kernels().direct16 exists.
// split_k false keeps K whole (weight-gradient shapes otherwise sum two halves of K): top-k
// needs a score's sum to be the same whichever shape its GEMM had.
void gemm_fast(const GemmDesc& g, bool split_k_ok = true);
void gemm_serial(const GemmDesc& g);

}  // namespace biofeg::host
