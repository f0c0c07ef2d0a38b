// The `fastvlm` command.
#include <CLI/CLI.hpp>
#include <cstdio>
#include <map>

#include "cli/commands.h"
#include "fastvlm_version.h"
#include "kernels/ops.h"

namespace fastvlm::cli {
int Fail(const std::string& msg) {
  std::fprintf(stderr, "fastvlm: error: %s\n", msg.c_str());
  return 1;
}
}  // namespace fastvlm::cli

int main(int argc, char** argv) {
  CLI::App app{"fastvlm: a native CPU engine for Apple's FastVLM vision-language models.\n"
               "Environment: FASTVLM_SIMD=ref|SSE4|AVX2|AVX3|AVX3_DL|NEON forces a SIMD target."};
  app.require_subcommand(1);
  bool version = false;
  app.add_flag("--version", version, "Print version, commit and SIMD targets");
  std::map<CLI::App*, fastvlm::cli::Command> commands;
  commands[app.add_subcommand("generate", "Generate text from a prompt (language model only)")] =
      nullptr;
  commands[app.add_subcommand("tokenize", "Print the token ids of a text, or decode ids")] = nullptr;
  commands[app.add_subcommand("run", "Answer a question about an image (or caption a batch)")] =
      nullptr;
  commands[app.add_subcommand("chat", "Interactive multi-turn chat about an image")] = nullptr;
  commands[app.add_subcommand("quantize", "Convert a model (folder or GGUF) to one GGUF file (f32 ... q4_0)")] =
      nullptr;
  commands[app.add_subcommand("export-llm", "Write the language model as a llama.cpp qwen2 GGUF file")] =
      nullptr;
  commands[app.add_subcommand("eval", "Accuracy of a candidate model (e.g. q8_0) against a reference: KL, top-1, perplexity")] =
      nullptr;
  commands[app.add_subcommand("eval-tasks", "Task accuracy (colour, shape, count, text, describe) on fresh synthetic images")] =
      nullptr;
  commands[app.add_subcommand("bench", "Benchmark load, vision, prefill and decode on the study's tasks")] =
      nullptr;
  commands[app.add_subcommand("synth", "Write deterministic synthetic test images with ground truth")] =
      nullptr;
  commands[app.add_subcommand("report", "Render benchmark results as HTML + Markdown with charts")] =
      nullptr;
  commands[app.add_subcommand("pull", "Download a model from the Hugging Face Hub into the shared cache")] =
      nullptr;
  for (auto& [sub, cmd] : commands) {
    if (sub->get_name() == "generate") cmd = fastvlm::cli::RegisterGenerate(*sub);
    if (sub->get_name() == "tokenize") cmd = fastvlm::cli::RegisterTokenize(*sub);
    if (sub->get_name() == "run") cmd = fastvlm::cli::RegisterRun(*sub);
    if (sub->get_name() == "chat") cmd = fastvlm::cli::RegisterChat(*sub);
    if (sub->get_name() == "quantize") cmd = fastvlm::cli::RegisterQuantize(*sub);
    if (sub->get_name() == "export-llm") cmd = fastvlm::cli::RegisterExportLlm(*sub);
    if (sub->get_name() == "eval") cmd = fastvlm::cli::RegisterEval(*sub);
    if (sub->get_name() == "eval-tasks") cmd = fastvlm::cli::RegisterEvalTasks(*sub);
    if (sub->get_name() == "synth") cmd = fastvlm::cli::RegisterSynth(*sub);
    if (sub->get_name() == "bench") cmd = fastvlm::cli::RegisterBench(*sub);
    if (sub->get_name() == "report") cmd = fastvlm::cli::RegisterReport(*sub);
    if (sub->get_name() == "pull") cmd = fastvlm::cli::RegisterPull(*sub);
  }
  if (argc == 2 && std::string(argv[1]) == "--version") {
    std::printf("fastvlm %s (commit %s), SIMD target %s\n", FASTVLM_VERSION, FASTVLM_GIT_COMMIT,
                fastvlm::kernels::ActiveTargetName().c_str());
    return 0;
  }
  CLI11_PARSE(app, argc, argv);
  for (auto& [sub, cmd] : commands)
    if (sub->parsed()) return cmd();
  return 1;
}
