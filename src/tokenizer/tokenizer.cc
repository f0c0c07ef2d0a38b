// Qwen2 tokenizer: loading, the encode pipeline and decoding (spec §6).
//
// Encode follows the reference, HF tokenizers as transformers' fast Qwen2Tokenizer drives it:
//   1. Invalid UTF-8: each maximal ill-formed subpart (Unicode §3.9; a lone bad byte, or a
//      truncated / interrupted sequence) becomes one U+FFFD. This is exactly
//      bytes.decode("utf-8", errors="replace") in Python, so feeding the Python reference that
//      decoded string gives the ids we must produce (tested in tokenizer_test.cc).
//   2. Added tokens with normalized=false (Qwen2's <|endoftext|>, <|im_start|>, <|im_end|>) are
//      split out of the RAW text by leftmost-longest exact match, before normalization. (The slow
//      Python tokenizer normalizes first; the two differ only when NFC rewrites a character of a
//      special token, e.g. "<|im_end|>" followed by U+0338 COMBINING LONG SOLIDUS OVERLAY, where
//      NFC would fuse ">" into U+226F. We match the fast one, which transformers uses by default.)
//   3. Every remaining span is NFC-normalized (ICU), then split on added tokens with
//      normalized=true, then pre-tokenized (pretokenize.cc) and BPE-encoded (bpe.cc).
#include <algorithm>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include <unicode/bytestream.h>
#include <unicode/normalizer2.h>
#include <unicode/stringpiece.h>

#include "tokenizer/tokenizer.h"
#include "tokenizer/tokenizer_internal.h"

