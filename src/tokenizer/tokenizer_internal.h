// Internals of the Qwen2 tokenizer shared by the files of src/tokenizer/ (not a public API).
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "base/status.h"
#include "tokenizer/tokenizer.h"

namespace fastvlm {
namespace tokenizer_internal {

// ---- UTF-8 (utf8.cc) ------------------------------------------------------------------------

inline constexpr char32_t kReplacementChar = 0xFFFD;

enum class Utf8Result { kValid, kInvalid, kTruncated };

// Looks at the sequence starting at s[0]. kValid: *cp and *len (1..4) are set. kInvalid: *len is
// the length of the maximal subpart of an ill-formed sequence (Unicode §3.9 "U+FFFD substitution of
// maximal subparts", what Python's errors="replace" and Rust's from_utf8_lossy do), at least 1.
// kTruncated: the bytes are a valid prefix that ends with `s`; *len = s.size().
Utf8Result DecodeUtf8(std::string_view s, char32_t* cp, size_t* len);

void AppendUtf8(char32_t cp, std::string* out);
bool IsValidUtf8(std::string_view s);
// Each maximal ill-formed subpart becomes U+FFFD (a truncated tail too).
std::string ReplaceInvalidUtf8(std::string_view s);

// ---- Normalization (tokenizer.cc) -------------------------------------------------------------

// NFC of valid UTF-8 text (ICU).
std::string NfcNormalize(std::string_view text);

// ---- Pre-tokenizer (pretokenize.cc) -----------------------------------------------------------

struct CodePointRange {
  char32_t first;
  char32_t last;
};

// Character classes of the Qwen2 split regex, as the reference's Oniguruma defines them.
bool IsLetter(char32_t cp);  // \p{L}
bool IsNumber(char32_t cp);  // \p{N}
bool IsSpace(char32_t cp);   // \s

// Splits valid UTF-8 `text` into the pieces that
//   (?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|
//   \s*[\r\n]+|\s+(?!\S)|\s+
// matches one after the other (the regex matches at every position, so the pieces tile the text).
// Appends views into `text`.
void PreTokenize(std::string_view text, std::vector<std::string_view>* pieces);

// ---- Byte-level BPE (bpe.cc) ------------------------------------------------------------------

// GPT-2 bytes_to_unicode: byte -> printable code point, and back (-1: not a byte-level char).
char32_t ByteToChar(uint8_t b);
int ByteFromChar(char32_t cp);
// Byte-level token text ("Ġthe") -> raw bytes (" the"). Code points outside the table keep their
// UTF-8 bytes (what the reference ByteLevel decoder does with them).
std::string ByteLevelToBytes(std::string_view token);
std::string BytesToByteLevel(std::string_view bytes);

// Token text -> id, open addressing over one byte arena. The 151k-entry vocabulary is looked up
// ~450k times while the merges load; a node-based std::unordered_map spends most of the load time
// in cache misses, this flat layout roughly one miss per lookup.
class TokenIndex {
 public:
  void Reserve(size_t entries, size_t bytes);
  bool Insert(std::string_view key, int32_t id);  // false if `key` is already present
  int32_t Find(std::string_view key) const;       // -1 if absent
  // Pulls the slot of `key` into cache ahead of a Find (the merges load is miss-bound).
  void Prefetch(std::string_view key) const {
    if (!slots_.empty()) __builtin_prefetch(&slots_[Hash(key) & mask_]);
  }
  size_t size() const { return size_; }
  template <typename F>
  void ForEach(F f) const {  // f(string_view key, int32_t id), in insertion order
    for (const Slot& s : order_) f(std::string_view(arena_).substr(s.offset, s.len), s.id);
  }

