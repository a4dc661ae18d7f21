// Cooperative cancellation: long native work polls a flag that the binding
// layer sets when the caller's AbortSignal fires.
#pragma once
#include <atomic>

#include "common/error.hpp"

namespace fastrec {

struct CancelToken {
  std::atomic<bool> cancelled{false};
  void cancel() { cancelled.store(true, std::memory_order_relaxed); }
  bool is_cancelled() const { return cancelled.load(std::memory_order_relaxed); }
  void throw_if_cancelled() const {
    if (is_cancelled()) throw Error(ErrorCode::Aborted, "the operation was aborted");
  }
};

}  // namespace fastrec
