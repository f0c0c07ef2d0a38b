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

// kQ8_0 / kQ4_0 / kQ4_1 are ggml's block formats (kernels/quant_blocks.h): each row is cols/32
// blocks of 32 elements (cols must be a multiple of 32).
enum class WType : uint8_t { kF32, kBF16, kF16, kQ8_0, kQ4_0, kQ4_1 };
const char* WTypeName(WType t);
inline bool IsBlockType(WType t) { return t == WType::kQ8_0 || t == WType::kQ4_0 || t == WType::kQ4_1; }
// Bytes per element of the plain types; 0 for block types (use RowBytes).
inline size_t WTypeSize(WType t) {
  return t == WType::kF32 ? 4 : (t == WType::kBF16 || t == WType::kF16) ? 2 : 0;
}
// Bytes of one block of 32 elements (block types only).
inline int64_t BlockBytes(WType t) {
  return t == WType::kQ8_0 ? 34 : t == WType::kQ4_0 ? 18 : t == WType::kQ4_1 ? 20 : 0;
}
// Bytes of one row of `cols` elements, for every type.
inline int64_t RowBytes(WType t, int64_t cols) {
  return IsBlockType(t) ? cols / 32 * BlockBytes(t) : cols * static_cast<int64_t>(WTypeSize(t));
}

