// fastvlm bench: the study's five tasks (colour, shape, text, count, describe) on synthetic images,
// or your own images and prompts, with fixed-length generations; per-phase statistics for every
// combination of the comma-list flags, like llama-bench. Output schema: docs/bench-schema.md
// (fastvlm.bench.v1, docs/schema/bench.v1.schema.json).
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/utsname.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>
#include <vector>

#include "base/timer.h"
#include "cli/commands.h"
#include "cli/options.h"
#include "fastvlm_version.h"
#include "image/synth.h"
#include "kernels/ops.h"
#include "runtime/engine.h"

namespace fastvlm::cli {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

// --- small helpers -------------------------------------------------------------------------------

std::vector<std::string> SplitList(const std::string& s) {
  std::vector<std::string> out;
  std::string cur;
  for (char c : s) {
    if (c == ',') {
      if (!cur.empty()) out.push_back(cur);
      cur.clear();
    } else if (c != ' ') {
      cur += c;
    }
  }
  if (!cur.empty()) out.push_back(cur);
  return out;
}

Status ParseIntList(const std::string& flag, const std::string& s, int lo, int hi,
                    std::vector<int>* out) {
  out->clear();
  for (const std::string& item : SplitList(s)) {
    char* end = nullptr;
    const long v = std::strtol(item.c_str(), &end, 10);
    if (item.empty() || *end != '\0' || v < lo || v > hi)
      return Status::Error("%s: '%s' is not an integer in [%d, %d] (a comma list, e.g. 1,2)",
                           flag.c_str(), item.c_str(), lo, hi);
    out->push_back(static_cast<int>(v));
  }
  if (out->empty()) return Status::Error("%s: empty list", flag.c_str());
  return Status::Ok();
}

// Summary of samples: sample standard deviation (n-1), p95 by linear interpolation between
// closest ranks (numpy's default), as the schema's "stats" object.
json Stats(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  const size_t n = v.size();
  double mean = 0;
  for (double x : v) mean += x;
  mean /= n;
  double var = 0;
  for (double x : v) var += (x - mean) * (x - mean);
  const double sd = n > 1 ? std::sqrt(var / (n - 1)) : 0.0;
  auto quantile = [&](double q) {
    const double pos = q * (n - 1);
    const size_t i = static_cast<size_t>(pos);
    const double f = pos - i;
    return i + 1 < n ? v[i] * (1 - f) + v[i + 1] * f : v[i];
  };
  return json{{"n", n},           {"mean", mean},       {"std", sd},       {"median", quantile(0.5)},
              {"p95", quantile(0.95)}, {"min", v.front()}, {"max", v.back()}};
}

std::string ReadFirstLineWith(const char* path, const std::string& key) {
  std::ifstream f(path);
  std::string line;
  while (std::getline(f, line)) {
    if (line.rfind(key, 0) == 0) {
      const size_t c = line.find(':');
      if (c == std::string::npos) continue;
      std::string v = line.substr(c + 1);
      v.erase(0, v.find_first_not_of(" \t"));
      return v;
    }
  }
  return "";
}

json SystemInfo() {
  json s;
  std::string cpu = ReadFirstLineWith("/proc/cpuinfo", "model name");
  if (cpu.empty()) cpu = ReadFirstLineWith("/proc/cpuinfo", "Hardware");
  if (cpu.empty()) cpu = "unknown";
  s["cpu"] = cpu;
  s["logical_cpus"] = std::max(1L, sysconf(_SC_NPROCESSORS_ONLN));
  const std::string mem = ReadFirstLineWith("/proc/meminfo", "MemTotal");  // "24576000 kB"
  if (!mem.empty()) s["memory_bytes"] = static_cast<int64_t>(std::atoll(mem.c_str())) * 1024;
  struct utsname u;
  s["os"] = uname(&u) == 0 ? std::string(u.sysname) + " " + u.release + " " + u.machine : "unknown";
#if defined(__clang__)
  s["compiler"] = std::string("clang ") + __clang_version__;
#elif defined(__GNUC__)
  s["compiler"] = std::string("GCC ") + __VERSION__;
#endif
  s["commit"] = FASTVLM_GIT_COMMIT;
  s["simd_target"] = kernels::ActiveTargetName();
#ifdef NDEBUG
  s["build_type"] = "Release";
#else
  s["build_type"] = "Debug";
#endif
  return s;
}

std::string UtcNow() {
  const std::time_t t = std::time(nullptr);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", std::gmtime(&t));
  return buf;
}

// The files a model path loads: the GGUF file, or the folder's regular files.
std::vector<std::string> ModelFiles(const std::string& model) {
  std::vector<std::string> files;
  std::error_code ec;
  if (fs::is_directory(model, ec)) {
    for (const auto& e : fs::directory_iterator(model, ec))
      if (e.is_regular_file(ec)) files.push_back(e.path().string());
  } else {
    files.push_back(model);
  }
  return files;
}

int64_t ModelBytes(const std::string& model) {
  int64_t total = 0;
  for (const auto& f : ModelFiles(model)) {
    std::error_code ec;
    const auto n = fs::file_size(f, ec);
    if (!ec) total += static_cast<int64_t>(n);
  }
  return total;
}

// Asks the kernel to drop the model's files from the page cache, then checks with mincore()
// how much stayed resident. Returns the resident fraction (0 = fully evicted).
double EvictFromPageCache(const std::string& model) {
  int64_t pages = 0, resident = 0;
  const long page = sysconf(_SC_PAGESIZE);
  for (const auto& f : ModelFiles(model)) {
    const int fd = open(f.c_str(), O_RDONLY);
    if (fd < 0) continue;
    struct stat st;
    if (fstat(fd, &st) == 0 && st.st_size > 0) {
      fdatasync(fd);
      posix_fadvise(fd, 0, 0, POSIX_FADV_DONTNEED);
      void* p = mmap(nullptr, st.st_size, PROT_READ, MAP_SHARED, fd, 0);
      if (p != MAP_FAILED) {
        const int64_t n = (st.st_size + page - 1) / page;
        std::vector<unsigned char> vec(n);
        if (mincore(p, st.st_size, vec.data()) == 0) {
          pages += n;
          for (unsigned char c : vec) resident += c & 1;
        }
        munmap(p, st.st_size);
      }
    }
    close(fd);
  }
  return pages ? static_cast<double>(resident) / pages : 1.0;
}

// Peak resident set size since the last ResetPeakRss() (Linux VmHWM; clear_refs "5" resets it).
void ResetPeakRss() {
  std::ofstream f("/proc/self/clear_refs");
  if (f) f << "5";
}
int64_t PeakRssBytes() {
  const std::string v = ReadFirstLineWith("/proc/self/status", "VmHWM");
  return v.empty() ? -1 : static_cast<int64_t>(std::atoll(v.c_str())) * 1024;
}

// --- the workload ----------------------------------------------------------------------------------

struct Task {
  std::string name;
  std::string prompt;
  std::vector<std::string> images;  // one per sample (cycled); empty for "llm"
};

struct Sample {
  std::string image;
  int prompt_tokens = 0, generated = 0;
  ImageStats img;
  GenerationStats gen;
  double total = 0;
};

struct Combo {
  std::string model;
  int threads, tokens, image_size;
};

struct Args {
  std::string models, threads = "0", tokens = "100", image_sizes = "0";
  std::string tasks = "colour,shape,text,count,describe";
  std::string images_dir, prompts_file;
  int repetitions = 5, warmup = 1, load_repetitions = 3, synth_size = 512, prompt_tokens = 256;
  uint64_t seed = 1;
  bool stop_at_eos = false, no_cold = false, exact = false, full_logits = false, no_panels = false;
  std::string output = "table", out;
  std::string font;
};

// The ids of a raw (untemplated) prompt of exactly n tokens for the language-model-only task.
std::vector<int32_t> LlmPrompt(const Tokenizer& tok, int n) {
  static const char* kText =
      "The quick brown fox jumps over the lazy dog while the committee reviews the quarterly "
      "report on renewable energy, shipping logistics and the history of printing presses. ";
  std::vector<int32_t> ids;
  const std::vector<int32_t> piece = tok.Encode(kText);
  while (static_cast<int>(ids.size()) < n) ids.insert(ids.end(), piece.begin(), piece.end());
  ids.resize(n);
  return ids;
}

Status RunSample(Engine& e, const Task& task, const std::vector<int32_t>& ids,
                 const std::string& image, const GenerationOptions& go, Sample* s) {
  e.ResetContext();
  s->image = image;
  const double t0 = NowSeconds();
  if (!image.empty()) {
    ImageOptions io;
    if (Status st = e.EncodeImageFile(image, io, &s->img); !st.ok()) return st;
  }
  Status st = e.Generate(ids, go, [](const std::string&, int32_t) { return true; }, &s->gen);
  s->total = NowSeconds() - t0;
  if (!st.ok()) return Status::Error("task %s: %s", task.name.c_str(), st.message().c_str());
  s->prompt_tokens = s->gen.prompt_tokens;
  s->generated = s->gen.generated_tokens;
  return Status::Ok();
}

json TaskJson(const Task& task, const std::vector<Sample>& samples, bool vision) {
  std::vector<double> dec, pre, enc, proj, pf, pfr, ttft, dcs, dtr, tot;
  json js = json::array();
  std::vector<int> ptoks, gtoks;
  for (const Sample& s : samples) {
    const double image_total = s.img.total();
    const int decoded = std::max(0, s.gen.generated_tokens - 1);
    pf.push_back(s.gen.prefill_seconds);
    pfr.push_back(s.gen.prompt_tokens / std::max(s.gen.prefill_seconds, 1e-9));
    ttft.push_back(image_total + s.gen.ttft_seconds);
    dcs.push_back(s.gen.decode_seconds);
    if (decoded > 0) dtr.push_back(decoded / std::max(s.gen.decode_seconds, 1e-9));
    tot.push_back(s.total);
    ptoks.push_back(s.prompt_tokens);
    gtoks.push_back(s.generated);
    json j = {{"image", s.image.empty() ? json(nullptr) : json(s.image)},
              {"prompt_tokens", s.prompt_tokens},
              {"generated_tokens", s.generated},
              {"prefill_s", s.gen.prefill_seconds},
              {"ttft_s", image_total + s.gen.ttft_seconds},
              {"decode_s", s.gen.decode_seconds},
              {"total_s", s.total}};
    if (vision) {
      dec.push_back(s.img.decode);
      pre.push_back(s.img.preprocess);
      enc.push_back(s.img.encoder);
      proj.push_back(s.img.projector);
      j["image_decode_s"] = s.img.decode;
      j["preprocess_s"] = s.img.preprocess;
      j["vision_encode_s"] = s.img.encoder;
      j["projector_s"] = s.img.projector;
    }
    js.push_back(j);
  }
  json ph;
  if (vision) {
    ph["image_decode_s"] = Stats(dec);
    ph["preprocess_s"] = Stats(pre);
    ph["vision_encode_s"] = Stats(enc);
    ph["projector_s"] = Stats(proj);
  }
  ph["prefill_s"] = Stats(pf);
  ph["prefill_tokens_per_s"] = Stats(pfr);
  ph["ttft_s"] = Stats(ttft);
  ph["decode_s"] = Stats(dcs);
  if (!dtr.empty()) ph["decode_tokens_per_s"] = Stats(dtr);
  ph["total_s"] = Stats(tot);
  std::sort(ptoks.begin(), ptoks.end());
  std::sort(gtoks.begin(), gtoks.end());
  return json{{"task", task.name},
              {"prompt", task.prompt},
              {"prompt_tokens", ptoks[ptoks.size() / 2]},
              {"generated_tokens", gtoks[gtoks.size() / 2]},
              {"phases", ph},
              {"samples", js}};
}

// --- output ----------------------------------------------------------------------------------------

double Med(const json& phases, const char* key) {
  return phases.contains(key) ? phases[key]["median"].get<double>() : NAN;
}
double Mean(const json& phases, const char* key) {
  return phases.contains(key) ? phases[key]["mean"].get<double>() : NAN;
}
double Std(const json& phases, const char* key) {
  return phases.contains(key) ? phases[key]["std"].get<double>() : NAN;
}

std::string Fmt(const char* f, double v) {
  if (std::isnan(v)) return "-";
  char buf[64];
  std::snprintf(buf, sizeof buf, f, v);
  return buf;
}

// Rows of the summary table (terminal and Markdown share them).
std::vector<std::vector<std::string>> SummaryRows(const json& doc) {
  std::vector<std::vector<std::string>> rows;
  rows.push_back({"run", "task", "load warm s", "vision s", "prefill tok/s", "TTFT s",
                  "decode tok/s", "total s (mean ± std)", "peak RSS MiB"});
  for (const json& run : doc["runs"]) {
    const double load = run["load"].contains("warm_s") ? run["load"]["warm_s"]["median"].get<double>() : NAN;
    const double rss = run["peak_rss_bytes"].is_number() ? run["peak_rss_bytes"].get<double>() / (1 << 20) : NAN;
    for (const json& t : run["tasks"]) {
      const json& p = t["phases"];
      rows.push_back({run["label"].get<std::string>(), t["task"].get<std::string>(),
                      Fmt("%.3f", load), Fmt("%.3f", Med(p, "vision_encode_s")),
                      Fmt("%.1f", Med(p, "prefill_tokens_per_s")), Fmt("%.3f", Med(p, "ttft_s")),
                      Fmt("%.2f", Med(p, "decode_tokens_per_s")),
                      Fmt("%.3f", Mean(p, "total_s")) + " ± " + Fmt("%.3f", Std(p, "total_s")),
                      Fmt("%.0f", rss)});
    }
  }
  return rows;
}

std::string Table(const json& doc) {
  const auto rows = SummaryRows(doc);
  std::vector<size_t> w(rows[0].size(), 0);
  auto width = [](const std::string& s) {  // display width: count UTF-8 lead bytes ("±")
    size_t n = 0;
    for (unsigned char c : s) n += (c & 0xC0) != 0x80;
    return n;
  };
  for (const auto& r : rows)
    for (size_t i = 0; i < r.size(); ++i) w[i] = std::max(w[i], width(r[i]));
  std::string out;
  for (size_t k = 0; k < rows.size(); ++k) {
    for (size_t i = 0; i < rows[k].size(); ++i) {
      const std::string& c = rows[k][i];
      const std::string pad(w[i] - width(c), ' ');
      out += (i ? "  " : "") + (i < 2 ? c + pad : pad + c);
    }
    out += "\n";
    if (k == 0) {
      for (size_t i = 0; i < w.size(); ++i) out += (i ? "  " : "") + std::string(w[i], '-');
      out += "\n";
    }
  }
  return out;
}

std::string Markdown(const json& doc) {
  const auto rows = SummaryRows(doc);
  std::string out = "Benchmark: " + doc["system"]["cpu"].get<std::string>() + ", commit " +
                    doc["system"]["commit"].get<std::string>() + ", " + doc["created"].get<std::string>() + "\n\n";
  for (size_t k = 0; k < rows.size(); ++k) {
    out += "|";
    for (const auto& c : rows[k]) out += " " + c + " |";
    out += "\n";
    if (k == 0) {
      out += "|";
      for (size_t i = 0; i < rows[k].size(); ++i) out += i < 2 ? "---|" : "---:|";
      out += "\n";
    }
  }
  return out;
}

std::string Csv(const json& doc) {
  std::string out = "label,model,weight_type,threads,tokens,image_size,task,phase,n,mean,std,median,p95,min,max\n";
  auto q = [](const std::string& s) {
    std::string r = "\"";
    for (char c : s) r += c == '"' ? std::string("\"\"") : std::string(1, c);
    return r + "\"";
  };
  for (const json& run : doc["runs"]) {
    const std::string head = q(run["label"]) + "," + q(run["model"]) + "," + q(run["weight_type"]) + "," +
                             std::to_string(run["threads"].get<int>()) + "," +
                             std::to_string(run["tokens"].get<int>()) + "," +
                             (run["image_size"].is_number() ? std::to_string(run["image_size"].get<int>()) : "") + ",";
    auto row = [&](const std::string& task, const std::string& phase, const json& s) {
      char buf[256];
      std::snprintf(buf, sizeof buf, "%d,%.9g,%.9g,%.9g,%.9g,%.9g,%.9g\n", s["n"].get<int>(),
                    s["mean"].get<double>(), s["std"].get<double>(), s["median"].get<double>(),
                    s["p95"].get<double>(), s["min"].get<double>(), s["max"].get<double>());
      out += head + q(task) + "," + phase + "," + buf;
    };
    if (run["load"].contains("warm_s")) row("", "load_warm_s", run["load"]["warm_s"]);
    for (const json& t : run["tasks"])
      for (const auto& [phase, s] : t["phases"].items()) row(t["task"], phase, s);
  }
  return out;
}

}  // namespace

