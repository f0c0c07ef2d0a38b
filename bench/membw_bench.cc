// The machine's memory read rate, the limit of every decode step: threads sum a 1 GiB buffer
// (full-width SIMD loads, 4 independent accumulators), median GB/s of 9 passes, for anonymous
// memory with 4 KiB pages, with transparent huge pages (madvise), and for a read-only mmap of a
// file from the page cache (how the weights are read) when a path is given.
// Usage: membw_bench [threads] [FILE of >= 1 GiB]
#include <fcntl.h>
#include <sys/mman.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <thread>
#include <vector>

#include "hwy/highway.h"

namespace hn = hwy::HWY_NAMESPACE;

namespace {

constexpr size_t kBytes = size_t{1} << 30;

#if HWY_ARCH_X86
float SumRange(const float* p, size_t n) {
  const hn::ScalableTag<float> d;
  const size_t L = hn::Lanes(d);
  auto a0 = hn::Zero(d), a1 = a0, a2 = a0, a3 = a0;
  for (size_t i = 0; i + 4 * L <= n; i += 4 * L) {
    a0 = hn::Add(a0, hn::LoadU(d, p + i));
    a1 = hn::Add(a1, hn::LoadU(d, p + i + L));
    a2 = hn::Add(a2, hn::LoadU(d, p + i + 2 * L));
    a3 = hn::Add(a3, hn::LoadU(d, p + i + 3 * L));
  }
  return hn::GetLane(hn::SumOfLanes(d, hn::Add(hn::Add(a0, a1), hn::Add(a2, a3))));
}
#else
// Elsewhere (e.g. aarch64 with GCC 12, where Highway's static NEON target does not inline into
// a baseline function) a plain integer sum, which the compiler vectorizes.
float SumRange(const float* p, size_t n) {
  const uint32_t* u = reinterpret_cast<const uint32_t*>(p);
  uint32_t a0 = 0, a1 = 0, a2 = 0, a3 = 0;
  for (size_t i = 0; i + 4 <= n; i += 4) {
    a0 += u[i];
    a1 += u[i + 1];
    a2 += u[i + 2];
    a3 += u[i + 3];
  }
  return static_cast<float>(a0 ^ a1 ^ a2 ^ a3);
}
#endif

double ReadRate(const uint8_t* p, int threads) {
  std::vector<double> rates;
  volatile float sink = 0;
  for (int rep = 0; rep < 9; ++rep) {
    std::vector<float> part(threads);
    const auto t0 = std::chrono::steady_clock::now();
    std::vector<std::thread> ts;
    for (int t = 0; t < threads; ++t) {
      ts.emplace_back([&, t] {
        const size_t n = kBytes / sizeof(float), b = n / threads * t, e = n / threads * (t + 1);
        part[t] = SumRange(reinterpret_cast<const float*>(p) + b, e - b);
      });
    }
    for (auto& t : ts) t.join();
    const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    for (float v : part) sink = sink + v;
    rates.push_back(kBytes / s / 1e9);
  }
  std::sort(rates.begin(), rates.end());
  return rates[rates.size() / 2];
}

uint8_t* Anonymous(bool huge) {
  void* p = std::aligned_alloc(size_t{1} << 21, kBytes);
  if (!p) return nullptr;
  if (huge) madvise(p, kBytes, MADV_HUGEPAGE);
  std::memset(p, 1, kBytes);  // fault every page in before timing
  return static_cast<uint8_t*>(p);
}

}  // namespace

int main(int argc, char** argv) {
  const int threads = argc > 1 ? std::max(1, std::atoi(argv[1])) : 2;
  std::printf("read rate, %d threads, 1 GiB, median of 9 passes\n", threads);
  for (bool huge : {false, true}) {
    uint8_t* p = Anonymous(huge);
    if (!p) return 1;
    std::printf("  anonymous, %s: %.1f GB/s\n", huge ? "huge pages (madvise)" : "4 KiB pages",
                ReadRate(p, threads));
    std::free(p);
  }
  if (argc > 2) {
    const int fd = open(argv[2], O_RDONLY);
    if (fd < 0 || lseek(fd, 0, SEEK_END) < static_cast<off_t>(kBytes)) {
      std::fprintf(stderr, "membw_bench: %s: cannot open, or smaller than 1 GiB\n", argv[2]);
      return 1;
    }
    void* m = mmap(nullptr, kBytes, PROT_READ, MAP_PRIVATE, fd, 0);
    if (m == MAP_FAILED) return 1;
    std::vector<uint8_t> page(1);
    for (size_t o = 0; o < kBytes; o += 4096) page[0] ^= static_cast<const uint8_t*>(m)[o];
    std::printf("  mmap of %s (page cache): %.1f GB/s\n", argv[2],
                ReadRate(static_cast<const uint8_t*>(m), threads));
    munmap(m, kBytes);
    close(fd);
  }
  return 0;
}
