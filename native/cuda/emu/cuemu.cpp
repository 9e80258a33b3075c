// cuemu's scheduler: fibers, barriers, warp collectives and launches (cudart_emu.cpp has the
// runtime calls). See include/cuemu.h for what is modelled and checked.
#include <sys/mman.h>

#include <cstdio>
#include <cstdlib>
#include <mutex>
#include <string>
#include <vector>

#include "include/cuda_runtime_api.h"
#include "include/cuemu.h"
#include "runtime_state.h"

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

// Bounds of the section holding the __shared__ statics of headers (poisoned before each block).
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
constexpr size_t kStaticSmem = 48 * 1024;  // static shared memory per block

struct Grid {
  Body body = nullptr;
  void* closure = nullptr;
  std::vector<Fiber> fibers;
  int alive = 0, at_block = 0;
  std::vector<unsigned> warp_live, warp_at, warp_mask;  // per warp: lanes alive / waiting / their mask
  std::vector<uint64_t> slot;                          // per thread: shuffle value
  std::vector<unsigned char> dyn;                      // dynamic shared memory (+ alignment)
  unsigned char* dyn_base = nullptr;
  // Static shared memory: one exact-size allocation per declaration and block (so that an
  // AddressSanitizer build reports an access past a __shared__ array), and the bytes the block
  // would use on the device, alignment included.
  std::vector<std::pair<const void*, void*>> stat_slots;  // declaration tag -> memory
  size_t stat_used = 0;
  ~Grid() { free_static(); }
  void free_static() {
    for (auto& slot : stat_slots) std::free(slot.second);
    stat_slots.clear();
    stat_used = 0;
  }
  bool failed = false;
  std::string error;
};

std::mutex g_launch_mu;  // one launch at a time, from any host thread
Grid* g_grid = nullptr;
void* g_sched_sp = nullptr;
unsigned char* g_stacks = nullptr;

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
  g.free_static();
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

void* shared_alloc(const void* tag, size_t bytes, size_t align) {
  Grid& g = *g_grid;
  for (const auto& [t, p] : g.stat_slots)
    if (t == tag) return p;
  const size_t off = (g.stat_used + align - 1) / align * align;
  if (align > 128 || off + bytes > kStaticSmem) kernel_fail("static shared memory over 48 KiB per block");
  void* p = nullptr;
  if (posix_memalign(&p, align < sizeof(void*) ? sizeof(void*) : align, bytes ? bytes : 1) != 0)
    kernel_fail("cannot allocate host memory for shared memory");
  std::memset(p, 0xff, bytes);  // the poison
  g.stat_slots.emplace_back(tag, p);
  g.stat_used = off + bytes;
  return p;
}

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
  const size_t smem_cap = max_dynamic_smem();
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
  static const bool reverse = [] {  // read once: launches are many
    const char* order = std::getenv("CUEMU_ORDER");
    return order && std::string(order) == "reverse";
  }();
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
