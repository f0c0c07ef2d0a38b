// fastvlm pull ORG/NAME [--revision R] [--include GLOB]...: download a model from the Hugging
// Face Hub into the shared cache (hub/hub.h) and print its local folder. Also the resolution of
// `--model ORG/NAME` for the other subcommands.
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <cstdio>
#include <filesystem>
#include <memory>

#include "base/timer.h"
#include "cli/commands.h"
#include "hub/hub.h"

namespace fastvlm::cli {
namespace {

std::string Bytes(double b) {
  char buf[32];
  if (b >= 1e9) std::snprintf(buf, sizeof buf, "%.2f GB", b / 1e9);
  else if (b >= 1e6) std::snprintf(buf, sizeof buf, "%.1f MB", b / 1e6);
  else if (b >= 1e3) std::snprintf(buf, sizeof buf, "%.1f kB", b / 1e3);
  else std::snprintf(buf, sizeof buf, "%.0f B", b);
  return buf;
}

// "[#########.......] 1.20/3.04 GB  48.2 MB/s  ETA 38s  model.safetensors (2/5)" on stderr,
// redrawn in place; only on a terminal.
class ByteProgress {
 public:
  explicit ByteProgress(bool enabled) : enabled_(enabled) {}
  ~ByteProgress() { Clear(); }
  void Show(const hub::DownloadProgress& p) {
    const double now = NowSeconds();
    if (t0_ < 0) t0_ = now, done0_ = p.done;  // the rate counts this run's bytes, not a resumed prefix
    downloaded_ = p.done - done0_;
    seconds_ = now - t0_;
    if (!enabled_) return;
    if (p.finished) return Clear();
    const int width = 24;
    const int filled = p.total ? static_cast<int>(width * std::min<double>(1.0, double(p.done) / p.total)) : 0;
    std::string bar(filled, '#');
    bar.resize(width, '.');
    const double rate = seconds_ > 0.2 ? downloaded_ / seconds_ : 0;
    char eta[32] = "";
    if (rate > 0 && p.total > p.done) std::snprintf(eta, sizeof eta, "  ETA %.0fs", (p.total - p.done) / rate);
    std::string name = p.file;
    if (name.size() > 40) name = "..." + name.substr(name.size() - 37);
    std::fprintf(stderr, "\r\033[K[%s] %s/%s  %s/s%s  %s (%d/%d)", bar.c_str(), Bytes(p.done).c_str(),
                 Bytes(p.total).c_str(), Bytes(rate).c_str(), eta, name.c_str(), p.file_index + 1,
                 p.file_count);
    std::fflush(stderr);
    shown_ = true;
  }
  void Clear() {
    if (shown_) std::fprintf(stderr, "\r\033[K");
    shown_ = false;
  }
  uint64_t downloaded() const { return downloaded_; }
  double seconds() const { return seconds_; }

 private:
  bool enabled_, shown_ = false;
  double t0_ = -1, seconds_ = 0;
  uint64_t done0_ = 0, downloaded_ = 0;
};

// pull: always the Hub; --model: a path that exists stays a path.
StatusOr<std::string> PullWithProgress(const std::string& repo, const hub::HubOptions& opt,
                                       bool always_hub) {
  ByteProgress bar(isatty(2));
  auto show = [&](const hub::DownloadProgress& p) { bar.Show(p); };
  auto path = always_hub ? hub::Pull(repo, opt, show) : hub::ResolveModel(repo, opt, show);
  bar.Clear();
  if (path.ok() && bar.downloaded() > 0)
    std::fprintf(stderr, "fastvlm: downloaded %s of %s in %.1f s\n", Bytes(bar.downloaded()).c_str(),
                 repo.c_str(), bar.seconds());
  return path;
}

}  // namespace

bool ResolveModelArg(std::string& model) {
  auto path = PullWithProgress(model, hub::HubOptions::FromEnv(), false);
  if (!path.ok()) {
    std::error_code ec;
    Fail("--model " + model + ": " +
         (std::filesystem::exists(model, ec) ? "" : "no such file or folder; as a Hugging Face repository: ") +
         path.status().message());
    return false;
  }
  model = *path;
  return true;
}

Command RegisterPull(CLI::App& app) {
  struct Args {
    std::string repo, revision = "main";
    std::vector<std::string> include;
  };
  auto a = std::make_shared<Args>();
  app.footer(
      "Files go to the Hugging Face cache shared with Python tools (huggingface_hub, transformers):\n"
      "$HF_HUB_CACHE, else $HF_HOME/hub, else ~/.cache/huggingface/hub. Environment: HF_TOKEN (gated\n"
      "or private repositories), HF_ENDPOINT (a mirror), HF_HUB_OFFLINE=1 (cache only, no network).\n"
      "Other commands accept --model ORG/NAME[@REVISION] and pull it first.");
  app.add_option("repo", a->repo, "Hugging Face model repository, e.g. apple/FastVLM-0.5B")
      ->required();
  app.add_option("--revision", a->revision, "Branch, tag or commit hash")->capture_default_str();
  app.add_option("--include", a->include,
                 "Fetch the repo files matching this glob instead of the defaults (config, "
                 "*.safetensors, tokenizer and processor files); repeatable");
  return [a]() -> int {
    hub::HubOptions opt = hub::HubOptions::FromEnv();
    opt.revision = a->revision;
    opt.include = a->include;
    if (!hub::LooksLikeRepoId(a->repo))
      return Fail("'" + a->repo + "' is not a Hugging Face repository id (ORG/NAME, e.g. "
                  "apple/FastVLM-0.5B)");
    auto path = PullWithProgress(a->repo, opt, true);
    if (!path.ok()) return Fail(path.status().message());
    std::printf("%s\n", path->c_str());
    return 0;
  };
}

}  // namespace fastvlm::cli
