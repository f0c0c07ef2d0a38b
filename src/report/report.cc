#include "report/report.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <set>

#include "report/svg.h"

namespace fastvlm::report {
namespace {

constexpr double kMiB = 1024.0 * 1024.0, kGiB = kMiB * 1024.0;

std::string Fixed(double v, int decimals) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.*f", decimals, v);
  std::string s = buf;
  if (s.find_first_not_of("-0.") == std::string::npos && s[0] == '-') s.erase(0, 1);
  return s;
}

// ---------------------------------------------------------------------------------------------
// Tables, rendered both as HTML and as Markdown.

struct Table {
  std::vector<std::string> headers;
  std::vector<bool> numeric;  // right-aligned columns
  std::vector<std::vector<std::string>> rows;
};

std::string TableHtml(const Table& t, const std::string& cls = "") {
  std::string s = "<table" + (cls.empty() ? "" : " class=\"" + cls + "\"") + ">\n<thead><tr>";
  for (size_t c = 0; c < t.headers.size(); ++c)
    s += std::string(c < t.numeric.size() && t.numeric[c] ? "<th class=\"num\">" : "<th>") +
         EscapeXml(t.headers[c]) + "</th>";
  s += "</tr></thead>\n<tbody>\n";
  for (const auto& row : t.rows) {
    s += "<tr>";
    for (size_t c = 0; c < row.size(); ++c)
      s += std::string(c < t.numeric.size() && t.numeric[c] ? "<td class=\"num\">" : "<td>") +
           EscapeXml(row[c]) + "</td>";
    s += "</tr>\n";
  }
  return s + "</tbody>\n</table>\n";
}

std::string MdCell(const std::string& text) {
  std::string out;
  for (char ch : text) {
    if (ch == '|') {
      out += "\\|";
    } else if (ch == '\n' || ch == '\r') {
      out += ' ';
    } else {
      out += ch;
    }
  }
  return out.empty() ? " " : out;
}

std::string TableMd(const Table& t) {
  std::string s = "|";
  for (const std::string& h : t.headers) {
    s += ' ';  // appended piecewise: "x" + f() + "y" trips a GCC 12 -Wrestrict false positive
    s += MdCell(h);
    s += " |";
  }
  s += "\n|";
  for (size_t c = 0; c < t.headers.size(); ++c)
    s += c < t.numeric.size() && t.numeric[c] ? " ---: |" : " --- |";
  s += "\n";
  for (const auto& row : t.rows) {
    s += "|";
    for (const std::string& cell : row) {
      s += ' ';
      s += MdCell(cell);
      s += " |";
    }
    s += "\n";
  }
  return s + "\n";
}

// The page is a sequence of sections; each is written to both outputs.
class Doc {
 public:
  void H(int level, const std::string& text, const std::string& id = "") {
    html_ += "<h" + std::to_string(level) + (id.empty() ? "" : " id=\"" + id + "\"") + ">" +
             EscapeXml(text) + "</h" + std::to_string(level) + ">\n";
    md_ += std::string(level, '#') + " " + text + "\n\n";
  }
  void P(const std::string& text, const std::string& cls = "") {
    html_ += "<p" + (cls.empty() ? "" : " class=\"" + cls + "\"") + ">" + EscapeXml(text) +
             "</p>\n";
    md_ += text + "\n\n";
  }
  void T(const Table& t, const std::string& cls = "") {
    html_ += TableHtml(t, cls);
    md_ += TableMd(t);
  }
  void Html(const std::string& s) { html_ += s; }
  void Md(const std::string& s) { md_ += s; }
  const std::string& html() const { return html_; }
  const std::string& md() const { return md_; }

