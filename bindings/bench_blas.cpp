// Bench-only peer: OpenBLAS cblas_sgemm loaded with dlopen when asked, never linked, so the
// addon needs no BLAS. Used by bench/kernels.ts to print our/OpenBLAS in the same process.
#include <dlfcn.h>

#include "bench_blas.h"
#include "check.h"
#include "errors.h"

namespace biofeg::js {
namespace {

using Sgemm = void (*)(int, int, int, int, int, int, float, const float*, int, const float*, int, float, float*, int);
using SetThreads = void (*)(int);

struct Blas {
  Sgemm sgemm = nullptr;
  SetThreads set_threads = nullptr;
  std::string path;
};

const Blas& blas() {
  static Blas b = [] {
    Blas r;
    for (const char* name : {"libopenblas.so.0", "libopenblas.so", "libopenblasp-r0.so"}) {
      void* h = dlopen(name, RTLD_NOW | RTLD_LOCAL);
      if (!h) continue;
      r.sgemm = reinterpret_cast<Sgemm>(dlsym(h, "cblas_sgemm"));
      r.set_threads = reinterpret_cast<SetThreads>(dlsym(h, "openblas_set_num_threads"));
      r.path = name;
      if (r.sgemm) break;
    }
    return r;
  }();
  return b;
}

Napi::Value available(const Napi::CallbackInfo& info) {
  const Blas& b = blas();
  return b.sgemm ? Napi::String::New(info.Env(), b.path) : info.Env().Null();
}

// openblasSgemm(A, B, C, {transA, transB, threads}): C = op(A) op(B), row-major f32 on the host.
Napi::Value sgemm(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  try {
    const Blas& b = blas();
    BIOFEG_CHECK(b.sgemm, "openblasSgemm: libopenblas is not installed (Debian: libopenblas0-pthread)");
    const OpCtx c{"openblasSgemm", &cpu_backend()};
    Tensor &A = tensor_arg(c, info[0], "A"), &B = tensor_arg(c, info[1], "B"), &C = tensor_arg(c, info[2], "C");
    Napi::Object o = info.Length() > 3 && info[3].IsObject() ? info[3].As<Napi::Object>() : Napi::Object::New(env);
    const bool ta = flag(c, o, "transA", false), tb = flag(c, o, "transB", false);
    for (auto* t : {&A, &B, &C}) {
      expect_f32(c, *t, "operand");
      expect_rank(c, *t, "operand", {2});
    }
    const int64_t M = ta ? A.shape[1] : A.shape[0], K = ta ? A.shape[0] : A.shape[1];
    const int64_t N = tb ? B.shape[0] : B.shape[1], K2 = tb ? B.shape[1] : B.shape[0];
    BIOFEG_CHECK(K == K2 && C.shape[0] == M && C.shape[1] == N, "openblasSgemm: shapes do not fit");
    if (b.set_threads) b.set_threads(static_cast<int>(option(c, o, "threads", 0)));
    b.sgemm(101, ta ? 112 : 111, tb ? 112 : 111, int(M), int(N), int(K), 1.0f, A.buf().f32(), int(A.shape[1]),
            B.buf().f32(), int(B.shape[1]), 0.0f, C.buf().f32(), int(N));
  } catch (const std::exception& e) {
    throw_js(env, e);
  }
  return env.Undefined();
}

}  // namespace

void register_bench_blas(Napi::Env env, Napi::Object exports) {
  exports.Set("openblasAvailable", Napi::Function::New(env, available, "openblasAvailable"));
  exports.Set("openblasSgemm", Napi::Function::New(env, sgemm, "openblasSgemm"));
}

}  // namespace biofeg::js
