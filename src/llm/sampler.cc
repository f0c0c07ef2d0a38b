#include "llm/sampler.h"

#include <algorithm>
#include <cmath>
#include <numeric>

#include "kernels/ops.h"

namespace fastvlm::llm {

Sampler::Sampler(const SamplerOptions& opt, int valid_vocab)
    : opt_(opt), valid_vocab_(valid_vocab), rng_(opt.seed) {}

int32_t Sampler::Sample(float* logits, int vocab_rows, const std::vector<int32_t>& history) {
  const int n = ValidRows(vocab_rows);
  // Repetition penalty (transformers RepetitionPenaltyLogitsProcessor): each distinct token of
  // the history gets logit/penalty if positive, logit·penalty if negative.
  if (opt_.repetition_penalty != 1.0f) {
    seen_.assign(history.begin(), history.end());
    std::sort(seen_.begin(), seen_.end());
    seen_.erase(std::unique(seen_.begin(), seen_.end()), seen_.end());
    for (int32_t id : seen_) {
      if (id < 0 || id >= n) continue;
      float& v = logits[id];
      v = v > 0 ? v / opt_.repetition_penalty : v * opt_.repetition_penalty;
    }
  }
  if (opt_.temperature <= 0.0f) {
    return static_cast<int32_t>(kernels::ArgMax(logits, n));
  }
  const float inv_t = 1.0f / opt_.temperature;
  // Candidates sorted by logit, descending. Full sorts of 152k entries per token are avoided:
  // take the top 64·2^i by nth_element until top-k / top-p are decided.
  idx_.resize(n);
  std::iota(idx_.begin(), idx_.end(), 0);
  const float max_logit = *std::max_element(logits, logits + n);
  double total = 0.0;
  for (int i = 0; i < n; ++i) total += std::exp(static_cast<double>((logits[i] - max_logit) * inv_t));
  auto by_logit = [&](int32_t a, int32_t b) { return logits[a] > logits[b] || (logits[a] == logits[b] && a < b); };
  int keep = n;
  if (opt_.top_k > 0) keep = std::min(keep, opt_.top_k);
  int sorted = 0;
  for (int want = std::min(keep, 64);; want = std::min(keep, want * 4)) {
    std::nth_element(idx_.begin(), idx_.begin() + (want - 1), idx_.begin() + n, by_logit);
    std::sort(idx_.begin(), idx_.begin() + want, by_logit);
    sorted = want;
    if (want == keep) break;
    if (opt_.top_p < 1.0f) {
      double cum = 0.0;
      for (int i = 0; i < want; ++i)
        cum += std::exp(static_cast<double>((logits[idx_[i]] - max_logit) * inv_t)) / total;
      if (cum >= opt_.top_p) break;  // the top-p set lies inside the sorted prefix
    }
  }
  keep = std::min(keep, sorted);
  // Probabilities of the candidates (normalized over the full vocabulary, as top-p expects).
  probs_.resize(keep);
  for (int i = 0; i < keep; ++i)
    probs_[i] = static_cast<float>(std::exp(static_cast<double>((logits[idx_[i]] - max_logit) * inv_t)) / total);
  if (opt_.top_k > 0 && opt_.top_k < n) {
    // After top-k the remaining mass is renormalized before top-p (transformers applies
    // TopK then TopP on the filtered logits).
    const double s = std::accumulate(probs_.begin(), probs_.end(), 0.0);
    for (auto& p : probs_) p = static_cast<float>(p / s);
  }
  if (opt_.top_p < 1.0f) {
    double cum = 0.0;
    int cut = keep;
    for (int i = 0; i < keep; ++i) {
      cum += probs_[i];
      if (cum >= opt_.top_p) {
        cut = i + 1;
        break;
      }
    }
    keep = std::max(1, cut);
  }
  if (opt_.min_p > 0.0f) {
    const float floor = opt_.min_p * probs_[0];
    int cut = 1;
    while (cut < keep && probs_[cut] >= floor) ++cut;
    keep = cut;
  }
  double s = 0.0;
  for (int i = 0; i < keep; ++i) s += probs_[i];
  std::uniform_real_distribution<double> uni(0.0, s);
  double r = uni(rng_), cum = 0.0;
  for (int i = 0; i < keep; ++i) {
    cum += probs_[i];
    if (r < cum) return idx_[i];
  }
  return idx_[keep - 1];
}

}  // namespace fastvlm::llm
