// Errors: every failed check throws biofeg::Error; bindings turn it into a JS Error.
#pragma once
#include <sstream>
#include <stdexcept>
#include <string>

namespace biofeg {

struct Error : std::runtime_error {
  explicit Error(const std::string& m) : std::runtime_error(m) {}
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
[[noreturn]] void fail(const A&... a) {
  std::ostringstream o;
  detail::cat(o, a...);
  throw Error(o.str());
}

}  // namespace biofeg

#define BIOFEG_CHECK(cond, ...)                \
  do {                                         \
    if (!(cond)) ::biofeg::fail(__VA_ARGS__);  \
  } while (0)
