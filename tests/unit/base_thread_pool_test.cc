#include "base/thread_pool.h"

#include <gtest/gtest.h>

#include <atomic>
#include <vector>

namespace fastvlm {
namespace {

TEST(ThreadPool, RunsEveryTaskExactlyOnce) {
  for (int threads : {1, 2, 3, 8}) {
    ThreadPool pool(threads);
    for (int64_t n : {0, 1, 2, 7, 1000}) {
      std::vector<std::atomic<int>> hits(n);
      std::atomic<int> bad_thread{0};
      pool.Run(n, [&](int64_t t, int thread) {
        hits[t].fetch_add(1);
        if (thread < 0 || thread >= pool.size()) bad_thread.fetch_add(1);
      });
      for (int64_t i = 0; i < n; ++i) EXPECT_EQ(hits[i].load(), 1) << "threads=" << threads;
      EXPECT_LE(pool.size(), threads);
      EXPECT_EQ(bad_thread.load(), 0);
    }
  }
}

TEST(ThreadPool, ManyShortJobsBackToBack) {
  ThreadPool pool(2);
  int64_t total = 0;
  std::vector<int64_t> partial(2);
  for (int job = 0; job < 2000; ++job) {
    partial[0] = partial[1] = 0;
    pool.Run(4, [&](int64_t t, int thread) { partial[thread] += t + 1; });
    total += partial[0] + partial[1];
  }
  EXPECT_EQ(total, 2000 * 10);
}

TEST(ThreadPool, ParallelChunksCoverWithAlignment) {
  ThreadPool pool(2);
  for (int64_t n : {1, 15, 16, 100, 1000, 151936}) {
    std::vector<int> hit(n, 0);
    pool.ParallelChunks(n, 16, 64, [&](int64_t b, int64_t e, int) {
      EXPECT_EQ(b % 16, 0);
      EXPECT_LT(b, e);
      for (int64_t i = b; i < e; ++i) hit[i]++;
    });
    for (int v : hit) ASSERT_EQ(v, 1) << n;
  }
}

}  // namespace
}  // namespace fastvlm
