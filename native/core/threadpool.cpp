#include "threadpool.h"

#include <atomic>
#include <condition_variable>
#include <cstdlib>
#include <exception>
#include <mutex>
#include <thread>
#include <vector>

namespace biofeg {

namespace {

// Threads that are running pool tasks right now: the pool's own workers always, a caller while
// it works inside run(). A nested run() from such a thread stays serial without touching busy_
// (try_lock on a mutex the thread already owns is undefined behaviour).
thread_local bool t_in_pool = false;

// Tasks are claimed from one 64-bit word: the run's generation (high half) and the next task
// index (low half), so a worker that wakes late can never take a task of a later run. The
// caller waits for the tasks to be DONE, not for every worker to check in: a worker that the
// OS has not scheduled yet (the machine is shared) no longer stalls the run. Idle workers
// poll briefly before sleeping, so back-to-back small ops do not pay a futex wake each.
//
// Several host threads may call in at once (the JS main thread, worker_threads Workers, the
// addon's async workers): busy_ admits one run at a time; the others run their tasks serially
// on their own thread (try_lock, never a wait), nested calls likewise. resize() waits for the
// run in flight. A task that throws does not unwind the caller while workers still use its
// stack: the first exception is kept, the remaining tasks are skipped, and run() rethrows it
// once every claimed task has finished.
class Pool {
 public:
  ~Pool() { resize(1); }

  int size() const { return n_.load(std::memory_order_relaxed); }

  void resize(int n) {
    std::lock_guard<std::mutex> busy(busy_);
    {
      std::lock_guard<std::mutex> lk(m_);
      stop_ = true;
    }
    cv_.notify_all();
    for (auto& t : workers_) t.join();
    workers_.clear();
    stop_ = false;
    const int m = n < 1 ? 1 : n;
    for (int i = 1; i < m; ++i) workers_.emplace_back([this] { loop(); });
    n_.store(m, std::memory_order_relaxed);
  }

  void run(int64_t ntasks, const std::function<void(int64_t)>& fn) {
    if (t_in_pool || ntasks <= 1 || ntasks >= (int64_t(1) << 31)) return serial(ntasks, fn);
    std::unique_lock<std::mutex> busy(busy_, std::try_to_lock);
    if (!busy.owns_lock() || workers_.empty()) return serial(ntasks, fn);  // another thread's run
    uint32_t g;
    {
      std::lock_guard<std::mutex> lk(m_);
      fn_ = &fn;
      ntasks_ = ntasks;
      done_.store(0);
      failed_.store(false, std::memory_order_relaxed);
      error_ = nullptr;
      g = static_cast<uint32_t>(gen_.load() + 1);
      claim_.store(static_cast<uint64_t>(g) << 32);
      gen_.store(g);
    }
    cv_.notify_all();
    t_in_pool = true;
    work(g, ntasks, &fn);
    t_in_pool = false;
    for (int s = 0; s < kSpin && done_.load(std::memory_order_acquire) < ntasks; ++s) relax();
    if (done_.load(std::memory_order_acquire) < ntasks) {
      std::unique_lock<std::mutex> lk(m_);
      done_cv_.wait(lk, [&] { return done_.load() >= ntasks; });
    }
    if (failed_.load(std::memory_order_acquire)) {
      std::exception_ptr e;
      {
        std::lock_guard<std::mutex> lk(m_);
        std::swap(e, error_);
      }
      std::rethrow_exception(e);
    }
  }

 private:
  static constexpr int kSpin = 4000;
  static void relax() {
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#elif defined(__aarch64__) || defined(__arm__)
    __asm__ __volatile__("yield");
#endif
  }

  // Nested, concurrent or trivial runs: every task on the calling thread, in order.
  static void serial(int64_t ntasks, const std::function<void(int64_t)>& fn) {
    for (int64_t i = 0; i < ntasks; ++i) fn(i);
  }

  void work(uint32_t g, int64_t ntasks, const std::function<void(int64_t)>* fn) {
    for (;;) {
      uint64_t v = claim_.load();
      if (static_cast<uint32_t>(v >> 32) != g) return;
      const int64_t i = static_cast<int64_t>(v & 0xffffffffu);
      if (i >= ntasks) return;
      if (!claim_.compare_exchange_weak(v, v + 1)) continue;
      if (!failed_.load(std::memory_order_relaxed)) {
        try {
          (*fn)(i);
        } catch (...) {
          std::lock_guard<std::mutex> lk(m_);
          if (!error_) error_ = std::current_exception();
          failed_.store(true, std::memory_order_release);
        }
      }
      if (done_.fetch_add(1) + 1 == ntasks) {
        std::lock_guard<std::mutex> lk(m_);
        done_cv_.notify_one();
      }
    }
  }

  void loop() {
    t_in_pool = true;
    uint32_t seen = 0;
    for (;;) {
      for (int s = 0; s < kSpin && gen_.load(std::memory_order_relaxed) == seen; ++s) relax();
      uint32_t g;
      int64_t nt;
      const std::function<void(int64_t)>* fn;
      {
        std::unique_lock<std::mutex> lk(m_);
        cv_.wait(lk, [&] { return stop_ || gen_.load() != seen; });
        if (stop_) return;
        g = seen = gen_.load();
        nt = ntasks_;
        fn = fn_;
      }
      work(g, nt, fn);
    }
  }

  std::atomic<int> n_{1};
  std::vector<std::thread> workers_;
  std::mutex busy_, m_;
  std::condition_variable cv_, done_cv_;
  const std::function<void(int64_t)>* fn_ = nullptr;
  int64_t ntasks_ = 0;
  std::atomic<uint64_t> claim_{0};
  std::atomic<int64_t> done_{0};
  std::atomic<uint32_t> gen_{0};
  std::atomic<bool> failed_{false};  // a task of the current run threw: skip the rest
  std::exception_ptr error_;         // its exception (guarded by m_)
  bool stop_ = false;
};

int default_threads() {
  if (const char* e = std::getenv("BIOFEG_THREADS")) {
    const int n = std::atoi(e);
    if (n > 0) return n;
  }
  const unsigned h = std::thread::hardware_concurrency();
  return h == 0 ? 1 : static_cast<int>(h);
}

Pool& pool() {
  static Pool* p = [] {
    auto* q = new Pool();  // leaked on purpose: no join at static destruction time
    q->resize(default_threads());
    return q;
  }();
  return *p;
}

}  // namespace

void set_num_threads(int n) { pool().resize(n <= 0 ? default_threads() : n); }
int num_threads() { return pool().size(); }
void run_tasks(int64_t ntasks, const std::function<void(int64_t)>& fn) { pool().run(ntasks, fn); }

}  // namespace biofeg
