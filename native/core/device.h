// Device runtime hooks. native/cuda implements them when CUDA is compiled in; cuda_stub.cpp
// otherwise, so the core and the bindings never include CUDA headers.
#pragma once
#include <cstddef>
#include <cstdint>
#include <string>

namespace biofeg {
struct Backend;
namespace cuda {
bool compiled();
int device_count();          // 0 when no driver or no device; never throws
std::string device_info();   // e.g. "NVIDIA H100 80GB HBM3 (sm_90, 79.1 GiB)"
void* malloc(size_t bytes);  // throws Error on failure
void free(void* p) noexcept;
void memcpy_h2d(void* dst, const void* src, size_t bytes);
void memcpy_d2h(void* dst, const void* src, size_t bytes);
void memcpy_d2d(void* dst, const void* src, size_t bytes);
void memset0(void* dst, size_t bytes);
void synchronize();
// Host waits on the device this process made (issue 21: none inside a train step but the loss
// read-back): device-wide synchronisations, device-to-host copies, host-to-device copies that wait
// (a blocking cudaMemcpy for a large upload, or a staging slot still in flight; runtime.cpp).
// Counted since the process started;
// cudaFree's implicit wait (a tensor freed, at times by a finalizer) is not counted.
struct SyncCounts {
  uint64_t device = 0, d2h = 0, h2d = 0;
};
SyncCounts sync_counts();
const Backend* backend();    // nullptr when not compiled
// A stream for collectives beside the engine's (non-blocking: it does not wait for the legacy
// default stream by itself). side_stream_fork() makes it wait for everything queued on the
// engine's stream so far and returns it (a cudaStream_t); side_stream_join() makes the engine's
// stream wait for everything queued on it. Neither waits on the host.
void* side_stream_fork();
void side_stream_join();
std::string gemm_engine();   // "cublas (path)" or "fallback wmma" or "none"
}  // namespace cuda
}  // namespace biofeg
