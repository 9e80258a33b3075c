// cuemu's cudart: the runtime calls the backend makes, on host memory. Allocations are tracked
// so that frees and copies can be checked, and filled with 0xff bytes (NaN) so that reading
// memory nobody wrote shows in results.
#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <map>
#include <mutex>
#include <string>

#include "include/cuda_runtime_api.h"
#include "include/cuemu.h"
#include "runtime_state.h"

namespace cuemu {
namespace {
thread_local cudaError_t t_last = cudaSuccess;
thread_local std::string t_msg;  // message of the most recent error (kept after cudaGetLastError)
thread_local cudaError_t t_msg_code = cudaSuccess;
std::mutex g_attr_mu;
std::map<const void*, int> g_smem_attr;  // kernel -> cudaFuncAttributeMaxDynamicSharedMemorySize
}  // namespace

cudaError_t set_error(cudaError_t e, std::string msg) {
  t_last = e;
  t_msg = "cuemu: " + std::move(msg);
  t_msg_code = e;
  return e;
}
size_t max_dynamic_smem() {
  std::lock_guard<std::mutex> lock(g_attr_mu);
  size_t cap = 48 * 1024;
  for (const auto& kv : g_smem_attr) cap = std::max(cap, static_cast<size_t>(kv.second));
  return cap;
}
}  // namespace cuemu

namespace {
std::mutex g_mem_mu;
std::map<const unsigned char*, size_t> g_allocs;

bool in_alloc(const void* p, size_t bytes) {
  std::lock_guard<std::mutex> lock(g_mem_mu);
  const auto* c = static_cast<const unsigned char*>(p);
  auto it = g_allocs.upper_bound(c);
  if (it == g_allocs.begin()) return false;
  --it;
  return c >= it->first && c + bytes <= it->first + it->second;
}
}  // namespace
bool cuemu::device_range(const void* p, size_t bytes) { return in_alloc(p, bytes); }
namespace {
int devices() {
  const char* e = std::getenv("CUEMU_DEVICES");
  return e && std::string(e) == "0" ? 0 : 1;
}
}  // namespace

