// The one place that maps names and devices to backends. Everything that turns a user's choice
// ('ref', 'cpu', 'cuda', 'auto') or a tensor's device into a Backend asks here: the addon's
// backend handles (bindings/backend_wrap.cpp), BertModel's constructor, tensor creation.
#pragma once
#include <string>

#include "ops.h"

namespace biofeg {

// 'ref' (reference loops, host memory), 'cpu' (the fast host backend), 'cuda', or 'auto' (cuda
// when this build has it and a device exists, else cpu). Throws Error saying what is missing:
// "backend 'cuda': this build has no CUDA backend (...)", "... no CUDA device is available",
// "unknown backend 'x' (expected ...)". The table is complete (require_complete).
const Backend& backend_named(const std::string& name);
// The fast backend of a device (what 'cpu' and 'cuda' name); throws as backend_named.
const Backend& backend_for(Device d);
// 'cpu' or 'cuda' (the devices tensors live on); throws "device must be 'cpu' or 'cuda', got 'x'".
Device device_named(const std::string& name);
// Whether device d can hold tensors here (cpu: always; cuda: compiled in and a device exists);
// the reason when not.
bool device_available(Device d, std::string* why = nullptr);
// Waits for the device's queued work (nothing to wait for on the host); reports the kernels'
// index errors (cuda_ops.h).
void synchronize(Device d);

}  // namespace biofeg
