// fastvlm export-llm --model X --out FILE.gguf [--type TYPE]: the language model alone as a
// llama.cpp `qwen2` GGUF file (quant/export_llm.h), for running the same weights in llama.cpp.
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <cstdio>
#include <string>

#include "base/timer.h"
#include "cli/commands.h"
#include "cli/options.h"
#include "quant/convert.h"
#include "quant/export_llm.h"

namespace fastvlm::cli {

Command RegisterExportLlm(CLI::App& app) {
  struct Args {
    std::string model, out, type;
  };
  auto a = std::make_shared<Args>();
  app.add_option("-m,--model", a->model,
                 "Hugging Face folder (Qwen2, Apple llava_qwen2 or transformers FastVLM) or a "
                 "fastvlm GGUF file")
      ->required();
  app.add_option("-o,--out", a->out, "Output GGUF file (llama.cpp 'qwen2' architecture)")
      ->required();
  app.add_option("--type", a->type,
                 "Type of the matrices: f32, bf16, f16, q8_0, q4_0, q4_1 (default: as stored; a "
                 "quantized GGUF's tensors can be kept or turned into a float type)");
  return [a]() -> int {
    if (!ResolveModelArg(a->model)) return 1;  // ORG/NAME -> Hugging Face cache
    quant::ExportLlmOptions opt;
    opt.model_path = a->model;
    opt.out_path = a->out;
    if (!a->type.empty()) {
      if (!quant::ParseWType(a->type, &opt.type))
        return Fail("--type " + a->type + ": expected f32, bf16, f16, q8_0, q4_0 or q4_1");
      opt.type_set = true;
    }
    const double t0 = NowSeconds();
    Progress progress(0, isatty(2));
    quant::ExportLlmStats st;
    Status s = quant::ExportLlm(opt, &st, [&](int done, int total, const std::string& name) {
      progress.Reset(total);
      progress.Show(done, name);
    });
    progress.Clear();
    if (!s.ok()) return Fail(s.message());
    std::string types;
    for (const auto& [k, v] : st.type_counts) types += " " + k + " x" + std::to_string(v);
    std::fprintf(stderr,
                 "wrote %s: llama.cpp qwen2, %d tensors (%s), file type %s, %lld parameters, "
                 "%d tokens + %d padding rows, %s lm_head, %.1f MB, %.1f s\n",
                 a->out.c_str(), st.tensors, types.c_str() + (types.empty() ? 0 : 1),
                 st.file_type.c_str(), static_cast<long long>(st.parameters), st.vocab_tokens,
                 st.padding_tokens, st.tied ? "tied" : "separate", st.output_bytes / 1e6,
                 NowSeconds() - t0);
    return 0;
  };
}

}  // namespace fastvlm::cli
