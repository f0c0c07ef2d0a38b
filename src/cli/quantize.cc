// fastvlm quantize --model DIR|FILE.gguf --out FILE.gguf --type TYPE: writes the whole model (language
// model, vision tower, projector, config, tokenizer, preprocessing settings) as one GGUF file.
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <cstdio>
#include <string>
#include <vector>

#include "base/timer.h"
#include "cli/commands.h"
#include "cli/options.h"
#include "llm/lm_head_sketch.h"
#include "quant/convert.h"

namespace fastvlm::cli {

Command RegisterQuantize(CLI::App& app) {
  struct Args {
    std::string model, out, type, vision_type;
    std::vector<std::string> tensor_types;
    bool no_sketch = false, no_panels = false;
  };
  auto a = std::make_shared<Args>();
  app.add_option("-m,--model", a->model, "Model to convert: a Hugging Face folder, or a fastvlm GGUF (e.g. to "
                 "quantize a bf16 file further; quantized tensors are kept as they are)")->required();
  app.add_option("-o,--out", a->out, "Output GGUF file")->required();
  app.add_option("--type", a->type,
                 "Type of the language model's matrices: f32, bf16, f16, q8_0, q4_0, q4_1 "
                 "(q4_1: 4-bit with a scale and a minimum per 32 values)")
      ->required();
  app.add_option("--vision-type", a->vision_type,
                 "Type of the vision tower and projector weights: f32, bf16 (default: as stored) "
                 "or q8_0 (the 1x1-conv and linear weights as int8 blocks, dequantized to bf16 "
                 "at load: a smaller file, the same encode speed, a slower load)");
  app.add_option("--tensor-type", a->tensor_types,
                 "PATTERN=TYPE: tensors whose name matches the regular expression PATTERN get "
                 "TYPE (repeatable; the first match wins), e.g. 'lm_head|embed_tokens=q8_0'");
  app.add_flag("--no-lm-head-sketch", a->no_sketch,
               "Do not store the greedy-decoding sketch of an f32/bf16/f16 lm_head (a Q8_0 copy, "
               "~0.53 bytes per lm_head weight, 146 MB at 0.5B); loading then builds it "
               "(~0.13 s at 0.5B) unless run with --full-logits");
  app.add_flag("--no-panels", a->no_panels,
               "Store q8_0 / q4_0 language-model matrices in the standard block layout instead "
               "of the int8 decode panels our decode kernel reads (loading then rearranges them "
               "on AVX-512 VNNI CPUs, ~0.1-0.3 s at 0.5B); `fastvlm export-llm` writes the "
               "standard layout for llama.cpp either way");
  return [a]() -> int {
    if (!ResolveModelArg(a->model)) return 1;  // ORG/NAME -> Hugging Face cache
    quant::ConvertOptions opt;
    opt.model_dir = a->model;
    opt.out_path = a->out;
    opt.lm_head_sketch = !a->no_sketch;
    opt.decode_panels = !a->no_panels;
    if (!quant::ParseWType(a->type, &opt.type))
      return Fail("--type " + a->type + ": expected f32, bf16, f16, q8_0, q4_0 or q4_1");
    if (!a->vision_type.empty()) {
      if (!quant::ParseWType(a->vision_type, &opt.vision_type))
        return Fail("--vision-type " + a->vision_type + ": expected f32, bf16 or q8_0");
      opt.vision_type_set = true;
    }
    for (const std::string& tt : a->tensor_types) {
      const size_t eq = tt.rfind('=');
      kernels::WType t;
      if (eq == std::string::npos || eq == 0 || !quant::ParseWType(tt.substr(eq + 1), &t))
        return Fail("--tensor-type '" + tt + "': expected PATTERN=TYPE with TYPE one of f32, "
                    "bf16, f16, q8_0, q4_0, q4_1");
      opt.overrides.emplace_back(tt.substr(0, eq), t);
    }
    const double t0 = NowSeconds();
    Progress progress(0, isatty(2));
    quant::ConvertStats st;
    Status s = quant::ConvertToGguf(opt, &st, [&](int done, int total, const std::string& name) {
      progress.Reset(total);
      progress.Show(done, name);
    });
    progress.Clear();
    if (!s.ok()) return Fail(s.message());
    std::string types;
    for (const auto& [k, v] : st.type_counts) types += " " + k + " x" + std::to_string(v);
    std::fprintf(stderr,
                 "wrote %s: %d tensors (%s), %.1f MB (source %.1f MB), %d unused tensors "
                 "dropped, %.1f s\n",
                 a->out.c_str(), st.tensors, types.c_str() + (types.empty() ? 0 : 1),
                 st.output_bytes / 1e6, st.source_bytes / 1e6, st.dropped, NowSeconds() - t0);
    if (st.lm_head_sketch) {
      std::fprintf(stderr, "stored the lm_head's greedy-decoding sketch (%s, %s); "
                           "--no-lm-head-sketch leaves it out\n",
                   llm::kSketchBlocksTensor, llm::kSketchNormsTensor);
    }
    if (st.vision_kept_float > 0) {
      std::fprintf(stderr,
                   "--vision-type %s: %d vision weights (depthwise and stem kernels, and 1x1 convs "
                   "whose input width is not a multiple of 32) keep their float type\n",
                   a->vision_type.c_str(), st.vision_kept_float);
    }
    return 0;
  };
}

}  // namespace fastvlm::cli
