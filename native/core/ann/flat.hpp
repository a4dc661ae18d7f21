// Exact (brute-force) nearest neighbours: the ground truth for HNSW and the
// right tool for small collections or big query batches.
//
// One query: a blocked matrix-vector product feeding a top-k, one pass over the
// vectors (memory-bandwidth bound; split over threads for large n).
// Many queries: fused blocked GEMM + top-k (queries x a block of items in cache,
// then straight into each query's heap), never the full score matrix.
// Labels are row numbers (0..size-1) in insertion order.
#pragma once
#include <cstddef>
#include <cstdint>
#include <vector>

#include "ann/metric.hpp"
#include "common/cancel.hpp"

namespace fastrec::ann {

class FlatIndex {
 public:
  FlatIndex(size_t dim, Metric metric);
  size_t dim() const { return dim_; }
  Metric metric() const { return metric_; }
  size_t size() const { return n_; }
  size_t memory_bytes() const { return data_.capacity() * 4 + half_norms_.capacity() * 4; }
  const float* data() const { return data_.data(); }

  // Append n rows (row-major n x dim).
  void add(const float* vectors, size_t n);
  // k nearest of one query, closest first; returns the count (min(k, size)).
  // Distances as in metric.hpp (l2: squared; ip/cosine: 1 - dot).
  size_t search(const float* query, size_t k, uint32_t* labels, float* distances, size_t threads = 1) const;
  // nq queries; row r writes r*k.. (padded with 0xFFFFFFFF / +inf when size < k).
  void search_many(const float* queries, size_t nq, size_t k, uint32_t* labels, float* distances, size_t threads,
                   const CancelToken* cancel = nullptr) const;

 private:
  size_t dim_;
  Metric metric_;
  size_t n_ = 0;
  std::vector<float> data_;
  std::vector<float> half_norms_;  // l2: |x|^2 / 2, so ranking by <q,x> - |x|^2/2 = ranking by -|q-x|^2 / 2
};

}  // namespace fastrec::ann
