// The GEMM used when cuBLAS is absent (or a call does not fit its API):
// - bf16 inputs with 16-byte aligned rows (pointers, leading dimensions and batch strides
//   multiples of 8 elements, as every BERT GEMM): k_gemm_tc, tensor cores (nvcuda::wmma 16x16x16
//   bf16, f32 accumulate) on a 128x64 or 64x64 tile per 256 threads (8 warps), K in steps of 32,
//   three steps in flight through cp.async. A 128x128 tile (warps of 64x32) was tried and dropped:
//   its registers leave one block per multiprocessor, and it was slower than 128x64 (the figures
//   of these choices: native/cuda/README.md).
// - other bf16 inputs: k_gemm_wmma, the same fragments on a 64x64 tile per 128 threads, staged
//   element by element (any alignment).
// - f32 inputs (and bf16 on pre-sm_80 devices): a tiled SIMT kernel, 64x64 tile per 256
//   threads, 4x4 outputs per thread, K in steps of 16.
// All bounds-check (zero padding), so any M, N, K, transpose, leading dimension and batch stride
// works; the thread-to-element mapping follows the stored layout so global reads stay coalesced.
// The epilogue (alpha, beta, bias, pre-activation, GELU) is fused into the store.
#include <mma.h>

#include <cstdlib>
#include <cstring>
#include <string>
#include <type_traits>

#include "common.cuh"

