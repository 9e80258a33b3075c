// Packed, cache-blocked GEMM (the BLIS/llm.c-CPU recipe): B is packed into KC x nr panels
// shared by all threads, each task packs its own MC x KC block of A into mr-row panels (or, for
// a row-major A, the micro-kernel reads A in place), and an mr x nr FMA micro-kernel (the CPU
// level's: gemm.h) sweeps them. Bias, pre-activation and GELU are applied when the last K block
// is stored, while the tile is still in cache.
#include "gemm.h"
#include "gemm_tile.h"

#include <algorithm>
#include <cstdint>
#include <cstdlib>
#include <vector>

#include "../../core/error.h"
#include "cpu_level.h"
#include "fast.h"

namespace biofeg::host {
namespace {

constexpr int64_t NC = 3072;
// Rows per task: about 96, a whole number of mr-row panels (a row block starts on a panel).
// BIOFEG_GEMM_MC overrides the 96 (tuning runs).
int64_t row_block(int mr) {
  static const int64_t target = [] {
    const char* e = std::getenv("BIOFEG_GEMM_MC");
    const long v = e ? std::atol(e) : 0;
    return v >= 1 && v <= 4096 ? static_cast<int64_t>(v) : int64_t(96);
  }();
  return std::max<int64_t>(1, (target + mr - 1) / mr) * mr;
}

void kernel_generic(int64_t kc, const float* a, const float* b, float* acc) {
  float c[kMR * kNR] = {};
  for (int64_t k = 0; k < kc; ++k)
    for (int r = 0; r < kMR; ++r)
      for (int j = 0; j < kNR; ++j) c[r * kNR + j] += a[k * kMR + r] * b[k * kNR + j];
  std::copy_n(c, kMR * kNR, acc);
}

// BIOFEG_GEMM_PACK_A=1 packs row-major A too (the previous path, kept for A/B timing).
const bool g_pack_a = std::getenv("BIOFEG_GEMM_PACK_A") != nullptr;

GemmKernels choose_kernels() {
  GemmKernels k = gemm_kernels_generic();
  const CpuLevel l = cpu_level();  // throws on a bad BIOFEG_CPU_KERNEL
  if (l >= CpuLevel::Avx512 && gemm_kernels_avx512().packed) k = gemm_kernels_avx512();
  else if (l >= CpuLevel::Avx2 && gemm_kernels_avx2().packed) k = gemm_kernels_avx2();
  if (g_pack_a) k.direct = nullptr;
  return k;
}

}  // namespace

// K block: a kc x nr panel of B of 24 KiB, so that it stays in a 32 KiB L1 beside the A rows
// while the micro-kernel sweeps it (384 for 16 columns, 192 for 32). BIOFEG_GEMM_KC overrides
// it, for tuning runs.
int64_t k_block(int nr) {
  static const int64_t forced = [] {
    const char* e = std::getenv("BIOFEG_GEMM_KC");
    const long v = e ? std::atol(e) : 0;
    return v >= 16 && v <= 4096 ? static_cast<int64_t>(v) : int64_t(0);
  }();
  return forced ? forced : std::max<int64_t>(16, 6144 / nr);
}
GemmKernels gemm_kernels_generic() { return {"generic 6x16", kMR, kNR, kernel_generic, nullptr, nullptr, nullptr}; }

const GemmKernels& gemm_kernels() {
  static const GemmKernels k = choose_kernels();  // a throw leaves it unset: the next call throws again
  return k;
}

// op(B)[pc.., jc..] -> panels [np][kc][nr], zero-padded past nc.
void pack_b(const Operand& B, int64_t pc, int64_t kc, int64_t jc, int64_t nc, int64_t p, int64_t kNR, float* out) {
  float* dst = out + p * kc * kNR;
  const int64_t j0 = jc + p * kNR, w = std::min<int64_t>(kNR, jc + nc - j0);
  if (!B.trans) {
    for (int64_t k = 0; k < kc; ++k) {
      const float* src = B.p + (pc + k) * B.ld + j0;
      float* d = dst + k * kNR;
      for (int64_t j = 0; j < w; ++j) d[j] = src[j];
      for (int64_t j = w; j < kNR; ++j) d[j] = 0.0f;
    }
  } else {
    if (w < kNR) std::fill_n(dst, kc * kNR, 0.0f);
    for (int64_t j = 0; j < w; ++j) {
      const float* src = B.p + (j0 + j) * B.ld + pc;
      for (int64_t k = 0; k < kc; ++k) dst[k * kNR + j] = src[k];
    }
  }
}

// op(A)[ic.., pc..] -> panels [mp][kc][mr], zero-padded past mc.
static void pack_a(const Operand& A, int64_t ic, int64_t mc, int64_t pc, int64_t kc, int64_t kMR, float* out) {
  for (int64_t i0 = 0; i0 < mc; i0 += kMR) {
    float* dst = out + (i0 / kMR) * kc * kMR;
    const int64_t h = std::min<int64_t>(kMR, mc - i0);
    if (!A.trans) {
      if (h < kMR) std::fill_n(dst, kc * kMR, 0.0f);
      for (int64_t r = 0; r < h; ++r) {
        const float* src = A.p + (ic + i0 + r) * A.ld + pc;
        for (int64_t k = 0; k < kc; ++k) dst[k * kMR + r] = src[k];
      }
    } else {
      for (int64_t k = 0; k < kc; ++k) {
        const float* src = A.p + (pc + k) * A.ld + ic + i0;
        float* d = dst + k * kMR;
        for (int64_t r = 0; r < h; ++r) d[r] = src[r];
        for (int64_t r = h; r < kMR; ++r) d[r] = 0.0f;
      }
    }
  }
}

void store_tile(const TileCtx& t, const float* acc, int64_t i0, int64_t j0, int64_t h, int64_t w) {
  const GemmDesc& g = *t.g;
  const GemmKernels& k = *t.k;
  const int64_t kNR = k.nr;
  const bool plain_end = !t.bias && !t.pre && g.epilogue == Epilogue::None;
  const bool full = h == k.mr && w == k.nr;
  if (k.store && full && (!t.last || plain_end)) {
    k.store(acc, t.C + i0 * g.ldc + j0, g.ldc, g.alpha, g.beta, t.first);
    return;
  }
  if (k.epi && full) {  // last K block with bias / pre / GELU, vector wide
    k.epi(acc, t.C + i0 * g.ldc + j0, g.ldc, g.alpha, g.beta, t.first, t.bias ? t.bias + j0 : nullptr,
          t.pre ? t.pre + i0 * g.ldc + j0 : nullptr, g.epilogue == Epilogue::Gelu);
    return;
  }
  if (k.store && k.epi) {
    // A partial tile goes through the same vector store as a full one (on a full-size copy), so a
    // row's values never depend on where the tile edges fall, i.e. on how many rows the batch has
    // (the scalar loop's GELU rounds differently from the vector one).
    alignas(64) float cb[kMRMax * kNRMax] = {}, pb[kMRMax * kNRMax], bb[kNRMax] = {};
    const bool read = !t.first || g.beta != 0.0f;
    for (int64_t r = 0; r < h && read; ++r) std::copy_n(t.C + (i0 + r) * g.ldc + j0, w, cb + r * kNR);
    if (t.last && !plain_end) {
      if (t.bias) std::copy_n(t.bias + j0, w, bb);
      k.epi(acc, cb, kNR, g.alpha, g.beta, t.first, t.bias ? bb : nullptr, t.pre ? pb : nullptr,
            g.epilogue == Epilogue::Gelu);
    } else {
      k.store(acc, cb, kNR, g.alpha, g.beta, t.first);
    }
    for (int64_t r = 0; r < h; ++r) {
      std::copy_n(cb + r * kNR, w, t.C + (i0 + r) * g.ldc + j0);
      if (t.last && t.pre) std::copy_n(pb + r * kNR, w, t.pre + (i0 + r) * g.ldc + j0);
    }
    return;
  }
  for (int64_t r = 0; r < h; ++r) {
    float* c = t.C + (i0 + r) * g.ldc + j0;
    for (int64_t j = 0; j < w; ++j) {
      float v = g.alpha * acc[r * kNR + j];
      if (!t.first) v += c[j];
      else if (g.beta != 0.0f) v += g.beta * c[j];
      if (t.last) {
        if (t.bias) v += t.bias[j0 + j];
        if (t.pre) t.pre[(i0 + r) * g.ldc + j0 + j] = v;
        if (g.epilogue == Epilogue::Gelu) v = gelu(v);
      }
      c[j] = v;
    }
  }
}

namespace {

// Tail of a GEMM with K == 0: C = beta * C (+ bias), epilogue.
void gemm_k0(const GemmDesc& g, float* C, float* pre, const float* bias) {
  for (int64_t i = 0; i < g.M; ++i)
    for (int64_t j = 0; j < g.N; ++j) {
      float v = g.beta != 0.0f ? g.beta * C[i * g.ldc + j] : 0.0f;
      if (bias) v += bias[j];
      if (pre) pre[i * g.ldc + j] = v;
      C[i * g.ldc + j] = g.epilogue == Epilogue::Gelu ? gelu(v) : v;
    }
}

void gemm_one(const GemmDesc& g, int64_t b, bool threaded) {
  if (gemm_swapped(g, b, threaded)) return;
  // A bf16 A (row-major) goes to the level's widening direct kernel; nothing packs it.
  const bool a16 = g.A.t == DType::BF16;
  const uint16_t* A16 = a16 ? static_cast<const uint16_t*>(g.A.p) + b * g.strideA : nullptr;
  const Operand A{a16 ? nullptr : g.A.f32() + b * g.strideA, g.lda, g.transA};
  const Operand B{g.B.f32() + b * g.strideB, g.ldb, g.transB};
  const GemmKernels& ks = gemm_kernels();
  BIOFEG_CHECK(!a16 || (ks.direct16 && !g.transA), "gemm: internal: a bf16 A needs a row-major A and the ",
               ks.name, " level's direct kernel");
  const int nthreads = threaded ? num_threads() : 1;
  const int64_t kMR = ks.mr, kNR = ks.nr, MC = balanced_rows(g.M, ks.mr, row_block(ks.mr), 2 * row_block(ks.mr), nthreads), KC = k_block(ks.nr);
  TileCtx t{&g, &ks, g.C.f32() + b * g.strideC, g.pre.p ? g.pre.f32() + b * g.strideC : nullptr,
            (g.bias.p ? g.bias.f32() : nullptr), true, true};
  if (g.K == 0) return gemm_k0(g, t.C, t.pre, t.bias);

  static thread_local Scratch<> bscratch, ascratch, apack_shared;
  for (int64_t jc = 0; jc < g.N; jc += NC) {
    const int64_t nc = std::min(NC, g.N - jc), np = (nc + kNR - 1) / kNR;
    for (int64_t pc = 0; pc < g.K; pc += KC) {
      const int64_t kc = std::min(KC, g.K - pc);
      t.first = pc == 0;
      t.last = pc + kc >= g.K;
      float* bp = bscratch.get(static_cast<size_t>(np * kc * kNR));
      if (nthreads > 1) {
        parallel_for(np, 4, [&](int64_t lo, int64_t hi) {
          for (int64_t p = lo; p < hi; ++p) pack_b(B, pc, kc, jc, nc, p, kNR, bp);
        });
      } else {
        for (int64_t p = 0; p < np; ++p) pack_b(B, pc, kc, jc, nc, p, kNR, bp);
      }
      const int64_t mb = (g.M + MC - 1) / MC;
      int64_t split = 1;  // split the panels too when there are few row blocks
      while (mb * split < 4 * nthreads && split * 2 <= np) split *= 2;
      const int64_t per = (np + split - 1) / split;
      // With split tasks, A is packed once for all of them (else each would repack its rows).
      const int64_t mpad = (g.M + kMR - 1) / kMR * kMR;
      // Row-major op(A) is read in place by the direct kernel: no packing at all.
      const bool direct = a16 || (ks.direct && !A.trans);
      float* ashared = !direct && split > 1 ? apack_shared.get(static_cast<size_t>(mpad * kc)) : nullptr;
      if (ashared) {
        const int64_t panels = mpad / kMR;
        auto pack_rows = [&](int64_t lo, int64_t hi) {
          pack_a(A, lo * kMR, std::min(g.M, hi * kMR) - lo * kMR, pc, kc, kMR, ashared + lo * kMR * kc);
        };
        if (nthreads > 1) parallel_for(panels, 8, pack_rows);
        else pack_rows(0, panels);
      }
      auto task = [&](int64_t task_id) {
        const int64_t ic = (task_id / split) * MC, mc = std::min(MC, g.M - ic);
        const int64_t p0 = (task_id % split) * per, p1 = std::min(np, p0 + per);
        if (p0 >= p1) return;
        float* ap = nullptr;
        if (ashared) {
          ap = ashared + ic * kc;  // MC is a multiple of kMR: row panel ic / kMR
        } else if (!direct) {
          ap = ascratch.get(static_cast<size_t>((mc + kMR - 1) / kMR * kMR * kc));
          pack_a(A, ic, mc, pc, kc, kMR, ap);
        }
        alignas(64) float acc[kMRMax * kNRMax];
        for (int64_t p = p0; p < p1; ++p) {
          const int64_t j0 = jc + p * kNR, w = std::min<int64_t>(kNR, jc + nc - j0);
          for (int64_t i0 = 0; i0 < mc; i0 += kMR) {
            const int64_t h = std::min<int64_t>(kMR, mc - i0);
            // The tile's C rows are read (or written whole) once the kernel is done: fetch them
            // while it runs (C is swept once per K block, mostly from L3 or memory).
            for (int64_t r = 0; r < h; ++r) {
              const float* c = t.C + (ic + i0 + r) * g.ldc + j0;
              for (int64_t j = 0; j < w; j += 16) __builtin_prefetch(c + j, 1);
              __builtin_prefetch(c + w - 1, 1);
            }
            if (a16) ks.direct16(kc, A16 + (ic + i0) * A.ld + pc, A.ld, h, bp + p * kc * kNR, acc);
            else if (direct) ks.direct(kc, A.p + (ic + i0) * A.ld + pc, A.ld, h, bp + p * kc * kNR, acc);
            else ks.packed(kc, ap + (i0 / kMR) * kc * kMR, bp + p * kc * kNR, acc);
            store_tile(t, acc, ic + i0, j0, h, w);
          }
        }
      };
      if (nthreads > 1) run_tasks(mb * split, task);
      else
        for (int64_t i = 0; i < mb * split; ++i) task(i);
    }
  }
}

}  // namespace

const char* micro_kernel_name() { return gemm_kernels().name; }

int64_t balanced_rows(int64_t M, int mr, int64_t target, int64_t cap, int nt) {
  if (nt <= 1 || M <= target * nt) return target;
  auto makespan = [&](int64_t mc) { return (((M + mc - 1) / mc + nt - 1) / nt) * mc; };
  int64_t best = target;
  const int64_t blocks = (M + target - 1) / target;
  for (int64_t per = std::max<int64_t>(1, blocks / nt - 1); per <= blocks / nt + 1; ++per) {
    const int64_t mc = ((M + per * nt - 1) / (per * nt) + mr - 1) / mr * mr;
    if (mc >= target / 2 && mc <= cap && makespan(mc) < makespan(best)) best = mc;
  }
  return best;
}

namespace {
// Weight-gradient shapes (K = tokens much larger than M and N): each thread runs a serial GEMM
// over its own slice of K, with no synchronisation inside; slice 0 lands in C (with beta), the
// others in scratch, added to C afterwards in slice order (a fixed reduction order).
// BIOFEG_GEMM_SPLIT_K=0 turns it off (A/B timing).
const bool g_split_k = [] {
  const char* e = std::getenv("BIOFEG_GEMM_SPLIT_K");
  return !(e && e[0] == '0');
}();
bool split_k(const GemmDesc& g) {
  const int64_t parts = g_split_k ? num_threads() : 1;
  if (parts < 2 || g.batch != 1 || g.bias.p || g.pre.p || g.epilogue != Epilogue::None || g.A.t != DType::F32)
    return false;
  if (g.K < 2048 || g.K < 2 * std::max(g.M, g.N) || g.M * g.N * (parts - 1) > (int64_t(1) << 24)) return false;
  const int64_t per = (g.K + parts - 1) / parts;
  static thread_local std::vector<float> scratch;
  scratch.resize(static_cast<size_t>(g.M * g.N * (parts - 1)));
  float* const sc = scratch.data();  // the caller's buffer (a thread_local named in a task would be the worker's)
  float* C = g.C.f32();
  const float *A = g.A.f32(), *B = g.B.f32();
  run_tasks(parts, [&](int64_t s) {
    const int64_t k0 = s * per, k1 = std::min(g.K, k0 + per);
    GemmDesc p = g;
    p.K = k1 - k0;
    p.A = Buf{const_cast<float*>(g.transA ? A + k0 * g.lda : A + k0), DType::F32};
    p.B = Buf{const_cast<float*>(g.transB ? B + k0 : B + k0 * g.ldb), DType::F32};
    if (s > 0) {
      p.C = Buf{sc + (s - 1) * g.M * g.N, DType::F32};
      p.ldc = g.N;
      p.beta = 0.0f;
    }
    gemm_one(p, 0, false);
  });
  parallel_for(g.M, 16, [&](int64_t lo, int64_t hi) {
    for (int64_t i = lo; i < hi; ++i)
      for (int64_t s = 1; s < parts; ++s) {
        const float* src = sc + (s - 1) * g.M * g.N + i * g.N;
        float* dst = C + i * g.ldc;
        for (int64_t j = 0; j < g.N; ++j) dst[j] += src[j];
      }
  });
  return true;
}
}  // namespace

void gemm_fast(const GemmDesc& g, bool split_k_ok) {
  if (split_k_ok && split_k(g)) return;
  for (int64_t b = 0; b < g.batch; ++b) gemm_one(g, b, true);
}
void gemm_serial(const GemmDesc& g) {
  for (int64_t b = 0; b < g.batch; ++b) gemm_one(g, b, false);
}

}  // namespace biofeg::host

namespace biofeg::fast {

void gemm(const GemmDesc& g) { host::gemm_fast(g); }

void bias_grad(Buf dy, Buf db, int64_t N, int64_t C) {
  const float* d = dy.f32();
  float* o = db.f32();
  if (host::vec_avx2())
    return parallel_for(C, 64, [&](int64_t lo, int64_t hi) { host::colsum_avx2(d + lo, N, C, hi - lo, o + lo); });
  parallel_for(C, 64, [&](int64_t lo, int64_t hi) {
    std::vector<double> s(hi - lo, 0.0);
    for (int64_t n = 0; n < N; ++n)
      for (int64_t c = lo; c < hi; ++c) s[c - lo] += d[n * C + c];
    for (int64_t c = lo; c < hi; ++c) o[c] += static_cast<float>(s[c - lo]);
  });
}

}  // namespace biofeg::fast
