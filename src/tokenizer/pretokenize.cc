// The Qwen2 pre-tokenizer: a hand-written matcher for its split regex (no regex engine).
//
//   (?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|
//   \s*[\r\n]+|\s+(?!\S)|\s+
//
// The reference (HF tokenizers, "Split" with behavior Isolated) runs this regex with Oniguruma and
// keeps every match as one piece. The classes are Oniguruma's: \p{L}, \p{N} are the General
// Category groups and \s is the White_Space property, all at the Unicode version of the reference;
// unicode_classes.inc is read back from it by tools/reference/make_tokenizer_fixtures.py, so the
// installed ICU's Unicode version does not matter here.
#include <algorithm>
#include <array>
#include <string_view>
#include <vector>

#include "tokenizer/tokenizer_internal.h"

namespace fastvlm {
namespace tokenizer_internal {
namespace {

#include "tokenizer/unicode_classes.inc"

enum : uint8_t { kLetter = 1, kNumber = 2, kSpace = 4, kCrLf = 8 };

bool InRanges(const CodePointRange* begin, const CodePointRange* end, char32_t cp) {
  const CodePointRange* it = std::upper_bound(
      begin, end, cp, [](char32_t c, const CodePointRange& r) { return c < r.first; });
  return it != begin && cp <= (it - 1)->last;
}

uint8_t ComputeClass(char32_t cp) {
  uint8_t c = 0;
  if (InRanges(std::begin(kLetterRanges), std::end(kLetterRanges), cp)) c |= kLetter;
  if (InRanges(std::begin(kNumberRanges), std::end(kNumberRanges), cp)) c |= kNumber;
  if (InRanges(std::begin(kSpaceRanges), std::end(kSpaceRanges), cp)) c |= kSpace;
  if (cp == '\r' || cp == '\n') c |= kCrLf;
  return c;
}

// Classes of the BMP, computed once: a byte lookup keeps pre-tokenization at memory speed.
const std::array<uint8_t, 0x10000>& BmpClasses() {
  static const auto* table = [] {
    auto* t = new std::array<uint8_t, 0x10000>;
    for (char32_t cp = 0; cp < 0x10000; ++cp) (*t)[cp] = ComputeClass(cp);
    return t;
  }();
  return *table;
}

uint8_t ClassOf(char32_t cp) { return cp < 0x10000 ? BmpClasses()[cp] : ComputeClass(cp); }

// Simple case folding as Oniguruma applies it to the contraction letters: only ASCII and
// U+017F LATIN SMALL LETTER LONG S (folds to 's') fold onto s, t, r, e, v, m, l, d.
char32_t FoldContraction(char32_t cp) {
  if (cp >= 'A' && cp <= 'Z') return cp + ('a' - 'A');
  if (cp == 0x17F) return 's';
  return cp;
}

}  // namespace

bool IsLetter(char32_t cp) { return (ClassOf(cp) & kLetter) != 0; }
bool IsNumber(char32_t cp) { return (ClassOf(cp) & kNumber) != 0; }
bool IsSpace(char32_t cp) { return (ClassOf(cp) & kSpace) != 0; }

void PreTokenize(std::string_view text, std::vector<std::string_view>* pieces) {
  // Decode once; cps/cls/offsets are indexed by code point, offsets[i] is the byte offset of cp i.
  std::vector<char32_t> cps;
  std::vector<uint8_t> cls;
  std::vector<uint32_t> offsets;
  cps.reserve(text.size());
  cls.reserve(text.size());
  offsets.reserve(text.size() + 1);
  for (size_t i = 0; i < text.size();) {
    char32_t cp;
    size_t len;
    if (DecodeUtf8(text.substr(i), &cp, &len) != Utf8Result::kValid) {
      cp = kReplacementChar;  // callers pass valid UTF-8; stay memory-safe regardless
    }
    cps.push_back(cp);
    cls.push_back(ClassOf(cp));
    offsets.push_back(static_cast<uint32_t>(i));
    i += len;
  }
  const size_t n = cps.size();
  offsets.push_back(static_cast<uint32_t>(text.size()));

  auto is = [&](size_t i, uint8_t mask) { return i < n && (cls[i] & mask) != 0; };
  // [^\s\p{L}\p{N}]
  auto is_other = [&](size_t i) { return i < n && (cls[i] & (kLetter | kNumber | kSpace)) == 0; };

  // Returns the end of the match starting at i (the alternatives in regex priority order).
  auto match = [&](size_t i) -> size_t {
    // 1. (?i:'s|'t|'re|'ve|'m|'ll|'d)
    if (cps[i] == '\'' && i + 1 < n) {
      const char32_t a = FoldContraction(cps[i + 1]);
      if (a == 's' || a == 't' || a == 'm' || a == 'd') return i + 2;
      if (i + 2 < n) {
        const char32_t b = FoldContraction(cps[i + 2]);
        if ((a == 'r' && b == 'e') || (a == 'v' && b == 'e') || (a == 'l' && b == 'l')) return i + 3;
      }
    }
    // 2. [^\r\n\p{L}\p{N}]?\p{L}+  (greedy optional first: a non-letter prefix is taken when a
    //    letter follows it)
    if ((cls[i] & (kCrLf | kLetter | kNumber)) == 0 && is(i + 1, kLetter)) {
      size_t j = i + 2;
      while (is(j, kLetter)) ++j;
      return j;
    }
    if (cls[i] & kLetter) {
      size_t j = i + 1;
      while (is(j, kLetter)) ++j;
      return j;
    }
    // 3. \p{N}  (one digit per piece)
    if (cls[i] & kNumber) return i + 1;
    // 4. ' ?[^\s\p{L}\p{N}]+[\r\n]*'
    if (cps[i] == ' ' && is_other(i + 1)) {
      size_t j = i + 2;
      while (is_other(j)) ++j;
      while (is(j, kCrLf)) ++j;
      return j;
    }
    if (is_other(i)) {
      size_t j = i + 1;
      while (is_other(j)) ++j;
      while (is(j, kCrLf)) ++j;
      return j;
    }
    // Only whitespace is left at i. Let [i, j) be the whole whitespace run.
    size_t j = i + 1;
    while (is(j, kSpace)) ++j;
    // 5. \s*[\r\n]+ : \s* backtracks from the end of the run to its last \r or \n, and [\r\n]+
    //    can take no more after it (a later \r/\n would have been the last one).
    for (size_t k = j; k > i; --k) {
      if (cls[k - 1] & kCrLf) return k;
    }
    // 6. \s+(?!\S) : the whole run at the end of the text, else the run minus its last char.
    if (j == n) return j;
    if (j - 1 > i) return j - 1;
    // 7. \s+
    return j;
  };

  for (size_t i = 0; i < n;) {
    const size_t end = match(i);
    pieces->push_back(text.substr(offsets[i], offsets[end] - offsets[i]));
    i = end;
  }
}

}  // namespace tokenizer_internal
}  // namespace fastvlm
