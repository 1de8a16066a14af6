// Status: an errno-style code plus a message that states what was expected and what was found.
#pragma once
#include <cerrno>
#include <string>
#include <utility>

namespace cylon {

class Status {
 public:
  Status() = default;
  static Status OK() { return Status(); }
  static Status Invalid(std::string msg) { return Status(EINVAL, std::move(msg)); }
  static Status NotSupported(std::string msg) { return Status(ENOTSUP, std::move(msg)); }
  static Status Overflow(std::string msg) { return Status(EOVERFLOW, std::move(msg)); }
  static Status OutOfMemory(std::string msg) { return Status(ENOMEM, std::move(msg)); }

  bool ok() const { return code_ == 0; }
  int code() const { return code_; }
  const std::string& message() const { return message_; }

 private:
  Status(int code, std::string msg) : code_(code), message_(std::move(msg)) {}
  int code_ = 0;
  std::string message_;
};

#define CYLON_RETURN_NOT_OK(expr)          \
  do {                                     \
    ::cylon::Status _st = (expr);          \
    if (!_st.ok()) return _st;             \
  } while (0)

}  // namespace cylon
