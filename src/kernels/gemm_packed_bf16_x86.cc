// GemmPacked for bf16 weights with the AVX512-BF16 dot product (vdpbf16ps). x is rounded to bf16
// once per call into the caller's scratch, row-major, so a k-pair of one row is one 32-bit
// broadcast; the packed weights hold the matching pairs for 16 outputs per 64-byte vector.
// Highway 1.0.3 has no op for this instruction (DESIGN.md "Toolchain facts"): intrinsics behind
// the same CPU check as matmul_bf16_x86.cc. Only plain C data crosses into the target-attributed
// functions.
#include <algorithm>
#include <atomic>
#include <cstdint>
#include <cstdlib>

#include "base/float16.h"
#include "kernels/ops.h"

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#define FVLM_HAVE_GEMM_BF16 1
#pragma GCC diagnostic ignored "-Wuninitialized"
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#include <immintrin.h>
#if defined(__linux__)
#include <cpuid.h>
#include <sys/syscall.h>
#include <unistd.h>
#endif
#else
#define FVLM_HAVE_GEMM_BF16 0
#endif

namespace fastvlm::kernels {

void GemmEpilogueTile(const float* t, int64_t ldt, int64_t rows, int64_t ncols, int64_t m0,
                      int64_t n0, const GemmEpilogue& ep, float* y, int64_t ldy);

#if FVLM_HAVE_GEMM_BF16
namespace {

#define FVLM_TARGET_BF16 __attribute__((target("avx512f,avx512bw,avx512vl,avx512bf16")))

// Rows [0, M) of x to bf16 pairs: out row m holds kp_n 32-bit pairs (odd K: upper half 0).
FVLM_TARGET_BF16 void RowsToBF16(const float* x, int64_t ldx, int64_t M, int64_t K,
                                 uint16_t* out) {
  const int64_t stride = (K + 1) / 2 * 2;
  for (int64_t m = 0; m < M; ++m) {
    const float* xr = x + m * ldx;
    uint16_t* o = out + m * stride;
    int64_t k = 0;
    for (; k + 32 <= K; k += 32) {
      const __m512 lo = _mm512_loadu_ps(xr + k), hi = _mm512_loadu_ps(xr + k + 16);
      _mm512_storeu_si512(o + k, (__m512i)_mm512_cvtne2ps_pbh(hi, lo));
    }
    for (; k < K; ++k) o[k] = F32ToBF16(xr[k]);
    if (K & 1) o[K] = 0;
  }
}

constexpr int kMR = 6;  // rows of x per tile
constexpr int kNP = 4;  // panels of 16 outputs per tile: 24 accumulators

template <int NP>
FVLM_TARGET_BF16 void Tile(const uint32_t* xb, int64_t kp_n, int64_t m0, int mr,
                           const uint8_t* panels, int64_t panel_bytes, float* t) {
  __m512 acc[kMR][NP];
  for (int i = 0; i < kMR; ++i)
    for (int p = 0; p < NP; ++p) acc[i][p] = _mm512_setzero_ps();
  const uint32_t* xr[kMR];
  for (int i = 0; i < kMR; ++i) xr[i] = xb + (m0 + std::min(i, mr - 1)) * kp_n;
  const uint32_t* wp[NP];
  for (int p = 0; p < NP; ++p) wp[p] = reinterpret_cast<const uint32_t*>(panels + p * panel_bytes);
  for (int64_t kp = 0; kp < kp_n; ++kp) {
    __m512bh wv[NP];
    for (int p = 0; p < NP; ++p) wv[p] = (__m512bh)_mm512_loadu_si512(wp[p] + kp * 16);
    for (int i = 0; i < kMR; ++i) {
      const __m512bh b = (__m512bh)_mm512_set1_epi32(static_cast<int>(xr[i][kp]));
      for (int p = 0; p < NP; ++p) acc[i][p] = _mm512_dpbf16_ps(acc[i][p], wv[p], b);
    }
  }
  for (int i = 0; i < mr; ++i)
    for (int p = 0; p < NP; ++p) _mm512_storeu_ps(t + i * (kNP * 16) + p * 16, acc[i][p]);
}

// --- AMX (Intel Sapphire Rapids and later): the same packed panels as tile operands ---------
//
// A packed panel is kp_n rows of 16 outputs × one bf16 pair (64 bytes), which is exactly an AMX
// B tile (rows = k-pairs, 16 columns of pairs), and the bf16 rows of x are A tiles (16 rows ×
// 32 values). Tiles 0-3 accumulate a 32 × 32 block of y in f32, tiles 4-5 hold x, 6-7 weights.
// Only blocks of 16 whole rows with K a multiple of 32 go through the tiles; other rows take
// the AVX512-BF16 kernel above. The products of bf16 pairs are exact in f32 either way; the
// summation order differs, within the same error bound.

#define FVLM_TARGET_AMX \
  __attribute__((target("avx512f,avx512bw,avx512vl,avx512bf16,amx-tile,amx-bf16")))


}  // namespace

// Every tile 16 rows × 64 bytes (palette 1), for the calling thread; matmul_bf16_x86.cc uses it
// too.
struct alignas(64) AmxTileConfig {
  uint8_t palette = 1, start_row = 0, reserved[14] = {};
  uint16_t colsb[16] = {};
  uint8_t rows[16] = {};
};

FVLM_TARGET_AMX void AmxConfigure() {
  AmxTileConfig cfg;
  for (int i = 0; i < 8; ++i) {
    cfg.rows[i] = 16;
    cfg.colsb[i] = 64;
  }
  // GCC 12 does not treat ldtilecfg as reading its operand and may drop the stores above (it
  // did: palette 1 with no rows, then SIGILL on the first tile instruction).
  __asm__ volatile("" : : "r"(&cfg) : "memory");
  _tile_loadconfig(&cfg);
}

// The int8 prefill's tiles (matmul_quant_x86.cc): 0-3 int32 sums (16 rows × 64 bytes), 4-5 x
// (16 rows × 32 levels: one 32-element block), 6-7 weights (8 k-groups × 64 bytes).
FVLM_TARGET_AMX void AmxConfigureInt8Block32() {
  AmxTileConfig cfg;
  for (int i = 0; i < 8; ++i) {
    cfg.rows[i] = i < 6 ? 16 : 8;
    cfg.colsb[i] = i == 4 || i == 5 ? 32 : 64;
  }
  __asm__ volatile("" : : "r"(&cfg) : "memory");  // as in AmxConfigure
  _tile_loadconfig(&cfg);
}

FVLM_TARGET_AMX void AmxRelease() { _tile_release(); }

namespace {

template <int MT, int NT>
FVLM_TARGET_AMX void AmxBlock(const uint16_t* a, int64_t lda_bytes, const uint8_t* b,
                              int64_t panel_bytes, int64_t kp_n, float* t, int64_t ldt) {
  _tile_zero(0);
  if constexpr (NT == 2) _tile_zero(1);
  if constexpr (MT == 2) _tile_zero(2);
  if constexpr (MT == 2 && NT == 2) _tile_zero(3);
  for (int64_t kp = 0; kp < kp_n; kp += 16) {
    _tile_loadd(4, a + 2 * kp, lda_bytes);
    if constexpr (MT == 2) _tile_loadd(5, a + 16 * (lda_bytes / 2) + 2 * kp, lda_bytes);
    _tile_loadd(6, b + 64 * kp, 64);
    if constexpr (NT == 2) _tile_loadd(7, b + panel_bytes + 64 * kp, 64);
    _tile_dpbf16ps(0, 4, 6);
    if constexpr (NT == 2) _tile_dpbf16ps(1, 4, 7);
    if constexpr (MT == 2) _tile_dpbf16ps(2, 5, 6);
    if constexpr (MT == 2 && NT == 2) _tile_dpbf16ps(3, 5, 7);
  }
  const int64_t ldt_bytes = ldt * 4;
  _tile_stored(0, t, ldt_bytes);
  if constexpr (NT == 2) _tile_stored(1, t + 16, ldt_bytes);
  if constexpr (MT == 2) _tile_stored(2, t + 16 * ldt, ldt_bytes);
  if constexpr (MT == 2 && NT == 2) _tile_stored(3, t + 16 * ldt + 16, ldt_bytes);
}

constexpr int kAmxPanels = 8;  // column block: 8 panels (128 outputs, K·256 bytes of weights)

// Rows [0, m_end) (a multiple of 16) of y through the tiles.
FVLM_TARGET_AMX void GemmAmx(const uint16_t* xb, int64_t kp_n, int64_t m_end, const uint8_t* wbase,
                             int64_t panels, int64_t pb, int64_t N, const GemmEpilogue& ep,
                             float* y, int64_t ldy) {
  AmxConfigure();
  alignas(64) float t[32 * kAmxPanels * 16];
  constexpr int64_t ldt = kAmxPanels * 16;
  const int64_t lda_bytes = kp_n * 4;
  for (int64_t p0 = 0; p0 < panels; p0 += kAmxPanels) {
    const int64_t np = std::min<int64_t>(kAmxPanels, panels - p0);
    const int64_t n0 = p0 * kPackPanel, ncols = std::min<int64_t>(np * kPackPanel, N - n0);
    for (int64_t m0 = 0; m0 < m_end; m0 += 32) {
      const bool two_rows = m_end - m0 >= 32;
      const uint16_t* a = xb + m0 * 2 * kp_n;
      for (int64_t p = 0; p < np; p += 2) {
        const uint8_t* b = wbase + (p0 + p) * pb;
        float* tp = t + p * 16;
        const bool two_cols = np - p >= 2;
        if (two_rows && two_cols) AmxBlock<2, 2>(a, lda_bytes, b, pb, kp_n, tp, ldt);
        else if (two_rows) AmxBlock<2, 1>(a, lda_bytes, b, pb, kp_n, tp, ldt);
        else if (two_cols) AmxBlock<1, 2>(a, lda_bytes, b, pb, kp_n, tp, ldt);
        else AmxBlock<1, 1>(a, lda_bytes, b, pb, kp_n, tp, ldt);
      }
      GemmEpilogueTile(t, ldt, two_rows ? 32 : 16, ncols, m0, n0, ep, y, ldy);
    }
  }
  AmxRelease();
}

// CPUID AMX-TILE and AMX-BF16 (want_int8: AMX-INT8), the OS saving the tile state (XCR0 bits
// 17-18), and Linux's per-process permission to use it (arch_prctl ARCH_REQ_XCOMP_PERM), asked
// for once.
bool CpuHasAmx(bool want_int8) {
#if defined(__linux__)
  static const unsigned features = [] {  // bit 0: AMX-BF16 usable, bit 1: AMX-INT8 usable
    unsigned a, b, c, d;
    if (!__get_cpuid_count(7, 0, &a, &b, &c, &d)) return 0u;
    const unsigned edx7 = d;
    if (!((edx7 >> 24) & 1)) return 0u;  // AMX-TILE
    if (!__get_cpuid(1, &a, &b, &c, &d) || !((c >> 27) & 1)) return 0u;  // OSXSAVE
    unsigned lo, hi;
    __asm__ volatile("xgetbv" : "=a"(lo), "=d"(hi) : "c"(0));
    if ((lo & 0x60000u) != 0x60000u) return 0u;
    constexpr long kArchReqXcompPerm = 0x1023, kXfeatureXtiledata = 18;
    if (syscall(SYS_arch_prctl, kArchReqXcompPerm, kXfeatureXtiledata) != 0) return 0u;
    return ((edx7 >> 22) & 1) | (((edx7 >> 25) & 1) << 1);
  }();
  return (features >> (want_int8 ? 1 : 0)) & 1;
#else
  (void)want_int8;
  return false;
#endif
}

std::atomic<bool> g_amx_enabled{std::getenv("FASTVLM_NO_AMX") == nullptr};

}  // namespace

bool HasBF16DotProduct();

bool UseAmx() {
  return g_amx_enabled.load(std::memory_order_relaxed) && HasBF16DotProduct() && CpuHasAmx(false);
}
bool UseAmxInt8() { return g_amx_enabled.load(std::memory_order_relaxed) && CpuHasAmx(true); }

int64_t GemmPackedRowBlock(const PackedMatrix& w) {
  return w.type == WType::kBF16 && w.cols % 32 == 0 && UseAmx() ? 16 : kMR;
}
void SetAmx(bool allowed) { g_amx_enabled.store(allowed, std::memory_order_relaxed); }

bool GemmPackedBF16DotProduct(const float* x, int64_t ldx, int64_t M, const PackedMatrix& w,
                              const GemmEpilogue& ep, float* y, int64_t ldy, void* scratch) {
  if (!HasBF16DotProduct() || w.type != WType::kBF16) return false;
  const int64_t N = w.rows, K = w.cols, kp_n = (K + 1) / 2;
  const int64_t panels = (N + kPackPanel - 1) / kPackPanel, pb = w.PanelBytes();
  auto* xb = static_cast<uint16_t*>(scratch);
  RowsToBF16(x, ldx, M, K, xb);
  const auto* xp = reinterpret_cast<const uint32_t*>(xb);
  const auto* wbase = static_cast<const uint8_t*>(w.data);
  int64_t m_begin = 0;
  if (K % 32 == 0 && M >= 16 && UseAmx()) {
    m_begin = M / 16 * 16;
    GemmAmx(xb, kp_n, m_begin, wbase, panels, pb, N, ep, y, ldy);
    if (m_begin == M) return true;
  }
  alignas(64) float t[kMR * kNP * 16];
  // Column blocks of 4 panels (K·128 bytes, L2-resident) outermost, row tiles inside.
  for (int64_t p0 = 0; p0 < panels; p0 += kNP) {
    const int np = static_cast<int>(std::min<int64_t>(kNP, panels - p0));
    const uint8_t* panel = wbase + p0 * pb;
    const int64_t n0 = p0 * kPackPanel, ncols = std::min<int64_t>(np * kPackPanel, N - n0);
    for (int64_t m0 = m_begin; m0 < M; m0 += kMR) {
      const int mr = static_cast<int>(std::min<int64_t>(kMR, M - m0));
      switch (np) {
        case 1: Tile<1>(xp, kp_n, m0, mr, panel, pb, t); break;
        case 2: Tile<2>(xp, kp_n, m0, mr, panel, pb, t); break;
        case 3: Tile<3>(xp, kp_n, m0, mr, panel, pb, t); break;
        default: Tile<4>(xp, kp_n, m0, mr, panel, pb, t); break;
      }
      GemmEpilogueTile(t, kNP * 16, mr, ncols, m0, n0, ep, y, ldy);
    }
  }
  return true;
}

#else

bool GemmPackedBF16DotProduct(const float*, int64_t, int64_t, const PackedMatrix&,
                              const GemmEpilogue&, float*, int64_t, void*) {
  return false;
}
bool UseAmx() { return false; }
bool UseAmxInt8() { return false; }
int64_t GemmPackedRowBlock(const PackedMatrix&) { return 6; }
void SetAmx(bool) {}

#endif

}  // namespace fastvlm::kernels
