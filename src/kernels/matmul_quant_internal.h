// Internal interface between the quantized-MatMul driver (matmul_quant.cc) and its bodies
// (matmul_quant_x86.cc intrinsics, matmul_quant_hwy.cc Highway). Not part of the ops API.
#pragma once

#include <cstdint>

#include "kernels/ops.h"
#include "kernels/quant_blocks.h"

namespace fastvlm::kernels {

// Rows [n0, n1) of block matrix w against M (1..4) rows of quantized x (row i at xq + i·cols/32):
// y[i·ldy + n] = Σ_b d_w·d_x·isum_b (+ m·d_x·sum_x for Q4_1) + bias[n]. bias may be null.
using QuantRowsFn = void (*)(const BlockQ8X* xq, int M, const Matrix& w, int64_t n0, int64_t n1,
                             const float* bias, float* y, int64_t ldy);

// The best x86 intrinsics body the CPU and the active Highway target allow for type t, or null.
// *name is set to the kernel's name when non-null is returned.
QuantRowsFn QuantRowsX86(WType t, bool allow_avx512, bool allow_avx2, bool allow_vbmi,
                         const char** name);
// Prefill: rows [n0, n0 + n) of block matrix w packed as bf16 GEMM panels (PackMatrix's layout,
// rows past n zero) with AVX-512 BF16; the caller checks HasBF16DotProduct(). False where not
// compiled (non-x86). Same bits as dequantizing with DequantizeRow and rounding with F32ToBF16.
bool PackBlockRowsBF16X86(const Matrix& w, int64_t n0, int64_t n, void* dst);
// Panels [panel_begin, panel_end) of block matrix w, dequantized into the bf16 panel layout of
// PackMatrix (rows past w.rows zero): PackMatrixPanels for block types.
void PackBlockMatrixPanels(const Matrix& w, void* dst, int64_t panel_begin, int64_t panel_end);
// Prefill with int8 activations (AVX-512 VNNI; false / unusable elsewhere): rows [n0, n0 + n)
// of block matrix w packed for GemmInt8X86 (Int8PanelBytes(n, K) bytes, 64-byte aligned), then
// y[i·ldy + j] = Σ_b d_w·d_x·isum_b (+ m·d_x·Σq_x for Q4_1) + bias[j] for M rows of quantized x.
bool HasInt8PrefillX86();
int64_t Int8PanelBytes(int64_t n, int64_t K);
void PackInt8PanelsX86(const Matrix& w, int64_t n0, int64_t n, void* dst);
void GemmInt8X86(WType t, const BlockQ8X* xq, int64_t M, int64_t K, const void* panels, int64_t n,
                 const float* bias, float* y, int64_t ldy);
// The same on ARM64 with SDOT (the CPU's dot-product feature): x's levels as QuantizeRowQ8X
// wrote them (signed), panels of Int8PanelBytes(n, K) bytes in the ARM layout.
bool HasInt8PrefillArm();
void PackInt8PanelsArm(const Matrix& w, int64_t n0, int64_t n, void* dst);
void GemmInt8Arm(WType t, const BlockQ8X* xq, int64_t M, int64_t K, const void* panels, int64_t n,
                 const float* bias, float* y, int64_t ldy);
// QuantizeRowQ8X with AVX-512 (same bits); false where the CPU lacks it.
bool QuantizeRowQ8XX86(const float* x, int64_t K, BlockQ8X* out);
// The ARM64 dot-product (SDOT) body when the CPU has it (matmul_quant_arm.cc), or null; also null
// on other architectures.
QuantRowsFn QuantRowsArm(WType t, const char** name);
// Highway body on the active target (matmul_quant_hwy.cc).
void QuantRowsHwy(const BlockQ8X* xq, int M, const Matrix& w, int64_t n0, int64_t n1,
                  const float* bias, float* y, int64_t ldy);
// Scalar body: the reference definition.
void QuantRowsRef(const BlockQ8X* xq, int M, const Matrix& w, int64_t n0, int64_t n1,
                  const float* bias, float* y, int64_t ldy);

}  // namespace fastvlm::kernels
