// Block layouts of the quantized weight formats, bit-compatible with ggml (llama.cpp
// ggml-common.h: block_q8_0, block_q4_0, block_q4_1), so a GGUF tensor is used as stored.
// Shared by kernels/ (which multiplies with them) and quant/ (which produces them); plain data,
// no code, so kernels does not depend on quant.
#pragma once

#include <cstdint>

namespace fastvlm::kernels {

// Elements per block in every format here (divides Qwen2's 896 and 4864).
inline constexpr int64_t kQBlock = 32;

// value[i] = d · qs[i]
struct BlockQ8_0 {
  uint16_t d;  // f16 scale
  int8_t qs[32];
};
// value[i] = d · (q[i] − 8); q[i] = qs[i] & 15 for i < 16, qs[i − 16] >> 4 for i >= 16.
struct BlockQ4_0 {
  uint16_t d;  // f16 scale
  uint8_t qs[16];
};
// value[i] = d · q[i] + m, nibbles as in BlockQ4_0.
struct BlockQ4_1 {
  uint16_t d;  // f16 scale
  uint16_t m;  // f16 minimum
  uint8_t qs[16];
};
static_assert(sizeof(BlockQ8_0) == 34 && sizeof(BlockQ4_0) == 18 && sizeof(BlockQ4_1) == 20,
              "ggml block sizes");

// Activations quantized for the integer dot products (our own format, never stored in files):
// value[i] ≈ d · qs[i] with qs in [−127, 127] (never −128, so the x86 sign trick cannot overflow),
// sum = Σ qs (for the Q4_0 offset and the Q4_1 minimum).
struct BlockQ8X {
  float d;
  int32_t sum;
  int8_t qs[32];
};
static_assert(sizeof(BlockQ8X) == 40, "BlockQ8X layout");

}  // namespace fastvlm::kernels
