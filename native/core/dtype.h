// Element types and devices shared by every layer.
#pragma once
#include <cstdint>
#include <cstring>

namespace biofeg {

enum class DType : int { F32 = 0, BF16 = 1, I32 = 2 };
enum class Device : int { CPU = 0, CUDA = 1 };

inline size_t dtype_size(DType t) { return t == DType::BF16 ? 2 : 4; }
inline const char* dtype_name(DType t) {
  switch (t) {
    case DType::F32: return "f32";
    case DType::BF16: return "bf16";
    case DType::I32: return "i32";
  }
  return "?";
}
inline const char* device_name(Device d) { return d == Device::CPU ? "cpu" : "cuda"; }

// bf16 <-> f32 on the host, round-to-nearest-even (NaN kept quiet), as CUDA's __float2bfloat16.
inline uint16_t f32_to_bf16(float f) {
  uint32_t u;
  std::memcpy(&u, &f, 4);
  if ((u & 0x7fffffffu) > 0x7f800000u) return static_cast<uint16_t>((u >> 16) | 0x40);
  u += 0x7fffu + ((u >> 16) & 1u);
  return static_cast<uint16_t>(u >> 16);
}
inline float bf16_to_f32(uint16_t h) {
  uint32_t u = static_cast<uint32_t>(h) << 16;
  float f;
  std::memcpy(&f, &u, 4);
  return f;
}

// A typed pointer: what ops receive. All float operands of one op share a dtype, except
// statistics (mean, rstd, lse, losses, scalars), which are always f32.
struct Buf {
  void* p = nullptr;
  DType t = DType::F32;
  float* f32() const { return static_cast<float*>(p); }
  int32_t* i32() const { return static_cast<int32_t*>(p); }
};

}  // namespace biofeg
