// SHA-256 and SHA-1 against the FIPS 180 example vectors, incremental updates at every split, and
// the git blob id ("blob <n>\0" + content) the Hub uses as the ETag of non-LFS files.
#include "base/sha256.h"

#include <gtest/gtest.h>

#include <string>

namespace fastvlm {
namespace {

const std::string kLong = "abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq";  // 56 bytes

TEST(Sha256, KnownVectors) {
  EXPECT_EQ(Sha256Hex("", 0), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  EXPECT_EQ(Sha256Hex("abc", 3), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  EXPECT_EQ(Sha256Hex(kLong.data(), kLong.size()),
            "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");
  const std::string million(1000000, 'a');
  EXPECT_EQ(Sha256Hex(million.data(), million.size()),
            "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0");
}

TEST(Sha1, KnownVectors) {
  auto sha1 = [](const std::string& s) {
    Sha1 h;
    h.Update(s.data(), s.size());
    return h.HexDigest();
  };
  EXPECT_EQ(sha1(""), "da39a3ee5e6b4b0d3255bfef95601890afd80709");
  EXPECT_EQ(sha1("abc"), "a9993e364706816aba3e25717850c26c9cd0d89d");
  EXPECT_EQ(sha1(kLong), "84983e441c3bd26ebaae4aa1f95129e5e54670f1");
  // `git hash-object` of a file holding "hello\n".
  EXPECT_EQ(sha1(std::string("blob 6\0hello\n", 13)), "ce013625030ba8dba906f756967f9e9ca394464a");
}

TEST(Sha256, IncrementalEqualsOneShot) {
  std::string data;
  for (int i = 0; i < 300; ++i) data += static_cast<char>(i * 7 + 3);
  const std::string want = Sha256Hex(data.data(), data.size());
  for (size_t split = 0; split <= data.size(); ++split) {
    for (size_t chunk : {size_t{1}, size_t{63}, size_t{64}, size_t{65}, size_t{1000}}) {
      Sha256 h;
      h.Update(data.data(), split);
      for (size_t p = split; p < data.size(); p += chunk)
        h.Update(data.data() + p, std::min(chunk, data.size() - p));
      ASSERT_EQ(h.HexDigest(), want) << "split " << split << " chunk " << chunk;
    }
  }
}

}  // namespace
}  // namespace fastvlm