// A read-only matrix view [rows, cols], row-major, rows RowBytes(type, cols) bytes apart.
struct Matrix {
  WType type = WType::kF32;
  const void* data = nullptr;
  int64_t rows = 0;
  int64_t cols = 0;
  // Optional second copy of a Q8_0 / Q4_0 matrix in the decode-panel layout (PackDecodePanels),
  // owned by whoever built it. When set and the CPU has AVX-512 VNNI, MatMul with M <= 4 and the
  // int8 prefill read it instead of `data`; everything else reads `data`.
  const void* panels = nullptr;
  const uint8_t* Row(int64_t r) const {
    return static_cast<const uint8_t*>(data) + r * RowBytes(type, cols);
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
  // Keep x in f32 even where the bf16 dot product would round it (bf16 or block weights,
  // large M): for outputs whose errors are amplified downstream, such as the q/k projections,
  // whose products are exponentiated by the attention softmax.
  bool f32_x = false;
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
// Index of the first largest element of x[0, n), n >= 1: std::max_element's answer, NaNs
// included (greedy sampling over the vocabulary).
int64_t ArgMax(const float* x, int64_t n);
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
// Grouped-query attention: the q heads that share a kv head read its keys and values once.
// DotColumnsGroup gives out + h·ldo = DotColumns(q + h·ldq, ...) for h < nq, and
// WeightedRowSumGroup gives out + h·ldout = WeightedRowSum(p + h·ldp, ...) for h < np, each
// bit for bit (the same operations in the same order per output element).
void DotColumnsGroup(const float* q, int64_t ldq, int64_t nq, const float* kt, int64_t dim,
                     int64_t len, float scale, float* out, int64_t ldo);
void WeightedRowSumGroup(const float* p, int64_t ldp, int64_t np, const float* v, int64_t len,
                         int64_t dim, int64_t ldv, float* out, int64_t ldout);

// --- Vision ops (FastViTHD, channel-last NHWC f32 activations) -------------------------------
//
// The conv ops are serial and compute a range of output pixels, so model code can split an image
// into bands over its thread pool (or fuse several ops per band) without nested parallel regions.

// x = 0.5·x·(1 + erf(x/√2)) in place: exact-erf GELU (PyTorch nn.GELU()), not the tanh form.
// The SIMD erf is a rational approximation within ~6 ulp (3.2e-7 absolute) of the true erf.
void Gelu(float* x, int64_t n);

// Geometry of a depthwise convolution with channel multiplier `mult` (1, or 2 for FastViTHD's
// grouped convs with groups = C_in, C_out = 2·C_in: output channel o reads input channel o / 2).
struct DwConvShape {
  int64_t H = 0, W = 0, C = 0;  // input [H, W, C]
  int k = 3, stride = 1, pad = 1, mult = 1;
  int64_t OH() const { return (H + 2 * pad - k) / stride + 1; }
  int64_t OW() const { return (W + 2 * pad - k) / stride + 1; }
  int64_t Cout() const { return C * mult; }
};
// y[p, o] = act(bias[o] + Σ_{ky,kx} x[oy·s−pad+ky, ox·s−pad+kx, o / mult] · w[(ky·k+kx)·Cout + o])
// for the flattened output pixels p = oy·OW + ox in [p_begin, p_end), written contiguously from
// y: pixel p at y + (p − p_begin)·Cout (pass y + p_begin·Cout to fill a whole output image). w is tap-major [k·k, Cout] (PyTorch's [Cout, 1, k, k] transposed), zero padding.
// bias may be null; act is GELU when `gelu`, else identity.
void DepthwiseConv(const float* x, const DwConvShape& s, const float* w, const float* bias,
                   bool gelu, float* y, int64_t p_begin, int64_t p_end);

// Dense k×k convolution (groups 1) for the stem, same conventions: w is [k·k·Cin, Cout]
// (tap-major, then input channel), y[p, o] = act(bias[o] + Σ x·w).
struct ConvShape {
  int64_t H = 0, W = 0, Cin = 0, Cout = 0;
  int k = 3, stride = 1, pad = 1;
  int64_t OH() const { return (H + 2 * pad - k) / stride + 1; }
  int64_t OW() const { return (W + 2 * pad - k) / stride + 1; }
};
void Conv2D(const float* x, const ConvShape& s, const float* w, const float* bias, bool gelu,
            float* y, int64_t p_begin, int64_t p_end);

// Per-row LayerNorm (FastViT LayerNormChannel / timm LayerNorm2d on NHWC rows): for each of
// `rows` rows of C floats (x rows ldx apart, y rows ldy apart),
// y = (x − mean) / sqrt(var + eps) · w + b with the biased variance, computed in two passes.
void LayerNormRows(const float* x, int64_t ldx, int64_t rows, int64_t C, const float* w,
                   const float* b, float eps, float* y, int64_t ldy);

// A weight matrix [rows = N outputs, cols = K inputs] repacked for GemmPacked: column panels of
// kPackPanel outputs, each panel K-major so the micro-kernel streams it with unit stride.
//   kF32:  [ceil(N/16)][K][16] f32
//   kBF16: [ceil(N/16)][ceil(K/2)][16][2] bf16 (k pairs, ready for the bf16 dot product)
// Padding outputs (n >= N) and the odd-K tail are zero. f16 weights are packed as f32.
inline constexpr int64_t kPackPanel = 16;
struct PackedMatrix {
  WType type = WType::kF32;  // kF32 or kBF16
  int64_t rows = 0, cols = 0;
  const void* data = nullptr;
  int64_t PanelBytes() const;  // bytes of one panel of 16 outputs
  // Outputs [n0, n0 + n) as a matrix of their own (n0 a multiple of 16): threads split N.
  PackedMatrix Slice(int64_t n0, int64_t n) const;
};
// kF16 -> kF32; block types (Q8_0 / Q4_0 / Q4_1) -> kBF16 (dequantized, rounded to nearest
// even); others unchanged.
WType PackedTypeFor(WType stored);
int64_t PackedMatrixBytes(WType packed_type, int64_t rows, int64_t cols);
// Packs w (any WType) into dst (PackedMatrixBytes(PackedTypeFor(w.type), ...) bytes).
PackedMatrix PackMatrix(const Matrix& w, void* dst);
// Packs only panels [panel_begin, panel_end) of the same layout (threads split a large matrix);
// returns the whole matrix's PackedMatrix.
PackedMatrix PackMatrixPanels(const Matrix& w, void* dst, int64_t panel_begin, int64_t panel_end);
// Packs an f32 matrix given by strides: element (n, k) is src[n·ld + k], or src[k·ld + n] when
// `transposed` (e.g. V of one attention head as the weights of P·V).
PackedMatrix PackMatrixF32(const float* src, int64_t ld, int64_t rows, int64_t cols,
                           bool transposed, float* dst);

// What GemmPacked does with each accumulated dot product acc[m, n], in this order:
//   v = alpha·acc + bias[n];  v = gelu(v) if gelu;  v = v·scale[n];  v = residual[m, n] + v.
// residual may alias y (in-place residual update).
struct GemmEpilogue {
  float alpha = 1.0f;
  const float* bias = nullptr;
  bool gelu = false;
  const float* scale = nullptr;
  const float* residual = nullptr;
  int64_t ldr = 0;
};
// The row multiple GemmPacked runs fastest on now for w: 16 where its bf16 blocks go through
// AMX tiles (rows outside whole 16-row blocks take the AVX512-BF16 body, ~1/7 of the tiles'
// rate), else 6 (the register tile of the other bodies). Callers that choose their own row
// tiles (the fused ConvFFN) make them multiples of it.
int64_t GemmPackedRowBlock(const PackedMatrix& w);
// Bytes of scratch GemmPacked needs for M rows of K (the bf16 copy of x on the BF16 path).
int64_t GemmScratchBytes(int64_t M, int64_t K);
// y[m, n] = epilogue(Σ_k x[m, k]·W[n, k]) for m < M, n < w.rows; serial (call it from a pool
// task). With bf16 weights and the AVX512-BF16 dot product, x is rounded to bf16 (as MatMul
// does); otherwise products are f32. scratch: GemmScratchBytes(M, w.cols) bytes, 64-aligned.
void GemmPacked(const float* x, int64_t ldx, int64_t M, const PackedMatrix& w,
                const GemmEpilogue& ep, float* y, int64_t ldy, void* scratch);

// --- Quantized weights (kQ8_0 / kQ4_0 / kQ4_1) ----------------------------------------------
//
// MatMul / MatMulShared / RowToF32 accept block-quantized matrices. With M <= 4 (decode) x is
// quantized once per row to BlockQ8X (QuantizeRowQ8X) and every weight block meets it in an exact
// int32 dot product; y = Σ_blocks d_w·d_x·isum (+ m·d_x·Σq_x for Q4_1) + bias, accumulated in
// f32. The integer sums are identical on every target (scalar, Highway, AVX2, AVX-512 VNNI); only
// the f32 summation order differs. With larger M (prefill) on CPUs with AVX-512 VNNI, x is
// quantized the same way and an int8 GEMM computes the same sums (QuantPrefillKernelName);
// elsewhere, and for f32_x targets, panels of weight rows are dequantized and multiplied by the
// packed GEMM (bf16 panels where HasBF16DotProduct(), which rounds x to bf16 as the bf16 path
// does; f32 panels otherwise).
struct BlockQ8X;  // kernels/quant_blocks.h

// x[0, K) → K/32 blocks: d = amax/127, q = round-half-away(x/d) (ggml's Q8_0 rule, f32 scale).
// K must be a multiple of 32. Same bits on every target.
void QuantizeRowQ8X(const float* x, int64_t K, BlockQ8X* out);
struct BlockQ8_0;  // kernels/quant_blocks.h
// x[0, n) (n a multiple of 32) → n/32 Q8_0 blocks: d = f16(amax/127), q = x/d rounded to nearest
// even, clamped to ±127 (the same bytes on every target), and the sums of squares of x − x̃ and x̃
// (x̃ = d·q) into sums[0..1]: f32 within a block (any order), double across blocks. Returns false
// when x or a scale is not finite (out and sums are then unspecified). For llm::LmHeadSketch.
bool QuantizeRowQ8_0Norms(const float* x, int64_t n, BlockQ8_0* out, double sums[2]);
// Dequantizes row `row` of a block matrix into out[0, cols) (ggml's dequantize_row_*).
void DequantizeRow(const Matrix& w, int64_t row, float* out);
// Name of the integer dot-product kernel MatMul uses now for block types with small M
// ("avx512vbmi", "avx512vnni", "avx2", "neon-dotprod", "hwy", "ref").
const char* QuantGemvKernelName();
// false: block types with small M use the Highway body even where the CPU has int8 dot-product
// instructions (x86 VNNI / AVX2 bodies, ARM SDOT), so tests reach the Highway body on every
// target. Default true. Not thread-safe against concurrent MatMul calls.
void SetQuantIntrinsicsBodies(bool allowed);
// What prefill (M > 4) does with block types now: "int8-avx512vnni" / "int8-amx" (calls of 16
// rows or more on AMX-INT8 tiles, the VNNI body's bits) / "int8-neon-dotprod" (x
// quantized per row to BlockQ8X, integer dot products with the weights as stored, on CPUs with
// AVX-512 VNNI and an AVX-512 target, or ARM64 with the dot-product instructions), "bf16-panels" or "f32-panels" (weights dequantized into the float GEMM).
// f32_x targets and SetBF16DotProduct(false) always take the float panels.
const char* QuantPrefillKernelName();
// false: prefill never takes the int8 path (tests of the float-panel path). Default true. Not
// thread-safe against concurrent MatMul calls.
void SetQuantPrefillInt8(bool allowed);

// Decode panels: a Q8_0 / Q4_0 matrix rearranged so that one AVX-512 VNNI instruction takes 4
// levels of 16 rows against one broadcast dword of x, with no shuffles, no per-row reductions
// and one sequential stream per thread (the standard layout needs a byte permute per 2-4 blocks
// and a transposition per 16 blocks: in L2 the panel GEMV runs ~2.5x (Q4_0) to ~3.5x (Q8_0)
// faster). Rows in groups of 64; in a group, for each 32-column block b, the levels of four
// sub-panels of 16 rows (Q4_0: 4 × 64 bytes each, vector j, lane r = row, byte t: element 8j + t
// in the low nibble and 8j + 4 + t in the high one; Q8_0: 8 × 64 bytes, vector g, lane r, byte
// t: q[4g + t] + 128), then their f16 scales as stored (4 × 32 bytes), so every vector is
// 64-byte aligned in a 64-byte-aligned buffer. Same size as the matrix.
// The GEMV computes exactly the scalar reference's y (the same integer sums, scaled and added in
// the same f32 order).
//
// Whether w can have panels: Q8_0 / Q4_0, rows a positive multiple of 64, cols of 32.
bool DecodePanelsFit(const Matrix& w);
// Whether MatMul uses panels now: the CPU has AVX-512 VNNI with an AVX-512 target active, or is
// ARM64 with the dot-product instructions (SDOT: one 16-byte quarter of a vector is 4 rows × 4
// levels) with the NEON target; the intrinsics bodies are allowed and SetDecodePanels did not
// turn them off. Panels are only worth building where this is true.
bool DecodePanelsActive();
// Name of the panel GEMV that runs where DecodePanelsActive(): "avx512vnni-panels" or
// "neon-dotprod-panels".
const char* DecodePanelsKernelName();
// false: MatMul ignores Matrix::panels (A/B tests and benchmarks). Default true. Not thread-safe
// against concurrent MatMul calls.
void SetDecodePanels(bool allowed);
// Bytes of w's panels (== rows · RowBytes). Requires DecodePanelsFit(w).
int64_t DecodePanelBytes(const Matrix& w);
// Writes the panels of row groups [group_begin, group_end) (64 rows each) of w into dst (the
// whole matrix's panel buffer, 64-byte aligned); disjoint ranges may run in parallel.
void PackDecodePanels(const Matrix& w, int64_t group_begin, int64_t group_end, void* dst);
// The inverse: rows [row0, row0 + n) of w.panels as stored (RowBytes each) into dst. A matrix
// may carry only panels (data null: a GGUF of `fastvlm quantize` stores them so); then
// DequantizeRow / RowToF32 and the f32-activation prefill unpack the rows they need, and the
// decode bodies for the standard layout must not run (MatMul checks).
void UnpackDecodePanels(const Matrix& w, int64_t row0, int64_t n, void* dst);

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
// Whether the packed bf16 GEMM of the vision tower (GemmPacked) runs blocks of 16 rows on Intel
// AMX tiles: the CPU and OS support AMX-BF16, HasBF16DotProduct(), and neither SetAmx(false) nor
// the environment variable FASTVLM_NO_AMX turned it off.
bool UseAmx();
// Whether the int8 prefill of Q8_0 / Q4_0 / Q4_1 weights (QuantPrefillKernelName "int8-amx") runs
// on AMX-INT8 tiles: the CPU and OS support AMX-INT8 and SetAmx / FASTVLM_NO_AMX allow tiles.
bool UseAmxInt8();
// Allows (default) or forbids both AMX paths. Not thread-safe against concurrent GEMMs.
void SetAmx(bool allowed);

namespace ref {
void MatMul(const float* x, int64_t ldx, int64_t M, const Matrix& w, const float* bias, float* y,
            int64_t ldy);
void RMSNorm(const float* x, const float* weight, int64_t n, float eps, float* out);
void Softmax(float* x, int64_t n);
int64_t ArgMax(const float* x, int64_t n);
void SiLUMul(const float* gate, const float* up, int64_t n, float* out);
void SiLU(float* x, int64_t n);
void Add(const float* a, const float* b, int64_t n, float* out);
float Dot(const float* a, const float* b, int64_t n);
void Axpy(float alpha, const float* x, int64_t n, float* y);
void Scale(float alpha, float* x, int64_t n);
void RoPE(float* x, int64_t heads, int64_t head_dim, const float* cos, const float* sin);
void RowToF32(const Matrix& w, int64_t row, float* out);
bool QuantizeRowQ8_0Norms(const float* x, int64_t n, BlockQ8_0* out, double sums[2]);
void DotColumns(const float* q, const float* kt, int64_t dim, int64_t len, float scale, float* out);
void WeightedRowSum(const float* p, const float* v, int64_t len, int64_t dim, int64_t ldv,
                    float* out);
void DotColumnsGroup(const float* q, int64_t ldq, int64_t nq, const float* kt, int64_t dim,
                     int64_t len, float scale, float* out, int64_t ldo);
void WeightedRowSumGroup(const float* p, int64_t ldp, int64_t np, const float* v, int64_t len,
                         int64_t dim, int64_t ldv, float* out, int64_t ldout);
// Block-type MatMul as the fast paths define it for M <= 4: x quantized by QuantizeRowQ8X,
// per-block int32 dot products, f32 accumulation in block order, for any M. (ref::MatMul on a
// block type calls this for M <= 4 and multiplies by the dequantized weights in f32 above.)
void MatMulQuant(const float* x, int64_t ldx, int64_t M, const Matrix& w, const float* bias,
                 float* y, int64_t ldy);
void Gelu(float* x, int64_t n);
void DepthwiseConv(const float* x, const DwConvShape& s, const float* w, const float* bias,
                   bool gelu, float* y, int64_t p_begin, int64_t p_end);
void Conv2D(const float* x, const ConvShape& s, const float* w, const float* bias, bool gelu,
            float* y, int64_t p_begin, int64_t p_end);
void LayerNormRows(const float* x, int64_t ldx, int64_t rows, int64_t C, const float* w,
                   const float* b, float eps, float* y, int64_t ldy);
// Reads the packed layout back (f32 products, no bf16 rounding of x).
void GemmPacked(const float* x, int64_t ldx, int64_t M, const PackedMatrix& w,
                const GemmEpilogue& ep, float* y, int64_t ldy);
}  // namespace ref

}  // namespace fastvlm::kernels
