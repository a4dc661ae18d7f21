// Exact top-k for a factor model by scanning the items in decreasing norm.
//
// score_i = <user, item_i> (+ bias_i) <= |user'| |item_i'| (Cauchy–Schwarz;
// with a bias, item' = [item_i, bias_i] and user' = [user, 1]). Visiting items
// by decreasing |item'|, once that bound falls below the k-th best score no
// later item can enter the top k, and the scan stops with the exact answer.
// Matrix factorization gives popular items long vectors, so for most users
// the first few hundred items settle it: tens of microseconds where scoring
// every item of a 100,000-item catalog takes milliseconds (bench/README.md).
#pragma once
#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <vector>

#include "common/simd.hpp"
#include "common/topk.hpp"

namespace fastrec {

// How many items a scan may read before its caller scores every item (or walks
// a graph) instead: about half an ef-64 HNSW search over 100,000 x 64 vectors.
constexpr size_t kNormScanBudget = 4096;

// The head a catalog of n items gets by default: kNormScanBudget, but at most
// an eighth of the items (so a scan that does not settle costs at most about
// an eighth more than scoring every item), and at least 512 (all of a small
// catalog, where either way is cheap). Measured in bench/README.md.
inline size_t default_scan_head(size_t n) {
  return std::min(n, std::min(kNormScanBudget, std::max<size_t>(512, n / 8)));
}

// The items by decreasing norm of [factors_i, bias_i], in double, ties by the
// smaller item; and the first head_rows of their factor rows copied in that
// order (rounded up to a multiple of 4 rows with zeros), so the scan reads one
// contiguous block through simd gemv's four-row path.
// How the scans over one order ended, for monitoring (a service's /metrics:
// a model with flat norms rarely settles and shows here). Relaxed counters:
// several threads scan one order at once. An order is made once and then
// shared, so a copy (norm_order's result assigned) starts from zero.
struct ScanCounts {
  std::atomic<uint64_t> scans{0};       // scans started
  std::atomic<uint64_t> settled{0};     // scans that gave the exact answer
  std::atomic<uint64_t> items_read{0};  // items screened by the settled ones
  ScanCounts() = default;
  ScanCounts(const ScanCounts&) noexcept {}
  ScanCounts& operator=(const ScanCounts&) noexcept { return *this; }
};

struct NormOrder {
  std::vector<int32_t> items;
  std::vector<double> norms;
  std::vector<float> head;
  size_t head_rows = 0;
  size_t dim = 0;
  mutable ScanCounts counts;
};

// Empty (no items) when a norm is not finite: callers then score every item.
NormOrder norm_order(const float* item_factors, const float* item_bias, size_t n_items, size_t dim,
                     size_t head = kNormScanBudget);

// Whether `o` can serve a query over these factors: false when there is none
// or it is empty (a norm was not finite); InvalidArgument when it was made for
// other factors.
bool order_applies(const NormOrder* o, size_t n_items, size_t dim);

// |user| (with a 1 appended when there is a bias), in double.
double augmented_norm(const float* user, size_t dim, bool with_bias);

// Scans `o` into `top` (a TopK of the wanted k, empty). quick[b] is the float
// gemv of the user with a head row, plus the bias; `score(item, quick)` gives
// the score the item ranks by (NaN: the item may not be returned) and is
// called only for items that may enter: quick + slack * bound >= the k-th best.
// `slack` bounds |score - quick| and |score - exact score| per unit of bound
// ((dim + 2) 2^-23 covers float dot products of dim terms). Returns false when
// the head ran out first (top then holds a partial answer: discard it).
template <class Score>
bool scan_by_norm(const NormOrder& o, const float* user, const float* bias, double user_norm, double slack, Score&& score,
                  TopK& top) {
  constexpr size_t kBlock = 16;
  const simd::Kernels& S = simd::kernels();
  const size_t dim = o.dim, k = top.k();
  double floor = -std::numeric_limits<double>::infinity();  // what an item must reach once top is full
  float quick[kBlock];
  o.counts.scans.fetch_add(1, std::memory_order_relaxed);
  auto settled = [&](size_t read) {
    o.counts.settled.fetch_add(1, std::memory_order_relaxed);
    o.counts.items_read.fetch_add(read, std::memory_order_relaxed);
    return true;
  };
  for (size_t p0 = 0; p0 < o.items.size(); p0 += kBlock) {
    if (top.size() == k && user_norm * o.norms[p0] * (1.0 + slack) < floor) return settled(p0);
    if (p0 >= o.head_rows) return false;
    const size_t nb = std::min(kBlock, o.head_rows - p0);
    S.gemv(o.head.data() + p0 * dim, (nb + 3) / 4 * 4, dim, dim, user, quick);
    for (size_t b = 0; b < nb; ++b) {
      const int32_t item = o.items[p0 + b];
      if (bias) quick[b] += bias[item];
      if (top.size() == k && double(quick[b]) + slack * user_norm * o.norms[p0 + b] < floor) continue;
      top.push(score(item, quick[b]), item);
      if (top.size() == k) {
        const double kth = top.threshold();
        floor = kth - std::fabs(kth) * 0x1p-22 - double(std::numeric_limits<float>::denorm_min());
      }
    }
  }
  return settled(o.items.size());
}

}  // namespace fastrec
