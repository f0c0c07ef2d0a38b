// fastvlm generate --model DIR --prompt TEXT: streams the answer of the language model.
#include <CLI/CLI.hpp>
#include <cstdio>
#include <fstream>
#include <sstream>

#include "base/timer.h"
#include "cli/commands.h"
#include "kernels/ops.h"
#include "runtime/engine.h"

namespace fastvlm::cli {

Command RegisterGenerate(CLI::App& app) {
  struct Args {
    std::string model, prompt, prompt_file, system;
    bool raw = false, verbose = false, ignore_eos = false, exact = false;
    int max_tokens = 256, threads = 0, ctx = 4096;
    float temperature = 0.0f, top_p = 1.0f, min_p = 0.0f, repeat_penalty = 1.0f;
    int top_k = 0;
    uint64_t seed = 0;
    std::vector<std::string> stops;
  };
  auto a = std::make_shared<Args>();
  app.add_option("-m,--model", a->model, "Hugging Face model folder (config.json, *.safetensors, tokenizer)")
      ->required();
  auto* prompt_opt = app.add_option("-p,--prompt", a->prompt, "Prompt text");
  auto* file_opt = app.add_option("-f,--prompt-file", a->prompt_file,
                                  "Read the prompt from a file (exact bytes, trailing newlines kept)");
  prompt_opt->excludes(file_opt);
  file_opt->excludes(prompt_opt);
  app.add_option("--system", a->system, "System prompt (default: \"You are a helpful assistant.\")");
  app.add_flag("--raw", a->raw, "Plain completion: no chat template");
  app.add_option("-n,--max-tokens", a->max_tokens, "Most tokens to generate")->capture_default_str()
      ->check(CLI::Range(1, 1 << 20));
  app.add_option("--temperature", a->temperature, "Sampling temperature; 0 = greedy")
      ->capture_default_str()->check(CLI::Range(0.0f, 100.0f));
  app.add_option("--top-p", a->top_p, "Nucleus sampling mass")->capture_default_str()
      ->check(CLI::Range(0.0f, 1.0f));
  app.add_option("--top-k", a->top_k, "Keep the k most likely tokens; 0 = off")->capture_default_str()
      ->check(CLI::Range(0, 1 << 20));
  app.add_option("--min-p", a->min_p, "Drop tokens below min-p × the top probability")
      ->capture_default_str()->check(CLI::Range(0.0f, 1.0f));
  app.add_option("--repeat-penalty", a->repeat_penalty, "Repetition penalty (1 = off)")
      ->capture_default_str()->check(CLI::Range(0.01f, 100.0f));
  app.add_option("--seed", a->seed, "Random seed for sampling")->capture_default_str();
  app.add_option("--stop", a->stops, "Stop string (repeatable)");
  app.add_flag("--ignore-eos", a->ignore_eos, "Do not stop at end-of-turn tokens");
  app.add_option("-t,--threads", a->threads, "Threads (0 = all cores)")->capture_default_str()
      ->check(CLI::Range(0, 1024));
  app.add_option("-c,--ctx-size", a->ctx, "Context (KV cache) size in tokens")->capture_default_str()
      ->check(CLI::Range(1, 1 << 20));
  app.add_flag("-v,--verbose", a->verbose, "Print phase timings to stderr");
  app.add_flag("--exact", a->exact,
               "bf16 weights: multiply with f32 activations everywhere (matches an f32 reference "
               "run to f32 rounding; prefill ~2x slower than the default bf16 dot product)");

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
    kernels::SetBF16DotProduct(!a->exact);
    EngineOptions eo;
    eo.model_path = a->model;
    eo.threads = a->threads;
    eo.max_context = a->ctx;
    auto engine = Engine::Load(eo);
    if (!engine.ok()) return Fail(engine.status().message());
    Engine& e = **engine;
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
    GenerationOptions go;
    go.max_tokens = a->max_tokens;
    go.sampling.temperature = a->temperature;
    go.sampling.top_p = a->top_p;
    go.sampling.top_k = a->top_k;
    go.sampling.min_p = a->min_p;
    go.sampling.repetition_penalty = a->repeat_penalty;
    go.sampling.seed = a->seed;
    go.stop_strings = a->stops;
    go.ignore_eos = a->ignore_eos;
    GenerationStats st;
    Status s = e.Generate(ids, go, [](const std::string& text, int32_t) {
      std::fwrite(text.data(), 1, text.size(), stdout);
      std::fflush(stdout);
      return true;
    }, &st);
    std::fputc('\n', stdout);
    std::fflush(stdout);  // the answer is complete before the statistics go to stderr
    if (!s.ok()) return Fail(s.message());
    if (a->verbose) {
      const auto& c = e.config().text;
      std::fprintf(stderr,
                   "model:    %s (%s, %d layers, d=%d, %s weights%s)\n"
                   "threads:  %d, SIMD %s\n"
                   "load:     %.3f s\n"
                   "tokenize: %.3f ms\n"
                   "prefill:  %d tokens in %.3f s (%.1f tokens/s)\n"
                   "ttft:     %.3f s\n"
                   "decode:   %d tokens in %.3f s (%.2f tokens/s)\n"
                   "finish:   %s\n",
                   a->model.c_str(), e.config().model_type.c_str(), c.num_hidden_layers,
                   c.hidden_size, e.model().weights().weight_type.c_str(),
                   e.model().weights().lm_head_tied ? ", tied lm_head" : "", e.pool().size(),
                   kernels::ActiveTargetName().c_str(), e.load_seconds(), tokenize_s * 1e3,
                   st.prompt_tokens, st.prefill_seconds,
                   st.prompt_tokens / std::max(st.prefill_seconds, 1e-9), st.ttft_seconds,
                   std::max(0, st.generated_tokens - 1), st.decode_seconds,
                   std::max(0, st.generated_tokens - 1) / std::max(st.decode_seconds, 1e-9),
                   st.finish_reason.c_str());
    }
    return 0;
  };
}

}  // namespace fastvlm::cli
