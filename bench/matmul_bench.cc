// Microbenchmark of kernels::MatMul on the Qwen2-0.5B / FastVLM layer shapes.
// Usage: matmul_bench [threads] [M]   prints GB/s (M<=4, memory-bound) and GFLOP/s.
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <random>
#include <vector>

#include "base/float16.h"
#include "base/thread_pool.h"
#include "kernels/ops.h"

using namespace fastvlm;

int main(int argc, char** argv) {
  const int threads = argc > 1 ? std::atoi(argv[1]) : 2;
  const int M = argc > 2 ? std::atoi(argv[2]) : 1;
  ThreadPool pool(threads);
  struct Shape { const char* name; int64_t N, K; };
  const Shape shapes[] = {{"q_proj 896x896", 896, 896},   {"k_proj 128x896", 128, 896},
                          {"gate 4864x896", 4864, 896},   {"down 896x4864", 896, 4864},
                          {"lm_head 151936x896", 151936, 896}};
  std::printf("target %s, %d threads, M=%d\n", kernels::ActiveTargetName().c_str(), pool.size(), M);
  for (const auto& s : shapes) {
    for (auto type : {kernels::WType::kBF16, kernels::WType::kF32}) {
      const size_t n = s.N * s.K;
      std::vector<uint16_t> wb(type == kernels::WType::kBF16 ? n : 0);
      std::vector<float> wf(type == kernels::WType::kF32 ? n : 0);
      std::mt19937 rng(1);
      std::normal_distribution<float> d(0, 0.02f);
      for (size_t i = 0; i < n; ++i) {
        if (type == kernels::WType::kBF16) wb[i] = F32ToBF16(d(rng)); else wf[i] = d(rng);
      }
      kernels::Matrix w{type, type == kernels::WType::kBF16 ? (const void*)wb.data() : wf.data(), s.N, s.K};
      std::vector<float> x(M * s.K, 0.5f), y(M * s.N);
      // Repeat until ~0.3 s; weights larger than the cache are streamed from DRAM each time.
      kernels::MatMul(x.data(), s.K, M, w, nullptr, y.data(), s.N, pool);
      int reps = 0;
      const auto t0 = std::chrono::steady_clock::now();
      double el = 0;
      do {
        kernels::MatMul(x.data(), s.K, M, w, nullptr, y.data(), s.N, pool);
        ++reps;
        el = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
      } while (el < 0.3);
      const double per = el / reps;
      const double bytes = double(n) * kernels::WTypeSize(type);
      std::printf("%-22s %-4s %8.3f ms  %6.1f GB/s  %7.1f GFLOP/s\n", s.name,
                  kernels::WTypeName(type), per * 1e3, bytes / per / 1e9, 2.0 * M * n / per / 1e9);
    }
  }
}
