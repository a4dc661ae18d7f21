#include "common/error.hpp"

namespace fastrec {

const char* error_code_name(ErrorCode code) {
  switch (code) {
    case ErrorCode::InvalidArgument: return "INVALID_ARGUMENT";
    case ErrorCode::NotFitted: return "NOT_FITTED";
    case ErrorCode::UnknownId: return "UNKNOWN_ID";
    case ErrorCode::DimensionMismatch: return "DIMENSION_MISMATCH";
    case ErrorCode::CorruptFile: return "CORRUPT_FILE";
    case ErrorCode::UnsupportedVersion: return "UNSUPPORTED_VERSION";
    case ErrorCode::CudaUnavailable: return "CUDA_UNAVAILABLE";
    case ErrorCode::Aborted: return "ABORTED";
    case ErrorCode::OutOfMemory: return "OUT_OF_MEMORY";
    case ErrorCode::Io: return "IO_ERROR";
    case ErrorCode::Internal: return "INTERNAL";
  }
  return "INTERNAL";
}

}  // namespace fastrec
