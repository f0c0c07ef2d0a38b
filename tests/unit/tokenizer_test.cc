// Tokenizer parity with the reference (HF tokenizers via transformers' fast Qwen2Tokenizer) on the
// real Qwen2 vocabulary. Expected ids come from tests/fixtures/tokenizer/cases.json, written by
// tools/reference/make_tokenizer_fixtures.py; nothing here is hand-derived except the spec §5.1
// prompt string.
#include <chrono>
#include <ctime>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "tokenizer/tokenizer.h"
#include "tokenizer/tokenizer_internal.h"

namespace fastvlm {
namespace {

namespace fs = std::filesystem;
using Json = nlohmann::json;

const std::string kTokenizerDir = std::string(FASTVLM_SOURCE_DIR) + "/tests/fixtures/qwen2_tokenizer";
const std::string kCasesPath = std::string(FASTVLM_SOURCE_DIR) + "/tests/fixtures/tokenizer/cases.json";

std::string ReadAll(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  std::ostringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

void WriteAll(const std::string& path, const std::string& data) {
  std::ofstream f(path, std::ios::binary);
  f << data;
}

const Json& Cases() {
  static const Json* j = new Json(Json::parse(ReadAll(kCasesPath)));
  return *j;
}

const Tokenizer& Qwen2() {
  static const Tokenizer* tok = [] {
    auto t = Tokenizer::LoadFromDir(kTokenizerDir);
    if (!t.ok()) {
      std::fprintf(stderr, "loading %s: %s\n", kTokenizerDir.c_str(), t.status().message().c_str());
      std::abort();
    }
    return std::move(t).value().release();
  }();
  return *tok;
}

std::string FromHex(const std::string& hex) {
  std::string out;
  for (size_t i = 0; i + 1 < hex.size(); i += 2) {
    out.push_back(static_cast<char>(std::stoi(hex.substr(i, 2), nullptr, 16)));
  }
  return out;
}

std::string IdsToString(const std::vector<int32_t>& ids) {
  std::string s = "[";
  for (size_t i = 0; i < ids.size(); ++i) s += (i ? ", " : "") + std::to_string(ids[i]);
  return s + "]";
}

// Escapes a string for a readable failure message.
std::string Printable(const std::string& s) {
  std::string out;
  for (unsigned char c : s) {
    if (c == '\n') {
      out += "\\n";
    } else if (c < 0x20 || c == 0x7F) {
      char buf[8];
      std::snprintf(buf, sizeof(buf), "\\x%02X", c);
      out += buf;
    } else {
      out.push_back(static_cast<char>(c));
    }
  }
  return out;
}

// A scratch folder under the build tree, emptied first.
std::string ScratchDir(const std::string& name) {
  const fs::path dir = fs::path(FASTVLM_BINARY_DIR) / "tokenizer_test_tmp" / name;
  fs::remove_all(dir);
  fs::create_directories(dir);
  return dir.string();
}

// Runs every fixture case through `tok` and reports the first mismatch with both id lists.
void ExpectAllCasesMatch(const Tokenizer& tok, const char* what) {
  const Json& cases = Cases()["cases"];
  ASSERT_GE(cases.size(), 2000u);
  size_t mismatches = 0;
  for (size_t i = 0; i < cases.size(); ++i) {
    const std::string text = cases[i]["text"];
    const std::vector<int32_t> expected = cases[i]["ids"];
    const std::vector<int32_t> got = tok.Encode(text);
    if (got != expected) {
      if (mismatches == 0) {
        ADD_FAILURE() << what << ": first mismatch at case " << i << " (" << cases[i]["kind"]
                      << ") text \"" << Printable(text) << "\"\n  expected " << IdsToString(expected)
                      << "\n  got      " << IdsToString(got);
      }
      ++mismatches;
    }
  }
  EXPECT_EQ(mismatches, 0u) << what << ": mismatching cases out of " << cases.size();
}

TEST(TokenizerTest, LoadsQwen2Vocabulary) {
  const Tokenizer& tok = Qwen2();
  const Json& special = Cases()["special_ids"];
  EXPECT_EQ(tok.endoftext_id(), special["<|endoftext|>"].get<int32_t>());
  EXPECT_EQ(tok.im_start_id(), special["<|im_start|>"].get<int32_t>());
  EXPECT_EQ(tok.im_end_id(), special["<|im_end|>"].get<int32_t>());
  EXPECT_EQ(tok.vocab_size(), tok.im_end_id() + 1);  // 151,643 BPE tokens + 3 added
  EXPECT_TRUE(tok.IsSpecial(tok.im_end_id()));
  EXPECT_TRUE(tok.IsSpecial(tok.endoftext_id()));
  EXPECT_FALSE(tok.IsSpecial(0));
  EXPECT_FALSE(tok.IsSpecial(-200));
  EXPECT_EQ(tok.TokenToId("<|im_start|>"), tok.im_start_id());
  EXPECT_EQ(tok.TokenToId("not a token at all"), -1);
  // TokenToId takes vocab.json's byte-level spelling; check it against the encoder.
  const std::vector<int32_t> hello = tok.Encode(" hello");
  ASSERT_EQ(hello.size(), 1u);
  EXPECT_EQ(tok.TokenToId("\xC4\xA0hello"), hello[0]);  // "Ġhello"
  EXPECT_EQ(tok.TokenBytes(hello[0]), " hello");
  EXPECT_EQ(tok.TokenBytes(-1), "");
  EXPECT_EQ(tok.TokenBytes(tok.vocab_size()), "");
}

TEST(TokenizerTest, EncodeMatchesReferenceOnAllCases) { ExpectAllCasesMatch(Qwen2(), "vocab.json"); }

TEST(TokenizerTest, PreTokenizerMatchesReferenceSplit) {
  // Piece by piece against the reference's own Split(regex) on the NFC text: catches regex
  // differences that BPE happens to hide in the ids.
  size_t checked = 0;
  for (const Json& c : Cases()["cases"]) {
    if (!c.contains("pieces")) continue;
    const std::string nfc = c["nfc"];
    std::vector<std::string_view> pieces;
    tokenizer_internal::PreTokenize(nfc, &pieces);
    const std::vector<std::string> expected = c["pieces"];
    ASSERT_EQ(std::vector<std::string>(pieces.begin(), pieces.end()), expected)
        << "text \"" << Printable(nfc) << "\"";
    ++checked;
  }
  EXPECT_GT(checked, 1000u);
}

TEST(TokenizerTest, DecodeOfEncodeIsNfc) {
  const Tokenizer& tok = Qwen2();
  const Json& cases = Cases()["cases"];
  for (size_t i = 0; i < cases.size(); ++i) {
    const std::string text = cases[i]["text"];
    // Where NFC would reach across a special token the reference keeps the token (see
    // tokenizer.cc); the fixture then records the reference's decoded text.
    const std::string expected = cases[i].contains("decoded") ? cases[i]["decoded"] : cases[i]["nfc"];
    const std::string got = tok.Decode(tok.Encode(text));
    ASSERT_EQ(got, expected) << "case " << i << " \"" << Printable(text) << "\"";
  }
}

TEST(TokenizerTest, DecodeMatchesReference) {
  const Tokenizer& tok = Qwen2();
  for (const Json& c : Cases()["decode"]) {
    const std::vector<int32_t> ids = c["ids"];
    EXPECT_EQ(tokenizer_internal::ReplaceInvalidUtf8(tok.Decode(ids)), c["text"].get<std::string>());
    EXPECT_EQ(tokenizer_internal::ReplaceInvalidUtf8(tok.Decode(ids, /*skip_special=*/true)),
              c["text_skip_special"].get<std::string>());
  }
}

TEST(TokenizerTest, InvalidUtf8BecomesReplacementCharacters) {
  // Documented in tokenizer.cc: each maximal ill-formed subpart becomes U+FFFD, as Python's
  // bytes.decode(errors="replace") does; the reference encoded that decoded string.
  const Tokenizer& tok = Qwen2();
  const Json& cases = Cases()["invalid_utf8"];
  ASSERT_GE(cases.size(), 100u);
  size_t invalid = 0;
  for (size_t i = 0; i < cases.size(); ++i) {
    const std::string bytes = FromHex(cases[i]["bytes_hex"]);
    const std::string replaced = cases[i]["replaced"];
    invalid += !tokenizer_internal::IsValidUtf8(bytes);
    EXPECT_EQ(tokenizer_internal::ReplaceInvalidUtf8(bytes), replaced) << "case " << i;
    const std::vector<int32_t> expected = cases[i]["ids"];
    EXPECT_EQ(tok.Encode(bytes), expected)
        << "case " << i << " bytes " << cases[i]["bytes_hex"] << "\n  expected "
        << IdsToString(expected) << "\n  got      " << IdsToString(tok.Encode(bytes));
  }
  EXPECT_GT(invalid, cases.size() / 2);  // the fixture really exercises invalid input
}

TEST(TokenizerTest, TokenizerJsonGivesSameIds) {
  // Build tokenizer.json from the committed files (the 5 MB file is not committed), once with
  // "a b" merges (older files) and once with ["a", "b"] pairs (tokenizers >= 0.20).
  const Json vocab = Json::parse(ReadAll(kTokenizerDir + "/vocab.json"));
  const Json config = Json::parse(ReadAll(kTokenizerDir + "/tokenizer_config.json"));
  Json added = Json::array();
  for (const auto& [id, t] : config["added_tokens_decoder"].items()) {
    Json a = t;
    a["id"] = std::stoi(id);
    added.push_back(a);
  }
  std::vector<std::string> merge_lines;
  std::istringstream merges(ReadAll(kTokenizerDir + "/merges.txt"));
  for (std::string line; std::getline(merges, line);) {
    if (!line.empty() && !line.starts_with("#version")) merge_lines.push_back(line);
  }
  for (bool pairs : {false, true}) {
    Json merges_json = Json::array();
    for (const std::string& m : merge_lines) {
      const size_t sp = m.find(' ');
      if (pairs) {
        merges_json.push_back(Json::array({m.substr(0, sp), m.substr(sp + 1)}));
      } else {
        merges_json.push_back(m);
      }
    }
    Json tj = {
        {"version", "1.0"},
        {"truncation", nullptr},
        {"padding", nullptr},
        {"added_tokens", added},
        {"normalizer", {{"type", "NFC"}}},
        {"pre_tokenizer",
         {{"type", "Sequence"},
          {"pretokenizers",
           Json::array({{{"type", "Split"},
                         {"pattern",
                          {{"Regex",
                            R"((?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+)"}}},
                         {"behavior", "Isolated"},
                         {"invert", false}},
                        {{"type", "ByteLevel"},
                         {"add_prefix_space", false},
                         {"trim_offsets", false},
                         {"use_regex", false}}})}}},
        {"decoder", {{"type", "ByteLevel"}}},
        {"model",
         {{"type", "BPE"},
          {"dropout", nullptr},
          {"unk_token", nullptr},
          {"continuing_subword_prefix", ""},
          {"end_of_word_suffix", ""},
          {"fuse_unk", false},
          {"byte_fallback", false},
          {"ignore_merges", false},
          {"vocab", vocab},
          {"merges", merges_json}}},
    };
    const std::string dir = ScratchDir(pairs ? "json_pairs" : "json_strings");
    WriteAll(dir + "/tokenizer.json", tj.dump());
    auto tok = Tokenizer::LoadFromDir(dir);
    ASSERT_TRUE(tok.ok()) << tok.status().message();
    EXPECT_EQ((*tok)->vocab_size(), Qwen2().vocab_size());
    EXPECT_EQ((*tok)->im_end_id(), Qwen2().im_end_id());
    EXPECT_TRUE((*tok)->IsSpecial((*tok)->im_end_id()));
    ExpectAllCasesMatch(**tok, pairs ? "tokenizer.json (pair merges)" : "tokenizer.json");
  }
}

TEST(TokenizerTest, SpecialTokensSplitOutByExactMatch) {
  const Tokenizer& tok = Qwen2();
  const std::vector<int32_t> ids = tok.Encode("<|im_start|>user<|im_end|><|endoftext|>");
  ASSERT_GE(ids.size(), 4u);
  EXPECT_EQ(ids.front(), tok.im_start_id());
  EXPECT_EQ(ids[ids.size() - 2], tok.im_end_id());
  EXPECT_EQ(ids.back(), tok.endoftext_id());
  EXPECT_EQ(tok.Decode(ids, /*skip_special=*/true), "user");
  EXPECT_EQ(tok.Decode(ids), "<|im_start|>user<|im_end|><|endoftext|>");
  // A near miss is ordinary text.
  for (int32_t id : tok.Encode("<|im_start|")) EXPECT_FALSE(tok.IsSpecial(id));
}

TEST(Utf8StreamDecoderTest, MatchesPythonIncrementalDecoder) {
  // Same text as Python's codecs incremental decoder (errors="replace") fed the same chunks. The
  // timing may differ in one direction only: we emit U+FFFD as soon as a sequence is known to be
  // ill-formed (e.g. ED A0, a surrogate lead), where Python holds it back until the sequence's
  // full length has arrived. So after each chunk our output so far must be a prefix of the final
  // text at least as long as Python's output so far.
  const Json& cases = Cases()["utf8_stream"];
  ASSERT_GE(cases.size(), 50u);
  for (size_t i = 0; i < cases.size(); ++i) {
    Utf8StreamDecoder dec;
    const Json& chunks = cases[i]["chunks_hex"];
    const Json& outputs = cases[i]["outputs"];
    ASSERT_EQ(outputs.size(), chunks.size() + 1);
    std::string total;
    for (const Json& o : outputs) total += o.get<std::string>();
    std::string ours, theirs;
    for (size_t k = 0; k < chunks.size(); ++k) {
      ours += dec.Push(FromHex(chunks[k]));
      theirs += outputs[k].get<std::string>();
      EXPECT_TRUE(total.starts_with(ours) && ours.size() >= theirs.size())
          << "case " << i << " after chunk " << k << ": ours \"" << Printable(ours)
          << "\" python \"" << Printable(theirs) << "\"";
    }
    ours += dec.Flush();
    EXPECT_EQ(ours, total) << "case " << i;
  }
}

TEST(Utf8StreamDecoderTest, MultibyteSplitAtEveryBoundary) {
  // 1-, 2-, 3- and 4-byte characters (and a ZWJ emoji sequence) split at every byte boundary:
  // nothing partial is ever emitted and the concatenation is the input.
  const std::string text = "a\xC3\xA9\xE4\xB8\xAD\xF0\x9F\x98\x80" "\xF0\x9F\x91\xA8\xE2\x80\x8D\xF0\x9F\x91\xA9" "z";
  ASSERT_TRUE(tokenizer_internal::IsValidUtf8(text));
  for (size_t cut1 = 0; cut1 <= text.size(); ++cut1) {
    for (size_t cut2 = cut1; cut2 <= text.size(); ++cut2) {
      Utf8StreamDecoder dec;
      const std::string a = dec.Push(text.substr(0, cut1));
      const std::string b = dec.Push(text.substr(cut1, cut2 - cut1));
      const std::string c = dec.Push(text.substr(cut2));
      const std::string d = dec.Flush();
      EXPECT_TRUE(tokenizer_internal::IsValidUtf8(a) && tokenizer_internal::IsValidUtf8(b) &&
                  tokenizer_internal::IsValidUtf8(c));
      EXPECT_EQ(d, "");
      EXPECT_EQ(a + b + c, text) << cut1 << " " << cut2;
    }
  }
}

TEST(Utf8StreamDecoderTest, StreamsTokenBytes) {
  // Emitting the bytes of each token of an emoji-heavy text through the decoder gives the text.
  const Tokenizer& tok = Qwen2();
  const std::string text = "Hi 👨‍👩‍👧‍👦 中文 é 🇯🇵!";
  Utf8StreamDecoder dec;
  std::string out;
  for (int32_t id : tok.Encode(text)) {
    const std::string piece = dec.Push(tok.TokenBytes(id));
    EXPECT_TRUE(tokenizer_internal::IsValidUtf8(piece));
    out += piece;
  }
  out += dec.Flush();
  EXPECT_EQ(out, text);
}

TEST(ChatTest, RenderChatMLSingleTurnIsSpecString) {
  const std::string prompt = "Describe the image.";
  const std::string rendered = RenderChatML({{"user", "<image>\n" + prompt}}, true);
  // Spec §5.1.
  EXPECT_EQ(rendered,
            "<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n<|im_start|>user\n"
            "<image>\nDescribe the image.<|im_end|>\n<|im_start|>assistant\n");
  // And the reference's apply_chat_template on the same conversation.
  EXPECT_EQ(rendered, Cases()["chat_template"]["rendered"].get<std::string>());
  // An explicit system message replaces the default one.
  EXPECT_EQ(RenderChatML({{"system", "S"}, {"user", "U"}, {"assistant", "A"}}, false),
            "<|im_start|>system\nS<|im_end|>\n<|im_start|>user\nU<|im_end|>\n"
            "<|im_start|>assistant\nA<|im_end|>\n");
}

TEST(ChatTest, TokenizeWithImagesPutsSentinelBetweenSeparatelyTokenizedChunks) {
  const Tokenizer& tok = Qwen2();
  const Json& ref = Cases()["tokenize_with_images"];
  const std::vector<int32_t> chunk0 = ref["chunks_ids"][0];
  const std::vector<int32_t> chunk1 = ref["chunks_ids"][1];
  std::vector<int32_t> expected = chunk0;
  expected.push_back(kImageSentinel);
  expected.insert(expected.end(), chunk1.begin(), chunk1.end());
  EXPECT_EQ(TokenizeWithImages(tok, ref["prompt"].get<std::string>()), expected);

  // Chunks are tokenized separately: "a<image>b" is Encode("a"), sentinel, Encode("b").
  std::vector<int32_t> ab = tok.Encode(" hello");
  ab.push_back(kImageSentinel);
  const std::vector<int32_t> world = tok.Encode("world");
  ab.insert(ab.end(), world.begin(), world.end());
  EXPECT_EQ(TokenizeWithImages(tok, " hello<image>world"), ab);
  // Images at the ends and back to back; no image at all.
  EXPECT_EQ(TokenizeWithImages(tok, "<image><image>"),
            (std::vector<int32_t>{kImageSentinel, kImageSentinel}));
  EXPECT_EQ(TokenizeWithImages(tok, "no image"), tok.Encode("no image"));
  EXPECT_EQ(TokenizeWithImages(tok, ""), std::vector<int32_t>{});
}

TEST(TokenizerTest, EncodeSpeed) {
  const Tokenizer& tok = Qwen2();
  // ~10 kB of mixed text assembled from the fixture cases.
  std::string text;
  for (const Json& c : Cases()["cases"]) {
    if (text.size() >= 10000) break;
    const std::string t = c["text"];
    if (t.size() < 300) text += t + " ";
  }
  text.resize(10000);
  text = tokenizer_internal::ReplaceInvalidUtf8(text);  // the cut may split a character
  size_t n_ids = tok.Encode(text).size();  // warm-up
  // Wall time and this process's CPU time: on a busy shared machine the latter is the cost.
  const int reps = 20;
  const auto t0 = std::chrono::steady_clock::now();
  const std::clock_t c0 = std::clock();
  for (int r = 0; r < reps; ++r) n_ids = tok.Encode(text).size();
  const double cpu_ms = (std::clock() - c0) * 1e3 / CLOCKS_PER_SEC / reps;
  const double ms =
      std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count() / reps;
  std::printf("encode: %zu bytes -> %zu ids in %.3f ms wall, %.3f ms cpu\n", text.size(), n_ids,
              ms, cpu_ms);
  const auto l0 = std::chrono::steady_clock::now();
  const std::clock_t lc0 = std::clock();
  auto loaded = Tokenizer::LoadFromDir(kTokenizerDir);
  const double load_cpu_ms = (std::clock() - lc0) * 1e3 / CLOCKS_PER_SEC;
  const double load_ms =
      std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - l0).count();
  ASSERT_TRUE(loaded.ok());
  std::printf("load vocab.json + merges.txt: %.1f ms wall, %.1f ms cpu\n", load_ms, load_cpu_ms);
}

// ---- Bad input files --------------------------------------------------------------------------

std::string CopyFixture(const std::string& name) {
  const std::string dir = ScratchDir(name);
  for (const char* f : {"vocab.json", "merges.txt", "tokenizer_config.json", "added_tokens.json",
                        "special_tokens_map.json"}) {
    fs::copy_file(kTokenizerDir + "/" + f, dir + "/" + f);
  }
  return dir;
}

void ExpectLoadError(const std::string& dir, const std::vector<std::string>& needles) {
  auto tok = Tokenizer::LoadFromDir(dir);
  ASSERT_FALSE(tok.ok()) << "loading " << dir << " should fail";
  for (const std::string& n : needles) {
    EXPECT_NE(tok.status().message().find(n), std::string::npos)
        << "error \"" << tok.status().message() << "\" lacks \"" << n << "\"";
  }
}

TEST(TokenizerErrorsTest, MissingFiles) {
  ExpectLoadError(ScratchDir("empty"), {"vocab.json", "not found"});
  ExpectLoadError(ScratchDir("nonexistent") + "/nope", {"vocab.json", "not found"});
  const std::string dir = CopyFixture("no_merges");
  fs::remove(dir + "/merges.txt");
  ExpectLoadError(dir, {"merges.txt", "not found"});
}

TEST(TokenizerErrorsTest, MalformedJson) {
  std::string dir = CopyFixture("bad_vocab");
  WriteAll(dir + "/vocab.json", "{\"a\": 0, \"b\": ");
  ExpectLoadError(dir, {"vocab.json", "malformed JSON"});

  dir = CopyFixture("vocab_not_object");
  WriteAll(dir + "/vocab.json", "[1, 2, 3]");
  ExpectLoadError(dir, {"vocab.json", "object"});

  dir = CopyFixture("vocab_bad_id");
  WriteAll(dir + "/vocab.json", "{\"a\": \"zero\"}");
  ExpectLoadError(dir, {"vocab.json", "'a'"});

  dir = CopyFixture("bad_config");
  WriteAll(dir + "/tokenizer_config.json", "{not json");
  ExpectLoadError(dir, {"tokenizer_config.json", "malformed JSON"});

  dir = CopyFixture("bad_added");
  WriteAll(dir + "/added_tokens.json", "{\"<x>\": -5}");
  ExpectLoadError(dir, {"added_tokens.json", "<x>"});

  dir = ScratchDir("bad_tokenizer_json");
  WriteAll(dir + "/tokenizer.json", "{\"model\": {\"type\": \"BPE\", \"vocab\": {\"a\": 0}");
  ExpectLoadError(dir, {"tokenizer.json", "malformed JSON"});

  dir = ScratchDir("wordpiece_tokenizer_json");
  WriteAll(dir + "/tokenizer.json", R"({"model": {"type": "WordPiece", "vocab": {"a": 0}}})");
  ExpectLoadError(dir, {"tokenizer.json", "BPE"});
}

TEST(TokenizerErrorsTest, MergesReferencingUnknownTokens) {
  std::string dir = CopyFixture("merge_unknown");
  std::string merges = ReadAll(dir + "/merges.txt");
  merges.insert(merges.find('\n') + 1, "\xC4\xA0t zzzunknownzzz\n");  // becomes line 2
  WriteAll(dir + "/merges.txt", merges);
  ExpectLoadError(dir, {"merges.txt", "merge 2", "zzzunknownzzz", "not in the vocabulary"});

  dir = CopyFixture("merge_result_unknown");
  merges = ReadAll(dir + "/merges.txt");
  merges.insert(merges.find('\n') + 1, "zz qq\n");  // both exist, "zzqq" does not
  WriteAll(dir + "/merges.txt", merges);
  ExpectLoadError(dir, {"merges.txt", "zzqq"});

  dir = CopyFixture("merge_bad_line");
  merges = ReadAll(dir + "/merges.txt");
  merges.insert(merges.find('\n') + 1, "lonely\n");
  WriteAll(dir + "/merges.txt", merges);
  ExpectLoadError(dir, {"merges.txt:2", "two"});
}

}  // namespace
}  // namespace fastvlm
