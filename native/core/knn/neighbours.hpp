// Top-K nearest neighbours of every row of a sparse matrix (items by the users
// who chose them for item-kNN; users by their items for user-kNN), by a
// multithreaded sparse product X Xᵀ computed one row at a time: row i
// accumulates x_iu * x_ju over the features u of i and the rows j of each u
// (through Xᵀ), into a dense per-thread accumulator. Never forms X Xᵀ.
//
// Similarities, with dot = <x_i, x_j> and |x|² = sum of squares:
//   dot:         dot
//   cosine:      dot / (|x_i| |x_j| + shrink)
//   asymmetric:  dot / (|x_i|^(2 alpha) |x_j|^(2 (1 - alpha)) + shrink)   (Aiolli 2013)
// Only positive similarities are kept; a row never lists itself.
#pragma once
#include <cstddef>
#include <cstdint>
#include <functional>
#include <vector>

#include "common/cancel.hpp"
#include "sparse/csr.hpp"

namespace fastrec::knn {

enum class Similarity { Dot, Cosine, Asymmetric };

struct NeighbourOptions {
  size_t k = 100;
  Similarity similarity = Similarity::Cosine;
  double alpha = 0.5;
  double shrink = 0.0;
  size_t threads = 0;
};

// Neighbour lists in CSR layout: row i lists its neighbours best first (ties
// by the smaller index), NOT sorted by column.
struct NeighbourLists {
  int64_t rows = 0;
  std::vector<int64_t> indptr;
  std::vector<int32_t> indices;
  std::vector<float> scores;
};

// Squared L2 norm of every row of x.
std::vector<double> row_sq_norms(const CsrView& x);

// x: rows x features, xt its transpose. progress(rows_done) may be empty.
NeighbourLists top_neighbours(const CsrView& x, const CsrView& xt, const NeighbourOptions& o,
                              const CancelToken* cancel = nullptr,
                              const std::function<void(size_t)>& progress = {});

// The top-k rows of x most similar to one query vector (sorted feature indices
// and values), e.g. a new user's history for user-kNN. `sq_norms` = row_sq_norms(x).
// Skips the row `self` (or -1). Returns the count written.
size_t query_neighbours(const CsrView& xt, const std::vector<double>& sq_norms, const int32_t* features,
                        const float* values, size_t n, int32_t self, const NeighbourOptions& o, int32_t* out_ids,
                        float* out_scores);

}  // namespace fastrec::knn
