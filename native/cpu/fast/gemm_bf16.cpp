// The fast backend's bf16 GEMM (gemm_bf16.h): packing and dispatch, portable. B is packed once
// per call into 64-column panels of k-pairs ([panel][pair][64][2], zero-padded past N and past
// an odd K) shared by all threads; each task takes a block of rows and a range of panels, packs
// its rows of A the same way (or reads a row-major A in place when K is even), and for each
// panel sweeps the K blocks into an f32 tile of its rows, stored once with the epilogue after
// the last block. So the sums stay f32 over the whole K and a bf16 C is rounded once, as the
// reference does.
#include "gemm_bf16.h"

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <limits>
#include <vector>

#include "cpu_level.h"
#include "gemm.h"
#include "scratch.h"
#include "fast.h"

namespace biofeg::host {
namespace {

constexpr int64_t kKcPairs = 192;  // k-pairs per K block: a B block of 64 columns fills about half of L1

// ---- The portable kernels (a build or CPU without AVX512_BF16; also what they must equal) ----

void kernel_generic(int64_t kp, const uint16_t* a, const uint16_t* b, float* acc, bool load) {
  for (int r = 0; r < kBfMR; ++r)
    for (int j = 0; j < kBfNR; ++j) {
      float s = load ? acc[r * kBfNR + j] : 0.0f;
      for (int64_t p = 0; p < kp; ++p) {
        const uint16_t* ap = a + (p * kBfMR + r) * 2;
        const uint16_t* bp = b + (p * kBfNR + j) * 2;
        s += bf16_to_f32(ap[0]) * bf16_to_f32(bp[0]) + bf16_to_f32(ap[1]) * bf16_to_f32(bp[1]);
      }
      acc[r * kBfNR + j] = s;
    }
}

inline float load_any(const void* p, bool bf16, int64_t i) {
  return bf16 ? bf16_to_f32(static_cast<const uint16_t*>(p)[i]) : static_cast<const float*>(p)[i];
}
inline void store_any(void* p, bool bf16, int64_t i, float v) {
  if (bf16) static_cast<uint16_t*>(p)[i] = f32_to_bf16(v);
  else static_cast<float*>(p)[i] = v;
}

void store_generic(const Bf16Epi& e, const float* acc, int64_t h, int64_t w) {
  for (int64_t r = 0; r < h; ++r)
    for (int64_t j = 0; j < w; ++j) {
      const int64_t o = r * e.ldc + j;
      float v = e.alpha * acc[r * kBfNR + j];
      if (e.beta != 0.0f) v += e.beta * load_any(e.C, e.c_bf16, o);
      if (e.bias) v += load_any(e.bias, e.bias_bf16, j);
      if (e.pre) store_any(e.pre, e.pre_bf16, o, v);
      store_any(e.C, e.c_bf16, o, e.gelu ? gelu(v) : v);
    }
}

void narrow_generic(const float* x, uint16_t* y, int64_t n) {
  for (int64_t i = 0; i < n; ++i) y[i] = f32_to_bf16(x[i]);
}
void split_generic(const float* x, uint16_t* hi, uint16_t* lo, int64_t n) {
  for (int64_t i = 0; i < n; ++i) {
    hi[i] = f32_to_bf16(x[i]);
    lo[i] = f32_to_bf16(x[i] - bf16_to_f32(hi[i]));
  }
}

struct Kernels {
  Bf16Kernel packed;
  Bf16DirectKernel direct;  // nullptr: A is always packed
  Bf16Store store;
  Bf16Narrow narrow;
  Bf16Split split;
  Bf16Interleave interleave;  // nullptr: the scalar packing
  Bf16GatherPairs gather;     // likewise
};
// Chosen once, from the level cpu_level() reports; a bad BIOFEG_CPU_KERNEL is left to the
// backend's Caps (which ask bf16_kernels() and throw): here it means the portable kernels.
const Kernels& kernels() {
  static const Kernels k = [] {
    bool fast = false;
    try {
      fast = cpu_at_least(CpuLevel::Avx512Bf16) && bf16_kernel_avx512();
    } catch (const std::exception&) {
    }
    if (!fast) return Kernels{kernel_generic, nullptr, store_generic, narrow_generic, split_generic, nullptr, nullptr};
    return Kernels{bf16_kernel_avx512(), bf16_direct_avx512(), bf16_store_avx512(), bf16_narrow_avx512(),
                   bf16_split_avx512(), bf16_interleave_avx512(), bf16_gather_pairs_avx512()};
  }();
  return k;
}

// ---- Packing ---------------------------------------------------------------------------------

Bf16Interleave bf16_kernels_interleave() { return kernels().interleave; }

struct Operand {
  const uint16_t* p;
  int64_t ld;
  bool trans;
};

// Panel p of op(B) (K x N): [kpt][64][2], columns past N and the pair partner of an odd K zero.
void pack_b(const Operand& B, int64_t K, int64_t N, int64_t kpt, int64_t p, uint16_t* out) {
  uint16_t* dst = out + p * kpt * 2 * kBfNR;
  const int64_t j0 = p * kBfNR, w = std::min<int64_t>(kBfNR, N - j0);
  if (w < kBfNR || K % 2) std::memset(dst, 0, static_cast<size_t>(kpt * 2 * kBfNR) * 2);
  if (B.trans) {  // row j of the stored N x K matrix is column j of op(B): its pairs are contiguous
    const Bf16GatherPairs gp = kernels().gather;
    if (gp && B.ld < (int64_t(1) << 23)) {
      gp(B.p + j0 * B.ld, B.ld, w, K / 2, dst);
      if (K % 2)
        for (int64_t j = 0; j < w; ++j) dst[((K / 2) * kBfNR + j) * 2] = B.p[(j0 + j) * B.ld + K - 1];
      return;
    }
    for (int64_t j = 0; j < w; ++j) {
      const uint16_t* src = B.p + (j0 + j) * B.ld;
      for (int64_t q = 0; q < K / 2; ++q) std::memcpy(dst + (q * kBfNR + j) * 2, src + 2 * q, 4);
      if (K % 2) dst[((K / 2) * kBfNR + j) * 2] = src[K - 1];
    }
    return;
  }
  if (const Bf16Interleave il = bf16_kernels_interleave()) {
    for (int64_t q = 0; q < kpt; ++q)
      il(B.p + 2 * q * B.ld + j0, 2 * q + 1 < K ? B.p + (2 * q + 1) * B.ld + j0 : nullptr, w, dst + q * 2 * kBfNR);
    return;
  }
  for (int64_t k = 0; k < K; ++k) {
    const uint16_t* src = B.p + k * B.ld + j0;
    uint16_t* d = dst + (k / 2) * 2 * kBfNR + (k % 2);
    for (int64_t j = 0; j < w; ++j) d[2 * j] = src[j];
  }
}

// Rows [i0, i0 + h) of op(A) (M x K) -> one 6-row panel [kpt][6][2], rows past h and the pair
// partner of an odd K zero.
void pack_a(const Operand& A, int64_t K, int64_t kpt, int64_t i0, int64_t h, uint16_t* dst) {
  if (h < kBfMR || K % 2) std::memset(dst, 0, static_cast<size_t>(kpt * 2 * kBfMR) * 2);
  if (!A.trans) {
    for (int64_t r = 0; r < h; ++r) {
      const uint16_t* src = A.p + (i0 + r) * A.ld;
      for (int64_t q = 0; q < K / 2; ++q) std::memcpy(dst + (q * kBfMR + r) * 2, src + 2 * q, 4);
      if (K % 2) dst[((K / 2) * kBfMR + r) * 2] = src[K - 1];
    }
    return;
  }
  for (int64_t k = 0; k < K; ++k) {  // A stored K x M: row k holds op(A)'s column k
    const uint16_t* src = A.p + k * A.ld + i0;
    uint16_t* d = dst + (k / 2) * 2 * kBfMR + (k % 2);
    for (int64_t r = 0; r < h; ++r) d[2 * r] = src[r];
  }
}

// ---- The widened path: every bf16 operand to f32, the f32 GEMM, outputs rounded back --------

struct Wide {
  std::vector<float> v;
  Buf buf;
};
Wide widen(Buf b, int64_t n) {
  Wide w;
  if (!b.p || b.t == DType::F32) {
    w.buf = b;
    return w;
  }
  w.v.resize(static_cast<size_t>(std::max<int64_t>(n, 1)));
  const uint16_t* s = static_cast<const uint16_t*>(b.p);
  float* d = w.v.data();
  parallel_for(n, fast::kGrain, [&](int64_t lo, int64_t hi) {
    for (int64_t i = lo; i < hi; ++i) d[i] = bf16_to_f32(s[i]);
  });
  w.buf = Buf{d, DType::F32};
  return w;
}
void narrow_back(const Wide& w, Buf b, int64_t n) {
  if (!b.p || b.t == DType::F32) return;
  const float* s = w.v.data();
  uint16_t* d = static_cast<uint16_t*>(b.p);
  parallel_for(n, fast::kGrain, [&](int64_t lo, int64_t hi) { kernels().narrow(s + lo, d + lo, hi - lo); });
}

void gemm_widened(const GemmDesc& g) {
  const int64_t nA = ref::span(g.batch, g.strideA, g.transA ? g.K : g.M, g.transA ? g.M : g.K, g.lda);
  const int64_t nB = ref::span(g.batch, g.strideB, g.transB ? g.N : g.K, g.transB ? g.K : g.N, g.ldb);
  const int64_t nC = ref::span(g.batch, g.strideC, g.M, g.N, g.ldc);
  const Wide A = widen(g.K > 0 ? g.A : Buf{}, nA), B = widen(g.K > 0 ? g.B : Buf{}, nB);
  const Wide C = widen(g.C, nC), bias = widen(g.bias, g.N), pre = widen(g.pre, nC);
  GemmDesc f = g;
  f.A = A.buf, f.B = B.buf, f.C = C.buf, f.bias = bias.buf, f.pre = pre.buf;
  gemm_fast(f);
  narrow_back(C, g.C, nC);
  narrow_back(pre, g.pre, nC);
}

// ---- The small-M path: C = A W^T with W [N, K] read in place -------------------------------------
// As the f32 GEMM's (gemm_swap.cpp): a few rows cannot amortise packing all of W on every call,
// so C^T = W A^T runs on the same direct kernel with W's rows in A's place and A^T (one 64-lane
// panel) as B. vdpbf16ps is symmetric in its two sources and the pairs are summed in the same
// order, into the same f32 tile, stored by the same store: bitwise the packed path's result.
// BIOFEG_GEMM_SWAP_M sets the largest M (0: never).
int64_t swap_max_m() {
  static const int64_t v = [] {
    const char* e = std::getenv("BIOFEG_GEMM_SWAP_M");
    return e ? static_cast<int64_t>(std::max(0L, std::atol(e))) : int64_t(64);
  }();
  return std::min<int64_t>(v, kBfNR);
}

bool gemm_one_swapped(const GemmDesc& g, int64_t b) {
  const Kernels& kern = kernels();
  const int64_t M = g.M, N = g.N, K = g.K, kpt = K / 2;
  if (!kern.direct || g.transA || !g.transB || K % 2 || M > swap_max_m() || M >= N) return false;
  const uint16_t* A = static_cast<const uint16_t*>(g.A.p) + b * g.strideA;
  const uint16_t* W = static_cast<const uint16_t*>(g.B.p) + b * g.strideB;
  static thread_local Scratch<uint16_t> apack;
  uint16_t* const at = apack.get(static_cast<size_t>(kpt * 2 * kBfNR));
  pack_b(Operand{A, g.lda, true}, K, M, kpt, 0, at);  // A^T: the pairs of A's rows, M <= 64 lanes
  const bool c16 = g.C.t == DType::BF16;
  const int64_t groups = (N + kBfNR - 1) / kBfNR;
  parallel_for(groups, 1, [&](int64_t lo, int64_t hi) {
    static thread_local Scratch<float> accs, tiles;
    float* const acct = accs.get(static_cast<size_t>((kBfNR + kBfMR) * kBfNR));  // rows: W rows; lanes: A rows
    float* const tile = tiles.get(static_cast<size_t>(kBfNR * kBfNR));           // rows: A rows; columns: W rows
    for (int64_t gi = lo; gi < hi; ++gi) {
      const int64_t n0 = gi * kBfNR, wn = std::min<int64_t>(kBfNR, N - n0);
      for (int64_t s = 0; s < wn; s += kBfMR)
        for (int64_t q0 = 0; q0 < kpt; q0 += kKcPairs)
          kern.direct(std::min(kKcPairs, kpt - q0), W + (n0 + s) * g.ldb + 2 * q0, g.ldb,
                      std::min<int64_t>(kBfMR, wn - s), at + q0 * 2 * kBfNR, acct + s * kBfNR, q0 > 0);
      for (int64_t m = 0; m < M; ++m)
        for (int64_t j = 0; j < wn; ++j) tile[m * kBfNR + j] = acct[j * kBfNR + m];
      Bf16Epi e;
      e.alpha = g.alpha, e.beta = g.beta, e.ldc = g.ldc, e.gelu = g.epilogue == Epilogue::Gelu;
      e.c_bf16 = c16;
      e.C = static_cast<char*>(g.C.p) + (b * g.strideC + n0) * static_cast<int64_t>(dtype_size(g.C.t));
      if (g.bias.p) {
        e.bias = static_cast<const char*>(g.bias.p) + n0 * static_cast<int64_t>(dtype_size(g.bias.t));
        e.bias_bf16 = g.bias.t == DType::BF16;
      }
      if (g.pre.p) {
        e.pre = static_cast<char*>(g.pre.p) + (b * g.strideC + n0) * static_cast<int64_t>(dtype_size(g.pre.t));
        e.pre_bf16 = g.pre.t == DType::BF16;
      }
      kern.store(e, tile, M, wn);
    }
  });
  return true;
}

// ---- The kernel path: bf16 A and B ------------------------------------------------------------

void gemm_one(const GemmDesc& g, int64_t b) {
  if (gemm_one_swapped(g, b)) return;
  const Kernels& kern = kernels();
  const Operand A{static_cast<const uint16_t*>(g.A.p) + b * g.strideA, g.lda, g.transA};
  const Operand B{static_cast<const uint16_t*>(g.B.p) + b * g.strideB, g.ldb, g.transB};
  const int64_t M = g.M, N = g.N, K = g.K, kpt = (K + 1) / 2, np = (N + kBfNR - 1) / kBfNR;
  const bool c16 = g.C.t == DType::BF16;
  char* const C = static_cast<char*>(g.C.p) + b * g.strideC * static_cast<int64_t>(dtype_size(g.C.t));
  char* const pre = g.pre.p ? static_cast<char*>(g.pre.p) + b * g.strideC * static_cast<int64_t>(dtype_size(g.pre.t))
                            : nullptr;

  static thread_local Scratch<uint16_t> bscratch;
  uint16_t* const bp = bscratch.get(static_cast<size_t>(np * kpt * 2 * kBfNR));  // the caller's: shared by the tasks
  parallel_for(np, 2, [&](int64_t lo, int64_t hi) {
    for (int64_t p = lo; p < hi; ++p) pack_b(B, K, N, kpt, p, bp);
  });

  // Rows per task: the task's packed rows of A (mc x K bf16) stay in L2 while it sweeps its panels.
  const int64_t l2_rows = std::max<int64_t>(kBfMR, (int64_t(1) << 18) / std::max<int64_t>(2 * K, 1) / kBfMR * kBfMR);
  const int64_t nthreads = num_threads();
  const int64_t mc_max = balanced_rows(M, kBfMR, std::min<int64_t>(l2_rows, 96), l2_rows, static_cast<int>(nthreads));
  const int64_t mb = (M + mc_max - 1) / mc_max;
  int64_t split = 1;  // split the panels too when there are few row blocks
  while (mb * split < 4 * nthreads && split * 2 <= np) split *= 2;
  const int64_t per = (np + split - 1) / split;
  const bool direct = kern.direct && !A.trans && K % 2 == 0;

  run_tasks(mb * split, [&](int64_t task) {
    const int64_t ic = (task / split) * mc_max, mc = std::min(mc_max, M - ic);
    const int64_t p0 = (task % split) * per, p1 = std::min(np, p0 + per);
    if (p0 >= p1) return;
    static thread_local Scratch<uint16_t> ascratch;
    static thread_local Scratch<float> tscratch;
    const int64_t panels = (mc + kBfMR - 1) / kBfMR;
    uint16_t* ap = nullptr;
    if (!direct) {
      ap = ascratch.get(static_cast<size_t>(panels * kpt * 2 * kBfMR));
      for (int64_t i = 0; i < panels; ++i)
        pack_a(A, K, kpt, ic + i * kBfMR, std::min<int64_t>(kBfMR, mc - i * kBfMR), ap + i * kpt * 2 * kBfMR);
    }
    float* tile = tscratch.get(static_cast<size_t>(panels * kBfMR * kBfNR));
    for (int64_t p = p0; p < p1; ++p) {
      const uint16_t* bpan = bp + p * kpt * 2 * kBfNR;
      for (int64_t q0 = 0; q0 < kpt; q0 += kKcPairs) {
        const int64_t kq = std::min(kKcPairs, kpt - q0);
        for (int64_t i = 0; i < panels; ++i) {
          float* acc = tile + i * kBfMR * kBfNR;
          if (direct)
            kern.direct(kq, A.p + (ic + i * kBfMR) * A.ld + 2 * q0, A.ld, std::min<int64_t>(kBfMR, mc - i * kBfMR),
                        bpan + q0 * 2 * kBfNR, acc, q0 > 0);
          else
            kern.packed(kq, ap + (i * kpt + q0) * 2 * kBfMR, bpan + q0 * 2 * kBfNR, acc, q0 > 0);
        }
      }
      const int64_t j0 = p * kBfNR, w = std::min<int64_t>(kBfNR, N - j0);
      Bf16Epi e;
      e.alpha = g.alpha, e.beta = g.beta, e.ldc = g.ldc, e.gelu = g.epilogue == Epilogue::Gelu;
      e.c_bf16 = c16;
      e.C = C + (ic * g.ldc + j0) * static_cast<int64_t>(dtype_size(g.C.t));
      if (g.bias.p) {
        e.bias = static_cast<const char*>(g.bias.p) + j0 * static_cast<int64_t>(dtype_size(g.bias.t));
        e.bias_bf16 = g.bias.t == DType::BF16;
      }
      if (pre) {
        e.pre = pre + (ic * g.ldc + j0) * static_cast<int64_t>(dtype_size(g.pre.t));
        e.pre_bf16 = g.pre.t == DType::BF16;
      }
      kern.store(e, tile, mc, w);  // the tile's rows are contiguous: panel i's row r is row i*6+r
    }
  });
}

}  // namespace

bool bf16_kernels() { return cpu_at_least(CpuLevel::Avx512Bf16) && bf16_kernel_avx512() != nullptr; }

const char* bf16_unavailable_reason() {
  if (!bf16_kernel_avx512()) return "this build has no AVX512_BF16 kernels (not an x86-64 target)";
  if (static_cast<int>(cpu_detected_level()) < static_cast<int>(CpuLevel::Avx512Bf16)) return "this CPU lacks AVX512_BF16";
  if (!cpu_at_least(CpuLevel::Avx512Bf16)) return "BIOFEG_CPU_KERNEL selects a level below avx512bf16";
  return "";
}

void narrow_bf16(const float* x, uint16_t* y, int64_t n) { kernels().narrow(x, y, n); }

void gemm_routed(const GemmDesc& g) { gemm_is_bf16(g) ? gemm_bf16(g) : fast::gemm(g); }

namespace {

// One score row of K keys in place: p = exp(s - lse) over real keys (keep[j] != 0), 0 elsewhere;
// returns the row's log-sum-exp (-inf without a real key).
float softmax_row(float* s, const float* keep, int64_t K) {
  if (vec_avx2()) return softmax_row_avx2(s, keep, K, false, 0.0f);
  float mx = -std::numeric_limits<float>::infinity();
  for (int64_t j = 0; j < K; ++j)
    if (keep[j] != 0.0f) mx = std::max(mx, s[j]);
  if (mx == -std::numeric_limits<float>::infinity()) {
    std::fill_n(s, K, 0.0f);
    return mx;
  }
  double z = 0;
  for (int64_t j = 0; j < K; ++j) z += keep[j] != 0.0f ? std::exp(static_cast<double>(s[j]) - mx) : 0.0;
  const float l = mx + static_cast<float>(std::log(z));
  for (int64_t j = 0; j < K; ++j) s[j] = keep[j] != 0.0f ? std::exp(s[j] - l) : 0.0f;
  return l;
}

// Attention forward on bf16 qkv without dropout, per (sequence, head): S = scale Q K^T with the
// bf16 GEMM (f32 scores), softmax rows in f32 (lse kept), out = P V with the bf16 GEMM, stored
// bf16. P goes in as hi + lo bf16 halves ([P_hi | P_lo] against [V; V], one GEMM of 2K): a
// bf16-rounded P alone took the pooled output of a test fixture close to the autocast bar. Keys
// past a sequence's last real one are left out (probability 0), as in the f32 kernel.
void attention_fwd_bf16(const AttnDesc& d) {
  const int64_t T = d.T, H = d.H, D = d.D, row = 3 * H * D;
  const uint16_t* qkv = static_cast<const uint16_t*>(d.qkv.p);
  uint16_t* out = static_cast<uint16_t*>(d.out.p);
  float* lse = d.lse.f32();
  run_tasks(d.B * H, [&](int64_t task) {
    const int64_t b = task / H, h = task % H;
    const int32_t* mask = d.mask.p ? d.mask.i32() + b * T : nullptr;
    int64_t K = T;
    while (mask && K > 0 && !mask[K - 1]) --K;
    float* l = lse + (b * H + h) * T;
    uint16_t* o = out + b * T * H * D + h * D;
    if (K == 0) {  // no real key: probabilities 0, output 0
      std::fill_n(l, T, -std::numeric_limits<float>::infinity());
      for (int64_t i = 0; i < T; ++i) std::fill_n(o + i * H * D, D, uint16_t(0));
      return;
    }
    static thread_local std::vector<float> S, keep;
    static thread_local std::vector<uint16_t> P, V;
    S.resize(static_cast<size_t>(T * K));
    P.resize(static_cast<size_t>(2 * T * K));
    V.resize(static_cast<size_t>(2 * K * D));
    keep.resize(static_cast<size_t>(K));
    for (int64_t j = 0; j < K; ++j) keep[j] = !mask || mask[j] ? 1.0f : 0.0f;
    const uint16_t* q = qkv + b * T * row + h * D;
    GemmDesc g;
    g.transB = true, g.M = T, g.N = K, g.K = D, g.alpha = d.scale;
    g.A = Buf{const_cast<uint16_t*>(q), DType::BF16}, g.lda = row;
    g.B = Buf{const_cast<uint16_t*>(q + H * D), DType::BF16}, g.ldb = row;
    g.C = Buf{S.data(), DType::F32}, g.ldc = K;
    gemm_bf16(g);
    for (int64_t i = 0; i < T; ++i) {
      l[i] = softmax_row(S.data() + i * K, keep.data(), K);
      kernels().split(S.data() + i * K, P.data() + 2 * i * K, P.data() + 2 * i * K + K, K);
    }
    for (int64_t j = 0; j < K; ++j) {
      std::memcpy(V.data() + j * D, q + 2 * H * D + j * row, static_cast<size_t>(D) * 2);
      std::memcpy(V.data() + (K + j) * D, q + 2 * H * D + j * row, static_cast<size_t>(D) * 2);
    }
    GemmDesc v;
    v.M = T, v.N = D, v.K = 2 * K;
    v.A = Buf{P.data(), DType::BF16}, v.lda = 2 * K;
    v.B = Buf{V.data(), DType::BF16}, v.ldb = D;
    v.C = Buf{o, DType::BF16}, v.ldc = H * D;
    gemm_bf16(v);
  });
}

}  // namespace

void attention_fwd_routed(const AttnDesc& d) {
  if (d.qkv.t != DType::BF16) return fast::attention_fwd(d);
  if (d.dropout_p <= 0 && kernels().direct) return attention_fwd_bf16(d);
  // Dropout (training) or no AVX512_BF16: the f32 kernel on widened qkv (its Philox masks).
  const int64_t n = d.B * d.T * d.H * d.D;
  static thread_local std::vector<float> wide;  // the caller's: the f32 kernel below runs the tasks
  wide.resize(static_cast<size_t>(std::max<int64_t>(4 * n, 1)));
  float *q = wide.data(), *o = q + 3 * n;
  const uint16_t* src = static_cast<const uint16_t*>(d.qkv.p);
  parallel_for(3 * n, fast::kGrain, [&](int64_t lo, int64_t hi) {
    for (int64_t i = lo; i < hi; ++i) q[i] = bf16_to_f32(src[i]);
  });
  AttnDesc f = d;
  f.qkv = Buf{q, DType::F32}, f.out = Buf{o, DType::F32};
  fast::attention_fwd(f);
  uint16_t* out = static_cast<uint16_t*>(d.out.p);
  parallel_for(n, fast::kGrain, [&](int64_t lo, int64_t hi) { kernels().narrow(o + lo, out + lo, hi - lo); });
}

void cast_routed(Buf x, Buf y, int64_t n) {
  if (x.t != DType::F32 || y.t != DType::BF16) return fast::cast(x, y, n);
  const float* s = x.f32();
  uint16_t* d = static_cast<uint16_t*>(y.p);
  parallel_for(n, fast::kGrain, [&](int64_t lo, int64_t hi) { kernels().narrow(s + lo, d + lo, hi - lo); });
}

void declare_bf16_caps(Caps& caps) {
  const DTypes f32 = DTypes::of(DType::F32), both = f32 | DTypes::of(DType::BF16);
  caps.floats = both;
  for (int i = 0; i < kOpCount; ++i) caps.op_floats[i] = f32;
  for (Op o : {Op::gemm, Op::fill, Op::cast, Op::add, Op::axpy, Op::scale, Op::relu_fwd, Op::leaky_relu_fwd,
               Op::tanh_fwd, Op::silu_fwd, Op::concat_fwd, Op::embedding_fwd, Op::attention_fwd, Op::topk})
    caps.op_floats[static_cast<int>(o)] = both;
}

void gemm_bf16(const GemmDesc& g) {
  if (g.M <= 0 || g.N <= 0 || g.batch <= 0) return;
  if (g.K == 0 || g.A.t != DType::BF16) return gemm_widened(g);
  for (int64_t b = 0; b < g.batch; ++b) gemm_one(g, b);
}

}  // namespace biofeg::host
