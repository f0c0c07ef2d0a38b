// `fastvlm quantize` output used as --model: the whole FastVLM (vision tower, projector, Qwen2,
// config, tokenizer, preprocessing size) from one GGUF file.
//  - f32 GGUF: logits bit-identical to the Hugging Face folder it came from (same f32 weights),
//    with the vision weights read pre-packed from the file.
//  - q8_0 GGUF: top-1 agreement with the unquantized logits and the KL divergence, on the fixture
//    prompt + answer (teacher-forced). The tiny random fixtures have near-ties at some positions
//    (even the f32 GGUF of the bf16 model, which differs only by activation rounding, flips 2 of
//    75), so raw agreement is reported, not gated at the 99% (that needs a
//    well-conditioned model: the trained demo model). Gated as a regression guard only: top-1
//    >= 90% and mean KL < 0.05 (measured with int8 activations in prefill on AVX-512 VNNI:
//    95.0% / 0.0071 and 93.3% / 0.021; with bf16 activations: 96.2% / 0.0059, 94.7% / 0.015).
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <fstream>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "base/thread_pool.h"
#include "io/config.h"
#include "io/gguf.h"
#include "io/safetensors.h"
#include "llm/lm_head_sketch.h"
#include "quant/convert.h"
#include "quant/export_llm.h"
#include "kernels/ops.h"
#include "runtime/engine.h"
#include "util/safetensors_writer.h"
#include "vision/vision.h"

