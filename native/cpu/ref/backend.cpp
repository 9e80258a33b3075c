// The reference backend's table, filled by name from this folder's family files.
#include "ref.h"

namespace biofeg {

const Backend& ref_backend() {
  static const Backend b = [] {
    Backend t;
    t.name = "ref";
    t.device = Device::CPU;
    // bf16 storage emulated on the host with the CUDA rules (ref.h), so mixed-precision code is
    // tested without a GPU.
    t.caps.floats = DTypes::of(DType::F32) | DTypes::of(DType::BF16);
    t.caps.f32_accumulators = true;
#define BIOFEG_TABLE_NS ref
    BIOFEG_FILL_TABLE(t);
#undef BIOFEG_TABLE_NS
    return t;
  }();
  return b;
}

}  // namespace biofeg
