// The AVX-512 entry points of gemm.h and vec.h for targets that are not x86-64 (CMakeLists.txt
// compiles this file instead of the *_avx512.cpp files there, or when BIOFEG_FORCE_NO_X86=ON).
// cpu_level() never says Avx512 there; the kernels throw if they were called anyway.
#include "../../core/error.h"
#include "gemm.h"
#include "peak.h"
#include "vec.h"

namespace biofeg::host {
namespace {
[[noreturn]] void absent(const char* fn) { fail(fn, ": this build has no AVX-512 kernels (not an x86-64 target)"); }
}  // namespace

float fma_chains_avx512(int64_t) { absent("fma_chains_avx512"); }
GemmKernels gemm_kernels_avx512() { return {"avx512 (absent)", kMR, kNR, nullptr, nullptr, nullptr, nullptr}; }

void gelu_fwd_avx512(const float*, float*, int64_t) { absent("gelu_fwd_avx512"); }
void gelu_bwd_avx512(const float*, const float*, float*, int64_t) { absent("gelu_bwd_avx512"); }
float softmax_row_avx512(float*, const float*, int64_t, bool, float) { absent("softmax_row_avx512"); }
void adamw_avx512(const AdamWDescAvx&, int64_t) { absent("adamw_avx512"); }
void layernorm_fwd_avx512(const float*, const float*, const float*, float*, float*, float*, int64_t, int64_t, float) {
  absent("layernorm_fwd_avx512");
}
void layernorm_bwd_avx512(const float*, const float*, const float*, const float*, const float*, float*, float*,
                          float*, int64_t, int64_t) {
  absent("layernorm_bwd_avx512");
}
int64_t above_avx512(const float*, int64_t, float, int32_t*) { absent("above_avx512"); }

}  // namespace biofeg::host
