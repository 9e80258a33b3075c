// Data-parallel gradient all-reduce in buckets that start during the backward pass (the scheme
// of PyTorch DDP's bucket_cap_mb and Horovod's tensor fusion).
//
// The model's backward reports each finished suffix of its flat f32 gradient buffer (GradReady);
// once the finished but unsent part reaches the bucket size, it is sent, while the next layers'
// backward runs. finish() sends the rest and waits. Bucket boundaries depend only on the model's
// layout and the bucket size, so every rank issues the same collectives in the same order; a
// rank with no rows in a step reports the model's grad_ready_points() without a backward.
//
// Transports: MPI on host memory (MPI_Iallreduce per bucket, driven on by MPI_Testall at every
// report: Open MPI moves a nonblocking collective on only inside MPI calls), and NCCL on device
// memory (ncclAllReduce per bucket on a side stream that first waits for the engine's stream,
// so it runs beside the remaining backward kernels; finish() makes the engine's stream wait for
// it: no host wait anywhere).
#pragma once
#include <cstdint>
#include <vector>

#include "../core/grad_ready.h"
#include "../core/tensor.h"
#include "mpi_loader.h"

namespace biofeg::comm {

class GradBuckets : public GradReady {
 public:
  // grads: the model's f32 gradient buffer (alive until finish()); bucket_elems >= 1.
  GradBuckets(const Tensor& grads, int64_t bucket_elems);
  void ready(int64_t from) override;
  // Sends whatever is left (down to element 0) and waits for every bucket (NCCL: the engine's
  // stream waits).
  void finish();
  // Buckets sent so far, and how many while backward still had layers to go (overlapped).
  int buckets() const { return buckets_; }
  int sent_early() const { return early_; }

 protected:
  virtual void start(float* p, int64_t n) = 0;
  virtual void progress() {}
  virtual void wait() = 0;

 private:
  void send(int64_t from);
  float* data_;
  int64_t next_;  // [next_, end) is sent; [0, next_) is not
  int64_t bucket_;
  int buckets_ = 0, early_ = 0;
  bool finishing_ = false;
};

class MpiGradBuckets final : public GradBuckets {
 public:
  MpiGradBuckets(const Tensor& grads, int64_t bucket_elems);

 protected:
  void start(float* p, int64_t n) override;
  void progress() override;
  void wait() override;

 private:
  std::vector<mpi::Handle> reqs_;
};

class NcclGradBuckets final : public GradBuckets {
 public:
  // comm: an open NCCL communicator (nccl_loader.h init()); grads on the CUDA device.
  NcclGradBuckets(const Tensor& grads, int64_t bucket_elems, int comm);

 protected:
  void start(float* p, int64_t n) override;
  void wait() override;

 private:
  int comm_;
  bool forked_ = false;
};

}  // namespace biofeg::comm