 private:
  struct Slot {  // 16 bytes: a lookup touches one slot and the key's bytes in the arena
    uint32_t tag;  // high bits of the hash
    uint32_t offset;
    uint32_t len;
    int32_t id;  // -1: empty
  };
  static uint64_t Hash(std::string_view key);
  void Rehash(size_t n_slots);
  std::string arena_;
  std::vector<Slot> slots_;
  std::vector<Slot> order_;  // insertion order (vocab.json is in id order: sequential writes)
  size_t mask_ = 0;
  size_t size_ = 0;
};

struct MergeResult {
  int32_t rank;
  int32_t id;
};

// (left id, right id) -> merge, open addressing (hot in EncodeWord).
class MergeTable {
 public:
  void Reserve(size_t n);
  bool Insert(int32_t left, int32_t right, MergeResult m);  // false if the pair exists
  const MergeResult* Find(int32_t left, int32_t right) const {
    if (slots_.empty()) return nullptr;
    const uint64_t key = Key(left, right);
    for (size_t i = Mix(key) & mask_;; i = (i + 1) & mask_) {
      const Slot& s = slots_[i];
      if (s.key == key) return &s.merge;
      if (s.key == kEmpty) return nullptr;
    }
  }

 private:
  struct Slot {
    uint64_t key;
    MergeResult merge;
  };
  static constexpr uint64_t kEmpty = ~0ull;
  static uint64_t Key(int32_t a, int32_t b) {
    return (static_cast<uint64_t>(static_cast<uint32_t>(a)) << 32) | static_cast<uint32_t>(b);
  }
  static uint64_t Mix(uint64_t k) {
    k ^= k >> 33;
    k *= 0xff51afd7ed558ccdull;
    k ^= k >> 33;
    return k;
  }
  std::vector<Slot> slots_;
  size_t mask_ = 0;
  size_t size_ = 0;
};

class BpeModel {
 public:
  // vocab: byte-level token text -> id. merges: pairs of byte-level token texts, in rank order.
  // Errors name `source` (the file the data came from).
  Status Init(TokenIndex vocab, const std::vector<std::pair<std::string, std::string>>& merges,
              const std::vector<int>& merge_lines, bool ignore_merges, const std::string& source);

  // Appends the ids of one pre-token (raw bytes).
  void EncodeWord(std::string_view bytes, std::vector<int32_t>* ids) const;

  const TokenIndex& vocab() const { return vocab_; }

 private:
  TokenIndex vocab_;  // byte-level text -> id
  MergeTable merges_;
  int32_t byte_ids_[256] = {};
  bool ignore_merges_ = false;
};

// ---- Loading (load.cc) ------------------------------------------------------------------------

struct AddedToken {
  int32_t id = -1;
  std::string content;
  bool special = false;
  bool normalized = false;  // matched after normalization (else on the raw text)
};

struct TokenizerFiles {
  TokenIndex vocab;  // byte-level text -> id
  std::vector<std::pair<std::string, std::string>> merges;
  std::vector<int> merge_lines;  // 1-based source line (merges.txt) or array index (tokenizer.json)
  std::vector<AddedToken> added;
  bool ignore_merges = false;
  bool nfc = true;
  std::string merges_source;  // file named in merge errors
  std::string label;          // the folder / model file, for errors
};

StatusOr<TokenizerFiles> ReadTokenizerFiles(const std::string& dir);
StatusOr<TokenizerFiles> ReadTokenizerFiles(const FileSource& src);

}  // namespace tokenizer_internal

struct Tokenizer::Impl {
  tokenizer_internal::BpeModel bpe;
  std::vector<tokenizer_internal::AddedToken> added;
  std::vector<std::string> id_to_bytes;  // raw bytes of every id ("" for holes)
  std::vector<uint8_t> is_special;
  std::unordered_map<std::string, int32_t> added_to_id;
  bool nfc = true;
  // Added tokens by first byte, longest first, for the leftmost-longest split.
  std::vector<int32_t> raw_by_first_byte[256];
  std::vector<int32_t> normalized_by_first_byte[256];
  bool has_raw_added = false;
  bool has_normalized_added = false;
  int32_t im_start = -1, im_end = -1, endoftext = -1;
};

}  // namespace fastvlm
