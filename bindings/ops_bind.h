// The binders of the op list: how each op's JS arguments become a validated call (op_table.h).
// A binder reads info[0..] (the op's arguments; the backend is the object the method is called
// on) and throws biofeg::Error naming the op.
#pragma once
#include <napi.h>

#include "../native/op_table.h"
#include "check.h"

namespace biofeg::js {

using Binder = void (*)(const Napi::CallbackInfo& info, const OpCtx& c);

// Generic kinds (ops.h): (x, y), (x, dy, dx), and (y, dy, dx) for a backward from the output.
template <Op O>
void bind_unary(const Napi::CallbackInfo& info, const OpCtx& c) {
  argc(c, info, 2);
  Tensor &x = tensor_arg(c, info[0], "x"), &y = tensor_arg(c, info[1], "y");
  expect_same_shape(c, x, "x", y, "y");
  run<O>(*c.be, x.buf(), y.buf(), x.numel());
}
template <Op O, const char* const* XName>
void bind_unary_bwd_from(const Napi::CallbackInfo& info, const OpCtx& c) {
  argc(c, info, 3);
  Tensor &x = tensor_arg(c, info[0], *XName), &dy = tensor_arg(c, info[1], "dy"), &dx = tensor_arg(c, info[2], "dx");
  expect_same_shape(c, x, *XName, dy, "dy");
  expect_same_shape(c, x, *XName, dx, "dx");
  run<O>(*c.be, x.buf(), dy.buf(), dx.buf(), x.numel());
}
inline constexpr const char* kNameX = "x";
inline constexpr const char* kNameY = "y";
template <Op O>
constexpr Binder bind_unary_bwd = &bind_unary_bwd_from<O, &kNameX>;
template <Op O>
constexpr Binder bind_unary_bwd_out = &bind_unary_bwd_from<O, &kNameY>;

// Ops of kind Own: a binder each, named after the op (ops_bind.cpp).
namespace own {
#define BIOFEG_BINDER_DECL_Own(name) void name(const Napi::CallbackInfo& info, const OpCtx& c);
#define BIOFEG_BINDER_DECL_Unary(name)
#define BIOFEG_BINDER_DECL_UnaryBwd(name)
#define BIOFEG_BINDER_DECL_UnaryBwdOut(name)
#define BIOFEG_BINDER_DECL(name, js, kind, ...) BIOFEG_BINDER_DECL_##kind(name)
BIOFEG_OPS(BIOFEG_BINDER_DECL)
#undef BIOFEG_BINDER_DECL
}  // namespace own

// The binder of each op, by kind.
#define BIOFEG_BINDER_Own(name) &own::name
#define BIOFEG_BINDER_Unary(name) &bind_unary<Op::name>
#define BIOFEG_BINDER_UnaryBwd(name) bind_unary_bwd<Op::name>
#define BIOFEG_BINDER_UnaryBwdOut(name) bind_unary_bwd_out<Op::name>

// topkAsync: the topk binder's checks on the JS thread, the search on a worker thread.
Napi::Value topk_async(const Napi::CallbackInfo& info, const OpCtx& c);

}  // namespace biofeg::js
