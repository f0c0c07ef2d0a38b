#include "base/sha256.h"

#include <cstdio>
#include <algorithm>
#include <cstring>

namespace fastvlm {
namespace {

uint32_t Rotr(uint32_t x, int r) { return (x >> r) | (x << (32 - r)); }
uint32_t Rotl(uint32_t x, int r) { return (x << r) | (x >> (32 - r)); }
uint32_t LoadBE(const uint8_t* p) {
  return (uint32_t{p[0]} << 24) | (uint32_t{p[1]} << 16) | (uint32_t{p[2]} << 8) | p[3];
}

// Merkle–Damgård padding shared by both digests: 0x80, zeros, the bit length big-endian.
template <typename H>
void Pad(H* h, uint64_t total) {
  const uint64_t bits = total * 8;
  const uint8_t one = 0x80, zero = 0;
  h->Update(&one, 1);
  while ((total + 1 + h->pad_count) % 64 != 56) {
    h->Update(&zero, 1);
    ++h->pad_count;
  }
  uint8_t len[8];
  for (int i = 0; i < 8; ++i) len[i] = static_cast<uint8_t>(bits >> (8 * (7 - i)));
  h->Update(len, 8);
}

std::string Hex(const uint32_t* h, int words) {
  char hex[8 * 8 + 1];
  for (int i = 0; i < words; ++i) std::snprintf(hex + 8 * i, 9, "%08x", h[i]);
  return std::string(hex, 8 * words);
}

const uint32_t kK256[64] = {
    0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4,
    0xab1c5ed5, 0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe,
    0x9bdc06a7, 0xc19bf174, 0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f,
    0x4a7484aa, 0x5cb0a9dc, 0x76f988da, 0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7,
    0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967, 0x27b70a85, 0x2e1b2138, 0x4d2c6dfc,
    0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85, 0xa2bfe8a1, 0xa81a664b,
    0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070, 0x19a4c116,
    0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3,
    0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7,
    0xc67178f2};

// Buffers input and feeds whole 64-byte blocks to `block`.
template <typename F>
void Feed(uint8_t* buf, size_t* buf_len, const void* data, size_t n, F block) {
  const uint8_t* p = static_cast<const uint8_t*>(data);
  if (*buf_len) {
    const size_t take = std::min(n, 64 - *buf_len);
    std::memcpy(buf + *buf_len, p, take);
    *buf_len += take, p += take, n -= take;
    if (*buf_len < 64) return;
    block(buf);
    *buf_len = 0;
  }
  for (; n >= 64; p += 64, n -= 64) block(p);
  std::memcpy(buf, p, n);
  *buf_len = n;
}

struct Padder {
  uint64_t pad_count = 0;
};

}  // namespace

Sha256::Sha256()
    : h_{0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a, 0x510e527f, 0x9b05688c, 0x1f83d9ab,
         0x5be0cd19} {}

void Sha256::Block(const uint8_t* p) {
  uint32_t w[64];
  for (int i = 0; i < 16; ++i) w[i] = LoadBE(p + 4 * i);
  for (int i = 16; i < 64; ++i) {
    const uint32_t s0 = Rotr(w[i - 15], 7) ^ Rotr(w[i - 15], 18) ^ (w[i - 15] >> 3);
    const uint32_t s1 = Rotr(w[i - 2], 17) ^ Rotr(w[i - 2], 19) ^ (w[i - 2] >> 10);
    w[i] = w[i - 16] + s0 + w[i - 7] + s1;
  }
  uint32_t a = h_[0], b = h_[1], c = h_[2], d = h_[3], e = h_[4], f = h_[5], g = h_[6], h = h_[7];
  for (int i = 0; i < 64; ++i) {
    const uint32_t t1 =
        h + (Rotr(e, 6) ^ Rotr(e, 11) ^ Rotr(e, 25)) + ((e & f) ^ (~e & g)) + kK256[i] + w[i];
    const uint32_t t2 = (Rotr(a, 2) ^ Rotr(a, 13) ^ Rotr(a, 22)) + ((a & b) ^ (a & c) ^ (b & c));
    h = g, g = f, f = e, e = d + t1, d = c, c = b, b = a, a = t1 + t2;
  }
  h_[0] += a, h_[1] += b, h_[2] += c, h_[3] += d, h_[4] += e, h_[5] += f, h_[6] += g, h_[7] += h;
}

void Sha256::Update(const void* data, size_t n) {
  total_ += n;
  Feed(buf_, &buf_len_, data, n, [this](const uint8_t* p) { Block(p); });
}

std::string Sha256::HexDigest() {
  struct Sink : Padder {
    Sha256* s;
    void Update(const void* d, size_t n) {
      Feed(s->buf_, &s->buf_len_, d, n, [this](const uint8_t* p) { s->Block(p); });
    }
  } sink;
  sink.s = this;
  Pad(&sink, total_);
  return Hex(h_, 8);
}

Sha1::Sha1() : h_{0x67452301, 0xefcdab89, 0x98badcfe, 0x10325476, 0xc3d2e1f0} {}

void Sha1::Block(const uint8_t* p) {
  uint32_t w[80];
  for (int i = 0; i < 16; ++i) w[i] = LoadBE(p + 4 * i);
  for (int i = 16; i < 80; ++i) w[i] = Rotl(w[i - 3] ^ w[i - 8] ^ w[i - 14] ^ w[i - 16], 1);
  uint32_t a = h_[0], b = h_[1], c = h_[2], d = h_[3], e = h_[4];
  for (int i = 0; i < 80; ++i) {
    uint32_t f, k;
    if (i < 20) f = (b & c) | (~b & d), k = 0x5a827999;
    else if (i < 40) f = b ^ c ^ d, k = 0x6ed9eba1;
    else if (i < 60) f = (b & c) | (b & d) | (c & d), k = 0x8f1bbcdc;
    else f = b ^ c ^ d, k = 0xca62c1d6;
    const uint32_t t = Rotl(a, 5) + f + e + k + w[i];
    e = d, d = c, c = Rotl(b, 30), b = a, a = t;
  }
  h_[0] += a, h_[1] += b, h_[2] += c, h_[3] += d, h_[4] += e;
}

void Sha1::Update(const void* data, size_t n) {
  total_ += n;
  Feed(buf_, &buf_len_, data, n, [this](const uint8_t* p) { Block(p); });
}

std::string Sha1::HexDigest() {
  struct Sink : Padder {
    Sha1* s;
    void Update(const void* d, size_t n) {
      Feed(s->buf_, &s->buf_len_, d, n, [this](const uint8_t* p) { s->Block(p); });
    }
  } sink;
  sink.s = this;
  Pad(&sink, total_);
  return Hex(h_, 5);
}

std::string Sha256Hex(const void* data, size_t n) {
  Sha256 s;
  s.Update(data, n);
  return s.HexDigest();
}

}  // namespace fastvlm
