#pragma once
#include <napi.h>

namespace biofeg::js {
// The communication engine's glue (native/comm/): mpiAvailable(), mpiInit(), mpiAllreduceSum(a),
// mpiAllreduceMax(a), mpiAllgather(send, recv), mpiBroadcast(a, root), mpiBarrier(),
// mpiFinalize(). Host typed arrays, in place, blocking (src/comm/ wraps them).
void register_comm(Napi::Env env, Napi::Object exports);
}  // namespace biofeg::js
