// fastvlm chat --model DIR [--image FILE]: interactive multi-turn conversation about an image.
// The image is encoded once; the KV cache keeps the conversation, so each turn only runs its own
// new tokens. Commands: /image PATH (switch image, new conversation), /reset, /help, /exit.
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <cstdio>
#include <iostream>
#include <string>

#include "cli/commands.h"
#include "cli/options.h"
#include "runtime/engine.h"

namespace fastvlm::cli {
namespace {

std::string Trim(const std::string& s) {
  const size_t b = s.find_first_not_of(" \t\r\n");
  if (b == std::string::npos) return "";
  const size_t e = s.find_last_not_of(" \t\r\n");
  return s.substr(b, e - b + 1);
}

constexpr const char* kHelp =
    "commands: /image PATH  switch to another image (starts a new conversation)\n"
    "          /reset       start a new conversation (keeps the image)\n"
    "          /help        this text\n"
    "          /exit        quit (also Ctrl-D)\n";

}  // namespace

Command RegisterChat(CLI::App& app) {
  struct Args {
    EngineArgs engine;
    SamplingArgs sampling;
    std::string image, system;
    int image_size = 0;
    bool crop = false, exif_rotate = false;
  };
  auto a = std::make_shared<Args>();
  AddEngineOptions(app, a->engine);
  app.add_option("-i,--image", a->image, "Image to talk about (or use /image PATH later)");
  app.add_option("--system", a->system, "System prompt (default: \"You are a helpful assistant.\")");
  app.add_option("--image-size", a->image_size,
                 "Vision input resolution, a multiple of 64 (default: the checkpoint's)")
      ->check(CLI::Range(64, 8192));
  app.add_flag("--crop", a->crop, "Centre-crop instead of padding to a square");
  app.add_flag("--exif-rotate", a->exif_rotate, "Apply the EXIF orientation tag");
  AddSamplingOptions(app, a->sampling);

  return [a]() -> int {
    if (a->image_size % 64 != 0)
      return Fail("--image-size " + std::to_string(a->image_size) + ": must be a multiple of 64");
    EngineOptions eo;
    eo.image_size = a->image_size;
    auto engine = LoadEngine(a->engine, eo);
    if (!engine) return 1;
    Engine& e = *engine;
    if (a->engine.verbose) PrintModelInfo(e, a->engine.model);
    ImageOptions io;
    io.fit = a->crop ? image::Fit::kCenterCrop : image::Fit::kPadSquare;
    io.decode.exif_rotate = a->exif_rotate;
    const GenerationOptions go = ToGenerationOptions(a->sampling);
    const bool interactive = isatty(0);

    bool image_ready = false;  // an encoded image waits for the first turn of the conversation
    bool in_conversation = false;
    auto load_image = [&](const std::string& path) -> bool {
      ImageStats st;
      Status s = e.EncodeImageFile(path, io, &st);
      if (!s.ok()) {
        Fail(s.message());
        return false;
      }
      image_ready = true;
      std::fprintf(stderr, "(image %s: %dx%d, %d tokens, encoded in %.2f s)\n", path.c_str(),
                   st.width, st.height, st.tokens, st.total());
      if (a->engine.verbose) PrintImageStats(st);
      return true;
    };
    if (!a->image.empty()) {
      if (!e.has_vision()) {
        return Fail(a->engine.model + " has no vision tower: it is a text-only checkpoint; drop "
                    "--image or point --model at a FastVLM folder");
      }
      if (!load_image(a->image)) return 1;
    }
    if (interactive) std::fprintf(stderr, "%s", kHelp);

    std::string line;
    for (;;) {
      if (interactive) {
        std::fputs("> ", stdout);
        std::fflush(stdout);
      }
      if (!std::getline(std::cin, line)) break;
      const std::string msg = Trim(line);
      if (msg.empty()) continue;
      if (msg == "/exit" || msg == "/quit") break;
      if (msg == "/help") {
        std::fprintf(stderr, "%s", kHelp);
        continue;
      }
      if (msg == "/reset") {
        e.ResetContext();
        in_conversation = false;
        std::fprintf(stderr, "(new conversation)\n");
        continue;
      }
      if (msg.rfind("/image", 0) == 0 && (msg.size() == 6 || msg[6] == ' ')) {
        const std::string path = Trim(msg.substr(6));
        if (path.empty()) {
          std::fprintf(stderr, "usage: /image PATH\n");
          continue;
        }
        if (!e.has_vision()) {
          Fail("this checkpoint has no vision tower");
          continue;
        }
        // One image per conversation, at the start of the first user turn (as trained).
        if (load_image(path)) {
          e.ResetContext();
          in_conversation = false;
        }
        continue;
      }
      if (msg[0] == '/') {
        std::fprintf(stderr, "unknown command %s\n%s", msg.c_str(), kHelp);
        continue;
      }
      std::string text;
      if (!in_conversation) {
        std::vector<ChatMessage> msgs;
        if (!a->system.empty()) msgs.push_back({"system", a->system});
        msgs.push_back({"user", (image_ready ? "<image>\n" : "") + msg});
        text = RenderChatML(msgs, /*add_generation_prompt=*/true);
      } else {
        // The cache ends with the previous answer (its <|im_end|> was not fed back): close that
        // turn, then this user turn, as the ChatML of the whole conversation would read.
        text = "<|im_end|>\n<|im_start|>user\n" + msg + "<|im_end|>\n<|im_start|>assistant\n";
      }
      const std::vector<int32_t> ids = TokenizeWithImages(e.tokenizer(), text);
      GenerationStats st;
      Status s = e.Generate(ids, go, [](const std::string& piece, int32_t) {
        std::fwrite(piece.data(), 1, piece.size(), stdout);
        std::fflush(stdout);
        return true;
      }, &st);
      std::fputc('\n', stdout);
      std::fflush(stdout);
      if (!s.ok()) {
        Fail(s.message() + " (type /reset to start a new conversation)");
        continue;
      }
      in_conversation = true;
      if (a->engine.verbose) PrintGenerationStats(st, 0);
    }
    return 0;
  };
}

}  // namespace fastvlm::cli
