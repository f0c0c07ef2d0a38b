// SHA-256 of a byte range as 64 lowercase hex digits (FIPS 180-4), for fixtures that store
// digests instead of large buffers. A test utility: small and slow is fine.
#pragma once

#include <cstddef>
#include <string>

namespace fastvlm::testing {
std::string Sha256Hex(const void* data, size_t n);
}  // namespace fastvlm::testing
