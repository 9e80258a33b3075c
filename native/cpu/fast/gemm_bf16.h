// bf16 GEMM of the fast CPU backend: bf16 A and B (activations, weights), f32 accumulation, the
// f32 GEMM's epilogue (alpha, beta, bias, pre, GELU), C and pre stored in their own dtype (f32 or
// bf16), bias read in its own. The micro-kernel is AVX512_BF16's vdpbf16ps (gemm_avx512bf16.cpp),
// which multiplies k-pairs: packed panels interleave two consecutive k of a row or column.
// Packing and dispatch (gemm_bf16.cpp) are portable; descs the kernel does not cover (f32 A/B
// with a bf16 C, bias or pre; K = 0; a CPU below Avx512Bf16) widen to f32 and run the f32 GEMM,
// which gives the reference's result up to summation order.
#pragma once
#include <cstdint>

#include "../../ops.h"

namespace biofeg::host {

// Micro-tile: 6 rows x 64 columns (four 16-lane accumulators per row).
constexpr int kBfMR = 6, kBfNR = 64;

// acc[6][64] = (load ? acc : 0) + sum over kp k-pairs of a . b. a: packed [kp][6][2]; b: packed
// [kp][64][2] (64-byte aligned).
using Bf16Kernel = void (*)(int64_t kp, const uint16_t* a, const uint16_t* b, float* acc, bool load);
// As Bf16Kernel, A read in place: row r < h at a + r * lda, its pairs contiguous (rows >= h
// repeat row 0; the caller discards them).
using Bf16DirectKernel = void (*)(int64_t kp, const uint16_t* a, int64_t lda, int64_t h, const uint16_t* b, float* acc,
                                  bool load);

// The stores after the last K block: v = alpha * acc + beta * C (beta != 0) + bias; pre = v;
// C = GELU(v) or v. Pointers at the tile's first element; each operand f32 or bf16 (its flag).
struct Bf16Epi {
  float alpha = 1.0f, beta = 0.0f;
  void* C = nullptr;
  bool c_bf16 = false;
  int64_t ldc = 0;
  const void* bias = nullptr;  // at column j0
  bool bias_bf16 = false;
  void* pre = nullptr;  // ldc like C
  bool pre_bf16 = false;
  bool gelu = false;
};
// h x w tile of acc (row stride kBfNR).
using Bf16Store = void (*)(const Bf16Epi& e, const float* acc, int64_t h, int64_t w);

// The AVX512_BF16 entry points (gemm_avx512bf16.cpp); nullptr where this build has none.
Bf16Kernel bf16_kernel_avx512();
Bf16DirectKernel bf16_direct_avx512();
Bf16Store bf16_store_avx512();
// n elements f32 -> bf16 (round to nearest even), for casts; nullptr where this build has none.
using Bf16Narrow = void (*)(const float* x, uint16_t* y, int64_t n);
Bf16Narrow bf16_narrow_avx512();
// hi = bf16(x), lo = bf16(x - hi) for n elements; nullptr where this build has none.
using Bf16Split = void (*)(const float* x, uint16_t* hi, uint16_t* lo, int64_t n);
Bf16Split bf16_split_avx512();
// One k-pair row of a packed B panel (64-byte aligned dst of 128) from two rows of w <= 64
// columns (r1 null: zeros); nullptr where this build has none.
using Bf16Interleave = void (*)(const uint16_t* r0, const uint16_t* r1, int64_t w, uint16_t* dst);
Bf16Interleave bf16_interleave_avx512();
// k-pairs [0, kp) of w <= 64 rows (row j at src + j * ld, 2 * 64 * ld < 2^31) into a packed B
// panel: dst[(q * 64 + j) * 2 ..] = pair q of row j; nullptr where this build has none.
using Bf16GatherPairs = void (*)(const uint16_t* src, int64_t ld, int64_t w, int64_t kp, uint16_t* dst);
Bf16GatherPairs bf16_gather_pairs_avx512();

// Whether the CPU runs the bf16 kernels (cpu_level() >= Avx512Bf16): the backend declares bf16
// in its Caps only then. Throws as cpu_level() on a bad BIOFEG_CPU_KERNEL.
bool bf16_kernels();
// Why not, for messages: "" when bf16_kernels().
const char* bf16_unavailable_reason();

// Any float operand in bf16: gemm_bf16 takes the desc.
inline bool gemm_is_bf16(const GemmDesc& g) {
  auto b = [](Buf x) { return x.p && x.t == DType::BF16; };
  return b(g.A) || b(g.B) || b(g.C) || b(g.bias) || b(g.pre);
}
void gemm_bf16(const GemmDesc& g);

// The fast backend's entries where it takes bf16 (backend.cpp puts them in its table when
// bf16_kernels()): bf16 descs here, f32 ones to the family files' kernels. attention_fwd on bf16
// qkv: without dropout, Q K^T and P V with the bf16 GEMM (f32 scores, lse and softmax; P as a
// bf16 pair hi + lo, so it keeps about 16 bits as the reference's f32 P); with dropout, the f32
// kernel on widened qkv.
void gemm_routed(const GemmDesc& g);
void attention_fwd_routed(const AttnDesc& d);
void cast_routed(Buf x, Buf y, int64_t n);  // f32 -> bf16 vectorised; the rest to fast::cast
// The bf16 capabilities: bf16 operands for the ops of an inference forward (GEMM, attention, the
// elementwise forward ops, embedding, casts), f32 for every backward, loss and optimiser op.
void declare_bf16_caps(Caps& caps);

// The f32 -> bf16 cast of n elements on the calling thread (vectorised where the CPU has AVX512_BF16).
void narrow_bf16(const float* x, uint16_t* y, int64_t n);

}  // namespace biofeg::host
