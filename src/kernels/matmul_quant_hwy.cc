// Highway body of the block-quantized decode MatMul (SSE4, NEON, and whatever target lacks the
// x86 intrinsics bodies): int8 widened to int32, multiplied and summed per block, one horizontal
// sum per block, then the same f32 accumulation as the scalar reference (so it matches it
// in the same order). Highway 1.0.3 has no int8 dot-product op; the fast x86 paths are in
// matmul_quant_x86.cc.
#include <cstring>

#undef HWY_TARGET_INCLUDE
#define HWY_TARGET_INCLUDE "kernels/matmul_quant_hwy.cc"
#include "hwy/foreach_target.h"  // IWYU pragma: keep
#include "hwy/highway.h"

#include "base/float16.h"
#include "kernels/matmul_quant_internal.h"

HWY_BEFORE_NAMESPACE();
namespace fastvlm::kernels::HWY_NAMESPACE {
namespace hn = hwy::HWY_NAMESPACE;

HWY_INLINE int32_t Dot32(const int8_t* a, const int8_t* b) {
  const hn::ScalableTag<int32_t> di;
  const hn::Rebind<int8_t, decltype(di)> d8;
  const int64_t L = static_cast<int64_t>(hn::Lanes(di));
  if (L > 32 || 32 % L != 0) {  // cannot happen with the targets compiled; keeps it correct
    int32_t s = 0;
    for (int i = 0; i < 32; ++i) s += static_cast<int32_t>(a[i]) * b[i];
    return s;
  }
  auto acc = hn::Zero(di);
  for (int64_t k = 0; k < 32; k += L) {
    const auto va = hn::PromoteTo(di, hn::LoadU(d8, a + k));
    const auto vb = hn::PromoteTo(di, hn::LoadU(d8, b + k));
    acc = hn::Add(acc, hn::Mul(va, vb));
  }
  return hn::GetLane(hn::SumOfLanes(di, acc));
}

void QuantRowsImpl(const BlockQ8X* xq, int M, const Matrix& w, int64_t n0, int64_t n1,
                   const float* bias, float* y, int64_t ldy) {
  const int64_t nb = w.cols / kQBlock, bb = BlockBytes(w.type);
  const WType t = w.type;
  for (int64_t n = n0; n < n1; ++n) {
    const uint8_t* r = w.Row(n);
    float acc[4] = {0, 0, 0, 0};
    for (int64_t b = 0; b < nb; ++b) {
      const uint8_t* blk = r + b * bb;
      uint16_t dh, mh = 0;
      std::memcpy(&dh, blk, 2);
      const float dw = F16ToF32(dh);
      alignas(32) int8_t wq[32];
      if (t == WType::kQ8_0) {
        std::memcpy(wq, blk + 2, 32);
      } else {
        const uint8_t* qs = blk + (t == WType::kQ4_1 ? 4 : 2);
        const int off = t == WType::kQ4_0 ? 8 : 0;
        for (int i = 0; i < 16; ++i) {
          wq[i] = static_cast<int8_t>((qs[i] & 15) - off);
          wq[i + 16] = static_cast<int8_t>((qs[i] >> 4) - off);
        }
        if (t == WType::kQ4_1) std::memcpy(&mh, blk + 2, 2);
      }
      for (int i = 0; i < M; ++i) {
        const BlockQ8X& xb = xq[i * nb + b];
        acc[i] += dw * xb.d * static_cast<float>(Dot32(wq, xb.qs));
        if (t == WType::kQ4_1) acc[i] += F16ToF32(mh) * (xb.d * static_cast<float>(xb.sum));
      }
    }
    for (int i = 0; i < M; ++i) y[i * ldy + n] = acc[i] + (bias ? bias[n] : 0.0f);
  }
}

}  // namespace fastvlm::kernels::HWY_NAMESPACE
HWY_AFTER_NAMESPACE();

#if HWY_ONCE
namespace fastvlm::kernels {
HWY_EXPORT(QuantRowsImpl);

void QuantRowsHwy(const BlockQ8X* xq, int M, const Matrix& w, int64_t n0, int64_t n1,
                  const float* bias, float* y, int64_t ldy) {
  HWY_DYNAMIC_DISPATCH(QuantRowsImpl)(xq, M, w, n0, n1, bias, y, ldy);
}
}  // namespace fastvlm::kernels
#endif  // HWY_ONCE
