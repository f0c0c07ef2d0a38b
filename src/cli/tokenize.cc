// fastvlm tokenize --model DIR --text TEXT [--ids]
#include <CLI/CLI.hpp>
#include <cstdio>
#include <sstream>

#include <filesystem>

#include "cli/commands.h"
#include "io/safetensors.h"
#include "runtime/engine.h"
#include "tokenizer/tokenizer.h"

namespace fastvlm::cli {

Command RegisterTokenize(CLI::App& app) {
  struct Args {
    std::string model, text;
    bool ids = false;
  };
  auto a = std::make_shared<Args>();
  app.add_option("-m,--model", a->model,
                 "Model folder with the tokenizer files, or a GGUF file from fastvlm quantize")
      ->required();
  app.add_option("-t,--text", a->text,
                 "Text to tokenize; with --ids, space- or comma-separated token ids to decode")
      ->required();
  app.add_flag("--ids", a->ids, "Decode ids back to text instead");
  return [a]() -> int {
    if (!ResolveModelArg(a->model)) return 1;  // ORG/NAME -> Hugging Face cache
    StatusOr<std::unique_ptr<Tokenizer>> tok = Status::Error("unreachable");
    if (std::filesystem::is_regular_file(a->model)) {  // a GGUF file embeds the tokenizer
      auto ckpt = io::Checkpoint::Open(a->model);
      if (!ckpt.ok()) return Fail(ckpt.status().message());
      tok = LoadTokenizer(**ckpt);
    } else {
      tok = Tokenizer::LoadFromDir(a->model);
    }
    if (!tok.ok()) return Fail(tok.status().message());
    if (a->ids) {
      std::vector<int32_t> ids;
      std::string s = a->text;
      for (char& c : s)
        if (c == ',') c = ' ';
      std::istringstream is(s);
      std::string word;
      while (is >> word) {
        char* end = nullptr;
        const long v = std::strtol(word.c_str(), &end, 10);
        if (*end != '\0' || v < 0 || v >= (*tok)->vocab_size())
          return Fail("--text: '" + word + "' is not a token id in [0, " +
                      std::to_string((*tok)->vocab_size()) + ")");
        ids.push_back(static_cast<int32_t>(v));
      }
      std::string text = (*tok)->Decode(ids);
      std::fwrite(text.data(), 1, text.size(), stdout);
      std::fputc('\n', stdout);
      return 0;
    }
    const std::vector<int32_t> ids = (*tok)->Encode(a->text);
    for (size_t i = 0; i < ids.size(); ++i) std::printf(i ? " %d" : "%d", ids[i]);
    std::printf("\n");
    return 0;
  };
}

}  // namespace fastvlm::cli
