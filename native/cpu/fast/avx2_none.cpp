// The AVX2/FMA entry points of gemm.h and vec.h for targets that are not x86-64 (CMakeLists.txt
// compiles this file instead of the *_avx2.cpp files there, or when BIOFEG_FORCE_NO_X86=ON).
// cpu_level() says Generic there, so the GEMM runs the generic micro-kernel and every other op
// its scalar loop; the kernels themselves are never called (they throw if they were, rather
// than compute something wrong).
#include "../../core/error.h"
#include "gemm.h"
#include "peak.h"
#include "vec.h"

namespace biofeg::host {
namespace {
[[noreturn]] void absent(const char* fn) { fail(fn, ": this build has no AVX2 kernels (not an x86-64 target)"); }
}  // namespace

float fma_chains_avx2(int64_t) { absent("fma_chains_avx2"); }
GemmKernels gemm_kernels_avx2() { return {"avx2 (absent)", kMR, kNR, nullptr, nullptr, nullptr, nullptr}; }

void dropout_avx2(const float*, float*, int64_t, float, float, uint64_t, uint64_t, uint8_t*) { absent("dropout_avx2"); }
void dropout_bits_avx2(const float*, float*, int64_t, float, const uint8_t*) { absent("dropout_bits_avx2"); }
void gelu_fwd_avx2(const float*, float*, int64_t) { absent("gelu_fwd_avx2"); }
void gelu_bwd_avx2(const float*, const float*, float*, int64_t) { absent("gelu_bwd_avx2"); }
void store_tile_epi_avx2(const float*, float*, int64_t, float, float, bool, const float*, float*, bool) {
  absent("store_tile_epi_avx2");
}
float softmax_row_avx2(float*, const float*, int64_t, bool, float) { absent("softmax_row_avx2"); }
void colsum_avx2(const float*, int64_t, int64_t, int64_t, float*) { absent("colsum_avx2"); }
double sumsq_avx2(const float*, int64_t) { absent("sumsq_avx2"); }
void adamw_avx2(const AdamWDescAvx&, int64_t) { absent("adamw_avx2"); }
void layernorm_fwd_avx2(const float*, const float*, const float*, float*, float*, float*, int64_t, int64_t, float) {
  absent("layernorm_fwd_avx2");
}
void layernorm_bwd_avx2(const float*, const float*, const float*, const float*, const float*, float*, float*, float*,
                        int64_t, int64_t) {
  absent("layernorm_bwd_avx2");
}

}  // namespace biofeg::host
