// Run-time target selection: FASTVLM_SIMD forces a lower target (or the scalar reference) for
// tests and bug reports.
#include <algorithm>
#include <atomic>
#include <cctype>
#include <cstdio>
#include <cstdlib>

#include "hwy/highway.h"
#include "hwy/targets.h"
#include "kernels/ops.h"

namespace fastvlm::kernels {

namespace {
bool g_use_reference = false;
bool g_bf16_allowed = true;  // cleared when a target without AVX-512 is forced
bool g_bf16_enabled = true;  // SetBF16DotProduct

int64_t RealSupportedTargets() {
  // Captured before any SetSupportedTargetsForTest mock.
  static const int64_t real = hwy::SupportedTargets() & HWY_TARGETS;
  return real;
}

std::string Lower(std::string s) {
  std::transform(s.begin(), s.end(), s.begin(), [](unsigned char c) { return std::tolower(c); });
  return s;
}

struct EnvInit {
  EnvInit() {
    RealSupportedTargets();
    if (const char* env = std::getenv("FASTVLM_SIMD"); env && *env) {
      if (!ForceTarget(env)) {
        std::fprintf(stderr, "fastvlm: FASTVLM_SIMD=%s is not available on this CPU/build; "
                             "available:", env);
        for (const auto& t : AvailableTargets()) std::fprintf(stderr, " %s", t.c_str());
        std::fprintf(stderr, ". Using the best one.\n");
      }
    }
  }
};
const EnvInit g_env_init;
}  // namespace

bool UseReference() { return g_use_reference; }

// hwy::SupportedTargets() & HWY_TARGETS, cached: ops that pick an intrinsics body per call ask
// for it on every call (a measurable cost in the decode GEMV). ForceTarget refreshes it.
static std::atomic<int64_t> g_active_targets{0};
int64_t ActiveTargetsMask() {
  int64_t t = g_active_targets.load(std::memory_order_relaxed);
  if (t == 0) {
    t = hwy::SupportedTargets() & HWY_TARGETS;
    g_active_targets.store(t, std::memory_order_relaxed);
  }
  return t;
}

bool CpuHasAvx512Bf16();  // matmul_bf16_x86.cc

bool HasBF16DotProduct() {
  return !g_use_reference && g_bf16_allowed && g_bf16_enabled && CpuHasAvx512Bf16();
}

void SetBF16DotProduct(bool allowed) { g_bf16_enabled = allowed; }

// Not disabled by SetBF16DotProduct(false) (`--exact`): matmul_quant.cc also reads it.
bool ActivationRoundingEnabled() { return g_bf16_enabled; }

std::string ActiveTargetName() {
  if (g_use_reference) return "ref";
  const int64_t t = hwy::SupportedTargets() & HWY_TARGETS;
  if (t == 0) return "none";
  std::string name = hwy::TargetName(t & -t);
  if (HasBF16DotProduct()) name += "+BF16";
  if (UseAmx()) name += "+AMX";
  return name;
}

std::vector<std::string> AvailableTargets() {
  std::vector<std::string> out;
  for (int64_t t = RealSupportedTargets(); t != 0; t &= t - 1) out.push_back(hwy::TargetName(t & -t));
  out.push_back("ref");
  return out;
}

bool ForceTarget(const std::string& name_in) {
  const std::string name = Lower(name_in);
  if (name == "ref" || name == "scalar") {
    g_use_reference = true;
    return true;
  }
  int64_t chosen = 0;
  const int64_t real = RealSupportedTargets();
  if (name == "best" || name == "auto") {
    chosen = real;
  } else {
    for (int64_t t = real; t != 0; t &= t - 1) {
      const int64_t bit = t & -t;
      const std::string tn = Lower(hwy::TargetName(bit));
      if (tn == name || (name == "avx512" && (tn == "avx3" || tn == "avx3_dl") && chosen == 0)) {
        chosen = bit;
        if (tn == name) break;
      }
    }
  }
  if (chosen == 0) return false;
  g_use_reference = false;
  hwy::SetSupportedTargetsForTest(chosen == real ? 0 : chosen);
  g_active_targets.store(hwy::SupportedTargets() & HWY_TARGETS, std::memory_order_relaxed);
  const int64_t best = chosen & -chosen;
#if HWY_ARCH_X86
  g_bf16_allowed = (best == HWY_AVX3 || best == HWY_AVX3_DL);
#else
  g_bf16_allowed = false;
  (void)best;
#endif
  return true;
}

}  // namespace fastvlm::kernels
