// fastvlm run --model DIR --image FILE --prompt TEXT: answers a question about each image.
// Several --image flags or a directory caption a batch: streamed text per image, or one JSON line
// per image with --jsonl, with a progress bar on stderr when it is a terminal.
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "base/timer.h"
#include "cli/commands.h"
#include "cli/options.h"
#include "runtime/engine.h"

namespace fastvlm::cli {
namespace {

bool HasImageExtension(const std::filesystem::path& p) {
  std::string ext = p.extension().string();
  std::transform(ext.begin(), ext.end(), ext.begin(), [](unsigned char c) { return std::tolower(c); });
  for (const char* e : {".jpg", ".jpeg", ".png", ".bmp", ".gif", ".webp"})
    if (ext == e) return true;
  return false;
}

// --image arguments: files as given; a directory contributes its image files (by extension,
// not recursive), sorted by name.
Status ExpandImages(const std::vector<std::string>& args, std::vector<std::string>* out) {
  namespace fs = std::filesystem;
  for (const auto& a : args) {
    std::error_code ec;
    if (fs::is_directory(a, ec)) {
      std::vector<std::string> found;
      for (const auto& entry : fs::directory_iterator(a, ec)) {
        if (entry.is_regular_file(ec) && HasImageExtension(entry.path()))
          found.push_back(entry.path().string());
      }
      if (ec) return Status::Error("--image %s: cannot list the directory: %s", a.c_str(),
                                   ec.message().c_str());
      if (found.empty()) {
        return Status::Error("--image %s: the directory has no image files (.jpg .jpeg .png .bmp "
                             ".gif .webp)",
                             a.c_str());
      }
      std::sort(found.begin(), found.end());
      out->insert(out->end(), found.begin(), found.end());
    } else {
      out->push_back(a);  // missing / unreadable files are reported per image by the decoder
    }
  }
  return Status::Ok();
}


}  // namespace

Command RegisterRun(CLI::App& app) {
  struct Args {
    EngineArgs engine;
    SamplingArgs sampling;
    std::vector<std::string> images;
    std::string prompt = "Describe this image.", system;
    int image_size = 0;
    bool crop = false, exif_rotate = false, jsonl = false;
  };
  auto a = std::make_shared<Args>();
  AddEngineOptions(app, a->engine);
  app.add_option("-i,--image", a->images,
                 "Image file, or a directory of images (repeatable): JPEG, PNG, BMP, GIF, WebP")
      ->required();
  app.add_option("-p,--prompt", a->prompt, "Question or instruction about the image")
      ->capture_default_str();
  app.add_option("--system", a->system, "System prompt (default: \"You are a helpful assistant.\")");
  app.add_option("--image-size", a->image_size,
                 "Vision input resolution, a multiple of 64 (default: the checkpoint's, 1024 for "
                 "FastVLM)")
      ->check(CLI::Range(64, 8192));
  app.add_flag("--crop", a->crop,
               "Resize the shortest edge and centre-crop (transformers' processor) instead of "
               "padding to a square with black (training and Apple's predict.py; the default)");
  app.add_flag("--exif-rotate", a->exif_rotate,
               "Apply the EXIF orientation tag (the reference pipeline ignores it)");
  app.add_flag("--jsonl", a->jsonl, "One JSON object per image on stdout instead of streamed text");
  AddSamplingOptions(app, a->sampling);

  return [a]() -> int {
    if (a->image_size % 64 != 0)
      return Fail("--image-size " + std::to_string(a->image_size) +
                  ": must be a multiple of 64 (FastViTHD downsamples by 64), e.g. 1024");
    std::vector<std::string> images;
    if (Status s = ExpandImages(a->images, &images); !s.ok()) return Fail(s.message());
    EngineOptions eo;
    eo.image_size = a->image_size;
    auto engine = LoadEngine(a->engine, eo);
    if (!engine) return 1;
    Engine& e = *engine;
    if (!e.has_vision()) {
      return Fail(a->engine.model + " has no vision tower (no model.vision_tower.* tensors): it "
                  "is a text-only checkpoint; use `fastvlm generate`, or point --model at a "
                  "FastVLM folder");
    }
    if (a->engine.verbose) PrintModelInfo(e, a->engine.model);

    std::vector<ChatMessage> msgs;
    if (!a->system.empty()) msgs.push_back({"system", a->system});
    msgs.push_back({"user", "<image>\n" + a->prompt});  // predict.py: image first (spec §5.1)
    const std::vector<int32_t> ids =
        TokenizeWithImages(e.tokenizer(), RenderChatML(msgs, /*add_generation_prompt=*/true));
    const GenerationOptions go = ToGenerationOptions(a->sampling);
    ImageOptions io;
    io.fit = a->crop ? image::Fit::kCenterCrop : image::Fit::kPadSquare;
    io.decode.exif_rotate = a->exif_rotate;

    const bool batch = images.size() > 1;
    Progress progress(static_cast<int>(images.size()), (batch || a->jsonl) && isatty(2));
    int failures = 0;
    for (size_t k = 0; k < images.size(); ++k) {
      const std::string& path = images[k];
      progress.Show(static_cast<int>(k), path);
      e.ResetContext();
      ImageStats ist;
      GenerationStats gst;
      std::string text;
      Status s = e.EncodeImageFile(path, io, &ist);
      bool header_done = false;
      if (s.ok()) {
        s = e.Generate(ids, go, [&](const std::string& piece, int32_t) {
          if (a->jsonl) {
            text += piece;
            return true;
          }
          if (!header_done) {
            progress.Clear();
            if (batch) std::printf("### %s\n", path.c_str());
            header_done = true;
          }
          std::fwrite(piece.data(), 1, piece.size(), stdout);
          std::fflush(stdout);
          return true;
        }, &gst);
      }
      progress.Clear();
      if (!s.ok()) {
        ++failures;
        if (a->jsonl) {
          nlohmann::json j = {{"image", path}, {"error", s.message()}};
          std::printf("%s\n", j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace).c_str());
          std::fflush(stdout);
        } else {
          std::fflush(stdout);
          Fail(s.message());
        }
        if (!batch) return 1;
        continue;
      }
      if (a->jsonl) {
        const int decoded = std::max(0, gst.generated_tokens - 1);
        nlohmann::json j = {
            {"image", path},
            {"width", ist.width},
            {"height", ist.height},
            {"text", text},
            {"prompt_tokens", gst.prompt_tokens},
            {"generated_tokens", gst.generated_tokens},
            {"finish_reason", gst.finish_reason},
            {"seconds",
             {{"decode", ist.decode},
              {"preprocess", ist.preprocess},
              {"vision_encoder", ist.encoder},
              {"projector", ist.projector},
              {"prefill", gst.prefill_seconds},
              {"ttft", ist.total() + gst.ttft_seconds},
              {"generate", gst.decode_seconds}}},
            {"decode_tokens_per_s", decoded / std::max(gst.decode_seconds, 1e-9)}};
        std::printf("%s\n", j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace).c_str());
      } else {
        if (!header_done && batch) std::printf("### %s\n", path.c_str());
        std::fputc('\n', stdout);
      }
      std::fflush(stdout);  // the answer is complete before the statistics go to stderr
      if (a->engine.verbose) {
        if (batch) std::fprintf(stderr, "-- %s\n", path.c_str());
        PrintImageStats(ist);
        PrintGenerationStats(gst, ist.total());
      }
    }
    if (failures > 0 && batch) {
      std::fprintf(stderr, "fastvlm: %d of %zu images failed\n", failures, images.size());
      return 1;
    }
    return 0;
  };
}

}  // namespace fastvlm::cli
