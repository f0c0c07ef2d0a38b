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

// Whether a stored norm is one this build could have computed: the quantized bytes are the same
// on every SIMD target, but the f32 sums of squares differ in their last bits with the target's
// summation order (≤ 32·2^-24 relative). A stored norm at least 5e-5 below ours is still above
// the true norm (ours carries kNormSlack = 1e-4 of margin); one more than 1e-3 above ours would
// only prune less, but does not belong to this matrix.
bool NormMatches(float stored, float rebuilt) {
  return stored >= rebuilt * (1.0f - 5e-5f) && stored <= rebuilt * (1.0f + 1e-3f);
}

}  // namespace

bool LmHeadSketch::Supports(const kernels::Matrix& w) {
  return !kernels::IsBlockType(w.type) && w.cols > 0 && w.cols % kernels::kQBlock == 0 && w.rows > 0;
}

bool LmHeadSketch::BuildRow(const kernels::Matrix& w, int64_t r, float* scratch, uint8_t* blocks,
                            Norms* norms) {
  kernels::RowToF32(w, r, scratch);
  double sums[2];
  if (!kernels::QuantizeRowQ8_0Norms(scratch, w.cols, reinterpret_cast<kernels::BlockQ8_0*>(blocks),
                                     sums))
    return false;
  // The f32 sums of squares within each block are within a relative 32·2^-24 of exact (all terms
  // are non-negative); kNormSlack covers that.
  *norms = {RoundUp(std::sqrt(sums[0]) * kNormSlack), RoundUp(std::sqrt(sums[1]) * kNormSlack)};
  return true;
}

bool LmHeadSketch::Build(const kernels::Matrix& w, ThreadPool& pool) {
  w_ = {};
  blocks_ = nullptr;
  norms_ = nullptr;
  if (!Supports(w)) return false;
  const int64_t rows = w.rows, cols = w.cols;
  const int64_t row_bytes = cols / kernels::kQBlock * static_cast<int64_t>(sizeof(kernels::BlockQ8_0));
  owned_blocks_.reset(new uint8_t[static_cast<size_t>(rows * row_bytes)]);
  owned_norms_.assign(static_cast<size_t>(rows), Norms{});
  std::atomic<bool> finite{true};
  pool.ParallelChunks(rows, 1, 256, [&](int64_t r0, int64_t r1, int) {
    std::vector<float> x(static_cast<size_t>(cols));  // build time only
    for (int64_t r = r0; r < r1; ++r) {
      if (!BuildRow(w, r, x.data(), owned_blocks_.get() + r * row_bytes, &owned_norms_[r])) {
        finite.store(false, std::memory_order_relaxed);
        return;
      }
    }
  });
  if (!finite.load()) {
    owned_blocks_.reset();
    owned_norms_.clear();
    owned_norms_.shrink_to_fit();
    return false;
  }
  Use(w, owned_blocks_.get(), owned_norms_.data());
  return true;
}

void LmHeadSketch::Use(const kernels::Matrix& w, const uint8_t* blocks, const Norms* norms) {
  blocks_ = blocks;
  norms_ = norms;
  w_ = w;
  scores_.assign(static_cast<size_t>(w.rows), 0.0f);
  xq_.resize(static_cast<size_t>(w.cols / kernels::kQBlock));
  cand_.reserve(kMaxCandidates);
}

bool LmHeadSketch::Adopt(const kernels::Matrix& w, const void* blocks, const float* norms,
                         int checks) {
  w_ = {};
  blocks_ = nullptr;
  norms_ = nullptr;
  if (!Supports(w) || !blocks || !norms) return false;
  const int64_t rows = w.rows;
  const int64_t row_bytes = w.cols / kernels::kQBlock * static_cast<int64_t>(sizeof(kernels::BlockQ8_0));
  const auto* b = static_cast<const uint8_t*>(blocks);
  const auto* n = reinterpret_cast<const Norms*>(norms);
  std::vector<float> x(static_cast<size_t>(w.cols));
  std::vector<uint8_t> row(static_cast<size_t>(row_bytes));
  const int64_t n_checks = std::min<int64_t>(rows, std::max(2, checks));
  for (int64_t i = 0; i < n_checks; ++i) {
    const int64_t rr = n_checks == 1 ? 0 : i * (rows - 1) / (n_checks - 1);  // first and last included
    Norms got;
    if (!BuildRow(w, rr, x.data(), row.data(), &got) ||
        std::memcmp(row.data(), b + rr * row_bytes, static_cast<size_t>(row_bytes)) != 0 ||
        !NormMatches(n[rr].diff, got.diff) || !NormMatches(n[rr].sketch, got.sketch))
      return false;
  }
  owned_blocks_.reset();
  owned_norms_.clear();
  Use(w, b, n);
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
  // Outside [1e-30, 1e30] the bound's float arithmetic could overflow or lose its relative
  // margins to underflow (a final RMSNorm output is nowhere near either end).
  if (!(nx2 >= 1e-60 && nx2 <= 1e60) || !std::isfinite(nt2) || !std::isfinite(nd2)) {
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

  const kernels::Matrix sketch{kernels::WType::kQ8_0, blocks_, valid, cols};
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
    // A score that overflowed (or a bound that did) proves nothing: compute the full logits.
    if (!(std::fabs(scores_[i]) + e <= 3e38f)) {
      ++stats_.fallbacks;
      return -1;
    }
    lower = std::max(lower, scores_[i] - e);
    if (scores_[i] + e >= lower) {
      if (static_cast<int64_t>(cand_.size()) == kMaxCandidates) {
        filter();
        // Refiltering that frees little would repeat every few rows: give up instead.
        if (static_cast<int64_t>(cand_.size()) > kMaxCandidates / 2) {
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
