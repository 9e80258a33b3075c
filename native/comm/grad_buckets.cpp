#include "grad_buckets.h"

#include "../core/device.h"
#include "../core/error.h"
#include "nccl_loader.h"

namespace biofeg::comm {

GradBuckets::GradBuckets(const Tensor& grads, int64_t bucket_elems)
    : data_(static_cast<float*>(grads.data())), next_(grads.numel()), bucket_(bucket_elems) {
  BIOFEG_CHECK(grads.dtype == DType::F32, "gradient buckets: an f32 gradient buffer is needed, got ", grads.describe());
  BIOFEG_CHECK(bucket_elems >= 1, "gradient buckets: the bucket size must be at least one element, got ", bucket_elems);
}

void GradBuckets::send(int64_t from) {
  if (from >= next_) return;
  start(data_ + from, next_ - from);
  next_ = from;
  ++buckets_;
  if (!finishing_ && from > 0) ++early_;  // from 0 is the backward's last report: nothing left to overlap
}

void GradBuckets::ready(int64_t from) {
  BIOFEG_CHECK(from >= 0 && from <= next_, "gradient buckets: ready(", from, ") after ", next_, " was sent");
  if (next_ - from >= bucket_ || from == 0) send(from);
  progress();
}

void GradBuckets::finish() {
  finishing_ = true;
  send(0);
  wait();
}

MpiGradBuckets::MpiGradBuckets(const Tensor& grads, int64_t bucket_elems) : GradBuckets(grads, bucket_elems) {
  BIOFEG_CHECK(grads.device() == Device::CPU, "gradient buckets over MPI: the gradients must be in host memory, got ", grads.describe());
}
void MpiGradBuckets::start(float* p, int64_t n) { mpi::iallreduce_sum_f32(p, n, reqs_); }
void MpiGradBuckets::progress() { mpi::test_all(reqs_); }
void MpiGradBuckets::wait() { mpi::wait_all(reqs_); }

NcclGradBuckets::NcclGradBuckets(const Tensor& grads, int64_t bucket_elems, int comm)
    : GradBuckets(grads, bucket_elems), comm_(comm) {
  BIOFEG_CHECK(grads.device() == Device::CUDA, "gradient buckets over NCCL: the gradients must be on the CUDA device, got ", grads.describe());
}
void NcclGradBuckets::start(float* p, int64_t n) {
  // The side stream waits for every kernel queued so far, which includes this bucket's last writes.
  void* s = cuda::side_stream_fork();
  forked_ = true;
  nccl::allreduce(comm_, p, n, nccl::kFloat32, false, s);
}
void NcclGradBuckets::wait() {
  if (forked_) cuda::side_stream_join();
}

}  // namespace biofeg::comm
