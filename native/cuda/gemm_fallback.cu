// The GEMM used when cuBLAS is absent (or a call does not fit its API):
// - bf16 inputs: a tiled tensor-core kernel (nvcuda::wmma 16x16x16 bf16 fragments, f32
//   accumulate). 64x64 output tile per 128-thread block, 4 warps of 32x32, K in steps of 32
//   through shared memory.
// - f32 inputs (and bf16 on pre-sm_80 devices): a tiled SIMT kernel, 64x64 tile per 256
//   threads, 4x4 outputs per thread, K in steps of 16.
// Both stage op(A) and op(B) tiles element by element with bounds checks (zero padding), so any
// M, N, K, transpose, leading dimension and batch stride works; the thread-to-element mapping
// follows the stored layout so global reads stay coalesced. The epilogue (alpha, beta, bias,
// pre-activation, GELU) is fused into the store.
#include <mma.h>

#include "common.cuh"

namespace biofeg::cuda {
namespace {

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

}  // namespace

namespace ops {

void gemm_fallback(const GemmDesc& g) {
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
  BIOFEG_FLOAT_DISPATCH(g.C.t, "gemm", TC, {
    if (tensor_cores) {
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
