// Data-parallel gradient all-reduce in buckets that start during the backward pass (the scheme
// of PyTorch DDP's bucket_cap_mb and Horovod's tensor fusion), over MPI on host memory.
//
// The model's backward reports each finished suffix of its flat gradient buffer (GradReady);
// once the finished but unsent part reaches the bucket size, it is scaled (a rank's share of the
// global batch, when asked) and handed to MPI_Iallreduce, and the outstanding buckets are
// driven on (MPI_Testall) at every report, while the next layers' backward runs. finish() sends
// the rest and waits. Bucket boundaries depend only on the model's layout and the bucket size,
// so every rank issues the same collectives in the same order; a rank with no rows in a step
// reports the model's grad_ready_points() without a backward.
#pragma once
#include <cstdint>
#include <vector>

#include "../core/grad_ready.h"
#include "../core/tensor.h"
#include "mpi_loader.h"

namespace biofeg::comm {

class MpiGradBuckets : public GradReady {
 public:
  // grads: the model's f32 host gradient buffer (kept alive by the caller until finish()).
  // bucket_elems >= 1; scale multiplies each bucket before it is sent (1: untouched).
  MpiGradBuckets(const Tensor& grads, int64_t bucket_elems, float scale);
  void ready(int64_t from) override;
  // Sends whatever is left (down to element 0) and waits for every bucket.
  void finish();
  // Buckets sent so far, and how many while backward still had layers to go (overlapped).
  int buckets() const { return buckets_; }
  int sent_early() const { return early_; }

 private:
  void send(int64_t from);
  float* data_;
  int64_t next_;  // [next_, end) is sent; [0, next_) is not
  int64_t bucket_;
  float scale_;
  std::vector<mpi::Handle> reqs_;
  int buckets_ = 0, early_ = 0;
  bool finishing_ = false;
};

}  // namespace biofeg::comm
