// The FMA peak driver (peak.h): times the chains of one width on every pool thread at once.
#include "peak.h"

#include <algorithm>
#include <atomic>
#include <chrono>

#include "../../core/threadpool.h"
#include "cpu_level.h"

namespace biofeg::host {

double fma_peak_gflops(int lanes, double seconds) {
  float (*chains)(int64_t) = nullptr;
  const CpuLevel top = cpu_detected_level();
  if (lanes == 8 && top >= CpuLevel::Avx2) chains = fma_chains_avx2;
  if (lanes == 16 && top >= CpuLevel::Avx512) chains = fma_chains_avx512;
  if (!chains || seconds <= 0) return 0.0;
  const int threads = num_threads();
  std::atomic<float> sink{0.0f};
  auto run = [&](int64_t iters) {
    const auto t0 = std::chrono::steady_clock::now();
    run_tasks(threads, [&](int64_t) { sink.store(chains(iters), std::memory_order_relaxed); });
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  };
  int64_t iters = 1 << 16;  // calibrate to about `seconds` per run
  for (double t = run(iters); t < seconds / 4; t = run(iters)) iters *= 2;
  double best = 1e30;
  for (int r = 0; r < 5; ++r) best = std::min(best, run(iters));
  return static_cast<double>(iters) * 16 * lanes * 2 * threads / best / 1e9;
}

}  // namespace biofeg::host
