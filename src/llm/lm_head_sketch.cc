#include "llm/lm_head_sketch.h"

#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstring>

#include "base/check.h"
#include "base/thread_pool.h"

namespace fastvlm::llm {

namespace {

// The smallest float >= v.
float RoundUp(double v) {
  float f = static_cast<float>(v);
  if (static_cast<double>(f) < v) f = std::nextafter(f, INFINITY);
  return f;
}

// Inflation of the stored row norms for the f32 rounding in computing them.
constexpr double kNormSlack = 1.0 + 1e-4;

}  // namespace

bool LmHeadSketch::Supports(const kernels::Matrix& w) {
  return !kernels::IsBlockType(w.type) && w.cols > 0 && w.cols % kernels::kQBlock == 0 && w.rows > 0;
}

bool LmHeadSketch::Build(const kernels::Matrix& w, ThreadPool& pool) {
  w_ = {};
  if (!Supports(w)) return false;
  const int64_t rows = w.rows, cols = w.cols, nb = cols / kernels::kQBlock;
  const int64_t row_bytes = nb * static_cast<int64_t>(sizeof(kernels::BlockQ8_0));
  blocks_bytes_ = static_cast<size_t>(rows * row_bytes);
  blocks_.reset(new uint8_t[blocks_bytes_]);
  norms_.assign(static_cast<size_t>(rows), Norms{});
  std::atomic<bool> finite{true};
  pool.ParallelChunks(rows, 1, 256, [&](int64_t r0, int64_t r1, int) {
    std::vector<float> x(static_cast<size_t>(cols));  // build time only
    for (int64_t r = r0; r < r1; ++r) {
      kernels::RowToF32(w, r, x.data());
      double sums[3];
      if (!kernels::QuantizeRowQ8_0Norms(
              x.data(), cols, reinterpret_cast<kernels::BlockQ8_0*>(blocks_.get() + r * row_bytes), sums)) {
        finite.store(false, std::memory_order_relaxed);
        return;
      }
      // The f32 sums of squares within each block are within a relative 32·2^-24 of exact (all
      // terms are non-negative); kNormSlack covers that.
      norms_[r] = {RoundUp(std::sqrt(sums[0]) * kNormSlack), RoundUp(std::sqrt(sums[1]) * kNormSlack)};
    }
  });
  if (!finite.load()) {
    blocks_.reset();
    blocks_bytes_ = 0;
    norms_.clear();
    norms_.shrink_to_fit();
    return false;
  }
  scores_.assign(static_cast<size_t>(rows), 0.0f);
  xq_.resize(static_cast<size_t>(nb));
  cand_.reserve(kMaxCandidates);
  w_ = w;
  return true;
}

int64_t LmHeadSketch::ArgMax(const float* x, int64_t valid, ThreadPool& pool) {
  CHECK(built());
  valid = std::clamp<int64_t>(valid, 1, w_.rows);
  ++stats_.steps;
  const int64_t cols = w_.cols, nb = cols / kernels::kQBlock;
  // x̃ exactly as the block-type GEMV below quantizes x, and the three norms of the bound.
  kernels::QuantizeRowQ8X(x, cols, xq_.data());
  double nx2 = 0, nt2 = 0, nd2 = 0;
  for (int64_t b = 0; b < nb; ++b) {
    for (int k = 0; k < kernels::kQBlock; ++k) {
      const double v = x[b * kernels::kQBlock + k];
      const double t = static_cast<double>(xq_[b].d) * xq_[b].qs[k];
      nx2 += v * v;
      nt2 += t * t;
      nd2 += (v - t) * (v - t);
    }
  }
  if (!std::isfinite(nx2) || !std::isfinite(nt2) || !std::isfinite(nd2)) {
    ++stats_.fallbacks;
    return -1;
  }
  const double nx = std::sqrt(nx2), nt = std::sqrt(nt2), nd = std::sqrt(nd2);
  // σ of the header: twice the worst-case relative rounding of a cols-term f32 dot product.
  const double slack = 2.0 * static_cast<double>(cols) * 0x1p-24;
  // e_i = ‖W_i − W̃_i‖·‖x‖ + ‖W̃_i‖·‖x − x̃‖ + slack·(‖W_i‖·‖x‖ + ‖W̃_i‖·‖x̃‖), with
  // ‖W_i‖ ≤ ‖W_i − W̃_i‖ + ‖W̃_i‖: e_i ≤ ab·‖W_i − W̃_i‖ + cb·‖W̃_i‖ (two stored norms per row).
  const float ab = RoundUp(nx * (1 + slack));
  const float cb = RoundUp(nd + slack * (nt + nx));

  const kernels::Matrix sketch{kernels::WType::kQ8_0, blocks_.get(), valid, cols};
  kernels::MatMul(x, cols, 1, sketch, nullptr, scores_.data(), valid, pool);

  // One pass: `lower` is the running max of s_i − e_i; rows whose upper bound reaches it are kept,
  // and the list is re-filtered against the final (only ever larger) lower bound afterwards, or
  // whenever it fills up.
  float lower = -INFINITY;
  cand_.clear();
  auto filter = [&] {
    size_t kept = 0;
    for (const int64_t i : cand_)
      if (scores_[i] + Bound(i, ab, cb) >= lower) cand_[kept++] = i;
    cand_.resize(kept);
  };
  for (int64_t i = 0; i < valid; ++i) {
    const float e = Bound(i, ab, cb);
    lower = std::max(lower, scores_[i] - e);
    if (scores_[i] + e >= lower) {
      if (static_cast<int64_t>(cand_.size()) == kMaxCandidates) {
        filter();
        if (static_cast<int64_t>(cand_.size()) == kMaxCandidates) {
          ++stats_.fallbacks;
          return -1;
        }
      }
      cand_.push_back(i);
    }
  }
  filter();
  // The candidates, each with the full lm_head's own kernel call on a one-row view.
  int64_t best = -1;
  float best_v = 0;
  const int64_t row_bytes = kernels::RowBytes(w_.type, cols);
  for (const int64_t i : cand_) {
    const kernels::Matrix row{w_.type, static_cast<const uint8_t*>(w_.data) + i * row_bytes, 1, cols};
    float v;
    kernels::MatMul(x, cols, 1, row, nullptr, &v, 1, pool);
    if (best < 0 || v > best_v) {
      best = i;
      best_v = v;
    }
  }
  stats_.candidates += static_cast<int64_t>(cand_.size());
  stats_.max_candidates = std::max<int64_t>(stats_.max_candidates, static_cast<int64_t>(cand_.size()));
  return best;
}

}  // namespace fastvlm::llm
