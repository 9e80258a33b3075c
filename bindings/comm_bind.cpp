// Bindings of the run-time loaded MPI (native/comm/mpi_loader.h). Glue only: typed arrays in,
// the loader's calls, errors out as the library's classes.
#include "comm_bind.h"

#include "../native/comm/mpi_loader.h"
#include "errors.h"

namespace biofeg::js {
namespace {

namespace mpi = comm::mpi;

template <typename F>
Napi::Value guarded(const Napi::CallbackInfo& info, F f) {
  try {
    return f(info.Env());
  } catch (const std::exception& e) {
    throw_js(info.Env(), e);
    return info.Env().Undefined();
  }
}

Napi::TypedArray typed_arg(const Napi::CallbackInfo& info, size_t i, const char* fn) {
  BIOFEG_CHECK(info.Length() > i && info[i].IsTypedArray(), fn, ": argument ", i + 1, " must be a typed array");
  return info[i].As<Napi::TypedArray>();
}

char* bytes_of(const Napi::TypedArray& a) { return static_cast<char*>(a.ArrayBuffer().Data()) + a.ByteOffset(); }

Napi::Value available(const Napi::CallbackInfo& info) {
  return guarded(info, [](Napi::Env env) {
    Napi::Object o = Napi::Object::New(env);
    const mpi::Api* a = mpi::api();
    o.Set("available", a != nullptr);
    o.Set("library", a ? a->path : std::string());
    o.Set("reason", mpi::absent_reason());
    return o;
  });
}

Napi::Value init(const Napi::CallbackInfo& info) {
  return guarded(info, [](Napi::Env env) {
    const mpi::World w = mpi::init();
    Napi::Object o = Napi::Object::New(env);
    o.Set("rank", w.rank);
    o.Set("size", w.size);
    o.Set("library", w.library);
    return o;
  });
}

Napi::Value allreduce(const Napi::CallbackInfo& info, bool max) {
  return guarded(info, [&](Napi::Env env) {
    const char* fn = max ? "mpiAllreduceMax" : "mpiAllreduceSum";
    Napi::TypedArray a = typed_arg(info, 0, fn);
    const int64_t n = static_cast<int64_t>(a.ElementLength());
    if (a.TypedArrayType() == napi_float64_array) {
      double* d = reinterpret_cast<double*>(bytes_of(a));
      max ? mpi::allreduce_max_f64(d, n) : mpi::allreduce_sum_f64(d, n);
    } else {
      BIOFEG_CHECK(!max && a.TypedArrayType() == napi_float32_array, fn, ": expected a ", max ? "Float64Array" : "Float32Array or Float64Array");
      mpi::allreduce_sum_f32(reinterpret_cast<float*>(bytes_of(a)), n);
    }
    return env.Undefined();
  });
}

Napi::Value allreduce_sum(const Napi::CallbackInfo& info) { return allreduce(info, false); }
Napi::Value allreduce_max(const Napi::CallbackInfo& info) { return allreduce(info, true); }

Napi::Value allgather(const Napi::CallbackInfo& info) {
  return guarded(info, [&](Napi::Env env) {
    Napi::TypedArray s = typed_arg(info, 0, "mpiAllgather"), r = typed_arg(info, 1, "mpiAllgather");
    const mpi::World w = mpi::init();
    BIOFEG_CHECK(r.ByteLength() == s.ByteLength() * static_cast<size_t>(w.size), "mpiAllgather: the receive array has ", r.ByteLength(),
                 " bytes; expected ", w.size, " x ", s.ByteLength());
    mpi::allgather_bytes(bytes_of(s), bytes_of(r), static_cast<int64_t>(s.ByteLength()));
    return env.Undefined();
  });
}

Napi::Value broadcast(const Napi::CallbackInfo& info) {
  return guarded(info, [&](Napi::Env env) {
    Napi::TypedArray a = typed_arg(info, 0, "mpiBroadcast");
    BIOFEG_CHECK(info.Length() > 1 && info[1].IsNumber(), "mpiBroadcast: expected (array, root)");
    const double root = info[1].As<Napi::Number>().DoubleValue();
    const mpi::World w = mpi::init();
    BIOFEG_CHECK(root >= 0 && root < w.size && root == static_cast<int>(root), "mpiBroadcast: root ", root, " is not a rank of ", w.size);
    mpi::broadcast_bytes(bytes_of(a), static_cast<int64_t>(a.ByteLength()), static_cast<int>(root));
    return env.Undefined();
  });
}

Napi::Value barrier(const Napi::CallbackInfo& info) {
  return guarded(info, [](Napi::Env env) {
    mpi::barrier();
    return env.Undefined();
  });
}

Napi::Value finalize(const Napi::CallbackInfo& info) {
  return guarded(info, [](Napi::Env env) {
    mpi::finalize();
    return env.Undefined();
  });
}

}  // namespace

void register_comm(Napi::Env env, Napi::Object exports) {
  exports.Set("mpiAvailable", Napi::Function::New(env, available, "mpiAvailable"));
  exports.Set("mpiInit", Napi::Function::New(env, init, "mpiInit"));
  exports.Set("mpiAllreduceSum", Napi::Function::New(env, allreduce_sum, "mpiAllreduceSum"));
  exports.Set("mpiAllreduceMax", Napi::Function::New(env, allreduce_max, "mpiAllreduceMax"));
  exports.Set("mpiAllgather", Napi::Function::New(env, allgather, "mpiAllgather"));
  exports.Set("mpiBroadcast", Napi::Function::New(env, broadcast, "mpiBroadcast"));
  exports.Set("mpiBarrier", Napi::Function::New(env, barrier, "mpiBarrier"));
  exports.Set("mpiFinalize", Napi::Function::New(env, finalize, "mpiFinalize"));
}

}  // namespace biofeg::js
