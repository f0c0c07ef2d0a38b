// fastvlm generate --model DIR --prompt TEXT: streams the answer of the language model.
#include <CLI/CLI.hpp>
#include <cstdio>
#include <fstream>
#include <sstream>

#include "base/timer.h"
#include "cli/commands.h"
#include "cli/options.h"
#include "runtime/engine.h"

namespace fastvlm::cli {

Command RegisterGenerate(CLI::App& app) {
  struct Args {
    EngineArgs engine;
    SamplingArgs sampling;
    std::string prompt, prompt_file, system;
    bool raw = false;
  };
  auto a = std::make_shared<Args>();
  AddEngineOptions(app, a->engine);
  auto* prompt_opt = app.add_option("-p,--prompt", a->prompt, "Prompt text");
  auto* file_opt = app.add_option("-f,--prompt-file", a->prompt_file,
                                  "Read the prompt from a file (exact bytes, trailing newlines kept)");
  prompt_opt->excludes(file_opt);
  file_opt->excludes(prompt_opt);
  app.add_option("--system", a->system, "System prompt (default: \"You are a helpful assistant.\")");
  app.add_flag("--raw", a->raw, "Plain completion: no chat template");
  AddSamplingOptions(app, a->sampling);

  return [a]() -> int {
    if (!a->prompt_file.empty()) {
      std::ifstream in(a->prompt_file, std::ios::binary);
      if (!in) return Fail("--prompt-file: cannot read '" + a->prompt_file + "'");
      std::ostringstream ss;
      ss << in.rdbuf();
      a->prompt = ss.str();
    } else if (a->prompt.empty()) {
      return Fail("give the prompt with --prompt TEXT or --prompt-file FILE");
    }
    EngineOptions eo;
    eo.load_vision = false;  // text only: do not spend load time on the vision tower
    auto engine = LoadEngine(a->engine, eo);
    if (!engine) return 1;
    Engine& e = *engine;
    const double t_tok = NowSeconds();
    std::vector<int32_t> ids;
    if (a->raw) {
      ids = e.tokenizer().Encode(a->prompt);
    } else {
      std::vector<ChatMessage> msgs;
      if (!a->system.empty()) msgs.push_back({"system", a->system});
      msgs.push_back({"user", a->prompt});
      ids = e.tokenizer().Encode(RenderChatML(msgs, /*add_generation_prompt=*/true));
    }
    const double tokenize_s = NowSeconds() - t_tok;
    if (ids.empty()) return Fail("--prompt: the prompt is empty after tokenization");
    GenerationStats st;
    Status s = e.Generate(ids, ToGenerationOptions(a->sampling),
                          [](const std::string& text, int32_t) {
                            std::fwrite(text.data(), 1, text.size(), stdout);
                            std::fflush(stdout);
                            return true;
                          },
                          &st);
    std::fputc('\n', stdout);
    std::fflush(stdout);  // the answer is complete before the statistics go to stderr
    if (!s.ok()) return Fail(s.message());
    if (a->engine.verbose) {
      PrintModelInfo(e, a->engine.model);
      std::fprintf(stderr, "tokenize:   %.3f ms\n", tokenize_s * 1e3);
      PrintGenerationStats(st, 0);
    }
    return 0;
  };
}

}  // namespace fastvlm::cli
