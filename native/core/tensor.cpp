#include "tensor.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <sstream>
#include <vector>

#include "../backends.h"
#include "device.h"
#include "error.h"

namespace biofeg {

namespace {
// Bytes held per device: atomic, as storages are made and freed on any thread (JS worker threads,
// GC finalizers of a worker being torn down, async workers); relaxed, as it is only a count.
std::atomic<size_t> g_bytes[2];
constexpr size_t kAlign = 64;  // AVX2 loads and cache lines
// Large host buffers (entity pools of GBs, BERT-base parameters) come straight from mmap: the
// kernel's pages are already zero, so no memset pass touches them all up front. No MADV_HUGEPAGE:
// on a VM whose host takes freed guest memory back (free page reporting), every huge page is a
// whole 2 MiB the host must fault in again, while 4 KiB pages come first from free fragments still
// backed; the system's own THP policy (enabled=always) still applies.
constexpr size_t kMapAbove = size_t(64) << 20;
thread_local std::shared_ptr<MemAccount> t_account;

// Closes a file descriptor on every path out.
struct Fd {
  int fd = -1;
  explicit Fd(int f) : fd(f) {}
  Fd(Fd&& o) noexcept : fd(o.fd) { o.fd = -1; }
  Fd(const Fd&) = delete;
  Fd& operator=(const Fd&) = delete;
  Fd& operator=(Fd&&) = delete;
  ~Fd() {
    if (fd >= 0) close(fd);
  }
};

// Opens `path` read-only and checks it is a regular file holding `n` bytes from `offset`;
// `what` names the call (and the tensor) in the messages.
Fd open_span(const char* what, const std::string& path, int64_t offset, size_t n, const std::string& needs) {
  Fd f{open(path.c_str(), O_RDONLY | O_CLOEXEC)};
  if (f.fd < 0) fail(what, ": ", path, ": ", std::strerror(errno));
  struct stat sb;
  if (fstat(f.fd, &sb) != 0) fail(what, ": ", path, ": ", std::strerror(errno));
  BIOFEG_CHECK(S_ISREG(sb.st_mode), what, ": ", path, " is not a regular file");
  BIOFEG_CHECK(static_cast<int64_t>(sb.st_size) >= offset && static_cast<uint64_t>(sb.st_size - offset) >= n, what, ": ",
               path, " holds ", static_cast<int64_t>(sb.st_size), " bytes; ", needs, " needs ", n, " from offset ", offset);
  return f;
}

// n bytes of fd from `at` into dst (host memory): pread until done (a read may return fewer).
void pread_all(int fd, uint8_t* dst, size_t n, int64_t at, const std::string& path) {
  size_t got = 0;
  while (got < n) {
    const ssize_t r = pread(fd, dst + got, n - got, static_cast<off_t>(at + static_cast<int64_t>(got)));
    if (r < 0 && errno == EINTR) continue;
    if (r < 0) fail("readFile: ", path, ": ", std::strerror(errno));
    if (r == 0) fail("readFile: ", path, ": ended ", n - got, " bytes early");
    got += static_cast<size_t>(r);
  }
}
}  // namespace

AccountScope::AccountScope(std::shared_ptr<MemAccount> a) : prev_(std::move(t_account)) { t_account = std::move(a); }
AccountScope::~AccountScope() { t_account = std::move(prev_); }

Storage::Storage(Device d, size_t n) : bytes(n), dev(d) {
  const size_t alloc = n == 0 ? kAlign : (n + kAlign - 1) / kAlign * kAlign;
  if (d == Device::CPU && alloc >= kMapAbove) {
    void* p = mmap(nullptr, alloc, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED) fail_as(ErrorKind::Memory, "out of host memory allocating ", n, " bytes");
    ptr = p;
    mapped = alloc;
  } else if (d == Device::CPU) {
    ptr = std::aligned_alloc(kAlign, alloc);
    if (!ptr) fail_as(ErrorKind::Memory, "out of host memory allocating ", n, " bytes");
    std::memset(ptr, 0, alloc);
  } else {
    ptr = cuda::malloc(alloc);
    cuda::memset0(ptr, alloc);
  }
  g_bytes[static_cast<int>(d)].fetch_add(n, std::memory_order_relaxed);
  account = t_account;
  if (account) account->bytes.fetch_add(static_cast<int64_t>(n), std::memory_order_relaxed);
}

std::shared_ptr<Storage> Storage::map_file(int fd, int64_t offset, size_t n) {
  std::shared_ptr<Storage> s(new Storage());
  void* p = mmap(nullptr, n, PROT_READ | PROT_WRITE, MAP_PRIVATE, fd, static_cast<off_t>(offset));
  if (p == MAP_FAILED)
    fail_as(errno == ENOMEM ? ErrorKind::Memory : ErrorKind::Argument, "mapFile: cannot map ", n, " bytes: ", std::strerror(errno));
  s->ptr = p;
  s->bytes = n;
  s->mapped = n;
  s->dev = Device::CPU;
  // Prefault now, reading one byte a page: a read fault maps the page cache's page (and its
  // neighbours) without copying, so the first search does not pay for the faults. Writing here
  // instead would copy every page.
  madvise(p, n, MADV_WILLNEED);
  const size_t page = static_cast<size_t>(sysconf(_SC_PAGESIZE));
  volatile unsigned char sink = 0;
  for (size_t i = 0; i < n; i += page) sink = sink ^ static_cast<const unsigned char*>(p)[i];
  g_bytes[static_cast<int>(Device::CPU)].fetch_add(n, std::memory_order_relaxed);
  s->account = t_account;
  if (s->account) s->account->bytes.fetch_add(static_cast<int64_t>(n), std::memory_order_relaxed);
  return s;
}

Storage::~Storage() {
  g_bytes[static_cast<int>(dev)].fetch_sub(bytes, std::memory_order_relaxed);
  if (account) account->bytes.fetch_sub(static_cast<int64_t>(bytes), std::memory_order_relaxed);
  if (mapped) munmap(ptr, mapped);
  else if (dev == Device::CPU) std::free(ptr);
  else cuda::free(ptr);
}

int64_t numel_of(const std::vector<int64_t>& shape) {
  int64_t n = 1;
  for (int64_t s : shape) n *= s;
  return n;
}

int64_t Tensor::numel() const { return numel_of(shape); }

int64_t checked_numel(const std::vector<int64_t>& shape, const char* what) {
  BIOFEG_CHECK(shape.size() <= 8, what, ": at most 8 dimensions, got ", shape.size());
  int64_t nz = 1;  // the product of the non-zero dimensions: a zero one must not hide a huge one
  bool zero = false;
  for (int64_t s : shape) {
    BIOFEG_CHECK(s >= 0, what, ": negative dimension in shape ", shape_str(shape));
    if (s == 0) zero = true;
    else nz = mul_size(nz, s);
    BIOFEG_CHECK(nz >= 0, what, ": shape ", shape_str(shape), " is too large (at most 2^40 elements)");
  }
  return zero ? 0 : nz;
}

Tensor Tensor::empty(Device d, DType t, const std::vector<int64_t>& shape) {
  const int64_t n = checked_numel(shape, "tensor");
  std::string why;
  if (!device_available(d, &why)) fail_as(ErrorKind::Device, "tensor: ", why);
  Tensor x;
  x.dtype = t;
  x.shape = shape;
  x.st = std::make_shared<Storage>(d, static_cast<size_t>(n) * dtype_size(t));
  return x;
}

Tensor Tensor::map_file(const std::string& path, int64_t offset, DType t, const std::vector<int64_t>& shape) {
  const int64_t n = checked_numel(shape, "mapFile");
  BIOFEG_CHECK(offset >= 0 && offset % static_cast<int64_t>(kAlign) == 0, "mapFile: the offset must be a multiple of ",
               kAlign, " bytes, got ", offset);
  const size_t bytes = static_cast<size_t>(n) * dtype_size(t);
  if (bytes == 0) return empty(Device::CPU, t, shape);
  Fd f = open_span("mapFile", path, offset, bytes, std::string(dtype_name(t)) + shape_str(shape));
  // mmap takes page-aligned offsets: map from the page holding `offset`, the tensor starting
  // `skip` bytes in (a whole number of elements, as both are multiples of 64).
  const int64_t page = sysconf(_SC_PAGESIZE);
  const int64_t base = offset / page * page;
  const int64_t skip = offset - base;
  Tensor x;
  x.dtype = t;
  x.shape = shape;
  x.offset = skip / static_cast<int64_t>(dtype_size(t));
  x.st = Storage::map_file(f.fd, base, static_cast<size_t>(skip) + bytes);
  return x;
}

void Tensor::read_file(const std::string& path, int64_t off) const {
  BIOFEG_CHECK(st, "readFile: the tensor has been disposed");
  BIOFEG_CHECK(off >= 0, "readFile: the offset must be >= 0, got ", off);
  const size_t n = nbytes();
  Fd f = open_span("readFile", path, off, n, describe());
  if (n == 0) return;
  if (device() == Device::CPU) {
    pread_all(f.fd, static_cast<uint8_t*>(data()), n, off, path);
    return;
  }
  // A device tensor through a bounded host chunk, so no staging copy of the whole tensor.
  constexpr size_t kChunk = size_t(32) << 20;
  std::vector<uint8_t> chunk(std::min(n, kChunk));
  for (size_t done = 0; done < n; done += chunk.size()) {
    const size_t m = std::min(chunk.size(), n - done);
    pread_all(f.fd, chunk.data(), m, off + static_cast<int64_t>(done), path);
    copy_bytes(static_cast<uint8_t*>(data()) + done, device(), chunk.data(), Device::CPU, m);
  }
}

Tensor Tensor::view(int64_t off, const std::vector<int64_t>& s) const {
  BIOFEG_CHECK(st, "view: the tensor has been disposed");
  const int64_t n = checked_numel(s, "view");
  BIOFEG_CHECK(off >= 0 && off <= numel() && n <= numel() - off, "view: ", shape_str(s), " at offset ", off,
               " does not fit inside ", describe());
  Tensor v = *this;
  v.offset = offset + off;
  v.shape = s;
  return v;
}

std::string shape_str(const std::vector<int64_t>& shape) {
  std::ostringstream o;
  o << "[";
  for (size_t i = 0; i < shape.size(); ++i) o << (i ? "," : "") << shape[i];
  o << "]";
  return o.str();
}

std::string Tensor::describe() const {
  return std::string(dtype_name(dtype)) + shape_str(shape) + "@" + device_name(device());
}

void copy_bytes(void* dst, Device dd, const void* src, Device sd, size_t bytes) {
  if (bytes == 0) return;
  if (dd == Device::CPU && sd == Device::CPU) std::memmove(dst, src, bytes);
  else if (sd == Device::CPU) cuda::memcpy_h2d(dst, src, bytes);
  else if (dd == Device::CPU) cuda::memcpy_d2h(dst, src, bytes);
  else cuda::memcpy_d2d(dst, src, bytes);
}

void Tensor::upload(const void* src, size_t bytes) {
  BIOFEG_CHECK(st, "upload: the tensor has been disposed");
  BIOFEG_CHECK(bytes <= nbytes(), "upload: ", bytes, " bytes do not fit ", describe());
  copy_bytes(data(), device(), src, Device::CPU, bytes);
}

void Tensor::download(void* dst, size_t bytes) const {
  BIOFEG_CHECK(st, "download: the tensor has been disposed");
  BIOFEG_CHECK(bytes <= nbytes(), "download: ", describe(), " holds fewer than ", bytes, " bytes");
  copy_bytes(dst, Device::CPU, data(), device(), bytes);
}

void Tensor::copy_from(const Tensor& src) {
  BIOFEG_CHECK(st && src.st, "copyFrom: a tensor has been disposed");
  BIOFEG_CHECK(src.dtype == dtype && src.numel() == numel(), "copyFrom: ", src.describe(), " does not fit ", describe(),
               " (same dtype and element count needed)");
  copy_bytes(data(), device(), src.data(), src.device(), nbytes());
}

size_t bytes_in_use(Device d) { return g_bytes[static_cast<int>(d)].load(std::memory_order_relaxed); }

}  // namespace biofeg
