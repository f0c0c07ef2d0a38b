// Model download from the Hugging Face Hub into the cache layout huggingface_hub uses, so a model
// fetched by Python tools is reused here and ours is reused by them:
//
//   $HF_HUB_CACHE/models--ORG--NAME/
//     blobs/<etag>                  file content; etag = sha256 (LFS files) or git blob sha1
//     blobs/<etag>.incomplete       a partial download, resumed with an HTTP Range request
//     snapshots/<commit>/<path>  -> ../../blobs/<etag>   (relative symlink)
//     refs/<revision>               the commit a branch / tag resolved to
//
// Protocol (huggingface_hub hf_api.py model_info, file_download.py): GET
// {endpoint}/api/models/{repo}/revision/{revision}?blobs=true -> {"sha", "siblings"}; per file
// HEAD {endpoint}/{repo}/resolve/{commit}/{path} -> X-Repo-Commit, X-Linked-Etag or ETag,
// X-Linked-Size or Content-Length, Location (302 to a CDN for LFS files); then GET the location.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "base/status.h"

namespace fastvlm::hub {

struct HubOptions {
  std::string endpoint = "https://huggingface.co";  // HF_ENDPOINT
  std::string cache_dir;                             // HF_HUB_CACHE, HF_HOME/hub, ~/.cache/...
  std::string token;                                 // HF_TOKEN, else $HF_HOME/token
  bool offline = false;                              // HF_HUB_OFFLINE / TRANSFORMERS_OFFLINE
  std::string revision = "main";  // branch, tag or commit; "ORG/NAME@REV" overrides it
  // fnmatch patterns of repo files to fetch; empty = what fastvlm loads (DefaultPatterns()).
  std::vector<std::string> include;
  int max_retries = 5;        // per file, for dropped connections / 5xx (as huggingface_hub)
  double retry_delay_s = 1.0;
  double connect_timeout_s = 10;  // HF_HUB_ETAG_TIMEOUT
  double read_timeout_s = 10;     // HF_HUB_DOWNLOAD_TIMEOUT: abort when no byte came for this long
  // Non-fatal notes (e.g. "network unreachable, using the cached snapshot"); default: stderr.
  std::function<void(const std::string&)> warn;

  // Defaults overridden by the environment variables huggingface_hub reads.
  static HubOptions FromEnv();
};

struct DownloadProgress {
  std::string file;  // repo path of the file being downloaded
  int file_index = 0, file_count = 0;
  uint64_t file_done = 0, file_total = 0;  // bytes of this file
  uint64_t done = 0, total = 0;            // bytes of this pull (files to download only)
  bool finished = false;                   // the last call of a pull
};
using ProgressFn = std::function<void(const DownloadProgress&)>;

// True for "ORG/NAME" or "ORG/NAME@REVISION" with Hub-legal characters (not a path that exists:
// callers check that first).
bool LooksLikeRepoId(const std::string& s);

// The cache folder of a repo: "models--ORG--NAME" (file_download.py repo_folder_name).
std::string RepoFolderName(const std::string& repo_id);

// What `fastvlm` loads from a model repo: config, weights (safetensors), tokenizer, processor and
// chat template files. Not .bin / .pt / .gguf / .onnx / .mlpackage.
const std::vector<std::string>& DefaultPatterns();
bool MatchesAny(const std::string& path, const std::vector<std::string>& patterns);

// The default cache: HF_HUB_CACHE, else HF_HOME/hub, else $XDG_CACHE_HOME/huggingface/hub, else
// ~/.cache/huggingface/hub (huggingface_hub constants.py).
std::string DefaultCacheDir();

// Downloads (or finds in the cache) the files of `repo_id` and returns the local snapshot folder
// snapshots/<commit>. Files already in the cache are not fetched again. Offline: cache only.
StatusOr<std::string> Pull(const std::string& repo_id, const HubOptions& opt,
                           const ProgressFn& progress = {});

// `--model` resolution: an existing path is returned as is; "ORG/NAME[@REV]" goes through Pull();
// anything else is returned unchanged for the loader to report.
StatusOr<std::string> ResolveModel(const std::string& repo_or_path, const HubOptions& opt,
                                   const ProgressFn& progress = {});

}  // namespace fastvlm::hub
