#include "nccl_loader.h"

#include <dlfcn.h>

#include <cstdlib>
#include <mutex>
#include <vector>

#include "../core/dl_loader.h"
#include "../core/error.h"

namespace biofeg::comm::nccl {
namespace {

using Loaded = dl::Loaded<Api>;
using dl::sym;

bool try_open(const std::string& path, Api& api, std::string& why) {
  void* lib = dl::open(path, RTLD_NOW | RTLD_LOCAL, why);
  if (!lib) return false;
  Api a;
  a.path = path;
  const bool ok = sym(lib, "ncclGetVersion", a.get_version) && sym(lib, "ncclGetUniqueId", a.get_unique_id) &&
                  sym(lib, "ncclCommInitRank", a.comm_init_rank) && sym(lib, "ncclCommDestroy", a.comm_destroy) &&
                  sym(lib, "ncclAllReduce", a.all_reduce) && sym(lib, "ncclGetErrorString", a.error_string);
  if (!ok) return dl::reject(lib, path, "missing a required symbol", why);
  int v = 0;
  if (a.get_version(&v) != kSuccess || v < 21000)  // bf16 and ncclAvg came with 2.10
    return dl::reject(lib, path, "NCCL " + std::to_string(v) + " is older than 2.10", why);
  api = a;
  return true;  // never dlclose'd
}

Loaded load() {
  std::vector<std::string> cands{"libnccl.so.2"};
  for (std::string& c : dl::under_dirs(std::getenv("BIOFEG_PYTHON_SITE_PACKAGES"), {"/nvidia/nccl/lib/libnccl.so.2"}))
    cands.push_back(std::move(c));
  return dl::load<Api>(
      "BIOFEG_NCCL", "libnccl", cands, try_open,
      "\n  (install NCCL, e.g. the nvidia-nccl-cu12 wheel with BIOFEG_PYTHON_SITE_PACKAGES, or set BIOFEG_NCCL=<path of libnccl.so.2>)");
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

void check(const Api& a, int rc, const char* what) {
  if (rc == kSuccess) return;
  const char* m = a.error_string ? a.error_string(rc) : nullptr;
  fail_as(ErrorKind::Device, what, " failed: ", m ? m : "NCCL error", " (", rc, ")");
}

std::mutex mu;
std::vector<Comm> comms{nullptr};  // index 0 is never a communicator

Comm comm_at(int i) {
  std::lock_guard<std::mutex> g(mu);
  BIOFEG_CHECK(i > 0 && static_cast<size_t>(i) < comms.size() && comms[i], "NCCL: communicator ", i, " is not open");
  return comms[i];
}

}  // namespace

const Api* api() { return loaded().ok ? &loaded().api : nullptr; }
std::string absent_reason() { return loaded().ok ? std::string() : loaded().reason; }

std::string version() {
  const Api* a = api();
  int v = 0;
  if (!a || a->get_version(&v) != kSuccess) return "";
  // 2.9+ encodes major*10000 + minor*100 + patch.
  return std::to_string(v / 10000) + "." + std::to_string(v / 100 % 100) + "." + std::to_string(v % 100);
}

UniqueId unique_id() {
  const Api& a = need();
  UniqueId id{};
  check(a, a.get_unique_id(&id), "ncclGetUniqueId");
  return id;
}

int init(const UniqueId& id, int rank, int size) {
  const Api& a = need();
  BIOFEG_CHECK(size >= 1 && rank >= 0 && rank < size, "NCCL: rank ", rank, " of ", size, " is not a rank");
  Comm c = nullptr;
  check(a, a.comm_init_rank(&c, size, id, rank), "ncclCommInitRank");
  std::lock_guard<std::mutex> g(mu);
  comms.push_back(c);
  return static_cast<int>(comms.size() - 1);
}

void allreduce(int comm, void* device_ptr, int64_t count, int dtype, bool average, void* stream) {
  const Api& a = need();
  BIOFEG_CHECK(dtype == kFloat32 || dtype == kBfloat16, "NCCL all-reduce: f32 or bf16 only");
  BIOFEG_CHECK(count >= 0, "NCCL all-reduce: negative count ", count);
  check(a, a.all_reduce(device_ptr, device_ptr, static_cast<size_t>(count), dtype, average ? kAvg : kSum, comm_at(comm), stream),
        "ncclAllReduce");
}

void destroy(int comm) {
  const Api& a = need();
  Comm c = comm_at(comm);
  {
    std::lock_guard<std::mutex> g(mu);
    comms[comm] = nullptr;
  }
  check(a, a.comm_destroy(c), "ncclCommDestroy");
}

}  // namespace biofeg::comm::nccl
