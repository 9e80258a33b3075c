// Owning, contiguous tensors on one device. Models work on raw Bufs inside flat buffers;
// Tensor is what crosses the JS boundary and what tests and benches allocate.
#pragma once
#include <atomic>
#include <memory>
#include <string>
#include <vector>

#include "dtype.h"

namespace biofeg {

struct Storage {
  void* ptr = nullptr;
  size_t bytes = 0;
  Device dev = Device::CPU;
  Storage(Device d, size_t n);  // zero-filled
  ~Storage();
  size_t mapped = 0;             // host: length of an mmap'd region (large buffers), else 0
  Storage(const Storage&) = delete;
  Storage& operator=(const Storage&) = delete;
};

struct Tensor {
  std::shared_ptr<Storage> st;
  DType dtype = DType::F32;
  std::vector<int64_t> shape;
  int64_t offset = 0;  // elements into the storage: views share their parent's storage


  static Tensor empty(Device d, DType t, const std::vector<int64_t>& shape);
  Device device() const { return st->dev; }
  int64_t numel() const;
  size_t nbytes() const { return static_cast<size_t>(numel()) * dtype_size(dtype); }
  void* data() const { return static_cast<char*>(st->ptr) + offset * static_cast<int64_t>(dtype_size(dtype)); }
  Buf buf() const { return Buf{data(), dtype}; }
  // A view of `shape` starting `offset` elements into this tensor; throws when out of range.
  Tensor view(int64_t offset, const std::vector<int64_t>& shape) const;
  std::string describe() const;  // "f32[4,8]@cpu"

  // Host <-> device copies, whatever the device (the one place that branches on it). Bytes of
  // this tensor's own dtype; `bytes` at most nbytes().
  void upload(const void* src, size_t bytes);    // host -> this tensor
  void download(void* dst, size_t bytes) const;  // this tensor -> host (waits for the device)
  void copy_from(const Tensor& src);             // same dtype and element count, any devices
};

// dst <- src, bytes long, between any two devices (host memcpy, or the CUDA runtime's copies).
void copy_bytes(void* dst, Device dst_dev, const void* src, Device src_dev, size_t bytes);

int64_t numel_of(const std::vector<int64_t>& shape);
size_t bytes_in_use(Device d);
std::string shape_str(const std::vector<int64_t>& shape);

}  // namespace biofeg
