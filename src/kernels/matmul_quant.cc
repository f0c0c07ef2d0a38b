// Quantized weights (ggml Q8_0 / Q4_0 / Q4_1 blocks) in MatMul, MatMulShared and RowToF32: the
// activation quantizer, the scalar reference, the choice of body for decode, and the prefill
// path (dequantized panels through GemmPacked). Plain C++: the SIMD bodies live in
// matmul_quant_x86.cc and matmul_quant_hwy.cc.
#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <vector>

#include "base/check.h"
#include "base/float16.h"
#include "base/thread_pool.h"
#include "hwy/highway.h"
#include "hwy/targets.h"
#include "kernels/matmul_quant_internal.h"
#include "kernels/ops.h"
#include "kernels/quant_blocks.h"

namespace fastvlm::kernels {

bool UseReference();      // targets.cc
bool HasBF16DotProduct();  // targets.cc

namespace {

inline int Nibble(const uint8_t* qs, int i) { return i < 16 ? (qs[i] & 15) : (qs[i - 16] >> 4); }

// Integer dot product of one weight block with one activation block, and the Q4_1 min term.
inline int32_t BlockDot(WType t, const uint8_t* blk, const BlockQ8X& x) {
  int32_t s = 0;
  if (t == WType::kQ8_0) {
    const auto* b = reinterpret_cast<const BlockQ8_0*>(blk);
    for (int i = 0; i < 32; ++i) s += static_cast<int32_t>(b->qs[i]) * x.qs[i];
  } else if (t == WType::kQ4_0) {
    const auto* b = reinterpret_cast<const BlockQ4_0*>(blk);
    for (int i = 0; i < 32; ++i) s += (Nibble(b->qs, i) - 8) * x.qs[i];
  } else {
    const auto* b = reinterpret_cast<const BlockQ4_1*>(blk);
    for (int i = 0; i < 32; ++i) s += Nibble(b->qs, i) * x.qs[i];
  }
  return s;
}

}  // namespace

void QuantizeRowQ8X(const float* x, int64_t K, BlockQ8X* out) {
  CHECK_EQ(K % kQBlock, 0);
  for (int64_t b = 0; b < K / kQBlock; ++b) {
    const float* v = x + b * kQBlock;
    float amax = 0.0f;
    for (int i = 0; i < 32; ++i) amax = std::max(amax, std::fabs(v[i]));
    // A block below 127·FLT_MIN (~1.5e-36) is all zeros: 1/d would overflow.
    if (!(amax >= 127.0f * std::numeric_limits<float>::min())) amax = 0.0f;
    const float d = amax / 127.0f;
    const float id = d != 0.0f ? 1.0f / d : 0.0f;
    int32_t sum = 0;
    for (int i = 0; i < 32; ++i) {
      // |v·id| <= 127 up to one rounding of id; clamp so the x86 sign trick never sees −128.
      // (NaN / inf inputs give unspecified levels, never undefined behaviour.)
      const float r = std::round(v[i] * id);
      const int q = r >= 127.0f ? 127 : r <= -127.0f ? -127 : r == r ? static_cast<int>(r) : 0;
      out[b].qs[i] = static_cast<int8_t>(q);
      sum += q;
    }
    out[b].d = d;
    out[b].sum = sum;
  }
}

namespace {
// Rows [n0, n0 + n) of a panels-only matrix (data null: a GGUF that stores decode panels) as
// stored, in this thread's buffer: a matrix of n rows for the code that reads the standard
// layout. Valid until the thread's next call.
Matrix StandardRows(const Matrix& w, int64_t n0, int64_t n) {
  static thread_local std::vector<uint8_t> rows;
  rows.resize(static_cast<size_t>(n * RowBytes(w.type, w.cols)));
  UnpackDecodePanels(w, n0, n, rows.data());
  Matrix v = w;
  v.data = rows.data();
  v.panels = nullptr;
  v.rows = n;
  return v;
}
}  // namespace

void DequantizeRow(const Matrix& w, int64_t row, float* out) {
  CHECK(IsBlockType(w.type));
  if (!w.data) return DequantizeRow(StandardRows(w, row, 1), 0, out);
  const uint8_t* r = w.Row(row);
  const int64_t nb = w.cols / kQBlock, bb = BlockBytes(w.type);
  for (int64_t b = 0; b < nb; ++b) {
    const uint8_t* blk = r + b * bb;
    float* o = out + b * kQBlock;
    if (w.type == WType::kQ8_0) {
      BlockQ8_0 q;
      std::memcpy(&q, blk, sizeof(q));
      const float d = F16ToF32(q.d);
      for (int i = 0; i < 32; ++i) o[i] = static_cast<float>(q.qs[i]) * d;
    } else if (w.type == WType::kQ4_0) {
      BlockQ4_0 q;
      std::memcpy(&q, blk, sizeof(q));
      const float d = F16ToF32(q.d);
      for (int i = 0; i < 32; ++i) o[i] = static_cast<float>(Nibble(q.qs, i) - 8) * d;
    } else {
      BlockQ4_1 q;
      std::memcpy(&q, blk, sizeof(q));
      const float d = F16ToF32(q.d), m = F16ToF32(q.m);
      for (int i = 0; i < 32; ++i) {
        const float dq = static_cast<float>(Nibble(q.qs, i)) * d;  // two roundings, as ggml
        o[i] = dq + m;
      }
    }
  }
}

void QuantRowsRef(const BlockQ8X* xq, int M, const Matrix& w, int64_t n0, int64_t n1,
                  const float* bias, float* y, int64_t ldy) {
  const int64_t nb = w.cols / kQBlock, bb = BlockBytes(w.type);
  for (int64_t n = n0; n < n1; ++n) {
    const uint8_t* r = w.Row(n);
    for (int i = 0; i < M; ++i) {
      const BlockQ8X* x = xq + i * nb;
      float acc = 0.0f;
      for (int64_t b = 0; b < nb; ++b) {
        const uint8_t* blk = r + b * bb;
        uint16_t dh, mh;
        std::memcpy(&dh, blk, 2);
        const float isum = static_cast<float>(BlockDot(w.type, blk, x[b]));
        acc += F16ToF32(dh) * x[b].d * isum;
        if (w.type == WType::kQ4_1) {
          std::memcpy(&mh, blk + 2, 2);
          acc += F16ToF32(mh) * (x[b].d * static_cast<float>(x[b].sum));
        }
      }
      y[i * ldy + n] = acc + (bias ? bias[n] : 0.0f);
    }
  }
}

int64_t ActiveTargetsMask();  // targets.cc: hwy::SupportedTargets(), cached
bool ActivationRoundingEnabled();  // targets.cc: false under SetBF16DotProduct(false)

namespace {

// QuantizeRowQ8X, with the AVX-512 quantizer where the CPU has it (same bits; the scalar one
// calls roundf per value: ~4% of a q4_0 decode step, run on one thread while the others wait).
void QuantizeRowFast(const float* x, int64_t K, BlockQ8X* out) {
  if (!QuantizeRowQ8XX86(x, K, out)) QuantizeRowQ8X(x, K, out);
}

// Quantized x for decode: grows to the widest M·K once, then reused (no steady-state allocation).
BlockQ8X* QuantizeX(const float* x, int64_t ldx, int64_t M, int64_t K) {
  static thread_local std::vector<BlockQ8X> buf;
  const int64_t nb = K / kQBlock;
  if (static_cast<int64_t>(buf.size()) < M * nb) buf.resize(M * nb);
  for (int64_t i = 0; i < M; ++i) QuantizeRowFast(x + i * ldx, K, buf.data() + i * nb);
  return buf.data();
}

// A per-thread buffer of at least `bytes`, 64-byte aligned (grows once, then reused).
uint8_t* Aligned64(std::vector<uint8_t>& buf, int64_t bytes) {
  if (static_cast<int64_t>(buf.size()) < bytes + 64) buf.resize(bytes + 64);
  return reinterpret_cast<uint8_t*>((reinterpret_cast<uintptr_t>(buf.data()) + 63) &
                                    ~uintptr_t{63});
}

constexpr int64_t kNB = kPrefillTaskRows;

// Which decode body runs now: the x86 intrinsics (or on ARM64 the SDOT body) where the CPU has
// them and the forced Highway target is at least as wide (so FASTVLM_SIMD=sse4 really tests the
// Highway body), else Highway.
bool g_intrinsics_bodies = true;

QuantRowsFn ChooseRows(WType t, const char** name) {
  if (!g_intrinsics_bodies) {
    *name = "hwy";
    return &QuantRowsHwy;
  }
  const int64_t targets = ActiveTargetsMask();
  const int64_t best = targets & -targets;
  bool avx512 = false, avx2 = false, vbmi = false;
#if HWY_ARCH_X86
  avx512 = best == HWY_AVX3 || best == HWY_AVX3_DL;
  avx2 = avx512 || best == HWY_AVX2;
  vbmi = best == HWY_AVX3_DL;  // forcing AVX3 tests the VNNI body without VBMI
#endif
#if HWY_ARCH_ARM_A64
  if (best == HWY_NEON) {
    if (QuantRowsFn f = QuantRowsArm(t, name)) return f;
  }
#endif
  (void)best;
  if (QuantRowsFn f = QuantRowsX86(t, avx512, avx2, vbmi, name)) return f;
  *name = "hwy";
  return &QuantRowsHwy;
}

// Prefill: tasks of kNB weight rows; each dequantizes its rows into a packed panel (bf16 when the
// bf16 dot product is on, else f32) held in a per-thread buffer and runs GemmPacked on it. The
// dequantization is 16·K element conversions per panel against M·16·K multiply-adds.

void PackBlockRows(const Matrix& w, int64_t n0, int64_t n, bool bf16, float* row_tmp, void* dst) {
  if (!w.data) return PackBlockRows(StandardRows(w, n0, n), 0, n, bf16, row_tmp, dst);
  if (bf16 && g_intrinsics_bodies && HasBF16DotProduct() && PackBlockRowsBF16X86(w, n0, n, dst))
    return;
  const int64_t K = w.cols, panels = (n + kPackPanel - 1) / kPackPanel, kp_n = K / 2;
  for (int64_t j = 0; j < panels * kPackPanel; ++j) {
    const int64_t pn = j / kPackPanel, jj = j % kPackPanel;
    if (j < n) {
      DequantizeRow(w, n0 + j, row_tmp);
    } else {
      std::fill(row_tmp, row_tmp + K, 0.0f);
    }
    if (bf16) {
      uint16_t* out = static_cast<uint16_t*>(dst) + pn * kp_n * kPackPanel * 2;
      for (int64_t kp = 0; kp < kp_n; ++kp) {
        out[(kp * kPackPanel + jj) * 2] = F32ToBF16(row_tmp[2 * kp]);
        out[(kp * kPackPanel + jj) * 2 + 1] = F32ToBF16(row_tmp[2 * kp + 1]);
      }
    } else {
      float* out = static_cast<float*>(dst) + pn * K * kPackPanel;
      for (int64_t k = 0; k < K; ++k) out[k * kPackPanel + jj] = row_tmp[k];
    }
  }
}

// Prefill with int8 activations where the CPU has AVX-512 VNNI and the active target is AVX-512
// (as for the decode bodies): x is quantized once per call (rows split over the threads), and each
// task packs its kNB weight rows as int8 panels (a byte shuffle, no dequantization) for the VNNI
// GEMM. Not for f32_x targets or under SetBF16DotProduct(false): those keep f32 activations.
bool g_int8_prefill = true;  // SetQuantPrefillInt8

// The int8 prefill panels (unsigned levels) of rows [n0, n0 + n) from the decode panels: Q8_0's
// vectors are already the panel's k-groups; Q4_0's vector j holds k-groups 2j (low nibbles) and
// 2j + 1 (high nibbles). n0 is a multiple of 64 (one row group per prefill task).
void PackInt8PanelsFromDecode(const Matrix& w, int64_t n0, int64_t n, bool signed_levels,
                              uint8_t* dst) {
  CHECK_EQ(n0 % 64, 0);
  const bool q8 = w.type == WType::kQ8_0;
  const int64_t nb = w.cols / kQBlock, pb = q8 ? 544 : 288, g = n0 / 64;
  const uint8_t* src = static_cast<const uint8_t*>(w.panels);
  for (int64_t i = 0; i * 16 < n; ++i) {
    for (int64_t b = 0; b < nb; ++b) {
      const uint8_t* gb = src + (g * nb + b) * 4 * pb;
      const uint8_t* in = gb + i * (pb - 32);
      const uint8_t* scales = gb + 4 * (pb - 32) + 32 * i;
      uint8_t* o = dst + (i * nb + b) * kInt8PanelBlockBytes;
      uint32_t* q = reinterpret_cast<uint32_t*>(o);
      if (q8) {  // q + 128; signed: q (the top bit flipped back)
        std::memcpy(o, in, 512);
        if (signed_levels)
          for (int k = 0; k < 128; ++k) q[k] ^= 0x80808080u;
      } else {  // nibbles; signed: q − 8 without borrows, as BlockLevels does
        auto level = [signed_levels](uint32_t v) {
          return signed_levels ? ((v | 0x80808080u) - 0x08080808u) ^ 0x80808080u : v;
        };
        for (int j = 0; j < 4; ++j)
          for (int r = 0; r < 16; ++r) {
            uint32_t v;
            std::memcpy(&v, in + 64 * j + 4 * r, 4);
            q[(2 * j) * 16 + r] = level(v & 0x0F0F0F0Fu);
            q[(2 * j + 1) * 16 + r] = level((v >> 4) & 0x0F0F0F0Fu);
          }
      }
      float* dw = reinterpret_cast<float*>(o + 512);
      for (int r = 0; r < 16; ++r) {
        uint16_t h;
        std::memcpy(&h, scales + 2 * r, 2);
        dw[r] = F16ToF32(h);
        dw[16 + r] = 0.0f;
      }
    }
  }
}

// Whether the int8 intrinsics bodies (prefill GEMM, decode panels) run now: the CPU has AVX-512
// VNNI and an AVX-512 target is active, or ARM64's dot product with the NEON target; and the
// intrinsics bodies are allowed.
bool Int8IntrinsicsActive() {
  if (!g_intrinsics_bodies) return false;
  const int64_t t = ActiveTargetsMask();
  const int64_t best = t & -t;
#if HWY_ARCH_X86
  return (best == HWY_AVX3 || best == HWY_AVX3_DL) && HasInt8PrefillX86();
#elif HWY_ARCH_ARM_A64
  return best == HWY_NEON && HasInt8PrefillArm();
#else
  (void)best;
  return false;
#endif
}

bool UseInt8Prefill(bool f32_x) {
  return g_int8_prefill && !f32_x && ActivationRoundingEnabled() && Int8IntrinsicsActive();
}

void PrefillInt8(const float* x, int64_t ldx, int64_t M, const MatMulTarget* targets, int count,
                 ThreadPool& pool) {
  const int64_t K = targets[0].w->cols, nb = K / kQBlock;
  // AMX-INT8 tiles take 16 rows of x at a time: x is padded with zero rows to whole tiles.
  const bool amx = !HWY_ARCH_ARM_A64 && M >= 16 && UseAmxInt8();
  const int64_t rows = amx ? (M + 15) / 16 * 16 : M;
  // The calling thread's buffer (grows to the largest M·K once), shared with the workers
  // through a plain pointer (a thread_local named inside the lambdas would be each worker's own).
  static thread_local std::vector<BlockQ8X> xq_buf;
  if (static_cast<int64_t>(xq_buf.size()) < rows * nb) xq_buf.resize(rows * nb);
  BlockQ8X* const xq = xq_buf.data();
  std::fill(xq + M * nb, xq + rows * nb, BlockQ8X{});
  pool.ParallelChunks(M, 1, 16, [&](int64_t b, int64_t e, int) {
    for (int64_t m = b; m < e; ++m) QuantizeRowFast(x + m * ldx, K, xq + m * nb);
  });
  for (int i = 0; i < count; ++i) CHECK_EQ(targets[i].w->cols, K);
  const std::vector<int64_t> task_start = TaskStarts(targets, count);
  pool.Run(task_start[count], [&](int64_t task, int) {
    int i = 0;
    while (task >= task_start[i + 1]) ++i;
    const MatMulTarget& t = targets[i];
    const int64_t n0 = (task - task_start[i]) * kNB, n = std::min(kNB, t.w->rows - n0);
    static thread_local std::vector<uint8_t> panel;
    uint8_t* dst = Aligned64(panel, Int8PanelBytes(kNB, K));
    const float* bias = t.bias ? t.bias + n0 : nullptr;
    // ARM64 SDOT and AMX's tdpbssd: signed; x86 VNNI (u8 × s8): unsigned.
    const bool signed_levels = HWY_ARCH_ARM_A64 || amx;
    if (t.w->panels && DecodePanelsActive()) {
      PackInt8PanelsFromDecode(*t.w, n0, n, signed_levels, dst);
    } else {
      PackInt8Panels(*t.w, n0, n, signed_levels, dst);
    }
#if HWY_ARCH_ARM_A64
    GemmInt8Arm(t.w->type, xq, M, K, dst, n, bias, t.y + n0, t.ldy);
#else
    GemmInt8X86(t.w->type, xq, M, K, dst, n, bias, t.y + n0, t.ldy, amx);
#endif
  });
}

void PrefillQuant(const float* x, int64_t ldx, int64_t M, const MatMulTarget* targets, int count,
                  ThreadPool& pool) {
  if (UseInt8Prefill(targets[0].f32_x)) return PrefillInt8(x, ldx, M, targets, count, pool);
  const bool bf16 = HasBF16DotProduct() && !targets[0].f32_x;
  const WType pt = bf16 ? WType::kBF16 : WType::kF32;
  int64_t kmax = 0;
  for (int i = 0; i < count; ++i) kmax = std::max(kmax, targets[i].w->cols);
  const std::vector<int64_t> task_start = TaskStarts(targets, count);
  pool.Run(task_start[count], [&](int64_t task, int) {
    int i = 0;
    while (task >= task_start[i + 1]) ++i;
    const MatMulTarget& t = targets[i];
    const int64_t K = t.w->cols;
    const int64_t n0 = (task - task_start[i]) * kNB, n = std::min(kNB, t.w->rows - n0);
    // Per-thread buffers, grown to the largest K and M once.
    static thread_local std::vector<float> row_tmp;
    static thread_local std::vector<uint8_t> panel, scratch;
    if (static_cast<int64_t>(row_tmp.size()) < kmax) row_tmp.resize(kmax);
    uint8_t* dst = Aligned64(panel, PackedMatrixBytes(pt, kNB, kmax));
    PackBlockRows(*t.w, n0, n, bf16, row_tmp.data(), dst);
    PackedMatrix pm;
    pm.type = pt;
    pm.rows = n;
    pm.cols = K;
    pm.data = dst;
    GemmEpilogue ep;
    ep.bias = t.bias ? t.bias + n0 : nullptr;
    GemmPacked(x, ldx, M, pm, ep, t.y + n0, t.ldy, Aligned64(scratch, GemmScratchBytes(M, kmax)));
  });
}

}  // namespace

void SetQuantIntrinsicsBodies(bool allowed) { g_intrinsics_bodies = allowed; }

void SetQuantPrefillInt8(bool allowed) { g_int8_prefill = allowed; }

namespace {
bool g_decode_panels = true;  // SetDecodePanels
}  // namespace

void SetDecodePanels(bool allowed) { g_decode_panels = allowed; }

bool DecodePanelsFit(const Matrix& w) {
  return (w.type == WType::kQ8_0 || w.type == WType::kQ4_0) && w.rows > 0 && w.rows % 64 == 0 &&
         w.cols > 0 && w.cols % kQBlock == 0;
}

const char* DecodePanelsKernelName() {
  return HWY_ARCH_ARM_A64 ? "neon-dotprod-panels" : "avx512vnni-panels";
}

bool DecodePanelsActive() {
  return g_decode_panels && !UseReference() && Int8IntrinsicsActive();
}

int64_t DecodePanelBytes(const Matrix& w) {
  CHECK(DecodePanelsFit(w));
  return w.rows * RowBytes(w.type, w.cols);
}

void UnpackDecodePanels(const Matrix& w, int64_t row0, int64_t n, void* dst) {
  CHECK(w.panels != nullptr && DecodePanelsFit(w));
  CHECK(row0 >= 0 && n >= 0 && row0 + n <= w.rows);
  const bool q8 = w.type == WType::kQ8_0;
  const int64_t nb = w.cols / kQBlock, bb = BlockBytes(w.type), pb = q8 ? 544 : 288;
  const uint8_t* in = static_cast<const uint8_t*>(w.panels);
  uint8_t* out = static_cast<uint8_t*>(dst);
  for (int64_t row = row0; row < row0 + n; ++row) {
    const int64_t g = row / 64, i = (row % 64) / 16, r = row % 16;
    uint8_t* blk = out + (row - row0) * nb * bb;
    for (int64_t b = 0; b < nb; ++b, blk += bb) {
      const uint8_t* gb = in + (g * nb + b) * 4 * pb;
      std::memcpy(blk, gb + 4 * (pb - 32) + 32 * i + 2 * r, 2);
      uint32_t od[8];  // lane r of each vector
      for (int k = 0; k < (q8 ? 8 : 4); ++k) std::memcpy(&od[k], gb + i * (pb - 32) + 64 * k + 4 * r, 4);
      uint32_t v[8];
      if (q8) {
        for (int k = 0; k < 8; ++k) v[k] = od[k] ^ 0x80808080u;
      } else {  // the inverse of PackDecodePanels' nibble pairing
        constexpr uint32_t lo = 0x0F0F0F0Fu, hi = 0xF0F0F0F0u;
        v[0] = (od[0] & lo) | ((od[2] & lo) << 4);
        v[1] = ((od[0] >> 4) & lo) | (od[2] & hi);
        v[2] = (od[1] & lo) | ((od[3] & lo) << 4);
        v[3] = ((od[1] >> 4) & lo) | (od[3] & hi);
      }
      std::memcpy(blk + 2, v, q8 ? 32 : 16);
    }
  }
}

void PackDecodePanels(const Matrix& w, int64_t group_begin, int64_t group_end, void* dst) {
  CHECK(DecodePanelsFit(w));
  CHECK(group_begin >= 0 && group_end * 64 <= w.rows);
  const bool q8 = w.type == WType::kQ8_0;
  const int64_t nb = w.cols / kQBlock, bb = BlockBytes(w.type), pb = q8 ? 544 : 288;
  uint8_t* out = static_cast<uint8_t*>(dst);
  // Row by row within a group: each source row is read front to back (one stream the hardware
  // prefetcher follows), and the group's panels (64 rows: 61 kB at 896 Q8_0 columns, 330 kB at
  // 4864) stay in L2 while they fill.
  for (int64_t g = group_begin; g < group_end; ++g) {
    for (int64_t rr = 0; rr < 64; ++rr) {
      const int64_t i = rr / 16, r = rr % 16;
      const uint8_t* blk = w.Row(g * 64 + rr);
      for (int64_t b = 0; b < nb; ++b, blk += bb) {
        uint8_t* gb = out + (g * nb + b) * 4 * pb;
        uint8_t* o = gb + i * (pb - 32);
        std::memcpy(gb + 4 * (pb - 32) + 32 * i + 2 * r, blk, 2);
        uint32_t v[8];  // the block's levels as dwords: byte t of v[k] is qs[4k + t]
        std::memcpy(v, blk + 2, q8 ? 32 : 16);
        uint32_t* od = reinterpret_cast<uint32_t*>(o) + r;  // lane r of vector k: od[16k]
        if (q8) {
          for (int k = 0; k < 8; ++k) od[16 * k] = v[k] ^ 0x80808080u;
        } else {
          // Byte k of a Q4_0 block holds element k (low nibble) and k + 16 (high): vector j
          // pairs elements 8j + t (low) with 8j + 4 + t (high).
          constexpr uint32_t lo = 0x0F0F0F0Fu, hi = 0xF0F0F0F0u;
          od[0] = (v[0] & lo) | ((v[1] & lo) << 4);
          od[16] = (v[2] & lo) | ((v[3] & lo) << 4);
          od[32] = ((v[0] >> 4) & lo) | (v[1] & hi);
          od[48] = ((v[2] >> 4) & lo) | (v[3] & hi);
        }
      }
    }
  }
}

std::vector<int64_t> TaskStarts(const MatMulTarget* targets, int count) {
  std::vector<int64_t> task_start(count + 1, 0);  // per call, not per row: negligible
  for (int i = 0; i < count; ++i)
    task_start[i + 1] = task_start[i] + (targets[i].w->rows + kPrefillTaskRows - 1) / kPrefillTaskRows;
  return task_start;
}

int64_t Int8PanelBytes(int64_t n, int64_t K) {
  return (n + 15) / 16 * (K / kQBlock) * kInt8PanelBlockBytes;
}

namespace {

// One row's 32 levels of a block as 8 dwords (4 levels each), moved as whole dwords: Q8_0 as
// stored (or + 128 per byte), Q4_0 / Q4_1 nibbles masked out of 4 bytes at a time; Q4_0's q − 8
// without borrows: (q | 0x80) − 8 stays in 0x78..0x87, and flipping the top bit gives (q − 8)
// mod 256.
template <WType T>
void BlockLevels(const uint8_t* qs, bool signed_levels, uint32_t out[8]) {
  if constexpr (T == WType::kQ8_0) {
    for (int g = 0; g < 8; ++g) {
      std::memcpy(&out[g], qs + 4 * g, 4);
      if (!signed_levels) out[g] ^= 0x80808080u;
    }
  } else {
    const bool minus8 = signed_levels && T == WType::kQ4_0;
    auto level = [minus8](uint32_t q) {
      return minus8 ? ((q | 0x80808080u) - 0x08080808u) ^ 0x80808080u : q;
    };
    for (int g = 0; g < 4; ++g) {
      uint32_t v;
      std::memcpy(&v, qs + 4 * g, 4);
      out[g] = level(v & 0x0F0F0F0Fu);             // elements 4g..4g+3
      out[g + 4] = level((v >> 4) & 0x0F0F0F0Fu);  // elements 16 + 4g..
    }
  }
}

template <WType T>
void PackInt8PanelsT(const Matrix& w, int64_t n0, int64_t n, bool signed_levels, uint8_t* dst) {
  const int64_t nb = w.cols / kQBlock, bb = BlockBytes(T);
  for (int64_t p = 0; p * 16 < n; ++p) {
    for (int64_t b = 0; b < nb; ++b) {
      uint8_t* o = dst + (p * nb + b) * kInt8PanelBlockBytes;
      uint32_t* q = reinterpret_cast<uint32_t*>(o);
      float* dw = reinterpret_cast<float*>(o + 512);
      float* mw = dw + 16;
      for (int j = 0; j < 16; ++j) {
        uint32_t lv[8] = {};
        dw[j] = mw[j] = 0.0f;
        if (p * 16 + j < n) {
          const uint8_t* blk = w.Row(n0 + p * 16 + j) + b * bb;
          uint16_t h;
          std::memcpy(&h, blk, 2);
          dw[j] = F16ToF32(h);
          if constexpr (T == WType::kQ4_1) {
            std::memcpy(&h, blk + 2, 2);
            mw[j] = F16ToF32(h);
          }
          BlockLevels<T>(blk + (T == WType::kQ4_1 ? 4 : 2), signed_levels, lv);
        }
        for (int g = 0; g < 8; ++g) q[g * 16 + j] = lv[g];
      }
    }
  }
}

}  // namespace

void PackInt8Panels(const Matrix& w, int64_t n0, int64_t n, bool signed_levels, void* dst) {
  if (!w.data) return PackInt8Panels(StandardRows(w, n0, n), 0, n, signed_levels, dst);
  auto* o = static_cast<uint8_t*>(dst);
  switch (w.type) {
    case WType::kQ8_0: return PackInt8PanelsT<WType::kQ8_0>(w, n0, n, signed_levels, o);
    case WType::kQ4_0: return PackInt8PanelsT<WType::kQ4_0>(w, n0, n, signed_levels, o);
    case WType::kQ4_1: return PackInt8PanelsT<WType::kQ4_1>(w, n0, n, signed_levels, o);
    default: CHECK(false);
  }
}

const char* QuantPrefillKernelName() {
  if (UseReference()) return "ref";
  if (UseInt8Prefill(false)) {
    if (HWY_ARCH_ARM_A64) return "int8-neon-dotprod";
    return UseAmxInt8() ? "int8-amx" : "int8-avx512vnni";
  }
  return HasBF16DotProduct() ? "bf16-panels" : "f32-panels";
}

void PackBlockMatrixPanels(const Matrix& w, void* dst, int64_t panel_begin, int64_t panel_end) {
  CHECK(IsBlockType(w.type));
  std::vector<float> row_tmp(static_cast<size_t>(w.cols));
  const int64_t panel_bytes = PackedMatrixBytes(WType::kBF16, kPackPanel, w.cols);
  for (int64_t pn = panel_begin; pn < panel_end; ++pn) {
    const int64_t n0 = pn * kPackPanel, n = std::min(kPackPanel, w.rows - n0);
    PackBlockRows(w, n0, n, /*bf16=*/true, row_tmp.data(),
                  static_cast<uint8_t*>(dst) + pn * panel_bytes);
  }
}

const char* QuantGemvKernelName() {
  if (UseReference()) return "ref";
  const char* name = "hwy";
  ChooseRows(WType::kQ8_0, &name);
  return name;
}

// Called by MatMulShared (ops_hwy.cc) when every target has the same block type and cols.
void MatMulQuantShared(const float* x, int64_t ldx, int64_t M, const MatMulTarget* targets,
                       int count, ThreadPool& pool) {
  const WType t = targets[0].w->type;
  const int64_t K = targets[0].w->cols;
  CHECK_EQ(K % kQBlock, 0);
  if (M > 4) return PrefillQuant(x, ldx, M, targets, count, pool);
  const bool active = DecodePanelsActive();
  int with_panels = 0;
  for (int i = 0; i < count; ++i) with_panels += active && targets[i].w->panels != nullptr;
  if (with_panels > 0 && with_panels < count) {
    // Some targets have panels, some do not (e.g. k/v with fewer than 64 rows beside q): the
    // two kinds in two calls, so each call's row groups stay aligned.
    constexpr int kMax = 16;
    CHECK_LE(count, kMax);
    MatMulTarget a[kMax], b[kMax];
    int na = 0, nb = 0;
    for (int i = 0; i < count; ++i) (targets[i].w->panels ? a[na++] : b[nb++]) = targets[i];
    MatMulQuantShared(x, ldx, M, a, na, pool);
    MatMulQuantShared(x, ldx, M, b, nb, pool);
    return;
  }
  // Panels: every target's rows are a multiple of 64, so 64-aligned chunks are whole row
  // groups. Otherwise a matrix stored only as panels would need DecodePanelsActive() (the loader
  // unpacks such weights where it is false).
  const bool panels = with_panels == count;
  for (int i = 0; i < count && !panels; ++i) CHECK(targets[i].w->data != nullptr);
  const char* name = nullptr;
  const QuantRowsFn rows_fn = panels ? nullptr : ChooseRows(t, &name);
  const BlockQ8X* xq = QuantizeX(x, ldx, M, K);
  const int64_t nb = K / kQBlock;
  int64_t total = 0;
  for (int i = 0; i < count; ++i) total += targets[i].w->rows;
  // One weight row (group) at a time per thread: a single sequential stream is what the
  // hardware prefetcher follows best (see the bf16 GEMV in ops_hwy.cc).
  pool.ParallelChunks(total, panels ? 64 : 16, 64, [&](int64_t b, int64_t e, int) {
    int64_t start = 0;
    for (int i = 0; i < count && start < e; ++i) {
      const int64_t rows = targets[i].w->rows;
      const int64_t lo = std::max(b, start), hi = std::min(e, start + rows);
      if (lo < hi) {
        const MatMulTarget& tg = targets[i];
        if (panels) {
          for (int64_t m = 0; m < M; ++m) {
#if HWY_ARCH_ARM_A64
            GemvPanelsArm(xq + m * nb, *tg.w, lo - start, hi - start, tg.bias, tg.y + m * tg.ldy);
#else
            GemvPanelsX86(xq + m * nb, *tg.w, lo - start, hi - start, tg.bias, tg.y + m * tg.ldy);
#endif
          }
        } else {
          rows_fn(xq, static_cast<int>(M), *tg.w, lo - start, hi - start, tg.bias, tg.y, tg.ldy);
        }
      }
      start += rows;
    }
  });
}

namespace ref {
void MatMulQuant(const float* x, int64_t ldx, int64_t M, const Matrix& w, const float* bias,
                 float* y, int64_t ldy) {
  CHECK(IsBlockType(w.type));
  CHECK_EQ(w.cols % kQBlock, 0);
  const int64_t nb = w.cols / kQBlock;
  std::vector<BlockQ8X> xq(nb);
  for (int64_t m = 0; m < M; ++m) {
    QuantizeRowQ8X(x + m * ldx, w.cols, xq.data());
    QuantRowsRef(xq.data(), 1, w, 0, w.rows, bias, y + m * ldy, ldy);
  }
}

// What MatMul computes for block types: the integer formula for M <= 4 (decode), and for larger
// M the product with the dequantized weights in f32 (the fast path rounds to bf16 when the bf16
// dot product is on, as for bf16 weights).
void MatMulBlockRef(const float* x, int64_t ldx, int64_t M, const Matrix& w, const float* bias,
                    float* y, int64_t ldy) {
  if (M <= 4) return MatMulQuant(x, ldx, M, w, bias, y, ldy);
  std::vector<float> row(w.cols);
  for (int64_t n = 0; n < w.rows; ++n) {
    DequantizeRow(w, n, row.data());
    for (int64_t m = 0; m < M; ++m) {
      float acc = 0.0f;
      for (int64_t k = 0; k < w.cols; ++k) acc += x[m * ldx + k] * row[k];
      y[m * ldy + n] = acc + (bias ? bias[n] : 0.0f);
    }
  }
}
}  // namespace ref

}  // namespace fastvlm::kernels
