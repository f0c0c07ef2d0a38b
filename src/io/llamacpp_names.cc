#include "io/llamacpp_names.h"

#include <cstdlib>
#include <utility>

namespace fastvlm::io {
namespace {

// Per-layer tensors: HF suffix after "layers.N." <-> llama.cpp suffix after "blk.N.".
constexpr std::pair<const char*, const char*> kLayer[] = {
    {"input_layernorm.weight", "attn_norm.weight"},
    {"self_attn.q_proj.weight", "attn_q.weight"},
    {"self_attn.q_proj.bias", "attn_q.bias"},
    {"self_attn.k_proj.weight", "attn_k.weight"},
    {"self_attn.k_proj.bias", "attn_k.bias"},
    {"self_attn.v_proj.weight", "attn_v.weight"},
    {"self_attn.v_proj.bias", "attn_v.bias"},
    {"self_attn.o_proj.weight", "attn_output.weight"},
    {"post_attention_layernorm.weight", "ffn_norm.weight"},
    {"mlp.gate_proj.weight", "ffn_gate.weight"},
    {"mlp.up_proj.weight", "ffn_up.weight"},
    {"mlp.down_proj.weight", "ffn_down.weight"},
};
constexpr std::pair<const char*, const char*> kGlobal[] = {
    {"embed_tokens.weight", "token_embd.weight"},
    {"norm.weight", "output_norm.weight"},
    {"lm_head.weight", "output.weight"},
};

// "<head>N.<rest>" -> N and rest; false unless N is a plain decimal number.
bool SplitLayer(const std::string& name, const std::string& head, std::string* num,
                std::string* rest) {
  if (name.rfind(head, 0) != 0) return false;
  const size_t dot = name.find('.', head.size());
  if (dot == std::string::npos || dot == head.size()) return false;
  *num = name.substr(head.size(), dot - head.size());
  if (num->find_first_not_of("0123456789") != std::string::npos) return false;
  *rest = name.substr(dot + 1);
  return true;
}

}  // namespace

std::string HfToLlamaCppName(const std::string& hf) {
  for (const auto& [h, g] : kGlobal)
    if (hf == h) return g;
  std::string num, rest;
  if (!SplitLayer(hf, "layers.", &num, &rest)) return "";
  for (const auto& [h, g] : kLayer)
    if (rest == h) return "blk." + num + "." + g;
  return "";
}

std::string LlamaCppToHfName(const std::string& gguf) {
  for (const auto& [h, g] : kGlobal)
    if (gguf == g) return h;
  std::string num, rest;
  if (!SplitLayer(gguf, "blk.", &num, &rest)) return "";
  for (const auto& [h, g] : kLayer)
    if (rest == g) return "layers." + num + "." + h;
  return "";
}

}  // namespace fastvlm::io
