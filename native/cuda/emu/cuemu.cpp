// cuemu's runtime: fibers, barriers, warp collectives, launches and the cudart calls the backend
// makes, all on host memory. See include/cuemu.h for what is modelled and checked.
#include <sys/mman.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <mutex>
#include <string>
#include <vector>

#include "include/cuda_runtime_api.h"
#include "include/cuemu.h"

#if !defined(__x86_64__)
#error "cuemu switches fibers with x86-64 assembly"
#endif

// Saves the callee-saved registers on the current stack, stores its pointer in *save, and
// resumes the fiber whose stack pointer is `next` (System V x86-64).
extern "C" void cuemu_switch_ctx(void** save, void* next);
asm(R"(
  .text
  .globl cuemu_switch_ctx
  .hidden cuemu_switch_ctx
  .type cuemu_switch_ctx,@function
cuemu_switch_ctx:
  pushq %rbp
  pushq %rbx
  pushq %r12
  pushq %r13
  pushq %r14
  pushq %r15
  movq %rsp, (%rdi)
  movq %rsi, %rsp
  popq %r15
  popq %r14
  popq %r13
  popq %r12
  popq %rbx
  popq %rbp
  ret
  .size cuemu_switch_ctx, .-cuemu_switch_ctx
)");

// Bounds of the section holding every __shared__ variable (poisoned before each block).
extern "C" char __start_cuemu_shared[] __attribute__((weak, visibility("hidden")));
extern "C" char __stop_cuemu_shared[] __attribute__((weak, visibility("hidden")));