cudaError_t cudaGetLastError() {
  const cudaError_t e = cuemu::t_last;
  cuemu::t_last = cudaSuccess;
  return e;
}
cudaError_t cudaPeekAtLastError() { return cuemu::t_last; }
const char* cudaGetErrorString(cudaError_t e) {
  if (e == cudaSuccess) return "no error";
  if (e == cuemu::t_msg_code && !cuemu::t_msg.empty()) return cuemu::t_msg.c_str();
  return "cuemu error";
}
const char* cudaGetErrorName(cudaError_t e) {
  switch (e) {
    case cudaSuccess: return "cudaSuccess";
    case cudaErrorInvalidValue: return "cudaErrorInvalidValue";
    case cudaErrorMemoryAllocation: return "cudaErrorMemoryAllocation";
    case cudaErrorInvalidConfiguration: return "cudaErrorInvalidConfiguration";
    case cudaErrorInvalidDevicePointer: return "cudaErrorInvalidDevicePointer";
    case cudaErrorNoDevice: return "cudaErrorNoDevice";
    case cudaErrorLaunchFailure: return "cudaErrorLaunchFailure";
    case cudaErrorNotSupported: return "cudaErrorNotSupported";
  }
  return "cudaErrorUnknown";
}
cudaError_t cudaGetDeviceCount(int* n) {
  *n = devices();
  return *n ? cudaSuccess : cuemu::set_error(cudaErrorNoDevice, "no device (CUEMU_DEVICES=0)");
}
cudaError_t cudaGetDevice(int* dev) {
  *dev = 0;
  return devices() ? cudaSuccess : cuemu::set_error(cudaErrorNoDevice, "no device (CUEMU_DEVICES=0)");
}
cudaError_t cudaGetDeviceProperties(cudaDeviceProp* p, int dev) {
  if (dev != 0 || !devices()) return cuemu::set_error(cudaErrorInvalidValue, "no such device");
  *p = cudaDeviceProp{};
  std::snprintf(p->name, sizeof p->name, "cuemu (CUDA kernels emulated on the CPU)");
  p->totalGlobalMem = size_t(24) << 30;
  p->sharedMemPerBlock = 48 * 1024;
  p->maxThreadsPerBlock = 1024;
  p->major = 9;
  p->minor = 0;
  p->multiProcessorCount = 2;  // few SMs: grid-stride loops get several items per thread
  return cudaSuccess;
}
cudaError_t cudaDeviceGetAttribute(int* v, cudaDeviceAttr attr, int dev) {
  cudaDeviceProp p;
  if (const cudaError_t e = cudaGetDeviceProperties(&p, dev); e != cudaSuccess) return e;
  switch (attr) {
    case cudaDevAttrMaxThreadsPerBlock: *v = p.maxThreadsPerBlock; break;
    case cudaDevAttrMaxSharedMemoryPerBlock: *v = static_cast<int>(p.sharedMemPerBlock); break;
    case cudaDevAttrMultiProcessorCount: *v = p.multiProcessorCount; break;
    case cudaDevAttrComputeCapabilityMajor: *v = p.major; break;
    case cudaDevAttrComputeCapabilityMinor: *v = p.minor; break;
    case cudaDevAttrMaxSharedMemoryPerBlockOptin: *v = static_cast<int>(cuemu::kSmemOptin); break;
    default: return cuemu::set_error(cudaErrorInvalidValue, "unknown device attribute");
  }
  return cudaSuccess;
}
cudaError_t cudaFuncSetAttribute(const void* kernel, cudaFuncAttribute attr, int value) {
  if (attr != cudaFuncAttributeMaxDynamicSharedMemorySize || value < 0 ||
      static_cast<size_t>(value) > cuemu::kSmemOptin)
    return cuemu::set_error(cudaErrorInvalidValue, "cudaFuncSetAttribute: unsupported attribute or value");
  std::lock_guard<std::mutex> lock(cuemu::g_attr_mu);
  cuemu::g_smem_attr[kernel] = value;
  return cudaSuccess;
}
cudaError_t cudaMalloc(void** p, size_t bytes) {
  // Exactly `bytes` (256-byte aligned, as cudaMalloc), so that AddressSanitizer builds of the
  // emulator see any access past the end.
  void* q = nullptr;
  if (bytes == 0) {
    *p = nullptr;
    return cudaSuccess;
  }
  if (posix_memalign(&q, 256, bytes) != 0) q = nullptr;
  if (!q) {
    *p = nullptr;
    return cuemu::set_error(cudaErrorMemoryAllocation, "cannot allocate " + std::to_string(bytes) + " bytes");
  }
  std::memset(q, 0xff, bytes);
  std::lock_guard<std::mutex> lock(g_mem_mu);
  g_allocs[static_cast<unsigned char*>(q)] = bytes;
  *p = q;
  return cudaSuccess;
}
cudaError_t cudaMallocAsync(void** p, size_t bytes, cudaStream_t) { return cudaMalloc(p, bytes); }
cudaError_t cudaFree(void* p) {
  if (!p) return cudaSuccess;
  {
    std::lock_guard<std::mutex> lock(g_mem_mu);
    auto it = g_allocs.find(static_cast<unsigned char*>(p));
    if (it == g_allocs.end()) return cuemu::set_error(cudaErrorInvalidDevicePointer, "cudaFree of a pointer cudaMalloc did not return");
    g_allocs.erase(it);
  }
  std::free(p);
  return cudaSuccess;
}
cudaError_t cudaFreeAsync(void* p, cudaStream_t) { return cudaFree(p); }
cudaError_t cudaMemcpy(void* dst, const void* src, size_t bytes, cudaMemcpyKind kind) {
  const bool dd = kind == cudaMemcpyHostToDevice || kind == cudaMemcpyDeviceToDevice;
  const bool sd = kind == cudaMemcpyDeviceToHost || kind == cudaMemcpyDeviceToDevice;
  if ((dd && !in_alloc(dst, bytes)) || (sd && !in_alloc(src, bytes)))
    return cuemu::set_error(cudaErrorInvalidValue, "cudaMemcpy of " + std::to_string(bytes) +
                                                       " bytes outside a device allocation");
  if (bytes) std::memmove(dst, src, bytes);
  return cudaSuccess;
}
cudaError_t cudaMemcpyAsync(void* dst, const void* src, size_t bytes, cudaMemcpyKind kind, cudaStream_t) {
  return cudaMemcpy(dst, src, bytes, kind);
}
cudaError_t cudaMallocHost(void** p, size_t bytes) {
  void* q = nullptr;
  if (posix_memalign(&q, 256, bytes ? bytes : 1) != 0) {
    *p = nullptr;
    return cuemu::set_error(cudaErrorMemoryAllocation, "cannot allocate " + std::to_string(bytes) + " bytes of host memory");
  }
  *p = q;
  return cudaSuccess;
}
cudaError_t cudaFreeHost(void* p) {
  std::free(p);
  return cudaSuccess;
}
struct CUevent_st {};
cudaError_t cudaEventCreateWithFlags(cudaEvent_t* e, unsigned) {
  *e = new CUevent_st();
  return cudaSuccess;
}
cudaError_t cudaEventRecord(cudaEvent_t, cudaStream_t) { return cudaSuccess; }
cudaError_t cudaEventQuery(cudaEvent_t) { return cudaSuccess; }
cudaError_t cudaEventSynchronize(cudaEvent_t) { return cudaSuccess; }
struct CUstream_st {};
cudaError_t cudaStreamCreateWithFlags(cudaStream_t* s, unsigned) {
  *s = new CUstream_st();
  return cudaSuccess;
}
cudaError_t cudaStreamWaitEvent(cudaStream_t, cudaEvent_t, unsigned) { return cudaSuccess; }
cudaError_t cudaMemset(void* dst, int value, size_t bytes) {
  if (!in_alloc(dst, bytes))
    return cuemu::set_error(cudaErrorInvalidValue, "cudaMemset of " + std::to_string(bytes) + " bytes outside a device allocation");
  std::memset(dst, value, bytes);
  return cudaSuccess;
}
cudaError_t cudaDeviceSynchronize() { return cudaSuccess; }
// One pool, nothing to configure: host memory is freed at once.
cudaError_t cudaDeviceGetDefaultMemPool(cudaMemPool_t* pool, int dev) {
  static int tag;
  if (dev != 0 || !devices()) return cuemu::set_error(cudaErrorInvalidValue, "no such device");
  *pool = reinterpret_cast<cudaMemPool_t>(&tag);
  return cudaSuccess;
}
cudaError_t cudaMemPoolSetAttribute(cudaMemPool_t pool, cudaMemPoolAttr, void* value) {
  return pool && value ? cudaSuccess : cuemu::set_error(cudaErrorInvalidValue, "cudaMemPoolSetAttribute: null argument");
}
