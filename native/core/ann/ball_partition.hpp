// Partition of vectors into small, tight blocks: the leaves of a ball tree
// built by recursive 2-means splits (each node's items go to the nearer of two
// centres found by a few Lloyd steps on a sample, i.e. to one side of a
// hyperplane). Top-down splitting separates distinct clusters first whatever
// their sizes, which is what the exact index's pruning bounds need (a block
// spanning two clusters has a useless radius); a flat k-means spends its
// centres in proportion to mass and merges small clusters instead.
// Cost: one dot product per item per tree level, O(n d log(n / leaf)).
#pragma once
#include <cstddef>
#include <cstdint>
#include <vector>

#include "common/cancel.hpp"

namespace fastrec::ann {

struct BallPartition {
  std::vector<uint32_t> order;  // row indices, leaf after leaf (depth-first order: neighbours are close)
  std::vector<size_t> start;    // leaf b holds order[start[b], start[b + 1])
};

// rows: n x dim row-major, REORDERED in place to match `order` (row i of the
// result is input row order[i]), so that every pass streams memory. Leaves hold at most leaf_size rows (>= 1).
BallPartition ball_partition(float* rows, size_t n, size_t dim, size_t leaf_size, size_t threads,
                             const CancelToken* cancel, uint64_t seed);

}  // namespace fastrec::ann
