// Bindings of the run-time loaded MPI and NCCL (native/comm/). Glue only: typed arrays and
// tensors in, the loaders' calls, errors out as the library's classes.
#include "comm_bind.h"

#include <cstring>

#include "../native/comm/mpi_loader.h"
#include "../native/comm/nccl_loader.h"
#include "../native/core/device.h"
#include "errors.h"
#include "tensor_wrap.h"

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

Napi::Value abort_job(const Napi::CallbackInfo& info) {
  return guarded(info, [&](Napi::Env env) {
    BIOFEG_CHECK(info.Length() == 1 && info[0].IsNumber(), "mpiAbort: expected (code)");
    const double code = info[0].As<Napi::Number>().DoubleValue();
    BIOFEG_CHECK(code >= 1 && code <= 255 && code == static_cast<int>(code), "mpiAbort: code must be an integer in 1..255, got ", code);
    mpi::init();  // only an initialised MPI can abort the job
    mpi::abort(static_cast<int>(code));
    return env.Undefined();
  });
}

Napi::Value finalize(const Napi::CallbackInfo& info) {
  return guarded(info, [](Napi::Env env) {
    mpi::finalize();
    return env.Undefined();
  });
}

namespace nccl = comm::nccl;

Napi::Value nccl_available(const Napi::CallbackInfo& info) {
  return guarded(info, [](Napi::Env env) {
    Napi::Object o = Napi::Object::New(env);
    const nccl::Api* a = nccl::api();
    o.Set("available", a != nullptr);
    o.Set("library", a ? a->path : std::string());
    o.Set("version", nccl::version());
    o.Set("reason", nccl::absent_reason());
    return o;
  });
}

Napi::Value nccl_unique_id(const Napi::CallbackInfo& info) {
  return guarded(info, [](Napi::Env env) {
    const nccl::UniqueId id = nccl::unique_id();
    Napi::Uint8Array a = Napi::Uint8Array::New(env, nccl::kUniqueIdBytes);
    std::memcpy(a.Data(), id.internal, nccl::kUniqueIdBytes);
    return a;
  });
}

Napi::Value nccl_init(const Napi::CallbackInfo& info) {
  return guarded(info, [&](Napi::Env env) {
    Napi::TypedArray a = typed_arg(info, 0, "ncclInit");
    BIOFEG_CHECK(a.ByteLength() == nccl::kUniqueIdBytes, "ncclInit: the id has ", a.ByteLength(), " bytes; expected ", nccl::kUniqueIdBytes);
    BIOFEG_CHECK(info.Length() == 3 && info[1].IsNumber() && info[2].IsNumber(), "ncclInit: expected (id, rank, size)");
    const double rank = info[1].As<Napi::Number>().DoubleValue(), size = info[2].As<Napi::Number>().DoubleValue();
    BIOFEG_CHECK(size >= 1 && size <= 65536 && size == static_cast<int>(size) && rank >= 0 && rank < size && rank == static_cast<int>(rank),
                 "ncclInit: rank ", rank, " of ", size, " is not a rank");
    nccl::UniqueId id{};
    std::memcpy(id.internal, bytes_of(a), nccl::kUniqueIdBytes);
    return Napi::Number::New(env, nccl::init(id, static_cast<int>(rank), static_cast<int>(size)));
  });
}

Napi::Value nccl_allreduce(const Napi::CallbackInfo& info) {
  return guarded(info, [&](Napi::Env env) {
    BIOFEG_CHECK(info.Length() == 3 && info[0].IsNumber() && TensorWrap::is(env, info[1]) && info[2].IsBoolean(),
                 "ncclAllreduce: expected (comm, tensor, average)");
    Tensor& t = Napi::ObjectWrap<TensorWrap>::Unwrap(info[1].As<Napi::Object>())->get("ncclAllreduce", "the tensor");
    BIOFEG_CHECK(t.device() == Device::CUDA, "ncclAllreduce: the tensor is on ", device_name(t.device()), "; NCCL reduces CUDA tensors");
    BIOFEG_CHECK(t.dtype == DType::F32 || t.dtype == DType::BF16, "ncclAllreduce: the tensor is ", dtype_name(t.dtype), "; f32 or bf16 only");
    // cuemu's "device" memory is host memory: a real libnccl must not be handed it.
    if (cuda::device_info().rfind("cuemu", 0) == 0) fail_as(ErrorKind::Device, "ncclAllreduce: this build emulates CUDA (cuemu); NCCL needs a GPU");
    nccl::allreduce(info[0].As<Napi::Number>().Int32Value(), t.data(), t.numel(), t.dtype == DType::F32 ? nccl::kFloat32 : nccl::kBfloat16,
                    info[2].As<Napi::Boolean>().Value());
    return env.Undefined();
  });
}

Napi::Value nccl_destroy(const Napi::CallbackInfo& info) {
  return guarded(info, [&](Napi::Env env) {
    BIOFEG_CHECK(info.Length() == 1 && info[0].IsNumber(), "ncclDestroy: expected (comm)");
    nccl::destroy(info[0].As<Napi::Number>().Int32Value());
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
  exports.Set("mpiAbort", Napi::Function::New(env, abort_job, "mpiAbort"));
  exports.Set("ncclAvailable", Napi::Function::New(env, nccl_available, "ncclAvailable"));
  exports.Set("ncclUniqueId", Napi::Function::New(env, nccl_unique_id, "ncclUniqueId"));
  exports.Set("ncclInit", Napi::Function::New(env, nccl_init, "ncclInit"));
  exports.Set("ncclAllreduce", Napi::Function::New(env, nccl_allreduce, "ncclAllreduce"));
  exports.Set("ncclDestroy", Napi::Function::New(env, nccl_destroy, "ncclDestroy"));
}

}  // namespace biofeg::js
