// Block quantization of weights in ggml's Q8_0 / Q4_0 / Q4_1 formats (kernels/quant_blocks.h),
// producing the same bytes as llama.cpp's quantize_row_*_ref (checked against the gguf Python
// package by tests/unit/quant_formats_test.cc), and accuracy metrics for a quantized tensor.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "io/safetensors.h"  // DType
#include "kernels/ops.h"  // WType, RowBytes, UnpackDecodePanels
#include "kernels/quant_blocks.h"

namespace fastvlm::quant {

using kernels::WType;

// x[0, n) → RowBytes(t, n) bytes at dst; n a multiple of 32, t a block type.
//   Q8_0: d = amax/127, q = round-half-away(x/d).
//   Q4_0: d = (the value of largest magnitude, with its sign)/−8, q = min(15, trunc(x/d + 8.5)).
//   Q4_1: d = (max − min)/15, m = min, q = min(15, trunc((x − m)/d + 0.5)).
// Scales are stored as f16 (round to nearest even); q is computed with the f32 scale, as ggml does.
void QuantizeRow(WType t, const float* x, int64_t n, void* dst);
// f32 row → RowBytes(t, n) bytes of any type: f32 copied, bf16 / f16 rounded to nearest even,
// block types by QuantizeRow.
void EncodeRow(WType t, const float* x, int64_t n, void* dst);
// RowBytes(t, n) bytes → n floats, as ggml's dequantize_row_* (f32 arithmetic, no FMA).
void DequantizeRow(WType t, const void* src, int64_t n, float* out);

// Largest |x − dequant(quant(x))| the format allows per element, given the block's stored scale
// d (and the rounding of the scale to f16): Q8_0 and Q4_1 round to the nearest level, d/2; Q4_0
// may clamp the level +8 of the block's extreme opposite the max to 7, up to d (see .cc).
double ElementErrorBound(WType t, float d_f16);

// The WType of a stored tensor's dtype (float or ggml block type); false for dtypes that are not
// weights (integers, f64, bool).
bool StoredWType(io::DType d, WType* out);
// The bytes of t in the standard (row-major) layout: t.data, or for a tensor stored as decode
// panels (TensorView::decode_panels) an unpacked copy in *scratch.
const void* StandardBytes(const io::TensorView& t, std::vector<uint8_t>* scratch);
// Whether `name` is a language-model matrix the decode GEMV reads (q/k/v/o, gate/up/down, or
// `lm_head_name`): the tensors `fastvlm quantize` stores as decode panels when Q8_0 / Q4_0.
bool IsDecodeMatrixName(const std::string& name, const std::string& llm_prefix,
                        const std::string& lm_head_name);

struct ErrorStats {
  double max_abs = 0;  // max |ref − got|
  double rmse = 0;     // sqrt(mean (ref − got)²)
  double nmse = 0;     // Σ(ref − got)² / Σ ref²  (0 when ref is all zeros and got equals it)
};
ErrorStats Compare(const float* ref, const float* got, int64_t n);

}  // namespace fastvlm::quant
