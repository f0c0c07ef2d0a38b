#pragma once
#include <chrono>

namespace fastvlm {
// Monotonic wall-clock seconds.
inline double NowSeconds() {
  using Clock = std::chrono::steady_clock;
  return std::chrono::duration<double>(Clock::now().time_since_epoch()).count();
}
}  // namespace fastvlm
