#include "quant/metrics.h"

#include <algorithm>
#include <cmath>

namespace fastvlm::quant {

void LogSoftmax(const float* logits, int n, double* out) {
  if (n <= 0) return;
  double mx = logits[0];
  for (int i = 1; i < n; ++i) mx = std::max(mx, static_cast<double>(logits[i]));
  double sum = 0;
  for (int i = 0; i < n; ++i) sum += std::exp(static_cast<double>(logits[i]) - mx);
  const double lse = mx + std::log(sum);
  for (int i = 0; i < n; ++i) out[i] = static_cast<double>(logits[i]) - lse;
}

double KlDivergenceLogProbs(const double* log_p, const double* log_q, int n) {
  double kl = 0;
  for (int i = 0; i < n; ++i) {
    const double p = std::exp(log_p[i]);
    if (p > 0) kl += p * (log_p[i] - log_q[i]);
  }
  return std::max(kl, 0.0);  // rounding can leave -1e-17 for identical inputs
}

double KlDivergence(const float* p_logits, const float* q_logits, int n,
                    std::vector<double>* scratch) {
  scratch->resize(2 * static_cast<size_t>(n));
  double* lp = scratch->data();
  double* lq = lp + n;
  LogSoftmax(p_logits, n, lp);
  LogSoftmax(q_logits, n, lq);
  return KlDivergenceLogProbs(lp, lq, n);
}

int ArgMax(const float* x, int n) {
  int best = 0;
  for (int i = 1; i < n; ++i)
    if (x[i] > x[best]) best = i;
  return best;
}

double Percentile(std::vector<double> v, double p) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  const double rank = std::clamp(p, 0.0, 100.0) / 100.0 * (v.size() - 1);
  const size_t lo = static_cast<size_t>(std::floor(rank));
  const size_t hi = std::min(lo + 1, v.size() - 1);
  return v[lo] + (rank - lo) * (v[hi] - v[lo]);
}

int CommonPrefix(const std::vector<int32_t>& a, const std::vector<int32_t>& b) {
  size_t i = 0;
  while (i < a.size() && i < b.size() && a[i] == b[i]) ++i;
  return static_cast<int>(i);
}

double DistributionStats::Mean() const {
  if (kl.empty()) return 0;
  double s = 0;
  for (double x : kl) s += x;
  return s / kl.size();
}

double DistributionStats::Max() const {
  return kl.empty() ? 0 : *std::max_element(kl.begin(), kl.end());
}

double DistributionStats::Top1() const {
  return kl.empty() ? 0 : static_cast<double>(top1_matches) / kl.size();
}

void PerplexityAccumulator::Add(const float* logits, int n, int target) {
  double mx = logits[0];
  for (int i = 1; i < n; ++i) mx = std::max(mx, static_cast<double>(logits[i]));
  double sum = 0;
  for (int i = 0; i < n; ++i) sum += std::exp(static_cast<double>(logits[i]) - mx);
  AddNll(mx + std::log(sum) - static_cast<double>(logits[target]));
}

double PerplexityAccumulator::Perplexity() const {
  return count_ ? std::exp(nll_sum_ / count_) : 0.0;
}

}  // namespace fastvlm::quant
