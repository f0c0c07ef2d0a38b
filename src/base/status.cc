#include "base/status.h"

#include <cstdio>
#include <vector>

namespace fastvlm {

std::string StringVPrintf(const char* fmt, va_list ap) {
  va_list ap2;
  va_copy(ap2, ap);
  const int n = std::vsnprintf(nullptr, 0, fmt, ap2);
  va_end(ap2);
  if (n <= 0) return std::string();
  std::string out(static_cast<size_t>(n), '\0');
  std::vsnprintf(out.data(), out.size() + 1, fmt, ap);
  return out;
}

std::string StringPrintf(const char* fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  std::string s = StringVPrintf(fmt, ap);
  va_end(ap);
  return s;
}

Status Status::Error(const char* fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  Status s = FromString(StringVPrintf(fmt, ap));
  va_end(ap);
  return s;
}

}  // namespace fastvlm
