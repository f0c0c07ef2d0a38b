// fastvlm synth --task TASK|all --count N --out DIR: writes deterministic synthetic benchmark
// images (image/synth.h) with their ground truth, DIR/<task>-<index>.png + .json.
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "cli/commands.h"
#include "cli/options.h"
#include "image/synth.h"

namespace fastvlm::cli {
namespace {

std::string TaskList() {
  std::string s;
  for (image::SynthTask t : image::AllSynthTasks()) s += std::string(image::SynthTaskName(t)) + ", ";
  return s + "all";
}

}  // namespace

Command RegisterSynth(CLI::App& app) {
  struct Args {
    std::string task = "all", out, font;
    int count = 0, size = 256, count_min = 1, count_max = 6;
    uint64_t seed = 1;
  };
  auto a = std::make_shared<Args>();
  app.footer(
      "Tasks (question -> answer):\n"
      "  colour    one shape in a named colour: \"What colour is the shape?\" -> e.g. red\n"
      "  shape     one shape: \"What shape is in the image?\" -> e.g. circle\n"
      "  count     N copies of one shape: \"How many objects are in the image?\" -> e.g. 4\n"
      "  text      3-5 capital letters: \"What text is written in the image?\" -> e.g. KXQ\n"
      "  describe  1-3 objects: \"Describe the image.\" -> e.g. a large red circle and a small "
      "blue square\n"
      "Colours: red green blue yellow orange purple pink black. Shapes: circle square triangle\n"
      "star diamond hexagon cross. For each task and index i in 0..N-1 it writes\n"
      "DIR/<task>-<i>.png (8-bit RGB, i zero-padded to 4+ digits) and DIR/<task>-<i>.json, the\n"
      "ground truth: task, seed, size, question, answer, background, objects (shape, colour, rgb,\n"
      "bbox [x0,y0,x1,y1] with x1,y1 exclusive, size small|large) and for text: text, bbox,\n"
      "letters. Image i of every task uses seed S+i (the generator mixes the task in): the same\n"
      "flags always give the same files, and runs whose seed ranges S..S+N-1 do not overlap give\n"
      "different images, e.g. a test set --seed 1000000 --count 1000 beside a training set\n"
      "--seed 1 --count 100000.");
  app.add_option("-t,--task", a->task, "colour, shape, count, text, describe, all, or a "
                 "comma-separated list (\"color\" is accepted)")
      ->capture_default_str();
  app.add_option("-n,--count", a->count, "Images per task")->required();
  app.add_option("-o,--out", a->out, "Output directory (created if missing)")->required();
  app.add_option("-s,--seed", a->seed, "First seed: image i uses seed S+i")->capture_default_str();
  app.add_option("--size", a->size, "Image width and height in pixels, 32..4096")
      ->capture_default_str();
  app.add_option("--font", a->font,
                 std::string("TrueType font for the text task (default: ") +
                     image::kDefaultFontPaths[0] + ", else " + image::kDefaultFontPaths[1] +
                     ", from Debian's fonts-dejavu-core)");
  app.add_option("--count-min", a->count_min, "Fewest objects in the count task (1..9)")
      ->capture_default_str();
  app.add_option("--count-max", a->count_max, "Most objects in the count task (1..9)")
      ->capture_default_str();

  return [a]() -> int {
    std::vector<image::SynthTask> tasks;
    if (!image::ParseSynthTaskList(a->task, &tasks))
      return Fail("--task '" + a->task + "': unknown task; valid: " + TaskList());
    if (a->count <= 0) return Fail("--count " + std::to_string(a->count) + ": must be at least 1");
    if (a->size < 32 || a->size > 4096)
      return Fail("--size " + std::to_string(a->size) + ": must be between 32 and 4096");
    if (a->count_min < 1 || a->count_max > 9 || a->count_min > a->count_max) {
      return Fail("--count-min " + std::to_string(a->count_min) + " --count-max " +
                  std::to_string(a->count_max) + ": need 1 <= min <= max <= 9");
    }
    if (a->seed > UINT64_MAX - static_cast<uint64_t>(a->count))
      return Fail("--seed " + std::to_string(a->seed) + ": seed + count overflows 64 bits");
    image::SynthOptions opt;
    opt.size = a->size;
    opt.font_path = a->font;
    opt.count_min = a->count_min;
    opt.count_max = a->count_max;
    for (image::SynthTask t : tasks) {
      if (t != image::SynthTask::kText) continue;
      if (Status s = image::CheckSynthFont(opt); !s.ok())
        return Fail((a->font.empty() ? "" : "--font: ") + s.message());
    }

    namespace fs = std::filesystem;
    std::error_code ec;
    fs::create_directories(a->out, ec);
    if (ec || !fs::is_directory(a->out)) {
      return Fail("--out " + a->out + ": cannot create the directory" +
                  (ec ? ": " + ec.message() : std::string(": a file of that name exists")));
    }
    if (access(a->out.c_str(), W_OK) != 0)
      return Fail("--out " + a->out + ": the directory is not writable");

    int digits = 4;
    for (int n = a->count - 1; n >= 10000; n /= 10) ++digits;
    const int total = a->count * static_cast<int>(tasks.size());
    Progress progress(total, isatty(2));
    int done = 0;
    for (image::SynthTask t : tasks) {
      for (int i = 0; i < a->count; ++i, ++done) {
        std::string index = std::to_string(i);
        index.insert(0, std::max(0, digits - static_cast<int>(index.size())), '0');
        const std::string name = std::string(image::SynthTaskName(t)) + "-" + index;
        progress.Show(done, name);
        const std::string base = (fs::path(a->out) / name).string();
        image::SynthSample s;
        Status st = image::Synthesize(t, a->seed + static_cast<uint64_t>(i), opt, &s);
        if (st.ok()) st = image::WritePng(s.image, base + ".png");
        if (st.ok()) {
          std::ofstream f(base + ".json", std::ios::binary | std::ios::trunc);
          f << s.truth_json << '\n';
          f.close();
          if (!f) st = Status::Error("cannot write %s.json", base.c_str());
        }
        if (!st.ok()) {
          progress.Clear();
          return Fail(st.message());
        }
      }
    }
    progress.Clear();
    std::printf("wrote %d images (%d per task, %dx%d, seeds %llu..%llu) to %s\n", total, a->count,
                a->size, a->size, static_cast<unsigned long long>(a->seed),
                static_cast<unsigned long long>(a->seed + a->count - 1), a->out.c_str());
    return 0;
  };
}

}  // namespace fastvlm::cli
