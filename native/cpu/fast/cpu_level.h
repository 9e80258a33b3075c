// Run-time CPU dispatch of the fast backend: which vector kernels this machine runs. One binary
// holds every level (each *_avx2.cpp / *_avx512.cpp file compiled with its own target flags);
// the level is chosen here once per process, never by -march at build time.
#pragma once

namespace biofeg::host {

// Ordered: each level's kernels need the instructions of every level below it.
//   Avx2:       AVX2 + FMA, with the OS saving ymm state (XCR0 bits 1-2).
//   Avx512:     AVX-512 F + BW + VL + DQ (what Skylake-SP, Ice Lake, Sapphire Rapids and
//               Zen 4/5 share), with the OS saving opmask and zmm state (XCR0 bits 5-7).
//   Avx512Bf16: Avx512 + AVX512_BF16 (vdpbf16ps, vcvtne2ps2bf16).
enum class CpuLevel { Generic, Avx2, Avx512, Avx512Bf16 };

// The active level: the detected one, lowered by BIOFEG_CPU_KERNEL=generic|avx2|avx512|avx512bf16
// (unset, empty or "auto": the detected level). An unknown name, or a level above the detected
// one, throws biofeg::Error (kind Device) on every call: never at load time, never silently
// ignored. The first use of a backend (the fast table asks the level), info() or a fast kernel
// throws it, and the bindings make it a DeviceUnavailableError (ERR_BIOFEG_DEVICE) in JS.
CpuLevel cpu_level();
// The highest level this CPU and OS support, whatever BIOFEG_CPU_KERNEL says (never throws).
CpuLevel cpu_detected_level();
// True when the active level is at least `l` (throws as cpu_level()).
inline bool cpu_at_least(CpuLevel l) { return static_cast<int>(cpu_level()) >= static_cast<int>(l); }
// "generic", "avx2", "avx512", "avx512bf16": the names BIOFEG_CPU_KERNEL takes.
const char* cpu_level_name(CpuLevel);
// The detected instruction-set features that matter here, space-separated, in a fixed order
// (a subset of: avx2 fma avx512f avx512bw avx512vl avx512dq avx512_bf16 avx512_vnni amx_bf16),
// each listed only when the OS also saves its register state.
const char* cpu_features();
// The BIOFEG_CPU_KERNEL problem, or nullptr when the setting is valid (never throws).
const char* cpu_level_error();

}  // namespace biofeg::host
