#include "cli/options.h"

#include <algorithm>
#include <cstdio>
#include <filesystem>

#include "base/timer.h"
#include "cli/commands.h"
#include "kernels/ops.h"

namespace fastvlm::cli {

void AddEngineOptions(CLI::App& app, EngineArgs& a) {
  app.add_option("-m,--model", a.model,
                 "Hugging Face model folder (config.json, *.safetensors, tokenizer), or a Hub "
                 "repository ORG/NAME[@REVISION] (e.g. apple/FastVLM-0.5B), fetched into the "
                 "Hugging Face cache on first use (see `fastvlm pull --help`)")
      ->required();
  app.add_option("-t,--threads", a.threads, "Threads (0 = all cores)")->capture_default_str()
      ->check(CLI::Range(0, 1024));
  app.add_option("-c,--ctx-size", a.ctx, "Context (KV cache) size in tokens")->capture_default_str()
      ->check(CLI::Range(1, 1 << 20));
  app.add_flag("-v,--verbose", a.verbose, "Print phase timings to stderr");
  app.add_flag("--exact", a.exact,
               "bf16 weights: multiply with f32 activations everywhere (matches an f32 reference "
               "run to f32 rounding; prefill ~2x slower than the default bf16 dot product)");
  app.add_flag("--full-logits", a.full_logits,
               "Greedy decoding: compute every logit at every step. By default a Q8_0 sketch of "
               "an f32/bf16/f16 lm_head bounds the logits and only rows that could be the argmax "
               "are computed: the same tokens, fewer bytes read per step, +0.5 byte per lm_head "
               "weight of memory");
  app.add_flag("--no-panels", a.no_panels,
               "Q8_0 / Q4_0 weights: run the kernels on the blocks as stored instead of int8 "
               "decode panels (AVX-512 VNNI or ARM64 dot-product CPUs; a GGUF from `fastvlm quantize` stores the "
               "panels, other files are rearranged at load, ~0.1-0.3 s at 0.5B). The panels "
               "decode faster and their logits equal the scalar reference's bit for bit; the "
               "as-stored kernels' differ in f32 rounding");
}

void AddSamplingOptions(CLI::App& app, SamplingArgs& a) {
  app.add_option("-n,--max-tokens", a.max_tokens, "Most tokens to generate")->capture_default_str()
      ->check(CLI::Range(1, 1 << 20));
  app.add_option("--temperature", a.temperature, "Sampling temperature; 0 = greedy")
      ->capture_default_str()->check(CLI::Range(0.0f, 100.0f));
  app.add_option("--top-p", a.top_p, "Nucleus sampling mass")->capture_default_str()
      ->check(CLI::Range(0.0f, 1.0f));
  app.add_option("--top-k", a.top_k, "Keep the k most likely tokens; 0 = off")->capture_default_str()
      ->check(CLI::Range(0, 1 << 20));
  app.add_option("--min-p", a.min_p, "Drop tokens below min-p × the top probability")
      ->capture_default_str()->check(CLI::Range(0.0f, 1.0f));
  app.add_option("--repeat-penalty", a.repeat_penalty, "Repetition penalty (1 = off)")
      ->capture_default_str()->check(CLI::Range(0.01f, 100.0f));
  app.add_option("--seed", a.seed, "Random seed for sampling")->capture_default_str();
  app.add_option("--stop", a.stops, "Stop string (repeatable)");
  app.add_flag("--ignore-eos", a.ignore_eos, "Do not stop at end-of-turn tokens");
}

GenerationOptions ToGenerationOptions(const SamplingArgs& a) {
  GenerationOptions go;
  go.max_tokens = a.max_tokens;
  go.sampling.temperature = a.temperature;
  go.sampling.top_p = a.top_p;
  go.sampling.top_k = a.top_k;
  go.sampling.min_p = a.min_p;
  go.sampling.repetition_penalty = a.repeat_penalty;
  go.sampling.seed = a.seed;
  go.stop_strings = a.stops;
  go.ignore_eos = a.ignore_eos;
  return go;
}

std::unique_ptr<Engine> LoadEngine(const EngineArgs& a, EngineOptions eo) {
  kernels::SetBF16DotProduct(!a.exact);
  eo.model_path = a.model;
  if (!ResolveModelArg(eo.model_path)) return nullptr;  // ORG/NAME -> cached snapshot folder
  eo.threads = a.threads;
  eo.max_context = a.ctx;
  eo.lm_head_sketch = !a.full_logits;
  eo.decode_panels = !a.no_panels;
  kernels::SetDecodePanels(!a.no_panels);
  auto engine = Engine::Load(eo);
  if (!engine.ok()) {
    Fail(engine.status().message());
    return nullptr;
  }
  return std::move(*engine);
}

void PrintModelInfo(const Engine& e, const std::string& model_path) {
  const auto& c = e.config().text;
  const auto& model = e.model();
  std::fprintf(stderr, "model:      %s (%s, %d layers, d=%d, %s weights%s)\n", model_path.c_str(),
               e.config().model_type.c_str(), c.num_hidden_layers, c.hidden_size,
               model.weights().weight_type.c_str(),
               model.weights().lm_head_tied ? ", tied lm_head" : "");
  if (const vision::VisionModel* v = e.vision()) {
    const auto& vi = v->info();
    std::string w;
    for (size_t i = 0; i < vi.widths.size(); ++i)
      w += (i ? "," : "") + std::to_string(vi.widths[i]) + "x" + std::to_string(vi.depths[i]);
    std::fprintf(stderr, "vision:     FastViTHD %s -> %d, %d² input, %d image tokens, %s weights (%s layout)\n",
                 w.c_str(), vi.feature_dim, v->image_size(), v->num_tokens(),
                 vi.weight_type.c_str(), io::LayoutName(vi.layout));
  }
  std::fprintf(stderr, "threads:    %d, SIMD %s\n", e.threads(),
               kernels::ActiveTargetName().c_str());
  const std::string& wt = model.weights().weight_type;
  if (wt != "f32" && wt != "bf16" && wt != "f16") {  // q8_0, q4_0, q4_1, or mixed with them
    std::fprintf(stderr, "int8:       decode %s, prefill %s\n",
                 model.decode_panel_bytes() > 0 ? kernels::DecodePanelsKernelName()
                                                : kernels::QuantGemvKernelName(),
                 kernels::QuantPrefillKernelName());
  }
  if (const int64_t pb = model.decode_panel_bytes(); pb > 0) {
    if (e.panels_bytes() > 0) {
      std::fprintf(stderr, "panels:     %.0f MB of int8 decode panels, built in %.3f s (part of load)\n",
                   pb / 1e6, e.panels_seconds());
    } else {
      std::fprintf(stderr, "panels:     %.0f MB of int8 decode panels, stored in the file\n", pb / 1e6);
    }
  }
  if (const llm::LmHeadSketch* sk = model.lm_head_sketch()) {
    std::fprintf(stderr, "lm_head:    Q8_0 sketch for greedy decoding, %.0f MB, %s in %.3f s (part of load)\n",
                 sk->bytes() / 1e6, e.sketch_stored() ? "stored in the file, checked" : "built",
                 e.sketch_seconds());
  }
  std::fprintf(stderr, "load:       %.3f s\n", e.load_seconds());
}

void PrintImageStats(const ImageStats& st) {
  std::fprintf(stderr,
               "image:      %dx%d -> %d tokens\n"
               "img decode: %.1f ms\n"
               "preprocess: %.1f ms\n"
               "vision:     %.3f s (encoder)\n"
               "projector:  %.2f ms\n",
               st.width, st.height, st.tokens, st.decode * 1e3, st.preprocess * 1e3, st.encoder,
               st.projector * 1e3);
}

void PrintGenerationStats(const GenerationStats& st, double ttft_offset) {
  const int decoded = std::max(0, st.generated_tokens - 1);
  std::fprintf(stderr,
               "prefill:    %d tokens in %.3f s (%.1f tokens/s)\n"
               "ttft:       %.3f s\n"
               "decode:     %d tokens in %.3f s (%.2f tokens/s)\n"
               "finish:     %s\n",
               st.prompt_tokens, st.prefill_seconds,
               st.prompt_tokens / std::max(st.prefill_seconds, 1e-9), st.ttft_seconds + ttft_offset,
               decoded, st.decode_seconds, decoded / std::max(st.decode_seconds, 1e-9),
               st.finish_reason.c_str());
  if (st.sketch_steps > 0) {
    const int64_t used = st.sketch_steps - st.sketch_fallbacks;
    std::fprintf(stderr, "sketch:     %lld of %lld steps, %.1f lm_head rows computed per step (most in one step since load: %lld)\n",
                 static_cast<long long>(used), static_cast<long long>(st.sketch_steps),
                 used ? static_cast<double>(st.sketch_candidates) / used : 0.0,
                 static_cast<long long>(st.sketch_max_candidates));
  }
}

Progress::Progress(int total, bool enabled) : total_(total), enabled_(enabled), t0_(NowSeconds()) {}

void Progress::Show(int done, const std::string& current) {
  if (!enabled_) return;
  const double el = NowSeconds() - t0_;
  const int width = 24, filled = total_ ? width * done / total_ : width;
  std::string bar(filled, '#');
  bar.resize(width, '.');
  std::string name = std::filesystem::path(current).filename().string();
  if (name.size() > 32) name = name.substr(0, 29) + "...";
  char eta[32] = "";
  if (done > 0) std::snprintf(eta, sizeof eta, " ETA %.0fs", el / done * (total_ - done));
  std::fprintf(stderr, "\r\033[K[%s] %d/%d %s%s", bar.c_str(), done, total_, name.c_str(), eta);
  std::fflush(stderr);
  shown_ = true;
}

void Progress::Clear() {
  if (shown_) std::fprintf(stderr, "\r\033[K");
  shown_ = false;
}

}  // namespace fastvlm::cli