 private:
  std::string html_, md_;
};

// ---------------------------------------------------------------------------------------------
// Derived numbers.

const Stats* PhaseOf(const TaskResult& t, Phase p) {
  const auto& s = t.phase(p);
  return s ? &*s : nullptr;
}

// Mean over the run's tasks of one statistic of a phase; nullopt when no task has the phase.
std::optional<double> MeanOverTasks(const RunResult& r, Phase p, double Stats::*field) {
  double sum = 0;
  int n = 0;
  for (const TaskResult& t : r.tasks)
    if (const Stats* s = PhaseOf(t, p)) sum += s->*field, ++n;
  if (n == 0) return std::nullopt;
  return sum / n;
}

const TaskResult* FindTask(const RunResult& r, const std::string& task) {
  for (const TaskResult& t : r.tasks)
    if (t.task == task) return &t;
  return nullptr;
}

struct SpeedupPhase {
  Phase phase;
  const char* name;
};
constexpr SpeedupPhase kSpeedupPhases[] = {
    {Phase::kVisionEncode, "vision encode"},
    {Phase::kTtft, "TTFT"},
    {Phase::kDecodeRate, "decode tokens/s"},
    {Phase::kTotal, "total"},
};

// Speedup of `run` over `base` in one phase: geometric mean over the tasks both ran of
// base time / run time (for a rate: run rate / base rate), from medians. `tasks` gets how many
// tasks entered the mean.
std::optional<double> Speedup(const RunResult& run, const RunResult& base, Phase p, int* tasks) {
  double log_sum = 0;
  int n = 0;
  for (const TaskResult& t : run.tasks) {
    const TaskResult* b = FindTask(base, t.task);
    if (!b) continue;
    const Stats *rs = PhaseOf(t, p), *bs = PhaseOf(*b, p);
    if (!rs || !bs || rs->median <= 0 || bs->median <= 0) continue;
    const double ratio =
        GetPhaseInfo(p).is_rate ? rs->median / bs->median : bs->median / rs->median;
    log_sum += std::log(ratio), ++n;
  }
  if (tasks) *tasks = n;
  if (n == 0) return std::nullopt;
  return std::exp(log_sum / n);
}

bool SharesTask(const RunResult& a, const RunResult& b) {
  for (const TaskResult& t : a.tasks)
    if (FindTask(b, t.task)) return true;
  return false;
}

std::vector<std::string> TaskOrder(const Inputs& in) {
  std::vector<std::string> order;
  for (const RunResult& r : in.runs)
    for (const TaskResult& t : r.tasks)
      if (std::find(order.begin(), order.end(), t.task) == order.end()) order.push_back(t.task);
  return order;
}

std::string Lower(std::string s) {
  for (char& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

// Weight types from the most bytes per weight to the fewest; others after, alphabetically.
int WeightRank(const std::string& type) {
  static const char* kOrder[] = {"f32", "fp32", "bf16", "f16", "fp16", "q8_0", "int8", "mixed",
                                 "q4_1", "q4_0", "int4"};
  for (size_t i = 0; i < sizeof kOrder / sizeof kOrder[0]; ++i)
    if (Lower(type) == kOrder[i]) return static_cast<int>(i);
  return 100;
}

std::string FileName(const std::string& path) {
  return std::filesystem::path(path).filename().string();
}

// The benchmark run an accuracy file refers to, by the first rule that finds one: the same model
// path and weight type; the same model path; the same file name and weight type; the first
// fastvlm.cpp run with that weight type; any run with that weight type.
const RunResult* MatchRun(const Inputs& in, const std::string& model, const std::string& wtype) {
  const std::string name = FileName(model);
  auto SameType = [&](const RunResult& r) { return Lower(r.weight_type) == Lower(wtype); };
  const std::function<bool(const RunResult&)> rules[] = {
      [&](const RunResult& r) { return !model.empty() && r.model == model && SameType(r); },
      [&](const RunResult& r) { return !model.empty() && r.model == model; },
      [&](const RunResult& r) { return !name.empty() && FileName(r.model) == name && SameType(r); },
      [&](const RunResult& r) { return r.engine == "fastvlm.cpp" && SameType(r); },
      [&](const RunResult& r) { return SameType(r); },
  };
  for (const auto& rule : rules)
    for (const RunResult& r : in.runs)
      if (rule(r)) return &r;
  return nullptr;
}

// ---------------------------------------------------------------------------------------------
// Charts.

Chart DecodeRateChart(const Inputs& in) {
  Chart ch;
  ch.id = "decode-rate";
  ch.title = "Decode speed by task";
  ch.caption =
      "Decode rate (generated tokens per second, higher is better) for every task, one bar per "
      "run: mean over the repetitions, error bars one standard deviation.";
  BarChart c;
  c.title = ch.title;
  c.subtitle = "mean \xC2\xB1 std over repetitions; higher is better";
  c.x_label = "task";
  c.y_label = "decode rate (tokens/s)";
  c.categories = TaskOrder(in);
  for (size_t i = 0; i < in.runs.size(); ++i) {
    const RunResult& r = in.runs[i];
    BarSeries s;
    s.name = r.label;
    s.color = PaletteColor(i);
    bool any = false;
    for (const std::string& task : c.categories) {
      const TaskResult* t = FindTask(r, task);
      const Stats* st = t ? PhaseOf(*t, Phase::kDecodeRate) : nullptr;
      s.values.push_back(st ? std::optional<double>(st->mean) : std::nullopt);
      s.errors.push_back(st ? st->std : 0);
      any |= st != nullptr;
    }
    if (any) c.series.push_back(std::move(s));
  }
  if (c.series.empty()) {
    ch.omitted = "no run reports decode_tokens_per_s.";
    return ch;
  }
  ch.svg = RenderBarChart(c);
  return ch;
}

Chart LatencyChart(const Inputs& in) {
  Chart ch;
  ch.id = "latency";
  ch.title = "Latency per generation, by phase";
  static const Phase kSegs[] = {Phase::kImageDecode, Phase::kPreprocess, Phase::kVisionEncode,
                                Phase::kProjector,   Phase::kPrefill,    Phase::kDecode};
  StackedBarChart c;
  c.title = ch.title;
  for (Phase p : kSegs) c.segments.push_back(GetPhaseInfo(p).name);
  c.segments.push_back("other (total \xE2\x88\x92 phases)");
  c.segment_colors = {"#56B4E9", "#F0E442", "#0072B2", "#CC79A7", "#E69F00", "#009E73",
                      "#BBBBBB"};
  double max_total = 0;
  std::vector<std::vector<double>> secs;
  for (const RunResult& r : in.runs) {
    for (const TaskResult& t : r.tasks) {
      std::vector<double> row;
      double sum = 0;
      bool any = false;
      for (Phase p : kSegs) {
        const Stats* s = PhaseOf(t, p);
        row.push_back(s ? s->median : 0);
        sum += s ? s->median : 0;
        any |= s != nullptr;
      }
      const Stats* total = PhaseOf(t, Phase::kTotal);
      // The medians of the parts need not add up to the median total: show the rest as "other"
      // when it is more than 0.5% of the total, so the bar ends at the measured total.
      double other = 0;
      if (total && total->median - sum > 0.005 * total->median) other = total->median - sum;
      row.push_back(other);
      if (!any && !total) continue;
      max_total = std::max(max_total, sum + other);
      const bool one_task = r.tasks.size() == 1 && TaskOrder(in).size() == 1;
      c.rows.push_back(one_task ? r.label : r.label + " \xC2\xB7 " + t.task);
      secs.push_back(std::move(row));
    }
  }
  if (c.rows.empty()) {
    ch.omitted = "no run reports any per-phase time.";
    return ch;
  }
  const bool ms = max_total < 2.0;
  const double scale = ms ? 1000.0 : 1.0;
  for (auto& row : secs)
    for (double& v : row) v *= scale;
  c.values = std::move(secs);
  c.x_label = ms ? "time per generation (ms)" : "time per generation (s)";
  c.value_suffix = ms ? " ms" : " s";
  c.subtitle = "median of each phase; one bar per run and task; lower is better";
  ch.caption =
      "Where the time of one generation goes: the median of each phase, stacked in pipeline "
      "order, one bar per run and task (tasks are not averaged: they generate different numbers "
      "of tokens). \"other\" is the median total minus the sum of the phase medians (when over "
      "0.5%), so each bar ends at the measured total. A phase an engine does not report "
      "(llama.cpp runs only prefill and decode) is absent from its bar.";
  ch.svg = RenderStackedBarChart(c);
  return ch;
}

Chart SpeedupChart(const Inputs& in, const RunResult& base, std::string* notes) {
  Chart ch;
  ch.id = "speedup";
  ch.title = "Speedup over " + base.label;
  ch.caption = "Speedup of each run over the baseline \"" + base.label +
               "\" per phase: baseline time / run time (decode: run rate / baseline rate), from "
               "medians, geometric mean over the tasks both runs measured. Above the dashed "
               "1\xC3\x97 line the run is faster.";
  BarChart c;
  c.title = ch.title;
  c.subtitle = "from medians, geometric mean over common tasks; higher is better";
  c.x_label = "phase";
  c.y_label = "speedup (\xC3\x97)";
  c.reference = 1.0;
  c.reference_label = "1\xC3\x97 = " + base.label;
  c.value_suffix = "\xC3\x97";
  for (const SpeedupPhase& sp : kSpeedupPhases) c.categories.push_back(sp.name);
  std::vector<std::string> unmatched;
  for (size_t i = 0; i < in.runs.size(); ++i) {
    const RunResult& r = in.runs[i];
    if (&r == &base) continue;
    if (!SharesTask(r, base)) {
      unmatched.push_back(r.label);
      continue;
    }
    BarSeries s;
    s.name = r.label;
    s.color = PaletteColor(i);
    bool any = false;
    for (const SpeedupPhase& sp : kSpeedupPhases) {
      s.values.push_back(Speedup(r, base, sp.phase, nullptr));
      any |= s.values.back().has_value();
    }
    if (any) c.series.push_back(std::move(s));
  }
  if (!unmatched.empty()) {
    std::string list;
    for (const std::string& l : unmatched) list += (list.empty() ? "" : ", ") + l;
    *notes = "Not in the speedup chart (no task in common with the baseline): " + list + ".";
    ch.caption += " " + *notes;
  }
  if (in.runs.size() < 2) {
    ch.omitted = "only one run: there is nothing to compare with the baseline.";
  } else if (c.series.empty()) {
    ch.omitted = "no run shares a task and a phase with the baseline \"" + base.label + "\".";
  } else {
    ch.svg = RenderBarChart(c);
  }
  return ch;
}

Chart MemoryChart(const Inputs& in) {
  Chart ch;
  ch.id = "memory";
  ch.title = "Memory by weight type";
  std::vector<std::string> types;
  double max_bytes = 0;
  for (const RunResult& r : in.runs) {
    if (!r.peak_rss_bytes && !r.model_bytes) continue;
    const std::string t = Lower(r.weight_type);
    if (std::find(types.begin(), types.end(), t) == types.end()) types.push_back(t);
    max_bytes = std::max<double>(max_bytes, std::max(r.peak_rss_bytes.value_or(0),
                                                     r.model_bytes.value_or(0)));
  }
  if (types.empty()) {
    ch.omitted = "no run reports peak_rss_bytes or model_bytes.";
    return ch;
  }
  std::stable_sort(types.begin(), types.end(), [](const std::string& a, const std::string& b) {
    return WeightRank(a) != WeightRank(b) ? WeightRank(a) < WeightRank(b) : a < b;
  });
  const bool gib = max_bytes >= kGiB;
  const double unit = gib ? kGiB : kMiB;
  BarChart c;
  c.title = ch.title;
  c.subtitle = "peak RSS and model file size; largest over runs of one engine and weight type";
  c.x_label = "weight type (language model)";
  c.y_label = gib ? "memory (GiB)" : "memory (MiB)";
  c.categories = types;
  std::vector<std::string> engines;
  for (const RunResult& r : in.runs)
    if (std::find(engines.begin(), engines.end(), r.engine) == engines.end())
      engines.push_back(r.engine);
  size_t color = 0;
  for (const std::string& engine : engines) {
    for (int kind = 0; kind < 2; ++kind) {  // 0: peak RSS, 1: model file
      BarSeries s;
      s.name = std::string(kind == 0 ? "peak RSS" : "model file") + " (" + engine + ")";
      bool any = false;
      for (const std::string& type : types) {
        std::optional<double> v;
        for (const RunResult& r : in.runs) {
          if (r.engine != engine || Lower(r.weight_type) != type) continue;
          const auto& b = kind == 0 ? r.peak_rss_bytes : r.model_bytes;
          if (b) v = std::max(v.value_or(0), *b / unit);
        }
        s.values.push_back(v);
        any |= v.has_value();
      }
      if (!any) continue;
      s.color = PaletteColor(color++);
      c.series.push_back(std::move(s));
    }
  }
  ch.caption =
      "Peak resident set size of each engine (and the size of its model file, where the result "
      "says) against the weight type of the language-model matrices. Lower is better.";
  ch.svg = RenderBarChart(c);
  return ch;
}

struct AccuracyPoint {
  std::string file, run, series, what;
  double y = 0;  // percent
};

Chart AccuracyChart(const Inputs& in, std::vector<std::string>* unmatched) {
  Chart ch;
  ch.id = "accuracy";
  ch.title = "Accuracy against speed";
  ch.caption =
      "Each accuracy file placed at the decode rate of the benchmark run it belongs to (matched by "
      "model path, else by weight type): up and to the right is better. Top-1 agreement is the "
      "share of positions where the candidate's most likely next token equals the reference's "
      "(fastvlm eval); task accuracy is the mean over the tasks of fastvlm eval-tasks.";
  if (in.eval.empty() && in.eval_tasks.empty()) {
    ch.omitted =
        "no accuracy results were given. Pass fastvlm.eval.v1 files (from `fastvlm eval`) or "
        "fastvlm.eval_tasks.v1 files (from `fastvlm eval-tasks`) to `fastvlm report` to plot "
        "accuracy against decode speed.";
    return ch;
  }
  ScatterChart c;
  c.title = ch.title;
  c.subtitle = "x: decode rate (median, mean over tasks); y: accuracy (%); up and right is better";
  c.x_label = "decode rate (tokens/s)";
  c.y_label = "accuracy (%)";
  c.y_max = 100;
  int s_top1 = -1, s_tasks = -1;
  auto AddPoint = [&](int* series, const char* name, const RunResult* r, double y,
                      const std::string& file) {
    if (!r) {
      unmatched->push_back(file);
      return;
    }
    const auto x = MeanOverTasks(*r, Phase::kDecodeRate, &Stats::median);
    if (!x) {
      unmatched->push_back(file + " (run \"" + r->label + "\" has no decode rate)");
      return;
    }
    if (*series < 0) {
      *series = static_cast<int>(c.series.size());
      c.series.push_back(name);
    }
    c.points.push_back({r->label, *x, y * 100, static_cast<size_t>(*series)});
  };
  for (const EvalFile& e : in.eval)
    AddPoint(&s_top1, "top-1 agreement with the reference",
             MatchRun(in, e.candidate, e.candidate_weight_type), e.top1_agreement, e.path);
  for (const EvalTasksFile& e : in.eval_tasks) {
    if (e.tasks.empty()) continue;
    double sum = 0;
    for (const TaskAccuracy& t : e.tasks) sum += t.accuracy;
    AddPoint(&s_tasks, "task accuracy (mean over tasks)", MatchRun(in, e.model, e.weight_type),
             sum / e.tasks.size(), e.path);
  }
  if (c.points.empty()) {
    ch.omitted = "no accuracy file could be matched to a benchmark run with a decode rate (by "
                 "model path or weight type).";
    return ch;
  }
  if (!unmatched->empty()) {
    std::string list;
    for (const std::string& f : *unmatched) list += (list.empty() ? "" : ", ") + f;
    ch.caption += " Not plotted (no matching run): " + list + ".";
  }
  ch.svg = RenderScatterChart(c);
  return ch;
}

// ---------------------------------------------------------------------------------------------
// Tables.

std::string Opt(const std::string& s) { return s.empty() ? "\xE2\x80\x94" : s; }
const char* kDash = "\xE2\x80\x94";

std::string Bytes(std::optional<int64_t> b) {
  if (!b) return kDash;
  return Fixed(*b / kMiB, 1);
}

Table SystemTable(const Inputs& in) {
  Table t;
  t.headers = {"file", "engine", "CPU", "logical CPUs", "memory (GiB)", "OS", "compiler",
               "commit", "SIMD target", "build", "created"};
  t.numeric = {false, false, false, true, true, false, false, false, false, false, false};
  for (const BenchFile& f : in.bench) {
    const SystemInfo& s = f.system;
    t.rows.push_back({FileName(f.path),
                      f.engine + (f.engine_version.empty() ? "" : " " + f.engine_version), s.cpu,
                      std::to_string(s.logical_cpus),
                      s.memory_bytes ? Fixed(*s.memory_bytes / kGiB, 1) : kDash, s.os,
                      Opt(s.compiler), Opt(s.commit), Opt(s.simd_target), Opt(s.build_type),
                      f.created});
  }
  return t;
}

Table RunsTable(const Inputs& in) {
  Table t;
  t.headers = {"run", "engine", "weight type", "vision type", "threads", "tokens", "warm-up",
               "repetitions", "load cold (s)", "load warm (s, median)",
               "load warm (s, mean \xC2\xB1 std)",
               "peak RSS (MiB)", "model file (MiB)", "model"};
  t.numeric = {false, false, false, false, true, true, true, true, true, true, true, true, true,
               false};
  for (const RunResult& r : in.runs) {
    t.rows.push_back(
        {r.label, r.engine, r.weight_type, r.vision_type.value_or(kDash),
         std::to_string(r.threads), std::to_string(r.tokens),
         r.warmup ? std::to_string(*r.warmup) : kDash, std::to_string(r.repetitions),
         r.load_cold_s ? Fixed(*r.load_cold_s, 3) : kDash,
         r.load_warm_s ? Fixed(r.load_warm_s->median, 3) : kDash,
         r.load_warm_s ? Fixed(r.load_warm_s->mean, 3) + " \xC2\xB1 " + Fixed(r.load_warm_s->std, 3)
                       : kDash,
         Bytes(r.peak_rss_bytes), Bytes(r.model_bytes), r.model});
  }
  return t;
}

// One row per phase the task reports: times in ms, rates in tokens/s, two decimals.
Table PhaseTable(const TaskResult& task) {
  Table t;
  t.headers = {"phase", "unit", "median", "mean \xC2\xB1 std", "p95", "min", "max", "n"};
  t.numeric = {false, false, true, true, true, true, true, true};
  for (int i = 0; i < kNumPhases; ++i) {
    const PhaseInfo& info = GetPhaseInfo(static_cast<Phase>(i));
    const Stats* s = PhaseOf(task, info.phase);
    if (!s) continue;
    const double k = info.is_rate ? 1.0 : 1000.0;
    t.rows.push_back({info.name, info.is_rate ? "tokens/s" : "ms", Fixed(s->median * k, 2),
                      Fixed(s->mean * k, 2) + " \xC2\xB1 " + Fixed(s->std * k, 2),
                      Fixed(s->p95 * k, 2), Fixed(s->min * k, 2), Fixed(s->max * k, 2),
                      std::to_string(s->n)});
  }
  return t;
}

Table SummaryTable(const Inputs& in, const RunResult& base) {
  Table t;
  t.headers = {"run", "engine", "weight type", "threads", "decode (tokens/s, median)",
               "TTFT (ms, median)", "total (ms, median)"};
  t.numeric = {false, false, false, true, true, true, true};
  for (const SpeedupPhase& sp : kSpeedupPhases) {
    t.headers.push_back(std::string("speedup: ") + sp.name);
    t.numeric.push_back(true);
  }
  for (const RunResult& r : in.runs) {
    auto Median = [&](Phase p, double k) {
      const auto v = MeanOverTasks(r, p, &Stats::median);
      return v ? Fixed(*v * k, 2) : std::string(kDash);
    };
    std::vector<std::string> row = {r.label, r.engine, r.weight_type, std::to_string(r.threads),
                                    Median(Phase::kDecodeRate, 1), Median(Phase::kTtft, 1000),
                                    Median(Phase::kTotal, 1000)};
    for (const SpeedupPhase& sp : kSpeedupPhases) {
      if (&r == &base) {
        row.push_back("baseline");
        continue;
      }
      const auto v = Speedup(r, base, sp.phase, nullptr);
      row.push_back(v ? Fixed(*v, 2) + "\xC3\x97" : std::string(kDash));
    }
    t.rows.push_back(std::move(row));
  }
  return t;
}

const char* kCss = R"css(
body { font-family: Helvetica, Arial, sans-serif; margin: 24px auto; max-width: 1200px;
       padding: 0 16px; color: #222; line-height: 1.4; }
h1 { font-size: 1.6em; } h2 { margin-top: 1.8em; border-bottom: 1px solid #ddd; }
h3 { font-size: 1.05em; margin-bottom: 0.3em; }
figure { margin: 1.2em 0; } figcaption { color: #444; font-size: 0.92em; max-width: 900px; }
figure svg { max-width: 100%; height: auto; border: 1px solid #eee; }
.omitted { background: #fff8e5; border-left: 4px solid #E69F00; padding: 8px 12px; }
table { border-collapse: collapse; margin: 0.5em 0 1em; font-size: 0.88em; }
th, td { border: 1px solid #ddd; padding: 3px 8px; vertical-align: top; }
th { background: #f4f4f4; text-align: left; } .num { text-align: right; white-space: nowrap; }
.note { color: #555; font-size: 0.92em; }
.wide { display: block; overflow-x: auto; }
)css";

// Counts the drawn charts that the browser laid out with a non-empty box: the e2e test reads
// the attribute from the DOM to know the SVG was parsed and rendered.
const char* kRenderCheckScript = R"js(
(function () {
  var n = 0;
  document.querySelectorAll('svg.chart').forEach(function (s) {
    var b = s.getBBox();
    if (b.width > 0 && b.height > 0) n++;
  });
  document.body.setAttribute('data-charts-rendered', String(n));
})();
)js";

}  // namespace

StatusOr<Report> BuildReport(const Inputs& in, const ReportOptions& opt) {
  if (in.runs.empty())
    return Status::FromString(
        "no benchmark runs among the inputs: give at least one fastvlm.bench.v1 file with runs "
        "(from fastvlm bench or tools/peers/)");
  const RunResult* base = nullptr;
  if (!opt.baseline.empty()) {
    std::string labels;
    for (const RunResult& r : in.runs) {
      if (r.label == opt.baseline) base = &r;
      labels += (labels.empty() ? "'" : ", '") + r.label + "'";
    }
    if (!base)
      return Status::FromString("--baseline: no run is labelled '" + opt.baseline +
                                "'; the runs are " + labels);
  } else {
    for (const RunResult& r : in.runs)
      if (!base && r.engine == "pytorch") base = &r;
    if (!base) base = &in.runs[0];
  }

  Report rep;
  rep.baseline = base->label;
  std::string speedup_note;
  std::vector<std::string> unmatched_accuracy;
  rep.charts.push_back(DecodeRateChart(in));
  rep.charts.push_back(LatencyChart(in));
  rep.charts.push_back(SpeedupChart(in, *base, &speedup_note));
  rep.charts.push_back(MemoryChart(in));
  rep.charts.push_back(AccuracyChart(in, &unmatched_accuracy));

  Doc doc;
  doc.H(1, opt.title);
  {
    std::string files;
    for (const BenchFile& f : in.bench) files += (files.empty() ? "" : ", ") + FileName(f.path);
    for (const EvalFile& f : in.eval) files += (files.empty() ? "" : ", ") + FileName(f.path);
    for (const EvalTasksFile& f : in.eval_tasks)
      files += (files.empty() ? "" : ", ") + FileName(f.path);
    doc.P(std::to_string(in.runs.size()) + " runs from " + std::to_string(in.bench.size()) +
              " benchmark files and " + std::to_string(in.eval.size() + in.eval_tasks.size()) +
              " accuracy files (" + files + "). Baseline for speedups: \"" + base->label +
              "\". Times are per generation; medians unless stated otherwise.",
          "note");
  }
  doc.H(2, "Summary", "summary");
  doc.P("Medians, averaged over each run's tasks; speedups as in the speedup chart (over \"" +
            base->label + "\", geometric mean over common tasks).",
        "note");
  doc.Html("<div class=\"wide\">");
  doc.T(SummaryTable(in, *base));
  doc.Html("</div>");
  if (!speedup_note.empty()) doc.P(speedup_note, "note");

  doc.H(2, "Charts", "charts");
  for (const Chart& c : rep.charts) {
    doc.H(3, c.title, "chart-" + c.id);
    if (c.svg.empty()) {
      doc.Html("<figure class=\"omitted\"><p>Chart omitted: " + EscapeXml(c.omitted) +
               "</p></figure>\n");
      doc.Md("*Chart omitted: " + c.omitted + "*\n\n");
      continue;
    }
    doc.Html("<figure>\n" + c.svg + "<figcaption>" + EscapeXml(c.caption) +
             "</figcaption>\n</figure>\n");
    doc.Md("![" + c.title + "](" + c.file() + ")\n\n" + c.caption + "\n\n");
  }

  doc.H(2, "Runs", "runs");
  doc.Html("<div class=\"wide\">");
  doc.T(RunsTable(in));
  doc.Html("</div>");

  doc.H(2, "Phases per run and task", "phases");
  doc.P("Per generation: times in milliseconds, rates in tokens per second; statistics over the "
        "measured repetitions (warm-up excluded).",
        "note");
  for (const RunResult& r : in.runs) {
    for (const TaskResult& t : r.tasks) {
      doc.H(3, r.label + " \xE2\x80\x94 " + t.task);
      doc.P(std::to_string(t.prompt_tokens) + " prompt tokens, " +
                std::to_string(t.generated_tokens) + " generated tokens, " +
                std::to_string(t.num_samples) + " samples. Prompt: \"" + t.prompt + "\"",
            "note");
      doc.T(PhaseTable(t));
    }
  }

  if (!in.eval.empty() || !in.eval_tasks.empty()) {
    doc.H(2, "Accuracy", "accuracy");
    if (!in.eval.empty()) {
      Table t;
      t.headers = {"file", "candidate", "weight type", "run", "KL mean", "KL p99", "KL max",
                   "top-1 agreement (%)", "greedy prefix (mean)", "perplexity ref",
                   "perplexity cand"};
      t.numeric = {false, false, false, false, true, true, true, true, true, true, true};
      for (const EvalFile& e : in.eval) {
        const RunResult* r = MatchRun(in, e.candidate, e.candidate_weight_type);
        t.rows.push_back({FileName(e.path), e.candidate, e.candidate_weight_type,
                          r ? r->label : kDash, FormatSig(e.kl_mean, 4), FormatSig(e.kl_p99, 4),
                          FormatSig(e.kl_max, 4), Fixed(e.top1_agreement * 100, 2),
                          Fixed(e.greedy_prefix_mean, 2),
                          e.perplexity_reference ? Fixed(*e.perplexity_reference, 3) : kDash,
                          e.perplexity_candidate ? Fixed(*e.perplexity_candidate, 3) : kDash});
      }
      doc.Html("<div class=\"wide\">");
      doc.T(t);
      doc.Html("</div>");
    }
    if (!in.eval_tasks.empty()) {
      Table t;
      t.headers = {"file", "model", "weight type", "run", "task", "metric", "n", "accuracy (%)"};
      t.numeric = {false, false, false, false, false, false, true, true};
      for (const EvalTasksFile& e : in.eval_tasks) {
        const RunResult* r = MatchRun(in, e.model, e.weight_type);
        for (const TaskAccuracy& a : e.tasks)
          t.rows.push_back({FileName(e.path), e.model, e.weight_type, r ? r->label : kDash,
                            a.task, Opt(a.metric), std::to_string(a.n),
                            Fixed(a.accuracy * 100, 2)});
      }
      doc.T(t);
    }
  }

  doc.H(2, "System", "system");
  doc.Html("<div class=\"wide\">");
  doc.T(SystemTable(in));
  doc.Html("</div>");
  for (const BenchFile& f : in.bench)
    if (!f.command.empty()) doc.P(FileName(f.path) + " was produced by: " + f.command, "note");

  rep.markdown = doc.md();
  rep.html = "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
             "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n"
             "<title>" + EscapeXml(opt.title) + "</title>\n<style>" + kCss +
             "</style>\n</head>\n<body data-charts-expected=\"" + std::to_string(rep.drawn()) +
             "\">\n" + doc.html() + "<script>" + kRenderCheckScript +
             "</script>\n</body>\n</html>\n";
  return rep;
}

Status WriteReport(const Report& rep, const std::string& dir) {
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  if (ec) return Status::FromString(dir + ": cannot create the output folder: " + ec.message());
  auto Write = [&](const std::string& name, const std::string& text) -> Status {
    const std::string path = (std::filesystem::path(dir) / name).string();
    std::ofstream out(path, std::ios::binary | std::ios::trunc);
    out.write(text.data(), static_cast<std::streamsize>(text.size()));
    out.close();
    if (!out) return Status::FromString(path + ": cannot write");
    return Status::Ok();
  };
  RETURN_IF_ERROR(Write("index.html", rep.html));
  RETURN_IF_ERROR(Write("report.md", rep.markdown));
  for (const Chart& c : rep.charts) {
    if (c.svg.empty()) {  // no stale chart from an earlier report into the same folder
      std::filesystem::remove(std::filesystem::path(dir) / c.file(), ec);
      continue;
    }
    RETURN_IF_ERROR(Write(c.file(), "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n" + c.svg));
  }
  return Status::Ok();
}

}  // namespace fastvlm::report