namespace biofeg::cuda {
namespace {

using ops::GemmTile;

struct FbArgs {
  const void* A;
  const void* B;
  void* C;
  int64_t M, N, K, batch, lda, ldb, ldc, sA, sB, sC;
  float alpha, beta;
  AnyPtr bias, pre;
  int gelu, transA, transB;
};

// The reference's epilogue: v = alpha*acc + beta*C (C read only when beta != 0) + bias; pre = v.
template <typename TC>
__device__ __forceinline__ void epi_store(const FbArgs& a, int64_t b, int64_t i, int64_t j, float acc) {
  TC* C = static_cast<TC*>(a.C);
  const int64_t off = b * a.sC + i * a.ldc + j;
  float v = a.alpha * acc + (a.beta != 0.0f ? a.beta * ld(C + off) : 0.0f);
  if (a.bias.p) v += a.bias.get(j);
  if (a.pre.p) a.pre.set(off, v);
  C[off] = cvt<TC>(a.gelu ? gelu_f(v) : v);
}

constexpr int WM_BM = 64, WM_BN = 64, WM_BK = 32;
constexpr int WM_ALD = WM_BK + 8, WM_BLD = WM_BN + 8, WM_CLD = WM_BN + 4;  // ldm: multiples of 8 (bf16), 4 (f32)

template <typename TC>
__global__ void __launch_bounds__(128) k_gemm_wmma(FbArgs a) {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 800
  namespace wmma = nvcuda::wmma;
  // 32-byte alignment for load/store_matrix_sync: every fragment origin below is a multiple of
  // 16 rows and 16 columns, which keeps it on a 32-byte boundary for these row pitches.
  __shared__ __align__(128) bf16 As[WM_BM][WM_ALD];  // op(A) tile, [m][k]
  __shared__ __align__(128) bf16 Bs[WM_BK][WM_BLD];  // op(B) tile, [k][n]
  __shared__ __align__(128) float Cs[WM_BM][WM_CLD];
  const bf16* A = static_cast<const bf16*>(a.A);
  const bf16* B = static_cast<const bf16*>(a.B);
  const bf16 zero = __ushort_as_bfloat16(static_cast<unsigned short>(0));
  const int tid = threadIdx.x, warp = tid >> 5, wm = warp >> 1, wn = warp & 1;
  const int64_t n0 = static_cast<int64_t>(blockIdx.x) * WM_BN;
  const int64_t mtiles = (a.M + WM_BM - 1) / WM_BM;
  for (int64_t b = blockIdx.z; b < a.batch; b += gridDim.z) {
    const bf16* Ab = A + b * a.sA;
    const bf16* Bb = B + b * a.sB;
    for (int64_t mt = blockIdx.y; mt < mtiles; mt += gridDim.y) {
      const int64_t m0 = mt * WM_BM;
      wmma::fragment<wmma::accumulator, 16, 16, 16, float> acc[2][2];
#pragma unroll
      for (int i = 0; i < 2; ++i)
#pragma unroll
        for (int j = 0; j < 2; ++j) wmma::fill_fragment(acc[i][j], 0.0f);
      for (int64_t k0 = 0; k0 < a.K; k0 += WM_BK) {
        for (int idx = tid; idx < WM_BM * WM_BK; idx += 128) {
          int r, kk;
          if (!a.transA) r = idx / WM_BK, kk = idx % WM_BK;
          else kk = idx / WM_BM, r = idx % WM_BM;
          const int64_t gm = m0 + r, gk = k0 + kk;
          bf16 v = zero;
          if (gm < a.M && gk < a.K) v = a.transA ? Ab[gk * a.lda + gm] : Ab[gm * a.lda + gk];
          As[r][kk] = v;
        }
        for (int idx = tid; idx < WM_BK * WM_BN; idx += 128) {
          int kk, c;
          if (!a.transB) kk = idx / WM_BN, c = idx % WM_BN;
          else c = idx / WM_BK, kk = idx % WM_BK;
          const int64_t gk = k0 + kk, gn = n0 + c;
          bf16 v = zero;
          if (gk < a.K && gn < a.N) v = a.transB ? Bb[gn * a.ldb + gk] : Bb[gk * a.ldb + gn];
          Bs[kk][c] = v;
        }
        __syncthreads();
#pragma unroll
        for (int kk = 0; kk < WM_BK; kk += 16) {
          wmma::fragment<wmma::matrix_a, 16, 16, 16, bf16, wmma::row_major> fa[2];
          wmma::fragment<wmma::matrix_b, 16, 16, 16, bf16, wmma::row_major> fb[2];
#pragma unroll
          for (int i = 0; i < 2; ++i) wmma::load_matrix_sync(fa[i], &As[wm * 32 + i * 16][kk], WM_ALD);
#pragma unroll
          for (int j = 0; j < 2; ++j) wmma::load_matrix_sync(fb[j], &Bs[kk][wn * 32 + j * 16], WM_BLD);
#pragma unroll
          for (int i = 0; i < 2; ++i)
#pragma unroll
            for (int j = 0; j < 2; ++j) wmma::mma_sync(acc[i][j], fa[i], fb[j], acc[i][j]);
        }
        __syncthreads();
      }
#pragma unroll
      for (int i = 0; i < 2; ++i)
#pragma unroll
        for (int j = 0; j < 2; ++j)
          wmma::store_matrix_sync(&Cs[wm * 32 + i * 16][wn * 32 + j * 16], acc[i][j], WM_CLD, wmma::mem_row_major);
      __syncthreads();
      for (int idx = tid; idx < WM_BM * WM_BN; idx += 128) {
        const int r = idx / WM_BN, c = idx % WM_BN;
        const int64_t gm = m0 + r, gn = n0 + c;
        if (gm < a.M && gn < a.N) epi_store<TC>(a, b, gm, gn, Cs[r][c]);
      }
      __syncthreads();  // Cs is rewritten by the next tile
    }
  }
#else
  __trap();  // never launched: the host picks the SIMT kernel below sm_80
#endif
}

// One stage of an operand tile as stored in global memory: ROWS x COLS with COLS contiguous,
// copied as 16-byte vectors (8 bf16), NV per thread, by cp.async. A vector reaching past the
// matrix edge copies only its inside part and zero-fills the rest.
template <int ROWS, int COLS>
struct TcStage {
  static constexpr int LD = COLS + 8;  // shared row pitch: 16-byte rows, conflict-free fragment loads
  static constexpr int ELEMS = ROWS * LD;
  static constexpr int NV = ROWS * COLS / 8 / 256;
  static_assert(NV >= 1 && ROWS * COLS == NV * 8 * 256, "tile must split into 16-byte vectors over 256 threads");
  static_assert((ELEMS * 2) % 32 == 0, "stages must stay 32-byte aligned for wmma");

