// Exact (brute-force) nearest neighbours: the ground truth for HNSW and the
// right tool for small collections or big query batches.
//
// Storage: items in panels of kPanel (exact_kernels.hpp), laid out once when
// added, so neither path re-packs anything per query.
// One query: one streaming pass over the panels (memory-bandwidth bound), split
// over threads for large collections.
// Many queries: register-blocked queries x panel tiles fused with top-k (no
// score matrix), per thread over chunks of queries.
//
// Exact pruning (optional, after partition()): items are clustered into blocks
// (the leaves of a ball tree, ball_partition.hpp) with a centre c and radius
// r = max |x - c| per block.
// No item x of the block can score above
//   ip / cosine:  <q, c> + |q| r                        (Cauchy-Schwarz)
//   l2:           min(<q,c> + |q| r - min |x|^2/2,      (score = <q,x> - |x|^2/2)
//                     (|q|^2 - max(0, |q - c| - r)^2) / 2)  (triangle inequality)
// plus a margin covering float rounding of the scores. Blocks are visited in
// order of decreasing bound and skipped once the bound is below the current
// k-th best score, so the result is the brute-force top-k (same scores, same
// tie-break by smaller label). Items added after partition() form unbounded
// blocks that are always scanned.
// Labels are row numbers (0..size-1) in insertion order.
#pragma once
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <memory>
#include <shared_mutex>
#include <vector>

#include "ann/exact_kernels.hpp"
#include "ann/metric.hpp"
#include "common/cancel.hpp"

namespace fastrec::ann {

// Work done by a search: scores computed (query x item slot pairs, padding
// included) and blocks of items visited, summed over queries.
struct ExactStats {
  uint64_t scored = 0;
  uint64_t units = 0;
};

// Labels a search may return: an allow-list (only these) and/or a deny-list
// (never these). Built once per search (FlatIndex::make_filter).
struct ExactFilter {
  std::vector<uint64_t> bits;           // bit per label: may be returned
  std::vector<uint32_t> allowed_list;   // the allowed labels, ascending, when an allow-list was given
  bool has_allow = false;
  size_t allowed = 0;                   // labels that may be returned
  bool pass(uint32_t label) const { return (bits[label >> 6] >> (label & 63)) & 1; }
};

// Queries prepared for scoring (normalized for cosine, with their norms); flat.cpp.
struct ExactQueries;

// 64-byte aligned float storage (panels start on cache lines).
class AlignedFloats {
 public:
  AlignedFloats() = default;
  AlignedFloats(const AlignedFloats&) = delete;
  AlignedFloats& operator=(const AlignedFloats&) = delete;
  AlignedFloats(AlignedFloats&& o) noexcept { swap(o); }
  AlignedFloats& operator=(AlignedFloats&& o) noexcept {
    swap(o);
    return *this;
  }
  ~AlignedFloats() { std::free(p_); }
  void swap(AlignedFloats& o) noexcept {
    std::swap(p_, o.p_);
    std::swap(n_, o.n_);
    std::swap(cap_, o.cap_);
  }
  size_t size() const { return n_; }
  size_t capacity() const { return cap_; }
  float* data() { return p_; }
  const float* data() const { return p_; }
  // Grow to n floats (new ones zero), doubling the capacity.
  void resize(size_t n);

 private:
  float* p_ = nullptr;
  size_t n_ = 0, cap_ = 0;
};

class FlatIndex {
 public:
  static constexpr size_t kUnitPanels = 64;  // panels per work unit: 1,024 items (256 KiB at d = 64) fit L2

  FlatIndex(size_t dim, Metric metric);
  size_t dim() const { return dim_; }
  Metric metric() const { return metric_; }
  size_t size() const { return n_; }
  size_t memory_bytes() const;
  // Number of bounded blocks (0 until partition()).
  size_t blocks() const;

  // Append n rows (row-major n x dim).
  void add(const float* vectors, size_t n);
  // Cluster every item into blocks of about block_size items and store their
  // bounds (see above). Re-partitions from scratch when called again.
  void partition(size_t block_size, size_t threads, const CancelToken* cancel = nullptr, uint32_t seed = 1);

  // k nearest of one query, closest first; returns the count (min(k, size)).
  // Distances as in metric.hpp (l2: squared; ip/cosine: 1 - dot).
  // With a filter only labels it passes are returned; an allow-list of at most
  // 1/kSelective of the items is answered by scanning just those items.
  size_t search(const float* query, size_t k, uint32_t* labels, float* distances, size_t threads = 1,
                bool prune = true, ExactStats* stats = nullptr, const ExactFilter* filter = nullptr) const;
  // nq queries; row r writes r*k.. (padded with 0xFFFFFFFF / +inf when size < k).
  void search_many(const float* queries, size_t nq, size_t k, uint32_t* labels, float* distances, size_t threads,
                   const CancelToken* cancel = nullptr, bool prune = true, ExactStats* stats = nullptr,
                   const ExactFilter* filter = nullptr) const;
  // A filter from label arrays (allow: null for none); throws on labels out of range.
  ExactFilter make_filter(const int32_t* allow, size_t n_allow, const int32_t* deny, size_t n_deny) const;
  static constexpr size_t kSelective = 16;

 private:
  struct Block {
    size_t panel0 = 0, npanels = 0, count = 0;  // count: items (the rest of the panels is padding)
    bool bounded = false;
    // bounded blocks only:
    double radius = 0, max_norm = 0, min_half_norm = 0, max_abs_bias = 0, centre_norm = 0;
  };
  struct Unit {
    size_t panel0, npanels;
    uint32_t block;
  };
  void append_panel();
  // The allowed items of a selective filter as a small unpartitioned index (same stored floats and labels).
  void gather(const std::vector<uint32_t>& labels, FlatIndex& out) const;
  void rebuild_units();
  std::vector<float> rows_in_label_order() const;
  // Upper bounds on the scores of each bounded block, for nq prepared queries:
  // out[r * nb + b]; unbounded blocks get +inf.
  void block_bounds(const ExactQueries& q, size_t r0, size_t nq, float* out) const;

  size_t dim_;
  Metric metric_;
  size_t n_ = 0;
  AlignedFloats panels_;          // npanels * kPanel * dim
  std::vector<float> bias_;       // per slot: -|x|^2/2 (l2) or 0; NaN in padding
  std::vector<uint32_t> label_;   // per slot; kNoLabel in padding
  std::vector<size_t> slot_of_;   // per label: its slot
  std::vector<Block> blocks_;
  std::vector<Unit> units_;
  std::vector<uint32_t> block_units_;  // block b's units: units_[block_units_[b], block_units_[b + 1])
  size_t bounded_ = 0;            // blocks_[0, bounded_) are bounded
  // bounded blocks' terms of the bound, one array each (block_bounds loops over them)
  std::vector<double> bound_cn_, bound_r_, bound_minhn_, bound_maxn_, bound_mab_;
  AlignedFloats centre_panels_;   // centres of the bounded blocks in panel layout
  std::vector<float> centre_bias_;
  mutable std::shared_mutex mutex_;  // searches share it; add and partition take it alone
};

}  // namespace fastrec::ann
