#include "eval/task_scoring.h"

#include <algorithm>
#include <cstdlib>

namespace fastvlm::eval {
namespace {

bool IsSpace(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v'; }
char Lower(char c) { return (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c; }
bool IsLetter(char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'); }

constexpr const char* kWords[21] = {"zero",    "one",     "two",       "three",    "four",
                                    "five",    "six",     "seven",     "eight",    "nine",
                                    "ten",     "eleven",  "twelve",    "thirteen", "fourteen",
                                    "fifteen", "sixteen", "seventeen", "eighteen", "nineteen",
                                    "twenty"};
constexpr const char* kSizes[] = {"small", "large"};
constexpr const char* kColours[] = {"red",    "green",  "blue", "yellow",
                                    "orange", "purple", "pink", "black"};
constexpr const char* kShapes[] = {"circle", "square",  "triangle", "star",
                                   "diamond", "hexagon", "cross"};

template <size_t N>
bool In(const char* const (&list)[N], const std::string& w) {
  for (const char* s : list)
    if (w == s) return true;
  return false;
}

// Singular shape name of w ("circles" -> "circle", "crosses" -> "cross"), or "".
std::string ShapeOf(const std::string& w) {
  if (In(kShapes, w)) return w;
  if (w.size() > 1 && w.back() == 's' && In(kShapes, w.substr(0, w.size() - 1)))
    return w.substr(0, w.size() - 1);
  if (w.size() > 2 && w.compare(w.size() - 2, 2, "es") == 0 &&
      In(kShapes, w.substr(0, w.size() - 2)))
    return w.substr(0, w.size() - 2);
  return "";
}

int NonEmpty(const DescribedObject& o) {
  return !o.size.empty() + !o.colour.empty() + !o.shape.empty();
}

int PairScore(const DescribedObject& p, const DescribedObject& t) {
  auto eq = [](const std::string& a, const std::string& b) { return !a.empty() && a == b; };
  return eq(p.size, t.size) + eq(p.colour, t.colour) + eq(p.shape, t.shape);
}

// Best total score assigning truth objects t..end to distinct unused predicted objects (or none).
int BestAssignment(const std::vector<DescribedObject>& pred, const std::vector<DescribedObject>& truth,
                   size_t t, std::vector<bool>* used) {
  if (t == truth.size()) return 0;
  int best = BestAssignment(pred, truth, t + 1, used);  // truth object t left unmatched
  for (size_t p = 0; p < pred.size(); ++p) {
    if ((*used)[p]) continue;
    const int s = PairScore(pred[p], truth[t]);
    if (s == 0) continue;  // assigning a zero-score pair never beats leaving both free
    (*used)[p] = true;
    best = std::max(best, s + BestAssignment(pred, truth, t + 1, used));
    (*used)[p] = false;
  }
  return best;
}

}  // namespace

std::string NormalizeAnswer(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  bool pending_space = false;
  for (char c : s) {
    if (IsSpace(c)) {
      pending_space = !out.empty();
      continue;
    }
    if (pending_space) out += ' ';
    pending_space = false;
    out += Lower(c);
  }
  while (!out.empty() && (out.back() == '.' || out.back() == ' ')) out.pop_back();
  return out;
}

const char* NumberWord(int n) { return (n >= 0 && n <= 20) ? kWords[n] : ""; }

bool ExactMatch(std::string_view answer, std::string_view truth) {
  return NormalizeAnswer(answer) == NormalizeAnswer(truth);
}

bool CountMatch(std::string_view answer, std::string_view truth) {
  const std::string a = NormalizeAnswer(answer), t = NormalizeAnswer(truth);
  if (a == t) return true;
  if (t.empty() || t.size() > 2 || !std::all_of(t.begin(), t.end(), [](char c) { return c >= '0' && c <= '9'; }))
    return false;
  const char* word = NumberWord(std::atoi(t.c_str()));
  return *word && a == word;
}

int Levenshtein(std::string_view a, std::string_view b) {
  std::vector<int> prev(b.size() + 1), cur(b.size() + 1);
  for (size_t j = 0; j <= b.size(); ++j) prev[j] = static_cast<int>(j);
  for (size_t i = 1; i <= a.size(); ++i) {
    cur[0] = static_cast<int>(i);
    for (size_t j = 1; j <= b.size(); ++j) {
      const int sub = prev[j - 1] + (a[i - 1] != b[j - 1]);
      cur[j] = std::min({prev[j] + 1, cur[j - 1] + 1, sub});
    }
    std::swap(prev, cur);
  }
  return prev[b.size()];
}

double CharAccuracy(std::string_view answer, std::string_view truth) {
  const std::string a = NormalizeAnswer(answer), t = NormalizeAnswer(truth);
  if (t.empty()) return a.empty() ? 1.0 : 0.0;
  const double acc = 1.0 - static_cast<double>(Levenshtein(a, t)) / static_cast<double>(t.size());
  return std::max(0.0, acc);
}

std::vector<DescribedObject> ParseDescription(std::string_view text) {
  std::vector<DescribedObject> out;
  DescribedObject cur;
  std::string word;
  auto flush_word = [&]() {
    if (word.empty()) return;
    if (In(kSizes, word)) {
      cur.size = word;
    } else if (In(kColours, word)) {
      cur.colour = word;
    } else if (std::string shape = ShapeOf(word); !shape.empty()) {
      cur.shape = shape;
      out.push_back(cur);
      cur = DescribedObject{};
    }
    word.clear();
  };
  for (char c : text) {
    if (IsLetter(c)) {
      word += Lower(c);
    } else {
      flush_word();
    }
  }
  flush_word();
  if (!cur.size.empty() || !cur.colour.empty()) out.push_back(cur);
  return out;
}

F1Score AttributeF1(const std::vector<DescribedObject>& predicted,
                    const std::vector<DescribedObject>& truth) {
  F1Score s;
  for (const DescribedObject& o : predicted) s.predicted += NonEmpty(o);
  s.truth = 3 * static_cast<int>(truth.size());
  if (s.predicted == 0 && s.truth == 0) {
    s.precision = s.recall = s.f1 = 1.0;
    return s;
  }
  constexpr size_t kMaxPredicted = 8;
  const std::vector<DescribedObject> pred(
      predicted.begin(), predicted.begin() + std::min(predicted.size(), kMaxPredicted));
  std::vector<bool> used(pred.size(), false);
  s.matched = BestAssignment(pred, truth, 0, &used);
  s.precision = s.predicted ? static_cast<double>(s.matched) / s.predicted : 0.0;
  s.recall = s.truth ? static_cast<double>(s.matched) / s.truth : 0.0;
  s.f1 = (s.precision + s.recall) > 0 ? 2 * s.precision * s.recall / (s.precision + s.recall) : 0.0;
  return s;
}

}  // namespace fastvlm::eval
