// cuemu stand-in for <cuda_bf16.h>: storage type and the conversions the kernels use, rounding
// as the hardware does (round to nearest even, NaN kept quiet) via the project's host helpers.
#pragma once
#include <cstdint>

#include "../../../core/dtype.h"
#include "cuemu.h"

struct __nv_bfloat16 {
  uint16_t x;
};
inline __nv_bfloat16 __float2bfloat16_rn(float v) { return __nv_bfloat16{biofeg::f32_to_bf16(v)}; }
inline __nv_bfloat16 __float2bfloat16(float v) { return __float2bfloat16_rn(v); }
inline float __bfloat162float(__nv_bfloat16 v) { return biofeg::bf16_to_f32(v.x); }
inline __nv_bfloat16 __ushort_as_bfloat16(unsigned short v) { return __nv_bfloat16{v}; }
inline unsigned short __bfloat16_as_ushort(__nv_bfloat16 v) { return v.x; }
inline __nv_bfloat16 atomicAdd(__nv_bfloat16* p, __nv_bfloat16 v) {
  const __nv_bfloat16 o = *p;
  *p = __float2bfloat16_rn(__bfloat162float(o) + __bfloat162float(v));
  return o;
}
