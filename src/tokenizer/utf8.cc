// UTF-8 decoding with U+FFFD substitution of maximal subparts, and the streaming decoder.
#include <string>
#include <string_view>

#include "tokenizer/tokenizer.h"
#include "tokenizer/tokenizer_internal.h"

namespace fastvlm {
namespace tokenizer_internal {

Utf8Result DecodeUtf8(std::string_view s, char32_t* cp, size_t* len) {
  const auto* p = reinterpret_cast<const uint8_t*>(s.data());
  const size_t n = s.size();
  const uint8_t b0 = p[0];
  if (b0 < 0x80) {
    *cp = b0;
    *len = 1;
    return Utf8Result::kValid;
  }
  // Well-formed sequences per Unicode Table 3-7: the allowed range of the second byte depends on
  // the lead byte (this rejects overlongs, surrogates and code points above U+10FFFF).
  size_t need;
  uint8_t lo = 0x80, hi = 0xBF;
  char32_t value;
  if (b0 >= 0xC2 && b0 <= 0xDF) {
    need = 2;
    value = b0 & 0x1F;
  } else if (b0 >= 0xE0 && b0 <= 0xEF) {
    need = 3;
    value = b0 & 0x0F;
    if (b0 == 0xE0) lo = 0xA0;
    if (b0 == 0xED) hi = 0x9F;
  } else if (b0 >= 0xF0 && b0 <= 0xF4) {
    need = 4;
    value = b0 & 0x07;
    if (b0 == 0xF0) lo = 0x90;
    if (b0 == 0xF4) hi = 0x8F;
  } else {
    *len = 1;
    return Utf8Result::kInvalid;
  }
  for (size_t k = 1; k < need; ++k) {
    if (k >= n) {
      *len = n;
      return Utf8Result::kTruncated;
    }
    const uint8_t b = p[k];
    if (b < lo || b > hi) {
      *len = k;
      return Utf8Result::kInvalid;
    }
    lo = 0x80;
    hi = 0xBF;
    value = (value << 6) | (b & 0x3F);
  }
  *cp = value;
  *len = need;
  return Utf8Result::kValid;
}

void AppendUtf8(char32_t cp, std::string* out) {
  if (cp < 0x80) {
    out->push_back(static_cast<char>(cp));
  } else if (cp < 0x800) {
    out->push_back(static_cast<char>(0xC0 | (cp >> 6)));
    out->push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  } else if (cp < 0x10000) {
    out->push_back(static_cast<char>(0xE0 | (cp >> 12)));
    out->push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
    out->push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  } else {
    out->push_back(static_cast<char>(0xF0 | (cp >> 18)));
    out->push_back(static_cast<char>(0x80 | ((cp >> 12) & 0x3F)));
    out->push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
    out->push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  }
}

bool IsValidUtf8(std::string_view s) {
  size_t i = 0;
  while (i < s.size()) {
    if (static_cast<uint8_t>(s[i]) < 0x80) {  // ASCII fast path
      ++i;
      continue;
    }
    char32_t cp;
    size_t len;
    if (DecodeUtf8(s.substr(i), &cp, &len) != Utf8Result::kValid) return false;
    i += len;
  }
  return true;
}

std::string ReplaceInvalidUtf8(std::string_view s) {
  std::string out;
  out.reserve(s.size() + 8);
  size_t i = 0;
  while (i < s.size()) {
    char32_t cp;
    size_t len;
    if (DecodeUtf8(s.substr(i), &cp, &len) == Utf8Result::kValid) {
      out.append(s.data() + i, len);
    } else {
      AppendUtf8(kReplacementChar, &out);
    }
    i += len;
  }
  return out;
}

}  // namespace tokenizer_internal

using tokenizer_internal::DecodeUtf8;
using tokenizer_internal::Utf8Result;

std::string Utf8StreamDecoder::Push(std::string_view bytes) {
  pending_.append(bytes);
  std::string out;
  size_t i = 0;
  while (i < pending_.size()) {
    char32_t cp;
    size_t len;
    const Utf8Result r = DecodeUtf8(std::string_view(pending_).substr(i), &cp, &len);
    if (r == Utf8Result::kTruncated) break;  // wait for the continuation bytes
    if (r == Utf8Result::kValid) {
      out.append(pending_, i, len);
    } else {
      tokenizer_internal::AppendUtf8(tokenizer_internal::kReplacementChar, &out);
    }
    i += len;
  }
  pending_.erase(0, i);
  return out;
}

std::string Utf8StreamDecoder::Flush() {
  // Whatever is still pending is a truncated (hence ill-formed) sequence.
  std::string out = tokenizer_internal::ReplaceInvalidUtf8(pending_);
  pending_.clear();
  return out;
}

}  // namespace fastvlm
