// Device-side helpers shared by the CUDA kernels: element loads/stores by storage type, a
// run-time-typed pointer for secondary operands, reductions, launch sizes, dtype dispatch.
// Everything computes in f32 whatever the storage type.
#pragma once
#include <cuda_bf16.h>
#include <cuda_runtime.h>

#include <cmath>
#include <cstdint>
#include <initializer_list>

#include "../core/dtype.h"
#include "../core/error.h"
#include "../ops.h"
#include "cuda_ops.h"

namespace biofeg::cuda {

using bf16 = __nv_bfloat16;

// Asynchronous 16-byte copy global -> shared (sm_80 cp.async): `bytes` (0..16) are read from
// src, the rest of the 16 zero-filled; src must be a valid address even when bytes is 0. Copies
// issued since the last commit form a group; wait<N> blocks until at most N groups are pending
// (this thread's copies only: a __syncthreads must follow before other threads read them).
// The emulator copies at once, so commit and wait are no-ops there.
__device__ __forceinline__ void cp_async16(void* dst, const void* src, int bytes) {
#ifdef BIOFEG_CUEMU
  if (reinterpret_cast<uintptr_t>(dst) % 16 != 0 || reinterpret_cast<uintptr_t>(src) % 16 != 0)
    ::cuemu::kernel_fail("cp.async: misaligned 16-byte copy");
  if (bytes < 0 || bytes > 16) ::cuemu::kernel_fail("cp.async: source size outside 0..16");
  unsigned char* d = static_cast<unsigned char*>(dst);
  for (int i = 0; i < 16; ++i) d[i] = i < bytes ? static_cast<const unsigned char*>(src)[i] : 0;
#elif defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 800
  const unsigned s = static_cast<unsigned>(__cvta_generic_to_shared(dst));
  asm volatile("cp.async.cg.shared.global [%0], [%1], 16, %2;\n" ::"r"(s), "l"(src), "r"(bytes));
#else
  __trap();  // callers run on sm_80 and later only
#endif
}
__device__ __forceinline__ void cp_async_commit() {
#if !defined(BIOFEG_CUEMU) && defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 800
  asm volatile("cp.async.commit_group;\n" ::);
#endif
}
template <int N>
__device__ __forceinline__ void cp_async_wait() {
#if !defined(BIOFEG_CUEMU) && defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 800
  asm volatile("cp.async.wait_group %0;\n" ::"n"(N));
#endif
}

__device__ __forceinline__ float ld(const float* p) { return *p; }
__device__ __forceinline__ float ld(const bf16* p) { return __bfloat162float(*p); }

template <typename T>
__device__ __forceinline__ T cvt(float v);
template <>
__device__ __forceinline__ float cvt<float>(float v) { return v; }
template <>
__device__ __forceinline__ bf16 cvt<bf16>(float v) { return __float2bfloat16_rn(v); }  // as host f32_to_bf16

// A float operand whose storage type is known only at run time (bias, pre-activation,
// parameter-gradient accumulators): a uniform branch per access, used off the hot paths.
struct AnyPtr {
  void* p;
  int bf;  // 1: bf16, 0: f32
  __device__ __forceinline__ float get(int64_t i) const {
    return bf ? __bfloat162float(static_cast<const bf16*>(p)[i]) : static_cast<const float*>(p)[i];
  }
  __device__ __forceinline__ void set(int64_t i, float v) const {
    if (bf) static_cast<bf16*>(p)[i] = __float2bfloat16_rn(v);
    else static_cast<float*>(p)[i] = v;
  }
  __device__ __forceinline__ void add(int64_t i, float v) const { set(i, get(i) + v); }
  __device__ __forceinline__ void atomic_add(int64_t i, float v) const {
    if (bf) atomicAdd(static_cast<bf16*>(p) + i, __float2bfloat16_rn(v));
    else atomicAdd(static_cast<float*>(p) + i, v);
  }
};
inline AnyPtr any(Buf b) { return AnyPtr{b.p, b.t == DType::BF16 ? 1 : 0}; }

// erf GELU and its derivative, the same formulas as the host reference.
__device__ __forceinline__ float gelu_f(float x) { return 0.5f * x * (1.0f + erff(x * 0.70710678118654752f)); }
__device__ __forceinline__ float gelu_grad_f(float x) {
  const float cdf = 0.5f * (1.0f + erff(x * 0.70710678118654752f));
  const float pdf = 0.39894228040143268f * expf(-0.5f * x * x);
  return cdf + x * pdf;
}

__device__ __forceinline__ float warp_sum(float v) {
  for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(0xffffffffu, v, o);
  return v;
}
__device__ __forceinline__ float warp_max(float v) {
  for (int o = 16; o > 0; o >>= 1) v = fmaxf(v, __shfl_xor_sync(0xffffffffu, v, o));
  return v;
}
__device__ __forceinline__ double warp_sum_d(double v) {
  for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(0xffffffffu, v, o);
  return v;
}
// Sum over the block (blockDim.x a multiple of 32, at most 1024); every thread must call it.
// The result is valid in thread 0.
__device__ __forceinline__ double block_sum_d(double v) {
  __shared__ double part[32];
  const int lane = threadIdx.x & 31, w = threadIdx.x >> 5;
  v = warp_sum_d(v);
  __syncthreads();  // part[] may still be read by a previous call
  if (lane == 0) part[w] = v;
  __syncthreads();
  double s = 0;
  if (w == 0) {
    s = lane < static_cast<int>(blockDim.x >> 5) ? part[lane] : 0.0;
    s = warp_sum_d(s);
  }
  return s;
}

// Grid for a grid-stride loop over n items with `threads` per block.
inline unsigned grid_for(int64_t n, int threads) {
  const int64_t want = (n + threads - 1) / threads;
  const int64_t cap = static_cast<int64_t>(sm_count()) * 32;
  return static_cast<unsigned>(want < 1 ? 1 : (want < cap ? want : cap));
}
__device__ __forceinline__ int64_t gtid() { return static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; }
__device__ __forceinline__ int64_t gstride() { return static_cast<int64_t>(gridDim.x) * blockDim.x; }

// Row kernels (LayerNorm, cross-entropy, the gradient penalty): one warp per row, 4 rows per
// 128-thread block.
constexpr int kRowsPerBlock = 4;
inline unsigned row_blocks(int64_t N, const char* op) {
  const int64_t b = (N + kRowsPerBlock - 1) / kRowsPerBlock;
  BIOFEG_CHECK(b <= 0x7fffffff, op, ": too many rows (", N, ")");
  return static_cast<unsigned>(b);
}

// An index a kernel found out of range (embedding ids, cross-entropy targets): the first thread
// to find one records it; the host reports it at the next synchronisation (runtime.cpp).
__device__ __forceinline__ void report_index(IndexError* e, Op op, int64_t limit, int64_t i, int64_t v) {
  if (atomicCAS(&e->claimed, 0u, 1u) == 0u) {
    e->op = static_cast<int>(op);
    e->index = i;
    e->value = v;
    e->limit = limit;
  }
}

}  // namespace biofeg::cuda

// Runs the statement list with T bound to the storage type of dtype DT (f32 or bf16).
#define BIOFEG_FLOAT_DISPATCH(DT, OP, T, ...)                                                \
  switch (DT) {                                                                              \
    case ::biofeg::DType::F32: {                                                             \
      using T = float;                                                                       \
      __VA_ARGS__;                                                                           \
      break;                                                                                 \
    }                                                                                        \
    case ::biofeg::DType::BF16: {                                                            \
      using T = ::biofeg::cuda::bf16;                                                        \
      __VA_ARGS__;                                                                           \
      break;                                                                                 \
    }                                                                                        \
    default:                                                                                 \
      ::biofeg::fail(OP, ": expected f32 or bf16, got ", ::biofeg::dtype_name(DT));          \
  }
