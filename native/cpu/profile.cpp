#include "profile.h"

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <mutex>
#include <unordered_map>

namespace biofeg::host {
namespace {

std::mutex g_mu;
std::unordered_map<std::string, ProfileEntry>& table() {
  static auto* t = new std::unordered_map<std::string, ProfileEntry>();  // leaked: used at exit
  return *t;
}
const Backend* g_inner = nullptr;

using Clock = std::chrono::steady_clock;
double since(Clock::time_point t0) { return std::chrono::duration<double, std::nano>(Clock::now() - t0).count(); }

// One wrapper per table entry: times (inner.*M)(args...) under the entry's name.
template <typename T, T Backend::*M, typename Name>
struct Wrap;
template <typename... A, void (*Backend::*M)(A...), typename Name>
struct Wrap<void (*)(A...), M, Name> {
  static void call(A... a) {
    const auto t0 = Clock::now();
    (g_inner->*M)(a...);
    profile_add(Name::v, since(t0), 0);
  }
};

void gemm_timed(const GemmDesc& g) {
  const auto t0 = Clock::now();
  g_inner->gemm(g);
  char key[128];
  std::snprintf(key, sizeof key, "gemm %lldx%lldx%lld%s%s%s%s%s", static_cast<long long>(g.M),
                static_cast<long long>(g.N), static_cast<long long>(g.K), g.transA ? " tA" : "", g.transB ? " tB" : "",
                g.batch > 1 ? " batched" : "", g.epilogue == Epilogue::Gelu ? " gelu" : "", g.beta != 0 ? " acc" : "");
  profile_add(key, since(t0), 2.0 * g.M * g.N * g.K * g.batch);
}
template <bool Bwd>
void attn_timed(const AttnDesc& d) {
  const auto t0 = Clock::now();
  (Bwd ? g_inner->attention_bwd : g_inner->attention_fwd)(d);
  const double f = 4.0 * d.B * d.H * d.T * d.T * d.D;
  profile_add(Bwd ? "attention_bwd" : "attention_fwd", since(t0), Bwd ? 2.0 * f : f);
}

#define BIOFEG_PROF_NAME(op) \
  struct Name_##op {         \
    static constexpr const char* v = #op; \
  };
#define BIOFEG_PROF_OPS(X)                                                                                        \
  X(bias_grad) X(fill) X(cast) X(add) X(axpy) X(scale) X(gelu_fwd) X(gelu_bwd) X(relu_fwd) X(relu_bwd)           \
  X(leaky_relu_fwd) X(leaky_relu_bwd) X(tanh_fwd) X(tanh_bwd) X(dropout_fwd) X(dropout_bwd) X(layernorm_fwd)     \
  X(layernorm_bwd) X(embedding_fwd) X(embedding_bwd) X(concat_fwd) X(concat_bwd) X(xent_fwd) X(xent_bwd)         \
  X(mse_fwd) X(mse_bwd) X(row_axpy) X(grad_penalty) X(adamw) X(sumsq) X(topk)
BIOFEG_PROF_OPS(BIOFEG_PROF_NAME)

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
// it see g_inner set. The counters behind profile_add are guarded by g_mu, so ops profiled on
// several threads at once (JS workers, async workers, pool tasks) add up safely.
const Backend& profiled_backend(const Backend& inner) {
  static const Backend p = [&] {
    g_inner = &inner;
    Backend b = inner;
#define BIOFEG_PROF_WRAP(op) b.op = Wrap<decltype(Backend::op), &Backend::op, Name_##op>::call;
    BIOFEG_PROF_OPS(BIOFEG_PROF_WRAP)
    b.gemm = gemm_timed;
    b.attention_fwd = attn_timed<false>;
    b.attention_bwd = attn_timed<true>;
    return b;
  }();
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
