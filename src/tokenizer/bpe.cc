// Byte-level BPE: the GPT-2 byte <-> unicode table and merges applied by rank.
#include <algorithm>
#include <cstring>
#include <queue>
#include <string>
#include <string_view>
#include <vector>

#include "tokenizer/tokenizer_internal.h"

namespace fastvlm {
namespace tokenizer_internal {
namespace {

struct ByteTables {
  char32_t byte_to_char[256];
  int16_t char_to_byte[324];  // the table's code points are < 256 + 68
};

// GPT-2 bytes_to_unicode: printable bytes (33-126, 161-172, 174-255) map to themselves, the other
// 68 bytes, in increasing order, to U+0100, U+0101, ...
const ByteTables& Tables() {
  static const ByteTables tables = [] {
    ByteTables t;
    for (auto& v : t.char_to_byte) v = -1;
    char32_t next = 256;
    for (int b = 0; b < 256; ++b) {
      const bool printable = (b >= 33 && b <= 126) || (b >= 161 && b <= 172) || b >= 174;
      t.byte_to_char[b] = printable ? static_cast<char32_t>(b) : next++;
      t.char_to_byte[t.byte_to_char[b]] = static_cast<int16_t>(b);
    }
    return t;
  }();
  return tables;
}

}  // namespace

char32_t ByteToChar(uint8_t b) { return Tables().byte_to_char[b]; }

int ByteFromChar(char32_t cp) { return cp < 324 ? Tables().char_to_byte[cp] : -1; }

std::string ByteLevelToBytes(std::string_view token) {
  std::string out;
  out.reserve(token.size());
  const auto* p = reinterpret_cast<const uint8_t*>(token.data());
  for (size_t i = 0; i < token.size();) {
    // Fast paths for the table's own code points (ASCII and two-byte sequences below U+0144):
    // this runs once per vocabulary entry at load time.
    if (p[i] < 0x80) {
      out.push_back(static_cast<char>(p[i++]));
      continue;
    }
    if (p[i] >= 0xC2 && p[i] <= 0xC5 && i + 1 < token.size() && (p[i + 1] & 0xC0) == 0x80) {
      const int b = ByteFromChar(((p[i] & 0x1Fu) << 6) | (p[i + 1] & 0x3Fu));
      if (b >= 0) {
        out.push_back(static_cast<char>(b));
        i += 2;
        continue;
      }
    }
    char32_t cp;
    size_t len;
    if (DecodeUtf8(token.substr(i), &cp, &len) == Utf8Result::kValid) {
      const int b = ByteFromChar(cp);
      if (b >= 0) {
        out.push_back(static_cast<char>(b));
      } else {
        out.append(token.data() + i, len);
      }
    } else {
      out.append(token.data() + i, len);
    }
    i += len;
  }
  return out;
}

std::string BytesToByteLevel(std::string_view bytes) {
  std::string out;
  out.reserve(bytes.size() * 2);
  for (char c : bytes) AppendUtf8(ByteToChar(static_cast<uint8_t>(c)), &out);
  return out;
}

void TokenIndex::Reserve(size_t entries, size_t bytes) {
  arena_.reserve(bytes);
  order_.reserve(entries);
  size_t n = 16;
  while (n * 3 < entries * 4) n *= 2;  // load <= 3/4 keeps the table (and its misses) small
  if (n > slots_.size()) Rehash(n);
}

uint64_t TokenIndex::Hash(std::string_view key) {
  uint64_t h = 0x9E3779B97F4A7C15ull ^ key.size();
  const char* p = key.data();
  size_t n = key.size();
  auto mix = [&h](uint64_t k) {
    h = (h ^ k) * 0xff51afd7ed558ccdull;
    h ^= h >> 32;
  };
  for (; n >= 8; n -= 8, p += 8) {
    uint64_t k;
    std::memcpy(&k, p, 8);
    mix(k);
  }
  uint64_t k = 0;
  std::memcpy(&k, p, n);
  mix(k);
  h ^= h >> 29;
  h *= 0xc4ceb9fe1a85ec53ull;
  return h ^ (h >> 32);
}

void TokenIndex::Rehash(size_t n_slots) {
  std::vector<Slot> old = std::move(slots_);
  slots_.assign(n_slots, Slot{0, 0, 0, -1});
  mask_ = n_slots - 1;
  for (const Slot& s : old) {
    if (s.id < 0) continue;
    size_t i = Hash(std::string_view(arena_).substr(s.offset, s.len)) & mask_;
    while (slots_[i].id >= 0) i = (i + 1) & mask_;
    slots_[i] = s;
  }
}

bool TokenIndex::Insert(std::string_view key, int32_t id) {
  if ((size_ + 1) * 4 > slots_.size() * 3) Rehash(std::max<size_t>(16, slots_.size() * 2));
  const uint64_t h = Hash(key);
  const uint32_t tag = static_cast<uint32_t>(h >> 32);
  size_t i = h & mask_;
  for (; slots_[i].id >= 0; i = (i + 1) & mask_) {
    const Slot& s = slots_[i];
    if (s.tag == tag && std::string_view(arena_).substr(s.offset, s.len) == key) return false;
  }
  slots_[i] = Slot{tag, static_cast<uint32_t>(arena_.size()), static_cast<uint32_t>(key.size()), id};
  order_.push_back(slots_[i]);
  arena_.append(key);
  ++size_;
  return true;
}

int32_t TokenIndex::Find(std::string_view key) const {
  if (slots_.empty()) return -1;
  const uint64_t h = Hash(key);
  const uint32_t tag = static_cast<uint32_t>(h >> 32);
  for (size_t i = h & mask_; slots_[i].id >= 0; i = (i + 1) & mask_) {
    const Slot& s = slots_[i];
    if (s.tag == tag && std::string_view(arena_).substr(s.offset, s.len) == key) return s.id;
  }
  return -1;
}

void MergeTable::Reserve(size_t n) {
  size_t slots = 16;
  while (slots < n * 2) slots *= 2;
  slots_.assign(slots, Slot{kEmpty, {}});
  mask_ = slots - 1;
  size_ = 0;
}

bool MergeTable::Insert(int32_t left, int32_t right, MergeResult m) {
  if ((size_ + 1) * 2 > slots_.size()) {  // grow: re-insert everything
    std::vector<Slot> old = std::move(slots_);
    Reserve(std::max<size_t>(16, old.size()));
    for (const Slot& s : old) {
      if (s.key != kEmpty) Insert(static_cast<int32_t>(s.key >> 32), static_cast<int32_t>(s.key), s.merge);
    }
  }
  const uint64_t key = Key(left, right);
  size_t i = Mix(key) & mask_;
  for (; slots_[i].key != kEmpty; i = (i + 1) & mask_) {
    if (slots_[i].key == key) return false;
  }
  slots_[i] = Slot{key, m};
  ++size_;
  return true;
}

Status BpeModel::Init(TokenIndex vocab,
                      const std::vector<std::pair<std::string, std::string>>& merges,
                      const std::vector<int>& merge_lines, bool ignore_merges,
                      const std::string& source) {
  vocab_ = std::move(vocab);
  ignore_merges_ = ignore_merges;
  std::string one;
  for (int b = 0; b < 256; ++b) {
    one.clear();
    AppendUtf8(ByteToChar(static_cast<uint8_t>(b)), &one);
    const int32_t id = vocab_.Find(one);
    if (id < 0) {
      return Status::Error("vocabulary lacks the byte-level token '%s' for byte 0x%02X: not a "
                           "byte-level BPE vocabulary", one.c_str(), b);
    }
    byte_ids_[b] = id;
  }
  merges_.Reserve(merges.size());
  std::string joined;
  constexpr size_t kPrefetchDistance = 8;
  for (size_t r = 0; r < merges.size(); ++r) {
    if (r + kPrefetchDistance < merges.size()) {
      const auto& [pa, pb] = merges[r + kPrefetchDistance];
      vocab_.Prefetch(pa);
      vocab_.Prefetch(pb);
    }
    const auto& [a, b] = merges[r];
    const int line = r < merge_lines.size() ? merge_lines[r] : static_cast<int>(r);
    const int32_t ia = vocab_.Find(a);
    const int32_t ib = vocab_.Find(b);
    if (ia < 0 || ib < 0) {
      return Status::Error("%s: merge %d ('%s %s') references token '%s' that is not in the "
                           "vocabulary", source.c_str(), line, a.c_str(), b.c_str(),
                           (ia < 0 ? a : b).c_str());
    }
    joined.assign(a).append(b);
    const int32_t ij = vocab_.Find(joined);
    if (ij < 0) {
      return Status::Error("%s: merge %d ('%s %s') produces '%s', which is not in the vocabulary",
                           source.c_str(), line, a.c_str(), b.c_str(), joined.c_str());
    }
    // A repeated pair keeps its first (lowest) rank.
    merges_.Insert(ia, ib, MergeResult{static_cast<int32_t>(r), ij});
  }
  return Status::Ok();
}

void BpeModel::EncodeWord(std::string_view bytes, std::vector<int32_t>* ids) const {
  if (bytes.empty()) return;
  if (bytes.size() == 1) {
    ids->push_back(byte_ids_[static_cast<uint8_t>(bytes[0])]);
    return;
  }
  if (ignore_merges_) {
    const int32_t id = vocab_.Find(BytesToByteLevel(bytes));
    if (id >= 0) {
      ids->push_back(id);
      return;
    }
  }
  // Symbols form a doubly linked list over the bytes; a min-heap of candidate merges ordered by
  // (rank, left position) applies the lowest-ranked pair first and, among equal ranks, the leftmost
  // one — the order of the reference (HF tokenizers' word merge). Stale heap entries are skipped
  // when popped. O(n log n) per word, so long words stay fast.
  struct Symbol {
    int32_t id;
    int32_t prev;
    int32_t next;
  };
  struct Candidate {
    int32_t rank;
    int32_t pos;
    int32_t new_id;
    bool operator>(const Candidate& o) const {
      return rank != o.rank ? rank > o.rank : pos > o.pos;
    }
  };
  const int32_t n = static_cast<int32_t>(bytes.size());
  std::vector<Symbol> sym(n);
  for (int32_t i = 0; i < n; ++i) {
    sym[i] = {byte_ids_[static_cast<uint8_t>(bytes[i])], i - 1, i + 1 < n ? i + 1 : -1};
  }
  std::vector<Candidate> storage;
  storage.reserve(n);
  std::priority_queue<Candidate, std::vector<Candidate>, std::greater<Candidate>> heap(
      std::greater<Candidate>(), std::move(storage));
  auto push = [&](int32_t left) {
    if (left < 0) return;
    const int32_t right = sym[left].next;
    if (right < 0) return;
    const MergeResult* m = merges_.Find(sym[left].id, sym[right].id);
    if (m) heap.push({m->rank, left, m->id});
  };
  for (int32_t i = 0; i + 1 < n; ++i) push(i);
  std::vector<uint8_t> dead(n, 0);
  while (!heap.empty()) {
    const Candidate c = heap.top();
    heap.pop();
    const int32_t left = c.pos;
    if (dead[left]) continue;
    const int32_t right = sym[left].next;
    if (right < 0) continue;
    // Stale if either side changed since the entry was pushed.
    const MergeResult* m = merges_.Find(sym[left].id, sym[right].id);
    if (!m || m->rank != c.rank || m->id != c.new_id) continue;
    sym[left].id = c.new_id;
    sym[left].next = sym[right].next;
    if (sym[right].next >= 0) sym[sym[right].next].prev = left;
    dead[right] = 1;
    push(sym[left].prev);
    push(left);
  }
  for (int32_t i = 0; i >= 0; i = sym[i].next) ids->push_back(sym[i].id);
}

}  // namespace tokenizer_internal
}  // namespace fastvlm
