// Block-quantized MatMul on the Qwen2-0.5B layer shapes, next to bf16.
// Usage: quant_bench [threads] [prefill_M] [hot]
// Decode (M=1): GB/s of weights streamed and the tokens/s the GEMVs alone would allow
// (24 × (q, k, v, o, gate, up, down) + lm_head). Each measurement rotates over enough copies of
// the matrix (>= 256 MB) that the weights come from DRAM, as in a real decode step.
// Prefill (M = prefill_M, default 256; 0 skips it): GFLOP/s.
// hot (third argument "hot"): the decode GEMV also on matrices small enough to stay in L2 (no
// DRAM traffic): the rate the kernel's instructions allow, to tell compute- from memory-bound.
// Q8_0 / Q4_0 run twice: on the blocks as stored ("q8_0") and on int8 decode panels ("q8_0p",
// kernels::PackDecodePanels; only where DecodePanelsActive()).
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "base/float16.h"
#include "base/thread_pool.h"
#include "kernels/ops.h"
#include "kernels/quant_blocks.h"

using namespace fastvlm;
using kernels::WType;

namespace {

// Random weights in type t (quantization of the values is not the point here: random bytes with
// sane scales stream the same).
std::vector<uint8_t> MakeWeights(WType t, int64_t N, int64_t K, std::mt19937& rng) {
  std::vector<uint8_t> w(N * kernels::RowBytes(t, K));
  std::uniform_int_distribution<int> byte(0, 255);
  for (auto& b : w) b = static_cast<uint8_t>(byte(rng));
  if (t == WType::kBF16) {
    std::normal_distribution<float> d(0, 0.02f);
    auto* p = reinterpret_cast<uint16_t*>(w.data());
    for (int64_t i = 0; i < N * K; ++i) p[i] = F32ToBF16(d(rng));
  } else {
    const int64_t bb = kernels::BlockBytes(t);
    for (int64_t b = 0; b < N * K / 32; ++b) {
      const uint16_t d = F32ToF16(0.001f), m = F32ToF16(-0.01f);
      std::memcpy(w.data() + b * bb, &d, 2);
      if (t == WType::kQ4_1) std::memcpy(w.data() + b * bb + 2, &m, 2);
    }
  }
  return w;
}

struct Variant {
  WType t;
  bool panels;
  std::string Name() const { return std::string(kernels::WTypeName(t)) + (panels ? "p" : ""); }
};

std::vector<Variant> Variants() {
  std::vector<Variant> v;
  for (WType t : {WType::kBF16, WType::kQ8_0, WType::kQ4_0, WType::kQ4_1}) {
    v.push_back({t, false});
    if ((t == WType::kQ8_0 || t == WType::kQ4_0) && kernels::DecodePanelsActive()) v.push_back({t, true});
  }
  return v;
}

double TimeMatMul(Variant var, int64_t N, int64_t K, int64_t M, ThreadPool& pool, double* bytes_out,
                  bool hot = false) {
  const WType t = var.t;
  std::mt19937 rng(1);
  const int64_t bytes = N * kernels::RowBytes(t, K);
  const int copies =
      M <= 4 && !hot ? static_cast<int>(std::max<int64_t>(1, (256ll << 20) / bytes)) : 1;
  std::vector<std::vector<uint8_t>> ws;
  ws.push_back(MakeWeights(t, N, K, rng));
  for (int c = 1; c < copies; ++c) ws.push_back(ws[0]);
  // Panels: each copy rearranged into a 64-byte-aligned buffer of its own.
  std::vector<std::vector<uint8_t>> ps(var.panels ? copies : 0);
  std::vector<const void*> pp(copies, nullptr);
  for (size_t c = 0; c < ps.size(); ++c) {
    const kernels::Matrix w{t, ws[c].data(), N, K};
    ps[c].resize(static_cast<size_t>(kernels::DecodePanelBytes(w)) + 64);
    uint8_t* p = ps[c].data() + (64 - reinterpret_cast<uintptr_t>(ps[c].data()) % 64) % 64;
    kernels::PackDecodePanels(w, 0, N / 64, p);
    pp[c] = p;
    std::vector<uint8_t>().swap(ws[c]);  // only the panels are read
  }
  std::vector<float> x(M * K), y(M * N);
  std::normal_distribution<float> d(0, 1);
  for (auto& v : x) v = d(rng);
  auto run = [&](int c) {
    kernels::Matrix w{t, var.panels ? nullptr : ws[c].data(), N, K};
    w.panels = pp[c];
    kernels::MatMul(x.data(), K, M, w, nullptr, y.data(), N, pool);
  };
  for (int c = 0; c < copies; ++c) run(c);  // warm-up, page faults
  int reps = 0;
  const auto t0 = std::chrono::steady_clock::now();
  double el = 0;
  do {
    run(reps % copies);
    ++reps;
    el = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  } while (el < 0.4 || reps < 3);
  *bytes_out = static_cast<double>(bytes);
  return el / reps;
}

}  // namespace

