// fastvlm eval-tasks --model M [--count N] [--seed S] [--tasks LIST] [--size PX] [--json OUT]
// Task accuracy on freshly generated synthetic images (image/synth.h): for each task and image
// index i it synthesizes the image of seed S+i, asks the task's question in the chat prompt every
// command uses (default system prompt, "<image>\n" + question), takes the greedy answer (stops at
// end of turn) and scores it with the rules of eval/task_scoring.h. Prints a table; --json writes
// schema "fastvlm.eval_tasks.v1" (read by `fastvlm report`).
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <cstdio>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "base/timer.h"
#include "cli/commands.h"
#include "cli/options.h"
#include "eval/task_scoring.h"
#include "fastvlm_version.h"
#include "image/synth.h"
#include "kernels/ops.h"
#include "runtime/engine.h"

namespace fastvlm::cli {
namespace {

using Json = nlohmann::json;

std::string NowIso8601() {
  char buf[32];
  std::time_t t = std::time(nullptr);
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", std::gmtime(&t));
  return buf;
}

const char* MetricName(image::SynthTask t) {
  switch (t) {
    case image::SynthTask::kText:
      return "exact";  // char_accuracy beside it
    case image::SynthTask::kDescribe:
      return "attribute_f1";
    default:
      return "exact";
  }
}

// Running sums of one task.
struct TaskTally {
  image::SynthTask task;
  std::string question;
  int n = 0, exact = 0;
  double char_accuracy = 0, f1 = 0, precision = 0, recall = 0, seconds = 0;
  int generated_tokens = 0;
};

constexpr const char* kRules =
    "Scoring (answers and truths are normalized: trimmed, lowercased, inner whitespace collapsed,\n"
    "trailing periods stripped):\n"
    "  colour, shape  exact match with the truth's answer.\n"
    "  count          exact match with the digits or the number word (\"4\" or \"four\").\n"
    "  text           exact match (case-insensitive) = the task's accuracy; also character\n"
    "                 accuracy = max(0, 1 - Levenshtein(answer, truth) / len(truth)), averaged.\n"
    "  describe       attribute F1 = the task's accuracy: the answer is parsed into objects\n"
    "                 (size small|large, one of 8 colours, one of 7 shapes; each shape word\n"
    "                 closes an object); predicted and true objects are paired one-to-one to\n"
    "                 maximize matching attributes; precision = matched / attributes given,\n"
    "                 recall = matched / (3 x true objects), F1 = 2PR/(P+R), averaged over images.\n"
    "                 Exact match of the whole sentence is reported beside it.\n"
    "Image i of every task uses seed S+i (as `fastvlm synth`); the default S = 1000000 is\n"
    "disjoint from the training seeds of tools/train (1 .. 999999). Answers are greedy, stop at\n"
    "the end of turn or after --max-tokens. --json writes schema fastvlm.eval_tasks.v1 with\n"
    "per-task results and every image's answer; `fastvlm report` plots it against speed.";

}  // namespace

Command RegisterEvalTasks(CLI::App& app) {
  struct Args {
    EngineArgs engine;
    int count = 100, size = 256, max_tokens = 32;
    uint64_t seed = 1000000;
    std::string tasks = "all", json_out, font;
  };
  auto a = std::make_shared<Args>();
  AddEngineOptions(app, a->engine);
  app.footer(kRules);
  app.add_option("-n,--count", a->count, "Images per task")->capture_default_str();
  app.add_option("-s,--seed", a->seed, "First seed: image i of each task uses seed S+i")
      ->capture_default_str();
  app.add_option("--tasks", a->tasks,
                 "colour, shape, count, text, describe, all, or a comma-separated list")
      ->capture_default_str();
  app.add_option("--size", a->size,
                 "Synthetic image width and height in pixels, 32..4096 (the engine then resizes "
                 "to the model's input size)")
      ->capture_default_str();
  app.add_option("--max-tokens", a->max_tokens, "Most tokens per answer")->capture_default_str();
  app.add_option("--json", a->json_out, "Write the results as JSON (fastvlm.eval_tasks.v1)");
  app.add_option("--font", a->font, "TrueType font for the text task (default: DejaVu Sans Bold)");

  return [a]() -> int {
    std::vector<image::SynthTask> tasks;
    if (!image::ParseSynthTaskList(a->tasks, &tasks)) {
      return Fail("--tasks '" + a->tasks +
                  "': unknown task; valid: colour, shape, count, text, describe, all, or a "
                  "comma-separated list");
    }
    if (a->count < 1 || a->count > 1000000)
      return Fail("--count " + std::to_string(a->count) + ": must be between 1 and 1000000");
    if (a->size < 32 || a->size > 4096)
      return Fail("--size " + std::to_string(a->size) + ": must be between 32 and 4096");
    if (a->max_tokens < 1 || a->max_tokens > 4096)
      return Fail("--max-tokens " + std::to_string(a->max_tokens) + ": must be between 1 and 4096");
    if (a->seed > UINT64_MAX - static_cast<uint64_t>(a->count))
      return Fail("--seed " + std::to_string(a->seed) + ": seed + count overflows 64 bits");
    image::SynthOptions so;
    so.size = a->size;
    so.font_path = a->font;
    if (std::find(tasks.begin(), tasks.end(), image::SynthTask::kText) != tasks.end()) {
      if (Status s = image::CheckSynthFont(so); !s.ok())
        return Fail((a->font.empty() ? "" : "--font: ") + s.message());
    }
    if (!a->json_out.empty()) {  // fail before the long run, not after it; create nothing yet
      namespace fs = std::filesystem;
      const fs::path dir = fs::path(a->json_out).parent_path().empty()
                               ? fs::path(".")
                               : fs::path(a->json_out).parent_path();
      std::error_code ec;
      if (!fs::is_directory(dir, ec) || access(dir.c_str(), W_OK) != 0 ||
          fs::is_directory(a->json_out, ec))
        return Fail("--json " + a->json_out + ": cannot write the file (no such writable folder, "
                    "or it names a folder)");
    }

    auto engine = LoadEngine(a->engine, EngineOptions{});
    if (!engine) return 1;
    Engine& e = *engine;
    if (!e.has_vision()) {
      return Fail(a->engine.model + " has no vision tower (no model.vision_tower.* tensors): "
                  "eval-tasks needs a FastVLM model");
    }
    if (a->engine.verbose) PrintModelInfo(e, a->engine.model);
    const auto& lw = e.model().weights();
    const std::string wtype =
        kernels::WTypeName(lw.layers.empty() ? lw.lm_head.type : lw.layers[0].down_proj.type);

    GenerationOptions go;
    go.max_tokens = a->max_tokens;  // greedy: default sampler options
    const ImageOptions io;          // pad to square (a no-op for square images), bicubic resize

    Json items = Json::array();
    std::vector<TaskTally> tallies;
    const int total = a->count * static_cast<int>(tasks.size());
    Progress progress(total, isatty(2));
    int done = 0;
    const double t_start = NowSeconds();
    for (image::SynthTask task : tasks) {
      TaskTally tally;
      tally.task = task;
      std::vector<int32_t> ids;
      for (int i = 0; i < a->count; ++i, ++done) {
        const uint64_t seed = a->seed + static_cast<uint64_t>(i);
        progress.Show(done, std::string(image::SynthTaskName(task)) + " " + std::to_string(seed));
        image::SynthSample sample;
        Status st = image::Synthesize(task, seed, so, &sample);
        if (!st.ok()) {
          progress.Clear();
          return Fail(st.message());
        }
        if (ids.empty()) {
          tally.question = sample.question;
          ids = TokenizeWithImages(
              e.tokenizer(),
              RenderChatML({{"user", "<image>\n" + sample.question}}, /*add_generation_prompt=*/true));
        }
        const double t0 = NowSeconds();
        e.ResetContext();
        ImageStats ist;
        GenerationStats gst;
        std::string answer;
        st = e.EncodeImage(sample.image, io, &ist);
        if (st.ok()) {
          st = e.Generate(ids, go, [&](const std::string& piece, int32_t) {
            answer += piece;
            return true;
          }, &gst);
        }
        if (!st.ok()) {
          progress.Clear();
          return Fail(std::string(image::SynthTaskName(task)) + " seed " + std::to_string(seed) +
                      ": " + st.message());
        }
        tally.seconds += NowSeconds() - t0;
        tally.generated_tokens += gst.generated_tokens;
        ++tally.n;

        Json item = {{"task", image::SynthTaskName(task)}, {"seed", seed},
                     {"answer", answer}, {"truth", sample.answer}};
        bool exact = false;
        switch (task) {
          case image::SynthTask::kCount:
            exact = eval::CountMatch(answer, sample.answer);
            break;
          case image::SynthTask::kText: {
            exact = eval::ExactMatch(answer, sample.answer);
            const double ca = eval::CharAccuracy(answer, sample.answer);
            tally.char_accuracy += ca;
            item["char_accuracy"] = ca;
            break;
          }
          case image::SynthTask::kDescribe: {
            exact = eval::ExactMatch(answer, sample.answer);
            std::vector<eval::DescribedObject> truth;
            const Json tj = Json::parse(sample.truth_json);
            for (const Json& o : tj.at("objects")) {
              truth.push_back({o.at("size").get<std::string>(), o.at("colour").get<std::string>(),
                               o.at("shape").get<std::string>()});
            }
            const eval::F1Score f = eval::AttributeF1(eval::ParseDescription(answer), truth);
            tally.f1 += f.f1;
            tally.precision += f.precision;
            tally.recall += f.recall;
            item["f1"] = f.f1;
            break;
          }
          default:
            exact = eval::ExactMatch(answer, sample.answer);
        }
        tally.exact += exact;
        item["correct"] = exact;
        items.push_back(std::move(item));
      }
      tallies.push_back(tally);
    }
    progress.Clear();
    const double wall = NowSeconds() - t_start;

    std::printf("model   %s (%s weights, %d² input)\n", a->engine.model.c_str(), wtype.c_str(),
                e.image_size());
    std::printf("images  %d per task, %dx%d, seeds %llu..%llu, greedy, at most %d tokens\n\n",
                a->count, a->size, a->size, static_cast<unsigned long long>(a->seed),
                static_cast<unsigned long long>(a->seed + a->count - 1), a->max_tokens);
    std::printf("%-9s %6s  %-13s %9s  %s\n", "task", "n", "metric", "accuracy", "also");
    Json task_json = Json::array();
    for (const TaskTally& t : tallies) {
      const double n = t.n;
      const double exact = t.exact / n;
      double accuracy = exact;
      std::string also;
      char buf[128];
      Json tj = {{"task", image::SynthTaskName(t.task)}, {"n", t.n},
                 {"metric", MetricName(t.task)}, {"question", t.question},
                 {"correct", t.exact}, {"exact", exact},
                 {"mean_generated_tokens", t.generated_tokens / n},
                 {"seconds_per_image", t.seconds / n}};
      if (t.task == image::SynthTask::kText) {
        tj["char_accuracy"] = t.char_accuracy / n;
        std::snprintf(buf, sizeof buf, "char accuracy %.2f%%", 100 * t.char_accuracy / n);
        also = buf;
      } else if (t.task == image::SynthTask::kDescribe) {
        accuracy = t.f1 / n;
        tj["f1"] = accuracy;
        tj["precision"] = t.precision / n;
        tj["recall"] = t.recall / n;
        std::snprintf(buf, sizeof buf, "P %.3f R %.3f, exact %.2f%%", t.precision / n,
                      t.recall / n, 100 * exact);
        also = buf;
      }
      tj["accuracy"] = accuracy;
      task_json.push_back(tj);
      if (t.task == image::SynthTask::kDescribe) {
        std::printf("%-9s %6d  %-13s %9.3f  %s\n", image::SynthTaskName(t.task), t.n,
                    MetricName(t.task), accuracy, also.c_str());
      } else {
        std::printf("%-9s %6d  %-13s %8.2f%%  %s\n", image::SynthTaskName(t.task), t.n,
                    MetricName(t.task), 100 * accuracy, also.c_str());
      }
    }
    std::printf("\n%.1f s (%.3f s per image, %d threads)\n", wall, wall / std::max(1, total),
                e.threads());

    if (!a->json_out.empty()) {
      Json doc = {{"schema", "fastvlm.eval_tasks.v1"},
                  {"created", NowIso8601()},
                  {"fastvlm_version", FASTVLM_VERSION},
                  {"commit", FASTVLM_GIT_COMMIT},
                  {"model", a->engine.model},
                  {"weight_type", wtype},
                  {"vision_type", e.vision()->info().weight_type},
                  {"image_size", e.image_size()},
                  {"synth_size", a->size},
                  {"count", a->count},
                  {"seed", a->seed},
                  {"max_tokens", a->max_tokens},
                  {"threads", e.threads()},
                  {"seconds", wall},
                  {"tasks", task_json},
                  {"items", items}};
      std::ofstream json_file(a->json_out, std::ios::binary | std::ios::trunc);
      json_file << doc.dump(1, ' ', false, Json::error_handler_t::replace) << '\n';
      json_file.close();
      if (!json_file) return Fail("--json " + a->json_out + ": cannot write the file");
    }
    return 0;
  };
}

}  // namespace fastvlm::cli
