// A persistent thread pool. It is passed explicitly to whatever needs it (no globals), so tests
// can run single-threaded and a server can own several engines on disjoint cores.
//
// Run() hands out task indices through an atomic counter; the calling thread works too. Workers
// spin briefly between jobs before sleeping, because a decode step issues ~170 parallel regions
// of tens of microseconds each and a futex wake-up per region would cost a large fraction of that.
#pragma once

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <mutex>
#include <thread>
#include <type_traits>
#include <vector>

namespace fastvlm {

class ThreadPool {
 public:
  // num_threads counts the calling thread: ThreadPool(1) runs everything inline.
  explicit ThreadPool(int num_threads);
  ~ThreadPool();
  ThreadPool(const ThreadPool&) = delete;
  ThreadPool& operator=(const ThreadPool&) = delete;

  int size() const { return num_threads_; }

  // Calls f(task, thread) for every task in [0, num_tasks); thread is in [0, size()).
  // Returns when all tasks are done. Not reentrant: f must not call Run on the same pool.
  template <class F>
  void Run(int64_t num_tasks, F&& f) {
    if (num_tasks <= 0) return;
    if (num_threads_ == 1 || num_tasks == 1) {
      for (int64_t t = 0; t < num_tasks; ++t) f(t, 0);
      return;
    }
    using Fn = std::remove_reference_t<F>;
    RunImpl(num_tasks, [](void* ctx, int64_t task, int thread) { (*static_cast<Fn*>(ctx))(task, thread); },
            const_cast<void*>(static_cast<const void*>(&f)));
  }

  // Splits [0, n) into about 8 chunks per thread (each a multiple of `align`, at least min_chunk)
  // handed out dynamically, and calls f(begin, end, thread) for each: threads that run faster
  // (the other core is busy less often) take more chunks instead of waiting for the slowest.
  template <class F>
  void ParallelChunks(int64_t n, int64_t align, int64_t min_chunk, F&& f) {
    if (n <= 0) return;
    int64_t chunk = std::max(min_chunk, n / (8 * static_cast<int64_t>(num_threads_)));
    chunk = (chunk + align - 1) / align * align;
    const int64_t chunks = (n + chunk - 1) / chunk;
    Run(chunks, [&](int64_t c, int thread) { f(c * chunk, std::min(n, (c + 1) * chunk), thread); });
  }

 private:
  using Trampoline = void (*)(void*, int64_t, int);
  void RunImpl(int64_t num_tasks, Trampoline fn, void* ctx);
  void WorkerLoop(int thread_index);
  void DoTasks(int thread_index);

  const int num_threads_;
  std::vector<std::thread> workers_;

  // Current job.
  Trampoline fn_ = nullptr;
  void* ctx_ = nullptr;
  int64_t num_tasks_ = 0;
  std::atomic<int64_t> next_task_{0};
  std::atomic<int> busy_workers_{0};
  std::atomic<uint64_t> generation_{0};
  std::atomic<bool> stop_{false};

  std::mutex mu_;
  std::condition_variable cv_;
};

}  // namespace fastvlm
