// The CUDA runtime hooks of a build without CUDA: nothing is compiled, nothing is found.
#include "../core/device.h"
#include "../core/error.h"

namespace biofeg::cuda {
namespace {
[[noreturn]] void none() { fail("this build has no CUDA backend (built with BIOFEG_CUDA=OFF or without nvcc)"); }
}  // namespace
bool compiled() { return false; }
int device_count() { return 0; }
std::string device_info() { return "none"; }
void* malloc(size_t) { none(); }
void free(void*) noexcept {}
void memcpy_h2d(void*, const void*, size_t) { none(); }
void memcpy_d2h(void*, const void*, size_t) { none(); }
void memcpy_d2d(void*, const void*, size_t) { none(); }
void memset0(void*, size_t) { none(); }
void synchronize() { none(); }
SyncCounts sync_counts() { return {}; }
const Backend* backend() { return nullptr; }
void* side_stream_fork() { none(); }
void side_stream_join() { none(); }
std::string gemm_engine() { return "none"; }
}  // namespace biofeg::cuda