namespace cuemu {

enum class St { Ready, AtBlock, AtWarp, Done };
struct Fiber {
  void* sp = nullptr;
  uint3 idx{};
  int lin = 0;
  St st = St::Ready;
};

namespace {

constexpr size_t kStack = 256 * 1024, kGuard = 4096;
constexpr int kMaxThreads = 1024;
constexpr size_t kStaticSmemOptin = 227 * 1024;  // an sm_90 block's dynamic shared-memory ceiling

struct Grid {
  Body body = nullptr;
  void* closure = nullptr;
  std::vector<Fiber> fibers;
  int alive = 0, at_block = 0;
  std::vector<unsigned> warp_live, warp_at, warp_mask;  // per warp: lanes alive / waiting / their mask
  std::vector<uint64_t> slot;                          // per thread: shuffle value
  std::vector<unsigned char> dyn;                      // dynamic shared memory (+ alignment)
  unsigned char* dyn_base = nullptr;
  bool failed = false;
  std::string error;
};

std::mutex g_launch_mu;  // one launch at a time, from any host thread
Grid* g_grid = nullptr;
void* g_sched_sp = nullptr;
unsigned char* g_stacks = nullptr;
std::map<const void*, int> g_smem_attr;  // kernel -> cudaFuncAttributeMaxDynamicSharedMemorySize

thread_local cudaError_t t_last = cudaSuccess;
thread_local std::string t_msg;  // message of the most recent error (kept after cudaGetLastError)
thread_local cudaError_t t_msg_code = cudaSuccess;

cudaError_t set_error(cudaError_t e, std::string msg) {
  t_last = e;
  t_msg = "cuemu: " + std::move(msg);
  t_msg_code = e;
  return e;
}

unsigned char* stack_base(int i) {
  if (!g_stacks) {
    const size_t total = kMaxThreads * (kStack + kGuard);
    void* p = mmap(nullptr, total, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (p == MAP_FAILED) {
      std::fprintf(stderr, "cuemu: cannot map fiber stacks\n");
      std::abort();
    }
    g_stacks = static_cast<unsigned char*>(p);
    for (int s = 0; s < kMaxThreads; ++s) mprotect(g_stacks + s * (kStack + kGuard), kGuard, PROT_NONE);
  }
  return g_stacks + i * (kStack + kGuard) + kGuard;
}

std::string where(const Fiber* f) {
  char b[160];
  std::snprintf(b, sizeof b, " (block %u,%u,%u thread %u,%u,%u)", g_block_idx.x, g_block_idx.y, g_block_idx.z,
                f ? f->idx.x : 0, f ? f->idx.y : 0, f ? f->idx.z : 0);
  return b;
}

void to_scheduler(Fiber* f) { cuemu_switch_ctx(&f->sp, g_sched_sp); }

void release_block(Grid& g) {
  for (Fiber& f : g.fibers)
    if (f.st == St::AtBlock) f.st = St::Ready;
  g.at_block = 0;
}

// Releases warp w's waiters once every lane of their mask has arrived.
void try_release_warp(Grid& g, int w) {
  const unsigned mask = g.warp_mask[w];
  if (!g.warp_at[w] || (g.warp_at[w] & mask) != mask) return;
  for (int l = 0; l < 32; ++l)
    if (mask >> l & 1u) g.fibers[w * 32 + l].st = St::Ready;
  g.warp_at[w] &= ~mask;
}

extern "C" void cuemu_fiber_main() {
  Grid& g = *g_grid;
  Fiber* f = g_cur;
  g.body(g.closure);
  f = g_cur;
  const int w = f->lin / 32, lane = f->lin % 32;
  f->st = St::Done;
  --g.alive;
  g.warp_live[w] &= ~(1u << lane);
  if (g.warp_at[w] && (g.warp_mask[w] >> lane & 1u)) {
    g.failed = true;
    g.error = "a lane exited while its warp waits for it in a warp collective" + where(f);
  } else if (g.at_block > 0 && g.at_block == g.alive) {
    release_block(g);
  }
  to_scheduler(f);
  __builtin_unreachable();
}

void init_fiber(Fiber& f, int i) {
  auto* top = reinterpret_cast<void**>(stack_base(i) + kStack);
  // [top-8]: fake return address of cuemu_fiber_main; [top-16]: its entry; 6 saved registers.
  top[-1] = nullptr;
  top[-2] = reinterpret_cast<void*>(&cuemu_fiber_main);
  for (int r = 3; r <= 8; ++r) top[-r] = nullptr;
  f.sp = top - 8;
  f.st = St::Ready;
}

void poison_shared(Grid& g) {
  if (__start_cuemu_shared && __stop_cuemu_shared)
    std::memset(__start_cuemu_shared, 0xff, static_cast<size_t>(__stop_cuemu_shared - __start_cuemu_shared));
  if (!g.dyn.empty()) std::memset(g.dyn.data(), 0xff, g.dyn.size());
}

// Runs one block to completion; false (with g.error) on a failure or a deadlock.
bool run_block(Grid& g, int nthreads, bool reverse) {
  const dim3 bd = g_block_dim;
  g.alive = nthreads;
  g.at_block = 0;
  const int warps = (nthreads + 31) / 32;
  g.warp_live.assign(warps, 0);
  g.warp_at.assign(warps, 0);
  g.warp_mask.assign(warps, 0);
  for (int i = 0; i < nthreads; ++i) {
    Fiber& f = g.fibers[i];
    f.lin = i;
    f.idx = uint3{i % bd.x, (i / bd.x) % bd.y, i / (bd.x * bd.y)};
    init_fiber(f, i);
    g.warp_live[i / 32] |= 1u << (i % 32);
  }
  while (g.alive > 0) {
    bool ran = false;
    for (int k = 0; k < nthreads; ++k) {
      Fiber& f = g.fibers[reverse ? nthreads - 1 - k : k];
      if (f.st != St::Ready) continue;
      ran = true;
      g_cur = &f;
      cuemu_switch_ctx(&g_sched_sp, f.sp);
      g_cur = nullptr;
      if (g.failed) return false;
    }
    if (!ran) {
      int wb = 0, ww = 0;
      for (int i = 0; i < nthreads; ++i) wb += g.fibers[i].st == St::AtBlock, ww += g.fibers[i].st == St::AtWarp;
      g.error = "deadlock: " + std::to_string(wb) + " threads wait at __syncthreads, " + std::to_string(ww) +
                " at a warp collective, " + std::to_string(nthreads - g.alive) + " have exited" + where(nullptr);
      return false;
    }
  }
  return true;
}

}  // namespace

Fiber* g_cur = nullptr;
uint3 g_block_idx{};
dim3 g_block_dim, g_grid_dim;

const uint3& thread_idx() { return g_cur->idx; }
int lane_id() { return g_cur->lin % 32; }
void* dyn_smem() { return g_grid->dyn_base; }

void kernel_fail(const char* what) {
  Fiber* f = g_cur;
  if (!f || !g_grid) {
    std::fprintf(stderr, "cuemu: %s outside a kernel\n", what);
    std::abort();
  }
  g_grid->failed = true;
  g_grid->error = what + where(f);
  to_scheduler(f);
  __builtin_unreachable();
}

void syncthreads() {
  Grid& g = *g_grid;
  Fiber* f = g_cur;
  f->st = St::AtBlock;
  if (++g.at_block == g.alive) {
    release_block(g);  // the last arrival goes on; the others run when the scheduler reaches them
    return;
  }
  to_scheduler(f);
}

void syncwarp(unsigned mask) {
  Grid& g = *g_grid;
  Fiber* f = g_cur;
  const int w = f->lin / 32, lane = f->lin % 32;
  const unsigned present = static_cast<int>(g.fibers.size()) >= (w + 1) * 32
                               ? 0xffffffffu
                               : (1u << (static_cast<int>(g_block_dim.x * g_block_dim.y * g_block_dim.z) - w * 32)) - 1u;
  if (!(mask >> lane & 1u)) kernel_fail("warp collective called by a lane outside its mask");
  if (mask & ~present) kernel_fail("warp collective mask names lanes the block does not have");
  if (mask & ~g.warp_live[w]) kernel_fail("warp collective mask names a lane that has exited");
  if (g.warp_at[w] && g.warp_mask[w] != mask) kernel_fail("lanes of one warp wait in collectives with different masks");
  g.warp_mask[w] = mask;
  g.warp_at[w] |= 1u << lane;
  f->st = St::AtWarp;
  try_release_warp(g, w);
  if (f->st == St::Ready) return;
  to_scheduler(f);
}

void warp_exchange(unsigned mask, const void* mine, void* theirs, int src, size_t bytes) {
  Grid& g = *g_grid;
  const int me = g_cur->lin, w = me / 32;
  if (src < 0 || src > 31 || !(mask >> src & 1u)) kernel_fail("shuffle reads a lane outside its mask");
  std::memcpy(&g.slot[me], mine, bytes);
  syncwarp(mask);
  std::memcpy(theirs, &g.slot[w * 32 + src], bytes);
  syncwarp(mask);  // nobody overwrites its slot before every lane has read
}

void run_grid(const Cfg& cfg, Body body, void* closure) {
  std::lock_guard<std::mutex> lock(g_launch_mu);
  const dim3 b = cfg.block, gr = cfg.grid;
  const long long nthreads = static_cast<long long>(b.x) * b.y * b.z;
  if (nthreads < 1 || nthreads > kMaxThreads || b.x > 1024 || b.y > 1024 || b.z > 64) {
    set_error(cudaErrorInvalidConfiguration, "block of " + std::to_string(b.x) + "x" + std::to_string(b.y) + "x" +
                                                 std::to_string(b.z) + " threads is outside the device limits");
    return;
  }
  if (gr.x < 1 || gr.x > 0x7fffffffu || gr.y < 1 || gr.y > 65535 || gr.z < 1 || gr.z > 65535) {
    set_error(cudaErrorInvalidConfiguration, "grid of " + std::to_string(gr.x) + "x" + std::to_string(gr.y) + "x" +
                                                 std::to_string(gr.z) + " blocks is outside the device limits");
    return;
  }
  // The launch does not know which kernel it runs (the lambda hides it), so dynamic shared memory
  // over 48 KiB is checked against the largest value any kernel was given.
  size_t smem_cap = 48 * 1024;
  for (const auto& kv : g_smem_attr) smem_cap = std::max(smem_cap, static_cast<size_t>(kv.second));
  if (cfg.smem > smem_cap) {
    set_error(cudaErrorInvalidValue, std::to_string(cfg.smem) + " bytes of dynamic shared memory exceed the " +
                                         std::to_string(smem_cap) + " allowed for this kernel");
    return;
  }
  Grid g;
  g.body = body;
  g.closure = closure;
  g.fibers.resize(static_cast<size_t>(nthreads));
  g.slot.assign(static_cast<size_t>((nthreads + 31) / 32 * 32), 0);
  g.dyn.assign(cfg.smem + 128, 0);
  g.dyn_base = g.dyn.data() + (128 - reinterpret_cast<uintptr_t>(g.dyn.data()) % 128) % 128;
  const char* order = std::getenv("CUEMU_ORDER");
  const bool reverse = order && std::string(order) == "reverse";
  g_grid = &g;
  g_block_dim = b;
  g_grid_dim = gr;
  const unsigned long long nblocks = static_cast<unsigned long long>(gr.x) * gr.y * gr.z;
  bool ok = true;
  for (unsigned long long k = 0; k < nblocks && ok; ++k) {
    const unsigned long long i = reverse ? nblocks - 1 - k : k;
    g_block_idx = uint3{static_cast<unsigned>(i % gr.x), static_cast<unsigned>((i / gr.x) % gr.y),
                        static_cast<unsigned>(i / (static_cast<unsigned long long>(gr.x) * gr.y))};
    poison_shared(g);
    ok = run_block(g, static_cast<int>(nthreads), reverse);
  }
  g_grid = nullptr;
  if (!ok) set_error(cudaErrorLaunchFailure, "kernel failed: " + g.error);
}

}  // namespace cuemu

// ---- cudart on host memory. Allocations are tracked so that frees and copies can be checked,
// and filled with 0xff bytes (NaN) so that reading memory nobody wrote shows in results.
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
    case cudaDevAttrMaxSharedMemoryPerBlockOptin: *v = static_cast<int>(cuemu::kStaticSmemOptin); break;
    default: return cuemu::set_error(cudaErrorInvalidValue, "unknown device attribute");
  }
  return cudaSuccess;
}
cudaError_t cudaFuncSetAttribute(const void* kernel, cudaFuncAttribute attr, int value) {
  if (attr != cudaFuncAttributeMaxDynamicSharedMemorySize || value < 0 ||
      static_cast<size_t>(value) > cuemu::kStaticSmemOptin)
    return cuemu::set_error(cudaErrorInvalidValue, "cudaFuncSetAttribute: unsupported attribute or value");
  std::lock_guard<std::mutex> lock(cuemu::g_launch_mu);
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
