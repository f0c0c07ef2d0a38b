// Options shared by the generating subcommands (generate, run, chat): model / threads / context,
// sampling, stopping, and the --verbose statistics.
#pragma once

#include <CLI/CLI.hpp>
#include <cstdint>
#include <string>
#include <vector>

#include "runtime/engine.h"

namespace fastvlm::cli {

struct EngineArgs {
  std::string model;
  int threads = 0;
  int ctx = 4096;
  bool exact = false;
  bool verbose = false;
  bool full_logits = false;
  bool no_panels = false;
};

struct SamplingArgs {
  int max_tokens = 256;
  float temperature = 0.0f, top_p = 1.0f, min_p = 0.0f, repeat_penalty = 1.0f;
  int top_k = 0;
  uint64_t seed = 0;
  std::vector<std::string> stops;
  bool ignore_eos = false;
};

void AddEngineOptions(CLI::App& app, EngineArgs& a);
void AddSamplingOptions(CLI::App& app, SamplingArgs& a);
GenerationOptions ToGenerationOptions(const SamplingArgs& a);
// Applies --exact, then loads. On failure prints the error and returns null.
std::unique_ptr<Engine> LoadEngine(const EngineArgs& a, EngineOptions eo);

// "model: ... / threads: ... / load: ..." lines of --verbose.
void PrintModelInfo(const Engine& e, const std::string& model_path);
// prefill / ttft / decode / finish lines of --verbose; ttft_offset is added to the engine's TTFT
// (image decoding and encoding happen before Generate).
void PrintGenerationStats(const GenerationStats& st, double ttft_offset);
void PrintImageStats(const ImageStats& st);

// A one-line progress bar on stderr ("[####....] 3/10 name ETA 12s"), redrawn in place; shown
// only when enabled (callers pass isatty(2)).
class Progress {
 public:
  Progress(int total, bool enabled);
  void Show(int done, const std::string& current);
  // Sets the total when it becomes known after construction (e.g. from a progress callback).
  void Reset(int total) { total_ = total; }
  // Clears the bar before other output shares the terminal.
  void Clear();

 private:
  int total_;
  bool enabled_;
  double t0_;
  bool shown_ = false;
};

}  // namespace fastvlm::cli
