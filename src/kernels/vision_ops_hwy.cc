// Highway bodies of the vision ops of ops.h (GELU, depthwise / dense convolutions over NHWC,
// channel LayerNorm, the packed-weight GEMM), compiled once per SIMD target.
#include <algorithm>
#include <cmath>
#include <cstring>

#undef HWY_TARGET_INCLUDE
#define HWY_TARGET_INCLUDE "kernels/vision_ops_hwy.cc"
#include "hwy/foreach_target.h"  // IWYU pragma: keep
#include "hwy/highway.h"

#include "base/check.h"
#include "kernels/ops.h"

HWY_BEFORE_NAMESPACE();
namespace fastvlm::kernels::HWY_NAMESPACE {
namespace hn = hwy::HWY_NAMESPACE;

using DF = hn::ScalableTag<float>;
using VF = hn::Vec<DF>;
constexpr int64_t kL = static_cast<int64_t>(hn::MaxLanes(DF()));

// erf(a) as a rational function p(a)/q(a) (odd / even polynomials, the minimax fit Eigen uses
// for float); erf rounds to ±1 in f32 beyond |a| = 3.83, so those lanes are set exactly.
// Within ~6 ulp of the true erf (3.2e-7 absolute) everywhere.
HWY_INLINE VF ErfVec(DF df, VF a) {
  const VF lim = hn::Set(df, 3.83f);
  const VF x = hn::Min(hn::Max(a, hn::Neg(lim)), lim);
  const VF x2 = hn::Mul(x, x);
  VF p = hn::MulAdd(x2, hn::Set(df, -2.72614225801306e-10f), hn::Set(df, 2.77068142495902e-08f));
  p = hn::MulAdd(x2, p, hn::Set(df, -2.10102402082508e-06f));
  p = hn::MulAdd(x2, p, hn::Set(df, -5.69250639462346e-05f));
  p = hn::MulAdd(x2, p, hn::Set(df, -7.34990630326855e-04f));
  p = hn::MulAdd(x2, p, hn::Set(df, -2.95459980854025e-03f));
  p = hn::MulAdd(x2, p, hn::Set(df, -1.60960333262415e-02f));
  p = hn::Mul(x, p);
  VF q = hn::MulAdd(x2, hn::Set(df, -1.45660718464996e-05f), hn::Set(df, -2.13374055278905e-04f));
  q = hn::MulAdd(x2, q, hn::Set(df, -1.68282697438203e-03f));
  q = hn::MulAdd(x2, q, hn::Set(df, -7.37332916720468e-03f));
  q = hn::MulAdd(x2, q, hn::Set(df, -1.42647390514189e-02f));
  const VF r = hn::Div(p, q);
  return hn::IfThenElse(hn::Ge(hn::Abs(a), lim), hn::CopySign(hn::Set(df, 1.0f), a), r);
}

// 0.5·v·(1 + erf(v/√2)), the order PyTorch's GELU evaluates it in.
HWY_INLINE VF GeluVec(DF df, VF v) {
  const VF e = ErfVec(df, hn::Mul(v, hn::Set(df, 0.70710678118654752f)));
  return hn::Mul(hn::Mul(hn::Set(df, 0.5f), v), hn::Add(hn::Set(df, 1.0f), e));
}

// Loads n < kL floats, the rest zero (tails without reading past the end).
HWY_INLINE VF LoadPartial(DF df, const float* p, int64_t n) {
  alignas(64) float buf[kL];
  for (int64_t i = 0; i < kL; ++i) buf[i] = i < n ? p[i] : 0.0f;
  return hn::Load(df, buf);
}
HWY_INLINE void StorePartial(DF df, VF v, float* p, int64_t n) {
  alignas(64) float buf[kL];
  hn::Store(v, df, buf);
  for (int64_t i = 0; i < n; ++i) p[i] = buf[i];
}

void GeluImpl(float* x, int64_t n) {
  const DF df;
  int64_t i = 0;
  for (; i + kL <= n; i += kL) hn::StoreU(GeluVec(df, hn::LoadU(df, x + i)), df, x + i);
  if (i < n) StorePartial(df, GeluVec(df, LoadPartial(df, x + i, n - i)), x + i, n - i);
}

// --- Depthwise convolution ----------------------------------------------------------------

using DupIdx = decltype(hn::SetTableIndices(DF(), static_cast<const int32_t*>(nullptr)));

// Input vector for output channels [o, o + kL) of pixel offset `idx` (= pixel · C): x[idx + o]
// for mult 1; for mult 2, input channels o/2 .. o/2 + kL/2 − 1 each duplicated.
// The input window of output pixel (oy, ox): its top-left input coordinate and the kernel taps
// [ky0, ky1) × [kx0, kx1) that fall inside the image (zero padding elsewhere).
struct Window {
  int64_t iy0, ix0;
  int ky0, ky1, kx0, kx1;
};
template <class Shape>
HWY_INLINE Window PixelWindow(int64_t oy, int64_t ox, const Shape& s) {
  const int64_t iy0 = oy * s.stride - s.pad, ix0 = ox * s.stride - s.pad;
  return {iy0, ix0, static_cast<int>(std::max<int64_t>(0, -iy0)),
          static_cast<int>(std::min<int64_t>(s.k, s.H - iy0)),
          static_cast<int>(std::max<int64_t>(0, -ix0)),
          static_cast<int>(std::min<int64_t>(s.k, s.W - ix0))};
}

template <int kMult>
HWY_INLINE VF LoadIn(DF df, const float* x, int64_t idx, int64_t o, int64_t total,
                     const DupIdx& dup) {
  if constexpr (kMult == 1) {
    return hn::LoadU(df, x + idx + o);
  } else {
    const int64_t start = idx + o / 2;
    if (start + kL <= total) return hn::TableLookupLanes(hn::LoadU(df, x + start), dup);
    alignas(64) float buf[kL];
    for (int64_t i = 0; i < kL; ++i) buf[i] = x[start + i / 2];
    return hn::Load(df, buf);
  }
}

// kV channel vectors of one output pixel at once: kV independent FMA chains hide the FMA latency
// over the k·k taps.
template <int kMult, int kV>
HWY_INLINE void DwPixelVectors(const float* x, const DwConvShape& s, const float* w,
                               const float* bias, bool gelu, float* yp, int64_t o, int64_t iy0,
                               int64_t ix0, int ky0, int ky1, int kx0, int kx1, int64_t total,
                               const DupIdx& dup) {
  const DF df;
  const int64_t Cout = s.Cout();
  VF acc[kV];
  for (int v = 0; v < kV; ++v) acc[v] = bias ? hn::LoadU(df, bias + o + v * kL) : hn::Zero(df);
  for (int ky = ky0; ky < ky1; ++ky) {
    for (int kx = kx0; kx < kx1; ++kx) {
      const int64_t idx = ((iy0 + ky) * s.W + ix0 + kx) * s.C;
      const float* wt = w + (ky * s.k + kx) * Cout + o;
      for (int v = 0; v < kV; ++v)
        acc[v] = hn::MulAdd(LoadIn<kMult>(df, x, idx, o + v * kL, total, dup),
                            hn::LoadU(df, wt + v * kL), acc[v]);
    }
  }
  for (int v = 0; v < kV; ++v) {
    if (gelu) acc[v] = GeluVec(df, acc[v]);
    hn::StoreU(acc[v], df, yp + o + v * kL);
  }
}

// kR consecutive output pixels of one row whose K×K windows lie inside the image (stride 1,
// multiplier 1, C a multiple of kL): per channel vector and kernel row, each of the kR + K − 1
// input vectors is loaded once and meets the K weights of that row in registers, instead of
// one load of input and one of weight per multiply-add (DwPixelVectors, which is load-bound).
// Each output still adds its taps in DwPixelVectors' order (bias, then ky, then kx, one FMA
// each), so the result is the same bits.
constexpr int kDwRun = 8;
template <int K>
HWY_INLINE void DwRowRun(const float* x, const DwConvShape& s, const float* w, const float* bias,
                         bool gelu, float* yp, int64_t iy0, int64_t ix0) {
  const DF df;
  const int64_t C = s.C;
  for (int64_t o = 0; o < C; o += kL) {
    const VF b = bias ? hn::LoadU(df, bias + o) : hn::Zero(df);
    VF acc[kDwRun];
    HWY_UNROLL(16)
    for (int r = 0; r < kDwRun; ++r) acc[r] = b;
    for (int ky = 0; ky < K; ++ky) {
      const float* row = x + ((iy0 + ky) * s.W + ix0) * C + o;
      VF wv[K];
      HWY_UNROLL(16)
      for (int kx = 0; kx < K; ++kx) wv[kx] = hn::LoadU(df, w + (ky * K + kx) * C + o);
      HWY_UNROLL(16)
      for (int j = 0; j < kDwRun + K - 1; ++j) {
        const VF in = hn::LoadU(df, row + j * C);
        HWY_UNROLL(16)
        for (int kx = 0; kx < K; ++kx) {
          const int r = j - kx;
          if (r >= 0 && r < kDwRun) acc[r] = hn::MulAdd(in, wv[kx], acc[r]);
        }
      }
    }
    HWY_UNROLL(16)
    for (int r = 0; r < kDwRun; ++r) {
      const VF v = gelu ? GeluVec(df, acc[r]) : acc[r];
      hn::StoreU(v, df, yp + r * C + o);
    }
  }
}

template <int kMult>
void DwConvT(const float* x, const DwConvShape& s, const float* w, const float* bias, bool gelu,
             float* y, int64_t p_begin, int64_t p_end) {
  const DF df;
  const int64_t OW = s.OW(), Cout = s.Cout(), total = s.H * s.W * s.C;
  alignas(64) int32_t dup_idx[kL];
  for (int64_t i = 0; i < kL; ++i) dup_idx[i] = static_cast<int32_t>(i / 2);
  const auto dup = hn::SetTableIndices(df, dup_idx);
  const bool runs = kMult == 1 && s.stride == 1 && (s.k == 7 || s.k == 3) && s.C % kL == 0;
  for (int64_t p = p_begin; p < p_end; ++p) {
    if (runs) {  // kDwRun pixels of this row with whole windows: DwRowRun
      const int64_t oy = p / OW, ox = p % OW, iy0 = oy - s.pad, ix0 = ox - s.pad;
      if (iy0 >= 0 && iy0 + s.k <= s.H && ix0 >= 0 && ix0 + kDwRun - 1 + s.k <= s.W &&
          ox + kDwRun <= OW && p + kDwRun <= p_end) {
        float* yp = y + (p - p_begin) * Cout;
        if (s.k == 7) DwRowRun<7>(x, s, w, bias, gelu, yp, iy0, ix0);
        else DwRowRun<3>(x, s, w, bias, gelu, yp, iy0, ix0);
        p += kDwRun - 1;
        continue;
      }
    }
    const auto [iy0, ix0, ky0, ky1, kx0, kx1] = PixelWindow(p / OW, p % OW, s);
    float* yp = y + (p - p_begin) * Cout;
    int64_t o = 0;
    for (; o + 4 * kL <= Cout; o += 4 * kL)
      DwPixelVectors<kMult, 4>(x, s, w, bias, gelu, yp, o, iy0, ix0, ky0, ky1, kx0, kx1, total, dup);
    for (; o + kL <= Cout; o += kL)
      DwPixelVectors<kMult, 1>(x, s, w, bias, gelu, yp, o, iy0, ix0, ky0, ky1, kx0, kx1, total, dup);
    if (o < Cout) {  // channel tail: scalar sums, vector activation
      alignas(64) float buf[kL] = {};
      for (int64_t c = o; c < Cout; ++c) {
        float acc = bias ? bias[c] : 0.0f;
        for (int ky = ky0; ky < ky1; ++ky)
          for (int kx = kx0; kx < kx1; ++kx)
            acc += x[((iy0 + ky) * s.W + ix0 + kx) * s.C + c / kMult] *
                   w[(ky * s.k + kx) * Cout + c];
        buf[c - o] = acc;
      }
      VF v = hn::Load(df, buf);
      if (gelu) v = GeluVec(df, v);
      StorePartial(df, v, yp + o, Cout - o);
    }
  }
}

void DepthwiseConvImpl(const float* x, const DwConvShape& s, const float* w, const float* bias,
                       bool gelu, float* y, int64_t p_begin, int64_t p_end) {
  if (s.mult == 1) return DwConvT<1>(x, s, w, bias, gelu, y, p_begin, p_end);
  CHECK_EQ(s.mult, 2);
  DwConvT<2>(x, s, w, bias, gelu, y, p_begin, p_end);
}

// --- Dense convolution (stem) ---------------------------------------------------------------

template <int kV>
HWY_INLINE void ConvPixelVectors(const float* x, const ConvShape& s, const float* w,
                                 const float* bias, bool gelu, float* yp, int64_t o, int64_t iy0,
                                 int64_t ix0, int ky0, int ky1, int kx0, int kx1) {
  const DF df;
  VF acc[kV];
  for (int v = 0; v < kV; ++v) acc[v] = bias ? hn::LoadU(df, bias + o + v * kL) : hn::Zero(df);
  for (int ky = ky0; ky < ky1; ++ky) {
    for (int kx = kx0; kx < kx1; ++kx) {
      const float* xp = x + ((iy0 + ky) * s.W + ix0 + kx) * s.Cin;
      const float* wt = w + (ky * s.k + kx) * s.Cin * s.Cout + o;
      for (int64_t c = 0; c < s.Cin; ++c) {
        const VF xb = hn::Set(df, xp[c]);
        for (int v = 0; v < kV; ++v)
          acc[v] = hn::MulAdd(xb, hn::LoadU(df, wt + c * s.Cout + v * kL), acc[v]);
      }
    }
  }
  for (int v = 0; v < kV; ++v) {
    if (gelu) acc[v] = GeluVec(df, acc[v]);
    hn::StoreU(acc[v], df, yp + o + v * kL);
  }
}

void Conv2DImpl(const float* x, const ConvShape& s, const float* w, const float* bias, bool gelu,
                float* y, int64_t p_begin, int64_t p_end) {
  const DF df;
  const int64_t OW = s.OW(), Cout = s.Cout;
  for (int64_t p = p_begin; p < p_end; ++p) {
    const auto [iy0, ix0, ky0, ky1, kx0, kx1] = PixelWindow(p / OW, p % OW, s);
    float* yp = y + (p - p_begin) * Cout;
    int64_t o = 0;
    for (; o + 4 * kL <= Cout; o += 4 * kL)
      ConvPixelVectors<4>(x, s, w, bias, gelu, yp, o, iy0, ix0, ky0, ky1, kx0, kx1);
    for (; o + kL <= Cout; o += kL)
      ConvPixelVectors<1>(x, s, w, bias, gelu, yp, o, iy0, ix0, ky0, ky1, kx0, kx1);
    if (o < Cout) {
      alignas(64) float buf[kL] = {};
      for (int64_t c = o; c < Cout; ++c) {
        float acc = bias ? bias[c] : 0.0f;
        for (int ky = ky0; ky < ky1; ++ky)
          for (int kx = kx0; kx < kx1; ++kx)
            for (int64_t ci = 0; ci < s.Cin; ++ci)
              acc += x[((iy0 + ky) * s.W + ix0 + kx) * s.Cin + ci] *
                     w[((ky * s.k + kx) * s.Cin + ci) * Cout + c];
        buf[c - o] = acc;
      }
      VF v = hn::Load(df, buf);
      if (gelu) v = GeluVec(df, v);
      StorePartial(df, v, yp + o, Cout - o);
    }
  }
}

// --- LayerNorm over channels --------------------------------------------------------------

// Σ x[i] and Σ (x[i] − mean)², two vector accumulators each.
HWY_INLINE float SumRow(DF df, const float* x, int64_t n) {
  VF a0 = hn::Zero(df), a1 = hn::Zero(df);
  int64_t i = 0;
  for (; i + 2 * kL <= n; i += 2 * kL) {
    a0 = hn::Add(a0, hn::LoadU(df, x + i));
    a1 = hn::Add(a1, hn::LoadU(df, x + i + kL));
  }
  for (; i + kL <= n; i += kL) a0 = hn::Add(a0, hn::LoadU(df, x + i));
  float s = hn::GetLane(hn::SumOfLanes(df, hn::Add(a0, a1)));
  for (; i < n; ++i) s += x[i];
  return s;
}
HWY_INLINE float SumSqDev(DF df, const float* x, int64_t n, float mean) {
  const VF vm = hn::Set(df, mean);
  VF a0 = hn::Zero(df), a1 = hn::Zero(df);
  int64_t i = 0;
  for (; i + 2 * kL <= n; i += 2 * kL) {
    const VF d0 = hn::Sub(hn::LoadU(df, x + i), vm), d1 = hn::Sub(hn::LoadU(df, x + i + kL), vm);
    a0 = hn::MulAdd(d0, d0, a0);
    a1 = hn::MulAdd(d1, d1, a1);
  }
  for (; i + kL <= n; i += kL) {
    const VF d = hn::Sub(hn::LoadU(df, x + i), vm);
    a0 = hn::MulAdd(d, d, a0);
  }
  float s = hn::GetLane(hn::SumOfLanes(df, hn::Add(a0, a1)));
  for (; i < n; ++i) s += (x[i] - mean) * (x[i] - mean);
  return s;
}

void LayerNormRowsImpl(const float* x, int64_t ldx, int64_t rows, int64_t C, const float* w,
                       const float* b, float eps, float* y, int64_t ldy) {
  const DF df;
  for (int64_t r = 0; r < rows; ++r) {
    const float* xr = x + r * ldx;
    float* yr = y + r * ldy;
    const float mean = SumRow(df, xr, C) / static_cast<float>(C);
    const float var = SumSqDev(df, xr, C, mean) / static_cast<float>(C);
    const float inv = 1.0f / std::sqrt(var + eps);
    const VF vm = hn::Set(df, mean), vi = hn::Set(df, inv);
    int64_t c = 0;
    for (; c + kL <= C; c += kL) {
      const VF v = hn::Mul(hn::Sub(hn::LoadU(df, xr + c), vm), vi);
      hn::StoreU(hn::MulAdd(v, hn::LoadU(df, w + c), hn::LoadU(df, b + c)), df, yr + c);
    }
    for (; c < C; ++c) yr[c] = (xr[c] - mean) * inv * w[c] + b[c];
  }
}

// --- Packed GEMM ----------------------------------------------------------------------------

// Applies the epilogue to a tile t [rows][ncols] (rows ldt apart) of raw dot products whose
// top-left element is output (m0, n0), writing y.
void EpilogueTileImpl(const float* t, int64_t ldt, int64_t rows, int64_t ncols, int64_t m0,
                      int64_t n0, const GemmEpilogue& ep, float* y, int64_t ldy) {
  const DF df;
  const VF alpha = hn::Set(df, ep.alpha);
  for (int64_t r = 0; r < rows; ++r) {
    const float* tr = t + r * ldt;
    float* yr = y + (m0 + r) * ldy + n0;
    const float* rr = ep.residual ? ep.residual + (m0 + r) * ep.ldr + n0 : nullptr;
    for (int64_t c = 0; c < ncols; c += kL) {
      const int64_t nv = std::min(kL, ncols - c);
      const bool full = nv == kL;
      VF v = hn::LoadU(df, tr + c);  // t rows are padded to whole vectors
      if (ep.alpha != 1.0f) v = hn::Mul(v, alpha);
      if (ep.bias) v = hn::Add(v, full ? hn::LoadU(df, ep.bias + n0 + c) : LoadPartial(df, ep.bias + n0 + c, nv));
      if (ep.gelu) v = GeluVec(df, v);
      if (ep.scale) v = hn::Mul(v, full ? hn::LoadU(df, ep.scale + n0 + c) : LoadPartial(df, ep.scale + n0 + c, nv));
      if (rr) v = hn::Add(v, full ? hn::LoadU(df, rr + c) : LoadPartial(df, rr + c, nv));
      if (full) {
        hn::StoreU(v, df, yr + c);
      } else {
        StorePartial(df, v, yr + c, nv);
      }
    }
  }
}

// Register tile: kMR rows of x × kNP panels (kNP·16 outputs). AVX-512: 6 × 64 = 24 accumulators;
// AVX2: 6 × 16 = 12 of its 16 registers; 128-bit: 3 × 16 = 12.
constexpr int kVPP = static_cast<int>(kPackPanel / kL);  // vectors per panel
constexpr int kNP = kL >= 16 ? 4 : 1;
constexpr int kMR = kL >= 8 ? 6 : (kL >= 4 ? 3 : 1);

template <WType T, int NP>
HWY_INLINE void MicroTile(const float* x, int64_t ldx, int64_t m0, int mr,
                          const PackedMatrix& w, int64_t panel0, int64_t N,
                          const GemmEpilogue& ep, float* y, int64_t ldy) {
  const DF df;
  constexpr int NV = NP * kVPP;
  const int64_t K = w.cols;
  VF acc[kMR][NV];
  for (int i = 0; i < kMR; ++i)
    for (int v = 0; v < NV; ++v) acc[i][v] = hn::Zero(df);
  const float* xr[kMR];
  for (int i = 0; i < kMR; ++i) xr[i] = x + (m0 + std::min(i, mr - 1)) * ldx;
  const uint8_t* base = static_cast<const uint8_t*>(w.data) + panel0 * w.PanelBytes();
  if constexpr (T == WType::kF32) {
    const float* wp[NP];
    for (int p = 0; p < NP; ++p) wp[p] = reinterpret_cast<const float*>(base + p * w.PanelBytes());
    for (int64_t k = 0; k < K; ++k) {
      VF wv[NV];
      for (int p = 0; p < NP; ++p)
        for (int q = 0; q < kVPP; ++q) wv[p * kVPP + q] = hn::LoadU(df, wp[p] + k * kPackPanel + q * kL);
      for (int i = 0; i < kMR; ++i) {
        const VF xb = hn::Set(df, xr[i][k]);
        for (int v = 0; v < NV; ++v) acc[i][v] = hn::MulAdd(xb, wv[v], acc[i][v]);
      }
    }
  } else {
    // bf16 pairs widened exactly: the low half of a 32-bit pair is k even, the high half k odd.
    const hn::RebindToUnsigned<DF> du;
    const auto hi_mask = hn::Set(du, 0xFFFF0000u);
    const uint32_t* wp[NP];
    for (int p = 0; p < NP; ++p) wp[p] = reinterpret_cast<const uint32_t*>(base + p * w.PanelBytes());
    const int64_t kp_full = K / 2;
    for (int64_t kp = 0; kp < kp_full; ++kp) {
      VF we[NV], wo[NV];
      for (int p = 0; p < NP; ++p) {
        for (int q = 0; q < kVPP; ++q) {
          const auto u = hn::LoadU(du, wp[p] + kp * kPackPanel + q * kL);
          we[p * kVPP + q] = hn::BitCast(df, hn::ShiftLeft<16>(u));
          wo[p * kVPP + q] = hn::BitCast(df, hn::And(u, hi_mask));
        }
      }
      for (int i = 0; i < kMR; ++i) {
        const VF xe = hn::Set(df, xr[i][2 * kp]), xo = hn::Set(df, xr[i][2 * kp + 1]);
        for (int v = 0; v < NV; ++v) {
          acc[i][v] = hn::MulAdd(xe, we[v], acc[i][v]);
          acc[i][v] = hn::MulAdd(xo, wo[v], acc[i][v]);
        }
      }
    }
    if (K & 1) {
      for (int p = 0; p < NP; ++p) {
        for (int q = 0; q < kVPP; ++q) {
          const auto u = hn::LoadU(du, wp[p] + kp_full * kPackPanel + q * kL);
          const VF we = hn::BitCast(df, hn::ShiftLeft<16>(u));
          for (int i = 0; i < kMR; ++i)
            acc[i][p * kVPP + q] = hn::MulAdd(hn::Set(df, xr[i][K - 1]), we, acc[i][p * kVPP + q]);
        }
      }
    }
  }
  alignas(64) float t[kMR][NV * kL];
  for (int i = 0; i < mr; ++i)
    for (int v = 0; v < NV; ++v) hn::Store(acc[i][v], df, t[i] + v * kL);
  const int64_t n0 = panel0 * kPackPanel;
  EpilogueTileImpl(&t[0][0], NV * kL, mr, std::min<int64_t>(NP * kPackPanel, N - n0), m0, n0, ep,
                   y, ldy);
}

template <WType T>
void GemmPackedT(const float* x, int64_t ldx, int64_t M, const PackedMatrix& w,
                 const GemmEpilogue& ep, float* y, int64_t ldy) {
  const int64_t N = w.rows, panels = (N + kPackPanel - 1) / kPackPanel;
  // Column blocks outermost: a block of kNP panels (K·kNP·64 bytes of f32) stays in L2 while
  // every row tile of x streams past it.
  for (int64_t p0 = 0; p0 < panels; p0 += kNP) {
    const int np = static_cast<int>(std::min<int64_t>(kNP, panels - p0));
    for (int64_t m0 = 0; m0 < M; m0 += kMR) {
      const int mr = static_cast<int>(std::min<int64_t>(kMR, M - m0));
      switch (np) {
        case 1: MicroTile<T, 1>(x, ldx, m0, mr, w, p0, N, ep, y, ldy); break;
        case 2: if constexpr (kNP >= 2) MicroTile<T, 2>(x, ldx, m0, mr, w, p0, N, ep, y, ldy); break;
        case 3: if constexpr (kNP >= 3) MicroTile<T, 3>(x, ldx, m0, mr, w, p0, N, ep, y, ldy); break;
        default: if constexpr (kNP >= 4) MicroTile<T, kNP>(x, ldx, m0, mr, w, p0, N, ep, y, ldy); break;
      }
    }
  }
}

void GemmPackedImpl(const float* x, int64_t ldx, int64_t M, const PackedMatrix& w,
                    const GemmEpilogue& ep, float* y, int64_t ldy) {
  if (w.type == WType::kF32) return GemmPackedT<WType::kF32>(x, ldx, M, w, ep, y, ldy);
  CHECK(w.type == WType::kBF16);
  GemmPackedT<WType::kBF16>(x, ldx, M, w, ep, y, ldy);
}

}  // namespace fastvlm::kernels::HWY_NAMESPACE
HWY_AFTER_NAMESPACE();

