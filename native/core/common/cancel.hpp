// Cooperative cancellation: long native work polls a token between units of
// work. The token can also watch an external int32 flag (an Int32Array(1)
// from JavaScript that an AbortSignal listener sets to 1), so JS can cancel
// work running on native threads without a call into the addon.
#pragma once
#include <atomic>
#include <cstdint>

#include "common/error.hpp"

namespace fastrec {

struct CancelToken {
  std::atomic<bool> cancelled{false};
  const int32_t* external = nullptr;  // optional; non-zero means cancelled

  void cancel() { cancelled.store(true, std::memory_order_relaxed); }
  bool is_cancelled() const {
    return cancelled.load(std::memory_order_relaxed) ||
           (external && __atomic_load_n(external, __ATOMIC_RELAXED) != 0);
  }
  void throw_if_cancelled() const {
    if (is_cancelled()) throw Error(ErrorCode::Aborted, "the operation was aborted");
  }
};

}  // namespace fastrec
