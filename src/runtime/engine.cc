#include "runtime/engine.h"

#include <algorithm>
#include <cstring>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>
#include <thread>

#include "base/timer.h"

namespace fastvlm {

namespace {
// The input resolution a checkpoint was trained at: preprocessor_config.json (transformers-native
// and converted checkpoints: crop_size, else size.shortest_edge), else the _NNNN suffix of
// config.json's mm_vision_tower (Apple: "mobileclip_l_1024", spec §1.1), else 1024.
int CheckpointImageSize(const io::Checkpoint& ckpt) {
  if (ckpt.HasFile("preprocessor_config.json")) {
    auto text = ckpt.ReadFile("preprocessor_config.json");
    auto j = nlohmann::json::parse(text.ok() ? *text : std::string(), nullptr,
                                   /*allow_exceptions=*/false);
    if (j.is_object()) {
      if (j.contains("crop_size")) {
        const auto& c = j["crop_size"];
        if (c.is_number_integer()) return c.get<int>();
        if (c.is_object() && c.contains("height") && c["height"].is_number_integer())
          return c["height"].get<int>();
      }
      if (j.contains("size") && j["size"].is_object() && j["size"].contains("shortest_edge") &&
          j["size"]["shortest_edge"].is_number_integer())
        return j["size"]["shortest_edge"].get<int>();
    }
  }
  auto cfg = nlohmann::json::parse(ckpt.config_json(), nullptr, false);
  if (cfg.is_object() && cfg.contains("mm_vision_tower") && cfg["mm_vision_tower"].is_string()) {
    const std::string t = cfg["mm_vision_tower"].get<std::string>();
    const size_t us = t.rfind('_');
    if (us != std::string::npos && us + 1 < t.size() && t.size() - us <= 6 &&
        t.find_first_not_of("0123456789", us + 1) == std::string::npos)
      return std::stoi(t.substr(us + 1));
  }
  return 1024;
}
}  // namespace

StatusOr<std::unique_ptr<Tokenizer>> LoadTokenizer(const io::Checkpoint& ckpt) {
  if (!ckpt.is_gguf()) return Tokenizer::LoadFromDir(ckpt.dir());
  const io::Checkpoint* ck = &ckpt;
  FileSource src;
  src.label = ck->path();
  src.exists = [ck](const std::string& n) { return ck->HasFile(n); };
  src.read = [ck](const std::string& n) { return ck->ReadFile(n); };
  src.path = [ck](const std::string& n) { return ck->path() + ":" + n; };
  return Tokenizer::Load(src);
}

StatusOr<std::unique_ptr<Engine>> Engine::Load(const EngineOptions& opt) {
  const double t0 = NowSeconds();
  std::unique_ptr<Engine> e(new Engine());
  ASSIGN_OR_RETURN(e->ckpt_, io::Checkpoint::Open(opt.model_path));
  ASSIGN_OR_RETURN(e->config_, io::ParseModelConfig(e->ckpt_->config_json(),
                                                    e->ckpt_->dir() + "/config.json"));
  ASSIGN_OR_RETURN(e->tokenizer_, LoadTokenizer(*e->ckpt_));
  ASSIGN_OR_RETURN(llm::Qwen2Weights w, llm::LoadQwen2Weights(*e->ckpt_, e->config_));
  int threads = opt.threads;
  if (threads <= 0) threads = std::max(1u, std::thread::hardware_concurrency());
  e->pool_ = std::make_unique<ThreadPool>(threads);
  // Fault the weights in now (part of load time), not during the first forward pass; with more
  // than one thread, on a thread of its own overlapping the vision tower's loading (joined when
  // `populate` goes out of scope, on every return path). A pool capped to one thread
  // (FASTVLM_MAX_THREADS=1, e.g. under qemu-user, which hangs in pthread_create) creates none.
  const io::Checkpoint* ckpt = e->ckpt_.get();
  std::jthread populate;
  if (e->pool_->size() > 1) {
    populate = std::jthread([ckpt] { ckpt->Populate(); });
  } else {
    ckpt->Populate();
  }
  const io::Qwen2Config& c = e->config_.text;
  const int ctx = std::max(1, std::min(opt.max_context, c.max_position_embeddings));
  e->model_ = std::make_unique<llm::Qwen2Model>(c, std::move(w), ctx);
  e->logits_.resize(e->model_->vocab_rows());
  if (opt.load_vision && e->config_.layout != io::Layout::kQwen2 &&
      vision::HasVisionTower(*e->ckpt_)) {
    const int size = opt.image_size > 0 ? opt.image_size : CheckpointImageSize(*e->ckpt_);
    if (size <= 0 || size % 64 != 0) {
      return Status::Error("image size %d is not a positive multiple of 64 (FastViTHD downsamples "
                           "64x); pass --image-size, e.g. 1024",
                           size);
    }
    ASSIGN_OR_RETURN(e->vision_, vision::VisionModel::Load(*e->ckpt_, e->config_, size, e->pool_.get()));
    if (e->vision_->embed_dim() != c.hidden_size) {
      return Status::Error("%s: the projector outputs %d values per image token but the language "
                           "model's hidden_size is %d",
                           e->ckpt_->dir().c_str(), e->vision_->embed_dim(), c.hidden_size);
    }
    e->pixels_.resize(static_cast<size_t>(size) * size * 3);
    e->image_embeds_.resize(static_cast<size_t>(e->vision_->num_tokens()) * c.hidden_size);
  }
  e->history_.reserve(e->model_->max_context());  // no reallocation while generating

  auto add_stop = [&](int32_t id) {
    if (id >= 0 && std::find(e->stop_tokens_.begin(), e->stop_tokens_.end(), id) == e->stop_tokens_.end())
      e->stop_tokens_.push_back(id);
  };
  add_stop(e->tokenizer_->im_end_id());
  add_stop(e->tokenizer_->endoftext_id());
  for (int id : c.eos_token_ids) add_stop(id);
  if (populate.joinable()) populate.join();
  if (opt.lm_head_sketch) {
    const double ts = NowSeconds();
    // Stored in the file (a GGUF from `fastvlm quantize`), else built now.
    if (e->model_->AdoptLmHeadSketch(*e->ckpt_)) {
      e->sketch_stored_ = true;
      e->sketch_seconds_ = NowSeconds() - ts;
    } else if (e->model_->EnableLmHeadSketch(*e->pool_)) {
      e->sketch_seconds_ = NowSeconds() - ts;
    }
  }
  if (opt.decode_panels) {
    const double tp = NowSeconds();
    // The kernels read the panels from now on; the file's copy of those weights is needed only
    // for embedding rows and f32-activation prefill, which map their pages again on demand. Each
    // range is released as soon as its panels are written (Release ignores ranges outside the
    // checkpoint's files), so the weights are not resident twice.
    e->panels_bytes_ = e->model_->BuildDecodePanels(
        *e->pool_, [ckpt](const void* p, size_t n) { ckpt->Release(p, n); });
    if (e->panels_bytes_ > 0) {
      e->panels_seconds_ = NowSeconds() - tp;
    }
  }
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

Status Engine::EncodeImageFile(const std::string& path, const ImageOptions& opt,
                               ImageStats* stats) {
  if (!vision_) {
    return Status::Error("%s has no vision tower (no model.vision_tower.* tensors): it is a "
                         "text-only checkpoint; use `fastvlm generate`, or point --model at a "
                         "FastVLM folder",
                         ckpt_->dir().c_str());
  }
  const double t0 = NowSeconds();
  ASSIGN_OR_RETURN(image::Image img, image::DecodeFile(path, opt.decode));
  const double decode = NowSeconds() - t0;
  RETURN_IF_ERROR(EncodeImage(img, opt, stats));
  if (stats) stats->decode = decode;
  return Status::Ok();
}

Status Engine::EncodeImage(const image::Image& img, const ImageOptions& opt, ImageStats* stats) {
  if (!vision_) {
    return Status::Error("%s has no vision tower: it is a text-only checkpoint",
                         ckpt_->dir().c_str());
  }
  has_image_ = false;
  ImageStats st;
  st.width = img.width;
  st.height = img.height;
  st.tokens = vision_->num_tokens();
  const double t0 = NowSeconds();
  const image::Image pre = image::Preprocess(img, vision_->image_size(), opt.fit, pool_.get());
  image::ToFloat(pre, pixels_.data());
  st.preprocess = NowSeconds() - t0;
  vision::VisionTimings vt;
  RETURN_IF_ERROR(vision_->Encode(pixels_.data(), image_embeds_.data(), *pool_, &vt));
  st.encoder = vt.encoder;
  st.projector = vt.projector;
  has_image_ = true;
  if (stats) *stats = st;
  return Status::Ok();
}

int Engine::PromptPositions(const std::vector<int32_t>& prompt) const {
  int n = 0;
  for (int32_t id : prompt) n += id == kImageSentinel ? image_tokens() : 1;
  return n;
}

Status Engine::Prefill(const std::vector<int32_t>& prompt_in, bool all_logits, float* logits) {
  if (prompt_in.empty()) return Status::Error("empty prompt");
  // The last token of the previous answer, when generation stopped on a length / string /
  // callback limit, was streamed but never run: it goes first so the cache holds the whole turn.
  std::vector<int32_t> with_unfed;
  if (unfed_token_ >= 0 && !all_logits) {
    with_unfed.reserve(prompt_in.size() + 1);
    with_unfed.push_back(unfed_token_);
    with_unfed.insert(with_unfed.end(), prompt_in.begin(), prompt_in.end());
  }
  const std::vector<int32_t>& prompt = with_unfed.empty() ? prompt_in : with_unfed;
  const int n_images = static_cast<int>(std::count(prompt.begin(), prompt.end(), kImageSentinel));
  if (n_images > 0 && !vision_) {
    return Status::Error("the prompt has an <image> but %s has no vision tower (text-only "
                         "checkpoint)",
                         ckpt_->dir().c_str());
  }
  if (n_images > 1) {
    return Status::Error("the prompt has %d <image> placeholders; FastVLM takes one image per "
                         "prompt",
                         n_images);
  }
  if (n_images > 0 && !has_image_) {
    return Status::Error("the prompt has an <image> but no image was encoded");
  }
  const int positions = PromptPositions(prompt);
  if (model_->position() + positions > model_->max_context()) {
    return Status::Error("prompt of %d tokens%s does not fit in the context (%d tokens, %d "
                         "already used); raise --ctx-size or shorten the prompt",
                         positions, n_images ? " (image tokens included)" : "",
                         model_->max_context(), model_->position());
  }
  if (n_images == 0) {
    RETURN_IF_ERROR(model_->ForwardTokens(prompt.data(), static_cast<int>(prompt.size()),
                                          all_logits, logits, *pool_));
  } else {
    // Splice (llava_arch prepare_inputs_labels_for_multimodal): text embeddings around the image
    // vectors, positions contiguous over the whole sequence (spec §5.3).
    const int64_t d = model_->hidden_size();
    prompt_embeds_.resize(static_cast<size_t>(positions) * d);
    float* out = prompt_embeds_.data();
    size_t i = 0;
    while (i < prompt.size()) {
      if (prompt[i] == kImageSentinel) {
        std::memcpy(out, image_embeds_.data(), sizeof(float) * image_embeds_.size());
        out += image_embeds_.size();
        ++i;
        continue;
      }
      size_t j = i;
      while (j < prompt.size() && prompt[j] != kImageSentinel) ++j;
      RETURN_IF_ERROR(model_->Embed(prompt.data() + i, static_cast<int>(j - i), out));
      out += (j - i) * d;
      i = j;
    }
    RETURN_IF_ERROR(model_->Forward(prompt_embeds_.data(), positions, all_logits, logits, *pool_));
  }
  for (int32_t id : prompt_in)
    if (id != kImageSentinel) history_.push_back(id);
  unfed_token_ = -1;
  return Status::Ok();
}

Status Engine::EvaluatePrompt(const std::vector<int32_t>& prompt, std::vector<float>* logits) {
  if (unfed_token_ >= 0) {  // finish the previous turn first (see Prefill)
    RETURN_IF_ERROR(model_->ForwardTokens(&unfed_token_, 1, false, logits_.data(), *pool_));
    unfed_token_ = -1;
  }
  logits->resize(static_cast<size_t>(PromptPositions(prompt)) * model_->vocab_rows());
  return Prefill(prompt, /*all_logits=*/true, logits->data());
}

Status Engine::Generate(const std::vector<int32_t>& prompt, const GenerationOptions& opt,
                        const TokenCallback& on_text, GenerationStats* stats) {
  GenerationStats st;
  const double t0 = NowSeconds();
  const int positions = PromptPositions(prompt);
  llm::Sampler sampler(opt.sampling, tokenizer_->vocab_size());
  RETURN_IF_ERROR(Prefill(prompt, /*all_logits=*/false, logits_.data()));
  st.prompt_tokens = positions;
  st.prefill_seconds = NowSeconds() - t0;

  Utf8StreamDecoder utf8;
  std::string pending;  // decoded text not yet handed out (held back for stop strings)
  double t_first = 0;
  bool stopped_by_string = false;
  st.finish_reason = "length";
  // Plain greedy decoding asks the model for the argmax only, which the lm_head sketch answers
  // without computing most logits (the token Sample would pick).
  const bool greedy = sampler.ArgMaxOnly();
  int32_t next = -1;  // the next token, when the model already picked it (greedy)
  const llm::LmHeadSketch* sketch = model_->lm_head_sketch();
  const llm::LmHeadSketchStats sketch0 = sketch ? sketch->stats() : llm::LmHeadSketchStats{};
  for (int i = 0; i < opt.max_tokens; ++i) {
    const int32_t id = next >= 0 ? next : sampler.Sample(logits_.data(), model_->vocab_rows(), history_);
    next = -1;
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
        unfed_token_ = id;
        break;
      }
    }
    if (stop_string) {
      stopped_by_string = true;
      st.finish_reason = "stop";
      unfed_token_ = id;
      break;
    }
    if (i + 1 == opt.max_tokens || model_->position() >= model_->max_context()) {
      unfed_token_ = id;
      break;
    }
    if (greedy) {
      RETURN_IF_ERROR(model_->ForwardTokensGreedy(&id, 1, sampler.ValidRows(model_->vocab_rows()),
                                                  logits_.data(), &next, *pool_));
    } else {
      RETURN_IF_ERROR(model_->ForwardTokens(&id, 1, false, logits_.data(), *pool_));
    }
  }
  if (!stopped_by_string) pending += utf8.Flush();
  if (!pending.empty() && on_text && st.finish_reason != "callback") on_text(pending, -1);
  st.decode_seconds = t_first > 0 ? NowSeconds() - t_first : 0;
  if (sketch) {
    const llm::LmHeadSketchStats& s1 = sketch->stats();
    st.sketch_steps = s1.steps - sketch0.steps;
    st.sketch_fallbacks = s1.fallbacks - sketch0.fallbacks;
    st.sketch_candidates = s1.candidates - sketch0.candidates;
    st.sketch_max_candidates = s1.max_candidates;
  }
  if (stats) *stats = st;
  return Status::Ok();
}

}  // namespace fastvlm
