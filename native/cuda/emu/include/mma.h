// cuemu stand-in for <mma.h>: nvcuda::wmma with 16x16x16 tiles. Each lane holds the whole tile
// (a warp-collective operation is executed by every lane with the same result), stored row by
// row; products are f32 (exact for bf16 inputs) and accumulated in k order. The documented
// preconditions are checked: 256-bit aligned pointers, ldm a multiple of 16 bytes, and every
// lane of the warp taking part.
#pragma once
#include <cstdint>
#include <type_traits>

#include "cuda_bf16.h"
#include "cuemu.h"

namespace nvcuda::wmma {

struct matrix_a {};
struct matrix_b {};
struct accumulator {};
struct row_major {};
struct col_major {};
enum layout_t { mem_row_major, mem_col_major };

namespace detail {
inline float f(float v) { return v; }
inline float f(__nv_bfloat16 v) { return __bfloat162float(v); }
template <typename T>
inline T to(float v);
template <>
inline float to<float>(float v) { return v; }
template <>
inline __nv_bfloat16 to<__nv_bfloat16>(float v) { return __float2bfloat16_rn(v); }
template <typename T>
inline void check(const T* p, unsigned ldm, const char* op) {
  if (reinterpret_cast<uintptr_t>(p) % 32 != 0) ::cuemu::kernel_fail("wmma: pointer not 256-bit aligned");
  if ((ldm * sizeof(T)) % 16 != 0) ::cuemu::kernel_fail("wmma: ldm not a multiple of 16 bytes");
  (void)op;
  ::cuemu::syncwarp(0xffffffffu);  // collective: every lane must arrive
}
}  // namespace detail

template <typename Use, int M, int N, int K, typename T, typename Layout = void>
struct fragment {
  static constexpr int rows = std::is_same_v<Use, matrix_b> ? K : M;
  static constexpr int cols = std::is_same_v<Use, matrix_a> ? K : N;
  static constexpr int num_elements = rows * cols;
  T x[rows * cols];
};

template <typename Use, int M, int N, int K, typename T, typename L, typename V>
inline void fill_fragment(fragment<Use, M, N, K, T, L>& a, V v) {
  for (auto& e : a.x) e = detail::to<T>(static_cast<float>(v));
}

template <typename Use, int M, int N, int K, typename T, typename L>
inline void load_matrix_sync(fragment<Use, M, N, K, T, L>& a, const T* p, unsigned ldm) {
  detail::check(p, ldm, "load_matrix_sync");
  using Fr = fragment<Use, M, N, K, T, L>;
  const bool rm = std::is_same_v<L, row_major>;
  for (int r = 0; r < Fr::rows; ++r)
    for (int c = 0; c < Fr::cols; ++c) a.x[r * Fr::cols + c] = rm ? p[r * ldm + c] : p[c * ldm + r];
}
template <int M, int N, int K, typename T>
inline void load_matrix_sync(fragment<accumulator, M, N, K, T>& a, const T* p, unsigned ldm, layout_t l) {
  detail::check(p, ldm, "load_matrix_sync");
  for (int r = 0; r < M; ++r)
    for (int c = 0; c < N; ++c) a.x[r * N + c] = l == mem_row_major ? p[r * ldm + c] : p[c * ldm + r];
}
template <int M, int N, int K, typename T>
inline void store_matrix_sync(T* p, const fragment<accumulator, M, N, K, T>& a, unsigned ldm, layout_t l) {
  detail::check(p, ldm, "store_matrix_sync");
  for (int r = 0; r < M; ++r)
    for (int c = 0; c < N; ++c) (l == mem_row_major ? p[r * ldm + c] : p[c * ldm + r]) = a.x[r * N + c];
}

template <int M, int N, int K, typename TI, typename LA, typename LB, typename TC>
inline void mma_sync(fragment<accumulator, M, N, K, TC>& d, const fragment<matrix_a, M, N, K, TI, LA>& a,
                     const fragment<matrix_b, M, N, K, TI, LB>& b, const fragment<accumulator, M, N, K, TC>& c) {
  float out[M * N];
  for (int i = 0; i < M; ++i)
    for (int j = 0; j < N; ++j) {
      float s = detail::f(c.x[i * N + j]);
      for (int k = 0; k < K; ++k) s += detail::f(a.x[i * K + k]) * detail::f(b.x[k * N + j]);
      out[i * N + j] = s;
    }
  for (int e = 0; e < M * N; ++e) d.x[e] = detail::to<TC>(out[e]);
}

}  // namespace nvcuda::wmma
