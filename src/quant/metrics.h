// Accuracy metrics of a quantized (candidate) model against a reference (`fastvlm eval`):
// next-token distributions compared position by position, and perplexity. Everything in double:
// the differences measured (KL ~1e-4 for q8_0) are far below float's resolution of log-sums over
// 150k logits.
#pragma once

#include <cstdint>
#include <vector>

namespace fastvlm::quant {

// log softmax(logits[0..n)) into out[0..n): x_i - max - log(sum_j exp(x_j - max)).
void LogSoftmax(const float* logits, int n, double* out);

// KL(P || Q) = sum_i P_i (log P_i - log Q_i) of the softmax distributions P = softmax(p_logits)
// and Q = softmax(q_logits) over the first n entries (nats; >= 0; 0 iff P == Q). `scratch` is
// resized to 2n.
double KlDivergence(const float* p_logits, const float* q_logits, int n,
                    std::vector<double>* scratch);
// The same from log-probabilities already computed (e.g. decoded from llama.cpp's file).
double KlDivergenceLogProbs(const double* log_p, const double* log_q, int n);

// Index of the largest of x[0..n) (the first one on ties, as greedy sampling picks).
int ArgMax(const float* x, int n);

// p-th percentile (0..100) with linear interpolation between closest ranks (numpy's default
// "linear" method); 0 for an empty vector. Takes a copy: sorts it.
double Percentile(std::vector<double> v, double p);

// Length of the common prefix of two token sequences.
int CommonPrefix(const std::vector<int32_t>& a, const std::vector<int32_t>& b);

// Summary of a set of per-position KL values and top-1 matches.
struct DistributionStats {
  std::vector<double> kl;  // one per position
  int64_t top1_matches = 0;
  void Add(double kl_value, bool top1_match) {
    kl.push_back(kl_value);
    top1_matches += top1_match;
  }
  int64_t positions() const { return static_cast<int64_t>(kl.size()); }
  double Mean() const;
  double Max() const;
  double P99() const { return Percentile(kl, 99.0); }
  double Top1() const;  // fraction 0..1; 0 when empty
};

// Negative log-likelihood accumulated over predicted tokens; perplexity = exp(mean NLL).
class PerplexityAccumulator {
 public:
  // Adds -log softmax(logits[0..n))[target]; target must be < n.
  void Add(const float* logits, int n, int target);
  void AddNll(double nll) {
    nll_sum_ += nll;
    ++count_;
  }
  int64_t count() const { return count_; }
  double MeanNll() const { return count_ ? nll_sum_ / count_ : 0.0; }
  double Perplexity() const;  // exp(mean NLL); 0 when nothing was added

 private:
  double nll_sum_ = 0;
  int64_t count_ = 0;
};

}  // namespace fastvlm::quant
