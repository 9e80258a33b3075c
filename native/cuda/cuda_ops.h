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
constexpr int64_t kMaxHeadDim = 128;  // attention.cu's kernels (DM 64 or 128)

// Index checks on the device (Caps::device_index_checks): a kernel that reads ids or targets
// takes the slot of an IndexCheck made around its launch and calls report_index (common.cuh) for
// a bad one, instead of the host copying the ids back before every launch. The slot is read at
// the next synchronisation (synchronize(), a device-to-host copy), which throws "<op>: ids[i] =
// v is outside [0, limit)" (or the targets' message) and clears it.
struct IndexError {
  unsigned claimed;  // 0 until a kernel reports
  int op;            // the Op of the reporting launch
  int64_t index, value, limit;
};
class IndexCheck {
 public:
  IndexCheck();   // the device slot (allocated once)
  ~IndexCheck();  // after the launch: marks the slot to be read at the next synchronisation
  IndexCheck(const IndexCheck&) = delete;
  IndexCheck& operator=(const IndexCheck&) = delete;
  IndexError* slot() const { return slot_; }

 private:
  IndexError* slot_;
};
void raise_index_errors();  // called after each synchronisation: throws for a reported index

// Shared across family files.
// norm.cu: acc[c] += sum_n dy[n, c] (deterministic two-pass column sums; bias_grad).
void column_sums(const char* op, Buf dy, Buf acc, int64_t N, int64_t C);
// optim.cu: out[0] = mean (a - b)^2 (mean; b given) or out[0] += sum a^2.
void sum_squares(const char* op, Buf a, Buf b, int64_t n, float* out, bool mean);

namespace ops {
BIOFEG_DECLARE_OPS  // every op, defined in the family files (gemm.cu, elementwise.cu, ...)
// gemm_fallback.cu: the hand-written kernels. `tile` forces the tile of the aligned bf16
// tensor-core kernel (tests); Auto picks it from the shape (or BIOFEG_GEMM_TILE).
enum class GemmTile { Auto, T64x64, T128x64 };
void gemm_fallback(const GemmDesc& g, GemmTile tile = GemmTile::Auto);
}  // namespace ops

}  // namespace biofeg::cuda
