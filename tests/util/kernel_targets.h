// Shared by the kernel tests: a fixture that runs each test once per compiled SIMD target
// (forced one by one, restored afterwards), and the rounding of random f32 values to a stored
// 16-bit weight type so the f32 copy holds exactly what the kernels read.
#pragma once

#include <gtest/gtest.h>

#include <cstdint>
#include <string>
#include <vector>

#include "base/float16.h"
#include "kernels/ops.h"

namespace fastvlm::testing {

class OnEveryTarget : public ::testing::TestWithParam<std::string> {
 protected:
  void SetUp() override { ASSERT_TRUE(kernels::ForceTarget(GetParam())) << GetParam(); }
  void TearDown() override { kernels::ForceTarget("best"); }
};

// For bf16 / f16: fills `half` with the stored values and rewrites `f32` to what they decode to.
inline void RoundToStored(kernels::WType t, std::vector<float>* f32, std::vector<uint16_t>* half) {
  if (t == kernels::WType::kF32) return;
  const bool bf = t == kernels::WType::kBF16;
  half->resize(f32->size());
  for (size_t i = 0; i < f32->size(); ++i) {
    (*half)[i] = bf ? F32ToBF16((*f32)[i]) : F32ToF16((*f32)[i]);
    (*f32)[i] = bf ? BF16ToF32((*half)[i]) : F16ToF32((*half)[i]);
  }
}

}  // namespace fastvlm::testing
