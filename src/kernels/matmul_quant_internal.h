// Internal interface between the quantized-MatMul driver (matmul_quant.cc) and its bodies
// (matmul_quant_x86.cc intrinsics, matmul_quant_hwy.cc Highway). Not part of the ops API.
#pragma once

#include <cstdint>
#include <vector>

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
// Prefill GEMMs (block types here, bf16 in matmul_bf16_x86.cc) run as tasks of
// kPrefillTaskRows weight rows, the targets one after another: task_start[i] is target i's
// first task, task_start[count] the total.
inline constexpr int64_t kPrefillTaskRows = 64;
std::vector<int64_t> TaskStarts(const MatMulTarget* targets, int count);
// Prefill with int8 activations. PackInt8Panels (matmul_quant.cc) writes rows [n0, n0 + n) of
// block matrix w as panels of 16 rows; per panel and 32-column block: 8 k-groups × 16 rows × 4
// levels (elements 4g..4g+3 of the row's block), then d_w[16] and, for Q4_1, the minimum m[16]
// (f32); rows past n are zero. Levels are signed (Q8_0 q, Q4_0 q − 8, Q4_1 q) or, for x86's
// u8 × s8 product, unsigned (Q8_0 q + 128, Q4_0 / Q4_1 the nibble q).
inline constexpr int64_t kInt8PanelBlockBytes = 8 * 64 + 2 * 64;
int64_t Int8PanelBytes(int64_t n, int64_t K);
void PackInt8Panels(const Matrix& w, int64_t n0, int64_t n, bool signed_levels, void* dst);
// The GEMMs on those panels: y[i·ldy + j] = Σ_b d_w·d_x·isum_b (+ m·d_x·Σq_x for Q4_1) +
// bias[j] for M rows of quantized x. x86 (AVX-512 VNNI, unsigned levels; or, with amx, AMX-INT8
// tiles on signed levels, x padded with zero rows to a multiple of 16, the same bits) and ARM64
// (SDOT, signed levels); Has* is false where the CPU (or the build) lacks them.
bool HasInt8PrefillX86();
void GemmInt8X86(WType t, const BlockQ8X* xq, int64_t M, int64_t K, const void* panels, int64_t n,
                 const float* bias, float* y, int64_t ldy, bool amx);
bool HasInt8PrefillArm();
void GemmInt8Arm(WType t, const BlockQ8X* xq, int64_t M, int64_t K, const void* panels, int64_t n,
                 const float* bias, float* y, int64_t ldy);
// Decode panels (ops.h): the GEMV on rows [n0, n1) (multiples of 64) of w.panels against one row
// of quantized x; y[n] as QuantRowsRef computes it, bit for bit. Needs what the int8 prefill
// needs (HasInt8PrefillX86 / HasInt8PrefillArm).
void GemvPanelsX86(const BlockQ8X* xq, const Matrix& w, int64_t n0, int64_t n1, const float* bias,
                   float* y);
// The same on ARM64 with the dot-product instructions (matmul_quant_arm.cc).
void GemvPanelsArm(const BlockQ8X* xq, const Matrix& w, int64_t n0, int64_t n1, const float* bias,
                   float* y);
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
