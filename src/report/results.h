// Result files that `fastvlm report` reads, detected by their "schema" field:
//   fastvlm.bench.v1       `fastvlm bench` and the peer scripts (docs/schema/bench.v1.schema.json)
//   fastvlm.eval.v1        `fastvlm eval`: logit agreement of a candidate with a reference model
//   fastvlm.eval_tasks.v1  `fastvlm eval-tasks`: accuracy on labelled tasks
// Parsing checks every field the report uses against the schema (types, required fields, ranges,
// no unknown fields in bench files) and names the file and the JSON path of the first problem.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "base/status.h"

namespace fastvlm::report {

struct Stats {
  int64_t n = 0;
  double mean = 0, std = 0, median = 0, p95 = 0, min = 0, max = 0;
};

// The per-generation phases of the schema, in pipeline order.
enum class Phase {
  kImageDecode, kPreprocess, kVisionEncode, kProjector, kPrefill, kPrefillRate, kTtft, kDecode,
  kDecodeRate, kTotal,
};
constexpr int kNumPhases = 10;
struct PhaseInfo {
  Phase phase;
  const char* key;    // JSON key, e.g. "vision_encode_s"
  const char* name;   // for people, e.g. "vision encode"
  bool is_rate;       // tokens/s (higher is better) rather than seconds
};
const PhaseInfo& GetPhaseInfo(Phase p);

struct TaskResult {
  std::string task, prompt;
  int64_t prompt_tokens = 0, generated_tokens = 0;
  std::optional<Stats> phases[kNumPhases];
  size_t num_samples = 0;
  const std::optional<Stats>& phase(Phase p) const { return phases[static_cast<int>(p)]; }
};

struct RunResult {
  std::string label;  // unique across all inputs (a " #2" suffix is added to repeats)
  std::string engine;  // of the file it came from
  size_t file = 0;     // index into Inputs::bench
  std::string model, weight_type;
  std::optional<std::string> vision_type;
  std::optional<int64_t> model_bytes, image_size, warmup, peak_rss_bytes;
  int64_t threads = 1, tokens = 0, repetitions = 1;
  std::optional<bool> ignore_eos;
  std::optional<double> load_cold_s;
  std::optional<Stats> load_warm_s;
  std::vector<TaskResult> tasks;
};

struct SystemInfo {
  std::string cpu, os;
  int64_t logical_cpus = 1;
  std::optional<int64_t> memory_bytes;
  std::string compiler, commit, simd_target, build_type;  // empty when absent
};

struct BenchFile {
  std::string path, engine, engine_version, created, command;
  SystemInfo system;
};

struct EvalFile {  // fastvlm.eval.v1
  std::string path, reference, candidate, candidate_weight_type;
  double kl_mean = 0, kl_p99 = 0, kl_max = 0, top1_agreement = 0, greedy_prefix_mean = 0;
  std::optional<double> perplexity_reference, perplexity_candidate;
};

struct TaskAccuracy {
  std::string task, metric;
  int64_t n = 0;
  double accuracy = 0;  // fraction in [0, 1]
};
struct EvalTasksFile {  // fastvlm.eval_tasks.v1
  std::string path, model, weight_type;
  std::vector<TaskAccuracy> tasks;
};

struct Inputs {
  std::vector<BenchFile> bench;
  std::vector<RunResult> runs;  // every run of every bench file, in input order
  std::vector<EvalFile> eval;
  std::vector<EvalTasksFile> eval_tasks;
};

// Parses one result file's text (`name` is used in error messages and kept as its path) and
// appends it to `inputs`. On error `inputs` is unchanged.
Status AddResultText(std::string_view text, const std::string& name, Inputs* inputs);
// Reads and parses the file at `path`.
Status AddResultFile(const std::string& path, Inputs* inputs);

}  // namespace fastvlm::report
