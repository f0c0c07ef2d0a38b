// SHA-256 (FIPS 180-4) and SHA-1 (FIPS 180-4 §6.1), incremental, as lowercase hex. SHA-256
// verifies downloaded weights (a Hugging Face LFS file's ETag is its SHA-256); SHA-1 verifies the
// small git-stored files, whose ETag is the git blob id: SHA-1 of "blob <size>\0" + content.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

namespace fastvlm {

class Sha256 {
 public:
  Sha256();
  void Update(const void* data, size_t n);
  // Finishes the digest; the object must not be updated afterwards.
  std::string HexDigest();

 private:
  void Block(const uint8_t* p);
  uint32_t h_[8];
  uint8_t buf_[64];
  size_t buf_len_ = 0;
  uint64_t total_ = 0;
};

class Sha1 {
 public:
  Sha1();
  void Update(const void* data, size_t n);
  std::string HexDigest();

 private:
  void Block(const uint8_t* p);
  uint32_t h_[5];
  uint8_t buf_[64];
  size_t buf_len_ = 0;
  uint64_t total_ = 0;
};

// One-shot SHA-256 of a byte range as 64 lowercase hex digits.
std::string Sha256Hex(const void* data, size_t n);

}  // namespace fastvlm
