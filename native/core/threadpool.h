// A small persistent thread pool, shared by the whole process. The caller's thread works too;
// nested or concurrent calls (JS worker threads, an AsyncWorker while the main thread
// computes) run their tasks serially on their own thread instead of waiting. Safe to call from
// any number of threads at once; an exception thrown by a task is rethrown by the caller.
#pragma once
#include <cstdint>
#include <functional>

namespace biofeg {

void set_num_threads(int n);  // n <= 0: hardware concurrency (or BIOFEG_THREADS)
int num_threads();

// Runs fn(task) for task in [0, ntasks) across the pool.
void run_tasks(int64_t ntasks, const std::function<void(int64_t)>& fn);

// fn(lo, hi) over [0, n) in chunks of at least `grain`.
template <typename F>
void parallel_for(int64_t n, int64_t grain, F&& fn) {
  if (n <= 0) return;
  const int64_t nt = num_threads();
  int64_t chunks = grain > 0 ? (n + grain - 1) / grain : nt;
  if (chunks > nt * 4) chunks = nt * 4;
  if (chunks <= 1 || nt <= 1) {
    fn(int64_t(0), n);
    return;
  }
  const int64_t step = (n + chunks - 1) / chunks;
  run_tasks(chunks, [&](int64_t c) {
    const int64_t lo = c * step, hi = lo + step < n ? lo + step : n;
    if (lo < hi) fn(lo, hi);
  });
}

}  // namespace biofeg