  __device__ __forceinline__ static void issue(bf16* s, const bf16* base, int64_t ld, int64_t row0, int64_t col0,
                                               int64_t nrows, int64_t ncols, int tid) {
#pragma unroll
    for (int v = 0; v < NV; ++v) {
      const int idx = tid + v * 256, row = idx / (COLS / 8), col = (idx % (COLS / 8)) * 8;
      const int64_t gr = row0 + row, gc = col0 + col;
      const int64_t inside = gr < nrows ? ncols - gc : 0;
      const int bytes = inside >= 8 ? 16 : inside > 0 ? static_cast<int>(inside) * 2 : 0;
      cp_async16(s + row * LD + col, bytes > 0 ? base + gr * ld + gc : base, bytes);
    }
  }
};

// op(A) is held as stored: [m][k] (row_major fragments) or, transposed, [k][m] (col_major);
// op(B) likewise [k][n] or [n][k]. The 8 warps form a WGM x (8/WGM) grid; warp (wm, wn) owns a
// WTM x WTN piece of the block tile, FM x FN fragments. STAGES K steps are in flight (cp.async);
// MINB: blocks per multiprocessor asked of the register allocator.
template <int BM, int BN, int WGM, int STAGES, int MINB, bool TA, bool TB, typename TC>
__global__ void __launch_bounds__(256, MINB) k_gemm_tc(FbArgs a) {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 800
  namespace wmma = nvcuda::wmma;
  constexpr int BK = 32, WTM = BM / WGM, WTN = BN / (8 / WGM), FM = WTM / 16, FN = WTN / 16;
  static_assert(FM * 16 * WGM == BM && FN * 16 * (8 / WGM) == BN, "warp tiles must cover the block tile");
  using TileA = TcStage<TA ? BK : BM, TA ? BM : BK>;
  using TileB = TcStage<TB ? BN : BK, TB ? BK : BN>;
  using LayA = typename std::conditional<TA, wmma::col_major, wmma::row_major>::type;
  using LayB = typename std::conditional<TB, wmma::col_major, wmma::row_major>::type;
  // The stages of both operands; after the K loop the same bytes hold each warp's 16x16 f32 tile.
  constexpr int SMEM_BYTES = STAGES * (TileA::ELEMS + TileB::ELEMS) * 2;
  static_assert(SMEM_BYTES >= 8 * 256 * 4, "the epilogue needs 1 KiB per warp");
  static_assert(SMEM_BYTES <= 48 * 1024, "static shared memory is limited to 48 KiB");
  __shared__ __align__(128) uint8_t smem[SMEM_BYTES];
  bf16* const As = reinterpret_cast<bf16*>(smem);
  bf16* const Bs = As + STAGES * TileA::ELEMS;
  const bf16* A = static_cast<const bf16*>(a.A);
  const bf16* B = static_cast<const bf16*>(a.B);
  const int tid = threadIdx.x, warp = tid >> 5, lane = tid & 31, wm = warp / (8 / WGM), wn = warp % (8 / WGM);
  const int64_t n0 = static_cast<int64_t>(blockIdx.x) * BN;
  const int64_t mtiles = (a.M + BM - 1) / BM, nk = (a.K + BK - 1) / BK;
  // Stored extents of A and B: rows x contiguous columns.
  const int64_t a_rows = TA ? a.K : a.M, a_cols = TA ? a.M : a.K;
  const int64_t b_rows = TB ? a.N : a.K, b_cols = TB ? a.K : a.N;
  for (int64_t b = blockIdx.z; b < a.batch; b += gridDim.z) {
    const bf16* Ab = A + b * a.sA;
    const bf16* Bb = B + b * a.sB;
    for (int64_t mt = blockIdx.y; mt < mtiles; mt += gridDim.y) {
      const int64_t m0 = mt * BM;
      // Starts the copies of K step kt into its stage (tile origin in stored coordinates), one
      // commit group per step, empty past the end so that group counting stays uniform.
      const auto issue = [&](int64_t kt) {
        if (kt < nk) {
          const int st = static_cast<int>(kt % STAGES);
          const int64_t k0 = kt * BK;
          TileA::issue(As + st * TileA::ELEMS, Ab, a.lda, TA ? k0 : m0, TA ? m0 : k0, a_rows, a_cols, tid);
          TileB::issue(Bs + st * TileB::ELEMS, Bb, a.ldb, TB ? n0 : k0, TB ? k0 : n0, b_rows, b_cols, tid);
        }
        cp_async_commit();
      };
      wmma::fragment<wmma::accumulator, 16, 16, 16, float> acc[FM][FN];
#pragma unroll
      for (int i = 0; i < FM; ++i)
#pragma unroll
        for (int j = 0; j < FN; ++j) wmma::fill_fragment(acc[i][j], 0.0f);
#pragma unroll
      for (int s = 0; s < STAGES - 1; ++s) issue(s);
      for (int64_t kt = 0; kt < nk; ++kt) {
        cp_async_wait<STAGES - 2>();  // this thread's copies of step kt have landed
        // Everyone's have; and everyone is done with step kt-1, whose stage is refilled next.
        __syncthreads();
        issue(kt + STAGES - 1);
        const int st = static_cast<int>(kt % STAGES);
        const bf16* as = As + st * TileA::ELEMS;
        const bf16* bs = Bs + st * TileB::ELEMS;
#pragma unroll
        for (int kk = 0; kk < BK; kk += 16) {
          wmma::fragment<wmma::matrix_a, 16, 16, 16, bf16, LayA> fa[FM];
          wmma::fragment<wmma::matrix_b, 16, 16, 16, bf16, LayB> fb[FN];
#pragma unroll
          for (int i = 0; i < FM; ++i) {
            const int r = wm * WTM + i * 16;
            wmma::load_matrix_sync(fa[i], TA ? as + kk * TileA::LD + r : as + r * TileA::LD + kk, TileA::LD);
          }
#pragma unroll
          for (int j = 0; j < FN; ++j) {
            const int c = wn * WTN + j * 16;
            wmma::load_matrix_sync(fb[j], TB ? bs + c * TileB::LD + kk : bs + kk * TileB::LD + c, TileB::LD);
          }
#pragma unroll
          for (int i = 0; i < FM; ++i)
#pragma unroll
            for (int j = 0; j < FN; ++j) wmma::mma_sync(acc[i][j], fa[i], fb[j], acc[i][j]);
        }
      }
      cp_async_wait<0>();  // only empty groups remain; the stages become the epilogue's scratch
      __syncthreads();
      float* const scratch = reinterpret_cast<float*>(smem) + warp * 256;
#pragma unroll
      for (int i = 0; i < FM; ++i)
#pragma unroll
        for (int j = 0; j < FN; ++j) {
          wmma::store_matrix_sync(scratch, acc[i][j], 16, wmma::mem_row_major);
          __syncwarp();
          const int64_t r0 = m0 + wm * WTM + i * 16, c0 = n0 + wn * WTN + j * 16;
          for (int e = lane; e < 256; e += 32) {
            const int64_t gm = r0 + (e >> 4), gn = c0 + (e & 15);
            if (gm < a.M && gn < a.N) epi_store<TC>(a, b, gm, gn, scratch[e]);
          }
          __syncwarp();
        }
      __syncthreads();  // the scratch is the next tile's first stages
    }
  }
#else
  __trap();  // never launched: the host picks the SIMT kernel below sm_80
#endif
}

constexpr int SB_M = 64, SB_N = 64, SB_K = 16;

template <typename TA, typename TC>
__global__ void __launch_bounds__(256) k_gemm_simt(FbArgs a) {
  __shared__ float As[SB_K][SB_M + 4];  // op(A) tile, [k][m]
  __shared__ float Bs[SB_K][SB_N + 4];  // op(B) tile, [k][n]
  const TA* A = static_cast<const TA*>(a.A);
  const TA* B = static_cast<const TA*>(a.B);
  const int tid = threadIdx.x, tx = tid & 15, ty = tid >> 4;
  const int64_t n0 = static_cast<int64_t>(blockIdx.x) * SB_N;
  const int64_t mtiles = (a.M + SB_M - 1) / SB_M;
  for (int64_t b = blockIdx.z; b < a.batch; b += gridDim.z) {
    const TA* Ab = A + b * a.sA;
    const TA* Bb = B + b * a.sB;
    for (int64_t mt = blockIdx.y; mt < mtiles; mt += gridDim.y) {
      const int64_t m0 = mt * SB_M;
      float acc[4][4];
#pragma unroll
      for (int i = 0; i < 4; ++i)
#pragma unroll
        for (int j = 0; j < 4; ++j) acc[i][j] = 0.0f;
      for (int64_t k0 = 0; k0 < a.K; k0 += SB_K) {
        for (int idx = tid; idx < SB_M * SB_K; idx += 256) {
          int r, kk;
          if (!a.transA) r = idx / SB_K, kk = idx % SB_K;
          else kk = idx / SB_M, r = idx % SB_M;
          const int64_t gm = m0 + r, gk = k0 + kk;
          float v = 0.0f;
          if (gm < a.M && gk < a.K) v = ld(a.transA ? Ab + gk * a.lda + gm : Ab + gm * a.lda + gk);
          As[kk][r] = v;
        }
        for (int idx = tid; idx < SB_K * SB_N; idx += 256) {
          int kk, c;
          if (!a.transB) kk = idx / SB_N, c = idx % SB_N;
          else c = idx / SB_K, kk = idx % SB_K;
          const int64_t gk = k0 + kk, gn = n0 + c;
          float v = 0.0f;
          if (gk < a.K && gn < a.N) v = ld(a.transB ? Bb + gn * a.ldb + gk : Bb + gk * a.ldb + gn);
          Bs[kk][c] = v;
        }
        __syncthreads();
#pragma unroll
        for (int kk = 0; kk < SB_K; ++kk) {
          float av[4], bv[4];
#pragma unroll
          for (int i = 0; i < 4; ++i) av[i] = As[kk][ty + 16 * i];
#pragma unroll
          for (int j = 0; j < 4; ++j) bv[j] = Bs[kk][tx + 16 * j];
#pragma unroll
          for (int i = 0; i < 4; ++i)
#pragma unroll
            for (int j = 0; j < 4; ++j) acc[i][j] = fmaf(av[i], bv[j], acc[i][j]);
        }
        __syncthreads();
      }
#pragma unroll
      for (int i = 0; i < 4; ++i)
#pragma unroll
        for (int j = 0; j < 4; ++j) {
          const int64_t gm = m0 + ty + 16 * i, gn = n0 + tx + 16 * j;
          if (gm < a.M && gn < a.N) epi_store<TC>(a, b, gm, gn, acc[i][j]);
        }
    }
  }
}

dim3 tile_grid(const GemmDesc& g, int bm, int bn) {
  const int64_t nt = (g.N + bn - 1) / bn, mt = (g.M + bm - 1) / bm;
  BIOFEG_CHECK(nt <= 0x7fffffff, "gemm: N too large (", g.N, ")");
  // M tiles and batches beyond the grid limits are covered by the kernels' grid-stride loops.
  return dim3(static_cast<unsigned>(nt), static_cast<unsigned>(mt < 65535 ? mt : 65535),
              static_cast<unsigned>(g.batch < 65535 ? g.batch : 65535));
}

template <int BM, int BN, int WGM, int STAGES, int MINB, typename TC>
void launch_tc(const FbArgs& a, const GemmDesc& g) {
  const dim3 grid = tile_grid(g, BM, BN);
  if (a.transA && a.transB) k_gemm_tc<BM, BN, WGM, STAGES, MINB, true, true, TC><<<grid, 256>>>(a);
  else if (a.transA) k_gemm_tc<BM, BN, WGM, STAGES, MINB, true, false, TC><<<grid, 256>>>(a);
  else if (a.transB) k_gemm_tc<BM, BN, WGM, STAGES, MINB, false, true, TC><<<grid, 256>>>(a);
  else k_gemm_tc<BM, BN, WGM, STAGES, MINB, false, false, TC><<<grid, 256>>>(a);
}

// BIOFEG_GEMM_TILE=64x64|128x64 forces the aligned kernel's tile (for benchmarks).
GemmTile gemm_tile_override() {
  static const GemmTile t = [] {
    const char* e = std::getenv("BIOFEG_GEMM_TILE");
    const std::string v = e ? e : "";
    if (v == "64x64") return GemmTile::T64x64;
    if (v == "128x64") return GemmTile::T128x64;
    BIOFEG_CHECK(v.empty(), "BIOFEG_GEMM_TILE=", v, ": expected 64x64 or 128x64");
    return GemmTile::Auto;
  }();
  return t;
}

bool rows_16b_aligned(const void* p, int64_t ld, int64_t stride, int64_t batch) {
  return reinterpret_cast<uintptr_t>(p) % 16 == 0 && ld % 8 == 0 && (batch == 1 || stride % 8 == 0);
}

}  // namespace

namespace ops {

void gemm_fallback(const GemmDesc& g, GemmTile tile) {
  if (g.M <= 0 || g.N <= 0 || g.batch <= 0) return;
  FbArgs a;
  a.A = g.A.p, a.B = g.B.p, a.C = g.C.p;
  a.M = g.M, a.N = g.N, a.K = g.K, a.batch = g.batch;
  a.lda = g.lda, a.ldb = g.ldb, a.ldc = g.ldc;
  a.sA = g.strideA, a.sB = g.strideB, a.sC = g.strideC;
  a.alpha = g.alpha, a.beta = g.beta;
  a.bias = any(g.bias), a.pre = any(g.pre);
  a.gelu = g.epilogue == Epilogue::Gelu ? 1 : 0;
  a.transA = g.transA ? 1 : 0, a.transB = g.transB ? 1 : 0;
  const bool tensor_cores = g.A.t == DType::BF16 && cc_major() >= 8;
  const bool vectors = tensor_cores && rows_16b_aligned(g.A.p, g.lda, g.strideA, g.batch) &&
                       rows_16b_aligned(g.B.p, g.ldb, g.strideB, g.batch);
  if (vectors && tile == GemmTile::Auto) tile = gemm_tile_override();
  if (vectors && tile == GemmTile::Auto) {
    // 128x64 while it gives every multiprocessor a block, else 64x64: the larger tile reuses more
    // of each load but leaves multiprocessors idle on small grids (measured: native/cuda/README.md).
    const int64_t blocks = ((g.M + 127) / 128) * ((g.N + 63) / 64) * g.batch;
    tile = blocks >= sm_count() ? GemmTile::T128x64 : GemmTile::T64x64;
  }
  BIOFEG_FLOAT_DISPATCH(g.C.t, "gemm", TC, {
    if (vectors && tile == GemmTile::T128x64) {
      launch_tc<128, 64, 4, 3, 2, TC>(a, g);
    } else if (vectors) {
      launch_tc<64, 64, 2, 3, 2, TC>(a, g);
    } else if (tensor_cores) {
      k_gemm_wmma<TC><<<tile_grid(g, WM_BM, WM_BN), 128>>>(a);
    } else if (g.A.t == DType::BF16) {
      k_gemm_simt<bf16, TC><<<tile_grid(g, SB_M, SB_N), 256>>>(a);
    } else {
      k_gemm_simt<float, TC><<<tile_grid(g, SB_M, SB_N), 256>>>(a);
    }
  });
  check_launch("gemm (fallback)");
}

}  // namespace ops
}  // namespace biofeg::cuda
