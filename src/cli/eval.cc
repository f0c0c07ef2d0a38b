// fastvlm eval --reference A --candidate B [--images DIR] [--prompts FILE] [--text FILE]
//              [--tokens N] [--json OUT]
// Accuracy of a candidate model (e.g. a q8_0 GGUF) against a reference of the same model (e.g.
// the bf16 folder): for each (image, prompt) the reference generates N greedy tokens; both models
// then evaluate that same sequence and the next-token distributions are compared position by
// position (KL(P_ref || P_cand), top-1 agreement; quant/metrics.h); the candidate's own greedy
// answer is compared with the reference's (identical prefix length). --text adds perplexities.
//
// fastvlm eval --candidate B --kld-base FILE: compares B with the logits llama.cpp saved for a
// text (`llama-perplexity --kl-divergence-base FILE`, tools/peers/compare_logits_llamacpp.py).
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>
#include <vector>

#include "cli/commands.h"
#include "cli/options.h"
#include "quant/metrics.h"
#include "runtime/engine.h"

namespace fastvlm::cli {
namespace {

using Json = nlohmann::json;

const std::vector<std::string> kImagePrompts = {"Describe this image.",
                                                "What objects are in this picture?",
                                                "What is the main color of the image?"};
const std::vector<std::string> kTextPrompts = {"What is the capital of France?",
                                               "Write a short poem about the sea.",
                                               "Explain in one sentence what a neural network is."};

bool IsImageFile(const std::filesystem::path& p) {
  std::string ext = p.extension().string();
  std::transform(ext.begin(), ext.end(), ext.begin(), [](unsigned char c) { return std::tolower(c); });
  for (const char* e : {".jpg", ".jpeg", ".png", ".bmp", ".gif", ".webp"})
    if (ext == e) return true;
  return false;
}

Status ReadText(const std::string& path, const char* flag, std::string* out) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return Status::Error("%s %s: cannot open the file", flag, path.c_str());
  std::stringstream ss;
  ss << in.rdbuf();
  *out = ss.str();
  return Status::Ok();
}

std::string NowIso8601() {
  char buf[32];
  std::time_t t = std::time(nullptr);
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", std::gmtime(&t));
  return buf;
}

Json StatsJson(const quant::DistributionStats& s) {
  return {{"kl_mean", s.Mean()}, {"kl_p99", s.P99()},         {"kl_max", s.Max()},
          {"top1_agreement", s.Top1()}, {"positions", s.positions()}};
}

void PrintRow(const char* label, const quant::DistributionStats& s) {
  if (s.positions() == 0) return;
  std::printf("%-16s %9lld  %10.3e  %10.3e  %10.3e  %7.2f%%\n", label,
              static_cast<long long>(s.positions()), s.Mean(), s.P99(), s.Max(), 100.0 * s.Top1());
}

void PrintHeader() {
  std::printf("%-16s %9s  %10s  %10s  %10s  %8s\n", "positions", "n", "KL mean", "KL p99",
              "KL max", "top-1");
}

Json NullOr(double v, bool ok) { return ok ? Json(v) : Json(); }

// Compares `probe`'s logits of each position [rows x stride] against the reference's over the
// first n entries; rows [begin, end) go to `stats` (and `item`).
void Compare(const std::vector<float>& ref, const std::vector<float>& cand, size_t stride, int n,
             int begin, int end, std::vector<double>* scratch, quant::DistributionStats* stats,
             quant::DistributionStats* item) {
  for (int r = begin; r < end; ++r) {
    const float* a = ref.data() + r * stride;
    const float* b = cand.data() + r * stride;
    const double kl = quant::KlDivergence(a, b, n, scratch);
    const bool same = quant::ArgMax(a, n) == quant::ArgMax(b, n);
    stats->Add(kl, same);
    if (item) item->Add(kl, same);
  }
}

// ---- llama.cpp's --kl-divergence-base file (tools/perplexity/perplexity.cpp) ----
//   "_logits_" i32 n_ctx, i32 n_vocab, i32 n_chunk, i32 tokens[n_chunk * n_ctx], then per chunk
//   n_ctx - 1 - n_ctx/2 rows (positions n_ctx/2 .. n_ctx-2, each predicting the next token) of
//   nv = 2*((n_vocab+1)/2) + 4 uint16: f32 scale, f32 min_log_prob, then per token
//   q = round((logit - min_logit) / scale) with min_logit = max(min, max - 16):
//   log p = min_log_prob + scale * q.
int RunKldBase(const std::string& base_path, Engine& cand, const std::string& cand_path,
               int max_chunks, const std::string& json_out) {
  std::ifstream in(base_path, std::ios::binary);
  if (!in) return Fail("--kld-base " + base_path + ": cannot open the file");
  char magic[8];
  int32_t hdr[3];
  if (!in.read(magic, 8) || std::memcmp(magic, "_logits_", 8) != 0 ||
      !in.read(reinterpret_cast<char*>(hdr), sizeof hdr))
    return Fail("--kld-base " + base_path + ": not a llama-perplexity --kl-divergence-base file "
                "(no \"_logits_\" header)");
  const int n_ctx = hdr[0], n_vocab = hdr[1], n_chunk = hdr[2];
  if (n_ctx < 4 || n_vocab < 2 || n_chunk < 1)
    return Fail("--kld-base " + base_path + ": bad header (n_ctx " + std::to_string(n_ctx) +
                ", n_vocab " + std::to_string(n_vocab) + ", chunks " + std::to_string(n_chunk) + ")");
  if (n_vocab != cand.model().vocab_rows())
    return Fail("--kld-base " + base_path + " has " + std::to_string(n_vocab) +
                " logits per position but " + cand_path + " has " +
                std::to_string(cand.model().vocab_rows()) + " vocabulary rows: not the same model");
  std::vector<int32_t> tokens(static_cast<size_t>(n_ctx) * n_chunk);
  if (!in.read(reinterpret_cast<char*>(tokens.data()), tokens.size() * sizeof(int32_t)))
    return Fail("--kld-base " + base_path + ": truncated token list");
  const int first = n_ctx / 2, rows = n_ctx - 1 - first;
  const size_t nv = 2 * ((static_cast<size_t>(n_vocab) + 1) / 2) + 4;
  const int chunks = max_chunks > 0 ? std::min(max_chunks, n_chunk) : n_chunk;
  std::vector<uint16_t> base(static_cast<size_t>(rows) * nv);
  std::vector<double> lp(n_vocab), lq(n_vocab);
  std::vector<float> logits;
  quant::DistributionStats all;
  quant::PerplexityAccumulator ppl_base, ppl_cand;
  Json items = Json::array();
  Progress progress(chunks, isatty(2));
  for (int c = 0; c < chunks; ++c) {
    progress.Show(c, "chunk " + std::to_string(c));
    if (!in.read(reinterpret_cast<char*>(base.data()), base.size() * sizeof(uint16_t))) {
      progress.Clear();
      return Fail("--kld-base " + base_path + ": truncated at chunk " + std::to_string(c));
    }
    const std::vector<int32_t> chunk(tokens.begin() + static_cast<size_t>(c) * n_ctx,
                                     tokens.begin() + static_cast<size_t>(c + 1) * n_ctx);
    cand.ResetContext();
    if (Status s = cand.EvaluatePrompt(chunk, &logits); !s.ok()) {
      progress.Clear();
      return Fail(s.message());
    }
    quant::DistributionStats item;
    for (int r = 0; r < rows; ++r) {
      const int pos = first + r;
      const uint16_t* row = base.data() + r * nv;
      float scale, min_log_prob;
      std::memcpy(&scale, row, 4);
      std::memcpy(&min_log_prob, row + 2, 4);
      // Decoded base log-probs, renormalized (the 16-bit rounding and the floor at max - 16 leave
      // them summing to 1 +- ~1e-4).
      double mx = -1e300;
      for (int i = 0; i < n_vocab; ++i) {
        lp[i] = static_cast<double>(min_log_prob) + static_cast<double>(scale) * row[4 + i];
        mx = std::max(mx, lp[i]);
      }
      double sum = 0;
      for (int i = 0; i < n_vocab; ++i) sum += std::exp(lp[i] - mx);
      const double lse = mx + std::log(sum);
      int base_top = 0;
      for (int i = 0; i < n_vocab; ++i) {
        lp[i] -= lse;
        if (row[4 + i] > row[4 + base_top]) base_top = i;
      }
      const float* ours = logits.data() + static_cast<size_t>(pos) * n_vocab;
      quant::LogSoftmax(ours, n_vocab, lq.data());
      const double kl = quant::KlDivergenceLogProbs(lp.data(), lq.data(), n_vocab);
      const bool same = quant::ArgMax(ours, n_vocab) == base_top;
      all.Add(kl, same);
      item.Add(kl, same);
      const int target = chunk[pos + 1];
      ppl_base.AddNll(-lp[target]);
      ppl_cand.AddNll(-lq[target]);
    }
    items.push_back({{"image", nullptr}, {"prompt", "chunk " + std::to_string(c)},
                     {"kl_mean", item.Mean()}, {"kl_max", item.Max()}, {"top1", item.Top1()},
                     {"greedy_prefix", nullptr}});
  }
  progress.Clear();
  std::printf("reference  %s (llama.cpp logits: %d chunks of %d tokens, scored positions %d..%d)\n",
              base_path.c_str(), chunks, n_ctx, first, n_ctx - 2);
  std::printf("candidate  %s (%s)\n\n", cand_path.c_str(),
              cand.model().weights().weight_type.c_str());
  PrintHeader();
  PrintRow("text", all);
  std::printf("\nperplexity: llama.cpp %.6f, ours %.6f (%+.4f%%)\n", ppl_base.Perplexity(),
              ppl_cand.Perplexity(),
              100.0 * (ppl_cand.Perplexity() / ppl_base.Perplexity() - 1.0));
  if (!json_out.empty()) {
    Json summary = StatsJson(all);
    summary["greedy_prefix_mean"] = nullptr;
    summary["perplexity_reference"] = ppl_base.Perplexity();
    summary["perplexity_candidate"] = ppl_cand.Perplexity();
    Json j = {{"schema", "fastvlm.eval.v1"},
              {"created", NowIso8601()},
              {"reference", base_path},
              {"candidate", cand_path},
              {"reference_weight_type", "llama.cpp logits"},
              {"candidate_weight_type", cand.model().weights().weight_type},
              {"tokens", 0},
              {"llamacpp", {{"n_ctx", n_ctx}, {"n_vocab", n_vocab}, {"chunks", chunks}}},
              {"items", items},
              {"summary", summary}};
    std::ofstream out(json_out);
    if (!out || !(out << j.dump(2) << "\n"))
      return Fail("--json " + json_out + ": cannot write the file");
  }
  return 0;
}

}  // namespace

