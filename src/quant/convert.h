// HF checkpoint folder (or a GGUF file) -> one self-contained GGUF file (`fastvlm quantize`):
// every tensor in the chosen type, plus what a model folder carries besides weights (config.json, the tokenizer
// files, preprocessor_config.json), so the file alone is a model.
//
// File conventions (fastvlm GGUF, format version 1):
//   general.architecture = "fastvlm", general.name, general.alignment = 64
//   fastvlm.format_version = 1
//   fastvlm.config_json   = the source config.json, verbatim (io::ParseModelConfig reads it)
//   fastvlm.file.<name>   = the text of each tokenizer / processor file of the folder
//   fastvlm.quantization  = the --type given; fastvlm.source = the source folder
//   tensors keep their Hugging Face names and row-major shapes; fastvlm.lm_head_sketch.* is the
//   greedy-decoding sketch of a float lm_head (ConvertOptions::lm_head_sketch).
// From a GGUF source: tensors already in the target type (block types, the packed vision
// weights) are copied bit for bit; float tensors are converted; a block-quantized tensor is never
// re-quantized to another block type (an error names the --tensor-type that keeps it).
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "base/status.h"
#include "io/gguf.h"
#include "kernels/ops.h"

namespace fastvlm::quant {

struct ConvertOptions {
  std::string model_dir;
  std::string out_path;
  kernels::WType type = kernels::WType::kQ8_0;  // language-model matrices
  // Vision tower + projector matrices; f32 or bf16 (unset: as stored, f16 -> f32), or q8_0:
  // the 1×1-conv / linear weights of the vision GEMM with whole 32-value rows become Q8_0
  // matrices [out, in] (dequantized into the bf16 GEMM layout at load); the other vision tensors
  // keep their float type.
  bool vision_type_set = false;
  kernels::WType vision_type = kernels::WType::kBF16;
  // --tensor-type PATTERN=TYPE: the first pattern (std::regex_search on the tensor name) that
  // matches decides, before the defaults.
  std::vector<std::pair<std::string, kernels::WType>> overrides;
  // An f32 / bf16 / f16 lm_head (or tied embeddings) gets its greedy-decoding sketch stored
  // beside it (llm/lm_head_sketch.h: kSketchBlocksTensor, kSketchNormsTensor; +0.53 bytes per
  // lm_head weight), so loading does not build it. false: not written (built at load instead).
  bool lm_head_sketch = true;
  // Q8_0 / Q4_0 language-model matrices (q/k/v/o, gate/up/down, lm_head) that fit
  // (kernels::DecodePanelsFit) are stored as int8 decode panels, the layout the decode GEMV
  // reads, so loading does not rearrange them. false: the standard (llama.cpp) block layout.
  bool decode_panels = true;
};

struct ConvertStats {
  int tensors = 0;
  int dropped = 0;             // unused tensors not written (num_batches_tracked, head.proj)
  bool lm_head_sketch = false; // the lm_head sketch was written
  int vision_kept_float = 0;   // vision weights --vision-type q8_0 left in their float type
  uint64_t source_bytes = 0;   // of the tensors written, as stored in the source
  uint64_t output_bytes = 0;   // the GGUF file
  std::vector<std::pair<std::string, int>> type_counts;  // "Q8_0" -> tensors
};

// The GGUF (ggml) type of a weight type.
io::GgmlType ToGgml(kernels::WType t);

// Parses "f32", "bf16", "f16", "q8_0", "q4_0", "q4_1" (case-insensitive).
bool ParseWType(const std::string& s, kernels::WType* out);

// progress(done_tensors, total_tensors, name) is called before each tensor (may be null).
Status ConvertToGguf(const ConvertOptions& opt, ConvertStats* stats,
                     const std::function<void(int, int, const std::string&)>& progress = nullptr);

}  // namespace fastvlm::quant
