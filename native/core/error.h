// Errors: every failed check throws biofeg::Error; bindings turn it into a JS Error whose `code`
// says which kind it is (bindings/errors.h; the classes of src/errors.ts).
#pragma once
#include <cstdint>
#include <sstream>
#include <stdexcept>
#include <string>

namespace biofeg {

// What a caller can do about it: fix an argument, pick another device, free memory; Internal
// is a defect of the engine.
enum class ErrorKind : int { Argument = 0, Device = 1, Memory = 2, Internal = 3 };

struct Error : std::runtime_error {
  explicit Error(const std::string& m, ErrorKind k = ErrorKind::Argument) : std::runtime_error(m), kind(k) {}
  ErrorKind kind;
};

namespace detail {
inline void cat(std::ostringstream&) {}
template <typename T, typename... R>
void cat(std::ostringstream& o, const T& v, const R&... r) {
  o << v;
  cat(o, r...);
}
}  // namespace detail

template <typename... A>
[[noreturn]] void fail_as(ErrorKind k, const A&... a) {
  std::ostringstream o;
  detail::cat(o, a...);
  throw Error(o.str(), k);
}
template <typename... A>
[[noreturn]] void fail(const A&... a) {
  fail_as(ErrorKind::Argument, a...);
}

// Element counts of one tensor or one operand: at most 2^40 (4 TiB of f32), so products of a
// few such counts, byte sizes and offsets stay far from int64 overflow.
constexpr int64_t kMaxElements = int64_t(1) << 40;

// a * b for non-negative sizes, or -1 when the product exceeds kMaxElements.
inline int64_t mul_size(int64_t a, int64_t b) {
  if (a < 0 || b < 0) return -1;
  if (a == 0 || b == 0) return 0;
  return a > kMaxElements / b ? -1 : a * b;
}

}  // namespace biofeg

#define BIOFEG_CHECK(cond, ...)                \
  do {                                         \
    if (!(cond)) ::biofeg::fail(__VA_ARGS__);  \
  } while (0)
