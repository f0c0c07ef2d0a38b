// `fastvlm report` assembly from the sample results in tests/fixtures/bench/ (synthetic numbers):
// every chart present with its labels, table numbers equal to the inputs, the baseline choice,
// omitted charts explained, and a clear error for each kind of bad file.
#include <gtest/gtest.h>
#include <unistd.h>

#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "report/report.h"
#include "report/results.h"

namespace fastvlm::report {
namespace {

using json = nlohmann::json;

#define EXPECT_HAS(haystack, needle)                               \
  EXPECT_NE(std::string(haystack).find(needle), std::string::npos) \
      << "expected to contain: " << (needle)
#define EXPECT_LACKS(haystack, needle) \
  EXPECT_EQ(std::string(haystack).find(needle), std::string::npos) << "unexpected: " << (needle)

std::string Sample(const std::string& name) {
  return std::string(FASTVLM_SOURCE_DIR) + "/tests/fixtures/bench/" + name;
}

json LoadJson(const std::string& path) {
  std::ifstream in(path);
  EXPECT_TRUE(in) << path;
  return json::parse(in);
}

const char* kBench[] = {"sample-fastvlm.json", "sample-pytorch.json", "sample-llamacpp.json"};
const char* kAccuracy[] = {"sample-eval.json", "sample-eval-tasks.json"};

Inputs LoadSamples(bool with_accuracy) {
  Inputs in;
  for (const char* f : kBench) EXPECT_TRUE(AddResultFile(Sample(f), &in).ok()) << f;
  if (with_accuracy) {
    for (const char* f : kAccuracy) EXPECT_TRUE(AddResultFile(Sample(f), &in).ok()) << f;
  }
  return in;
}

std::string Fixed(double v, int decimals) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.*f", decimals, v);
  return buf;
}

size_t Count(const std::string& hay, const std::string& needle) {
  size_t n = 0;
  for (size_t p = hay.find(needle); p != std::string::npos; p = hay.find(needle, p + 1)) ++n;
  return n;
}

TEST(ReportAssembly, ParsesTheSamples) {
  const Inputs in = LoadSamples(true);
  ASSERT_EQ(in.bench.size(), 3u);
  ASSERT_EQ(in.runs.size(), 4u);
  EXPECT_EQ(in.runs[0].label, "fastvlm.cpp bf16 t8");
  EXPECT_EQ(in.runs[1].weight_type, "q8_0");
  EXPECT_EQ(in.runs[2].engine, "pytorch");
  EXPECT_EQ(in.runs[3].engine, "llama.cpp");
  EXPECT_EQ(in.runs[3].tasks.at(0).task, "llm");
  EXPECT_FALSE(in.runs[3].tasks[0].phase(Phase::kVisionEncode).has_value());
  EXPECT_TRUE(in.runs[3].tasks[0].phase(Phase::kDecodeRate).has_value());
  EXPECT_FALSE(in.runs[3].load_cold_s.has_value());
  ASSERT_EQ(in.eval.size(), 1u);
  EXPECT_DOUBLE_EQ(in.eval[0].top1_agreement, 0.9874);
  ASSERT_EQ(in.eval_tasks.size(), 1u);
  EXPECT_EQ(in.eval_tasks[0].tasks.size(), 3u);
}

TEST(ReportAssembly, EveryChartIsDrawnWithItsLabels) {
  const Inputs in = LoadSamples(true);
  auto rep = BuildReport(in, {});
  ASSERT_TRUE(rep.ok()) << rep.status().message();
  ASSERT_EQ(rep->charts.size(), 5u);
  EXPECT_EQ(rep->drawn(), 5);
  const char* ids[] = {"decode-rate", "latency", "speedup", "memory", "accuracy"};
  for (size_t i = 0; i < 5; ++i) {
    const Chart& c = rep->charts[i];
    SCOPED_TRACE(c.id);
    EXPECT_EQ(c.id, ids[i]);
    EXPECT_TRUE(c.omitted.empty()) << c.omitted;
    ASSERT_FALSE(c.svg.empty());
    EXPECT_HAS(rep->html, c.svg);  // inline in the page
    EXPECT_HAS(rep->markdown, "](chart-" + c.id + ".svg)");
    EXPECT_HAS(c.svg, "<title>" + c.title + "</title>");
  }
  EXPECT_EQ(Count(rep->html, "<svg xmlns=\"http://www.w3.org/2000/svg\" class=\"chart\""), 5u);
  EXPECT_HAS(rep->html, "data-charts-expected=\"5\"");
  // The page fetches nothing: no external scripts, stylesheets, fonts or images.
  EXPECT_LACKS(rep->html, "<script src");
  EXPECT_LACKS(rep->html, "<link");
  EXPECT_LACKS(rep->html, "@import");
  EXPECT_LACKS(rep->html, "url(");
  EXPECT_EQ(Count(rep->html, "http"), 5u);  // only the SVG namespace URI of each chart

  // Chart 1: every run with a decode rate, every task.
  const std::string& decode = rep->charts[0].svg;
  for (const RunResult& r : in.runs) EXPECT_HAS(decode, ">" + r.label + "<");
  for (const char* task : {">colour<", ">describe<", ">llm<"}) EXPECT_HAS(decode, task);
  EXPECT_HAS(decode, "decode rate (tokens/s)");
  // Chart 2: one bar per run and task.
  const std::string& latency = rep->charts[1].svg;
  EXPECT_HAS(latency, "fastvlm.cpp q8_0 t8 \xC2\xB7 describe");
  EXPECT_HAS(latency, "llama.cpp q8_0 t8 \xC2\xB7 llm");
  for (const char* seg : {"image decode", "preprocess", "vision encode", "projector", "prefill"})
    EXPECT_HAS(latency, std::string(">") + seg + "<");
  // Chart 3: the default baseline is the pytorch run; llama.cpp shares no task with it.
  EXPECT_EQ(rep->baseline, "pytorch f32 t8");
  const std::string& speedup = rep->charts[2].svg;
  EXPECT_HAS(speedup, "Speedup over pytorch f32 t8");
  EXPECT_HAS(speedup, ">fastvlm.cpp q8_0 t8<");
  EXPECT_LACKS(speedup, ">llama.cpp q8_0 t8<");
  EXPECT_HAS(rep->charts[2].caption, "no task in common with the baseline): llama.cpp q8_0 t8");
  for (const char* phase : {">vision encode<", ">TTFT<", ">decode tokens/s<", ">total<"})
    EXPECT_HAS(speedup, phase);
  // Chart 4: weight types on the x axis, RSS and file series per engine.
  const std::string& memory = rep->charts[3].svg;
  for (const char* t : {">f32<", ">bf16<", ">q8_0<"}) EXPECT_HAS(memory, t);
  EXPECT_HAS(memory, ">peak RSS (fastvlm.cpp)<");
  EXPECT_HAS(memory, ">model file (llama.cpp)<");
  EXPECT_LACKS(memory, "peak RSS (llama.cpp)");  // its peak_rss_bytes is null
  EXPECT_HAS(memory, "memory (GiB)");
  // Chart 5: eval matched to the q8_0 run by model path, eval-tasks to bf16.
  const std::string& acc = rep->charts[4].svg;
  EXPECT_HAS(acc, ">fastvlm.cpp q8_0 t8<");
  EXPECT_HAS(acc, ">fastvlm.cpp bf16 t8<");
  EXPECT_HAS(acc, "top-1 agreement with the reference");
  EXPECT_HAS(acc, "task accuracy (mean over tasks)");
}

TEST(ReportAssembly, PhaseTablesEqualTheInputs) {
  const Inputs in = LoadSamples(false);
  auto rep = BuildReport(in, {});
  ASSERT_TRUE(rep.ok()) << rep.status().message();
  const std::string& md = rep->markdown;
  const std::pair<const char*, const char*> kPhaseNames[] = {
      {"image_decode_s", "image decode"}, {"preprocess_s", "preprocess"},
      {"vision_encode_s", "vision encode"}, {"projector_s", "projector"},
      {"prefill_s", "prefill"}, {"prefill_tokens_per_s", "prefill rate"},
      {"ttft_s", "time to first token"}, {"decode_s", "decode"},
      {"decode_tokens_per_s", "decode rate"}, {"total_s", "total"}};
  int rows_checked = 0;
  for (const char* file : kBench) {
    const json j = LoadJson(Sample(file));
    for (const json& run : j["runs"]) {
      for (const json& task : run["tasks"]) {
        const std::string heading =
            "### " + run["label"].get<std::string>() + " \xE2\x80\x94 " +
            task["task"].get<std::string>();
        const size_t at = md.find(heading + "\n");
        ASSERT_NE(at, std::string::npos) << heading;
        const size_t end = md.find("###", at + heading.size());
        const std::string section = md.substr(at, end - at);
        for (const auto& [key, name] : kPhaseNames) {
          if (!task["phases"].contains(key)) {
            EXPECT_LACKS(section, std::string("| ") + name + " |");
            continue;
          }
          const json& s = task["phases"][key];
          const bool rate = std::string(key).find("per_s") != std::string::npos;
          const double k = rate ? 1 : 1000;
          const std::string row =
              std::string("| ") + name + " | " + (rate ? "tokens/s" : "ms") + " | " +
              Fixed(s["median"].get<double>() * k, 2) + " | " +
              Fixed(s["mean"].get<double>() * k, 2) + " \xC2\xB1 " +
              Fixed(s["std"].get<double>() * k, 2) + " | " + Fixed(s["p95"].get<double>() * k, 2) +
              " | " + Fixed(s["min"].get<double>() * k, 2) + " | " +
              Fixed(s["max"].get<double>() * k, 2) + " | " + std::to_string(s["n"].get<int>()) +
              " |\n";
          EXPECT_HAS(section, row);
          ++rows_checked;
        }
      }
      // Runs table: load times and memory.
      std::string cold = run["load"].contains("cold_s") && !run["load"]["cold_s"].is_null()
                             ? Fixed(run["load"]["cold_s"].get<double>(), 3)
                             : "\xE2\x80\x94";
      EXPECT_HAS(md, "| " + run["label"].get<std::string>() + " | " +
                         j["engine"].get<std::string>() + " | " +
                         run["weight_type"].get<std::string>());
      EXPECT_HAS(md, " | " + cold + " | ");
      if (run["load"].contains("warm_s")) {
        const json& w = run["load"]["warm_s"];
        EXPECT_HAS(md, " | " + Fixed(w["median"].get<double>(), 3) + " | " +
                           Fixed(w["mean"].get<double>(), 3) + " \xC2\xB1 " +
                           Fixed(w["std"].get<double>(), 3) + " | ");
      }
      if (run.contains("peak_rss_bytes") && !run["peak_rss_bytes"].is_null()) {
        EXPECT_HAS(md, " | " + Fixed(run["peak_rss_bytes"].get<double>() / 1048576.0, 1) + " | ");
      }
    }
    // System block.
    const json& sys = j["system"];
    EXPECT_HAS(md, sys["cpu"].get<std::string>());
    for (const char* k : {"compiler", "commit", "simd_target"})
      if (sys.contains(k)) {
        EXPECT_HAS(md, " | " + sys[k].get<std::string>() + " | ");
      }
  }
  EXPECT_EQ(rows_checked, 2 * 2 * 10 + 2 * 10 + 6);
  // HTML carries the same tables.
  const double vision_ms = in.runs[0].tasks[0].phase(Phase::kVisionEncode)->median * 1000;
  EXPECT_HAS(rep->html, "<td class=\"num\">" + Fixed(vision_ms, 2) + "</td>");
}

TEST(ReportAssembly, SpeedupsAreGeometricMeansOverCommonTasks) {
  const Inputs in = LoadSamples(false);
  auto rep = BuildReport(in, {});
  ASSERT_TRUE(rep.ok());
  const json ours = LoadJson(Sample("sample-fastvlm.json"));
  const json torch = LoadJson(Sample("sample-pytorch.json"));
  const json& q8 = ours["runs"][1];
  const json& base = torch["runs"][0];
  double log_decode = 0, log_vision = 0;
  for (int t = 0; t < 2; ++t) {
    auto Median = [&](const json& run, const char* phase) {
      return run["tasks"][t]["phases"][phase]["median"].get<double>();
    };
    log_decode += std::log(Median(q8, "decode_tokens_per_s") / Median(base, "decode_tokens_per_s"));
    log_vision += std::log(Median(base, "vision_encode_s") / Median(q8, "vision_encode_s"));
  }
  const std::string vision = Fixed(std::exp(log_vision / 2), 2) + "\xC3\x97";
  const std::string decode = Fixed(std::exp(log_decode / 2), 2) + "\xC3\x97";
  const size_t row = rep->markdown.find("| fastvlm.cpp q8_0 t8 | fastvlm.cpp | q8_0 | 8 |");
  ASSERT_NE(row, std::string::npos);
  const std::string line = rep->markdown.substr(row, rep->markdown.find('\n', row) - row);
  EXPECT_HAS(line, "| " + vision + " |");
  EXPECT_HAS(line, "| " + decode + " |");
  EXPECT_HAS(rep->markdown, "| pytorch f32 t8 | pytorch | f32 | 8 |");
  EXPECT_HAS(rep->markdown, "| baseline | baseline |");
}

TEST(ReportAssembly, BaselineOption) {
  const Inputs in = LoadSamples(false);
  ReportOptions opt;
  opt.baseline = "fastvlm.cpp bf16 t8";
  auto rep = BuildReport(in, opt);
  ASSERT_TRUE(rep.ok());
  EXPECT_EQ(rep->baseline, "fastvlm.cpp bf16 t8");
  EXPECT_HAS(rep->charts[2].svg, "Speedup over fastvlm.cpp bf16 t8");
  EXPECT_HAS(rep->charts[2].svg, ">pytorch f32 t8<");
  opt.baseline = "no such run";
  rep = BuildReport(in, opt);
  ASSERT_FALSE(rep.ok());
  EXPECT_HAS(rep.status().message(), "--baseline: no run is labelled 'no such run'");
  EXPECT_HAS(rep.status().message(), "'llama.cpp q8_0 t8'");
  // Without a pytorch run the first run is the baseline.
  Inputs ours;
  ASSERT_TRUE(AddResultFile(Sample("sample-fastvlm.json"), &ours).ok());
  rep = BuildReport(ours, {});
  ASSERT_TRUE(rep.ok());
  EXPECT_EQ(rep->baseline, "fastvlm.cpp bf16 t8");
}

TEST(ReportAssembly, AccuracyChartOmittedWithoutEvalFiles) {
  auto rep = BuildReport(LoadSamples(false), {});
  ASSERT_TRUE(rep.ok());
  EXPECT_EQ(rep->drawn(), 4);
  const Chart& acc = rep->charts.back();
  EXPECT_EQ(acc.id, "accuracy");
  EXPECT_TRUE(acc.svg.empty());
  EXPECT_HAS(acc.omitted, "fastvlm eval");
  EXPECT_HAS(rep->html, "Chart omitted: no accuracy results were given");
  EXPECT_HAS(rep->markdown, "*Chart omitted: no accuracy results were given");
  EXPECT_HAS(rep->html, "data-charts-expected=\"4\"");
  EXPECT_LACKS(rep->markdown, "chart-accuracy.svg");
}

TEST(ReportAssembly, SingleRunOmitsTheSpeedupChart) {
  Inputs in;
  ASSERT_TRUE(AddResultFile(Sample("sample-llamacpp.json"), &in).ok());
  auto rep = BuildReport(in, {});
  ASSERT_TRUE(rep.ok());
  EXPECT_TRUE(rep->charts[2].svg.empty());
  EXPECT_HAS(rep->charts[2].omitted, "only one run");
  EXPECT_FALSE(rep->charts[0].svg.empty());
  EXPECT_FALSE(rep->charts[1].svg.empty());
  EXPECT_FALSE(rep->charts[3].svg.empty());  // model file size only
}

TEST(ReportAssembly, RepeatedLabelsAreMadeUnique) {
  Inputs in;
  ASSERT_TRUE(AddResultFile(Sample("sample-fastvlm.json"), &in).ok());
  ASSERT_TRUE(AddResultFile(Sample("sample-fastvlm.json"), &in).ok());
  ASSERT_EQ(in.runs.size(), 4u);
  EXPECT_EQ(in.runs[2].label, "fastvlm.cpp bf16 t8 #2");
  EXPECT_EQ(in.runs[3].label, "fastvlm.cpp q8_0 t8 #2");
  EXPECT_EQ(in.runs[3].file, 1u);
}

TEST(ReportAssembly, WritesTheFiles) {
  auto rep = BuildReport(LoadSamples(true), {});
  ASSERT_TRUE(rep.ok());
  const auto dir = std::filesystem::temp_directory_path() /
                   ("fastvlm-report-test-" + std::to_string(::getpid())) / "out";
  ASSERT_TRUE(WriteReport(*rep, dir.string()).ok());
  for (const char* f : {"index.html", "report.md", "chart-decode-rate.svg", "chart-latency.svg",
                        "chart-speedup.svg", "chart-memory.svg", "chart-accuracy.svg"}) {
    std::ifstream in(dir / f);
    ASSERT_TRUE(in) << f;
    std::stringstream ss;
    ss << in.rdbuf();
    EXPECT_GT(ss.str().size(), 500u) << f;
    if (std::string(f).find(".svg") != std::string::npos) {
      EXPECT_EQ(ss.str().rfind("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<svg xmlns=", 0), 0u);
    }
  }
  // A later report without accuracy files removes the stale accuracy chart.
  auto rep2 = BuildReport(LoadSamples(false), {});
  ASSERT_TRUE(rep2.ok());
  ASSERT_TRUE(WriteReport(*rep2, dir.string()).ok());
  EXPECT_FALSE(std::filesystem::exists(dir / "chart-accuracy.svg"));
  std::filesystem::remove_all(dir.parent_path());
}

// ---------------------------------------------------------------------------------------------
// Bad files: one clear message naming the file and the problem; the inputs stay unchanged.

std::string ErrorFor(const std::string& text, const std::string& name = "bad.json") {
  Inputs in = LoadSamples(false);
  const size_t runs = in.runs.size();
  const Status s = AddResultText(text, name, &in);
  EXPECT_FALSE(s.ok()) << text.substr(0, 200);
  EXPECT_EQ(in.runs.size(), runs);
  EXPECT_EQ(in.bench.size(), 3u);
  EXPECT_HAS(s.message(), name);
  return s.message();
}

json SampleJson() { return LoadJson(Sample("sample-fastvlm.json")); }

TEST(ReportErrors, NotJsonOrNotAResultFile) {
  EXPECT_HAS(ErrorFor("{\"schema\": \"fastvlm.bench.v1\",", "trunc.json"), "not valid JSON");
  EXPECT_HAS(ErrorFor("[1, 2]"), "expected a JSON object at the top level, found an array");
  EXPECT_HAS(ErrorFor("{\"runs\": []}"), "no \"schema\" string field");
  EXPECT_HAS(ErrorFor("{\"schema\": \"fastvlm.bench.v9\"}"),
             "unknown schema 'fastvlm.bench.v9' (expected fastvlm.bench.v1");
  Inputs in;
  const Status s = AddResultFile("/nonexistent/results.json", &in);
  ASSERT_FALSE(s.ok());
  EXPECT_HAS(s.message(), "/nonexistent/results.json: cannot open");
}

TEST(ReportErrors, BenchFieldsAreChecked) {
  json j = SampleJson();
  j["runs"][1]["tasks"][0]["phases"]["decode_s"].erase("median");
  EXPECT_HAS(ErrorFor(j.dump()),
             "bad.json (fastvlm.bench.v1): runs[1].tasks[0].phases.decode_s: missing required "
             "field \"median\"");
  j = SampleJson();
  j["runs"][0]["threads"] = "8";
  EXPECT_HAS(ErrorFor(j.dump()), "runs[0].threads: expected an integer, found a string");
  j = SampleJson();
  j["runs"][0]["threads"] = 0;
  EXPECT_HAS(ErrorFor(j.dump()), "runs[0].threads: value 0 is below the minimum 1");
  j = SampleJson();
  j["runs"][0]["tokens"] = 2.5;
  EXPECT_HAS(ErrorFor(j.dump()), "runs[0].tokens: expected an integer, found 2.5");
  j = SampleJson();
  j["runs"][0]["tasks"][1]["phases"]["vision_encode_s"]["std"] = -1;
  EXPECT_HAS(ErrorFor(j.dump()), "runs[0].tasks[1].phases.vision_encode_s.std");
  j = SampleJson();
  j["runs"][0]["tasks"][0]["phases"]["vision_s"] = j["runs"][0]["tasks"][0]["phases"]["total_s"];
  EXPECT_HAS(ErrorFor(j.dump()), "runs[0].tasks[0].phases.vision_s: unknown phase");
  j = SampleJson();
  j["runs"][0]["colour"] = "blue";
  EXPECT_HAS(ErrorFor(j.dump()), "runs[0].colour: unknown field");
  j = SampleJson();
  j["engine"] = "onnx";
  EXPECT_HAS(ErrorFor(j.dump()), "engine: 'onnx' is not one of fastvlm.cpp, pytorch, llama.cpp");
  j = SampleJson();
  j.erase("system");
  EXPECT_HAS(ErrorFor(j.dump()), "top level: missing required field \"system\"");
  j = SampleJson();
  j["runs"] = json::object();
  EXPECT_HAS(ErrorFor(j.dump()), "runs: expected an array, found an object");
  j = SampleJson();
  j["runs"][0]["tasks"][0]["samples"][2]["image"] = 7;
  EXPECT_HAS(ErrorFor(j.dump()), "runs[0].tasks[0].samples[2].image: expected a string");
  // Integral floats are integers in JSON Schema; nulls where the schema allows them.
  j = SampleJson();
  j["runs"][0]["threads"] = 8.0;
  j["runs"][0]["peak_rss_bytes"] = nullptr;
  j["runs"][0]["load"]["cold_s"] = nullptr;
  Inputs in;
  EXPECT_TRUE(AddResultText(j.dump(), "ok.json", &in).ok());
}

TEST(ReportErrors, AccuracyFieldsAreChecked) {
  json e = LoadJson(Sample("sample-eval.json"));
  e["summary"]["top1_agreement"] = 1.5;
  EXPECT_HAS(ErrorFor(e.dump()),
             "bad.json (fastvlm.eval.v1): summary.top1_agreement: value 1.5 is outside [0, 1]");
  e = LoadJson(Sample("sample-eval.json"));
  e.erase("summary");
  EXPECT_HAS(ErrorFor(e.dump()), "missing required field \"summary\"");
  json t = LoadJson(Sample("sample-eval-tasks.json"));
  t["tasks"][1]["accuracy"] = "high";
  EXPECT_HAS(ErrorFor(t.dump()),
             "bad.json (fastvlm.eval_tasks.v1): tasks[1].accuracy: expected a number, found a "
             "string");
}

TEST(ReportErrors, NoBenchmarkRuns) {
  Inputs in;
  ASSERT_TRUE(AddResultFile(Sample("sample-eval.json"), &in).ok());
  auto rep = BuildReport(in, {});
  ASSERT_FALSE(rep.ok());
  EXPECT_HAS(rep.status().message(), "no benchmark runs among the inputs");
}

}  // namespace
}  // namespace fastvlm::report
