// The gemm op: cuBLAS (loaded at run time) when present and the call fits its API, else the
// hand-written kernels of gemm_fallback.cu. Row-major C = op(A) op(B) is computed as the
// column-major C^T = op(B)^T op(A)^T, i.e. cuBLAS gets B first and A second with (N, M) swapped.
// Bias, pre-activation and GELU run in one small elementwise kernel after cuBLAS (for a bf16 C,
// on an f32 product, so that C is rounded once); the fallback fuses them into its store.
#include <atomic>
#include <climits>
#include <memory>
#include <mutex>

#include "common.cuh"
#include "cublas_loader.h"

namespace biofeg::cuda {
namespace {

struct CublasState {
  const cublas::Api* api = nullptr;  // null: use the fallback
  cublas::Handle handle = nullptr;
  std::mutex mu;                     // one handle, calls serialised
  std::string note;                  // why cuBLAS is not used, if it is not
};

// Created on the first GEMM (needs a device). Never destroyed: destroying a handle from a
// static destructor after the driver has shut down can crash at process exit.
std::atomic<CublasState*> g_state{nullptr};
CublasState& state() {
  static CublasState* s = [] {
    auto* st = new CublasState();
    const cublas::Api* a = cublas::api();
    if (!a) {
      st->note = cublas::absent_reason();
      return st;
    }
    cublas::Handle h = nullptr;
    const cublas::Status cs = a->create(&h);
    if (cs != cublas::kStatusSuccess || !h) {
      st->note = "cublasCreate failed: " + cublas::status_name(cs);
      return st;
    }
    // The legacy default stream, like every other op here.
    if (a->set_stream(h, nullptr) != cublas::kStatusSuccess ||
        a->set_math_mode(h, cublas::kDefaultMath | cublas::kDisallowReducedPrecisionReduction) !=
            cublas::kStatusSuccess) {
      a->destroy(h);
      st->note = "cublasSetStream/cublasSetMathMode failed";
      return st;
    }
    st->api = a;
    st->handle = h;
    return st;
  }();
  g_state.store(s);
  return *s;
}

bool fits_int(int64_t v) { return v >= 0 && v <= INT_MAX; }

// Returns true when cuBLAS ran the product (C = alpha op(A) op(B) + beta C).
bool try_cublas(const GemmDesc& g) {
  if (g.K == 0) return false;  // the fallback writes beta*C (+ epilogue) without a product
  if (!fits_int(g.M) || !fits_int(g.N) || !fits_int(g.K)) return false;
  if (!fits_int(g.lda) || !fits_int(g.ldb) || !fits_int(g.ldc)) return false;
  // cuBLAS supports bf16 x bf16 -> bf16 or f32 and f32 x f32 -> f32 with f32 compute.
  const bool bf_in = g.A.t == DType::BF16;
  if (!bf_in && g.C.t != DType::F32) return false;
  // Leading dimensions cuBLAS accepts (at least the stored row length); smaller ones (e.g. a
  // broadcast row with ld 0) stay legal for the fallback, as in the reference.
  const int64_t a_row = g.transA ? g.M : g.K, b_row = g.transB ? g.K : g.N;
  if (g.lda < (a_row > 1 ? a_row : 1) || g.ldb < (b_row > 1 ? b_row : 1) || g.ldc < (g.N > 1 ? g.N : 1))
    return false;
  CublasState& st = state();
  if (!st.api) return false;
  const int dt = bf_in ? cublas::kR16BF : cublas::kR32F;
  const int ct = g.C.t == DType::BF16 ? cublas::kR16BF : cublas::kR32F;
  const int compute = (!bf_in && cublas::tf32_enabled()) ? cublas::kCompute32FFastTF32 : cublas::kCompute32F;
  const size_t es = dtype_size(g.A.t), cs = dtype_size(g.C.t);
  std::lock_guard<std::mutex> lock(st.mu);
  for (int64_t b0 = 0; b0 < g.batch; b0 += (1 << 30)) {
    const int64_t nb = g.batch - b0 < (1 << 30) ? g.batch - b0 : (1 << 30);
    const char* A = static_cast<const char*>(g.A.p) + b0 * g.strideA * static_cast<int64_t>(es);
    const char* B = static_cast<const char*>(g.B.p) + b0 * g.strideB * static_cast<int64_t>(es);
    char* C = static_cast<char*>(g.C.p) + b0 * g.strideC * static_cast<int64_t>(cs);
    const cublas::Status s = st.api->gemm_strided_batched_ex(
        st.handle, g.transB ? cublas::kOpT : cublas::kOpN, g.transA ? cublas::kOpT : cublas::kOpN,
        static_cast<int>(g.N), static_cast<int>(g.M), static_cast<int>(g.K), &g.alpha, B, dt,
        static_cast<int>(g.ldb), g.strideB, A, dt, static_cast<int>(g.lda), g.strideA, &g.beta, C, ct,
        static_cast<int>(g.ldc), g.strideC, static_cast<int>(nb), compute, cublas::kGemmDefault);
    if (s != cublas::kStatusSuccess) {
      if (b0 == 0) return false;  // nothing written yet: let the fallback do the whole call
      fail("gemm: cublasGemmStridedBatchedEx failed: ", cublas::status_name(s));
    }
  }
  check_launch("gemm (cublas)");
  return true;
}

// v = C (cuBLAS already applied alpha and beta), or v = P + beta*C when the product P was
// computed into an f32 buffer; then + bias, pre = v, C = gelu(v) or v, rounded once.
template <typename TC>
__global__ void k_epilogue(TC* C, int64_t ldc, int64_t strideC, const float* P, float beta, int64_t M, int64_t N,
                           int64_t batch, AnyPtr bias, AnyPtr pre, int gelu) {
  const int64_t total = batch * M * N;
  for (int64_t i = gtid(); i < total; i += gstride()) {
    const int64_t j = i % N, r = i / N, row = r % M, b = r / M;
    const int64_t off = b * strideC + row * ldc + j;
    float v = P ? P[i] + (beta != 0.0f ? beta * ld(C + off) : 0.0f) : ld(C + off);
    if (bias.p) v += bias.get(j);
    if (pre.p) pre.set(off, v);
    C[off] = cvt<TC>(gelu ? gelu_f(v) : v);
  }
}

}  // namespace

std::string gemm_engine_name() {
  // Before the first GEMM (no handle yet) this reports what the first GEMM will use; after it,
  // what it did use (a library that loads but cannot create a handle means the fallback).
  const CublasState* st = g_state.load();
  const cublas::Api* a = st ? st->api : cublas::api();
  if (a) return "cublas (" + a->path + ")";
  std::string why = st ? st->note : cublas::absent_reason();
  for (size_t i; (i = why.find("\n  ")) != std::string::npos;) why.replace(i, 3, "; ");  // one line
  return "fallback (hand-written bf16 tensor-core GEMM)" + (why.empty() ? std::string() : ": " + why);
}

namespace ops {

void gemm(const GemmDesc& g) {
  if (g.M <= 0 || g.N <= 0 || g.batch <= 0) return;
  const bool epilogue = g.bias.p || g.pre.p || g.epilogue != Epilogue::None;
  // cuBLAS rounds a bf16 C before the epilogue could add the bias: with an epilogue, a bf16 C
  // gets its product in f32 first, so that pre and C are rounded once, as in the reference.
  const bool via_f32 = epilogue && g.C.t == DType::BF16 && g.K > 0 && state().api;
  const int64_t total = g.batch * g.M * g.N;
  std::unique_ptr<DeviceBuffer> prod;
  if (via_f32) {
    prod = std::make_unique<DeviceBuffer>(static_cast<size_t>(total) * sizeof(float), "gemm");
    GemmDesc t = g;
    t.C = Buf{prod->as<float>(), DType::F32}, t.ldc = g.N, t.strideC = g.M * g.N, t.beta = 0.0f;
    t.bias = Buf{}, t.pre = Buf{}, t.epilogue = Epilogue::None;
    if (!try_cublas(t)) {
      ops::gemm_fallback(g);
      return;
    }
  } else if (!try_cublas(g)) {
    ops::gemm_fallback(g);  // fused epilogue
    return;
  }
  if (!epilogue) return;
  BIOFEG_FLOAT_DISPATCH(g.C.t, "gemm", TC,
                        k_epilogue<TC><<<grid_for(total, 256), 256>>>(
                            static_cast<TC*>(g.C.p), g.ldc, g.strideC, prod ? prod->as<float>() : nullptr, g.beta,
                            g.M, g.N, g.batch, any(g.bias), any(g.pre), g.epilogue == Epilogue::Gelu ? 1 : 0));
  check_launch("gemm (epilogue)");
}

void bias_grad(Buf dy, Buf db, int64_t N, int64_t C) { column_sums("bias_grad", dy, db, N, C); }

}  // namespace ops
}  // namespace biofeg::cuda
