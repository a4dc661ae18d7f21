// Errors thrown by the core. Each carries a stable code that the binding layer
// maps onto the typed error classes of lib/errors.ts.
#pragma once
#include <stdexcept>
#include <string>

namespace fastrec {

enum class ErrorCode {
  InvalidArgument,
  NotFitted,
  UnknownId,
  DimensionMismatch,
  CorruptFile,
  UnsupportedVersion,
  CudaUnavailable,
  Aborted,
  OutOfMemory,
  Io,
  Internal,
};

// The string form is the `code` property seen from JavaScript.
const char* error_code_name(ErrorCode code);

class Error : public std::runtime_error {
 public:
  Error(ErrorCode code, const std::string& message) : std::runtime_error(message), code_(code) {}
  ErrorCode code() const { return code_; }

 private:
  ErrorCode code_;
};

[[noreturn]] inline void throw_invalid(const std::string& message) {
  throw Error(ErrorCode::InvalidArgument, message);
}

}  // namespace fastrec
