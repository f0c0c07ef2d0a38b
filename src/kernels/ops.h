// The ops API: the only way model code reaches SIMD. Every op has a plain scalar reference in
// namespace ref (always compiled; what `FASTVLM_SIMD=ref` runs) and Highway bodies dispatched at
// run time to the best target the CPU supports (SSE4 / AVX2 / AVX-512 on x86, NEON on ARM).
//
// Conventions: activations are f32; matrices are row-major [rows, cols] in f32, bf16 or f16 and
// are used as stored (bf16 stays bf16 in memory). All functions are thread-safe; the ones taking
// a ThreadPool split their work over it.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace fastvlm {
class ThreadPool;
}

namespace fastvlm::kernels {

enum class WType : uint8_t { kF32, kBF16, kF16 };
const char* WTypeName(WType t);
inline size_t WTypeSize(WType t) { return t == WType::kF32 ? 4 : 2; }

// A read-only matrix view [rows, cols], row-major, rows `cols` elements apart.
struct Matrix {
  WType type = WType::kF32;
  const void* data = nullptr;
  int64_t rows = 0;
  int64_t cols = 0;
  const uint8_t* Row(int64_t r) const {
    return static_cast<const uint8_t*>(data) + r * cols * static_cast<int64_t>(WTypeSize(type));
  }
};

// y[m, n] = sum_k x[m, k] · W[n, k] + bias[n]      m < M, n < W.rows, k < W.cols
// x rows are ldx floats apart, y rows ldy floats apart; bias may be null.
// Small M (decode) streams W once with f32 accumulation. Large M with bf16 weights uses the CPU's
// bf16 dot product (AVX512-BF16) where present, which rounds x to bf16 (as a bf16 reference
// implementation does); otherwise bf16/f16 weights are widened to f32.
void MatMul(const float* x, int64_t ldx, int64_t M, const Matrix& w, const float* bias, float* y,
            int64_t ldy, ThreadPool& pool);

// One output of MatMulShared: y = x·Wᵀ + bias, y rows ldy floats apart.
struct MatMulTarget {
  const Matrix* w;
  const float* bias;  // may be null
  float* y;
  int64_t ldy;
};
// Several matrices applied to the same x (q/k/v, gate/up) in one parallel region: decode streams
// the rows of all of them in one pass, and prefill converts / packs x once. Equal to calling
// MatMul on each target.
void MatMulShared(const float* x, int64_t ldx, int64_t M, const MatMulTarget* targets, int count,
                  ThreadPool& pool);

// out = x / sqrt(mean(x²) + eps) · weight          (Qwen2RMSNorm, computed in f32)
void RMSNorm(const float* x, const float* weight, int64_t n, float eps, float* out);
// In place: x = softmax(x).
void Softmax(float* x, int64_t n);
// out = silu(gate) · up = gate / (1 + exp(-gate)) · up
void SiLUMul(const float* gate, const float* up, int64_t n, float* out);
// x = x · sigmoid(x) in place.
void SiLU(float* x, int64_t n);
// out = a + b (out may alias a or b).
void Add(const float* a, const float* b, int64_t n, float* out);
// Dot product of two f32 vectors.
float Dot(const float* a, const float* b, int64_t n);
// y += alpha · x
void Axpy(float alpha, const float* x, int64_t n, float* y);
// x *= alpha
void Scale(float alpha, float* x, int64_t n);
// Rotary embedding, "rotate_half" form (spec §3), on `heads` vectors of head_dim, each
// head_dim apart, in place: for i < h = head_dim/2,
//   x'[i] = x[i]·cos[i] − x[i+h]·sin[i],  x'[i+h] = x[i+h]·cos[i] + x[i]·sin[i].
void RoPE(float* x, int64_t heads, int64_t head_dim, const float* cos, const float* sin);
// Widens one row of a matrix to f32 (embedding lookup).
void RowToF32(const Matrix& w, int64_t row, float* out);
// Keys per tile of the transposed key cache used by DotColumns.
inline constexpr int64_t kKeyTile = 16;
// Attention scores against a tiled, transposed key cache: out[j] = scale · Σ_d q[d]·K(j, d) for
// j < len, where key j's element d is at kt[((j / 16)·dim + d)·16 + j % 16]. Each tile of 16
// keys is dim×16 contiguous floats, so the 16 scores come from dim broadcast-FMAs over
// contiguous memory, with no reductions (a plain [dim][position] layout strides by the context
// length and thrashes L1 sets).
void DotColumns(const float* q, const float* kt, int64_t dim, int64_t len, float scale, float* out);
// Index of key j, element d in that layout.
inline int64_t KeyTileIndex(int64_t j, int64_t d, int64_t dim) {
  return ((j / kKeyTile) * dim + d) * kKeyTile + j % kKeyTile;
}
// Weighted sum of rows: out[d] = Σ_j p[j]·v[j·ldv + d] for d < dim (attention's P·V).
void WeightedRowSum(const float* p, const float* v, int64_t len, int64_t dim, int64_t ldv,
                    float* out);

// --- Target selection -----------------------------------------------------------------------

// Name of the target the dispatched ops run on now ("AVX3_DL", "AVX2", "NEON", "ref", ...).
std::string ActiveTargetName();
// Every target this binary compiled that the CPU supports, best first, plus "ref".
std::vector<std::string> AvailableTargets();
// Forces a target by name (as returned above, case-insensitive; also "avx512" for the best
// AVX-512 one and "scalar"/"ref" for the scalar reference). Returns false if unavailable.
// Called at start-up from the FASTVLM_SIMD environment variable; tests call it to run every op
// on every target.
bool ForceTarget(const std::string& name);
// Whether MatMul may use the AVX512-BF16 dot product (CPU has it, the target allows it and it
// was not disabled).
bool HasBF16DotProduct();
// Allows (default) or forbids the bf16 dot product. Forbidden, bf16 weights are widened to f32
// and multiplied with f32 activations everywhere: prefill is ~2× slower but matches an f32
// reference run on the same weights to f32 rounding (the `--exact` flag).
void SetBF16DotProduct(bool allowed);

namespace ref {
void MatMul(const float* x, int64_t ldx, int64_t M, const Matrix& w, const float* bias, float* y,
            int64_t ldy);
void RMSNorm(const float* x, const float* weight, int64_t n, float eps, float* out);
void Softmax(float* x, int64_t n);
void SiLUMul(const float* gate, const float* up, int64_t n, float* out);
void SiLU(float* x, int64_t n);
void Add(const float* a, const float* b, int64_t n, float* out);
float Dot(const float* a, const float* b, int64_t n);
void Axpy(float alpha, const float* x, int64_t n, float* y);
void Scale(float alpha, float* x, int64_t n);
void RoPE(float* x, int64_t heads, int64_t head_dim, const float* cos, const float* sin);
void RowToF32(const Matrix& w, int64_t row, float* out);
void DotColumns(const float* q, const float* kt, int64_t dim, int64_t len, float scale, float* out);
void WeightedRowSum(const float* p, const float* v, int64_t len, int64_t dim, int64_t ldv,
                    float* out);
}  // namespace ref

}  // namespace fastvlm::kernels
