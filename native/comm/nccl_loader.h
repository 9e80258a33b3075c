// NCCL, loaded at run time with dlopen like cuBLAS (native/cuda/cublas_loader.h): no NCCL headers
// or libraries at build time, so it compiles in every build (CPU-only and cuemu too) and a
// missing libnccl is a Device error at first use, never a load failure of the addon.
//
// Where the library is looked for: BIOFEG_NCCL=<file path> (that file only; off/none/0 disables
// it), else "libnccl.so.2" through the dynamic loader's search path, then each
// <dir>/nvidia/nccl/lib/libnccl.so.2 of BIOFEG_PYTHON_SITE_PACKAGES (the pip wheel's).
//
// Collectives run on the legacy default stream (stream 0), where every CUDA op of the engine runs
// (native/cuda/runtime.cpp), so they are ordered after the kernels that wrote the buffer and
// before those that read it, without a host synchronisation.
#pragma once
#include <cstdint>
#include <string>

namespace biofeg::comm::nccl {

constexpr int kUniqueIdBytes = 128;  // NCCL_UNIQUE_ID_BYTES
struct UniqueId {
  char internal[kUniqueIdBytes];
};
using Comm = void*;  // ncclComm_t

// nccl.h's enum values (stable since NCCL 2.10, which added bf16 and ncclAvg).
enum : int { kSuccess = 0, kFloat32 = 7, kBfloat16 = 9, kSum = 0, kAvg = 4 };

struct Api {
  std::string path;
  int (*get_version)(int*) = nullptr;
  int (*get_unique_id)(UniqueId*) = nullptr;
  int (*comm_init_rank)(Comm*, int nranks, UniqueId id, int rank) = nullptr;
  int (*comm_destroy)(Comm) = nullptr;
  int (*all_reduce)(const void* send, void* recv, size_t count, int dtype, int op, Comm, void* stream) = nullptr;
  const char* (*error_string)(int) = nullptr;
};

// The loaded library, or nullptr (absent_reason() says what was tried and why). Loads once.
const Api* api();
std::string absent_reason();
// "2.21.5" (from ncclGetVersion), or "" when absent.
std::string version();

// Rank 0 makes the id; every rank then joins with it (ids travel over MPI, src/comm/).
UniqueId unique_id();
// A communicator handle (an index; 0 is never used) of `size` ranks, this process `rank`.
int init(const UniqueId& id, int rank, int size);
// Sum (or average) of `count` elements of `dtype` (kFloat32 or kBfloat16) in place in device memory,
// queued on `stream` (a cudaStream_t; nullptr: the engine's legacy default stream).
void allreduce(int comm, void* device_ptr, int64_t count, int dtype, bool average, void* stream = nullptr);
void destroy(int comm);

}  // namespace biofeg::comm::nccl
