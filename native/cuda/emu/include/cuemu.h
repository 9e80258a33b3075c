// cuemu: runs the CUDA backend's kernels on the CPU, so that a machine without a GPU (this
// project's development machines and CI) can execute every kernel and compare it with the
// reference backend. It is a test tool, not a backend: slow, single-threaded, deterministic.
//
// What it models: a grid runs block after block; the threads of a block are fibers switched at
// __syncthreads / warp collectives, so shared memory, barriers and shuffles behave as written.
// What it checks beyond the results: launch limits (block and grid sizes, static shared memory
// over 48 KiB, dynamic shared memory against cudaFuncSetAttribute), barrier deadlocks (a __syncthreads not reached by every live
// thread), warp collectives with lanes that have exited or are missing, WMMA pointer alignment and
// ldm rules, __trap. Shared memory is poisoned (all bits set: NaN, or -1) before every block, and
// CUEMU_ORDER=reverse runs threads and blocks in reverse order to expose order-dependent races.
// Device buffers and each __shared__ array are exact-size host allocations, so a build with
// -fsanitize=address (npm run build:emu-asan) reports any kernel access past one.
// What it cannot check: timing, memory coherence between unsynchronised threads, register
// limits, real cuBLAS (emu/cublas_emu.cpp stands in with cuBLAS's documented semantics;
// BIOFEG_CUBLAS=off selects the hand-written GEMM).
//
// Kernel sources are compiled unchanged by g++ after a text rewrite (emu/rewrite.cmake) of the
// launch syntax `k<<<grid, block, smem>>>(args)` and of __shared__ declarations, which become
// references into per-block shared memory (so that every block starts from poisoned memory and
// static shared memory over 48 KiB is an error).
#pragma once
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <tuple>
#include <type_traits>
#include <utility>

struct uint3 {
  unsigned x, y, z;
};
struct dim3 {
  unsigned x, y, z;
  constexpr dim3(unsigned x_ = 1, unsigned y_ = 1, unsigned z_ = 1) : x(x_), y(y_), z(z_) {}
};

#define __global__
#define __device__
#define __host__
#define __forceinline__ inline
#define __launch_bounds__(...)
#define __align__(n) __attribute__((aligned(n)))
// __shared__ in a .cu file is rewritten to the block's arena (rewrite.cmake); one left in a
// header (a non-template inline function) is a static in a section poisoned before each block.
#define __shared__ static __attribute__((section("cuemu_shared")))
#define __CUDA_ARCH__ 900

namespace cuemu {

// ---- the running thread (valid inside a kernel)
struct Fiber;
extern Fiber* g_cur;
extern uint3 g_block_idx;
extern dim3 g_block_dim, g_grid_dim;
const uint3& thread_idx();

[[noreturn]] void kernel_fail(const char* what);  // ends the launch with an error
void syncthreads();
void syncwarp(unsigned mask);
int lane_id();
// Exchanges `bytes` bytes with the other lanes of `mask`: writes mine, returns lane `src`'s.
void warp_exchange(unsigned mask, const void* mine, void* theirs, int src, size_t bytes);
void* dyn_smem();
// The block's static shared memory for the declaration `tag` (one per site and instantiation):
// the first thread to reach it allocates, the others get the same bytes.
void* shared_alloc(const void* tag, size_t bytes, size_t align);
template <typename T>
inline T& shared(const void* tag, size_t align) {
  return *static_cast<T*>(shared_alloc(tag, sizeof(T), align));
}
// Whether [p, p + bytes) lies inside one live cudaMalloc allocation.
bool device_range(const void* p, size_t bytes);

// ---- launches
struct Cfg {
  dim3 grid, block;
  size_t smem;
  Cfg(dim3 g, dim3 b, size_t s = 0, void* /*stream*/ = nullptr) : grid(g), block(b), smem(s) {}
};
using Body = void (*)(void* closure);
// Runs body(closure) on every thread of the grid; records a launch error instead of throwing.
void run_grid(const Cfg& cfg, Body body, void* closure);

// `k<<<cfg>>>(args)` is rewritten to `launch(Cfg(cfg), [&](auto&... a) { k(a...); })(args)`:
// the lambda lets the compiler deduce k's template arguments from the call, as nvcc does.
template <typename F>
struct Launch {
  Cfg cfg;
  F call;
  template <typename... A>
  void operator()(A&&... args) const {
    using Params = std::tuple<std::decay_t<A>...>;
    Params params(std::forward<A>(args)...);
    struct Closure {
      const F* call;
      const Params* params;
    } c{&call, &params};
    run_grid(cfg,
             [](void* p) {
               auto* cl = static_cast<Closure*>(p);
               Params mine = *cl->params;  // parameters are per-thread copies
               std::apply(*cl->call, mine);
             },
             &c);
  }
};
template <typename F>
Launch<F> launch(Cfg cfg, F call) {
  return Launch<F>{cfg, call};
}

}  // namespace cuemu

#define threadIdx (::cuemu::thread_idx())
#define blockIdx (::cuemu::g_block_idx)
#define blockDim (::cuemu::g_block_dim)
#define gridDim (::cuemu::g_grid_dim)

inline void __syncthreads() { ::cuemu::syncthreads(); }
inline void __syncwarp(unsigned mask = 0xffffffffu) { ::cuemu::syncwarp(mask); }
[[noreturn]] inline void __trap() { ::cuemu::kernel_fail("__trap() called"); }

template <typename T>
inline T __shfl_xor_sync(unsigned mask, T v, int lane_mask, int width = 32) {
  static_assert(std::is_trivially_copyable_v<T> && sizeof(T) <= 8, "shuffle of at most 8 bytes");
  const int lane = ::cuemu::lane_id();
  int src = lane ^ lane_mask;
  if ((src / width) != (lane / width)) src = lane;  // outside the segment: own value, as CUDA does
  T out;
  ::cuemu::warp_exchange(mask, &v, &out, src, sizeof(T));
  return out;
}
template <typename T>
inline T __shfl_sync(unsigned mask, T v, int src_lane, int width = 32) {
  const int lane = ::cuemu::lane_id();
  const int src = (lane / width) * width + (src_lane % width);
  T out;
  ::cuemu::warp_exchange(mask, &v, &out, src, sizeof(T));
  return out;
}

// CUDA's math library declares these in the global namespace.
using std::isfinite;
using std::isinf;
using std::isnan;

// Correctly rounded single operations: the emulator is built with -ffp-contract=off, so plain
// expressions already round once per operation.
inline float __fadd_rn(float a, float b) { return a + b; }
inline float __fsub_rn(float a, float b) { return a - b; }
inline float __fmul_rn(float a, float b) { return a * b; }
inline float __fdiv_rn(float a, float b) { return a / b; }
inline float __fsqrt_rn(float a) { return std::sqrt(a); }

// One OS thread runs all fibers, so atomics are plain read-modify-writes (bf16: cuda_bf16.h).
template <typename T, typename = std::enable_if_t<std::is_arithmetic_v<T>>>
inline T atomicAdd(T* p, T v) {
  const T o = *p;
  *p = o + v;
  return o;
}
template <typename T, typename = std::enable_if_t<std::is_integral_v<T>>>
inline T atomicCAS(T* p, T compare, T v) {
  const T o = *p;
  if (o == compare) *p = v;
  return o;
}
