// Weight packing for GemmPacked (plain C++: runs once at load, not a hot path).
#include <algorithm>
#include <cstring>

#include "base/check.h"
#include "base/float16.h"
#include "kernels/matmul_quant_internal.h"
#include "kernels/ops.h"

namespace fastvlm::kernels {

namespace {
int64_t CeilDiv(int64_t a, int64_t b) { return (a + b - 1) / b; }

float ReadW(const Matrix& w, int64_t n, int64_t k) {
  const uint8_t* row = w.Row(n);
  switch (w.type) {
    case WType::kF32: {
      float f;
      std::memcpy(&f, row + 4 * k, 4);
      return f;
    }
    case WType::kBF16: {
      uint16_t h;
      std::memcpy(&h, row + 2 * k, 2);
      return BF16ToF32(h);
    }
    case WType::kF16: {
      uint16_t h;
      std::memcpy(&h, row + 2 * k, 2);
      return F16ToF32(h);
    }
    default:
      CHECK(!IsBlockType(w.type));  // MatMul's prefill packs block types itself
  }
  return 0.0f;
}
}  // namespace

WType PackedTypeFor(WType stored) {
  if (stored == WType::kF16) return WType::kF32;
  if (IsBlockType(stored)) return WType::kBF16;  // dequantized, then rounded to bf16
  return stored;
}

int64_t PackedMatrixBytes(WType packed_type, int64_t rows, int64_t cols) {
  CHECK(packed_type != WType::kF16);
  const int64_t panels = CeilDiv(rows, kPackPanel);
  if (packed_type == WType::kF32) return panels * cols * kPackPanel * 4;
  return panels * CeilDiv(cols, 2) * kPackPanel * 2 * 2;
}

int64_t PackedMatrix::PanelBytes() const {
  return type == WType::kF32 ? cols * kPackPanel * 4 : CeilDiv(cols, 2) * kPackPanel * 4;
}

PackedMatrix PackedMatrix::Slice(int64_t n0, int64_t n) const {
  CHECK_EQ(n0 % kPackPanel, 0);
  CHECK_LE(n0 + n, rows);
  PackedMatrix s = *this;
  s.rows = n;
  s.data = static_cast<const uint8_t*>(data) + (n0 / kPackPanel) * PanelBytes();
  return s;
}

PackedMatrix PackMatrix(const Matrix& w, void* dst) {
  return PackMatrixPanels(w, dst, 0, CeilDiv(w.rows, kPackPanel));
}

PackedMatrix PackMatrixPanels(const Matrix& w, void* dst, int64_t panel_begin, int64_t panel_end) {
  PackedMatrix p;
  p.type = PackedTypeFor(w.type);
  p.rows = w.rows;
  p.cols = w.cols;
  p.data = dst;
  const int64_t N = w.rows, K = w.cols;
  const int64_t panels = std::min(panel_end, CeilDiv(N, kPackPanel));
  if (IsBlockType(w.type)) {
    PackBlockMatrixPanels(w, dst, panel_begin, panels);
    return p;
  }
  // Full panels of f32 / bf16 (even K) weights: a 16-row transpose of 4-byte elements, read as
  // 16 sequential streams and written sequentially (a load-time hot spot: ~250 MB of FastViTHD
  // weights). The general loops below handle the rest and define the layout.
  const bool f32_fast = w.type == WType::kF32, bf16_fast = w.type == WType::kBF16 && K % 2 == 0;
  const int64_t full = (f32_fast || bf16_fast) ? std::min(panels, N / kPackPanel) : panel_begin;
  if (full > panel_begin) {
    const int64_t steps = f32_fast ? K : K / 2;  // 4-byte elements per row
    uint8_t* out = static_cast<uint8_t*>(dst);
    for (int64_t pn = panel_begin; pn < full; ++pn) {
      const uint8_t* rows[kPackPanel];
      for (int64_t j = 0; j < kPackPanel; ++j) rows[j] = w.Row(pn * kPackPanel + j);
      uint8_t* o = out + pn * steps * kPackPanel * 4;
      for (int64_t s = 0; s < steps; ++s)
        for (int64_t j = 0; j < kPackPanel; ++j) std::memcpy(o + (s * kPackPanel + j) * 4, rows[j] + 4 * s, 4);
    }
  }
  if (p.type == WType::kF32) {
    float* out = static_cast<float*>(dst);
    for (int64_t pn = std::max(full, panel_begin); pn < panels; ++pn) {
      for (int64_t k = 0; k < K; ++k) {
        for (int64_t j = 0; j < kPackPanel; ++j) {
          const int64_t n = pn * kPackPanel + j;
          out[(pn * K + k) * kPackPanel + j] = n < N ? ReadW(w, n, k) : 0.0f;
        }
      }
    }
  } else {  // bf16 pairs, bits copied as stored
    uint16_t* out = static_cast<uint16_t*>(dst);
    const int64_t kp_n = CeilDiv(K, 2);
    for (int64_t pn = std::max(full, panel_begin); pn < panels; ++pn) {
      for (int64_t kp = 0; kp < kp_n; ++kp) {
        for (int64_t j = 0; j < kPackPanel; ++j) {
          const int64_t n = pn * kPackPanel + j;
          for (int64_t h = 0; h < 2; ++h) {
            const int64_t k = 2 * kp + h;
            uint16_t v = 0;
            if (n < N && k < K) std::memcpy(&v, w.Row(n) + 2 * k, 2);
            out[((pn * kp_n + kp) * kPackPanel + j) * 2 + h] = v;
          }
        }
      }
    }
  }
  return p;
}

PackedMatrix PackMatrixF32(const float* src, int64_t ld, int64_t rows, int64_t cols,
                           bool transposed, float* dst) {
  PackedMatrix p;
  p.type = WType::kF32;
  p.rows = rows;
  p.cols = cols;
  p.data = dst;
  const int64_t panels = CeilDiv(rows, kPackPanel);
  for (int64_t pn = 0; pn < panels; ++pn) {
    const int64_t n0 = pn * kPackPanel, nv = std::min<int64_t>(kPackPanel, rows - n0);
    float* out = dst + pn * cols * kPackPanel;
    if (transposed) {  // rows of src are k: copy 16 contiguous outputs per k
      for (int64_t k = 0; k < cols; ++k) {
        std::memcpy(out + k * kPackPanel, src + k * ld + n0, nv * sizeof(float));
        for (int64_t j = nv; j < kPackPanel; ++j) out[k * kPackPanel + j] = 0.0f;
      }
    } else {
      for (int64_t j = 0; j < kPackPanel; ++j) {
        if (j >= nv) {
          for (int64_t k = 0; k < cols; ++k) out[k * kPackPanel + j] = 0.0f;
          continue;
        }
        const float* s = src + (n0 + j) * ld;
        for (int64_t k = 0; k < cols; ++k) out[k * kPackPanel + j] = s[k];
      }
    }
  }
  return p;
}

int64_t GemmScratchBytes(int64_t M, int64_t K) { return M * CeilDiv(K, 2) * 4 + 64; }

}  // namespace fastvlm::kernels
