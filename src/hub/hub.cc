// Hugging Face Hub client: revision -> commit, file list, cache layout, resumable verified
// downloads. Mirrors huggingface_hub 0.2x-1.x / 2.x (file_download.py, _snapshot_download.py,
// hf_api.py, constants.py) so that both tools share one cache.
#include "hub/hub.h"

#include <fcntl.h>
#include <fnmatch.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <regex>
#include <sstream>
#include <thread>

#include "base/sha256.h"
#include "hub/http.h"

namespace fastvlm::hub {
namespace fs = std::filesystem;
using internal::Headers;
using internal::HttpRequest;
using internal::HttpResponse;

namespace {

std::string Env(const char* name) {
  const char* v = std::getenv(name);
  return v ? v : "";
}

// constants.py _is_true.
bool EnvTrue(const char* name) {
  std::string v = Env(name);
  for (char& c : v) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  return v == "1" || v == "ON" || v == "YES" || v == "TRUE";
}

std::string ExpandUser(const std::string& p) {
  if (p.empty() || p[0] != '~') return p;
  return Env("HOME") + p.substr(1);
}

std::string HfHome() {
  if (!Env("HF_HOME").empty()) return ExpandUser(Env("HF_HOME"));
  const std::string xdg = Env("XDG_CACHE_HOME");
  return (xdg.empty() ? Env("HOME") + "/.cache" : ExpandUser(xdg)) + "/huggingface";
}

bool IsHex(const std::string& s, size_t n) {
  if (s.size() != n) return false;
  for (char c : s)
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return false;
  return true;
}
bool IsCommitHash(const std::string& s) { return IsHex(s, 40); }

// file_download.py _normalize_etag: W/"x" and "x" -> x.
std::string NormalizeEtag(std::string e) {
  if (e.rfind("W/", 0) == 0) e = e.substr(2);
  while (!e.empty() && e.front() == '"') e.erase(e.begin());
  while (!e.empty() && e.back() == '"') e.pop_back();
  return e;
}

std::string HumanBytes(uint64_t b) {
  char buf[32];
  if (b >= (uint64_t{1} << 30)) std::snprintf(buf, sizeof buf, "%.2f GB", b / 1e9);
  else if (b >= (uint64_t{1} << 20)) std::snprintf(buf, sizeof buf, "%.1f MB", b / 1e6);
  else std::snprintf(buf, sizeof buf, "%llu bytes", static_cast<unsigned long long>(b));
  return buf;
}

Status WriteError(const std::string& path, int err) {
  return Status::FromString("cannot write '" + path + "': " + std::strerror(err) +
                            (err == ENOSPC ? " (the disk is full; free space or set HF_HUB_CACHE "
                                             "to a folder on another disk)"
                                           : " (set HF_HUB_CACHE to a writable folder)"));
}

Status MakeDirs(const fs::path& p) {
  std::error_code ec;
  fs::create_directories(p, ec);
  if (ec)
    return Status::FromString("cannot create the cache folder '" + p.string() + "': " +
                              ec.message() + " (set HF_HUB_CACHE to a writable folder)");
  return Status::Ok();
}

// Atomic small-file write (tmp + rename), as huggingface_hub writes refs.
Status WriteSmallFile(const fs::path& p, const std::string& text) {
  RETURN_IF_ERROR(MakeDirs(p.parent_path()));
  const std::string tmp = p.string() + "." + std::to_string(getpid()) + ".tmp";
  {
    std::ofstream out(tmp, std::ios::binary);
    out << text;
    out.flush();
    if (!out) return WriteError(tmp, errno ? errno : EIO);
  }
  std::error_code ec;
  fs::rename(tmp, p, ec);
  if (ec) return WriteError(p.string(), ec.value());
  return Status::Ok();
}

std::string ReadSmallFile(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// An exclusive lock on .locks/<repo folder>/<etag>.lock, the file huggingface_hub's FileLock
// takes (fcntl.flock), so Python and fastvlm never write the same blob at once.
class BlobLock {
 public:
  explicit BlobLock(const fs::path& path) {
    std::error_code ec;
    fs::create_directories(path.parent_path(), ec);
    fd_ = ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    if (fd_ >= 0) ::flock(fd_, LOCK_EX);  // best effort: a cache on a read-only lock dir still works
  }
  ~BlobLock() {
    if (fd_ >= 0) ::close(fd_);
  }
  BlobLock(const BlobLock&) = delete;
  BlobLock& operator=(const BlobLock&) = delete;

 private:
  int fd_ = -1;
};

struct RepoFile {
  std::string path;          // in the repo, '/'-separated
  int64_t size = -1;         // from the siblings list (?blobs=true); -1 unknown
  std::string lfs_sha256;    // LFS files: the sha256 of the content
  // From the HEAD request:
  std::string etag, url;
  int64_t expected_size = -1;
};

class Client {
 public:
  Client(std::string repo_id, std::string revision, const HubOptions& opt, const ProgressFn& progress)
      : repo_(std::move(repo_id)), revision_(std::move(revision)), opt_(opt), progress_(progress) {
    endpoint_ = opt.endpoint;
    while (!endpoint_.empty() && endpoint_.back() == '/') endpoint_.pop_back();
    cache_ = opt.cache_dir.empty() ? DefaultCacheDir() : ExpandUser(opt.cache_dir);
    storage_ = fs::path(cache_) / RepoFolderName(repo_);
  }

  StatusOr<std::string> Run();

 private:
  std::vector<std::string> AuthHeaders(const std::string& url) const {
    std::vector<std::string> h;
    if (!opt_.token.empty() && internal::Origin(url) == internal::Origin(endpoint_))
      h.push_back("Authorization: Bearer " + opt_.token);
    return h;
  }
  void Warn(const std::string& msg) const {
    if (opt_.warn) opt_.warn(msg);
    else std::fprintf(stderr, "fastvlm: warning: %s\n", msg.c_str());
  }
  std::string HubPage() const { return endpoint_ + "/" + repo_; }
  std::string Host() const {
    std::string o = internal::Origin(endpoint_);
    const size_t s = o.find("://");
    return s == std::string::npos ? o : o.substr(s + 3);
  }

  Status UnreachableError(const HttpResponse& r) const;
  Status HttpError(const HttpResponse& r, const std::string& file) const;
  StatusOr<std::string> FromCache(const Status* network_error) const;
  std::vector<std::string> MissingFromSnapshot(const fs::path& snap) const;
  Status ResolveRevision(std::string* commit, std::vector<RepoFile>* files, HttpResponse* fail);
  Status Head(RepoFile* f, const std::string& commit);
  Status Download(RepoFile& f, int index, int count);
  Status Link(const RepoFile& f, const std::string& commit) const;
  fs::path BlobPath(const RepoFile& f) const { return storage_ / "blobs" / f.etag; }
  fs::path Pointer(const std::string& commit, const std::string& path) const {
    return storage_ / "snapshots" / commit / path;
  }
  void Report(const std::string& file, int index, int count, uint64_t file_done,
              uint64_t file_total, bool force);

  std::string repo_, revision_, endpoint_, cache_;
  fs::path storage_;
  const HubOptions& opt_;
  const ProgressFn& progress_;
  uint64_t done_ = 0, total_ = 0;
  std::chrono::steady_clock::time_point last_report_{};
};

Status Client::UnreachableError(const HttpResponse& r) const {
  return Status::FromString(
      "cannot reach the Hugging Face Hub at " + endpoint_ + " (" + r.error +
      "): check the network connection (and HF_ENDPOINT / https_proxy if set). Nothing usable for " +
      repo_ + " is in the cache " + cache_ +
      "; once it has been downloaded, HF_HUB_OFFLINE=1 runs from the cache without network");
}

Status Client::HttpError(const HttpResponse& r, const std::string& file) const {
  const std::string code = r.Header("x-error-code"), msg = r.Header("x-error-message");
  const std::string token_note =
      opt_.token.empty() ? "set HF_TOKEN to an access token (https://huggingface.co/settings/tokens)"
                         : "check that HF_TOKEN is valid and belongs to an account with access";
  if (r.status == 401 || r.status == 403 || code == "GatedRepo") {
    if (msg == "Invalid credentials in Authorization header")
      return Status::FromString("the Hub rejected HF_TOKEN (" + std::to_string(r.status) +
                                " invalid credentials) for " + repo_ +
                                ": set HF_TOKEN to a valid access token, or unset it");
    std::string what = r.status == 401 && code != "GatedRepo"
                           ? "repository " + repo_ + " was not found, or it is private or gated"
                           : "access to " + repo_ + " is restricted: the repository is gated or private";
    return Status::FromString(what + " (HTTP " + std::to_string(r.status) +
                              "). If it exists, open " + HubPage() +
                              ", log in and accept its license / request access, then " + token_note);
  }
  if (r.status == 404) {
    if (code == "RevisionNotFound")
      return Status::FromString("revision '" + revision_ + "' not found in " + repo_ +
                                " (HTTP 404): check the branch, tag or commit (" + HubPage() + ")");
    if (code == "EntryNotFound" || (!file.empty() && code != "RepoNotFound"))
      return Status::FromString("file '" + file + "' not found in " + repo_ + " at revision '" +
                                revision_ + "' (HTTP 404)");
    if (code.empty() && revision_ != "main")
      return Status::FromString("repository " + repo_ + " or its revision '" + revision_ +
                                "' not found on " + endpoint_ + " (HTTP 404)");
    return Status::FromString("repository " + repo_ + " not found on " + endpoint_ +
                              " (HTTP 404): check the name (ORG/NAME, e.g. apple/FastVLM-0.5B)");
  }
  std::string detail = msg;
  if (detail.empty()) {
    detail = r.body.substr(0, 200);
    for (char& c : detail)
      if (c == '\n' || c == '\r') c = ' ';
  }
  return Status::FromString("the Hub answered HTTP " + std::to_string(r.status) + " for " + repo_ +
                            (file.empty() ? "" : " file '" + file + "'") +
                            (detail.empty() ? "" : ": " + detail));
}

// Files a cached snapshot must hold for fastvlm to load it (default patterns only).
std::vector<std::string> Client::MissingFromSnapshot(const fs::path& snap) const {
  std::vector<std::string> missing;
  std::error_code ec;
  if (!opt_.include.empty()) {  // --include: at least one file per pattern
    for (const std::string& pat : opt_.include) {
      bool found = false;
      for (auto it = fs::recursive_directory_iterator(snap, ec);
           !ec && it != fs::recursive_directory_iterator(); it.increment(ec)) {
        const std::string rel = fs::relative(it->path(), snap, ec).generic_string();
        if (fs::is_regular_file(it->path()) && fnmatch(pat.c_str(), rel.c_str(), 0) == 0) {
          found = true;
          break;
        }
      }
      if (!found) missing.push_back(pat);
    }
    return missing;
  }
  if (!fs::exists(snap / "config.json")) missing.push_back("config.json");
  if (fs::exists(snap / "model.safetensors.index.json")) {
    auto idx = nlohmann::json::parse(ReadSmallFile(snap / "model.safetensors.index.json"), nullptr, false);
    if (idx.is_object() && idx.contains("weight_map") && idx["weight_map"].is_object()) {
      std::vector<std::string> shards;
      for (const auto& [k, v] : idx["weight_map"].items())
        if (v.is_string()) shards.push_back(v.get<std::string>());
      std::sort(shards.begin(), shards.end());
      shards.erase(std::unique(shards.begin(), shards.end()), shards.end());
      for (const std::string& s : shards)
        if (!fs::exists(snap / s)) missing.push_back(s);
    }
  } else {
    bool any = false;
    for (auto it = fs::directory_iterator(snap, ec); !ec && it != fs::directory_iterator(); it.increment(ec))
      if (it->path().extension() == ".safetensors" && fs::exists(it->path())) any = true;
    if (!any) missing.push_back("model.safetensors");
  }
  if (!fs::exists(snap / "tokenizer.json") &&
      !(fs::exists(snap / "vocab.json") && fs::exists(snap / "merges.txt")))
    missing.push_back("tokenizer.json");
  return missing;
}

// The cached snapshot for revision_ (refs/<revision> -> commit), as huggingface_hub finds it
// offline. network_error: why the Hub was not asked (null: HF_HUB_OFFLINE).
StatusOr<std::string> Client::FromCache(const Status* network_error) const {
  const std::string why = network_error ? network_error->message()
                                        : "HF_HUB_OFFLINE is set, so only the cache is used";
  std::string commit = IsCommitHash(revision_) ? revision_ : "";
  if (commit.empty()) {
    const fs::path ref = storage_ / "refs" / revision_;
    if (fs::is_regular_file(ref)) commit = ReadSmallFile(ref);
    while (!commit.empty() && std::isspace(static_cast<unsigned char>(commit.back()))) commit.pop_back();
  }
  const fs::path snap = storage_ / "snapshots" / commit;
  if (commit.empty() || !fs::is_directory(snap)) {
    if (network_error) return *network_error;
    return Status::FromString(repo_ + " (revision '" + revision_ + "') is not in the cache " + cache_ +
                              " and " + why + ": download it first with `fastvlm pull " + repo_ +
                              "` (network needed), or unset HF_HUB_OFFLINE");
  }
  const auto missing = MissingFromSnapshot(snap);
  if (!missing.empty()) {
    std::string list;
    for (const auto& m : missing) list += (list.empty() ? "" : ", ") + m;
    const Status s = Status::FromString(
        "the cached snapshot " + snap.string() + " of " + repo_ + " lacks " + list + " and " + why +
        ": complete it with `fastvlm pull " + repo_ + "` (network needed)");
    return s;
  }
  if (network_error) Warn(network_error->message() + "; using the cached snapshot " + snap.string());
  return snap.string();
}

Status Client::ResolveRevision(std::string* commit, std::vector<RepoFile>* files, HttpResponse* fail) {
  HttpRequest req;
  req.url = endpoint_ + "/api/models/" + repo_ + "/revision/" + internal::Quote(revision_, "") +
            "?blobs=true";
  req.headers = AuthHeaders(req.url);
  req.follow_redirects = true;  // renamed repos redirect
  req.connect_timeout_s = opt_.connect_timeout_s;
  req.read_timeout_s = std::max(opt_.read_timeout_s, opt_.connect_timeout_s);
  HttpResponse r;
  for (int attempt = 0;; ++attempt) {
    r = internal::Perform(req);
    const bool retry = (r.curl_code != 0 && internal::IsTransient(r.curl_code) &&
                        !internal::IsUnreachable(r.curl_code)) ||
                       (r.curl_code == 0 && (r.status >= 500 || r.status == 429 || r.status == 408));
    if (!retry || attempt >= opt_.max_retries) break;
    std::this_thread::sleep_for(std::chrono::duration<double>(opt_.retry_delay_s));
  }
  *fail = r;
  if (r.curl_code != 0) return UnreachableError(r);
  if (r.status != 200) return HttpError(r, "");
  auto j = nlohmann::json::parse(r.body, nullptr, false);
  if (!j.is_object() || !j.contains("sha") || !j["sha"].is_string() || !j.contains("siblings") ||
      !j["siblings"].is_array())
    return Status::FromString(req.url + " did not answer the Hub's JSON (no \"sha\" / \"siblings\"): "
                              "does HF_ENDPOINT point to a Hugging Face Hub?");
  *commit = j["sha"].get<std::string>();
  for (const auto& s : j["siblings"]) {
    if (!s.is_object() || !s.contains("rfilename") || !s["rfilename"].is_string()) continue;
    RepoFile f;
    f.path = s["rfilename"].get<std::string>();
    if (s.contains("size") && s["size"].is_number_integer()) f.size = s["size"].get<int64_t>();
    if (s.contains("lfs") && s["lfs"].is_object() && s["lfs"].contains("sha256") &&
        s["lfs"]["sha256"].is_string())
      f.lfs_sha256 = s["lfs"]["sha256"].get<std::string>();
    files->push_back(std::move(f));
  }
  return Status::Ok();
}

// file_download.py get_hf_file_metadata: HEAD, following only relative (same-Hub) redirects.
Status Client::Head(RepoFile* f, const std::string& commit) {
  std::string url = endpoint_ + "/" + repo_ + "/resolve/" + internal::Quote(commit, "") + "/" +
                    internal::Quote(f->path, "/");
  for (int hop = 0;; ++hop) {
    HttpRequest req;
    req.method = "HEAD";
    req.url = url;
    req.headers = AuthHeaders(url);
    req.headers.push_back("Accept-Encoding: identity");
    req.connect_timeout_s = opt_.connect_timeout_s;
    req.read_timeout_s = std::max(opt_.read_timeout_s, opt_.connect_timeout_s);
    HttpResponse r;
    for (int attempt = 0;; ++attempt) {
      r = internal::Perform(req);
      const bool retry = (r.curl_code != 0 && internal::IsTransient(r.curl_code)) ||
                         (r.curl_code == 0 && (r.status >= 500 || r.status == 429 || r.status == 408));
      if (!retry || attempt >= opt_.max_retries) break;
      std::this_thread::sleep_for(std::chrono::duration<double>(opt_.retry_delay_s));
    }
    if (r.curl_code != 0) return UnreachableError(r);
    std::string loc = r.Header("location");
    if (!loc.empty() && loc[0] == '/') loc = internal::Origin(url) + loc;
    const bool redirect = r.status >= 300 && r.status < 400;
    // Redirects that stay on the Hub (a renamed repository) are followed; one to a CDN carries the
    // file's metadata itself and its Location is where the bytes are.
    if (redirect && !loc.empty() && internal::Origin(loc) == internal::Origin(url) && hop < 5) {
      url = loc;
      continue;
    }
    if (!redirect && r.status != 200) return HttpError(r, f->path);
    const std::string got_commit = r.Header("x-repo-commit");
    if (got_commit.empty())
      return Status::FromString("the answer for " + url + " lacks the X-Repo-Commit header, so it does "
                                "not come from a Hugging Face Hub: check HF_ENDPOINT and proxy settings");
    std::string etag = r.Header("x-linked-etag");
    if (etag.empty()) etag = r.Header("etag");
    f->etag = NormalizeEtag(etag);
    if (f->etag.empty() || f->etag.find('/') != std::string::npos || f->etag == "." || f->etag == "..")
      return Status::FromString("the Hub sent no usable ETag for '" + f->path + "' (" + url + ")");
    std::string size = r.Header("x-linked-size");
    if (size.empty() && !redirect) size = r.Header("content-length");
    f->expected_size = size.empty() ? f->size : std::atoll(size.c_str());
    f->url = redirect && !loc.empty() ? loc : url;
    if (!f->lfs_sha256.empty() && IsHex(f->etag, 64) && f->etag != f->lfs_sha256)
      return Status::FromString("the Hub's ETag of '" + f->path + "' (" + f->etag +
                                ") differs from its LFS sha256 (" + f->lfs_sha256 + ")");
    return Status::Ok();
  }
}

void Client::Report(const std::string& file, int index, int count, uint64_t file_done,
                    uint64_t file_total, bool force) {
  if (!progress_) return;
  const auto now = std::chrono::steady_clock::now();
  if (!force && now - last_report_ < std::chrono::milliseconds(100)) return;
  last_report_ = now;
  DownloadProgress p;
  p.file = file;
  p.file_index = index;
  p.file_count = count;
  p.file_done = file_done;
  p.file_total = file_total;
  p.done = done_;
  p.total = total_;
  progress_(p);
}

// One blob: resumable (blobs/<etag>.incomplete + Range), size- and checksum-verified, then
// renamed into place. Retries dropped transfers like huggingface_hub's http_get.
Status Client::Download(RepoFile& f, int index, int count) {
  const fs::path blob = BlobPath(f);
  BlobLock lock(storage_.parent_path() / ".locks" / storage_.filename() / (f.etag + ".lock"));
  if (fs::exists(blob)) return Status::Ok();  // another process finished it meanwhile
  const std::string part = blob.string() + ".incomplete";
  // What the content must hash to: LFS files -> sha256; git files -> git blob sha1.
  const std::string want256 = !f.lfs_sha256.empty() ? f.lfs_sha256 : IsHex(f.etag, 64) ? f.etag : "";
  const bool git_sha1 = want256.empty() && IsHex(f.etag, 40) && f.expected_size >= 0;
  const uint64_t expected = f.expected_size >= 0 ? static_cast<uint64_t>(f.expected_size) : 0;

  Sha256 h256;
  Sha1 h1;
  uint64_t have = 0;  // bytes in `part`, all hashed
  auto reset_hash = [&] {
    h256 = Sha256();
    h1 = Sha1();
    if (git_sha1) {
      const std::string hdr = "blob " + std::to_string(f.expected_size) + std::string(1, '\0');
      h1.Update(hdr.data(), hdr.size());
    }
    have = 0;
  };
  auto hash = [&](const void* d, size_t n) {
    if (!want256.empty()) h256.Update(d, n);
    if (git_sha1) h1.Update(d, n);
  };
  reset_hash();
  // Resume: hash what an earlier run left.
  std::error_code ec;
  if (fs::exists(part)) {
    if (f.expected_size >= 0 && fs::file_size(part, ec) > expected) fs::remove(part, ec);
    std::FILE* in = std::fopen(part.c_str(), "rb");
    if (in) {
      std::vector<char> buf(1 << 20);
      size_t n;
      while ((n = std::fread(buf.data(), 1, buf.size(), in)) > 0) hash(buf.data(), n), have += n;
      std::fclose(in);
    }
  }
  done_ += have;

  int retries_left = opt_.max_retries;
  for (;;) {
    std::FILE* out = std::fopen(part.c_str(), have ? "ab" : "wb");
    if (!out) return WriteError(part, errno);
    int write_errno = 0;
    bool restarted = false;  // server ignored Range: start over
    uint64_t got = 0;
    HttpRequest req;
    req.url = f.url;
    req.follow_redirects = true;
    req.headers = AuthHeaders(f.url);  // none for a CDN on another host
    if (have) req.headers.push_back("Range: bytes=" + std::to_string(have) + "-");
    req.connect_timeout_s = opt_.connect_timeout_s;
    req.read_timeout_s = opt_.read_timeout_s;
    req.on_headers = [&](long status, const Headers& hd) {
      if (status == 206) {
        auto it = hd.find("content-range");  // "bytes START-END/TOTAL"
        const unsigned long long begin =
            it == hd.end() ? 0 : std::strtoull(it->second.c_str() + it->second.find_first_of("0123456789"), nullptr, 10);
        if (begin != have) {
          restarted = true;
          return false;
        }
      } else if (status == 200 && have) {  // Range ignored: the whole file comes again
        if (::ftruncate(fileno(out), 0) != 0 || std::fseek(out, 0, SEEK_SET) != 0) {
          write_errno = errno;
          return false;
        }
        done_ -= have;
        reset_hash();
      }
      return true;
    };
    req.on_body = [&](const char* d, size_t n) {
      if (std::fwrite(d, 1, n, out) != n) {
        write_errno = errno ? errno : EIO;
        return false;
      }
      hash(d, n);
      have += n, got += n, done_ += n;
      Report(f.path, index, count, have, expected, false);
      return true;
    };
    HttpResponse r = internal::Perform(req);
    if (std::fflush(out) != 0 && !write_errno) write_errno = errno;
    if (std::fclose(out) != 0 && !write_errno) write_errno = errno;
    if (write_errno) return WriteError(part, write_errno);
    if (restarted || r.status == 416) {  // a partial file the server cannot continue: start over
      fs::remove(part, ec);
      done_ -= have;
      reset_hash();
      if (retries_left-- <= 0)
        return Status::FromString("the server cannot resume '" + f.path + "' (" + f.url + ")");
      continue;
    }
    if (r.curl_code != 0 && !r.aborted) {
      if (got > 0) retries_left = opt_.max_retries;  // progress: a fresh set of retries
      if (internal::IsTransient(r.curl_code) && retries_left-- > 0) {
        Warn("download of '" + f.path + "' interrupted at " + HumanBytes(have) + " (" + r.error +
             "); resuming");
        std::this_thread::sleep_for(std::chrono::duration<double>(opt_.retry_delay_s));
        continue;
      }
      if (have == 0) fs::remove(part, ec);
      if (internal::IsUnreachable(r.curl_code)) return UnreachableError(r);
      return Status::FromString("download of '" + f.path + "' failed: " + r.error + " (" +
                                HumanBytes(have) + " kept in " + part + "; run again to resume)");
    }
    if (r.status >= 500 || r.status == 429 || r.status == 408) {
      if (retries_left-- > 0) {
        std::this_thread::sleep_for(std::chrono::duration<double>(opt_.retry_delay_s));
        continue;
      }
    }
    if (r.status != 200 && r.status != 206) {
      if (have == 0) fs::remove(part, ec);  // nothing worth resuming
      return HttpError(r, f.path);
    }
    if (f.expected_size >= 0 && have < expected) {  // closed early without an error
      if (retries_left-- > 0) continue;
      return Status::FromString("download of '" + f.path + "' stopped at " + std::to_string(have) +
                                " of " + std::to_string(expected) + " bytes; run again to resume");
    }
    break;
  }
  if (f.expected_size >= 0 && have != expected) {
    fs::remove(part, ec);
    return Status::FromString("size mismatch for '" + f.path + "': received " + std::to_string(have) +
                              " bytes, the Hub says " + std::to_string(expected) +
                              "; the download was deleted, run again");
  }
  std::string got_digest, want_digest, algo;
  if (!want256.empty()) got_digest = h256.HexDigest(), want_digest = want256, algo = "sha256";
  else if (git_sha1) got_digest = h1.HexDigest(), want_digest = f.etag, algo = "git sha1";
  if (!algo.empty() && got_digest != want_digest) {
    fs::remove(part, ec);
    return Status::FromString("checksum mismatch for '" + f.path + "' of " + repo_ + ": " + algo +
                              " " + got_digest + ", expected " + want_digest +
                              "; the corrupt download was deleted, run the command again");
  }
  // Blobs get 0666 & ~umask like huggingface_hub's _chmod_and_move (umask() is read by setting it;
  // nothing else runs threads that create files meanwhile).
  const mode_t mask = ::umask(0);
  ::umask(mask);
  ::chmod(part.c_str(), 0666 & ~mask);
  fs::rename(part, blob, ec);
  if (ec) return WriteError(blob.string(), ec.value());
  Report(f.path, index, count, have, expected, true);
  return Status::Ok();
}

// snapshots/<commit>/<path> -> ../../blobs/<etag> (one more ../ per folder level of <path>).
Status Client::Link(const RepoFile& f, const std::string& commit) const {
  const fs::path ptr = Pointer(commit, f.path);
  RETURN_IF_ERROR(MakeDirs(ptr.parent_path()));
  std::string target;
  for (size_t i = 0, n = 2 + std::count(f.path.begin(), f.path.end(), '/'); i < n; ++i) target += "../";
  target += "blobs/" + f.etag;
  std::error_code ec;
  fs::remove(ptr, ec);
  fs::create_symlink(target, ptr, ec);
  if (ec) {  // no symlinks here (e.g. some network file systems): a copy, as huggingface_hub does
    fs::copy_file(BlobPath(f), ptr, fs::copy_options::overwrite_existing, ec);
    if (ec) return WriteError(ptr.string(), ec.value());
  }
  return Status::Ok();
}

StatusOr<std::string> Client::Run() {
  if (opt_.offline) return FromCache(nullptr);
  // A commit whose snapshot is complete needs no network at all.
  if (IsCommitHash(revision_) && fs::is_directory(storage_ / "snapshots" / revision_) &&
      MissingFromSnapshot(storage_ / "snapshots" / revision_).empty())
    return (storage_ / "snapshots" / revision_).string();

  std::string commit;
  std::vector<RepoFile> all;
  HttpResponse fail;
  Status st = ResolveRevision(&commit, &all, &fail);
  if (!st.ok()) {
    // As huggingface_hub: without network (or a Hub answering 5xx) fall back to the cache.
    if (fail.curl_code != 0 || fail.status >= 500) return FromCache(&st);
    return st;
  }
  if (!IsCommitHash(commit))
    return Status::FromString("the Hub answered an invalid commit '" + commit + "' for " + repo_);
  const std::vector<std::string>& pats = opt_.include.empty() ? DefaultPatterns() : opt_.include;
  std::vector<RepoFile> files;
  for (auto& f : all) {
    if (f.path.empty() || f.path[0] == '/' || f.path.find("..") != std::string::npos) continue;
    if (MatchesAny(f.path, pats)) files.push_back(f);
  }
  if (files.empty()) {
    std::string names;
    for (size_t i = 0; i < all.size() && i < 12; ++i) names += (i ? ", " : "") + all[i].path;
    return Status::FromString(repo_ + " at revision '" + revision_ + "' has no files matching " +
                              (opt_.include.empty() ? std::string("what fastvlm loads (config.json, *.safetensors, tokenizer)")
                                                    : std::string("--include")) +
                              (names.empty() ? "" : "; it has: " + names));
  }
  RETURN_IF_ERROR(MakeDirs(storage_ / "blobs"));
  RETURN_IF_ERROR(MakeDirs(storage_ / "snapshots" / commit));
  if (!fs::exists(fs::path(cache_) / "CACHEDIR.TAG"))
    (void)WriteSmallFile(fs::path(cache_) / "CACHEDIR.TAG",
                         "Signature: 8a477f597d28d172789f06886806bc55\n"
                         "# This file is a cache directory tag created by huggingface_hub.\n"
                         "# For information about cache directory tags, see:\n"
                         "#\thttps://bford.info/cachedir/\n");
  if (revision_ != commit) {
    const fs::path ref = storage_ / "refs" / revision_;
    if (!fs::exists(ref) || ReadSmallFile(ref) != commit) RETURN_IF_ERROR(WriteSmallFile(ref, commit));
  }

  // Metadata of the files not yet in this snapshot; blobs already present only need a link.
  std::vector<RepoFile*> todo;
  uint64_t need = 0;
  for (auto& f : files) {
    if (fs::exists(Pointer(commit, f.path))) continue;
    RETURN_IF_ERROR(Head(&f, commit));
    if (fs::exists(BlobPath(f))) {
      RETURN_IF_ERROR(Link(f, commit));
      continue;
    }
    todo.push_back(&f);
    std::error_code ec;
    const std::string part = BlobPath(f).string() + ".incomplete";
    const uint64_t partial = fs::exists(part) ? fs::file_size(part, ec) : 0;
    if (f.expected_size > 0) {
      total_ += f.expected_size;
      if (static_cast<uint64_t>(f.expected_size) > partial) need += f.expected_size - partial;
    }
  }
  if (todo.empty()) return (storage_ / "snapshots" / commit).string();
  struct statvfs vfs;
  if (::statvfs((storage_ / "blobs").c_str(), &vfs) == 0) {
    const uint64_t avail = static_cast<uint64_t>(vfs.f_bavail) * vfs.f_frsize;
    if (avail < need)
      return Status::FromString("not enough disk space in " + (storage_ / "blobs").string() + ": " +
                                repo_ + " needs " + HumanBytes(need) + ", " + HumanBytes(avail) +
                                " is free; free space or set HF_HUB_CACHE to a folder on a larger disk");
  }
  for (size_t i = 0; i < todo.size(); ++i) {
    RETURN_IF_ERROR(Download(*todo[i], static_cast<int>(i), static_cast<int>(todo.size())));
    RETURN_IF_ERROR(Link(*todo[i], commit));
  }
  if (progress_) {
    DownloadProgress p;
    p.done = done_, p.total = total_, p.finished = true;
    p.file_count = static_cast<int>(todo.size());
    p.file_index = p.file_count;
    progress_(p);
  }
  return (storage_ / "snapshots" / commit).string();
}

}  // namespace

HubOptions HubOptions::FromEnv() {
  HubOptions o;
  if (!Env("HF_ENDPOINT").empty()) o.endpoint = Env("HF_ENDPOINT");
  while (!o.endpoint.empty() && o.endpoint.back() == '/') o.endpoint.pop_back();
  o.cache_dir = DefaultCacheDir();
  o.token = Env("HF_TOKEN");
  if (o.token.empty() && !EnvTrue("HF_HUB_DISABLE_IMPLICIT_TOKEN")) {
    const std::string path =
        Env("HF_TOKEN_PATH").empty() ? HfHome() + "/token" : ExpandUser(Env("HF_TOKEN_PATH"));
    std::string t = fs::is_regular_file(path) ? ReadSmallFile(path) : "";
    while (!t.empty() && std::isspace(static_cast<unsigned char>(t.back()))) t.pop_back();
    o.token = t;
  }
  o.offline = EnvTrue("HF_HUB_OFFLINE") || EnvTrue("TRANSFORMERS_OFFLINE");
  if (!Env("HF_HUB_ETAG_TIMEOUT").empty()) o.connect_timeout_s = std::atof(Env("HF_HUB_ETAG_TIMEOUT").c_str());
  if (!Env("HF_HUB_DOWNLOAD_TIMEOUT").empty())
    o.read_timeout_s = std::atof(Env("HF_HUB_DOWNLOAD_TIMEOUT").c_str());
  return o;
}

std::string DefaultCacheDir() {
  if (!Env("HF_HUB_CACHE").empty()) return ExpandUser(Env("HF_HUB_CACHE"));
  if (!Env("HUGGINGFACE_HUB_CACHE").empty()) return ExpandUser(Env("HUGGINGFACE_HUB_CACHE"));
  return HfHome() + "/hub";
}

bool LooksLikeRepoId(const std::string& s) {
  // huggingface_hub validate_repo_id: [\w.-]+ parts, no "--" or "..", <= 96 characters.
  static const std::regex re(R"(^[A-Za-z0-9][A-Za-z0-9._-]*/[A-Za-z0-9][A-Za-z0-9._-]*(@[^\s@]+)?$)");
  const std::string id = s.substr(0, s.find('@'));
  return std::regex_match(s, re) && id.find("--") == std::string::npos &&
         id.find("..") == std::string::npos && id.size() <= 96 && id.back() != '.' &&
         id.back() != '-';
}

std::string RepoFolderName(const std::string& repo_id) {
  std::string out = "models";
  std::stringstream ss(repo_id);
  std::string part;
  while (std::getline(ss, part, '/')) out += "--" + part;
  return out;
}

const std::vector<std::string>& DefaultPatterns() {
  static const std::vector<std::string> p = {
      "config.json", "generation_config.json", "preprocessor_config.json",
      "processor_config.json", "*.safetensors", "model.safetensors.index.json",
      "tokenizer.json", "tokenizer_config.json", "vocab.json", "merges.txt",
      "special_tokens_map.json", "added_tokens.json", "chat_template.json",
      "chat_template.jinja", "*.jinja"};
  return p;
}

bool MatchesAny(const std::string& path, const std::vector<std::string>& patterns) {
  // fnmatch without FNM_PATHNAME, as huggingface_hub's filter_repo_objects: '*' crosses '/'.
  for (const std::string& p : patterns)
    if (fnmatch(p.c_str(), path.c_str(), 0) == 0) return true;
  return false;
}

StatusOr<std::string> Pull(const std::string& repo_spec, const HubOptions& opt,
                           const ProgressFn& progress) {
  std::string repo = repo_spec, revision = opt.revision.empty() ? "main" : opt.revision;
  if (const size_t at = repo.find('@'); at != std::string::npos) {
    revision = repo.substr(at + 1);
    repo = repo.substr(0, at);
  }
  if (!LooksLikeRepoId(repo))
    return Status::FromString("'" + repo_spec + "' is not a Hugging Face repository id (ORG/NAME, "
                              "e.g. apple/FastVLM-0.5B)");
  if (revision.find("..") != std::string::npos || revision.front() == '/')
    return Status::FromString("invalid revision '" + revision + "'");
  Client c(repo, revision, opt, progress);
  return c.Run();
}

StatusOr<std::string> ResolveModel(const std::string& repo_or_path, const HubOptions& opt,
                                   const ProgressFn& progress) {
  std::error_code ec;
  if (repo_or_path.empty() || fs::exists(repo_or_path, ec) || !LooksLikeRepoId(repo_or_path))
    return repo_or_path;
  return Pull(repo_or_path, opt, progress);
}

}  // namespace fastvlm::hub