Command RegisterBench(CLI::App& app) {
  auto a = std::make_shared<Args>();
  app.description(
      "Benchmark the whole pipeline: model load (cold and warm), image decode + preprocess, vision "
      "encode, projector, prefill, time to first token, decode tokens/s and total per generation, "
      "with mean ± std, median and p95 over --repetitions, and peak RSS. Every list flag takes a "
      "comma list and all combinations run (like llama-bench). Default workload: the study's five "
      "tasks on synthetic images (fastvlm synth); a text-only model runs the task 'llm' (a raw "
      "prompt of --prompt-tokens tokens).");
  app.add_option("-m,--model", a->models, "Model folder(s) or GGUF file(s), comma-separated")
      ->required();
  app.add_option("-t,--threads", a->threads, "Thread counts, comma list (0 = all cores)")
      ->capture_default_str();
  app.add_option("-n,--tokens", a->tokens, "Generated tokens per generation, comma list")
      ->capture_default_str();
  app.add_option("--image-size", a->image_sizes,
                 "Vision input resolutions, comma list of multiples of 64 (0 = the checkpoint's)")
      ->capture_default_str();
  app.add_option("--tasks", a->tasks, "Synthetic tasks, comma list of colour, shape, text, count, describe")
      ->capture_default_str();
  app.add_option("--images", a->images_dir,
                 "Your own images (a directory) instead of synthetic ones; needs --prompts");
  app.add_option("--prompts", a->prompts_file,
                 "With --images: a file of prompts, one per line, optionally 'label<TAB>prompt'");
  app.add_option("-r,--repetitions", a->repetitions, "Measured generations per task")
      ->capture_default_str()->check(CLI::Range(1, 100000));
  app.add_option("--warmup", a->warmup, "Unmeasured generations before each task")
      ->capture_default_str()->check(CLI::Range(0, 1000));
  app.add_option("--load-repetitions", a->load_repetitions, "Warm loads measured per run")
      ->capture_default_str()->check(CLI::Range(1, 1000));
  app.add_flag("--no-cold", a->no_cold, "Skip the cold load (evicting the model from the page cache)");
  app.add_option("--synth-size", a->synth_size, "Size of the synthetic images in pixels")
      ->capture_default_str()->check(CLI::Range(32, 4096));
  app.add_option("--seed", a->seed, "First seed of the synthetic images")->capture_default_str();
  app.add_option("--font", a->font, "Font for the text task (default: DejaVu Sans Bold)");
  app.add_option("--prompt-tokens", a->prompt_tokens, "Prompt length of the text-only 'llm' task")
      ->capture_default_str()->check(CLI::Range(1, 1 << 20));
  app.add_flag("--stop-at-eos", a->stop_at_eos,
               "Stop generations at end-of-turn tokens (default: always generate --tokens, for "
               "comparable figures)");
  app.add_flag("--exact", a->exact, "f32 activations in every GEMM (see fastvlm run --help)");
  app.add_flag("--full-logits", a->full_logits,
               "Compute every logit at every decode step, as engines without the lm_head sketch "
               "do (see fastvlm run --help); the generated tokens are the same");
  app.add_flag("--no-panels", a->no_panels,
               "Q8_0 / Q4_0 weights: no int8 decode panels (see fastvlm run --help)");
  app.add_option("-o,--output", a->output, "table, json, csv or md")
      ->capture_default_str()->check(CLI::IsMember({"table", "json", "csv", "md"}));
  app.add_option("--out", a->out, "Write the output here instead of stdout (the table still "
                                  "goes to stdout)");

  return [a]() -> int {
    std::vector<int> threads, tokens, sizes;
    if (Status s = ParseIntList("--threads", a->threads, 0, 1024, &threads); !s.ok()) return Fail(s.message());
    if (Status s = ParseIntList("--tokens", a->tokens, 1, 1 << 20, &tokens); !s.ok()) return Fail(s.message());
    if (Status s = ParseIntList("--image-size", a->image_sizes, 0, 8192, &sizes); !s.ok()) return Fail(s.message());
    for (int s : sizes)
      if (s % 64 != 0)
        return Fail("--image-size " + std::to_string(s) + ": must be a multiple of 64, e.g. 1024");
    std::vector<std::string> models = SplitList(a->models);
    if (models.empty()) return Fail("--model: empty list");
    for (auto& m : models) {
      if (!ResolveModelArg(m)) return 1;  // ORG/NAME -> the Hugging Face cache (cli/pull.cc)
      std::error_code ec;
      if (!fs::exists(m, ec)) return Fail("--model " + m + ": no such file or folder");
    }
    if (!a->images_dir.empty() != !a->prompts_file.empty())
      return Fail("--images and --prompts go together: a directory of images and a file of prompts");

    // The vision workload: tasks with their images, made once and shared by every run.
    std::vector<Task> tasks;
    std::string tmpdir;
    const int per_task = a->warmup + a->repetitions;
    if (!a->images_dir.empty()) {
      std::vector<std::string> imgs;
      std::error_code ec;
      for (const auto& e : fs::directory_iterator(a->images_dir, ec)) {
        std::string ext = e.path().extension().string();
        std::transform(ext.begin(), ext.end(), ext.begin(), [](unsigned char c) { return std::tolower(c); });
        if (e.is_regular_file(ec) && (ext == ".png" || ext == ".jpg" || ext == ".jpeg" || ext == ".bmp" ||
                                       ext == ".gif" || ext == ".webp"))
          imgs.push_back(e.path().string());
      }
      if (ec) return Fail("--images " + a->images_dir + ": " + ec.message());
      if (imgs.empty()) return Fail("--images " + a->images_dir + ": no image files (.jpg .jpeg .png .bmp .gif .webp)");
      std::sort(imgs.begin(), imgs.end());
      std::ifstream pf(a->prompts_file);
      if (!pf) return Fail("--prompts " + a->prompts_file + ": cannot read the file");
      std::string line;
      int k = 0;
      while (std::getline(pf, line)) {
        if (!line.empty() && line.back() == '\r') line.pop_back();
        if (line.empty()) continue;
        Task t;
        const size_t tab = line.find('\t');
        ++k;  // "promptK": the K-th prompt of the file
        t.name = tab == std::string::npos ? "prompt" + std::to_string(k) : line.substr(0, tab);
        t.prompt = tab == std::string::npos ? line : line.substr(tab + 1);
        t.images = imgs;
        tasks.push_back(t);
      }
      if (tasks.empty()) return Fail("--prompts " + a->prompts_file + ": no prompts (one per line)");
    } else {
      char tmpl[] = "/tmp/fastvlm-bench-XXXXXX";
      if (!mkdtemp(tmpl)) return Fail("cannot create a temporary directory in /tmp");
      tmpdir = tmpl;
      image::SynthOptions so;
      so.size = a->synth_size;
      so.font_path = a->font;
      for (const std::string& name : SplitList(a->tasks)) {
        image::SynthTask st;
        if (!image::ParseSynthTask(name, &st))
          return Fail("--tasks: unknown task '" + name + "' (colour, shape, text, count, describe)");
        Task t;
        t.name = image::SynthTaskName(st);
        for (int i = 0; i < per_task; ++i) {
          image::SynthSample sample;
          if (Status s = image::Synthesize(st, a->seed + i, so, &sample); !s.ok()) return Fail(s.message());
          if (t.prompt.empty()) t.prompt = sample.question;
          const std::string path = tmpdir + "/" + t.name + "-" + std::to_string(i) + ".png";
          if (Status s = image::WritePng(sample.image, path); !s.ok()) return Fail(s.message());
          t.images.push_back(path);
        }
        tasks.push_back(t);
      }
      if (tasks.empty()) return Fail("--tasks: empty list");
    }

    std::vector<Combo> combos;
    for (const auto& m : models)
      for (int th : threads)
        for (int tk : tokens)
          for (int sz : sizes) combos.push_back({m, th, tk, sz});

    json doc = {{"schema", "fastvlm.bench.v1"},
                {"engine", "fastvlm.cpp"},
                {"engine_version", FASTVLM_VERSION},
                {"created", UtcNow()},
                {"system", SystemInfo()},
                {"runs", json::array()}};
    const bool tty = isatty(2);
    kernels::SetBF16DotProduct(!a->exact);
    kernels::SetDecodePanels(!a->no_panels);
    int failures = 0;
    for (size_t ci = 0; ci < combos.size(); ++ci) {
      const Combo& c = combos[ci];
      auto status = [&](const std::string& what) {
        if (tty) std::fprintf(stderr, "\r\033[K[run %zu/%zu] %s t%d: %s", ci + 1, combos.size(),
                              fs::path(c.model).filename().c_str(), c.threads, what.c_str());
      };
      EngineOptions eo;
      eo.model_path = c.model;
      eo.threads = c.threads;
      eo.lm_head_sketch = !a->full_logits;
      eo.decode_panels = !a->no_panels;
      eo.image_size = c.image_size;
      ResetPeakRss();
      json load;
      if (!a->no_cold) {
        status("cold load");
        const double resident = EvictFromPageCache(c.model);
        const double t0 = NowSeconds();
        auto e = Engine::Load(eo);
        const double dt = NowSeconds() - t0;
        if (!e.ok()) {
          if (tty) std::fprintf(stderr, "\n");
          return Fail(e.status().message());
        }
        // Only a real cold start counts: if the kernel kept more than 5% of the file cached
        // (e.g. another process maps it), say so with null.
        load["cold_s"] = resident <= 0.05 ? json(dt) : json(nullptr);
      }
      std::unique_ptr<Engine> engine;
      std::vector<double> warm;
      for (int r = 0; r < a->load_repetitions; ++r) {
        status("warm load " + std::to_string(r + 1) + "/" + std::to_string(a->load_repetitions));
        engine.reset();
        const double t0 = NowSeconds();
        auto e = Engine::Load(eo);
        warm.push_back(NowSeconds() - t0);
        if (!e.ok()) {
          if (tty) std::fprintf(stderr, "\n");
          return Fail(e.status().message());
        }
        engine = std::move(*e);
      }
      load["warm_s"] = Stats(warm);
      Engine& e = *engine;
      const bool vision = e.has_vision();
      std::vector<Task> run_tasks = tasks;
      std::vector<int32_t> llm_ids;
      if (!vision) {
        llm_ids = LlmPrompt(e.tokenizer(), a->prompt_tokens);
        run_tasks = {Task{"llm", std::to_string(a->prompt_tokens) + "-token raw prompt", {}}};
      }
      GenerationOptions go;
      go.max_tokens = c.tokens;
      go.ignore_eos = !a->stop_at_eos;
      const auto& lw = e.model().weights();
      std::string wtype = kernels::WTypeName(lw.layers.empty() ? lw.lm_head.type : lw.layers[0].down_proj.type);
      std::string label = "fastvlm.cpp " + wtype + " t" + std::to_string(e.threads());
      if (c.image_size) label += " " + std::to_string(c.image_size) + "px";
      if (tokens.size() > 1) label += " n" + std::to_string(c.tokens);
      json run = {{"label", label},
                  {"model", c.model},
                  {"model_bytes", ModelBytes(c.model)},
                  {"weight_type", wtype},
                  {"vision_type", vision ? json(e.vision()->info().weight_type) : json(nullptr)},
                  {"threads", e.threads()},
                  {"image_size", vision ? json(e.image_size()) : json(nullptr)},
                  {"tokens", c.tokens},
                  {"ignore_eos", go.ignore_eos},
                  {"warmup", a->warmup},
                  {"repetitions", a->repetitions},
                  {"load", load},
                  {"decode_panels_bytes", e.model().decode_panel_bytes()},
                  {"tasks", json::array()}};
      for (const Task& t : run_tasks) {
        std::vector<int32_t> ids = llm_ids;
        if (vision) {
          const std::vector<ChatMessage> msgs = {{"user", "<image>\n" + t.prompt}};
          ids = TokenizeWithImages(e.tokenizer(), RenderChatML(msgs, /*add_generation_prompt=*/true));
        }
        std::vector<Sample> samples;
        Status failed = Status::Ok();
        for (int i = 0; i < per_task; ++i) {
          status(t.name + " " + (i < a->warmup ? "warm-up" : std::to_string(i - a->warmup + 1) + "/" +
                                                               std::to_string(a->repetitions)));
          Sample s;
          const std::string img = t.images.empty() ? "" : t.images[i % t.images.size()];
          if (Status st = RunSample(e, t, ids, img, go, &s); !st.ok()) {
            failed = st;
            break;
          }
          if (i >= a->warmup) samples.push_back(s);
        }
        if (!failed.ok()) {
          if (tty) std::fprintf(stderr, "\r\033[K");
          Fail(label + ": " + failed.message());
          ++failures;
          continue;
        }
        json tj = TaskJson(t, samples, vision);
        if (!a->images_dir.empty()) {
          // Own images: keep their paths; synthetic ones lived in a temporary directory.
        } else {
          for (auto& s : tj["samples"])
            if (s["image"].is_string()) s["image"] = fs::path(s["image"].get<std::string>()).filename().string();
        }
        run["tasks"].push_back(tj);
      }
      const int64_t rss = PeakRssBytes();
      run["peak_rss_bytes"] = rss >= 0 ? json(rss) : json(nullptr);
      doc["runs"].push_back(run);
      if (tty) std::fprintf(stderr, "\r\033[K");
    }
    // Runs whose labels collide (two models of one weight type) are told apart by file name.
    std::map<std::string, int> seen;
    for (const json& r : doc["runs"]) ++seen[r["label"].get<std::string>()];
    for (json& r : doc["runs"])
      if (seen[r["label"].get<std::string>()] > 1)
        r["label"] = r["label"].get<std::string>() + " (" + fs::path(r["model"].get<std::string>()).filename().string() + ")";
    if (!tmpdir.empty()) {
      std::error_code ec;
      fs::remove_all(tmpdir, ec);
    }

    std::string text;
    if (a->output == "json") text = doc.dump(2) + "\n";
    else if (a->output == "csv") text = Csv(doc);
    else if (a->output == "md") text = Markdown(doc);
    else text = Table(doc);
    if (!a->out.empty()) {
      std::ofstream f(a->out, std::ios::binary);
      f << text;
      if (!f.good()) return Fail("--out " + a->out + ": cannot write the file");
      if (a->output != "table") std::fputs(Table(doc).c_str(), stdout);
    } else {
      std::fputs(text.c_str(), stdout);
    }
    return failures ? 1 : 0;
  };
}

}  // namespace fastvlm::cli