namespace fastvlm {
namespace tokenizer_internal {

std::string NfcNormalize(std::string_view text) {
  // ASCII is always in NFC; most prompts are, so skip ICU for them.
  if (std::all_of(text.begin(), text.end(),
                  [](char c) { return static_cast<uint8_t>(c) < 0x80; })) {
    return std::string(text);
  }
  UErrorCode status = U_ZERO_ERROR;
  const icu::Normalizer2* nfc = icu::Normalizer2::getNFCInstance(status);
  if (U_FAILURE(status)) return std::string(text);  // ICU data missing: no normalization
  const icu::StringPiece piece(text.data(), static_cast<int32_t>(text.size()));
  if (nfc->isNormalizedUTF8(piece, status) && U_SUCCESS(status)) return std::string(text);
  status = U_ZERO_ERROR;
  std::string out;
  out.reserve(text.size());
  icu::StringByteSink<std::string> sink(&out);
  nfc->normalizeUTF8(0, piece, sink, nullptr, status);
  if (U_FAILURE(status)) return std::string(text);
  return out;
}

}  // namespace tokenizer_internal

namespace ti = tokenizer_internal;

namespace {

// Splits `text` on the added tokens in `by_first_byte` (leftmost-longest exact match), calling
// on_text(span) for the text between tokens and on_token(id) for each token.
template <typename OnText, typename OnToken>
void SplitAdded(std::string_view text, const std::vector<ti::AddedToken>& added,
                const std::vector<int32_t> (&by_first_byte)[256], OnText on_text,
                OnToken on_token) {
  size_t start = 0;  // start of the pending text span
  for (size_t i = 0; i < text.size(); ++i) {
    const auto& candidates = by_first_byte[static_cast<uint8_t>(text[i])];
    for (int32_t idx : candidates) {  // longest first: the first hit is the longest match
      const std::string& c = added[idx].content;
      if (text.compare(i, c.size(), c) == 0) {
        if (i > start) on_text(text.substr(start, i - start));
        on_token(added[idx].id);
        i += c.size() - 1;
        start = i + 1;
        break;
      }
    }
  }
  if (start < text.size()) on_text(text.substr(start));
}

}  // namespace

Tokenizer::Tokenizer(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Tokenizer::~Tokenizer() = default;

StatusOr<std::unique_ptr<Tokenizer>> Tokenizer::LoadFromDir(const std::string& dir) {
  ASSIGN_OR_RETURN(ti::TokenizerFiles files, ti::ReadTokenizerFiles(dir));
  return FromFiles(std::move(files));
}

StatusOr<std::unique_ptr<Tokenizer>> Tokenizer::Load(const FileSource& src) {
  ASSIGN_OR_RETURN(ti::TokenizerFiles files, ti::ReadTokenizerFiles(src));
  return FromFiles(std::move(files));
}

StatusOr<std::unique_ptr<Tokenizer>> Tokenizer::FromFiles(ti::TokenizerFiles files) {
  auto impl = std::make_unique<Impl>();
  impl->nfc = files.nfc;

  // id -> raw bytes, before the vocabulary moves into the BPE model.
  int32_t max_id = -1;
  files.vocab.ForEach([&](std::string_view, int32_t id) { max_id = std::max(max_id, id); });
  for (const auto& t : files.added) max_id = std::max(max_id, t.id);
  impl->id_to_bytes.assign(static_cast<size_t>(max_id + 1), std::string());
  impl->is_special.assign(static_cast<size_t>(max_id + 1), 0);
  int32_t duplicate = -1;
  files.vocab.ForEach([&](std::string_view tok, int32_t id) {
    if (!impl->id_to_bytes[id].empty()) duplicate = id;
    impl->id_to_bytes[id] = ti::ByteLevelToBytes(tok);
  });
  if (duplicate >= 0) {
    return Status::Error("%s: vocabulary id %d is used by two tokens", files.label.c_str(),
                         duplicate);
  }
  RETURN_IF_ERROR(impl->bpe.Init(std::move(files.vocab), files.merges, files.merge_lines,
                                 files.ignore_merges, files.merges_source));

  impl->added = std::move(files.added);
  for (size_t i = 0; i < impl->added.size(); ++i) {
    const ti::AddedToken& t = impl->added[i];
    // An added token overrides the text of a vocabulary entry with the same id.
    impl->id_to_bytes[t.id] = t.content;
    impl->is_special[t.id] = t.special ? 1 : 0;
    impl->added_to_id[t.content] = t.id;
    auto& index = t.normalized ? impl->normalized_by_first_byte : impl->raw_by_first_byte;
    index[static_cast<uint8_t>(t.content[0])].push_back(static_cast<int32_t>(i));
    (t.normalized ? impl->has_normalized_added : impl->has_raw_added) = true;
  }
  for (auto* index : {&impl->raw_by_first_byte, &impl->normalized_by_first_byte}) {
    for (auto& list : *index) {
      std::stable_sort(list.begin(), list.end(), [&](int32_t a, int32_t b) {
        return impl->added[a].content.size() > impl->added[b].content.size();
      });
    }
  }
  auto find = [&](const char* s) {
    auto it = impl->added_to_id.find(s);
    return it == impl->added_to_id.end() ? -1 : it->second;
  };
  impl->im_start = find("<|im_start|>");
  impl->im_end = find("<|im_end|>");
  impl->endoftext = find("<|endoftext|>");
  return std::unique_ptr<Tokenizer>(new Tokenizer(std::move(impl)));
}

std::vector<int32_t> Tokenizer::Encode(std::string_view text) const {
  std::string repaired;
  if (!ti::IsValidUtf8(text)) {
    repaired = ti::ReplaceInvalidUtf8(text);
    text = repaired;
  }
  std::vector<int32_t> ids;
  ids.reserve(text.size() / 3 + 4);
  std::vector<std::string_view> pieces;
  auto encode_normalized = [&](std::string_view span) {
    pieces.clear();
    ti::PreTokenize(span, &pieces);
    for (std::string_view p : pieces) impl_->bpe.EncodeWord(p, &ids);
  };
  auto on_token = [&](int32_t id) { ids.push_back(id); };
  auto encode_raw = [&](std::string_view span) {
    const std::string normalized = impl_->nfc ? ti::NfcNormalize(span) : std::string(span);
    if (impl_->has_normalized_added) {
      SplitAdded(normalized, impl_->added, impl_->normalized_by_first_byte, encode_normalized,
                 on_token);
    } else {
      encode_normalized(normalized);
    }
  };
  if (impl_->has_raw_added) {
    SplitAdded(text, impl_->added, impl_->raw_by_first_byte, encode_raw, on_token);
  } else {
    encode_raw(text);
  }
  return ids;
}

std::string Tokenizer::Decode(const std::vector<int32_t>& ids, bool skip_special) const {
  std::string out;
  for (int32_t id : ids) {
    if (id < 0 || id >= static_cast<int32_t>(impl_->id_to_bytes.size())) continue;
    if (skip_special && impl_->is_special[id]) continue;
    out += impl_->id_to_bytes[id];
  }
  return out;
}

std::string Tokenizer::TokenBytes(int32_t id) const {
  if (id < 0 || id >= static_cast<int32_t>(impl_->id_to_bytes.size())) return {};
  return impl_->id_to_bytes[id];
}

int32_t Tokenizer::TokenToId(std::string_view token) const {
  auto a = impl_->added_to_id.find(std::string(token));
  if (a != impl_->added_to_id.end()) return a->second;
  return impl_->bpe.vocab().Find(token);
}

bool Tokenizer::IsSpecial(int32_t id) const {
  return id >= 0 && id < static_cast<int32_t>(impl_->is_special.size()) && impl_->is_special[id];
}

int32_t Tokenizer::vocab_size() const { return static_cast<int32_t>(impl_->id_to_bytes.size()); }
int32_t Tokenizer::im_start_id() const { return impl_->im_start; }
int32_t Tokenizer::im_end_id() const { return impl_->im_end; }
int32_t Tokenizer::endoftext_id() const { return impl_->endoftext; }

}  // namespace fastvlm
