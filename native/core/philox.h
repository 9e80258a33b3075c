// Counter-based RNG (Philox4x32-10): element i of a draw is a pure function of (seed, offset + i),
// so the same (seed, offset) gives the same mask on CPU and GPU, and backward can regenerate it.
#pragma once
#include <cstdint>

#if defined(__CUDACC__)
#define BIOFEG_HD __host__ __device__ __forceinline__
#else
#define BIOFEG_HD inline
#endif

namespace biofeg {

BIOFEG_HD void philox_round(uint32_t c[4], const uint32_t k[2]) {
  const uint64_t p0 = static_cast<uint64_t>(0xD2511F53u) * c[0];
  const uint64_t p1 = static_cast<uint64_t>(0xCD9E8D57u) * c[2];
  const uint32_t hi0 = static_cast<uint32_t>(p0 >> 32), lo0 = static_cast<uint32_t>(p0);
  const uint32_t hi1 = static_cast<uint32_t>(p1 >> 32), lo1 = static_cast<uint32_t>(p1);
  c[0] = hi1 ^ c[1] ^ k[0];
  c[1] = lo1;
  c[2] = hi0 ^ c[3] ^ k[1];
  c[3] = lo0;
}

// The four outputs of the Philox4x32-10 block at counter `block` under `seed`.
BIOFEG_HD void philox_block(uint64_t seed, uint64_t block, uint32_t c[4]) {
  c[0] = static_cast<uint32_t>(block), c[1] = static_cast<uint32_t>(block >> 32), c[2] = 0u, c[3] = 0u;
  uint32_t k[2] = {static_cast<uint32_t>(seed), static_cast<uint32_t>(seed >> 32)};
  for (int r = 0; r < 10; ++r) {
    philox_round(c, k);
    k[0] += 0x9E3779B9u;
    k[1] += 0xBB67AE85u;
  }
}

// Uniform in [0, 1) with 24 random bits for element `e` of a draw: output e % 4 of the block at
// counter e / 4 (one block feeds four consecutive elements; the vector CPU path computes each
// block once).
BIOFEG_HD float philox_uniform(uint64_t seed, uint64_t e) {
  uint32_t c[4];
  philox_block(seed, e >> 2, c);
  const uint32_t v = (e & 2) ? ((e & 1) ? c[3] : c[2]) : ((e & 1) ? c[1] : c[0]);  // no dynamic index (GPU registers)
  return static_cast<float>(v >> 8) * (1.0f / 16777216.0f);
}

// Dropout keeps element `ctr` when its uniform is >= p.
BIOFEG_HD bool dropout_keep(uint64_t seed, uint64_t ctr, float p) {
  return philox_uniform(seed, ctr) >= p;
}

}  // namespace biofeg
