// Scoring of a model's answers on the synthetic benchmark tasks (image/synth.h), used by
// `fastvlm eval-tasks`. Pure string functions: no model, no image, no JSON.
//
// Normalization (every task): trim ASCII whitespace, lowercase ASCII, collapse inner runs of
// whitespace to one space, strip trailing periods (and whitespace before them).
//
// Rules per task (the per-image score; a task's accuracy is the mean over its images):
//   colour, shape  exact: normalized answer == normalized truth ("Red." scores for "red").
//   count          exact: normalized answer == the truth's digits, or == its English number word
//                  ("4" or "four" for 4; "zero".."twenty").
//   text           exact: normalized answer == normalized truth (case-insensitive: "kxq" scores
//                  for "KXQ"); character accuracy: max(0, 1 - Levenshtein(answer, truth) /
//                  len(truth)) over the normalized strings. The task's accuracy is the exact-match
//                  rate; the mean character accuracy is reported beside it.
//   describe       attribute F1 (see AttributeF1 below); the task's accuracy is the mean F1.
#pragma once

#include <string>
#include <string_view>
#include <vector>

namespace fastvlm::eval {

std::string NormalizeAnswer(std::string_view s);

// English word of n for 0..20 ("four"), else "".
const char* NumberWord(int n);

bool ExactMatch(std::string_view answer, std::string_view truth);
// truth is the decimal count ("4").
bool CountMatch(std::string_view answer, std::string_view truth);

// Edit distance (insert, delete, substitute: cost 1 each) over bytes.
int Levenshtein(std::string_view a, std::string_view b);
// max(0, 1 - Levenshtein(norm(answer), norm(truth)) / len(norm(truth))); 1 for two empty strings.
double CharAccuracy(std::string_view answer, std::string_view truth);

// One object of a description; an empty field is an attribute the text did not give.
struct DescribedObject {
  std::string size;    // "small" | "large" | ""
  std::string colour;  // a palette colour name | ""
  std::string shape;   // a shape name | ""
  bool operator==(const DescribedObject&) const = default;
};

// Parses a description such as "a large red circle and a small blue square". Words (split at
// anything that is not a letter) are classified as size (small, large), colour (the eight palette
// names; "grey"/"gray" and "color" spellings are not palette colours), shape (the seven shape
// names, plural "-s" accepted) or other (ignored: "a", "an", "and", ...). Each shape word closes
// one object holding the size and colour words seen since the previous shape word (the last of
// each kind wins); size / colour words after the last shape word form a final object without a
// shape.
std::vector<DescribedObject> ParseDescription(std::string_view text);

struct F1Score {
  double precision = 0, recall = 0, f1 = 0;
  int matched = 0;    // attributes matched under the best assignment
  int predicted = 0;  // non-empty attributes in the answer
  int truth = 0;      // 3 x truth objects
};

// Attribute F1 with objects aligned one-to-one: over all one-to-one assignments of predicted
// objects to truth objects (either side may have objects left over), take the one that
// maximizes the number of matching attributes, where an assigned pair scores 1 for each of size,
// colour and shape that are equal and non-empty. precision = matched / (non-empty attributes
// predicted), recall = matched / (3 x truth objects), F1 = 2PR / (P + R) (0 when P + R = 0; 1 when
// both sides are empty). Binding counts: "a red circle and a blue square" against a blue circle
// and a red square matches 2 of 4 attributes, not 4. At most 8 predicted objects are considered
// (the rest still count in the precision denominator).
F1Score AttributeF1(const std::vector<DescribedObject>& predicted,
                    const std::vector<DescribedObject>& truth);

}  // namespace fastvlm::eval
