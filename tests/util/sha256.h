// SHA-256 for fixtures that store digests instead of large buffers: the library's (base/sha256.h).
#pragma once

#include "base/sha256.h"

namespace fastvlm::testing {
using ::fastvlm::Sha256Hex;
}  // namespace fastvlm::testing
