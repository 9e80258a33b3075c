// What a model's backward tells about its gradient buffer as it goes: every element from `from`
// to the end is final for this backward (BERT's layout runs embeddings, layers, pooler, and its
// backward finishes them in reverse). Data-parallel training starts its all-reduce buckets there,
// while the remaining layers' backward still runs (native/comm/grad_buckets.h).
#pragma once
#include <cstdint>

namespace biofeg {

struct GradReady {
  virtual ~GradReady() = default;
  virtual void ready(int64_t from) = 0;
};

}  // namespace biofeg
