#include "grad_buckets.h"

#include "../core/error.h"

namespace biofeg::comm {

MpiGradBuckets::MpiGradBuckets(const Tensor& grads, int64_t bucket_elems, float scale)
    : data_(nullptr), next_(grads.numel()), bucket_(bucket_elems), scale_(scale) {
  BIOFEG_CHECK(grads.device() == Device::CPU && grads.dtype == DType::F32,
               "gradient buckets: an f32 host gradient buffer is needed (MPI reduces host memory)");
  BIOFEG_CHECK(bucket_elems >= 1, "gradient buckets: the bucket size must be at least one element, got ", bucket_elems);
  data_ = static_cast<float*>(grads.data());
}

void MpiGradBuckets::send(int64_t from) {
  if (from >= next_) return;
  float* p = data_ + from;
  const int64_t n = next_ - from;
  if (scale_ != 1.0f)
    for (int64_t i = 0; i < n; ++i) p[i] *= scale_;
  mpi::iallreduce_sum_f32(p, n, reqs_);
  next_ = from;
  ++buckets_;
  if (!finishing_ && from > 0) ++early_;  // from 0 is the backward's last report: nothing left to overlap
}

void MpiGradBuckets::ready(int64_t from) {
  BIOFEG_CHECK(from >= 0 && from <= next_, "gradient buckets: ready(", from, ") after ", next_, " was sent");
  if (next_ - from >= bucket_ || from == 0) send(from);
  mpi::test_all(reqs_);
}

void MpiGradBuckets::finish() {
  finishing_ = true;
  send(0);
  mpi::wait_all(reqs_);
}

}  // namespace biofeg::comm
