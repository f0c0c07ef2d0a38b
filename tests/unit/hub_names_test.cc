// The naming rules of the Hugging Face cache and the Hub (huggingface_hub constants.py,
// file_download.py repo_folder_name, validators.py validate_repo_id, filter_repo_objects) and the
// default file selection of `fastvlm pull`. Downloads are tested end to end in tests/e2e/pull.sh.
#include <gtest/gtest.h>

#include <cstdlib>

#include "hub/http.h"
#include "hub/hub.h"

namespace fastvlm::hub {
namespace {

TEST(Hub, RepoIds) {
  for (const char* ok : {"apple/FastVLM-0.5B", "apple/FastVLM-7B", "a/b", "org_1/name.v2",
                         "apple/FastVLM-0.5B@main", "apple/FastVLM-0.5B@refs/pr/1"})
    EXPECT_TRUE(LooksLikeRepoId(ok)) << ok;
  for (const char* bad : {"", "apple", "apple/", "/abs/path", "./models/x", "../x/y", "a/b/c",
                          "a--b/c", "a/b..c", "a/b-", "models/tiny f32", "~/model"})
    EXPECT_FALSE(LooksLikeRepoId(bad)) << bad;
}

TEST(Hub, CacheFolderName) {
  EXPECT_EQ(RepoFolderName("apple/FastVLM-0.5B"), "models--apple--FastVLM-0.5B");
}

TEST(Hub, DefaultPatternsTakeWhatWeLoad) {
  const auto& p = DefaultPatterns();
  for (const char* yes : {"config.json", "model.safetensors", "model-00001-of-00004.safetensors",
                          "model.safetensors.index.json", "tokenizer.json", "tokenizer_config.json",
                          "vocab.json", "merges.txt", "special_tokens_map.json", "added_tokens.json",
                          "generation_config.json", "preprocessor_config.json", "chat_template.jinja"})
    EXPECT_TRUE(MatchesAny(yes, p)) << yes;
  for (const char* no : {"pytorch_model.bin", "model.pt", "model.gguf", "model.onnx", "README.md",
                         ".gitattributes", "fastvlm.mlpackage/Data/weight.bin", "llava_qwen.py"})
    EXPECT_FALSE(MatchesAny(no, p)) << no;
  // As huggingface_hub's fnmatch: '*' also crosses '/'.
  EXPECT_TRUE(MatchesAny("sub/dir/x.gguf", {"*.gguf"}));
}

TEST(Hub, DefaultCacheDirFollowsTheEnvironment) {
  ::setenv("HOME", "/home/u", 1);
  ::unsetenv("HF_HUB_CACHE");
  ::unsetenv("HUGGINGFACE_HUB_CACHE");
  ::unsetenv("HF_HOME");
  ::unsetenv("XDG_CACHE_HOME");
  EXPECT_EQ(DefaultCacheDir(), "/home/u/.cache/huggingface/hub");
  ::setenv("XDG_CACHE_HOME", "/xdg", 1);
  EXPECT_EQ(DefaultCacheDir(), "/xdg/huggingface/hub");
  ::setenv("HF_HOME", "~/hf", 1);
  EXPECT_EQ(DefaultCacheDir(), "/home/u/hf/hub");
  ::setenv("HF_HUB_CACHE", "/cache/hub", 1);
  EXPECT_EQ(DefaultCacheDir(), "/cache/hub");
}

TEST(Hub, OptionsFromEnvironment) {
  ::setenv("HF_ENDPOINT", "http://127.0.0.1:8080/", 1);
  ::setenv("HF_TOKEN", "hf_x", 1);
  ::setenv("HF_HUB_OFFLINE", "yes", 1);
  HubOptions o = HubOptions::FromEnv();
  EXPECT_EQ(o.endpoint, "http://127.0.0.1:8080");
  EXPECT_EQ(o.token, "hf_x");
  EXPECT_TRUE(o.offline);
  ::setenv("HF_HUB_OFFLINE", "0", 1);
  EXPECT_FALSE(HubOptions::FromEnv().offline);
  ::unsetenv("HF_ENDPOINT");
  EXPECT_EQ(HubOptions::FromEnv().endpoint, "https://huggingface.co");
}

TEST(Hub, UrlHelpers) {
  EXPECT_EQ(internal::Quote("refs/pr/1", ""), "refs%2Fpr%2F1");
  EXPECT_EQ(internal::Quote("dir/a b.json", "/"), "dir/a%20b.json");
  EXPECT_EQ(internal::Origin("https://Huggingface.co/apple/x/resolve/main/a"), "https://huggingface.co");
  EXPECT_EQ(internal::Origin("http://127.0.0.1:81/cdn/x?y"), "http://127.0.0.1:81");
}

TEST(Hub, OfflineWithoutCacheNamesWhatIsMissing) {
  HubOptions o;
  o.offline = true;
  o.cache_dir = ::testing::TempDir() + "/empty-hub-cache";
  auto r = Pull("apple/FastVLM-0.5B", o);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("not in the cache"), std::string::npos) << r.status().message();
  EXPECT_NE(r.status().message().find("fastvlm pull apple/FastVLM-0.5B"), std::string::npos);
  // An existing path is never sent to the Hub.
  auto p = ResolveModel(::testing::TempDir(), o);
  ASSERT_TRUE(p.ok());
  EXPECT_EQ(*p, ::testing::TempDir());
}

}  // namespace
}  // namespace fastvlm::hub
