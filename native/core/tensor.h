// Owning, contiguous tensors on one device. Models work on raw Bufs inside flat buffers;
// Tensor is what crosses the JS boundary and what tests and benches allocate.
#pragma once
#include <atomic>
#include <memory>
#include <string>
#include <vector>

#include "dtype.h"

namespace biofeg {

// The bytes of the storages made on a thread while an AccountScope names this account, less
// those freed since (on any thread): how the bindings learn what a native object that allocates
// as it runs (a BertModel) holds, to report it to the JS garbage collector.
struct MemAccount {
  std::atomic<int64_t> bytes{0};
};
class AccountScope {
 public:
  explicit AccountScope(std::shared_ptr<MemAccount> a);
  ~AccountScope();
  AccountScope(const AccountScope&) = delete;
  AccountScope& operator=(const AccountScope&) = delete;

 private:
  std::shared_ptr<MemAccount> prev_;
};

struct Storage {
  void* ptr = nullptr;
  size_t bytes = 0;
  Device dev = Device::CPU;
  Storage(Device d, size_t n);  // zero-filled; throws Error (kind Memory) when it cannot allocate
  // A host storage over bytes [offset, offset + n) of an open file, mapped private (writes are
  // copy-on-write: they never reach the file) and prefaulted; offset a multiple of the page size.
  static std::shared_ptr<Storage> map_file(int fd, int64_t offset, size_t n);
  ~Storage();
  size_t mapped = 0;             // host: length of an mmap'd region (large buffers), else 0
  std::shared_ptr<MemAccount> account;  // the AccountScope's at creation, if any
  Storage(const Storage&) = delete;
  Storage& operator=(const Storage&) = delete;

 private:
  Storage() = default;
};

// Every Tensor's shape passes checked_numel: at most 8 dimensions, none negative, and the product
// of its non-zero dimensions at most kMaxElements, so no product of a tensor's dimensions (rows x
// cols, batch strides) overflows; a view also fits inside its storage.
struct Tensor {
  std::shared_ptr<Storage> st;
  DType dtype = DType::F32;
  std::vector<int64_t> shape;
  int64_t offset = 0;  // elements into the storage: views share their parent's storage


  static Tensor empty(Device d, DType t, const std::vector<int64_t>& shape);
  // A host tensor whose values are the file's bytes from `offset` (its dtype, little-endian),
  // memory-mapped: no copy, the pages shared with the page cache until written. `offset` a
  // multiple of 64 bytes; the file must hold nbytes() from it. The file must not be truncated
  // while the tensor lives (a write-then-rename replacement is fine).
  static Tensor map_file(const std::string& path, int64_t offset, DType t, const std::vector<int64_t>& shape);
  // Fills this tensor with the file's nbytes() bytes from `offset`, as they lie there (its dtype,
  // little-endian): a host tensor straight from the file, a device tensor through a bounded host
  // chunk. The file must hold all the bytes: a shorter one is an Argument error before any read.
  void read_file(const std::string& path, int64_t offset) const;
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
// numel_of, after checking the shape as a Tensor's (see Tensor); `what` starts the message.
int64_t checked_numel(const std::vector<int64_t>& shape, const char* what);
size_t bytes_in_use(Device d);
std::string shape_str(const std::vector<int64_t>& shape);

}  // namespace biofeg
