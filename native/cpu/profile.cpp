#include "profile.h"

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <mutex>
#include <tuple>
#include <unordered_map>

#include "../op_table.h"

namespace biofeg::host {
namespace {

std::mutex g_mu;
std::unordered_map<std::string, ProfileEntry>& table() {
  static auto* t = new std::unordered_map<std::string, ProfileEntry>();  // leaked: used at exit
  return *t;
}
using Clock = std::chrono::steady_clock;
double since(Clock::time_point t0) { return std::chrono::duration<double, std::nano>(Clock::now() - t0).count(); }

// Times every entry of the wrapped table under the op's name; GEMM per shape, attention with
// its FLOPs.
struct Timed {
  template <Op O, typename... A>
  static void run(const Backend& inner, A... a) {
    const auto t0 = Clock::now();
    invoke<O>(inner, a...);
    if constexpr (O == Op::gemm) {
      const GemmDesc& g = std::get<0>(std::tie(a...));
      char key[128];
      std::snprintf(key, sizeof key, "gemm %lldx%lldx%lld%s%s%s%s%s", static_cast<long long>(g.M),
                    static_cast<long long>(g.N), static_cast<long long>(g.K), g.transA ? " tA" : "",
                    g.transB ? " tB" : "", g.batch > 1 ? " batched" : "", g.epilogue == Epilogue::Gelu ? " gelu" : "",
                    g.beta != 0 ? " acc" : "");
      profile_add(key, since(t0), 2.0 * g.M * g.N * g.K * g.batch);
    } else if constexpr (O == Op::attention_fwd || O == Op::attention_bwd) {
      const AttnDesc& d = std::get<0>(std::tie(a...));
      const double f = 4.0 * d.B * d.H * d.T * d.T * d.D;
      profile_add(op_info(O).name, since(t0), O == Op::attention_bwd ? 2.0 * f : f);
    } else {
      profile_add(op_info(O).name, since(t0), 0);
    }
  }
};

void dump_at_exit() {
  const auto rows = profile_snapshot();
  if (rows.empty()) return;
  double total = 0;
  for (const auto& r : rows) total += r.ns;
  std::fprintf(stderr, "biofeg profile (fast CPU backend, wall time per op):\n");
  for (const auto& r : rows)
    std::fprintf(stderr, "  %9.2f ms %5.1f%% %7lld calls%s  %s\n", r.ns / 1e6, 100.0 * r.ns / total,
                 static_cast<long long>(r.calls),
                 r.flops > 0 ? (" " + std::to_string(static_cast<int>(r.flops / r.ns)) + " GFLOP/s").c_str() : "",
                 r.op.c_str());
}

}  // namespace

bool profile_enabled() {
  static const bool on = [] {
    const char* e = std::getenv("BIOFEG_PROFILE");
    const bool v = e && *e && std::string(e) != "0";
    if (v && std::getenv("BIOFEG_PROFILE_DUMP")) std::atexit(dump_at_exit);
    return v;
  }();
  return on;
}

// Called once, from cpu_backend()'s static initialisation: threads that get the table through
// it see the wrapper's inner table set. The counters behind profile_add are guarded by g_mu, so ops profiled on
// several threads at once (JS workers, async workers, pool tasks) add up safely.
const Backend& profiled_backend(const Backend& inner) {
  static const Backend p = Wrapped<Timed>::make(inner);
  return p;
}

void profile_add(const std::string& op, double ns, double flops) {
  std::lock_guard<std::mutex> lk(g_mu);
  ProfileEntry& e = table()[op];
  if (e.op.empty()) e.op = op;
  e.ns += ns;
  e.calls += 1;
  e.flops += flops;
}

std::vector<ProfileEntry> profile_snapshot() {
  std::vector<ProfileEntry> v;
  {
    std::lock_guard<std::mutex> lk(g_mu);
    for (const auto& kv : table()) v.push_back(kv.second);
  }
  std::sort(v.begin(), v.end(), [](const ProfileEntry& a, const ProfileEntry& b) { return a.ns > b.ns; });
  return v;
}

void profile_reset() {
  std::lock_guard<std::mutex> lk(g_mu);
  table().clear();
}

}  // namespace biofeg::host
