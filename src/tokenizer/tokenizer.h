// Qwen2 byte-level BPE tokenizer (spec §6) and the ChatML prompt of spec §5.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "base/status.h"

namespace fastvlm {

// Where the tokenizer files come from (a folder, or a model file that embeds them).
struct FileSource {
  std::string label;
  std::function<bool(const std::string& name)> exists;
  std::function<StatusOr<std::string>(const std::string& name)> read;
  std::function<std::string(const std::string& name)> path;
};

// The image sentinel of Apple's llava_qwen2 layout: never an embedding row (spec §5.2).
inline constexpr int32_t kImageSentinel = -200;

namespace tokenizer_internal {
struct TokenizerFiles;
}

class Tokenizer {
 public:
  // Loads tokenizer.json if the folder has one, else vocab.json + merges.txt (+ added_tokens.json,
  // tokenizer_config.json's added_tokens_decoder). Errors name the missing / malformed file.
  static StatusOr<std::unique_ptr<Tokenizer>> LoadFromDir(const std::string& dir);
  // The same files from elsewhere (e.g. embedded in a GGUF file): `exists` / `read` take the file
  // name ("tokenizer.json", "vocab.json", ...); `path` names it in error messages.
  static StatusOr<std::unique_ptr<Tokenizer>> Load(const FileSource& src);
  ~Tokenizer();

  // Splits out added/special tokens by exact match (on the raw text, as HF tokenizers does),
  // NFC-normalizes the rest, pre-tokenizes with the Qwen2 regex, maps bytes to unicode, applies
  // BPE. Invalid UTF-8 in `text` is handled as documented in tokenizer.cc (each maximal ill-formed
  // subpart becomes U+FFFD first, exactly as Python's bytes.decode(errors="replace") would).
  // Thread-safe (no mutable state).
  std::vector<int32_t> Encode(std::string_view text) const;

  // Concatenated bytes of the tokens (special tokens included unless skip_special).
  std::string Decode(const std::vector<int32_t>& ids, bool skip_special = false) const;
  // Raw bytes of one token (may be a partial UTF-8 sequence). Empty for unknown ids.
  std::string TokenBytes(int32_t id) const;

  // `token` as spelled in vocab.json (byte-level, e.g. "\u0120the" for " the") or an added token's
  // content. -1 if absent.
  int32_t TokenToId(std::string_view token) const;
  bool IsSpecial(int32_t id) const;
  // Number of ids with a token (vocab + added tokens); ids >= this have no text.
  int32_t vocab_size() const;

  int32_t im_start_id() const;  // <|im_start|>
  int32_t im_end_id() const;    // <|im_end|>
  int32_t endoftext_id() const; // <|endoftext|>

  struct Impl;

 private:
  explicit Tokenizer(std::unique_ptr<Impl> impl);
  static StatusOr<std::unique_ptr<Tokenizer>> FromFiles(tokenizer_internal::TokenizerFiles files);
  std::unique_ptr<Impl> impl_;
};

// Streams token bytes to text, holding back an incomplete UTF-8 sequence at the end until its
// continuation bytes arrive. Invalid sequences become U+FFFD (like errors="replace").
class Utf8StreamDecoder {
 public:
  // Returns the text that is complete after appending `bytes`.
  std::string Push(std::string_view bytes);
  // Returns what is left (invalid tail bytes become U+FFFD).
  std::string Flush();

 private:
  std::string pending_;
};

struct ChatMessage {
  std::string role;     // "system", "user", "assistant"
  std::string content;  // may contain "<image>" (user turns)
};

// Renders Apple's qwen_2 conversation (spec §5.1): default system prompt when none is given,
// `<|im_start|>role\ncontent<|im_end|>\n` per turn, and `<|im_start|>assistant\n` when
// add_generation_prompt.
std::string RenderChatML(const std::vector<ChatMessage>& messages, bool add_generation_prompt,
                         const std::string& default_system = "You are a helpful assistant.");

// Tokenizes `prompt`, splitting on the literal "<image>" and tokenizing each chunk separately
// (spec §5.2). Each "<image>" becomes one kImageSentinel id.
std::vector<int32_t> TokenizeWithImages(const Tokenizer& tok, std::string_view prompt);

}  // namespace fastvlm
