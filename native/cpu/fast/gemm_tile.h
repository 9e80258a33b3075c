// The f32 GEMM driver's shared pieces (gemm.cpp, and gemm_swap.cpp's small-M path): operand views,
// B panel packing, K blocking and the tile store with its epilogue. Both drivers go through
// them so that a C element gets the same products, K blocks and stores whichever one ran.
#pragma once
#include <cstdint>
#include <vector>

#include "gemm.h"
#include "scratch.h"

namespace biofeg::host {

struct Operand {
  const float* p;
  int64_t ld;
  bool trans;
};

struct TileCtx {
  const GemmDesc* g;
  const GemmKernels* k;
  float* C;
  float* pre;
  const float* bias;
  bool first, last;
};

// K block of a level with nr-column tiles.
int64_t k_block(int nr);
// op(B)[pc.., jc..] -> panel p of [np][kc][nr], zero-padded past nc.
void pack_b(const Operand& B, int64_t pc, int64_t kc, int64_t jc, int64_t nc, int64_t p, int64_t kNR, float* out);
// acc (an mr x nr tile, row stride nr) -> C rows i0.., columns j0.. (h x w of it), the epilogue
// on the last K block.
void store_tile(const TileCtx& t, const float* acc, int64_t i0, int64_t j0, int64_t h, int64_t w);

// The small-M path (gemm_swap.cpp): C = A W^T with W [N, K] row-major read in place. Returns
// false (nothing done) when it does not apply or is not worth it.
bool gemm_swapped(const GemmDesc& g, int64_t b, bool threaded);

}  // namespace biofeg::host
