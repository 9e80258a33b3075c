#include "cublas_loader.h"

#include <dlfcn.h>

#include <cstdlib>
#include <mutex>
#include <vector>

#include "../core/dl_loader.h"

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

using Loaded = dl::Loaded<Api>;
using dl::sym;

#ifndef BIOFEG_CUEMU
// Opens one candidate; fills `api` when every required symbol is there.
bool try_open(const std::string& path, Api& api, std::string& why) {
  void* lib = dl::open(path, RTLD_NOW | RTLD_LOCAL, why);
  if (!lib) return false;
  Api a;
  a.path = path;
  const bool ok = sym(lib, "cublasCreate_v2", a.create) && sym(lib, "cublasDestroy_v2", a.destroy) &&
                  sym(lib, "cublasSetStream_v2", a.set_stream) && sym(lib, "cublasSetMathMode", a.set_math_mode) &&
                  sym(lib, "cublasGemmStridedBatchedEx", a.gemm_strided_batched_ex);
  if (!ok) return dl::reject(lib, path, "missing a required symbol", why);
  sym(lib, "cublasGetStatusString", a.status_string);  // optional (cuBLAS >= 11.4)
  api = a;
  return true;  // never dlclose'd: the handle and its kernels live until exit
}
#endif

Loaded load() {
#ifdef BIOFEG_CUEMU
  // Under the CPU emulator a real libcublas would be handed host pointers: the emulator's
  // stand-in (emu/cublas_emu.cpp) takes the place of every candidate.
  const dl::TryOpen<Api> open_one = [](const std::string&, Api& api, std::string&) {
    api = cuemu_cublas_api();
    return true;
  };
  return dl::load<Api>("BIOFEG_CUBLAS", "libcublas", {"cuemu"}, open_one);
#else
  std::vector<std::string> cands{"libcublas.so.13", "libcublas.so.12"};
  for (std::string& c : dl::under_dirs(std::getenv("BIOFEG_PYTHON_SITE_PACKAGES"),
                                       {"/nvidia/cu13/lib/libcublas.so.13", "/nvidia/cublas/lib/libcublas.so.12"}))
    cands.push_back(std::move(c));
  return dl::load<Api>("BIOFEG_CUBLAS", "libcublas", cands, try_open);
#endif
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
