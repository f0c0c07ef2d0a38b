// Checkpoint over a GGUF file written by `fastvlm quantize` (quant/convert.h): tensors by their
// Hugging Face names, config.json and the tokenizer / processor files from the metadata.
#include <fstream>

#include "io/gguf.h"
#include "io/safetensors.h"

namespace fastvlm::io {

bool HasGgufMagic(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  char magic[4] = {};
  return in.read(magic, 4) && magic[0] == 'G' && magic[1] == 'G' && magic[2] == 'U' &&
         magic[3] == 'F';
}

void PopulateGguf(const GgufFile& g) { g.file().Populate(); }

Checkpoint::Checkpoint() = default;
Checkpoint::~Checkpoint() = default;

namespace {
DType FromGgml(GgmlType t) {
  switch (t) {
    case GgmlType::kF32: return DType::kF32;
    case GgmlType::kF16: return DType::kF16;
    case GgmlType::kBF16: return DType::kBF16;
    case GgmlType::kQ8_0: return DType::kQ8_0;
    case GgmlType::kQ4_0: return DType::kQ4_0;
    case GgmlType::kQ4_1: return DType::kQ4_1;
  }
  return DType::kF32;
}
}  // namespace

StatusOr<std::unique_ptr<Checkpoint>> Checkpoint::OpenGguf(const std::string& path) {
  auto ckpt = std::unique_ptr<Checkpoint>(new Checkpoint());
  ckpt->dir_ = path;
  ASSIGN_OR_RETURN(ckpt->gguf_, GgufFile::Open(path));
  const GgufFile& g = *ckpt->gguf_;
  if (!g.Find("fastvlm.config_json")) {
    return Status::FromString(
        path + " is a GGUF file without fastvlm.config_json: it was not written by `fastvlm "
               "quantize` (GGUF files of other tools, e.g. llama.cpp's, cannot be used as --model; "
               "convert the Hugging Face folder with `fastvlm quantize`)");
  }
  ASSIGN_OR_RETURN(ckpt->config_json_, g.GetString("fastvlm.config_json"));
  const std::string prefix = "fastvlm.file.";
  for (const auto& [key, value] : g.metadata()) {
    if (key.rfind(prefix, 0) != 0) continue;
    ASSIGN_OR_RETURN(std::string text, g.GetString(key));
    ckpt->embedded_files_[key.substr(prefix.size())] = std::move(text);
  }
  ckpt->gguf_tensors_.reserve(g.tensors().size());
  for (const GgufFile::Tensor& t : g.tensors()) {
    TensorView v;
    v.name = t.name;
    v.dtype = FromGgml(t.type);
    v.shape = t.shape;
    v.data = t.data;
    v.nbytes = t.nbytes;
    v.file = path;
    ckpt->gguf_tensors_.push_back(std::move(v));
  }
  for (const TensorView& v : ckpt->gguf_tensors_) ckpt->by_name_.emplace(v.name, &v);
  return ckpt;
}

}  // namespace fastvlm::io
