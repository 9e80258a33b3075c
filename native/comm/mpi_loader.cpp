#include "mpi_loader.h"

#include <dlfcn.h>

#include <climits>
#include <cstdlib>
#include <mutex>

#include "../core/dl_loader.h"
#include "../core/error.h"

namespace biofeg::comm::mpi {
namespace {

// MPI_THREAD_SERIALIZED (mpi.h's enum: SINGLE, FUNNELED, SERIALIZED, MULTIPLE): a library call runs
// in a worker thread, and a later call (the next pipeline stage) in another; never two at once.
constexpr int kThreadSerialized = 2;
constexpr int kSuccess = 0;         // MPI_SUCCESS
// Open MPI's mpi.h: MPI_IN_PLACE is ((void *) 1), MPI_STATUSES_IGNORE ((MPI_Status *) 0).
void* const kInPlace = reinterpret_cast<void*>(1);
constexpr void* kStatusesIgnore = nullptr;

using Loaded = dl::Loaded<Api>;
using dl::sym;

bool handle(void* lib, const char* name, Handle& out) {
  out = dlsym(lib, name);  // the global's address is the handle (OMPI_PREDEFINED_GLOBAL)
  return out != nullptr;
}

bool try_open(const std::string& path, Api& api, std::string& why) {
  // RTLD_GLOBAL: Open MPI's plugins (mca_*.so, opened by libmpi itself) resolve libmpi's and
  // libopen-pal's symbols through the global scope.
  void* lib = dl::open(path, RTLD_NOW | RTLD_GLOBAL, why);
  if (!lib) return false;
  Api a;
  a.path = path;
  const bool fns = sym(lib, "MPI_Initialized", a.initialized) && sym(lib, "MPI_Init_thread", a.init_thread) &&
                   sym(lib, "MPI_Finalized", a.finalized) && sym(lib, "MPI_Finalize", a.finalize) &&
                   sym(lib, "MPI_Comm_rank", a.comm_rank) && sym(lib, "MPI_Comm_size", a.comm_size) &&
                   sym(lib, "MPI_Allreduce", a.allreduce) && sym(lib, "MPI_Iallreduce", a.iallreduce) &&
                   sym(lib, "MPI_Testall", a.testall) && sym(lib, "MPI_Waitall", a.waitall) &&
                   sym(lib, "MPI_Allgather", a.allgather) &&
                   sym(lib, "MPI_Bcast", a.bcast) && sym(lib, "MPI_Barrier", a.barrier) &&
                   sym(lib, "MPI_Error_string", a.error_string) && sym(lib, "MPI_Abort", a.abort);
  if (!fns) return dl::reject(lib, path, "missing an MPI function", why);
  const bool handles = handle(lib, "ompi_mpi_comm_world", a.comm_world) && handle(lib, "ompi_mpi_float", a.t_float) &&
                       handle(lib, "ompi_mpi_double", a.t_double) && handle(lib, "ompi_mpi_byte", a.t_byte) &&
                       handle(lib, "ompi_mpi_op_sum", a.op_sum) && handle(lib, "ompi_mpi_op_max", a.op_max);
  if (!handles)
    return dl::reject(lib, path, "not Open MPI (no ompi_mpi_comm_world etc.; only Open MPI's ABI is supported)", why);
  api = a;
  return true;  // never dlclose'd: MPI lives until the process exits
}

Loaded load() {
  return dl::load<Api>(
      "BIOFEG_MPI", "libmpi", {"libmpi.so.40"}, try_open,
      "\n  (install Open MPI, e.g. apt-get install openmpi-bin libopenmpi-dev, or set BIOFEG_MPI=<path of libmpi.so.40>)");
}

const Loaded& loaded() {
  static const Loaded L = load();
  return L;
}

const Api& need() {
  const Api* a = api();
  if (!a) fail_as(ErrorKind::Device, absent_reason());
  return *a;
}

std::mutex init_mu;
bool we_initialised = false;
World world;

void check(int rc, const char* what) {
  if (rc == kSuccess) return;
  char msg[1024] = {0};
  int len = 0;
  const Api* a = api();
  if (a && a->error_string(rc, msg, &len) == kSuccess && len > 0) fail_as(ErrorKind::Device, what, " failed: ", std::string(msg, len));
  fail_as(ErrorKind::Device, what, " failed with MPI error ", rc);
}

void check_world(const char* what) {
  std::lock_guard<std::mutex> g(init_mu);
  BIOFEG_CHECK(!world.library.empty(), what, ": MPI is not initialised (call mpiInit first)");
}

// Splits a count into MPI's int-sized chunks.
template <typename F>
void chunked(int64_t n, F f) {
  BIOFEG_CHECK(n >= 0, "MPI: negative count ", n);
  for (int64_t at = 0; at < n;) {
    const int c = static_cast<int>(n - at < INT_MAX ? n - at : INT_MAX);
    f(at, c);
    at += c;
  }
}

void do_finalize() {
  std::lock_guard<std::mutex> g(init_mu);
  if (!we_initialised) return;
  const Api* a = api();
  int done = 0;
  if (a && a->finalized(&done) == kSuccess && !done) a->finalize();
  we_initialised = false;
}

}  // namespace

const Api* api() { return loaded().ok ? &loaded().api : nullptr; }
std::string absent_reason() { return loaded().ok ? std::string() : loaded().reason; }

World init() {
  const Api& a = need();
  std::lock_guard<std::mutex> g(init_mu);
  if (!world.library.empty()) return world;
  int already = 0;
  check(a.initialized(&already), "MPI_Initialized");
  if (!already) {
    int provided = 0;
    check(a.init_thread(nullptr, nullptr, kThreadSerialized, &provided), "MPI_Init_thread");
    we_initialised = true;
    if (provided < kThreadSerialized)
      fail_as(ErrorKind::Device, a.path, " provides MPI thread level ", provided, "; biofeg needs MPI_THREAD_SERIALIZED (2) or more");
    // A process that called MPI_Init must call MPI_Finalize before it exits, or mpirun reports it.
    std::atexit(do_finalize);
  }
  World w;
  check(a.comm_rank(a.comm_world, &w.rank), "MPI_Comm_rank");
  check(a.comm_size(a.comm_world, &w.size), "MPI_Comm_size");
  w.library = a.path;
  world = w;
  return world;
}

void allreduce_sum_f32(float* data, int64_t n) {
  const Api& a = need();
  check_world("allreduce");
  chunked(n, [&](int64_t at, int c) { check(a.allreduce(kInPlace, data + at, c, a.t_float, a.op_sum, a.comm_world), "MPI_Allreduce"); });
}

void iallreduce_sum_f32(float* data, int64_t n, std::vector<Handle>& reqs) {
  const Api& a = need();
  check_world("iallreduce");
  chunked(n, [&](int64_t at, int c) {
    Handle r = nullptr;
    check(a.iallreduce(kInPlace, data + at, c, a.t_float, a.op_sum, a.comm_world, &r), "MPI_Iallreduce");
    reqs.push_back(r);
  });
}

bool test_all(std::vector<Handle>& reqs) {
  if (reqs.empty()) return true;
  int done = 0;
  check(need().testall(static_cast<int>(reqs.size()), reqs.data(), &done, kStatusesIgnore), "MPI_Testall");
  return done != 0;
}

void wait_all(std::vector<Handle>& reqs) {
  if (reqs.empty()) return;
  check(need().waitall(static_cast<int>(reqs.size()), reqs.data(), kStatusesIgnore), "MPI_Waitall");
  reqs.clear();
}

void allreduce_sum_f64(double* data, int64_t n) {
  const Api& a = need();
  check_world("allreduce");
  chunked(n, [&](int64_t at, int c) { check(a.allreduce(kInPlace, data + at, c, a.t_double, a.op_sum, a.comm_world), "MPI_Allreduce"); });
}

void allreduce_max_f64(double* data, int64_t n) {
  const Api& a = need();
  check_world("allreduce");
  chunked(n, [&](int64_t at, int c) { check(a.allreduce(kInPlace, data + at, c, a.t_double, a.op_max, a.comm_world), "MPI_Allreduce"); });
}

void allgather_bytes(const void* send, void* recv, int64_t bytes_per_rank) {
  const Api& a = need();
  check_world("allgather");
  BIOFEG_CHECK(bytes_per_rank >= 0 && bytes_per_rank <= INT_MAX, "allgather: ", bytes_per_rank, " bytes per rank (at most ", INT_MAX, ")");
  check(a.allgather(send, static_cast<int>(bytes_per_rank), a.t_byte, recv, static_cast<int>(bytes_per_rank), a.t_byte, a.comm_world), "MPI_Allgather");
}

void broadcast_bytes(void* data, int64_t bytes, int root) {
  const Api& a = need();
  check_world("broadcast");
  chunked(bytes, [&](int64_t at, int c) { check(a.bcast(static_cast<char*>(data) + at, c, a.t_byte, root, a.comm_world), "MPI_Bcast"); });
}

void barrier() {
  const Api& a = need();
  check_world("barrier");
  check(a.barrier(a.comm_world), "MPI_Barrier");
}

void finalize() { do_finalize(); }

void abort(int code) {
  const Api& a = need();
  a.abort(a.comm_world, code);
  std::_Exit(code);  // MPI_Abort should not return; if it does, leave without MPI_Finalize
}

}  // namespace biofeg::comm::mpi
