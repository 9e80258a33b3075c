#include "cublas_loader.h"

#include <dlfcn.h>

#include <cstdlib>
#include <mutex>
#include <vector>

#ifdef BIOFEG_CUEMU
namespace cuemu {
const biofeg::cuda::cublas::Api& cublas_api();  // emu/cublas_emu.cpp
}
#endif

namespace biofeg::cuda::cublas {
namespace {
#ifdef BIOFEG_CUEMU
const Api& cuemu_cublas_api() { return cuemu::cublas_api(); }
#endif

struct Loaded {
  Api api;
  bool ok = false;
  std::string reason;
};

template <typename Fn>
bool sym(void* lib, const char* name, Fn& out) {
  void* p = dlsym(lib, name);
  out = reinterpret_cast<Fn>(p);
  return p != nullptr;
}

// Opens one candidate; fills `api` when every required symbol is there.
bool try_open(const std::string& path, Api& api, std::string& why) {
  void* lib = dlopen(path.c_str(), RTLD_NOW | RTLD_LOCAL);
  if (!lib) {
    const char* e = dlerror();
    why += "\n  " + path + ": " + (e ? e : "not found");
    return false;
  }
  Api a;
  a.path = path;
  const bool ok = sym(lib, "cublasCreate_v2", a.create) && sym(lib, "cublasDestroy_v2", a.destroy) &&
                  sym(lib, "cublasSetStream_v2", a.set_stream) && sym(lib, "cublasSetMathMode", a.set_math_mode) &&
                  sym(lib, "cublasGemmStridedBatchedEx", a.gemm_strided_batched_ex);
  if (!ok) {
    why += "\n  " + path + ": missing a required symbol";
    dlclose(lib);
    return false;
  }
  sym(lib, "cublasGetStatusString", a.status_string);  // optional (cuBLAS >= 11.4)
  api = a;
  return true;  // never dlclose'd: the handle and its kernels live until exit
}

Loaded load() {
  Loaded L;
  const char* env = std::getenv("BIOFEG_CUBLAS");
  const std::string v = env ? env : "";
  if (v == "off" || v == "none" || v == "0") {
    L.reason = "disabled by BIOFEG_CUBLAS=" + v;
    return L;
  }
#ifdef BIOFEG_CUEMU
  // Under the CPU emulator a real libcublas would be handed host pointers: the emulator's
  // stand-in (emu/cublas_emu.cpp) takes its place.
  L.api = cuemu_cublas_api();
  L.ok = true;
  return L;
#endif
  std::string why = "libcublas not found:";
  if (!v.empty()) {  // an explicit file is the only candidate: a typo must not load another library
    L.ok = try_open(v, L.api, why);
    if (!L.ok) L.reason = "BIOFEG_CUBLAS=" + v + " could not be used:" + why.substr(why.find(':') + 1);
    return L;
  }
  std::vector<std::string> cands;
  cands.push_back("libcublas.so.13");
  cands.push_back("libcublas.so.12");
  if (const char* sp = std::getenv("BIOFEG_PYTHON_SITE_PACKAGES"); sp && *sp) {
    std::string all = sp;
    size_t start = 0;
    while (start <= all.size()) {
      const size_t end = all.find(':', start);
      const std::string dir = all.substr(start, end == std::string::npos ? std::string::npos : end - start);
      if (!dir.empty()) {
        cands.push_back(dir + "/nvidia/cu13/lib/libcublas.so.13");
        cands.push_back(dir + "/nvidia/cublas/lib/libcublas.so.12");
      }
      if (end == std::string::npos) break;
      start = end + 1;
    }
  }
  for (const std::string& c : cands)
    if (try_open(c, L.api, why)) {
      L.ok = true;
      return L;
    }
  L.reason = why;
  return L;
}

const Loaded& loaded() {
  static const Loaded L = load();  // thread-safe one-time initialisation
  return L;
}

}  // namespace

const Api* api() { return loaded().ok ? &loaded().api : nullptr; }
std::string absent_reason() { return loaded().ok ? std::string() : loaded().reason; }

std::string status_name(Status s) {
  const Api* a = api();
  if (a && a->status_string) {
    if (const char* m = a->status_string(s)) return std::string(m) + " (" + std::to_string(s) + ")";
  }
  return "cuBLAS status " + std::to_string(s);
}

bool tf32_enabled() {
  static const bool on = [] {
    const char* e = std::getenv("BIOFEG_TF32");
    return e && (std::string(e) == "1" || std::string(e) == "on" || std::string(e) == "true");
  }();
  return on;
}

}  // namespace biofeg::cuda::cublas