Command RegisterEval(CLI::App& app) {
  struct Args {
    std::string reference, candidate, prompts_file, text_file, json_out, kld_base;
    std::vector<std::string> images;
    int tokens = 32, ctx = 512, threads = 0, chunks = 0;
    bool exact = false, no_panels = false;
  };
  auto a = std::make_shared<Args>();
  app.add_option("-r,--reference", a->reference,
                 "Reference model (folder or GGUF), e.g. the bf16 Hugging Face folder");
  app.add_option("-c,--candidate", a->candidate, "Candidate model, e.g. a q8_0 GGUF")->required();
  app.add_option("-i,--images", a->images,
                 "Image files or directories of images (repeatable); none: text-only prompts");
  app.add_option("--prompts", a->prompts_file,
                 "File with one prompt per line (default: three built-in questions)");
  app.add_option("--text", a->text_file,
                 "Text file: perplexity of both models (raw tokens, chunks of --ctx tokens)");
  app.add_option("-n,--tokens", a->tokens, "Greedy answer tokens per prompt (EOS ignored)")
      ->capture_default_str()->check(CLI::Range(1, 4096));
  app.add_option("--ctx", a->ctx, "Perplexity chunk length in tokens (non-overlapping)")
      ->capture_default_str()->check(CLI::Range(2, 1 << 16));
  app.add_option("--chunks", a->chunks, "Most perplexity / --kld-base chunks (0: all)")
      ->capture_default_str()->check(CLI::Range(0, 1 << 20));
  app.add_option("-t,--threads", a->threads, "Threads (0 = all cores)")->capture_default_str()
      ->check(CLI::Range(0, 1024));
  app.add_option("--json", a->json_out, "Write the results as JSON (schema fastvlm.eval.v1)");
  app.add_flag("--exact", a->exact,
               "Both models multiply float (f32/bf16/f16) weights with f32 activations, not the "
               "CPU's bf16 dot product: the reference's logits are then its f32 logits");
  app.add_flag("--no-panels", a->no_panels,
               "Both models: q8_0 / q4_0 weights through the kernels for the blocks as stored, "
               "not the int8 decode panels (see fastvlm run --help)");
  app.add_option("--kld-base", a->kld_base,
                 "Compare --candidate with llama.cpp's logits from `llama-perplexity "
                 "--kl-divergence-base FILE` instead of a --reference model");

  return [a]() -> int {
    namespace fs = std::filesystem;
    if (!a->json_out.empty() && !std::ofstream(a->json_out))  // fail before minutes of work
      return Fail("--json " + a->json_out + ": cannot write the file");
    if (!a->kld_base.empty()) {
      if (!a->reference.empty() || !a->images.empty() || !a->text_file.empty())
        return Fail("--kld-base compares --candidate with llama.cpp's saved logits: leave out "
                    "--reference, --images and --text");
      EngineArgs ea;
      ea.exact = a->exact;
      ea.no_panels = a->no_panels;
      ea.full_logits = true;  // eval compares logits: no lm_head sketch
      ea.model = a->candidate;
      ea.threads = a->threads;
      ea.ctx = 1 << 16;
      EngineOptions eo;
      eo.load_vision = false;
      auto cand = LoadEngine(ea, eo);
      if (!cand) return 1;
      return RunKldBase(a->kld_base, *cand, a->candidate, a->chunks, a->json_out);
    }
    if (a->reference.empty())
      return Fail("--reference is required (the model to compare --candidate with), or "
                  "--kld-base FILE");

    // ---- Inputs ----
    std::vector<std::string> images;
    for (const std::string& p : a->images) {
      std::error_code ec;
      if (fs::is_directory(p, ec)) {
        std::vector<std::string> found;
        for (const auto& e : fs::directory_iterator(p, ec))
          if (e.is_regular_file(ec) && IsImageFile(e.path())) found.push_back(e.path().string());
        if (found.empty())
          return Fail("--images " + p + ": the directory has no image files (.jpg .jpeg .png "
                      ".bmp .gif .webp)");
        std::sort(found.begin(), found.end());
        images.insert(images.end(), found.begin(), found.end());
      } else if (fs::is_regular_file(p, ec)) {
        images.push_back(p);
      } else {
        return Fail("--images " + p + ": no such file or directory");
      }
    }
    std::vector<std::string> prompts;
    if (!a->prompts_file.empty()) {
      std::string text;
      if (Status s = ReadText(a->prompts_file, "--prompts", &text); !s.ok()) return Fail(s.message());
      std::istringstream ss(text);
      for (std::string line; std::getline(ss, line);) {
        if (!line.empty() && line.back() == '\r') line.pop_back();
        if (!line.empty()) prompts.push_back(line);
      }
      if (prompts.empty()) return Fail("--prompts " + a->prompts_file + ": no prompts (one per line)");
    } else {
      prompts = images.empty() ? kTextPrompts : kImagePrompts;
    }
    std::string text;
    if (!a->text_file.empty()) {
      if (Status s = ReadText(a->text_file, "--text", &text); !s.ok()) return Fail(s.message());
    }

    // ---- Models ----
    EngineOptions eo;
    eo.load_vision = !images.empty();
    EngineArgs ea;
    ea.exact = a->exact;
    ea.no_panels = a->no_panels;
    ea.full_logits = true;  // eval compares logits: no lm_head sketch
    ea.threads = a->threads;
    ea.ctx = std::max(4096, a->ctx);
    ea.model = a->reference;
    auto ref = LoadEngine(ea, eo);
    if (!ref) return 1;
    ea.model = a->candidate;
    auto cand = LoadEngine(ea, eo);
    if (!cand) return 1;
    for (auto* e : {ref.get(), cand.get()}) {
      if (!images.empty() && !e->has_vision())
        return Fail((e == ref.get() ? a->reference : a->candidate) +
                    " has no vision tower: evaluate it without --images (text-only prompts)");
    }
    if (ref->model().vocab_rows() != cand->model().vocab_rows())
      return Fail("the reference (" + std::to_string(ref->model().vocab_rows()) + " rows, " +
                  std::to_string(ref->tokenizer().vocab_size()) + " tokens) and the candidate (" +
                  std::to_string(cand->model().vocab_rows()) + " rows, " +
                  std::to_string(cand->tokenizer().vocab_size()) +
                  " tokens) are not the same model");
    const size_t stride = static_cast<size_t>(ref->model().vocab_rows());
    // Real vocabulary: logits of the padding rows beyond the tokenizer are never sampled. The
    // layouts of one model may differ by an added token (transformers' FastVLM adds <image>,
    // Apple's uses a sentinel): the ids both tokenizers know count; prompts use the reference's.
    const int n_real = std::min({ref->tokenizer().vocab_size(), cand->tokenizer().vocab_size(),
                                 ref->model().vocab_rows()});
    if (ref->tokenizer().vocab_size() != cand->tokenizer().vocab_size())
      std::fprintf(stderr, "fastvlm: note: the tokenizers have %d and %d tokens; comparing the "
                   "first %d\n", ref->tokenizer().vocab_size(), cand->tokenizer().vocab_size(),
                   n_real);

    GenerationOptions go;
    go.max_tokens = a->tokens;
    go.ignore_eos = true;
    quant::DistributionStats answer_stats, prompt_stats, text_stats;
    double prefix_sum = 0;
    Json items = Json::array();
    std::vector<float> lr, lc;
    std::vector<double> scratch;
    const int n_items = static_cast<int>(std::max<size_t>(images.size(), 1) * prompts.size());
    int done = 0;
    Progress progress(n_items, isatty(2));
    auto fail = [&](const Status& s) {
      progress.Clear();
      return Fail(s.message());
    };
    const std::vector<std::string> image_list = images.empty() ? std::vector<std::string>{""} : images;
    for (const std::string& image : image_list) {
      if (!image.empty()) {
        progress.Show(done, image);
        for (Engine* e : {ref.get(), cand.get()})
          if (Status s = e->EncodeImageFile(image, ImageOptions(), nullptr); !s.ok()) return fail(s);
      }
      for (const std::string& prompt : prompts) {
        progress.Show(done, image.empty() ? prompt : image);
        const std::string content = image.empty() ? prompt : "<image>\n" + prompt;
        const std::vector<int32_t> ids = TokenizeWithImages(
            ref->tokenizer(), RenderChatML({{"user", content}}, /*add_generation_prompt=*/true));
        const size_t n_text = static_cast<size_t>(
            std::count_if(ids.begin(), ids.end(), [](int32_t t) { return t != kImageSentinel; }));
        std::vector<int32_t> answers[2];
        Engine* engines[2] = {ref.get(), cand.get()};
        for (int k = 0; k < 2; ++k) {
          engines[k]->ResetContext();
          GenerationStats gs;
          if (Status s = engines[k]->Generate(ids, go, nullptr, &gs); !s.ok()) return fail(s);
          const auto& h = engines[k]->history();
          answers[k].assign(h.begin() + std::min(n_text, h.size()), h.end());
        }
        // Teacher-forced: both models score the reference's answer.
        std::vector<int32_t> seq = ids;
        seq.insert(seq.end(), answers[0].begin(), answers[0].end());
        for (int k = 0; k < 2; ++k) {
          engines[k]->ResetContext();
          if (Status s = engines[k]->EvaluatePrompt(seq, k == 0 ? &lr : &lc); !s.ok()) return fail(s);
        }
        const int P = ref->PromptPositions(ids);
        const int N = static_cast<int>(answers[0].size());
        quant::DistributionStats item;
        Compare(lr, lc, stride, n_real, P - 1, P - 1 + N, &scratch, &answer_stats, &item);
        Compare(lr, lc, stride, n_real, 0, P - 1, &scratch, &prompt_stats, nullptr);
        const int prefix = quant::CommonPrefix(answers[0], answers[1]);
        prefix_sum += prefix;
        items.push_back({{"image", image.empty() ? Json() : Json(image)},
                         {"prompt", prompt},
                         {"kl_mean", item.Mean()},
                         {"kl_max", item.Max()},
                         {"top1", item.Top1()},
                         {"greedy_prefix", prefix},
                         {"reference_answer", ref->tokenizer().Decode(answers[0], true)},
                         {"candidate_answer", cand->tokenizer().Decode(answers[1], true)}});
        ++done;
      }
    }
    // ---- Perplexity ----
    quant::PerplexityAccumulator ppl_ref, ppl_cand;
    int text_tokens = 0, text_chunks = 0;
    if (!a->text_file.empty()) {
      const std::vector<int32_t> toks = ref->tokenizer().Encode(text);
      text_tokens = static_cast<int>(toks.size());
      int n_chunks = (text_tokens + a->ctx - 1) / a->ctx;
      if (a->chunks > 0) n_chunks = std::min(n_chunks, a->chunks);
      Progress pp(n_chunks, isatty(2));
      for (int c = 0; c < n_chunks; ++c) {
        pp.Show(c, "perplexity chunk " + std::to_string(c));
        const size_t b = static_cast<size_t>(c) * a->ctx;
        const size_t e = std::min(b + a->ctx, toks.size());
        if (e - b < 2) break;
        const std::vector<int32_t> chunk(toks.begin() + b, toks.begin() + e);
        for (int k = 0; k < 2; ++k) {
          Engine* eng = k == 0 ? ref.get() : cand.get();
          eng->ResetContext();
          if (Status s = eng->EvaluatePrompt(chunk, k == 0 ? &lr : &lc); !s.ok()) {
            pp.Clear();
            return Fail(s.message());
          }
        }
        for (size_t i = 0; i + 1 < chunk.size(); ++i) {
          ppl_ref.Add(lr.data() + i * stride, n_real, chunk[i + 1]);
          ppl_cand.Add(lc.data() + i * stride, n_real, chunk[i + 1]);
        }
        Compare(lr, lc, stride, n_real, 0, static_cast<int>(chunk.size()) - 1, &scratch,
                &text_stats, nullptr);
        ++text_chunks;
      }
      pp.Clear();
      if (text_chunks == 0) return Fail("--text " + a->text_file + ": fewer than 2 tokens");
    }
    progress.Clear();

    // ---- Report ----
    const std::string rtype = ref->model().weights().weight_type;
    const std::string ctype = cand->model().weights().weight_type;
    const double prefix_mean = items.empty() ? 0 : prefix_sum / items.size();
    std::printf("reference  %s (%s)\ncandidate  %s (%s)\n", a->reference.c_str(), rtype.c_str(),
                a->candidate.c_str(), ctype.c_str());
    std::printf("%zu image(s) x %zu prompt(s), %d greedy tokens each, KL(ref || cand) in nats "
                "over %d tokens\n\n",
                images.size(), prompts.size(), a->tokens, n_real);
    PrintHeader();
    PrintRow("answer", answer_stats);
    PrintRow("prompt", prompt_stats);
    PrintRow("text", text_stats);
    std::printf("\ngreedy identical prefix: mean %.2f of %d tokens\n", prefix_mean, a->tokens);
    if (text_chunks > 0)
      std::printf("perplexity (%d tokens, %d chunk(s) of <= %d): reference %.4f, candidate %.4f "
                  "(%+.3f%%)\n",
                  text_tokens, text_chunks, a->ctx, ppl_ref.Perplexity(), ppl_cand.Perplexity(),
                  100.0 * (ppl_cand.Perplexity() / ppl_ref.Perplexity() - 1.0));
    if (!a->json_out.empty()) {
      Json summary = StatsJson(answer_stats);
      summary["greedy_prefix_mean"] = prefix_mean;
      summary["perplexity_reference"] = NullOr(ppl_ref.Perplexity(), text_chunks > 0);
      summary["perplexity_candidate"] = NullOr(ppl_cand.Perplexity(), text_chunks > 0);
      summary["prompt"] = StatsJson(prompt_stats);
      if (text_chunks > 0) {
        summary["text"] = StatsJson(text_stats);
        summary["text"]["tokens"] = text_tokens;
        summary["text"]["chunk"] = a->ctx;
      }
      Json j = {{"schema", "fastvlm.eval.v1"},
                {"created", NowIso8601()},
                {"reference", a->reference},
                {"candidate", a->candidate},
                {"reference_weight_type", rtype},
                {"candidate_weight_type", ctype},
                {"tokens", a->tokens},
                {"exact", a->exact},
                {"no_panels", a->no_panels},
                {"items", items},
                {"summary", summary}};
      std::ofstream out(a->json_out);
      if (!out || !(out << j.dump(2, ' ', false, Json::error_handler_t::replace) << "\n"))
        return Fail("--json " + a->json_out + ": cannot write the file");
    }
    return 0;
  };
}

}  // namespace fastvlm::cli