namespace fastvlm {
namespace {

const std::string kDir = std::string(FASTVLM_SOURCE_DIR) + "/tests/fixtures/fastvlm/";

nlohmann::json ReadJson(const std::string& path) {
  std::ifstream f(path);
  return nlohmann::json::parse(f);
}

std::vector<float> PromptLogits(const std::string& model, const nlohmann::json& g) {
  EngineOptions eo;
  eo.model_path = model;
  eo.threads = 2;
  eo.max_context = 256;
  auto e = Engine::Load(eo);
  EXPECT_TRUE(e.ok()) << e.status().message();
  if (!e.ok()) return {};
  EXPECT_EQ((*e)->image_size(), g["image_size"].get<int>());
  EXPECT_TRUE((*e)->EncodeImageFile(kDir + g["image"].get<std::string>(), {}, nullptr).ok());
  // The prompt plus the 32 reference answer tokens, teacher-forced: 80 positions.
  std::vector<int32_t> ids = g["prompt_ids_apple"].get<std::vector<int32_t>>();
  for (int32_t t : g["greedy_tokens"].get<std::vector<int32_t>>()) ids.push_back(t);
  std::vector<float> logits;
  Status s = (*e)->EvaluatePrompt(ids, &logits);
  EXPECT_TRUE(s.ok()) << s.message();
  return logits;
}

TEST(GgufModel, F32FileEqualsFolderAndQ8_0KeepsTop1) {
  fastvlm::testing::TempDir tmp;
  for (const std::string name : {"tiny-f32", "tiny-bf16"}) {
    const nlohmann::json g = ReadJson(kDir + "golden/" + name + ".json");
    const std::string folder = kDir + g["models"]["apple"].get<std::string>();
    const std::vector<float> ref = PromptLogits(folder, g);
    ASSERT_FALSE(ref.empty());
    const size_t V = g["tensors"]["prompt_logits"]["shape"][1];
    for (const std::string type : {"f32", "q8_0"}) {
      quant::ConvertOptions opt;
      opt.model_dir = folder;
      opt.out_path = tmp.path() + "/" + name + "-" + type + ".gguf";
      ASSERT_TRUE(quant::ParseWType(type, &opt.type));
      quant::ConvertStats st;
      Status s = quant::ConvertToGguf(opt, &st);
      ASSERT_TRUE(s.ok()) << s.message();
      {
        // The vision 1×1-conv / linear weights are stored pre-packed (so the exact-logits check
        // below covers the packed path): one fastvlm.packed.<name> shape per such tensor.
        auto gf = io::GgufFile::Open(opt.out_path);
        ASSERT_TRUE(gf.ok()) << gf.status().message();
        int packed = 0;
        for (const auto& [key, value] : (*gf)->metadata()) packed += key.rfind("fastvlm.packed.", 0) == 0;
        EXPECT_GE(packed, 10) << opt.out_path;
        EXPECT_TRUE((*gf)->Find("fastvlm.packed_panel") != nullptr);
      }
      const std::vector<float> got = PromptLogits(opt.out_path, g);
      ASSERT_EQ(got.size(), ref.size());
      if (type == "f32" && name == "tiny-f32") {
        EXPECT_EQ(got, ref) << "f32 GGUF must reproduce the folder's logits exactly";
        continue;
      }
      // Per position: top-1 agreement and KL(ref || got) of the softmax distributions.
      const size_t P = ref.size() / V;
      int agree = 0;
      double kl_sum = 0, kl_max = 0;
      for (size_t p = 0; p < P; ++p) {
        const float* a = ref.data() + p * V;
        const float* b = got.data() + p * V;
        size_t ia = 0, ib = 0;
        double ma = a[0], mb = b[0];
        for (size_t v = 0; v < V; ++v) {
          if (a[v] > a[ia]) ia = v;
          if (b[v] > b[ib]) ib = v;
          ma = std::max<double>(ma, a[v]);
          mb = std::max<double>(mb, b[v]);
        }
        agree += ia == ib;
        double za = 0, zb = 0;
        for (size_t v = 0; v < V; ++v) {
          za += std::exp(a[v] - ma);
          zb += std::exp(b[v] - mb);
        }
        double kl = 0;
        for (size_t v = 0; v < V; ++v) {
          const double pa = std::exp(a[v] - ma) / za;
          const double lpb = b[v] - mb - std::log(zb);
          kl += pa * (std::log(pa + 1e-300) - lpb);
        }
        kl_sum += kl;
        kl_max = std::max(kl_max, kl);
      }
      const double top1 = static_cast<double>(agree) / P;
      std::printf("  %s %s: %zu positions, top-1 agreement %.1f%%, KL mean %.3g max %.3g, "
                  "%.2f MB\n",
                  name.c_str(), type.c_str(), P, 100 * top1, kl_sum / P, kl_max,
                  st.output_bytes / 1e6);
      EXPECT_GE(top1, 0.90) << name << " " << type;
      EXPECT_LT(kl_sum / P, 0.05) << name << " " << type;
    }
  }
}

// `fastvlm quantize --model FILE.gguf`: converting a bf16 GGUF further gives the same file
// contents as converting the bf16 folder directly (every tensor: name, type, shape, bytes; the
// packed vision weights copied as they are, with their metadata), and the refusals.
TEST(GgufModel, QuantizingAGgufEqualsQuantizingTheFolder) {
  fastvlm::testing::TempDir tmp;
  const std::string folder = kDir + "models/tiny-bf16-hf";
  auto convert = [&](const std::string& from, const std::string& to, kernels::WType type,
                     std::vector<std::pair<std::string, kernels::WType>> overrides = {}) {
    quant::ConvertOptions opt;
    opt.model_dir = from;
    opt.out_path = tmp.path() + "/" + to;
    opt.type = type;
    opt.overrides = std::move(overrides);
    return quant::ConvertToGguf(opt, nullptr);
  };
  using kernels::WType;
  ASSERT_TRUE(convert(folder, "bf16.gguf", WType::kBF16).ok());
  for (WType t : {WType::kQ8_0, WType::kQ4_0, WType::kF32}) {
    const std::string name = kernels::WTypeName(t);
    Status a = convert(folder, "direct-" + name + ".gguf", t);
    Status b = convert(tmp.path() + "/bf16.gguf", "via-" + name + ".gguf", t);
    ASSERT_TRUE(a.ok()) << a.message();
    ASSERT_TRUE(b.ok()) << b.message();
    auto fa = io::GgufFile::Open(tmp.path() + "/direct-" + name + ".gguf");
    auto fb = io::GgufFile::Open(tmp.path() + "/via-" + name + ".gguf");
    ASSERT_TRUE(fa.ok() && fb.ok());
    const auto& ta = (*fa)->tensors();
    const auto& tb = (*fb)->tensors();
    ASSERT_EQ(ta.size(), tb.size()) << name;
    int packed = 0;
    for (size_t i = 0; i < ta.size(); ++i) {
      SCOPED_TRACE(name + " " + ta[i].name);
      EXPECT_EQ(ta[i].name, tb[i].name);
      EXPECT_EQ(ta[i].type, tb[i].type);
      EXPECT_EQ(ta[i].shape, tb[i].shape);
      ASSERT_EQ(ta[i].nbytes, tb[i].nbytes);
      EXPECT_EQ(std::memcmp(ta[i].data, tb[i].data, ta[i].nbytes), 0);
      const std::string key = "fastvlm.packed." + ta[i].name;
      ASSERT_EQ((*fa)->Find(key) != nullptr, (*fb)->Find(key) != nullptr);
      if ((*fa)->Find(key)) {
        ++packed;
        EXPECT_EQ((*fa)->GetI64Array(key).value(), (*fb)->GetI64Array(key).value());
      }
    }
    EXPECT_GE(packed, 10) << name;
    for (const char* key : {"fastvlm.config_json", "fastvlm.file.tokenizer.json"}) {
      auto va = (*fa)->GetString(key), vb = (*fb)->GetString(key);
      ASSERT_TRUE(va.ok() && vb.ok()) << key;
      EXPECT_EQ(*va, *vb) << key;
    }
  }
  // A q8_0 tensor is not re-quantized to q4_0; the message names the --tensor-type that keeps it.
  Status s = convert(tmp.path() + "/direct-q8_0.gguf", "bad.gguf", WType::kQ4_0);
  ASSERT_FALSE(s.ok());
  EXPECT_NE(s.message().find("stored as q8_0; re-quantizing it to q4_0"), std::string::npos)
      << s.message();
  EXPECT_NE(s.message().find("--tensor-type '"), std::string::npos) << s.message();
  // ... and may be widened back to a float type (dequantized exactly as ggml does).
  s = convert(tmp.path() + "/direct-q8_0.gguf", "widened.gguf", WType::kF32);
  EXPECT_TRUE(s.ok()) << s.message();
  // Packed vision weights are copied, never converted.
  quant::ConvertOptions opt;
  opt.model_dir = tmp.path() + "/bf16.gguf";
  opt.out_path = tmp.path() + "/bad.gguf";
  opt.vision_type_set = true;
  opt.vision_type = WType::kF32;
  s = quant::ConvertToGguf(opt, nullptr);
  ASSERT_FALSE(s.ok());
  EXPECT_NE(s.message().find("stored packed for the vision kernels"), std::string::npos)
      << s.message();
}

// `--vision-type q8_0`: the vision tower's 1×1-conv / linear weights with a multiple of 32 inputs
// become Q8_0 matrices [out, in] (dequantized to bf16 panels at load), everything else in the
// tower keeps its float type. Checked on the f32 fixture (language model kept f32, so the error is
// the vision tower's alone) against transformers' projector output for the stored pixels.
// Error model: Q8_0 rounds each weight to a step of max|w|/127 over its 32-block (relative MSE
// about step²/12 / E[w²] ≈ 3e-5 for Gaussian-like weights) and the bf16 panel adds 2^-18/3; the
// errors of the ~20 layers add up, so the gate is NMSE ≤ 4e-4 (measured 4.0e-5 with AVX-512 BF16; the
// bf16-weights gate of vision_golden_test is 1e-4).
TEST(GgufModel, VisionQ8_0WeightsStayCloseToTransformers) {
  fastvlm::testing::TempDir tmp;
  const nlohmann::json g = ReadJson(kDir + "golden/tiny-f32.json");
  const std::string folder = kDir + g["models"]["hf"].get<std::string>();
  quant::ConvertOptions opt;
  opt.model_dir = folder;
  opt.out_path = tmp.path() + "/vq8.gguf";
  opt.type = kernels::WType::kF32;
  opt.vision_type_set = true;
  opt.vision_type = kernels::WType::kQ8_0;
  quant::ConvertStats st;
  Status s = quant::ConvertToGguf(opt, &st);
  ASSERT_TRUE(s.ok()) << s.message();
  EXPECT_GT(st.vision_kept_float, 0);
  int q8_vision = 0, q8_other = 0;
  {
    auto gf = io::GgufFile::Open(opt.out_path);
    ASSERT_TRUE(gf.ok()) << gf.status().message();
    for (const auto& t : (*gf)->tensors()) {
      if (t.type != io::GgmlType::kQ8_0 || t.name == llm::kSketchBlocksTensor) continue;
      const bool vision = t.name.find("vision_tower") != std::string::npos ||
                          t.name.find("mm_projector") != std::string::npos ||
                          t.name.find("multi_modal_projector") != std::string::npos;
      (vision ? q8_vision : q8_other) += 1;
      EXPECT_EQ(t.shape.size(), 2u) << t.name;
    }
  }
  EXPECT_GE(q8_vision, 10);
  EXPECT_EQ(q8_other, 0) << "--type f32 leaves the language model unquantized";
  EXPECT_TRUE(st.lm_head_sketch) << "an f32 lm_head gets its greedy-decoding sketch";

  // The projector output for the golden pixels, against transformers' (f32 weights, f32 run).
  std::ifstream d(kDir + "golden/" + g["data"].get<std::string>(), std::ios::binary);
  d.seekg(0, std::ios::end);
  std::vector<float> data(static_cast<size_t>(d.tellg()) / 4);
  d.seekg(0);
  d.read(reinterpret_cast<char*>(data.data()), static_cast<std::streamsize>(data.size() * 4));
  auto ck = io::Checkpoint::Open(opt.out_path);
  ASSERT_TRUE(ck.ok()) << ck.status().message();
  auto cfg = io::ParseModelConfig((*ck)->config_json(), opt.out_path);
  ASSERT_TRUE(cfg.ok()) << cfg.status().message();
  auto vm = vision::VisionModel::Load(**ck, *cfg, g["image_size"].get<int>());
  ASSERT_TRUE(vm.ok()) << vm.status().message();
  std::vector<float> out((*vm)->num_tokens() * static_cast<size_t>((*vm)->embed_dim()));
  ThreadPool pool(2);
  const float* pixels = data.data() + g["tensors"]["pixels"]["offset"].get<size_t>();
  ASSERT_TRUE((*vm)->Encode(pixels, out.data(), pool, nullptr, nullptr).ok());
  const auto& t = g["tensors"]["projector"];
  const float* ref = data.data() + t["offset"].get<size_t>();
  double se = 0, ss = 0;
  for (size_t i = 0; i < out.size(); ++i) {
    se += (double{out[i]} - ref[i]) * (double{out[i]} - ref[i]);
    ss += double{ref[i]} * ref[i];
  }
  const double nmse = se / ss;
  std::printf("  vision q8_0: %d Q8_0 tensors, %d kept float, projector NMSE %.3g, %.2f MB\n",
              q8_vision, st.vision_kept_float, nmse, st.output_bytes / 1e6);
  EXPECT_LE(nmse, 4e-4);
  EXPECT_GT(nmse, 0.0) << "the weights were quantized, so the output cannot be exact";

  // A block-typed vision target from a GGUF whose vision weights are packed: a clear refusal.
  quant::ConvertOptions plain;
  plain.model_dir = folder;
  plain.out_path = tmp.path() + "/f32.gguf";
  plain.type = kernels::WType::kF32;
  ASSERT_TRUE(quant::ConvertToGguf(plain, nullptr).ok());
  quant::ConvertOptions again = opt;
  again.model_dir = plain.out_path;
  again.out_path = tmp.path() + "/bad.gguf";
  s = quant::ConvertToGguf(again, nullptr);
  ASSERT_FALSE(s.ok());
  EXPECT_NE(s.message().find("stored packed for the vision kernels"), std::string::npos)
      << s.message();
}

// `fastvlm quantize` stores the lm_head sketch beside a float lm_head (none for a quantized
// one); loading adopts it after its spot check, and greedy answers equal --full-logits ones. A
// stored sketch that does not match the lm_head (a checked row's norm halved, which would make
// the bound too small) is not adopted: the engine builds its own.
TEST(GgufModel, StoredLmHeadSketchIsCheckedAndUsed) {
  fastvlm::testing::TempDir tmp;
  const nlohmann::json g = ReadJson(kDir + "golden/tiny-f32.json");
  const std::string folder = kDir + g["models"]["hf"].get<std::string>();
  auto convert = [&](kernels::WType t, const std::string& out, bool sketch = true) {
    quant::ConvertOptions opt;
    opt.model_dir = folder;
    opt.out_path = tmp.path() + "/" + out;
    opt.type = t;
    opt.lm_head_sketch = sketch;
    quant::ConvertStats st;
    EXPECT_TRUE(quant::ConvertToGguf(opt, &st).ok());
    return st.lm_head_sketch;
  };
  EXPECT_TRUE(convert(kernels::WType::kBF16, "bf16.gguf"));
  EXPECT_FALSE(convert(kernels::WType::kBF16, "bf16-nosketch.gguf", false));
  EXPECT_FALSE(convert(kernels::WType::kQ8_0, "q8.gguf"));
  auto answer = [&](const std::string& file, bool sketch, bool expect_stored) {
    EngineOptions eo;
    eo.model_path = tmp.path() + "/" + file;
    eo.threads = 2;
    eo.max_context = 256;
    eo.lm_head_sketch = sketch;
    auto e = Engine::Load(eo);
    EXPECT_TRUE(e.ok()) << e.status().message();
    if (!e.ok()) return std::vector<int32_t>{};
    EXPECT_EQ((*e)->sketch_stored(), expect_stored) << file;
    EXPECT_EQ((*e)->model().lm_head_sketch() != nullptr, sketch && file != "q8.gguf") << file;
    EXPECT_TRUE((*e)->EncodeImageFile(kDir + g["image"].get<std::string>(), {}, nullptr).ok());
    GenerationOptions go;
    go.max_tokens = 24;
    go.ignore_eos = true;
    std::vector<int32_t> ids;
    GenerationStats st;
    EXPECT_TRUE((*e)->Generate(g["prompt_ids_apple"].get<std::vector<int32_t>>(), go,
                               [&](const std::string&, int32_t id) {
                                 if (id >= 0) ids.push_back(id);
                                 return true;
                               },
                               &st).ok());
    if (sketch && file != "q8.gguf") {
      EXPECT_EQ(st.sketch_steps, 23) << file;
    }
    return ids;
  };
  const std::vector<int32_t> full = answer("bf16.gguf", false, false);
  ASSERT_FALSE(full.empty());
  EXPECT_EQ(answer("bf16.gguf", true, true), full);
  EXPECT_EQ(answer("bf16-nosketch.gguf", true, false), full);  // built at load instead
  answer("q8.gguf", true, false);
  // Tamper with the stored norms of row 0 (always spot-checked): not adopted, built instead.
  {
    auto gf = io::GgufFile::Open(tmp.path() + "/bf16.gguf");
    ASSERT_TRUE(gf.ok());
    uint64_t at = 0;
    for (const auto& t : (*gf)->tensors())
      if (t.name == llm::kSketchNormsTensor) at = (*gf)->data_offset() + t.offset;
    ASSERT_NE(at, 0u);
    gf->reset();
    std::fstream f(tmp.path() + "/bf16.gguf", std::ios::in | std::ios::out | std::ios::binary);
    f.seekg(static_cast<std::streamoff>(at));
    float v;
    f.read(reinterpret_cast<char*>(&v), 4);
    v *= 0.5f;  // a bound that is too small would be wrong
    f.seekp(static_cast<std::streamoff>(at));
    f.write(reinterpret_cast<const char*>(&v), 4);
  }
  EXPECT_EQ(answer("bf16.gguf", true, false), full);
}

// `fastvlm quantize` stores the Q8_0 / Q4_0 language-model matrices that fit (here gate/up and
// the lm_head: the tiny fixtures' d = 32 leaves q/k/v/o/down in the standard layout) as decode
// panels. A file with them and one without (whose fitting matrices are rearranged at load where
// the CPU runs panels) give the same logits bit for bit, with panels on and off; export-llm
// writes the same llama.cpp file from both; a panel flag this build cannot read is refused.
TEST(GgufModel, DecodePanelsStoredOrBuiltGiveTheSameLogits) {
  fastvlm::testing::TempDir tmp;
  for (const std::string name : {"tiny-bf16", "tiny-f32"}) {  // tied and untied lm_head
    const nlohmann::json g = ReadJson(kDir + "golden/" + name + ".json");
    const std::string folder = kDir + g["models"]["hf"].get<std::string>();
    for (kernels::WType t : {kernels::WType::kQ8_0, kernels::WType::kQ4_0}) {
      std::string files[2];
      for (int panels = 0; panels < 2; ++panels) {
        quant::ConvertOptions opt;
        opt.model_dir = folder;
        opt.type = t;
        opt.decode_panels = panels;
        opt.out_path = files[panels] = tmp.path() + "/" + name + kernels::WTypeName(t) +
                                       (panels ? "-panels.gguf" : ".gguf");
        Status s = quant::ConvertToGguf(opt, nullptr);
        ASSERT_TRUE(s.ok()) << s.message();
        auto gf = io::GgufFile::Open(opt.out_path);
        ASSERT_TRUE(gf.ok());
        int flagged = 0;
        for (const auto& [key, value] : (*gf)->metadata())
          flagged += key.rfind("fastvlm.decode_panels.", 0) == 0;
        // gate + up of 2 layers, and the lm_head (tied: the embeddings' tensor).
        EXPECT_EQ(flagged, panels ? 5 : 0) << opt.out_path;
      }
      for (bool on : {true, false}) {
        kernels::SetDecodePanels(on);
        const std::vector<float> a = PromptLogits(files[0], g), b = PromptLogits(files[1], g);
        kernels::SetDecodePanels(true);
        ASSERT_FALSE(a.empty());
        EXPECT_EQ(a, b) << name << " " << kernels::WTypeName(t) << (on ? "" : ", panels off");
      }
      std::string exported[2];
      for (int i = 0; i < 2; ++i) {
        quant::ExportLlmOptions eo;
        eo.model_path = files[i];
        eo.out_path = files[i] + ".llm.gguf";
        Status s = quant::ExportLlm(eo, nullptr);
        ASSERT_TRUE(s.ok()) << s.message();
        std::ifstream in(eo.out_path, std::ios::binary);
        exported[i].assign(std::istreambuf_iterator<char>(in), {});
      }
      EXPECT_FALSE(exported[0].empty());
      EXPECT_TRUE(exported[0] == exported[1]) << "export-llm of the panel file differs";
      if (t == kernels::WType::kQ4_0 && name == "tiny-bf16") {
        // A group size this build does not write: refused, naming the tensor and the fix.
        std::string key;
        {
          auto gf = io::GgufFile::Open(files[1]);
          ASSERT_TRUE(gf.ok());
          for (const auto& [k, v] : (*gf)->metadata())
            if (key.empty() && k.rfind("fastvlm.decode_panels.", 0) == 0) key = k;
        }
        std::fstream f(files[1], std::ios::in | std::ios::out | std::ios::binary);
        std::string bytes((std::istreambuf_iterator<char>(f)), {});
        const size_t at = bytes.find(key);
        ASSERT_NE(at, std::string::npos);
        const size_t end = at + key.size();  // the key, then its u32 type (4), then the value
        uint32_t type;
        std::memcpy(&type, bytes.data() + end, 4);
        ASSERT_EQ(type, 4u);
        const uint32_t bad = 32;
        f.seekp(static_cast<std::streamoff>(end + 4));
        f.write(reinterpret_cast<const char*>(&bad), 4);
        f.close();
        EngineOptions eo;
        eo.model_path = files[1];
        auto e = Engine::Load(eo);
        ASSERT_FALSE(e.ok());
        EXPECT_NE(e.status().message().find("decode panels of 32 rows"), std::string::npos)
            << e.status().message();
        EXPECT_NE(e.status().message().find("fastvlm quantize"), std::string::npos);
      }
    }
  }
}

TEST(GgufModel, ForeignOrBrokenGgufIsAClearError) {
  fastvlm::testing::TempDir tmp;
  // A GGUF with neither our metadata nor a usable llama.cpp qwen2 model is refused with a hint:
  // another architecture ("llama"), and a "qwen2" file without its tensors.
  struct Case {
    const char* arch;
    const char* expect;
  };
  for (const Case& c : {Case{"llama", "not written by `fastvlm quantize`"},
                        Case{"qwen2", "without a 2-D token_embd.weight"}}) {
    const std::string foreign = tmp.path() + "/foreign-" + c.arch + ".gguf";
    {
      std::ofstream f(foreign, std::ios::binary);
      const char hdr[] = {'G', 'G', 'U', 'F', 3, 0, 0, 0};
      f.write(hdr, sizeof hdr);
      const uint64_t zero = 0, one = 1;
      f.write(reinterpret_cast<const char*>(&zero), 8);  // tensors
      f.write(reinterpret_cast<const char*>(&one), 8);   // kvs
      const std::string key = "general.architecture", val = c.arch;
      const uint64_t kl = key.size(), vl = val.size();
      const uint32_t type = 8;
      f.write(reinterpret_cast<const char*>(&kl), 8);
      f.write(key.data(), key.size());
      f.write(reinterpret_cast<const char*>(&type), 4);
      f.write(reinterpret_cast<const char*>(&vl), 8);
      f.write(val.data(), val.size());
    }
    EngineOptions eo;
    eo.model_path = foreign;
    auto e = Engine::Load(eo);
    ASSERT_FALSE(e.ok()) << c.arch;
    EXPECT_NE(e.status().message().find(c.expect), std::string::npos) << e.status().message();
    EXPECT_NE(e.status().message().find("fastvlm quantize"), std::string::npos)
        << e.status().message();
  }
  EngineOptions eo;
  // A truncated GGUF of ours.
  quant::ConvertOptions opt;
  opt.model_dir = kDir + "models/tiny-bf16-hf";
  opt.out_path = tmp.path() + "/ok.gguf";
  opt.type = kernels::WType::kQ8_0;
  ASSERT_TRUE(quant::ConvertToGguf(opt, nullptr).ok());
  std::ifstream in(opt.out_path, std::ios::binary);
  std::string bytes((std::istreambuf_iterator<char>(in)), {});
  const std::string cut = tmp.path() + "/cut.gguf";
  std::ofstream(cut, std::ios::binary).write(bytes.data(), bytes.size() / 2);
  eo.model_path = cut;
  auto e = Engine::Load(eo);
  ASSERT_FALSE(e.ok());
  EXPECT_NE(e.status().message().find("cut.gguf"), std::string::npos) << e.status().message();
}

}  // namespace
}  // namespace fastvlm