#if HWY_ONCE
namespace fastvlm::kernels {

HWY_EXPORT(GeluImpl);
HWY_EXPORT(DepthwiseConvImpl);
HWY_EXPORT(Conv2DImpl);
HWY_EXPORT(LayerNormRowsImpl);
HWY_EXPORT(EpilogueTileImpl);
HWY_EXPORT(GemmPackedImpl);

bool UseReference();  // targets.cc
// AVX512-BF16 body of GemmPacked (gemm_packed_bf16_x86.cc); false when it does not apply.
bool GemmPackedBF16DotProduct(const float* x, int64_t ldx, int64_t M, const PackedMatrix& w,
                              const GemmEpilogue& ep, float* y, int64_t ldy, void* scratch);

// The epilogue for the intrinsics kernel, on the active Highway target.
void GemmEpilogueTile(const float* t, int64_t ldt, int64_t rows, int64_t ncols, int64_t m0,
                      int64_t n0, const GemmEpilogue& ep, float* y, int64_t ldy) {
  HWY_DYNAMIC_DISPATCH(EpilogueTileImpl)(t, ldt, rows, ncols, m0, n0, ep, y, ldy);
}

void Gelu(float* x, int64_t n) {
  if (UseReference()) return ref::Gelu(x, n);
  HWY_DYNAMIC_DISPATCH(GeluImpl)(x, n);
}

void DepthwiseConv(const float* x, const DwConvShape& s, const float* w, const float* bias,
                   bool gelu, float* y, int64_t p_begin, int64_t p_end) {
  CHECK(s.mult == 1 || s.mult == 2);
  if (UseReference()) return ref::DepthwiseConv(x, s, w, bias, gelu, y, p_begin, p_end);
  HWY_DYNAMIC_DISPATCH(DepthwiseConvImpl)(x, s, w, bias, gelu, y, p_begin, p_end);
}

void Conv2D(const float* x, const ConvShape& s, const float* w, const float* bias, bool gelu,
            float* y, int64_t p_begin, int64_t p_end) {
  if (UseReference()) return ref::Conv2D(x, s, w, bias, gelu, y, p_begin, p_end);
  HWY_DYNAMIC_DISPATCH(Conv2DImpl)(x, s, w, bias, gelu, y, p_begin, p_end);
}

void LayerNormRows(const float* x, int64_t ldx, int64_t rows, int64_t C, const float* w,
                   const float* b, float eps, float* y, int64_t ldy) {
  if (UseReference()) return ref::LayerNormRows(x, ldx, rows, C, w, b, eps, y, ldy);
  HWY_DYNAMIC_DISPATCH(LayerNormRowsImpl)(x, ldx, rows, C, w, b, eps, y, ldy);
}

void GemmPacked(const float* x, int64_t ldx, int64_t M, const PackedMatrix& w,
                const GemmEpilogue& ep, float* y, int64_t ldy, void* scratch) {
  if (M <= 0 || w.rows <= 0) return;
  if (UseReference()) return ref::GemmPacked(x, ldx, M, w, ep, y, ldy);
  if (w.type == WType::kBF16 && GemmPackedBF16DotProduct(x, ldx, M, w, ep, y, ldy, scratch)) return;
  HWY_DYNAMIC_DISPATCH(GemmPackedImpl)(x, ldx, M, w, ep, y, ldy);
}

}  // namespace fastvlm::kernels
#endif  // HWY_ONCE
