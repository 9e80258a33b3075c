// The fast CPU backend's table, filled by name from this folder's family files.
#include "../profile.h"
#include "cpu_level.h"
#include "fast.h"
#include "gemm_bf16.h"

namespace biofeg {

const Backend& cpu_backend() {
  static const Backend b = [] {
    // A bad BIOFEG_CPU_KERNEL fails here, at the first use of a host backend, with its reason
    // (a throw leaves the table unbuilt: every later use throws it again).
    host::cpu_level();
    Backend t;
    t.name = "cpu";
    t.device = Device::CPU;
    t.caps.floats = DTypes::of(DType::F32);
    // An entity pool may be held in bf16 (half the memory): top-k widens it block by block and
    // takes f32 queries, so its scores are those of the f32 pool holding the bf16 values.
    t.caps.op_floats[static_cast<int>(Op::topk)] = DTypes::of(DType::F32) | DTypes::of(DType::BF16);
    t.caps.topk_f32_queries = true;
#define BIOFEG_TABLE_NS fast
    BIOFEG_FILL_TABLE(t);
#undef BIOFEG_TABLE_NS
    // bf16 inference where the CPU has AVX512_BF16 (gemm_bf16.h): its GEMM, attention and cast
    // entries take bf16; every other op keeps its kernel, with Caps saying which take bf16.
    if (host::bf16_kernels()) {
      host::declare_bf16_caps(t.caps);
      t.gemm = host::gemm_routed;
      t.attention_fwd = host::attention_fwd_routed;
      t.cast = host::cast_routed;
    }
    return t;
  }();
  static const Backend& chosen = host::profile_enabled() ? host::profiled_backend(b) : b;  // BIOFEG_PROFILE=1
  return chosen;
}

}  // namespace biofeg
