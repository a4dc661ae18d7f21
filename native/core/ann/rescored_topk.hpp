// Top-k items for a user through an HNSW index over item factors, in one call:
// graph search for candidates, the user's seen/excluded items dropped, exact
// re-scoring of the candidates from the float32 factors, best first. What
// lib/ann.ts AnnScorer.recommend does for every request a recommender or the
// HTTP service scores through the index; one native call instead of a search
// call plus JS re-scoring, and no result objects: the caller owns the outputs.
#pragma once

#include <cstddef>
#include <cstdint>

#include "ann/hnsw.hpp"
#include "scoring/norm_scan.hpp"

namespace fastrec::ann {

// Deny lists up to this long are applied after an unfiltered search for
// fetch + |deny| candidates (a user's seen items): cheaper than building the
// filter bitmap over every slot. Longer ones, and allow-lists, filter the walk.
constexpr size_t kPostFilterMax = 64;

struct RescoreQuery {
  const float* user = nullptr;  // dim factors
  size_t dim = 0;
  const float* item_factors = nullptr;  // n_items x dim, row-major: the exact scores
  size_t n_items = 0;
  const float* item_bias = nullptr;  // n_items, or nullptr; with a bias the index holds dim + 1
                                     // coordinates (the bias last) and the query gets a 1 there
  const int32_t* label_item = nullptr;  // label -> item index (n_labels), or nullptr: labels are item indices
  size_t n_labels = 0;
  const int32_t* allow = nullptr;  // labels that may be returned (has_allow), none when n_allow == 0
  size_t n_allow = 0;
  bool has_allow = false;
  const int32_t* deny = nullptr;  // labels never returned
  size_t n_deny = 0;
  size_t k = 10;      // results wanted
  size_t fetch = 20;  // candidates re-scored (>= k)
  size_t ef = 64;     // beam width (raised to the candidates searched for)
  double exact_fraction = Hnsw::kDefaultExactFraction;
  // When given: first an exact scan of the items by decreasing norm, which
  // stops once |user'| |item'| (Cauchy–Schwarz: no later item can score more)
  // falls below the k-th best score. The graph is searched only when that
  // takes more than the order's head, or with an allow-list or label_item.
  // Matrix factorization gives popular items large norms, so the best items
  // of most users lie among the first few hundred.
  const NormOrder* order = nullptr;
};

// Writes up to q.k item indices and scores (score = bias + <user, factors>,
// summed in double in coordinate order, then rounded to float), best first,
// ties by smaller item index; returns the count. Throws InvalidArgument on
// inconsistent sizes or a label outside label_item.
size_t rescored_topk(const Hnsw& h, const RescoreQuery& q, int32_t* out_items, float* out_scores);

}  // namespace fastrec::ann
