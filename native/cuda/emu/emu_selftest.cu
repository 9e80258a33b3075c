// cuemu_selftest: the emulator's own test. Correct kernels must give the right results, and
// every bug class cuemu claims to catch must be caught: a race on shared memory, a deadlock, a
// shuffle naming an exited lane, a misaligned WMMA pointer, launch limits, __trap, a copy
// outside an allocation; the cuBLAS stand-in must follow the documented column-major
// semantics. Built only under BIOFEG_CUDA=EMU; prints one line per check and "N passed, N failed".
#include <cuda_runtime.h>
#include <mma.h>

#include <cmath>
#include <cstdio>
#include <cstring>
#include <functional>
#include <string>
#include <vector>

#include "../cublas_loader.h"

namespace {

int g_pass = 0, g_fail = 0;
void check(bool ok, const std::string& what, const std::string& detail = "") {
  std::printf("%-4s %s%s%s\n", ok ? "ok" : "FAIL", what.c_str(), detail.empty() ? "" : ": ", detail.c_str());
  (ok ? g_pass : g_fail)++;
}
// The launch error that the previous launch left (empty when it succeeded).
std::string launch_error() {
  const cudaError_t e = cudaGetLastError();
  return e == cudaSuccess ? std::string() : cudaGetErrorString(e);
}
bool has(const std::string& s, const char* part) { return s.find(part) != std::string::npos; }

template <typename T>
struct Dev {
  T* p = nullptr;
  size_t n;
  explicit Dev(size_t count) : n(count) { cudaMalloc(reinterpret_cast<void**>(&p), n * sizeof(T)); }
  Dev(const std::vector<T>& h) : Dev(h.size()) { cudaMemcpy(p, h.data(), n * sizeof(T), cudaMemcpyHostToDevice); }
  ~Dev() { cudaFree(p); }
  std::vector<T> get() const {
    std::vector<T> h(n);
    cudaMemcpy(h.data(), p, n * sizeof(T), cudaMemcpyDeviceToHost);
    return h;
  }
};

__global__ void k_block_sum(const float* x, float* out, int n) {
  __shared__ float s[256];
  const int t = threadIdx.x;
  float v = 0;
  for (int i = t; i < n; i += blockDim.x) v += x[i];
  s[t] = v;
  __syncthreads();
  for (int h = blockDim.x / 2; h > 0; h >>= 1) {
    if (t < h) s[t] += s[t + h];
    __syncthreads();
  }
  if (t == 0) out[blockIdx.x] = s[0];
}
__global__ void k_racy_shift(float* out) {  // reads its neighbour's slot without a barrier
  __shared__ float s[64];
  s[threadIdx.x] = static_cast<float>(threadIdx.x);
  out[threadIdx.x] = s[(threadIdx.x + 1) % 64];
}
__global__ void k_warp_sum(const float* x, float* out) {
  float v = x[threadIdx.x];
  for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(0xffffffffu, v, o);
  out[threadIdx.x] = v;
}
__global__ void k_shfl_after_exit(float* out) {
  if (threadIdx.x == 5) return;
  out[threadIdx.x] = __shfl_xor_sync(0xffffffffu, 1.0f, 1);
}
__global__ void k_mixed_barriers() {
  if (threadIdx.x < 16) __syncwarp();
  else __syncthreads();
}
__global__ void k_wmma(const __nv_bfloat16* A, const __nv_bfloat16* B, float* C, int offset) {
  namespace wmma = nvcuda::wmma;
  wmma::fragment<wmma::matrix_a, 16, 16, 16, __nv_bfloat16, wmma::row_major> a;
  wmma::fragment<wmma::matrix_b, 16, 16, 16, __nv_bfloat16, wmma::col_major> b;
  wmma::fragment<wmma::accumulator, 16, 16, 16, float> c;
  wmma::fill_fragment(c, 0.0f);
  wmma::load_matrix_sync(a, A + offset, 16);
  wmma::load_matrix_sync(b, B, 16);
  wmma::mma_sync(c, a, b, c);
  wmma::store_matrix_sync(C, c, 16, wmma::mem_row_major);
}
__global__ void k_reverse(float* out) {
  extern __shared__ float sm[];
  sm[threadIdx.x] = static_cast<float>(threadIdx.x);
  __syncthreads();
  out[threadIdx.x] = sm[blockDim.x - 1 - threadIdx.x];
}
// Reads its slot before writing it: every block must see the poison, not the previous block's 1s.
template <typename T>
__global__ void k_stale_shared(T* out) {
  __shared__ T s[32];
  out[blockIdx.x * 32 + threadIdx.x] = s[threadIdx.x];
  s[threadIdx.x] = static_cast<T>(1);
}
__global__ void k_big_shared(float* out) {
  __shared__ float big[13000];  // 52,000 bytes: over the 48 KiB of static shared memory
  big[threadIdx.x] = 1.0f;
  out[threadIdx.x] = big[threadIdx.x];
}
__global__ void k_trap() { __trap(); }
__global__ void k_nothing() {}

void block_sum_works(const char* when) {
  std::vector<float> x(1000);
  double want = 0;
  for (size_t i = 0; i < x.size(); ++i) want += (x[i] = static_cast<float>(i % 7));
  Dev<float> dx(x), dout(3);
  k_block_sum<<<3, 256>>>(dx.p, dout.p, 1000);
  const std::string e = launch_error();
  const auto out = dout.get();
  check(e.empty() && out[0] == want && out[1] == want && out[2] == want,
        std::string("shared-memory tree reduction, 3 blocks x 256 threads") + when, e);
}

void kernels() {
  block_sum_works("");
  {
    Dev<float> out(64);
    k_racy_shift<<<1, 64>>>(out.p);
    const auto o = out.get();
    bool poisoned = false;
    for (float v : o) poisoned = poisoned || std::isnan(v);
    check(launch_error().empty() && poisoned, "a read of shared memory before its writer ran sees the poison (NaN)");
  }
  {
    std::vector<float> x(64);
    for (int i = 0; i < 64; ++i) x[i] = static_cast<float>(i);
    Dev<float> dx(x), out(64);
    k_warp_sum<<<1, 64>>>(dx.p, out.p);
    const auto o = out.get();
    check(launch_error().empty() && o[0] == 496 && o[31] == 496 && o[32] == 1520 && o[63] == 1520,
          "__shfl_xor_sync butterfly sums per warp");
  }
  {
    Dev<float> out(32);
    k_shfl_after_exit<<<1, 32>>>(out.p);
    const std::string e = launch_error();
    check(has(e, "exited"), "a full-mask shuffle with an exited lane is an error", e);
  }
  {
    k_mixed_barriers<<<1, 64>>>();
    const std::string e = launch_error();
    check(has(e, "deadlock"), "__syncwarp in half a warp, __syncthreads in the rest: deadlock reported", e);
  }
  {
    std::vector<__nv_bfloat16> a(16 * 16 + 8), b(16 * 16);
    std::vector<float> want(256, 0.0f);
    for (int i = 0; i < 16 * 16 + 8; ++i) a[i] = __float2bfloat16_rn(static_cast<float>(i % 5) - 2);
    for (int i = 0; i < 256; ++i) b[i] = __float2bfloat16_rn(static_cast<float>(i % 3) - 1);
    for (int i = 0; i < 16; ++i)
      for (int j = 0; j < 16; ++j)
        for (int k = 0; k < 16; ++k)  // B is col_major: element (k, j) at j * 16 + k
          want[i * 16 + j] += __bfloat162float(a[i * 16 + k]) * __bfloat162float(b[j * 16 + k]);
    Dev<__nv_bfloat16> da(a), db(b);
    Dev<float> dc(256);
    k_wmma<<<1, 32>>>(da.p, db.p, dc.p, 0);
    const std::string e = launch_error();
    check(e.empty() && dc.get() == want, "wmma 16x16x16 bf16 (row_major A, col_major B) equals the host product", e);
    k_wmma<<<1, 32>>>(da.p, db.p, dc.p, 8);  // 16 bytes off: not 256-bit aligned
    const std::string e2 = launch_error();
    check(has(e2, "aligned"), "wmma with a pointer that is not 256-bit aligned is an error", e2);
    k_wmma<<<1, 16>>>(da.p, db.p, dc.p, 0);
    const std::string e3 = launch_error();
    check(has(e3, "lanes the block does not have"), "wmma from half a warp is an error", e3);
  }
  {
    k_nothing<<<1, 2048>>>();
    const std::string e = launch_error();
    check(has(e, "outside the device limits"), "a block of 2048 threads is refused", e);
    k_nothing<<<dim3(1, 70000), 32>>>();
    const std::string e2 = launch_error();
    check(has(e2, "outside the device limits"), "a grid with y = 70000 is refused", e2);
  }
  {
    Dev<float> out(256);
    k_reverse<<<1, 256, 64 * 1024>>>(out.p);
    const std::string e = launch_error();
    check(has(e, "dynamic shared memory"), "64 KiB of dynamic shared memory without cudaFuncSetAttribute is refused", e);
    cudaFuncSetAttribute(reinterpret_cast<const void*>(k_reverse), cudaFuncAttributeMaxDynamicSharedMemorySize, 64 * 1024);
    k_reverse<<<1, 256, 64 * 1024>>>(out.p);
    const std::string e2 = launch_error();
    const auto o = out.get();
    check(e2.empty() && o[0] == 255 && o[255] == 0, "... and runs once allowed, reading dynamic shared memory", e2);
  }
  {
    Dev<float> f(64);
    Dev<int> i(64);
    k_stale_shared<float><<<2, 32>>>(f.p);
    k_stale_shared<int><<<2, 32>>>(i.p);
    const auto fo = f.get();
    const auto io = i.get();
    bool ok = launch_error().empty();
    for (int k = 0; k < 64; ++k) ok = ok && std::isnan(fo[k]) && io[k] == -1;
    check(ok, "every block of a template kernel starts from poisoned shared memory (NaN, -1)");
    k_big_shared<<<1, 32>>>(f.p);
    const std::string e = launch_error();
    check(has(e, "48 KiB"), "52,000 bytes of static shared memory are refused", e);
  }
  {
    k_trap<<<2, 32>>>();
    const std::string e = launch_error();
    check(has(e, "__trap"), "__trap() fails the launch", e);
  }
  block_sum_works(" (after failed launches: errors are not sticky)");
  {
    void* p = nullptr;
    cudaMalloc(&p, 100);
    std::vector<char> h(200);
    const cudaError_t e = cudaMemcpy(h.data(), p, 200, cudaMemcpyDeviceToHost);
    (void)cudaGetLastError();
    check(e != cudaSuccess, "a copy reaching past an allocation is refused", e ? cudaGetErrorString(e) : "");
    cudaFree(p);
  }
}

// The cuBLAS stand-in against a triple loop over column-major operands, every transpose pair.
void cublas_standin() {
  namespace cb = biofeg::cuda::cublas;
  const cb::Api* api = cb::api();
  if (!api) {
    check(false, "cuBLAS stand-in loaded", cb::absent_reason());
    return;
  }
  cb::Handle h = nullptr;
  api->create(&h);
  const int m = 3, n = 2, k = 4, batch = 2;
  for (int ta = 0; ta < 2; ++ta)
    for (int tb = 0; tb < 2; ++tb) {
      const int lda = (ta ? k : m) + 1, ldb = (tb ? n : k) + 2, ldc = m + 1;
      const long long sA = lda * (ta ? m : k), sB = ldb * (tb ? k : n), sC = ldc * n;
      std::vector<float> A(sA * batch), B(sB * batch), C(sC * batch), want;
      for (size_t i = 0; i < A.size(); ++i) A[i] = static_cast<float>(static_cast<int>(i * 7 % 11) - 5);
      for (size_t i = 0; i < B.size(); ++i) B[i] = static_cast<float>(static_cast<int>(i * 5 % 9) - 4);
      for (size_t i = 0; i < C.size(); ++i) C[i] = static_cast<float>(i % 4);
      want = C;
      const float alpha = 2.0f, beta = 0.5f;
      for (int b = 0; b < batch; ++b)
        for (int i = 0; i < m; ++i)
          for (int j = 0; j < n; ++j) {
            float s = 0;
            for (int p = 0; p < k; ++p)
              s += A[b * sA + (ta ? p + i * lda : i + p * lda)] * B[b * sB + (tb ? j + p * ldb : p + j * ldb)];
            want[b * sC + i + j * ldc] = alpha * s + beta * C[b * sC + i + j * ldc];
          }
      Dev<float> dA(A), dB(B), dC(C);
      const cb::Status st = api->gemm_strided_batched_ex(h, ta, tb, m, n, k, &alpha, dA.p, cb::kR32F, lda, sA, dB.p,
                                                         cb::kR32F, ldb, sB, &beta, dC.p, cb::kR32F, ldc, sC, batch,
                                                         cb::kCompute32F, cb::kGemmDefault);
      check(st == cb::kStatusSuccess && dC.get() == want,
            std::string("cuBLAS stand-in, column-major, op(A)=") + (ta ? "T" : "N") + " op(B)=" + (tb ? "T" : "N") +
                ", padded ld, strided batch of 2");
    }
  Dev<float> d(64);
  const float one = 1.0f;
  const cb::Status bad = api->gemm_strided_batched_ex(h, cb::kOpN, cb::kOpN, 4, 4, 4, &one, d.p, cb::kR32F, 3, 0, d.p,
                                                      cb::kR32F, 4, 0, &one, d.p, cb::kR32F, 4, 0, 1, cb::kCompute32F,
                                                      cb::kGemmDefault);
  check(bad != cb::kStatusSuccess, "cuBLAS stand-in refuses lda < m", cb::status_name(bad));
  api->destroy(h);
}

}  // namespace

int main() {
  kernels();
  cublas_standin();
  std::printf("%d passed, %d failed\n", g_pass, g_fail);
  return g_fail ? 1 : 0;
}
