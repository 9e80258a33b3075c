// Generic code over the op list of ops.h: the validators' declarations, per-op traits, the
// validated entry points op::NAME, and tables that wrap every entry of another (profiling,
// the selftest's coverage count).
#pragma once
#include <utility>

#include "ops.h"

namespace biofeg {

namespace detail {
template <typename S>
struct WithBackend;
template <typename... A>
struct WithBackend<void(A...)> {
  using type = void(const Backend&, A...);
};
}  // namespace detail

// The validators, one per op (native/check/<family>.cpp): check::NAME(be, args...) throws
// biofeg::Error naming the op (its JS name) and the offending argument.
namespace check {
#define BIOFEG_DECLARE_CHECK(name, ...) ::biofeg::detail::WithBackend<::biofeg::sig::name>::type name;
BIOFEG_OPS(BIOFEG_DECLARE_CHECK)
#undef BIOFEG_DECLARE_CHECK
}  // namespace check

// Per-op facts for generic code.
template <Op O>
struct OpTraits;
#define BIOFEG_OP_TRAITS(name_, js_, kind_, s_, ts_)          \
  template <>                                                 \
  struct OpTraits<Op::name_> {                                \
    using Sig = sig::name_;                                   \
    static constexpr auto field = &Backend::name_;            \
    static constexpr auto validate = &::biofeg::check::name_; \
  };
BIOFEG_OPS(BIOFEG_OP_TRAITS)
#undef BIOFEG_OP_TRAITS

namespace detail {
template <Op O, typename S>
struct Front;
template <Op O, typename... A>
struct Front<O, void(A...)> {
  static void call(const Backend& be, A... a) {
    OpTraits<O>::validate(be, a...);
    (be.*OpTraits<O>::field)(a...);
  }
};
}  // namespace detail

// The validated entry points: op::NAME(be, args...) runs the op's validator, then be's kernel.
// Models, bindings and the selftest call ops this way; kernels call each other directly.
namespace op {
#define BIOFEG_OP_FRONT(name, ...) inline constexpr auto name = &::biofeg::detail::Front<Op::name, sig::name>::call;
BIOFEG_OPS(BIOFEG_OP_FRONT)
#undef BIOFEG_OP_FRONT
}  // namespace op

// The same by enumerator, for generic code.
template <Op O, typename... A>
void run(const Backend& be, A&&... a) {
  detail::Front<O, typename OpTraits<O>::Sig>::call(be, std::forward<A>(a)...);
}

// A table whose every entry calls Hook::template run<O>(inner, args...) (Hook: a type with that
// static member template). One inner table per Hook type.
template <typename Hook>
struct Wrapped {
  static inline const Backend* inner = nullptr;
  template <Op O, typename S>
  struct Entry;
  template <Op O, typename... A>
  struct Entry<O, void(A...)> {
    static void call(A... a) { Hook::template run<O>(*inner, a...); }
  };
  static Backend make(const Backend& in) {
    inner = &in;
    Backend b = in;
#define BIOFEG_WRAP_OP(name, ...) b.name = &Entry<Op::name, sig::name>::call;
    BIOFEG_OPS(BIOFEG_WRAP_OP)
#undef BIOFEG_WRAP_OP
    return b;
  }
};

// Calls inner's kernel for O (no validation).
template <Op O, typename... A>
void invoke(const Backend& be, A&&... a) {
  (be.*OpTraits<O>::field)(std::forward<A>(a)...);
}

}  // namespace biofeg
