// The ChatML prompt of Apple's conv_qwen_2 (spec §5.1) and tokenization around "<image>" (§5.2).
#include <string>
#include <string_view>
#include <vector>

#include "tokenizer/tokenizer.h"

namespace fastvlm {

std::string RenderChatML(const std::vector<ChatMessage>& messages, bool add_generation_prompt,
                         const std::string& default_system) {
  // Same string as the Qwen2-Instruct chat template: a system turn first (the default one when
  // the conversation has none; an empty default means none), then one block per message.
  std::string out;
  if ((messages.empty() || messages[0].role != "system") && !default_system.empty()) {
    out += "<|im_start|>system\n" + default_system + "<|im_end|>\n";
  }
  for (const ChatMessage& m : messages) {
    out += "<|im_start|>" + m.role + "\n" + m.content + "<|im_end|>\n";
  }
  if (add_generation_prompt) out += "<|im_start|>assistant\n";
  return out;
}

std::vector<int32_t> TokenizeWithImages(const Tokenizer& tok, std::string_view prompt) {
  // llava mm_utils.tokenizer_image_token: prompt.split("<image>"), each chunk tokenized on its own
  // (so BPE never merges across an image), chunks joined by one sentinel. Qwen2 has no BOS, so
  // there is no BOS bookkeeping.
  static constexpr std::string_view kImage = "<image>";
  std::vector<int32_t> ids;
  size_t start = 0;
  while (true) {
    const size_t hit = prompt.find(kImage, start);
    const std::string_view chunk =
        prompt.substr(start, hit == std::string_view::npos ? std::string_view::npos : hit - start);
    const std::vector<int32_t> chunk_ids = tok.Encode(chunk);
    ids.insert(ids.end(), chunk_ids.begin(), chunk_ids.end());
    if (hit == std::string_view::npos) break;
    ids.push_back(kImageSentinel);
    start = hit + kImage.size();
  }
  return ids;
}

}  // namespace fastvlm
