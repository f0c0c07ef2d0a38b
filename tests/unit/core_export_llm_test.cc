// `fastvlm export-llm` (quant/export_llm.h): the language model as a llama.cpp `qwen2` GGUF file,
// read back with our GgufFile (every key with its value and type, every tensor bit-identical to
// the source for a same-type export), tied vs untied lm_head, and read back as --model by our
// own engine (io/checkpoint_gguf.cc's llama.cpp reader): same logits as the source folder.
#include <gtest/gtest.h>

#include <cstring>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "io/gguf.h"
#include "io/llamacpp_names.h"
#include "io/safetensors.h"
#include "quant/convert.h"
#include "quant/export_llm.h"
#include "runtime/engine.h"
#include "util/safetensors_writer.h"

namespace fastvlm {
namespace {

const std::string kModels = std::string(FASTVLM_SOURCE_DIR) + "/tests/fixtures/fastvlm/models/";

quant::ExportLlmStats Export(const std::string& model, const std::string& out,
                             const char* type = nullptr) {
  quant::ExportLlmOptions opt;
  opt.model_path = model;
  opt.out_path = out;
  if (type) {
    opt.type_set = true;
    EXPECT_TRUE(quant::ParseWType(type, &opt.type));
  }
  quant::ExportLlmStats st;
  Status s = quant::ExportLlm(opt, &st);
  EXPECT_TRUE(s.ok()) << s.message();
  return st;
}

// Checks key presence, value type and value.
void ExpectU32(const io::GgufFile& g, const std::string& key, uint32_t want) {
  const io::GgufValue* v = g.Find(key);
  ASSERT_NE(v, nullptr) << key;
  EXPECT_EQ(v->type, io::GgufValueType::kU32) << key;
  EXPECT_EQ(v->u, want) << key;
}
void ExpectF32(const io::GgufFile& g, const std::string& key, double want) {
  const io::GgufValue* v = g.Find(key);
  ASSERT_NE(v, nullptr) << key;
  EXPECT_EQ(v->type, io::GgufValueType::kF32) << key;
  EXPECT_EQ(static_cast<float>(v->f), static_cast<float>(want)) << key;
}
void ExpectString(const io::GgufFile& g, const std::string& key, const std::string& want) {
  const io::GgufValue* v = g.Find(key);
  ASSERT_NE(v, nullptr) << key;
  EXPECT_EQ(v->type, io::GgufValueType::kString) << key;
  EXPECT_EQ(v->str, want) << key;
}

// HF name of a llama.cpp tensor in a checkpoint with LLM prefix `p`.
std::string HfName(const std::string& gguf_name, const std::string& p) {
  const std::string rel = io::LlamaCppToHfName(gguf_name);
  return rel == "lm_head.weight" ? rel : p + rel;
}

TEST(ExportLlm, UntiedF32FolderKeysAndExactTensors) {
  testing::TempDir tmp;
  const std::string src = kModels + "tiny-f32-hf";  // transformers FastVLM layout, untied
  const std::string out = tmp.Join("llm.gguf");
  const quant::ExportLlmStats st = Export(src, out);
  EXPECT_FALSE(st.tied);
  auto g_or = io::GgufFile::Open(out);
  ASSERT_TRUE(g_or.ok()) << g_or.status().message();
  const io::GgufFile& g = **g_or;
  ExpectString(g, "general.architecture", "qwen2");
  ExpectString(g, "general.type", "model");
  ExpectU32(g, "qwen2.block_count", 2);
  ExpectU32(g, "qwen2.context_length", 32768);
  ExpectU32(g, "qwen2.embedding_length", 32);
  ExpectU32(g, "qwen2.feed_forward_length", 64);
  ExpectU32(g, "qwen2.attention.head_count", 4);
  ExpectU32(g, "qwen2.attention.head_count_kv", 2);
  EXPECT_EQ(g.Find("qwen2.attention.key_length"), nullptr);  // head_dim = 32 / 4 is the default
  ExpectF32(g, "qwen2.rope.freq_base", 1e6);
  ExpectF32(g, "qwen2.attention.layer_norm_rms_epsilon", 1e-6);
  ExpectU32(g, "general.file_type", 0);  // LLAMA_FTYPE_ALL_F32
  ExpectU32(g, "general.quantization_version", 2);
  ExpectU32(g, "general.alignment", 64);
  ExpectString(g, "tokenizer.ggml.model", "gpt2");
  ExpectString(g, "tokenizer.ggml.pre", "qwen2");
  const io::GgufValue* add_bos = g.Find("tokenizer.ggml.add_bos_token");
  ASSERT_NE(add_bos, nullptr);
  EXPECT_EQ(add_bos->type, io::GgufValueType::kBool);
  EXPECT_EQ(add_bos->u, 0u);

  // Tokens: one per embedding row, byte-level spelling, padding rows "[PAD<id>]" of type 5.
  auto tok = Tokenizer::LoadFromDir(src);
  ASSERT_TRUE(tok.ok());
  const io::GgufValue* tokens = g.Find("tokenizer.ggml.tokens");
  const io::GgufValue* types = g.Find("tokenizer.ggml.token_type");
  ASSERT_TRUE(tokens && types);
  EXPECT_EQ(tokens->array_type, io::GgufValueType::kString);
  EXPECT_EQ(types->array_type, io::GgufValueType::kI32);
  ASSERT_EQ(tokens->strs.size(), 2048u);  // vocab_size rows
  ASSERT_EQ(types->is.size(), 2048u);
  int normal = 0, control = 0, unused = 0;
  for (size_t i = 0; i < tokens->strs.size(); ++i) {
    const int t = static_cast<int>(types->is[i]);
    if (t == 1) {
      ++normal;
      EXPECT_EQ((*tok)->TokenToId(tokens->strs[i]), static_cast<int32_t>(i)) << i;
    } else if (t == 3) {
      ++control;
      EXPECT_TRUE((*tok)->IsSpecial(static_cast<int32_t>(i))) << tokens->strs[i];
      EXPECT_EQ((*tok)->TokenToId(tokens->strs[i]), static_cast<int32_t>(i));
    } else if (t == 5) {
      ++unused;
      EXPECT_EQ(tokens->strs[i], "[PAD" + std::to_string(i) + "]");
    }
  }
  EXPECT_EQ(normal + control + unused, 2048);
  EXPECT_GE(control, 3);  // <|endoftext|>, <|im_start|>, <|im_end|>
  EXPECT_EQ(normal + control, st.vocab_tokens);
  EXPECT_EQ(unused, st.padding_tokens);
  const io::GgufValue* merges = g.Find("tokenizer.ggml.merges");
  ASSERT_NE(merges, nullptr);
  EXPECT_GT(merges->strs.size(), 0u);
  for (const auto& m : merges->strs) EXPECT_EQ(std::count(m.begin(), m.end(), ' '), 1) << m;
  ExpectU32(g, "tokenizer.ggml.eos_token_id", static_cast<uint32_t>((*tok)->im_end_id()));
  ExpectU32(g, "tokenizer.ggml.padding_token_id", static_cast<uint32_t>((*tok)->endoftext_id()));
  ExpectU32(g, "tokenizer.ggml.bos_token_id", 2000);  // text_config.bos_token_id
  const io::GgufValue* tmpl = g.Find("tokenizer.chat_template");
  ASSERT_NE(tmpl, nullptr);
  EXPECT_NE(tmpl->str.find("<|im_start|>"), std::string::npos);

  // Tensors: 1 + 12 per layer + output_norm + output; f32 stored -> bit-identical.
  auto ck = io::Checkpoint::Open(src);
  ASSERT_TRUE(ck.ok());
  ASSERT_EQ(g.tensors().size(), 1u + 2 * 12 + 2);
  EXPECT_NE(g.FindTensor("output.weight"), nullptr);
  for (const auto& t : g.tensors()) {
    const io::TensorView* s = (*ck)->Find(HfName(t.name, "model.language_model."));
    ASSERT_NE(s, nullptr) << t.name;
    EXPECT_EQ(t.type, io::GgmlType::kF32) << t.name;
    EXPECT_EQ(t.shape, s->shape) << t.name;
    ASSERT_EQ(t.nbytes, s->nbytes) << t.name;
    EXPECT_EQ(std::memcmp(t.data, s->data, t.nbytes), 0) << t.name;
    EXPECT_EQ(reinterpret_cast<uintptr_t>(t.data) % 64, 0u) << t.name;
  }
}

TEST(ExportLlm, TiedBf16AppleFolderKeepsBf16AndOmitsOutput) {
  testing::TempDir tmp;
  const std::string src = kModels + "tiny-bf16-apple";  // llava_qwen2, tied, vision tensors
  const std::string out = tmp.Join("llm.gguf");
  const quant::ExportLlmStats st = Export(src, out);
  EXPECT_TRUE(st.tied);
  auto g = io::GgufFile::Open(out);
  ASSERT_TRUE(g.ok());
  EXPECT_EQ((*g)->FindTensor("output.weight"), nullptr);
  EXPECT_EQ((*g)->tensors().size(), 1u + 2 * 12 + 1);  // no vision tower, no projector
  ExpectU32(**g, "general.file_type", 32);               // LLAMA_FTYPE_MOSTLY_BF16
  auto ck = io::Checkpoint::Open(src);
  ASSERT_TRUE(ck.ok());
  for (const auto& t : (*g)->tensors()) {
    const io::TensorView* s = (*ck)->Find(HfName(t.name, "model."));
    ASSERT_NE(s, nullptr) << t.name;
    if (t.shape.size() == 2) {
      EXPECT_EQ(t.type, io::GgmlType::kBF16) << t.name;
      ASSERT_EQ(t.nbytes, s->nbytes);
      EXPECT_EQ(std::memcmp(t.data, s->data, t.nbytes), 0) << t.name;
    } else {  // norms and biases: f32, exact widening of the bf16 values
      EXPECT_EQ(t.type, io::GgmlType::kF32) << t.name;
      auto want = io::ToF32Vector(*s);
      ASSERT_TRUE(want.ok());
      ASSERT_EQ(t.nbytes, want->size() * 4);
      EXPECT_EQ(std::memcmp(t.data, want->data(), t.nbytes), 0) << t.name;
    }
  }
}

TEST(ExportLlm, QuantizedGgufIsCopiedAndQ8_0FromFolderMatchesQuantize) {
  testing::TempDir tmp;
  const std::string src = kModels + "tiny-f32-hf";
  quant::ConvertOptions co;
  co.model_dir = src;
  co.out_path = tmp.Join("q8.gguf");
  co.type = kernels::WType::kQ8_0;
  // The standard block layout, so the bytes compare directly (a file with decode panels exports
  // the same llama.cpp file: core_gguf_model_test DecodePanelsStoredOrBuiltGiveTheSameLogits).
  co.decode_panels = false;
  ASSERT_TRUE(quant::ConvertToGguf(co, nullptr).ok());
  Export(co.out_path, tmp.Join("from_gguf.gguf"));            // stored types kept
  Export(src, tmp.Join("from_folder.gguf"), "q8_0");         // quantized by the exporter
  auto q = io::GgufFile::Open(co.out_path);
  auto a = io::GgufFile::Open(tmp.Join("from_gguf.gguf"));
  auto b = io::GgufFile::Open(tmp.Join("from_folder.gguf"));
  ASSERT_TRUE(q.ok() && a.ok() && b.ok());
  ExpectU32(**a, "general.file_type", 7);  // LLAMA_FTYPE_MOSTLY_Q8_0
  ASSERT_EQ((*a)->tensors().size(), (*b)->tensors().size());
  for (const auto& t : (*a)->tensors()) {
    const io::GgufFile::Tensor* u = (*b)->FindTensor(t.name);
    const io::GgufFile::Tensor* v = (*q)->FindTensor(HfName(t.name, "model.language_model."));
    ASSERT_TRUE(u && v) << t.name;
    EXPECT_EQ(t.type, t.shape.size() == 2 ? io::GgmlType::kQ8_0 : io::GgmlType::kF32);
    EXPECT_EQ(t.type, u->type);
    EXPECT_EQ(t.type, v->type);
    ASSERT_EQ(t.nbytes, u->nbytes);
    EXPECT_EQ(std::memcmp(t.data, u->data, t.nbytes), 0) << t.name;
    EXPECT_EQ(std::memcmp(t.data, v->data, t.nbytes), 0) << t.name;
  }
  // Re-quantizing a quantized tensor to another block type is refused, with the way out named.
  quant::ExportLlmOptions opt;
  opt.model_path = co.out_path;
  opt.out_path = tmp.Join("q4.gguf");
  opt.type_set = true;
  opt.type = kernels::WType::kQ4_0;
  Status s = quant::ExportLlm(opt, nullptr);
  ASSERT_FALSE(s.ok());
  EXPECT_NE(s.message().find("re-quantizing"), std::string::npos) << s.message();
  // A float type from a quantized file is possible (dequantized).
  opt.type = kernels::WType::kF32;
  EXPECT_TRUE(quant::ExportLlm(opt, nullptr).ok());
}

// Our engine reads the exported llama.cpp file back: same tokens, same logits as the folder.
TEST(ExportLlm, EngineReadsExportBackWithIdenticalLogits) {
  testing::TempDir tmp;
  for (const std::string name : {"tiny-f32-hf", "tiny-bf16-apple"}) {
    const std::string src = kModels + name;
    const std::string out = tmp.Join(name + ".gguf");
    Export(src, out);
    std::vector<float> logits[2];
    std::vector<int32_t> ids[2];
    for (int k = 0; k < 2; ++k) {
      EngineOptions eo;
      eo.model_path = k == 0 ? src : out;
      eo.threads = 1;
      eo.max_context = 128;
      eo.load_vision = false;
      auto e = Engine::Load(eo);
      ASSERT_TRUE(e.ok()) << e.status().message();
      EXPECT_FALSE((*e)->has_vision());
      ids[k] = TokenizeWithImages((*e)->tokenizer(),
                                  RenderChatML({{"user", "Hello there, what is 2+2?"}}, true));
      Status s = (*e)->EvaluatePrompt(ids[k], &logits[k]);
      ASSERT_TRUE(s.ok()) << s.message();
      EXPECT_EQ((*e)->config().text.tie_word_embeddings, name == "tiny-bf16-apple");
    }
    EXPECT_EQ(ids[0], ids[1]) << name;
    ASSERT_EQ(logits[0].size(), logits[1].size()) << name;
    EXPECT_EQ(std::memcmp(logits[0].data(), logits[1].data(), logits[0].size() * 4), 0) << name;
  }
}

TEST(ExportLlm, BadInputGivesClearErrors) {
  testing::TempDir tmp;
  quant::ExportLlmOptions opt;
  // A folder with a config.json but no language-model weights.
  std::filesystem::create_directories(tmp.Join("nolm"));
  std::filesystem::copy_file(kModels + "tiny-f32-hf/config.json", tmp.Join("nolm/config.json"));
  testing::SafetensorsWriter w;
  w.AddF32("model.multi_modal_projector.linear_1.bias", {4}, {0, 1, 2, 3});
  ASSERT_TRUE(w.Write(tmp.Join("nolm/model.safetensors")).ok());
  opt.model_path = tmp.Join("nolm");
  opt.out_path = tmp.Join("x.gguf");
  Status s = quant::ExportLlm(opt, nullptr);
  ASSERT_FALSE(s.ok());
  EXPECT_NE(s.message().find("has no language model"), std::string::npos) << s.message();
  EXPECT_NE(s.message().find("embed_tokens"), std::string::npos) << s.message();
  EXPECT_FALSE(std::filesystem::exists(opt.out_path));
  // Unwritable output.
  opt.model_path = kModels + "tiny-f32-hf";
  opt.out_path = tmp.Join("no/such/dir/x.gguf");
  s = quant::ExportLlm(opt, nullptr);
  ASSERT_FALSE(s.ok());
  EXPECT_NE(s.message().find("no/such/dir"), std::string::npos) << s.message();
  // A folder that is not a model at all.
  opt.model_path = tmp.Join("missing");
  opt.out_path = tmp.Join("y.gguf");
  s = quant::ExportLlm(opt, nullptr);
  ASSERT_FALSE(s.ok());
  EXPECT_NE(s.message().find("missing"), std::string::npos) << s.message();
  // A model without tokenizer files: llama.cpp needs one.
  opt.model_path = std::string(FASTVLM_SOURCE_DIR) + "/tests/fixtures/qwen2/models/tied-f32";
  s = quant::ExportLlm(opt, nullptr);
  ASSERT_FALSE(s.ok());
  EXPECT_NE(s.message().find("tokenizer"), std::string::npos) << s.message();
}

TEST(LlamaCppNames, RoundTrip) {
  for (const std::string hf :
       {"embed_tokens.weight", "norm.weight", "lm_head.weight", "layers.0.input_layernorm.weight",
        "layers.11.self_attn.q_proj.bias", "layers.3.self_attn.o_proj.weight",
        "layers.2.post_attention_layernorm.weight", "layers.7.mlp.down_proj.weight"}) {
    const std::string g = io::HfToLlamaCppName(hf);
    ASSERT_FALSE(g.empty()) << hf;
    EXPECT_EQ(io::LlamaCppToHfName(g), hf);
  }
  EXPECT_EQ(io::HfToLlamaCppName("layers.0.self_attn.q_proj.weight"), "blk.0.attn_q.weight");
  EXPECT_EQ(io::HfToLlamaCppName("layers.1.mlp.gate_proj.weight"), "blk.1.ffn_gate.weight");
  EXPECT_EQ(io::HfToLlamaCppName("layers.x.mlp.gate_proj.weight"), "");
  EXPECT_EQ(io::LlamaCppToHfName("blk.0.ffn_gate_exps.weight"), "");
}

}  // namespace
}  // namespace fastvlm
