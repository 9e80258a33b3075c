// CPU level detection (cpu_level.h): CPUID for the instructions, XGETBV for the OS's support of
// their registers (a CPU with AVX-512 under an OS or hypervisor that does not save zmm state must
// not run zmm code). Compiled without target flags: it runs on every x86-64 CPU.
#include "cpu_level.h"

#include <cstdlib>
#include <cstring>
#include <string>

#include "../../core/error.h"
#include "vec.h"

#if defined(__x86_64__) || defined(_M_X64)
#include <cpuid.h>
#define BIOFEG_X86_64 1
#endif

namespace biofeg::host {
namespace {

struct Detected {
  CpuLevel level = CpuLevel::Generic;
  std::string features;
};

Detected detect() {
  Detected d;
#ifdef BIOFEG_X86_64
  unsigned a = 0, b = 0, c = 0, dx = 0;
  if (!__get_cpuid(0, &a, &b, &c, &dx)) return d;
  const unsigned max_leaf = a;
  if (!__get_cpuid(1, &a, &b, &c, &dx)) return d;
  const bool fma = c & (1u << 12), osxsave = c & (1u << 27), avx = c & (1u << 28);
  unsigned long long xcr0 = 0;
  if (osxsave) {
    unsigned lo = 0, hi = 0;
    __asm__ volatile("xgetbv" : "=a"(lo), "=d"(hi) : "c"(0));  // XCR0: the register state the OS saves
    xcr0 = (static_cast<unsigned long long>(hi) << 32) | lo;
  }
  const bool os_ymm = (xcr0 & 0x6) == 0x6, os_zmm = os_ymm && (xcr0 & 0xE0) == 0xE0;
  const bool os_amx = (xcr0 & 0x60000) == 0x60000;  // XTILECFG, XTILEDATA
  unsigned b7 = 0, c7 = 0, d7 = 0, a71 = 0;
  if (max_leaf >= 7) {
    __cpuid_count(7, 0, a, b7, c7, d7);
    const unsigned sub = a;
    if (sub >= 1) {
      unsigned x, y, z;
      __cpuid_count(7, 1, a71, x, y, z);
    }
  }
  const bool avx2 = os_ymm && avx && fma && (b7 & (1u << 5));
  const bool f = os_zmm && (b7 & (1u << 16)), dq = os_zmm && (b7 & (1u << 17));
  const bool bw = os_zmm && (b7 & (1u << 30)), vl = os_zmm && (b7 & (1u << 31));
  const bool vnni = os_zmm && (c7 & (1u << 11)), bf16 = os_zmm && (a71 & (1u << 5));
  const bool amx_bf16 = os_amx && (d7 & (1u << 22)) && (d7 & (1u << 24));
  auto add = [&](bool on, const char* name) {
    if (!on) return;
    if (!d.features.empty()) d.features += ' ';
    d.features += name;
  };
  add(avx2, "avx2");
  add(avx2, "fma");
  add(f, "avx512f");
  add(bw, "avx512bw");
  add(vl, "avx512vl");
  add(dq, "avx512dq");
  add(bf16, "avx512_bf16");
  add(vnni, "avx512_vnni");
  add(amx_bf16, "amx_bf16");
  if (avx2) d.level = CpuLevel::Avx2;
  if (avx2 && f && bw && vl && dq) d.level = CpuLevel::Avx512;
  if (d.level == CpuLevel::Avx512 && bf16) d.level = CpuLevel::Avx512Bf16;
#endif
  return d;
}

constexpr CpuLevel kLevels[] = {CpuLevel::Generic, CpuLevel::Avx2, CpuLevel::Avx512, CpuLevel::Avx512Bf16};

// BIOFEG_CPU_DETECTED_MAX=<level> (tests only) caps the detected level, as on an older CPU, so
// the refusal of a level the CPU lacks is tested on a machine that has them all. It only lowers.
Detected detect_capped() {
  Detected d = detect();
  const char* e = std::getenv("BIOFEG_CPU_DETECTED_MAX");
  if (e)
    for (CpuLevel l : kLevels)
      if (std::strcmp(e, cpu_level_name(l)) == 0 && static_cast<int>(l) < static_cast<int>(d.level)) d.level = l;
  return d;
}

const Detected& detected() {
  static const Detected d = detect_capped();
  return d;
}

// The active level, or the reason BIOFEG_CPU_KERNEL cannot be honoured.
struct Active {
  CpuLevel level = CpuLevel::Generic;
  std::string error;
};

Active choose() {
  Active r;
  const CpuLevel top = detected().level;
  r.level = top;
  const char* e = std::getenv("BIOFEG_CPU_KERNEL");
  if (!e || !*e || std::strcmp(e, "auto") == 0) return r;
  std::string runs;  // the levels this machine can run, for the message
  for (CpuLevel l : kLevels)
    if (static_cast<int>(l) <= static_cast<int>(top)) runs += std::string(runs.empty() ? "" : ", ") + cpu_level_name(l);
  for (CpuLevel l : kLevels) {
    if (std::strcmp(e, cpu_level_name(l)) != 0) continue;
    if (static_cast<int>(l) > static_cast<int>(top)) {
      r.error = std::string("BIOFEG_CPU_KERNEL=") + e + ": this CPU (or its OS) lacks the instructions of level '" + e +
                "' (detected level '" + cpu_level_name(top) + "', features: " +
                (detected().features.empty() ? "none" : detected().features) + "); it runs: " + runs;
      return r;
    }
    r.level = l;
    return r;
  }
  r.error = std::string("BIOFEG_CPU_KERNEL='") + e + "' is not a CPU kernel level; expected auto, generic, avx2, " +
            "avx512 or avx512bf16 (this CPU runs: " + runs + ")";
  return r;
}

const Active& active() {
  static const Active a = choose();
  return a;
}

}  // namespace

CpuLevel cpu_detected_level() { return detected().level; }

CpuLevel cpu_level() {
  const Active& a = active();
  if (!a.error.empty()) throw Error(a.error, ErrorKind::Device);  // JS: DeviceUnavailableError
  return a.level;
}

const char* cpu_level_error() { return active().error.empty() ? nullptr : active().error.c_str(); }

const char* cpu_level_name(CpuLevel l) {
  switch (l) {
    case CpuLevel::Generic: return "generic";
    case CpuLevel::Avx2: return "avx2";
    case CpuLevel::Avx512: return "avx512";
    case CpuLevel::Avx512Bf16: return "avx512bf16";
  }
  return "generic";
}

const char* cpu_features() { return detected().features.c_str(); }

bool vec_avx2() { return cpu_at_least(CpuLevel::Avx2); }
bool vec_avx512() { return cpu_at_least(CpuLevel::Avx512); }

}  // namespace biofeg::host
