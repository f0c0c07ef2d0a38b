// Status and StatusOr: errors that cross module boundaries. A Status carries a human-readable
// message that names the file / tensor / flag at fault and, where possible, how to fix it.
#pragma once

#include <cstdarg>
#include <optional>
#include <string>
#include <utility>
#include <variant>

namespace fastvlm {

class Status {
 public:
  Status() = default;
  static Status Ok() { return Status(); }
  // printf-style message.
  [[gnu::format(printf, 1, 2)]] static Status Error(const char* fmt, ...);
  static Status FromString(std::string msg) {
    Status s;
    s.failed_ = true;
    s.message_ = std::move(msg);
    return s;
  }

  bool ok() const { return !failed_; }
  const std::string& message() const { return message_; }
  // Returns a copy with `context: ` prepended (e.g. the file name).
  Status WithContext(const std::string& context) const {
    if (ok()) return *this;
    return FromString(context + ": " + message_);
  }

 private:
  bool failed_ = false;
  std::string message_;
};

template <typename T>
class StatusOr {
 public:
  StatusOr(Status s) : v_(std::move(s)) {}  // NOLINT: implicit by design
  StatusOr(T value) : v_(std::move(value)) {}  // NOLINT
  bool ok() const { return v_.index() == 1; }
  const Status& status() const {
    static const Status kOk;
    return ok() ? kOk : std::get<0>(v_);
  }
  T& value() & { return std::get<1>(v_); }
  const T& value() const& { return std::get<1>(v_); }
  T&& value() && { return std::get<1>(std::move(v_)); }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }
  T& operator*() & { return value(); }

 private:
  std::variant<Status, T> v_;
};

std::string StringPrintf(const char* fmt, ...) __attribute__((format(printf, 1, 2)));
std::string StringVPrintf(const char* fmt, va_list ap);

}  // namespace fastvlm

#define FVLM_CONCAT_INNER(a, b) a##b
#define FVLM_CONCAT(a, b) FVLM_CONCAT_INNER(a, b)

// Returns the status from the enclosing function if it is an error.
#define RETURN_IF_ERROR(expr)                   \
  do {                                          \
    ::fastvlm::Status _st = (expr);             \
    if (!_st.ok()) return _st;                  \
  } while (0)

#define ASSIGN_OR_RETURN_IMPL(tmp, lhs, expr) \
  auto tmp = (expr);                          \
  if (!tmp.ok()) return tmp.status();         \
  lhs = std::move(tmp).value()

#define ASSIGN_OR_RETURN(lhs, expr) \
  ASSIGN_OR_RETURN_IMPL(FVLM_CONCAT(_status_or_, __COUNTER__), lhs, expr)