int main(int argc, char** argv) {
  const int threads = argc > 1 ? std::atoi(argv[1]) : 2;
  const int Mp = argc > 2 ? std::atoi(argv[2]) : 256;
  ThreadPool pool(threads);
  struct Shape { const char* name; int64_t N, K; int per_token; };
  // per_token: how many times the shape runs per decoded token (24 layers; k and v share a shape).
  const Shape shapes[] = {{"q/o 896x896", 896, 896, 48},       {"k/v 128x896", 128, 896, 48},
                          {"gate/up 4864x896", 4864, 896, 48}, {"down 896x4864", 896, 4864, 24},
                          {"lm_head 151936x896", 151936, 896, 1}};
  std::printf("target %s, quant kernel %s, %d threads\n", kernels::ActiveTargetName().c_str(),
              kernels::QuantGemvKernelName(), pool.size());
  const double kDram = 33.0;  // GB/s, measured 2-thread read on the reference machine
  std::printf("\nDecode GEMV (M=1), weights from DRAM:\n");
  for (const Variant& v : Variants()) {
    double token_s = 0, token_bytes = 0;
    for (const auto& s : shapes) {
      double bytes;
      const double per = TimeMatMul(v, s.N, s.K, 1, pool, &bytes);
      token_s += per * s.per_token;
      token_bytes += bytes * s.per_token;
      std::printf("  %-5s %-20s %8.3f ms  %6.1f GB/s (%3.0f%% of %.0f)\n", v.Name().c_str(),
                  s.name, per * 1e3, bytes / per / 1e9, 100 * bytes / per / 1e9 / kDram, kDram);
    }
    std::printf("  %-5s per token: %.0f MB in %.2f ms = %.1f GB/s -> %.1f tokens/s (GEMVs only)\n",
                v.Name().c_str(), token_bytes / 1e6, token_s * 1e3,
                token_bytes / token_s / 1e9, 1.0 / token_s);
  }
  if (argc > 3 && std::strcmp(argv[3], "hot") == 0) {
    std::printf("\nDecode GEMV (M=1), weights hot in L2 (%d threads; ~256 KB per thread):\n",
                pool.size());
    for (const Variant& v : Variants()) {
      for (int64_t K : {896, 4864}) {
        const int64_t N = std::max<int64_t>(
            64, (256 << 10) * pool.size() / kernels::RowBytes(v.t, K) / 64 * 64);
        double bytes;
        const double per = TimeMatMul(v, N, K, 1, pool, &bytes, true);
        std::printf("  %-5s %5lldx%-5lld %8.1f us  %6.1f GB/s\n", v.Name().c_str(),
                    (long long)N, (long long)K, per * 1e6, bytes / per / 1e9);
      }
    }
  }
  if (Mp <= 0) return 0;
  std::printf("\nPrefill GEMM (M=%d):\n", Mp);
  // Block types twice: the float panels (dequantized weights, bf16 / f32 GEMM) and, where the
  // CPU has it, the int8 GEMM.
  const std::string int8_name = kernels::QuantPrefillKernelName();
  for (WType t : {WType::kBF16, WType::kQ8_0, WType::kQ4_0}) {
    for (int int8 = 0; int8 < (kernels::IsBlockType(t) && int8_name.rfind("int8-", 0) == 0 ? 2 : 1);
         ++int8) {
      kernels::SetQuantPrefillInt8(int8 == 1);
      const char* path = !kernels::IsBlockType(t) ? "" : kernels::QuantPrefillKernelName();
      for (const auto& s : shapes) {
        if (s.N > 10000) continue;
        double bytes;
        const double per = TimeMatMul({t, false}, s.N, s.K, Mp, pool, &bytes);
        std::printf("  %-5s %-16s %-20s %8.3f ms  %7.1f GFLOP/s\n", kernels::WTypeName(t), path,
                    s.name, per * 1e3, 2.0 * Mp * s.N * s.K / per / 1e9);
      }
    }
  }
  kernels::SetQuantPrefillInt8(true);
}
