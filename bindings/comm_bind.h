#pragma once
#include <napi.h>

namespace biofeg::js {
// The communication engine's glue (native/comm/): mpiAvailable(), mpiInit(), mpiAllreduceSum(a),
// mpiAllreduceMax(a), mpiAllgather(send, recv), mpiBroadcast(a, root), mpiBarrier(),
// mpiFinalize(). Host typed arrays, in place, blocking (src/comm/ wraps them). NCCL:
// ncclAvailable(), ncclUniqueId(), ncclInit(id, rank, size), ncclAllreduce(comm, tensor, average),
// ncclDestroy(comm): CUDA tensors (f32, bf16), in place, on the engine's stream.
void register_comm(Napi::Env env, Napi::Object exports);
}  // namespace biofeg::js
