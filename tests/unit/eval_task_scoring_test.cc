// Scoring rules of `fastvlm eval-tasks` (eval/task_scoring.h) on hand-checked cases.
#include "eval/task_scoring.h"

#include <gtest/gtest.h>

namespace fastvlm::eval {
namespace {

TEST(NormalizeAnswer, TrimsLowercasesCollapsesAndStripsTrailingPeriods) {
  EXPECT_EQ(NormalizeAnswer("  Red.\n"), "red");
  EXPECT_EQ(NormalizeAnswer("A  large\tRED circle ."), "a large red circle");
  EXPECT_EQ(NormalizeAnswer("KXQ..."), "kxq");
  EXPECT_EQ(NormalizeAnswer(""), "");
  EXPECT_EQ(NormalizeAnswer(" . "), "");
  EXPECT_EQ(NormalizeAnswer("a.b"), "a.b");  // only trailing periods go
}

TEST(ExactMatch, ColourAndShape) {
  EXPECT_TRUE(ExactMatch("Red.", "red"));
  EXPECT_TRUE(ExactMatch("circle", "circle"));
  EXPECT_FALSE(ExactMatch("red circle", "red"));
  EXPECT_FALSE(ExactMatch("reds", "red"));
  EXPECT_FALSE(ExactMatch("", "red"));
}

TEST(CountMatch, DigitsAndNumberWords) {
  EXPECT_TRUE(CountMatch("4", "4"));
  EXPECT_TRUE(CountMatch("Four.", "4"));
  EXPECT_TRUE(CountMatch(" six ", "6"));
  EXPECT_FALSE(CountMatch("5", "4"));
  EXPECT_FALSE(CountMatch("five", "4"));
  EXPECT_FALSE(CountMatch("4 objects", "4"));
  EXPECT_FALSE(CountMatch("", "4"));
  EXPECT_STREQ(NumberWord(0), "zero");
  EXPECT_STREQ(NumberWord(9), "nine");
  EXPECT_STREQ(NumberWord(20), "twenty");
  EXPECT_STREQ(NumberWord(21), "");
}

TEST(Levenshtein, HandCheckedDistances) {
  EXPECT_EQ(Levenshtein("", ""), 0);
  EXPECT_EQ(Levenshtein("abc", ""), 3);
  EXPECT_EQ(Levenshtein("", "ab"), 2);
  EXPECT_EQ(Levenshtein("kitten", "sitting"), 3);
  EXPECT_EQ(Levenshtein("kxq", "kxq"), 0);
  EXPECT_EQ(Levenshtein("kxq", "kq"), 1);
  EXPECT_EQ(Levenshtein("abcd", "badc"), 3);  // no transpositions: 3 edits
}

TEST(CharAccuracy, OneMinusNormalizedEditDistanceClippedAtZero) {
  EXPECT_DOUBLE_EQ(CharAccuracy("KXQ", "KXQ"), 1.0);
  EXPECT_DOUBLE_EQ(CharAccuracy("kxq.", "KXQ"), 1.0);  // case and trailing period ignored
  EXPECT_DOUBLE_EQ(CharAccuracy("KXZ", "KXQ"), 2.0 / 3.0);
  EXPECT_DOUBLE_EQ(CharAccuracy("KX", "KXQW"), 0.5);
  EXPECT_DOUBLE_EQ(CharAccuracy("ABCDEFGH", "XYZ"), 0.0);  // distance 8 > 3: clipped
  EXPECT_DOUBLE_EQ(CharAccuracy("", "ABC"), 0.0);
  EXPECT_DOUBLE_EQ(CharAccuracy("", ""), 1.0);
}

TEST(ParseDescription, CanonicalAnswers) {
  using O = DescribedObject;
  EXPECT_EQ(ParseDescription("a large red circle"), (std::vector<O>{{"large", "red", "circle"}}));
  EXPECT_EQ(ParseDescription("a large red circle and a small blue square"),
            (std::vector<O>{{"large", "red", "circle"}, {"small", "blue", "square"}}));
  EXPECT_EQ(ParseDescription("a small green star, a large black cross and a small pink hexagon"),
            (std::vector<O>{{"small", "green", "star"},
                            {"large", "black", "cross"},
                            {"small", "pink", "hexagon"}}));
}

TEST(ParseDescription, PartialAndOddAnswers) {
  using O = DescribedObject;
  EXPECT_EQ(ParseDescription("A Red Circle."), (std::vector<O>{{"", "red", "circle"}}));
  EXPECT_EQ(ParseDescription("two circles"), (std::vector<O>{{"", "", "circle"}}));
  EXPECT_EQ(ParseDescription("crosses"), (std::vector<O>{{"", "", "cross"}}));
  // Attributes after the last shape form an object without a shape.
  EXPECT_EQ(ParseDescription("a large red circle and a small blue"),
            (std::vector<O>{{"large", "red", "circle"}, {"small", "blue", ""}}));
  // The last size / colour before a shape wins.
  EXPECT_EQ(ParseDescription("a small large red blue star"),
            (std::vector<O>{{"large", "blue", "star"}}));
  EXPECT_TRUE(ParseDescription("").empty());
  EXPECT_TRUE(ParseDescription("nothing to see here").empty());
  EXPECT_TRUE(ParseDescription("grey starfish").empty());  // not whole words of the vocabulary
}

TEST(AttributeF1, PerfectAndEmpty) {
  const std::vector<DescribedObject> truth = {{"large", "red", "circle"}, {"small", "blue", "square"}};
  F1Score s = AttributeF1(truth, truth);
  EXPECT_DOUBLE_EQ(s.f1, 1.0);
  EXPECT_EQ(s.matched, 6);
  // Order does not matter: the best assignment is found.
  s = AttributeF1({truth[1], truth[0]}, truth);
  EXPECT_DOUBLE_EQ(s.f1, 1.0);
  s = AttributeF1({}, truth);
  EXPECT_DOUBLE_EQ(s.f1, 0.0);
  EXPECT_DOUBLE_EQ(s.precision, 0.0);
  EXPECT_DOUBLE_EQ(s.recall, 0.0);
  s = AttributeF1({}, {});
  EXPECT_DOUBLE_EQ(s.f1, 1.0);
}

TEST(AttributeF1, HandCheckedPartialCredit) {
  const std::vector<DescribedObject> truth = {{"large", "red", "circle"}, {"small", "blue", "square"}};
  // One object right, one missing: P = 3/3, R = 3/6, F1 = 2/3.
  F1Score s = AttributeF1({{"large", "red", "circle"}}, truth);
  EXPECT_EQ(s.matched, 3);
  EXPECT_DOUBLE_EQ(s.precision, 1.0);
  EXPECT_DOUBLE_EQ(s.recall, 0.5);
  EXPECT_DOUBLE_EQ(s.f1, 2.0 / 3.0);
  // Colours swapped between the objects: binding counts. Best assignment pairs by size + shape:
  // 2 + 2 = 4 of 6 on each side: F1 = 4/6.
  s = AttributeF1({{"large", "blue", "circle"}, {"small", "red", "square"}}, truth);
  EXPECT_EQ(s.matched, 4);
  EXPECT_DOUBLE_EQ(s.f1, 4.0 / 6.0);
  // An extra wrong object lowers precision only: matched 6, P = 6/9, R = 1, F1 = 0.8.
  s = AttributeF1({{"large", "red", "circle"}, {"small", "blue", "square"}, {"small", "pink", "star"}},
                  truth);
  EXPECT_EQ(s.matched, 6);
  EXPECT_DOUBLE_EQ(s.precision, 6.0 / 9.0);
  EXPECT_DOUBLE_EQ(s.recall, 1.0);
  EXPECT_DOUBLE_EQ(s.f1, 0.8);
  // Missing attributes are not counted as predicted: "a red circle" vs a large red circle:
  // P = 2/2, R = 2/3, F1 = 0.8.
  s = AttributeF1({{"", "red", "circle"}}, {{"large", "red", "circle"}});
  EXPECT_DOUBLE_EQ(s.precision, 1.0);
  EXPECT_DOUBLE_EQ(s.recall, 2.0 / 3.0);
  EXPECT_DOUBLE_EQ(s.f1, 0.8);
  // One predicted object cannot match two truth objects: "a large red square" against the two
  // truth objects matches at most 2 (large red -> object 0, or square -> 1 only).
  s = AttributeF1({{"large", "red", "square"}}, truth);
  EXPECT_EQ(s.matched, 2);
  EXPECT_DOUBLE_EQ(s.precision, 2.0 / 3.0);
  EXPECT_DOUBLE_EQ(s.recall, 2.0 / 6.0);
  EXPECT_NEAR(s.f1, 4.0 / 9.0, 1e-15);
}

}  // namespace
}  // namespace fastvlm::eval
