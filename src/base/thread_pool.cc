#include "base/thread_pool.h"

#include <algorithm>
#include <cstdlib>

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#define FVLM_PAUSE() _mm_pause()
#elif defined(__aarch64__)
#define FVLM_PAUSE() asm volatile("yield")
#else
#define FVLM_PAUSE() ((void)0)
#endif

namespace fastvlm {

namespace {
// About 50-100 µs of spinning before a worker goes to sleep.
constexpr int kSpinIterations = 20000;
}  // namespace

namespace {
// FASTVLM_MAX_THREADS caps every pool. The aarch64 tests run under qemu-user, which in our CI
// sandbox hangs in pthread_create (qemu 7.2); they run single-threaded there. Threading itself is
// tested natively, including under the sanitizers.
int CapThreads(int n) {
  n = std::max(1, n);
  if (const char* env = std::getenv("FASTVLM_MAX_THREADS"); env && *env) {
    const int cap = std::atoi(env);
    if (cap >= 1) n = std::min(n, cap);
  }
  return n;
}
}  // namespace

ThreadPool::ThreadPool(int num_threads) : num_threads_(CapThreads(num_threads)) {
  workers_.reserve(num_threads_ - 1);
  for (int i = 1; i < num_threads_; ++i) workers_.emplace_back([this, i] { WorkerLoop(i); });
}

ThreadPool::~ThreadPool() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stop_.store(true, std::memory_order_release);
    generation_.fetch_add(1, std::memory_order_acq_rel);
  }
  cv_.notify_all();
  for (auto& t : workers_) t.join();
}

void ThreadPool::DoTasks(int thread_index) {
  for (;;) {
    const int64_t t = next_task_.fetch_add(1, std::memory_order_relaxed);
    if (t >= num_tasks_) break;
    fn_(ctx_, t, thread_index);
  }
}

void ThreadPool::RunImpl(int64_t num_tasks, Trampoline fn, void* ctx) {
  fn_ = fn;
  ctx_ = ctx;
  num_tasks_ = num_tasks;
  next_task_.store(0, std::memory_order_relaxed);
  busy_workers_.store(num_threads_ - 1, std::memory_order_relaxed);
  {
    // The lock orders the job fields before the generation bump for sleeping workers; spinning
    // workers see them through the release/acquire pair on generation_.
    std::lock_guard<std::mutex> lock(mu_);
    generation_.fetch_add(1, std::memory_order_acq_rel);
  }
  cv_.notify_all();
  DoTasks(0);
  // Workers finish their last task; if the machine is oversubscribed (more threads than free
  // cores) a worker may be descheduled, so stop burning the core it needs after a short spin.
  for (int spin = 0; busy_workers_.load(std::memory_order_acquire) != 0; ++spin) {
    if (spin < kSpinIterations) {
      FVLM_PAUSE();
    } else {
      std::this_thread::yield();
    }
  }
}

void ThreadPool::WorkerLoop(int thread_index) {
  uint64_t seen = 0;
  for (;;) {
    uint64_t gen = generation_.load(std::memory_order_acquire);
    for (int spin = 0; gen == seen && spin < kSpinIterations; ++spin) {
      FVLM_PAUSE();
      if ((spin & 1023) == 1023) std::this_thread::yield();  // let a descheduled peer run
      gen = generation_.load(std::memory_order_acquire);
    }
    if (gen == seen) {
      std::unique_lock<std::mutex> lock(mu_);
      cv_.wait(lock, [&] { return generation_.load(std::memory_order_acquire) != seen; });
      gen = generation_.load(std::memory_order_acquire);
    }
    seen = gen;
    if (stop_.load(std::memory_order_acquire)) return;
    DoTasks(thread_index);
    busy_workers_.fetch_sub(1, std::memory_order_acq_rel);
  }
}

}  // namespace fastvlm
