#include "report/results.h"

#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <initializer_list>
#include <nlohmann/json.hpp>
#include <set>
#include <sstream>

namespace fastvlm::report {
namespace {

using json = nlohmann::json;

constexpr PhaseInfo kPhases[kNumPhases] = {
    {Phase::kImageDecode, "image_decode_s", "image decode", false},
    {Phase::kPreprocess, "preprocess_s", "preprocess", false},
    {Phase::kVisionEncode, "vision_encode_s", "vision encode", false},
    {Phase::kProjector, "projector_s", "projector", false},
    {Phase::kPrefill, "prefill_s", "prefill", false},
    {Phase::kPrefillRate, "prefill_tokens_per_s", "prefill rate", true},
    {Phase::kTtft, "ttft_s", "time to first token", false},
    {Phase::kDecode, "decode_s", "decode", false},
    {Phase::kDecodeRate, "decode_tokens_per_s", "decode rate", true},
    {Phase::kTotal, "total_s", "total", false},
};

// The first problem found, with the JSON path of the offending value; caught in AddResultText,
// which turns it into a Status naming the file.
struct BadFile {
  std::string message;
};

[[noreturn]] void Bad(const std::string& path, const std::string& what) {
  throw BadFile{(path.empty() ? std::string("top level") : path) + ": " + what};
}

std::string Join(const std::string& path, const std::string& key) {
  return path.empty() ? key : path + "." + key;
}

std::string TypeName(const json& v) {
  if (v.is_number_integer() || v.is_number_unsigned()) return "an integer";
  if (v.is_array() || v.is_object()) return std::string("an ") + v.type_name();
  return std::string("a ") + v.type_name();
}

void RequireObject(const json& v, const std::string& path) {
  if (!v.is_object()) Bad(path, "expected an object, found " + TypeName(v));
}

// Rejects fields the schema does not define (bench files: "additionalProperties": false).
void CheckKeys(const json& obj, const std::string& path, std::initializer_list<const char*> keys) {
  for (auto it = obj.begin(); it != obj.end(); ++it) {
    bool known = false;
    for (const char* k : keys) known |= it.key() == k;
    if (!known) {
      std::string list;
      for (const char* k : keys) list += std::string(list.empty() ? "" : ", ") + k;
      Bad(Join(path, it.key()), "unknown field (fastvlm.bench.v1 allows: " + list + ")");
    }
  }
}

const json* Find(const json& obj, const char* key) {
  auto it = obj.find(key);
  return it == obj.end() ? nullptr : &*it;
}

const json& Req(const json& obj, const char* key, const std::string& path) {
  const json* v = Find(obj, key);
  if (!v) Bad(path, std::string("missing required field \"") + key + "\"");
  return *v;
}

std::string Str(const json& v, const std::string& path) {
  if (!v.is_string()) Bad(path, "expected a string, found " + TypeName(v));
  return v.get<std::string>();
}

double Number(const json& v, const std::string& path) {
  if (!v.is_number()) Bad(path, "expected a number, found " + TypeName(v));
  const double d = v.get<double>();
  if (!std::isfinite(d)) Bad(path, "not a finite number");
  return d;
}

double NumberIn(const json& v, const std::string& path, double lo, double hi) {
  const double d = Number(v, path);
  if (d < lo || d > hi) {
    char range[64];
    std::snprintf(range, sizeof range, "[%g, %g]", lo, hi);
    Bad(path, "value " + v.dump() + " is outside " + range);
  }
  return d;
}

// JSON Schema "integer": any number with a zero fractional part (2.0 counts).
int64_t Int(const json& v, const std::string& path, int64_t min) {
  int64_t i = 0;
  if (v.is_number_integer()) {
    i = v.get<int64_t>();
  } else if (v.is_number_float() && std::floor(v.get<double>()) == v.get<double>() &&
             std::fabs(v.get<double>()) < 9e18) {
    i = static_cast<int64_t>(v.get<double>());
  } else {
    Bad(path, "expected an integer, found " + (v.is_number() ? v.dump() : TypeName(v)));
  }
  if (i < min)
    Bad(path, "value " + std::to_string(i) + " is below the minimum " + std::to_string(min));
  return i;
}

std::optional<std::string> OptStr(const json& obj, const char* key, const std::string& path,
                                  bool nullable = false) {
  const json* v = Find(obj, key);
  if (!v || (nullable && v->is_null())) return std::nullopt;
  return Str(*v, Join(path, key));
}

std::optional<int64_t> OptInt(const json& obj, const char* key, const std::string& path,
                              int64_t min, bool nullable = false) {
  const json* v = Find(obj, key);
  if (!v || (nullable && v->is_null())) return std::nullopt;
  return Int(*v, Join(path, key), min);
}

Stats ParseStats(const json& v, const std::string& path) {
  RequireObject(v, path);
  CheckKeys(v, path, {"n", "mean", "std", "median", "p95", "min", "max"});
  Stats s;
  s.n = Int(Req(v, "n", path), Join(path, "n"), 1);
  s.mean = Number(Req(v, "mean", path), Join(path, "mean"));
  s.std = Number(Req(v, "std", path), Join(path, "std"));
  if (s.std < 0) Bad(Join(path, "std"), "a standard deviation cannot be negative");
  s.median = Number(Req(v, "median", path), Join(path, "median"));
  s.p95 = Number(Req(v, "p95", path), Join(path, "p95"));
  s.min = Number(Req(v, "min", path), Join(path, "min"));
  s.max = Number(Req(v, "max", path), Join(path, "max"));
  return s;
}

void ParseSample(const json& v, const std::string& path) {
  RequireObject(v, path);
  CheckKeys(v, path, {"image", "prompt_tokens", "generated_tokens", "image_decode_s",
                      "preprocess_s", "vision_encode_s", "projector_s", "prefill_s", "ttft_s",
                      "decode_s", "total_s"});
  const json& image = Req(v, "image", path);
  if (!image.is_null()) Str(image, Join(path, "image"));
  OptInt(v, "prompt_tokens", path, 0);
  OptInt(v, "generated_tokens", path, 0);
  for (const char* k : {"image_decode_s", "preprocess_s", "vision_encode_s", "projector_s",
                        "prefill_s", "ttft_s", "decode_s", "total_s"})
    if (const json* x = Find(v, k)) Number(*x, Join(path, k));
}

TaskResult ParseTask(const json& v, const std::string& path) {
  RequireObject(v, path);
  CheckKeys(v, path, {"task", "prompt", "prompt_tokens", "generated_tokens", "phases", "samples"});
  TaskResult t;
  t.task = Str(Req(v, "task", path), Join(path, "task"));
  t.prompt = Str(Req(v, "prompt", path), Join(path, "prompt"));
  t.prompt_tokens = Int(Req(v, "prompt_tokens", path), Join(path, "prompt_tokens"), 0);
  t.generated_tokens = Int(Req(v, "generated_tokens", path), Join(path, "generated_tokens"), 0);
  const std::string ppath = Join(path, "phases");
  const json& phases = Req(v, "phases", path);
  RequireObject(phases, ppath);
  for (auto it = phases.begin(); it != phases.end(); ++it) {
    int found = -1;
    for (int i = 0; i < kNumPhases; ++i)
      if (it.key() == kPhases[i].key) found = i;
    if (found < 0) {
      std::string list;
      for (const PhaseInfo& p : kPhases) list += std::string(list.empty() ? "" : ", ") + p.key;
      Bad(Join(ppath, it.key()), "unknown phase (fastvlm.bench.v1 allows: " + list + ")");
    }
    t.phases[found] = ParseStats(it.value(), Join(ppath, it.key()));
  }
  const std::string spath = Join(path, "samples");
  const json& samples = Req(v, "samples", path);
  if (!samples.is_array()) Bad(spath, "expected an array, found " + TypeName(samples));
  for (size_t i = 0; i < samples.size(); ++i)
    ParseSample(samples[i], spath + "[" + std::to_string(i) + "]");
  t.num_samples = samples.size();
  return t;
}

RunResult ParseRun(const json& v, const std::string& path) {
  RequireObject(v, path);
  CheckKeys(v, path, {"label", "model", "model_bytes", "weight_type", "vision_type", "threads",
                      "image_size", "tokens", "ignore_eos", "warmup", "repetitions", "load",
                      "peak_rss_bytes", "tasks"});
  RunResult r;
  r.label = Str(Req(v, "label", path), Join(path, "label"));
  r.model = Str(Req(v, "model", path), Join(path, "model"));
  r.model_bytes = OptInt(v, "model_bytes", path, 0);
  r.weight_type = Str(Req(v, "weight_type", path), Join(path, "weight_type"));
  r.vision_type = OptStr(v, "vision_type", path, /*nullable=*/true);
  r.threads = Int(Req(v, "threads", path), Join(path, "threads"), 1);
  r.image_size = OptInt(v, "image_size", path, INT64_MIN, /*nullable=*/true);
  r.tokens = Int(Req(v, "tokens", path), Join(path, "tokens"), 0);
  if (const json* e = Find(v, "ignore_eos")) {
    if (!e->is_boolean())
      Bad(Join(path, "ignore_eos"), "expected a boolean, found " + TypeName(*e));
    r.ignore_eos = e->get<bool>();
  }
  r.warmup = OptInt(v, "warmup", path, 0);
  r.repetitions = Int(Req(v, "repetitions", path), Join(path, "repetitions"), 1);
  const std::string lpath = Join(path, "load");
  const json& load = Req(v, "load", path);
  RequireObject(load, lpath);
  CheckKeys(load, lpath, {"cold_s", "warm_s"});
  if (const json* c = Find(load, "cold_s"); c && !c->is_null())
    r.load_cold_s = Number(*c, Join(lpath, "cold_s"));
  if (const json* w = Find(load, "warm_s")) r.load_warm_s = ParseStats(*w, Join(lpath, "warm_s"));
  r.peak_rss_bytes = OptInt(v, "peak_rss_bytes", path, 0, /*nullable=*/true);
  const std::string tpath = Join(path, "tasks");
  const json& tasks = Req(v, "tasks", path);
  if (!tasks.is_array()) Bad(tpath, "expected an array, found " + TypeName(tasks));
  for (size_t i = 0; i < tasks.size(); ++i)
    r.tasks.push_back(ParseTask(tasks[i], tpath + "[" + std::to_string(i) + "]"));
  return r;
}

void ParseBench(const json& j, const std::string& name, Inputs* in) {
  CheckKeys(j, "", {"schema", "engine", "engine_version", "created", "command", "system", "runs"});
  BenchFile f;
  f.path = name;
  f.engine = Str(Req(j, "engine", ""), "engine");
  if (f.engine != "fastvlm.cpp" && f.engine != "pytorch" && f.engine != "llama.cpp")
    Bad("engine", "'" + f.engine + "' is not one of fastvlm.cpp, pytorch, llama.cpp");
  f.engine_version = OptStr(j, "engine_version", "").value_or("");
  f.created = Str(Req(j, "created", ""), "created");
  f.command = OptStr(j, "command", "").value_or("");
  const json& sys = Req(j, "system", "");
  RequireObject(sys, "system");
  CheckKeys(sys, "system", {"cpu", "logical_cpus", "memory_bytes", "os", "compiler", "commit",
                            "simd_target", "build_type"});
  f.system.cpu = Str(Req(sys, "cpu", "system"), "system.cpu");
  f.system.logical_cpus = Int(Req(sys, "logical_cpus", "system"), "system.logical_cpus", 1);
  f.system.memory_bytes = OptInt(sys, "memory_bytes", "system", 0);
  f.system.os = Str(Req(sys, "os", "system"), "system.os");
  f.system.compiler = OptStr(sys, "compiler", "system").value_or("");
  f.system.commit = OptStr(sys, "commit", "system").value_or("");
  f.system.simd_target = OptStr(sys, "simd_target", "system").value_or("");
  f.system.build_type = OptStr(sys, "build_type", "system").value_or("");
  const json& runs = Req(j, "runs", "");
  if (!runs.is_array()) Bad("runs", "expected an array, found " + TypeName(runs));
  std::vector<RunResult> parsed;
  for (size_t i = 0; i < runs.size(); ++i)
    parsed.push_back(ParseRun(runs[i], "runs[" + std::to_string(i) + "]"));

  // Labels name bars and table rows: make them unique across all inputs.
  std::set<std::string> used;
  for (const RunResult& r : in->runs) used.insert(r.label);
  for (RunResult& r : parsed) {
    r.engine = f.engine;
    r.file = in->bench.size();
    if (r.label.empty()) r.label = f.engine + " " + r.weight_type;
    std::string label = r.label;
    for (int k = 2; used.count(label); ++k) label = r.label + " #" + std::to_string(k);
    r.label = label;
    used.insert(label);
  }
  in->bench.push_back(std::move(f));
  for (RunResult& r : parsed) in->runs.push_back(std::move(r));
}

void ParseEval(const json& j, const std::string& name, Inputs* in) {
  EvalFile e;
  e.path = name;
  e.reference = Str(Req(j, "reference", ""), "reference");
  e.candidate = Str(Req(j, "candidate", ""), "candidate");
  e.candidate_weight_type = Str(Req(j, "candidate_weight_type", ""), "candidate_weight_type");
  const json& s = Req(j, "summary", "");
  RequireObject(s, "summary");
  const double kInf = INFINITY;
  e.kl_mean = NumberIn(Req(s, "kl_mean", "summary"), "summary.kl_mean", 0, kInf);
  e.kl_p99 = NumberIn(Req(s, "kl_p99", "summary"), "summary.kl_p99", 0, kInf);
  e.kl_max = NumberIn(Req(s, "kl_max", "summary"), "summary.kl_max", 0, kInf);
  e.top1_agreement =
      NumberIn(Req(s, "top1_agreement", "summary"), "summary.top1_agreement", 0, 1);
  e.greedy_prefix_mean =
      NumberIn(Req(s, "greedy_prefix_mean", "summary"), "summary.greedy_prefix_mean", 0, kInf);
  for (auto [key, dst] : {std::pair{"perplexity_reference", &e.perplexity_reference},
                          std::pair{"perplexity_candidate", &e.perplexity_candidate}}) {
    const json* v = Find(s, key);
    if (v && !v->is_null()) *dst = Number(*v, std::string("summary.") + key);
  }
  in->eval.push_back(std::move(e));
}

void ParseEvalTasks(const json& j, const std::string& name, Inputs* in) {
  EvalTasksFile e;
  e.path = name;
  e.model = Str(Req(j, "model", ""), "model");
  e.weight_type = Str(Req(j, "weight_type", ""), "weight_type");
  const json& tasks = Req(j, "tasks", "");
  if (!tasks.is_array()) Bad("tasks", "expected an array, found " + TypeName(tasks));
  for (size_t i = 0; i < tasks.size(); ++i) {
    const std::string path = "tasks[" + std::to_string(i) + "]";
    RequireObject(tasks[i], path);
    TaskAccuracy t;
    t.task = Str(Req(tasks[i], "task", path), Join(path, "task"));
    t.n = Int(Req(tasks[i], "n", path), Join(path, "n"), 1);
    t.accuracy = NumberIn(Req(tasks[i], "accuracy", path), Join(path, "accuracy"), 0, 1);
    t.metric = OptStr(tasks[i], "metric", path).value_or("");
    e.tasks.push_back(std::move(t));
  }
  in->eval_tasks.push_back(std::move(e));
}

}  // namespace

const PhaseInfo& GetPhaseInfo(Phase p) { return kPhases[static_cast<int>(p)]; }

Status AddResultText(std::string_view text, const std::string& name, Inputs* inputs) {
  json j;
  try {
    j = json::parse(text.begin(), text.end());
  } catch (const json::parse_error& e) {
    return Status::FromString(name + ": not valid JSON: " + e.what());
  }
  if (!j.is_object())
    return Status::FromString(name + ": expected a JSON object at the top level, found " +
                              TypeName(j));
  const json* schema = Find(j, "schema");
  if (!schema || !schema->is_string())
    return Status::FromString(name +
                              ": no \"schema\" string field; not a result file of fastvlm bench, "
                              "eval or eval-tasks");
  const std::string kind = schema->get<std::string>();
  Inputs copy = *inputs;  // unchanged on error
  try {
    if (kind == "fastvlm.bench.v1") {
      ParseBench(j, name, &copy);
    } else if (kind == "fastvlm.eval.v1") {
      ParseEval(j, name, &copy);
    } else if (kind == "fastvlm.eval_tasks.v1") {
      ParseEvalTasks(j, name, &copy);
    } else {
      return Status::FromString(name + ": unknown schema '" + kind +
                                "' (expected fastvlm.bench.v1, fastvlm.eval.v1 or "
                                "fastvlm.eval_tasks.v1)");
    }
  } catch (const BadFile& e) {
    return Status::FromString(name + " (" + kind + "): " + e.message);
  } catch (const json::exception& e) {  // e.g. an integer out of int64 range
    return Status::FromString(name + " (" + kind + "): " + e.what());
  }
  *inputs = std::move(copy);
  return Status::Ok();
}

Status AddResultFile(const std::string& path, Inputs* inputs) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return Status::FromString(path + ": cannot open: " + std::strerror(errno));
  std::stringstream ss;
  ss << in.rdbuf();
  if (in.bad()) return Status::FromString(path + ": read error");
  return AddResultText(ss.str(), path, inputs);
}

}  // namespace fastvlm::report
