// cuBLAS, loaded at run time with dlopen: the project ships no cuBLAS headers and must run
// where the library is absent (then the hand-written GEMM in gemm_fallback.cu is used).
//
// Where the library is looked for, first hit wins:
//   1. BIOFEG_CUBLAS=<file path>   an explicit libcublas.so, and nothing else (when it cannot be
//                                  loaded, the fallback is used and the reason reported);
//                                  BIOFEG_CUBLAS=off (or none, 0) disables cuBLAS altogether.
//   2. "libcublas.so.13", then "libcublas.so.12" through the dynamic loader's search path
//      (LD_LIBRARY_PATH, ld.so.cache, ...).
//   3. For each directory <dir> in BIOFEG_PYTHON_SITE_PACKAGES (colon-separated), the pip wheels'
//      <dir>/nvidia/cu13/lib/libcublas.so.13 and <dir>/nvidia/cublas/lib/libcublas.so.12.
// BIOFEG_TF32=1 opts f32 GEMMs into TF32 tensor cores (CUBLAS_COMPUTE_32F_FAST_TF32); by
// default f32 GEMMs are computed in full f32.
#pragma once
#include <string>

namespace biofeg::cuda::cublas {

using Handle = void*;
using Status = int;

// Values of the cuBLAS / CUDA enums we pass (cublas_api.h, library_types.h); all int-sized.
enum : int {
  kStatusSuccess = 0,
  kOpN = 0,
  kOpT = 1,
  kR32F = 0,    // CUDA_R_32F
  kR16BF = 14,  // CUDA_R_16BF
  kCompute32F = 68,
  kCompute32FFastTF32 = 77,
  kGemmDefault = -1,
  kDefaultMath = 0,
  kDisallowReducedPrecisionReduction = 16,  // CUBLAS_MATH_DISALLOW_REDUCED_PRECISION_REDUCTION
};

struct Api {
  std::string path;  // the file that was loaded
  Status (*create)(Handle*) = nullptr;                                   // cublasCreate_v2
  Status (*destroy)(Handle) = nullptr;                                   // cublasDestroy_v2
  Status (*set_stream)(Handle, void* stream) = nullptr;                  // cublasSetStream_v2
  Status (*set_math_mode)(Handle, int mode) = nullptr;                   // cublasSetMathMode
  Status (*gemm_strided_batched_ex)(Handle, int transa, int transb, int m, int n, int k, const void* alpha,
                                    const void* A, int Atype, int lda, long long strideA, const void* B, int Btype,
                                    int ldb, long long strideB, const void* beta, void* C, int Ctype, int ldc,
                                    long long strideC, int batchCount, int computeType,
                                    int algo) = nullptr;  // cublasGemmStridedBatchedEx
  const char* (*status_string)(Status) = nullptr;        // cublasGetStatusString (optional)
};

// The loaded library, or nullptr when none was found (or it was disabled). Loads once; thread-safe.
const Api* api();
// Why the library is absent ("" when loaded): what was tried.
std::string absent_reason();
std::string status_name(Status s);
bool tf32_enabled();

}  // namespace biofeg::cuda::cublas
