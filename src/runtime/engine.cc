#include "runtime/engine.h"

#include <algorithm>
#include <thread>

#include "base/timer.h"

namespace fastvlm {

StatusOr<std::unique_ptr<Engine>> Engine::Load(const EngineOptions& opt) {
  const double t0 = NowSeconds();
  std::unique_ptr<Engine> e(new Engine());
  ASSIGN_OR_RETURN(e->ckpt_, io::Checkpoint::Open(opt.model_path));
  ASSIGN_OR_RETURN(e->config_, io::ParseModelConfig(e->ckpt_->config_json(),
                                                    e->ckpt_->dir() + "/config.json"));
  ASSIGN_OR_RETURN(e->tokenizer_, Tokenizer::LoadFromDir(e->ckpt_->dir()));
  ASSIGN_OR_RETURN(llm::Qwen2Weights w, llm::LoadQwen2Weights(*e->ckpt_, e->config_));
  // Fault the weights in now (part of load time), not during the first forward pass.
  e->ckpt_->Populate();
  const io::Qwen2Config& c = e->config_.text;
  const int ctx = std::max(1, std::min(opt.max_context, c.max_position_embeddings));
  e->model_ = std::make_unique<llm::Qwen2Model>(c, std::move(w), ctx);
  int threads = opt.threads;
  if (threads <= 0) threads = std::max(1u, std::thread::hardware_concurrency());
  e->pool_ = std::make_unique<ThreadPool>(threads);
  e->logits_.resize(e->model_->vocab_rows());
  e->history_.reserve(e->model_->max_context());  // no reallocation while generating

  auto add_stop = [&](int32_t id) {
    if (id >= 0 && std::find(e->stop_tokens_.begin(), e->stop_tokens_.end(), id) == e->stop_tokens_.end())
      e->stop_tokens_.push_back(id);
  };
  add_stop(e->tokenizer_->im_end_id());
  add_stop(e->tokenizer_->endoftext_id());
  for (int id : c.eos_token_ids) add_stop(id);
  e->load_seconds_ = NowSeconds() - t0;
  return e;
}

namespace {
// Length of the longest suffix of `text` that is a proper prefix of some stop string: that much
// text must be held back until we know whether the stop string completes.
size_t HeldBack(const std::string& text, const std::vector<std::string>& stops) {
  size_t hold = 0;
  for (const auto& s : stops) {
    for (size_t len = std::min(s.size() - 1, text.size()); len > hold; --len) {
      if (text.compare(text.size() - len, len, s, 0, len) == 0) {
        hold = len;
        break;
      }
    }
  }
  return hold;
}
}  // namespace

Status Engine::Generate(const std::vector<int32_t>& prompt, const GenerationOptions& opt,
                        const TokenCallback& on_text, GenerationStats* stats) {
  GenerationStats st;
  const double t0 = NowSeconds();
  if (prompt.empty()) return Status::Error("empty prompt");
  if (model_->position() + static_cast<int>(prompt.size()) > model_->max_context()) {
    return Status::Error("prompt of %zu tokens does not fit in the context (%d tokens, %d already "
                         "used); raise --ctx-size or shorten the prompt",
                         prompt.size(), model_->max_context(), model_->position());
  }
  llm::Sampler sampler(opt.sampling, tokenizer_->vocab_size());
  RETURN_IF_ERROR(model_->ForwardTokens(prompt.data(), static_cast<int>(prompt.size()), false,
                                        logits_.data(), *pool_));
  history_.insert(history_.end(), prompt.begin(), prompt.end());
  st.prompt_tokens = static_cast<int>(prompt.size());
  st.prefill_seconds = NowSeconds() - t0;

  Utf8StreamDecoder utf8;
  std::string pending;  // decoded text not yet handed out (held back for stop strings)
  double t_first = 0;
  bool stopped_by_string = false;
  st.finish_reason = "length";
  for (int i = 0; i < opt.max_tokens; ++i) {
    const int32_t id = sampler.Sample(logits_.data(), model_->vocab_rows(), history_);
    if (i == 0) {
      t_first = NowSeconds();
      st.ttft_seconds = t_first - t0;
    }
    ++st.generated_tokens;
    const bool is_stop = std::find(stop_tokens_.begin(), stop_tokens_.end(), id) != stop_tokens_.end();
    if (is_stop && !opt.ignore_eos) {
      st.finish_reason = "stop";
      break;
    }
    history_.push_back(id);
    if (!tokenizer_->IsSpecial(id)) pending += utf8.Push(tokenizer_->TokenBytes(id));
    bool stop_string = false;
    for (const auto& s : opt.stop_strings) {
      const size_t at = s.empty() ? std::string::npos : pending.find(s);
      if (at != std::string::npos) {
        pending.resize(at);
        stop_string = true;
      }
    }
    const size_t hold = stop_string ? 0 : HeldBack(pending, opt.stop_strings);
    if (pending.size() > hold) {
      std::string out = pending.substr(0, pending.size() - hold);
      pending.erase(0, pending.size() - hold);
      if (on_text && !on_text(out, id)) {
        st.finish_reason = "callback";
        break;
      }
    }
    if (stop_string) {
      stopped_by_string = true;
      st.finish_reason = "stop";
      break;
    }
    if (i + 1 == opt.max_tokens) break;
    if (model_->position() >= model_->max_context()) {
      st.finish_reason = "length";
      break;
    }
    RETURN_IF_ERROR(model_->ForwardTokens(&id, 1, false, logits_.data(), *pool_));
  }
  if (!stopped_by_string) pending += utf8.Flush();
  if (!pending.empty() && on_text && st.finish_reason != "callback") on_text(pending, -1);
  st.decode_seconds = t_first > 0 ? NowSeconds() - t_first : 0;
  if (stats) *stats = st;
  return Status::Ok();
}

}  // namespace fastvlm
