// 64-byte aligned scratch that grows and is reused (the GEMM drivers' packed panels and tiles).
#pragma once
#include <cstddef>
#include <cstdint>
#include <vector>

namespace biofeg::host {

template <typename T = float>
struct Scratch {
  std::vector<T> v;
  T* get(size_t n) {
    if (v.size() < n + 64) v.resize(n + 64);
    auto p = reinterpret_cast<uintptr_t>(v.data());
    return reinterpret_cast<T*>((p + 63) & ~uintptr_t(63));
  }
};

}  // namespace biofeg::host
