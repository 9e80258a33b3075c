// cuemu's stand-in for cuBLAS: cublasGemmStridedBatchedEx as the cuBLAS documentation defines it
// (column-major, C = alpha op(A) op(B) + beta C, C not read when beta is 0), on host memory.
// It lets emulated runs execute the backend's cuBLAS path: the row-major to column-major
// mapping, the type and leading-dimension rules, and the epilogue that follows the call.
// Written from the documented semantics, not from our caller, so a wrong mapping shows up as a
// wrong result; an operand reaching outside its allocation aborts with a message.
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <vector>

#include "../../core/dtype.h"
#include "../cublas_loader.h"
#include "include/cuemu.h"

namespace cuemu {
namespace {

namespace cb = biofeg::cuda::cublas;
constexpr int kNotInitialized = 1, kInvalidValue = 7, kNotSupported = 15;
int g_handle_tag;

float load(const void* p, int type, long long i) {
  if (type == cb::kR16BF) return biofeg::bf16_to_f32(static_cast<const uint16_t*>(p)[i]);
  return static_cast<const float*>(p)[i];
}
void store(void* p, int type, long long i, float v) {
  if (type == cb::kR16BF) static_cast<uint16_t*>(p)[i] = biofeg::f32_to_bf16(v);
  else static_cast<float*>(p)[i] = v;
}
float tf32(float v) {  // round to TF32's 10 explicit mantissa bits, to nearest even
  uint32_t u;
  std::memcpy(&u, &v, 4);
  if ((u & 0x7f800000u) != 0x7f800000u) u = (u + 0xfffu + ((u >> 13) & 1u)) & ~0x1fffu;
  std::memcpy(&v, &u, 4);
  return v;
}
// A column-major rows x cols operand with leading dimension ld, `batch` copies `stride` apart.
void require_inside(const char* name, const void* p, int type, long long rows, long long cols, long long ld,
                    long long stride, int batch) {
  if (rows == 0 || cols == 0 || batch == 0) return;
  const long long last = (batch - 1) * stride + (cols - 1) * ld + (rows - 1);
  const size_t es = type == cb::kR16BF ? 2 : 4;
  if (stride < 0 || !device_range(p, static_cast<size_t>(last + 1) * es)) {
    std::fprintf(stderr, "cuemu cuBLAS: operand %s (%lld x %lld, ld %lld, stride %lld, batch %d) reaches outside its allocation\n",
                 name, rows, cols, ld, stride, batch);
    std::abort();
  }
}

cb::Status create(cb::Handle* h) {
  *h = &g_handle_tag;
  return cb::kStatusSuccess;
}
cb::Status destroy(cb::Handle h) { return h == &g_handle_tag ? cb::kStatusSuccess : kNotInitialized; }
cb::Status set_stream(cb::Handle h, void*) { return h == &g_handle_tag ? cb::kStatusSuccess : kNotInitialized; }
cb::Status set_math_mode(cb::Handle h, int) { return h == &g_handle_tag ? cb::kStatusSuccess : kNotInitialized; }

cb::Status gemm(cb::Handle h, int transa, int transb, int m, int n, int k, const void* alpha, const void* A, int Atype,
                int lda, long long strideA, const void* B, int Btype, int ldb, long long strideB, const void* beta,
                void* C, int Ctype, int ldc, long long strideC, int batch, int compute, int algo) {
  if (h != &g_handle_tag) return kNotInitialized;
  const auto op_ok = [](int t) { return t == cb::kOpN || t == cb::kOpT; };
  const auto rows_ok = [](int ld, int rows) { return ld >= (rows > 1 ? rows : 1); };
  if (!op_ok(transa) || !op_ok(transb) || m < 0 || n < 0 || k < 0 || batch < 0) return kInvalidValue;
  const long long ar = transa == cb::kOpN ? m : k, ac = transa == cb::kOpN ? k : m;
  const long long br = transb == cb::kOpN ? k : n, bc = transb == cb::kOpN ? n : k;
  if (!rows_ok(lda, static_cast<int>(ar)) || !rows_ok(ldb, static_cast<int>(br)) || !rows_ok(ldc, m)) return kInvalidValue;
  // The combinations of cublasGemmEx's table that biofeg may pass, with 32-bit float compute.
  const bool types = Atype == Btype && ((Atype == cb::kR16BF && (Ctype == cb::kR16BF || Ctype == cb::kR32F)) ||
                                        (Atype == cb::kR32F && Ctype == cb::kR32F));
  const bool comp = compute == cb::kCompute32F || (compute == cb::kCompute32FFastTF32 && Atype == cb::kR32F);
  if (!types || !comp || algo != cb::kGemmDefault) return kNotSupported;
  if (m == 0 || n == 0 || batch == 0) return cb::kStatusSuccess;
  const float al = *static_cast<const float*>(alpha), be = *static_cast<const float*>(beta);
  require_inside("A", A, Atype, ar, ac, lda, strideA, batch);
  require_inside("B", B, Btype, br, bc, ldb, strideB, batch);
  require_inside("C", C, Ctype, m, n, ldc, strideC, batch);
  const bool round_tf32 = compute == cb::kCompute32FFastTF32;
  // op(A) packed as a[i][p] and op(B) as bt[j][p], in f32: every dot product reads contiguously
  // and sums in p order; four columns at a time for instruction-level parallelism.
  std::vector<float> a(static_cast<size_t>(m) * k), bt(static_cast<size_t>(n) * k);
  for (int b = 0; b < batch; ++b) {
    for (long long i = 0; i < m; ++i)
      for (long long p = 0; p < k; ++p) {
        const float v = load(A, Atype, b * strideA + (transa == cb::kOpN ? i + p * lda : p + i * lda));
        a[i * k + p] = round_tf32 ? tf32(v) : v;
      }
    for (long long j = 0; j < n; ++j)
      for (long long p = 0; p < k; ++p) {
        const float v = load(B, Btype, b * strideB + (transb == cb::kOpN ? p + j * ldb : j + p * ldb));
        bt[j * k + p] = round_tf32 ? tf32(v) : v;
      }
    const auto put = [&](long long i, long long j, float s) {
      const long long c = b * strideC + i + j * ldc;
      store(C, Ctype, c, al * s + (be != 0.0f ? be * load(C, Ctype, c) : 0.0f));
    };
    for (long long i = 0; i < m; ++i) {
      const float* ai = a.data() + i * k;
      long long j = 0;
      for (; j + 4 <= n; j += 4) {
        const float *b0 = bt.data() + j * k, *b1 = b0 + k, *b2 = b1 + k, *b3 = b2 + k;
        float s0 = 0, s1 = 0, s2 = 0, s3 = 0;
        for (long long p = 0; p < k; ++p) {
          s0 += ai[p] * b0[p];
          s1 += ai[p] * b1[p];
          s2 += ai[p] * b2[p];
          s3 += ai[p] * b3[p];
        }
        put(i, j, s0), put(i, j + 1, s1), put(i, j + 2, s2), put(i, j + 3, s3);
      }
      for (; j < n; ++j) {
        const float* bj = bt.data() + j * k;
        float s = 0;
        for (long long p = 0; p < k; ++p) s += ai[p] * bj[p];
        put(i, j, s);
      }
    }
  }
  return cb::kStatusSuccess;
}

const char* status_string(cb::Status s) {
  switch (s) {
    case 0: return "CUBLAS_STATUS_SUCCESS";
    case kNotInitialized: return "CUBLAS_STATUS_NOT_INITIALIZED";
    case kInvalidValue: return "CUBLAS_STATUS_INVALID_VALUE";
    case kNotSupported: return "CUBLAS_STATUS_NOT_SUPPORTED";
  }
  return nullptr;
}

}  // namespace

const biofeg::cuda::cublas::Api& cublas_api() {
  static const cb::Api a = [] {
    cb::Api t;
    t.path = "cuemu's emulated cuBLAS";
    t.create = create;
    t.destroy = destroy;
    t.set_stream = set_stream;
    t.set_math_mode = set_math_mode;
    t.gemm_strided_batched_ex = gemm;
    t.status_string = status_string;
    return t;
  }();
  return a;
}

}  // namespace cuemu
