// JS class BertModel: a native BERT (native/models/bert.h) with sync and Promise-returning
// forward/backward. Output tensors share the model's activation plan.
#pragma once
#include <napi.h>

namespace biofeg::js {
Napi::Function bert_model_class(Napi::Env env);
}  // namespace biofeg::js
