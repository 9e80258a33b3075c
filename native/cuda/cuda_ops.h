// Private to native/cuda: the host-side entry points of every CUDA op (the Backend table's
// functions) and the runtime helpers they share. Includes only the CUDA runtime API header, so
// plain .cpp files compiled by the host compiler can include it.
#pragma once
#include <cuda_runtime_api.h>

#include <cstddef>
#include <cstdint>
#include <mutex>
#include <string>

#include "../core/error.h"
#include "../ops.h"

namespace biofeg::cuda {

// Throws biofeg::Error("cuda <what>: <CUDA error string>") when e is not cudaSuccess.
void check(cudaError_t e, const char* what);
// After every kernel launch: throws biofeg::Error naming the op on a launch error.
void check_launch(const char* op);
int sm_count();  // multiprocessors of the current device (cached; 1 when unknown)
int cc_major();   // compute capability major of the current device (cached; 0 when unknown)
// Raises a kernel's dynamic shared-memory limit when it needs more than the default 48 KiB.
void allow_smem(const void* kernel, size_t bytes, const char* op);

// A grow-only device scratch buffer shared by ops that need a few MiB of temporaries
// (reduction partials, attention's D vector). All work goes to the legacy default stream, so an
// op that holds the lease while it enqueues its kernels cannot race another op's use of the
// same memory: the stream runs them in order. Ops holding a lease never call another op that
// takes one (the mutex is not recursive).
class Scratch {
 public:
  Scratch(size_t bytes, const char* op);
  Scratch(const Scratch&) = delete;
  Scratch& operator=(const Scratch&) = delete;
  template <typename T>
  T* as() const { return static_cast<T*>(ptr_); }

 private:
  std::unique_lock<std::mutex> lock_;
  void* ptr_ = nullptr;
};

// Device memory owned for one call, stream-ordered (cudaMallocAsync/cudaFreeAsync on the legacy
// stream, so freeing while kernels that use it are queued is safe); freed on scope exit.
class DeviceBuffer {
 public:
  DeviceBuffer(size_t bytes, const char* op);
  ~DeviceBuffer();
  DeviceBuffer(const DeviceBuffer&) = delete;
  DeviceBuffer& operator=(const DeviceBuffer&) = delete;
  template <typename T>
  T* as() const { return static_cast<T*>(ptr_); }

 private:
  void* ptr_ = nullptr;
  bool async_ = true;
};

std::string gemm_engine_name();  // implemented in gemm.cu

namespace ops {
void gemm(const GemmDesc& g);
// gemm_fallback.cu: the hand-written kernels. `tile` forces the tile of the aligned bf16
// tensor-core kernel (tests); Auto picks it from the shape (or BIOFEG_GEMM_TILE).
enum class GemmTile { Auto, T64x64, T128x64 };
void gemm_fallback(const GemmDesc& g, GemmTile tile = GemmTile::Auto);
void bias_grad(Buf dy, Buf db, int64_t N, int64_t C);
void fill(Buf y, int64_t n, float value);
void cast(Buf x, Buf y, int64_t n);
void add(Buf a, Buf b, Buf y, int64_t n);
void axpy(float alpha, Buf x, Buf y, int64_t n);
void scale(Buf x, Buf y, int64_t n, float s);
void gelu_fwd(Buf x, Buf y, int64_t n);
void gelu_bwd(Buf x, Buf dy, Buf dx, int64_t n);
void relu_fwd(Buf x, Buf y, int64_t n);
void relu_bwd(Buf x, Buf dy, Buf dx, int64_t n);
void leaky_relu_fwd(Buf x, Buf y, int64_t n, float slope);
void leaky_relu_bwd(Buf x, Buf dy, Buf dx, int64_t n, float slope);
void tanh_fwd(Buf x, Buf y, int64_t n);
void tanh_bwd(Buf y, Buf dy, Buf dx, int64_t n);
void dropout_fwd(Buf x, Buf y, int64_t n, float p, uint64_t seed, uint64_t offset);
void dropout_bwd(Buf dy, Buf dx, int64_t n, float p, uint64_t seed, uint64_t offset);
void layernorm_fwd(Buf x, Buf w, Buf b, Buf y, float* mean, float* rstd, int64_t N, int64_t C, float eps);
void layernorm_bwd(Buf dy, Buf x, Buf w, const float* mean, const float* rstd, Buf dx, Buf dw, Buf db, int64_t N,
                   int64_t C);
void embedding_fwd(const int32_t* ids, Buf table, Buf y, int64_t N, int64_t C);
void embedding_bwd(const int32_t* ids, Buf dy, Buf dtable, int64_t N, int64_t C);
void concat_fwd(Buf a, Buf b, Buf y, int64_t N, int64_t Ca, int64_t Cb);
void concat_bwd(Buf dy, Buf da, Buf db, int64_t N, int64_t Ca, int64_t Cb);
void xent_fwd(Buf logits, const int32_t* target, float* loss, int64_t N, int64_t C);
void xent_bwd(Buf logits, const int32_t* target, const float* dloss, Buf dlogits, int64_t N, int64_t C);
void mse_fwd(Buf a, Buf b, float* out, int64_t n);
void mse_bwd(Buf a, Buf b, float dout, Buf da, int64_t n);
void row_axpy(const float* a, Buf x, Buf y, int64_t N, int64_t C);
void grad_penalty(Buf g, float lambda, Buf u, float* norms, int64_t N, int64_t C);
void attention_fwd(const AttnDesc& d);
void attention_bwd(const AttnDesc& d);
void adamw(const AdamWDesc& d);
void sumsq(Buf x, int64_t n, float* out);
void topk(const TopkDesc& d);
}  // namespace ops

}  // namespace biofeg::cuda
