// Scoring of neighbourhood models: score_j = sum over sources (s, w) of
// w * M[s, j], then the top-k j with filters. For item-kNN the sources are the
// user's items (weights = interaction values) and M the item neighbour lists;
// for user-kNN the sources are the user's neighbours (weights = similarities)
// and M the users x items training matrix. A dense per-thread accumulator
// with a touched list keeps a query proportional to the rows it reads.
#pragma once
#include <cstddef>
#include <cstdint>
#include <functional>
#include <vector>

#include "common/cancel.hpp"
#include "scoring/factor_topk.hpp"
#include "sparse/csr.hpp"

namespace fastrec::knn {

// Rows of M: indptr/indices/values (columns in any order within a row).
struct RowsView {
  int64_t rows = 0, cols = 0;
  const int64_t* indptr = nullptr;
  const int32_t* indices = nullptr;
  const float* values = nullptr;
};

// One query. `seen` sorted (may be null). Returns the number written (<= k),
// best first, ties by the smaller index. Only items some source reaches are
// candidates: fewer than k may come back.
size_t sparse_topk_one(const RowsView& m, const int32_t* sources, const float* weights, size_t n_sources,
                       const int32_t* seen, size_t n_seen, const ItemFilter& filter, size_t k, int32_t* out_ids,
                       float* out_scores);

// Many queries: query r takes row rows[r] of `sources` (a CSR whose values are
// the weights) and row rows[r] of `seen` (may be null). Output r * k.., padded
// with -1 / -inf.
void sparse_topk_many(const RowsView& m, const RowsView& sources, const int32_t* rows, size_t n, const CsrView* seen,
                      const ItemFilter& filter, size_t k, int32_t* out_ids, float* out_scores, size_t threads,
                      const CancelToken* cancel, const std::function<void(size_t)>& progress);

}  // namespace fastrec::knn
