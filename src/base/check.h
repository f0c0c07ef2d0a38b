// CHECK macros for broken invariants (programmer errors). They abort with file:line and the
// values involved. Bad *input* never reaches a CHECK: it is reported through Status.
#pragma once

#include <cstdio>
#include <cstdlib>
#include <sstream>

namespace fastvlm::internal {
[[noreturn]] inline void CheckFailed(const char* file, int line, const char* cond,
                                     const std::string& detail) {
  std::fprintf(stderr, "%s:%d: CHECK failed: %s %s\n", file, line, cond, detail.c_str());
  std::fflush(stderr);
  std::abort();
}
template <typename A, typename B>
std::string Values(const A& a, const B& b) {
  std::ostringstream os;
  os << "(" << a << " vs " << b << ")";
  return os.str();
}
}  // namespace fastvlm::internal

#define CHECK(cond)                                                               \
  do {                                                                            \
    if (!(cond)) ::fastvlm::internal::CheckFailed(__FILE__, __LINE__, #cond, ""); \
  } while (0)

#define FVLM_CHECK_OP(a, b, op)                                                 \
  do {                                                                          \
    const auto& _a = (a);                                                       \
    const auto& _b = (b);                                                       \
    if (!(_a op _b))                                                            \
      ::fastvlm::internal::CheckFailed(__FILE__, __LINE__, #a " " #op " " #b,   \
                                       ::fastvlm::internal::Values(_a, _b));    \
  } while (0)

#define CHECK_EQ(a, b) FVLM_CHECK_OP(a, b, ==)
#define CHECK_NE(a, b) FVLM_CHECK_OP(a, b, !=)
#define CHECK_LT(a, b) FVLM_CHECK_OP(a, b, <)
#define CHECK_LE(a, b) FVLM_CHECK_OP(a, b, <=)
#define CHECK_GT(a, b) FVLM_CHECK_OP(a, b, >)
#define CHECK_GE(a, b) FVLM_CHECK_OP(a, b, >=)
