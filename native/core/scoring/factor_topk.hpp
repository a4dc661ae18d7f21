// Fused scoring + top-k for factor models: score_i = <user, item_i> (+ bias_i),
// keep the k best, skipping seen and excluded items, optionally only among an
// include list. The batch version multiplies blocks of users by blocks of
// items (packed GEMM) and feeds each block straight into per-user heaps, so
// the full users x items score matrix never exists.
#pragma once
#include <cstddef>
#include <cstdint>
#include <functional>

#include "common/cancel.hpp"
#include "scoring/norm_scan.hpp"
#include "sparse/csr.hpp"

namespace fastrec {

struct ItemFilter {
  const int32_t* exclude = nullptr;  // sorted unique item indices never returned
  size_t n_exclude = 0;
  const int32_t* include = nullptr;  // when n_include > 0: only these (sorted unique)
  size_t n_include = 0;
};

// One user. `seen` is sorted (a CSR row). Returns the number written (<= k),
// best first, ties broken by the smaller item index. With `order` (the items'
// norm_order, scoring/norm_scan.hpp) and no include list, the items are first
// scanned in decreasing norm; only if that does not settle the answer within
// the order's head is every item scored. Either way the answer is the same,
// bit for bit: the scan ranks by the very floats the full scoring computes.
// `settled_by_scan` (optional) says whether the scan gave the answer.
size_t factor_topk_one(const float* user, const float* items, size_t n_items, size_t dim, const float* item_bias,
                       const int32_t* seen, size_t n_seen, const ItemFilter& filter, size_t k, int32_t* out_ids,
                       float* out_scores, const NormOrder* order = nullptr, bool* settled_by_scan = nullptr);

// Many users: user r is users + rows[r] * dim; its seen items are row rows[r]
// of `seen` (null: none). Output row r at out + r * k, padded with -1 / -inf.
// `progress` (may be empty) is called with the number of users done so far.
// With `order` (and no include list) each user is first scanned in decreasing
// norm as factor_topk_one does, and answered as factor_topk_one answers; the
// users the scan does not settle go through a blocked GEMM (the same top k up
// to float rounding of near-ties: its sums run in another order).
void factor_topk_many(const float* users, const int32_t* rows, size_t n, const float* items, size_t n_items,
                      size_t dim, const float* item_bias, const CsrView* seen, const ItemFilter& filter, size_t k,
                      int32_t* out_ids, float* out_scores, size_t threads, const CancelToken* cancel,
                      const std::function<void(size_t users_done)>& progress, const NormOrder* order = nullptr);

}  // namespace fastrec
