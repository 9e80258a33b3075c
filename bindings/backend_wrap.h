// JS class Backend: a handle on one backend table (native/backends.h), made once per name and
// environment (backend(name) hands out the same object). Its methods are the ops of the list in
// native/ops.h, with the same JS names, so no backend name crosses the binding per op; the
// TypeScript engine (src/engine.ts) wraps it. Context-aware like Tensor: the class and the
// handle cache live in the environment's AddonData.
#pragma once
#include <napi.h>

#include "../native/ops.h"

namespace biofeg::js {

// Defines the class in env (its constructor kept in env's AddonData).
Napi::Function backend_class(Napi::Env env);
// backend(name: 'ref' | 'cpu' | 'cuda' | 'auto'): the handle of that backend ('auto' resolved).
Napi::Value backend_handle(const Napi::CallbackInfo& info);
// The capabilities of a backend as a JS object (also in info().backends).
Napi::Object caps_object(Napi::Env env, const Backend& be);

}  // namespace biofeg::js
