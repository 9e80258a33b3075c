// The CUDA runtime hooks of core/device.h, the shared scratch arena and the CUDA Backend
// table. Everything runs on the legacy default stream (stream 0), cuBLAS included, so ops,
// copies and cuBLAS calls are ordered without explicit events; only the gradient buckets' NCCL
// calls run on a side stream, forked from and joined to stream 0 by events (side_stream_fork).
// cudart is linked statically.
//
// Host threads: any number may call in at once (the JS main thread, worker_threads Workers,
// async workers). The legacy default stream is one per device, shared by all host threads, so
// stream order still holds across threads; the scratch arena is leased under a mutex (its
// growth synchronises the device first); the memory-pool setup runs once (call_once); the
// cached device facts are function-local statics (initialised once, thread-safe); cuBLAS is
// loaded once (cublas_loader.cpp) and its one handle is used under a mutex (gemm.cu). Memory
// freed by a finalizer on a thread that is being torn down goes through cudaFree, which is
// thread-safe.
#include <cuda_runtime_api.h>

#include <atomic>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <mutex>
#include <string>

#include "../core/device.h"
#include "cuda_ops.h"

namespace biofeg::cuda {

namespace {
std::atomic<uint64_t> g_sync_device{0}, g_sync_d2h{0}, g_sync_h2d{0};
void device_sync() {
  g_sync_device.fetch_add(1, std::memory_order_relaxed);
  (void)cudaDeviceSynchronize();
}
}  // namespace

SyncCounts sync_counts() {
  SyncCounts c;
  c.device = g_sync_device.load(std::memory_order_relaxed);
  c.d2h = g_sync_d2h.load(std::memory_order_relaxed);
  c.h2d = g_sync_h2d.load(std::memory_order_relaxed);
  return c;
}

void check(cudaError_t e, const char* what) {
  if (e == cudaSuccess) return;
  (void)cudaGetLastError();  // clear a non-sticky error so later checks report their own
  fail_as(ErrorKind::Device, "cuda ", what, ": ", cudaGetErrorString(e), " (", cudaGetErrorName(e), ")");
}

void check_launch(const char* op) {
  const cudaError_t e = cudaGetLastError();
  if (e != cudaSuccess) fail_as(ErrorKind::Device, "cuda kernel launch failed in ", op, ": ", cudaGetErrorString(e), " (", cudaGetErrorName(e), ")");
}

namespace {
int device_attr(cudaDeviceAttr attr, int fallback) {
  int dev = 0, v = 0;
  if (cudaGetDevice(&dev) != cudaSuccess || cudaDeviceGetAttribute(&v, attr, dev) != cudaSuccess) {
    (void)cudaGetLastError();
    return fallback;
  }
  return v;
}
}  // namespace

int sm_count() {
  static const int n = device_attr(cudaDevAttrMultiProcessorCount, 1);
  return n > 0 ? n : 1;
}
int cc_major() {
  static const int n = device_attr(cudaDevAttrComputeCapabilityMajor, 0);
  return n;
}

void allow_smem(const void* kernel, size_t bytes, const char* op) {
  if (bytes <= 48 * 1024) return;
  static const int optin = device_attr(cudaDevAttrMaxSharedMemoryPerBlockOptin, 48 * 1024);
  BIOFEG_CHECK(bytes <= static_cast<size_t>(optin), op, ": needs ", bytes, " bytes of shared memory per block, the device allows ",
               optin);
  check(cudaFuncSetAttribute(kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, static_cast<int>(bytes)), op);
}

// ---- scratch arena: grow-only; never freed (freeing at exit can run after driver teardown).
namespace {
std::mutex g_scratch_mu;
void* g_scratch = nullptr;
size_t g_scratch_cap = 0;
}  // namespace

Scratch::Scratch(size_t bytes, const char* op) : lock_(g_scratch_mu) {
  if (bytes > g_scratch_cap) {
    if (g_scratch) {
      device_sync();  // queued kernels may still use the old buffer
      (void)cudaFree(g_scratch);
      (void)cudaGetLastError();
      g_scratch = nullptr;
      g_scratch_cap = 0;
    }
    const size_t mib = size_t(1) << 20;
    const size_t cap = (bytes < mib ? mib : bytes + mib - 1) / mib * mib;
    void* p = nullptr;
    const cudaError_t e = cudaMalloc(&p, cap);
    if (e != cudaSuccess) {
      (void)cudaGetLastError();
      fail_as(ErrorKind::Memory, op, ": cannot allocate ", cap, " bytes of CUDA scratch memory: ", cudaGetErrorString(e));
    }
    g_scratch = p;
    g_scratch_cap = cap;
  }
  ptr_ = g_scratch;
}

DeviceBuffer::DeviceBuffer(size_t bytes, const char* op) {
  if (bytes == 0) bytes = 1;
  // The stream-ordered pool keeps freed memory instead of returning it to the driver at every
  // synchronisation (the default threshold, 0), so per-call buffers such as top-k's score tile
  // are not mapped again on every call.
  static std::once_flag pool_once;
  std::call_once(pool_once, [] {
    int dev = 0;
    cudaMemPool_t pool = nullptr;
    if (cudaGetDevice(&dev) == cudaSuccess && cudaDeviceGetDefaultMemPool(&pool, dev) == cudaSuccess) {
      uint64_t keep = UINT64_MAX;
      (void)cudaMemPoolSetAttribute(pool, cudaMemPoolAttrReleaseThreshold, &keep);
    }
    (void)cudaGetLastError();
  });
  cudaError_t e = cudaMallocAsync(&ptr_, bytes, nullptr);
  if (e == cudaErrorNotSupported) {  // no stream-ordered allocator: plain malloc, synchronous free
    (void)cudaGetLastError();
    async_ = false;
    e = cudaMalloc(&ptr_, bytes);
  }
  if (e != cudaSuccess) {
    (void)cudaGetLastError();
    ptr_ = nullptr;
    fail_as(ErrorKind::Memory, op, ": cannot allocate ", bytes, " bytes of CUDA memory: ", cudaGetErrorString(e));
  }
}

DeviceBuffer::~DeviceBuffer() {
  if (!ptr_) return;
  cudaError_t e;
  if (async_) {
    e = cudaFreeAsync(ptr_, nullptr);
  } else {
    device_sync();
    e = cudaFree(ptr_);
  }
  if (e != cudaSuccess) (void)cudaGetLastError();
}

// ---- core/device.h

namespace {
bool queue_index_slot();
void report_index_slot();
}  // namespace

bool compiled() { return true; }

int device_count() {
  // Cached: asked on every CUDA tensor allocation. No driver or no device: 0, never a throw.
  static const int n = [] {
    int c = 0;
    if (cudaGetDeviceCount(&c) != cudaSuccess) {
      (void)cudaGetLastError();
      return 0;
    }
    return c;
  }();
  return n;
}

std::string device_info() {
  if (device_count() == 0) return "none";
  int dev = 0;
  cudaDeviceProp p{};
  if (cudaGetDevice(&dev) != cudaSuccess || cudaGetDeviceProperties(&p, dev) != cudaSuccess) {
    (void)cudaGetLastError();
    return "unknown CUDA device";
  }
  char buf[512];
  std::snprintf(buf, sizeof buf, "%s (sm_%d%d, %.1f GiB)", p.name, p.major, p.minor,
                static_cast<double>(p.totalGlobalMem) / (1024.0 * 1024.0 * 1024.0));
  return buf;
}

void* malloc(size_t bytes) {
  void* p = nullptr;
  const cudaError_t e = cudaMalloc(&p, bytes ? bytes : 1);
  if (e != cudaSuccess) {
    (void)cudaGetLastError();
    fail_as(ErrorKind::Memory, "cuda malloc of ", bytes, " bytes: ", cudaGetErrorString(e), " (", cudaGetErrorName(e), ")");
  }
  return p;
}

void free(void* p) noexcept {
  if (p && cudaFree(p) != cudaSuccess) (void)cudaGetLastError();
}

// Small uploads (a step's token ids, masks, noise) go through a ring of page-locked staging slots
// with cudaMemcpyAsync, so the host does not wait for the stream: the bytes are copied into a slot
// at once (the caller may reuse its buffer), and a slot is reused only once the event recorded
// after its copy has completed (a wait, counted, only when the ring has come round that fast).
// Larger uploads, or without page-locked memory, take the blocking cudaMemcpy.
namespace {
constexpr size_t kStageSlot = size_t(256) << 10;
constexpr int kStageSlots = 64;  // 16 MiB: more uploads than one train step makes, so its closing read-back frees them all
struct Staging {
  std::mutex mu;
  char* host = nullptr;  // kStageSlots x kStageSlot, page-locked; null: unavailable
  cudaEvent_t done[kStageSlots] = {};
  int next = 0;
};
Staging& staging() {
  static Staging* st = [] {
    auto* s = new Staging();  // never freed (process lifetime, like the scratch arena)
    void* h = nullptr;
    bool ok = cudaMallocHost(&h, kStageSlot * kStageSlots) == cudaSuccess;
    for (int i = 0; ok && i < kStageSlots; ++i) ok = cudaEventCreateWithFlags(&s->done[i], cudaEventDisableTiming) == cudaSuccess;
    if (ok) s->host = static_cast<char*>(h);
    else (void)cudaGetLastError();
    return s;
  }();
  return *st;
}
}  // namespace

void memcpy_h2d(void* dst, const void* src, size_t bytes) {
  if (!bytes) return;
  Staging& st = staging();
  if (st.host && bytes <= kStageSlot) {
    std::lock_guard<std::mutex> lock(st.mu);
    const int i = st.next;
    st.next = (i + 1) % kStageSlots;
    const cudaError_t q = cudaEventQuery(st.done[i]);
    if (q == cudaErrorNotReady) {
      (void)cudaGetLastError();
      g_sync_h2d.fetch_add(1, std::memory_order_relaxed);
      check(cudaEventSynchronize(st.done[i]), "upload staging");
    } else {
      check(q, "upload staging");
    }
    char* slot = st.host + static_cast<size_t>(i) * kStageSlot;
    std::memcpy(slot, src, bytes);
    check(cudaMemcpyAsync(dst, slot, bytes, cudaMemcpyHostToDevice, nullptr), "memcpy host to device");
    check(cudaEventRecord(st.done[i], nullptr), "upload staging");
    return;
  }
  g_sync_h2d.fetch_add(1, std::memory_order_relaxed);
  check(cudaMemcpy(dst, src, bytes, cudaMemcpyHostToDevice), "memcpy host to device");
}
void memcpy_d2h(void* dst, const void* src, size_t bytes) {
  if (!bytes) return;
  const bool slot = queue_index_slot();  // rides on this copy's wait
  g_sync_d2h.fetch_add(1, std::memory_order_relaxed);
  check(cudaMemcpy(dst, src, bytes, cudaMemcpyDeviceToHost), "memcpy device to host");
  if (slot) report_index_slot();
  raise_index_errors();  // without a page-locked copy of the slot: the copy waited for every queued kernel
}
void memcpy_d2d(void* dst, const void* src, size_t bytes) {
  if (bytes) check(cudaMemcpy(dst, src, bytes, cudaMemcpyDeviceToDevice), "memcpy device to device");
}
void memset0(void* dst, size_t bytes) {
  if (bytes) check(cudaMemset(dst, 0, bytes), "memset");
}
void synchronize() {
  const bool slot = queue_index_slot();
  g_sync_device.fetch_add(1, std::memory_order_relaxed);
  check(cudaDeviceSynchronize(), "synchronize");
  if (slot) report_index_slot();
  raise_index_errors();
}

// ---- index checks on the device (cuda_ops.h). One slot for the process, allocated on first use
// and never freed; `g_index_pending` says a kernel may have written it since it was last read,
// so synchronisations without an id-reading kernel before them cost nothing extra.
namespace {
std::once_flag g_index_once;
IndexError* g_index_slot = nullptr;
IndexError* g_index_host = nullptr;  // page-locked: the slot copied behind the kernels, read after the next wait
std::atomic<bool> g_index_pending{false};

[[noreturn]] void fail_index(const IndexError& e) {
  const bool valid = e.op >= 0 && e.op < kOpCount;
  const Op op = valid ? static_cast<Op>(e.op) : Op::embedding_fwd;
  const char* js = valid ? op_info(op).js : "?";
  if (op == Op::xent_fwd || op == Op::xent_bwd)
    fail(js, ": targets[", e.index, "] = ", e.value, " is not below the class count ", e.limit,
         " (negative ignores a row; found by the CUDA kernel, reported at this synchronisation)");
  fail(js, ": ids[", e.index, "] = ", e.value, " is outside [0, ", e.limit,
       ") (found by the CUDA kernel, reported at this synchronisation)");
}

// A pending slot is queued (async) into page-locked memory before a wait, so the wait covers it
// and reading it costs no second one. False (nothing queued) when nothing is pending or the
// page-locked copy is unavailable (raise_index_errors then reads it with a blocking copy).
bool queue_index_slot() {
  if (!g_index_host || !g_index_pending.exchange(false, std::memory_order_acq_rel)) return false;
  check(cudaMemcpyAsync(g_index_host, g_index_slot, sizeof(IndexError), cudaMemcpyDeviceToHost, nullptr), "index check slot");
  return true;
}
void report_index_slot() {
  const IndexError e = *g_index_host;
  if (!e.claimed) return;
  check(cudaMemset(g_index_slot, 0, sizeof e), "index check slot");
  fail_index(e);
}
}  // namespace

IndexCheck::IndexCheck() {
  std::call_once(g_index_once, [] {
    void* p = nullptr;
    check(cudaMalloc(&p, sizeof(IndexError)), "index check slot");
    check(cudaMemset(p, 0, sizeof(IndexError)), "index check slot");
    g_index_slot = static_cast<IndexError*>(p);
    void* h = nullptr;
    if (cudaMallocHost(&h, sizeof(IndexError)) == cudaSuccess) g_index_host = static_cast<IndexError*>(h);
    else (void)cudaGetLastError();
  });
  slot_ = g_index_slot;
}
// Set after the launch: a synchronisation that sees the flag then copies the slot behind the
// kernel (one stream), so it cannot read it before the kernel ran.
IndexCheck::~IndexCheck() { g_index_pending.store(true, std::memory_order_release); }

void raise_index_errors() {
  if (!g_index_pending.exchange(false, std::memory_order_acq_rel)) return;
  IndexError e{};
  g_sync_d2h.fetch_add(1, std::memory_order_relaxed);  // the device is idle by now: a cheap one
  check(cudaMemcpy(&e, g_index_slot, sizeof e, cudaMemcpyDeviceToHost), "index check slot");
  if (!e.claimed) return;
  check(cudaMemset(g_index_slot, 0, sizeof e), "index check slot");
  fail_index(e);
}

namespace {
// The collectives' stream (native/comm/grad_buckets.h) and its two events, made on first use.
struct SideStream {
  cudaStream_t s = nullptr;
  cudaEvent_t forked = nullptr, joined = nullptr;
};
std::mutex g_side_mu;
SideStream& side() {
  static SideStream x = [] {
    SideStream t;
    check(cudaStreamCreateWithFlags(&t.s, cudaStreamNonBlocking), "side stream");
    check(cudaEventCreateWithFlags(&t.forked, cudaEventDisableTiming), "side stream");
    check(cudaEventCreateWithFlags(&t.joined, cudaEventDisableTiming), "side stream");
    return t;
  }();
  return x;
}
}  // namespace

// cudaStreamWaitEvent waits for the event as last recorded when it is called, so one event
// serves every fork (and one every join).
void* side_stream_fork() {
  SideStream& x = side();
  std::lock_guard<std::mutex> g(g_side_mu);
  check(cudaEventRecord(x.forked, nullptr), "side stream fork");
  check(cudaStreamWaitEvent(x.s, x.forked, 0), "side stream fork");
  return x.s;
}

void side_stream_join() {
  SideStream& x = side();
  std::lock_guard<std::mutex> g(g_side_mu);
  check(cudaEventRecord(x.joined, x.s), "side stream join");
  check(cudaStreamWaitEvent(nullptr, x.joined, 0), "side stream join");
}

const Backend* backend() {
  static const Backend b = [] {
    Backend t;
    t.name = "cuda";
    t.device = Device::CUDA;
    t.caps.floats = DTypes::of(DType::F32) | DTypes::of(DType::BF16);
    t.caps.f32_accumulators = true;
    t.caps.attention_max_head_dim = kMaxHeadDim;
    t.caps.device_index_checks = true;
#define BIOFEG_TABLE_NS ops
    BIOFEG_FILL_TABLE(t);
#undef BIOFEG_TABLE_NS
    return t;
  }();
  return &b;
}

std::string gemm_engine() { return gemm_engine_name(); }

}  // namespace biofeg::cuda
