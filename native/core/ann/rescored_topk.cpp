#include "ann/rescored_topk.hpp"

#include <algorithm>
#include <limits>
#include <string>
#include <vector>

#include "common/error.hpp"
#include "common/topk.hpp"

namespace fastrec::ann {
namespace {

// Per-thread scratch reused across calls: the request path allocates nothing
// once the first requests have sized it.
struct Scratch {
  std::vector<float> query;
  std::vector<uint32_t> labels;
  std::vector<float> distances;
  std::vector<int32_t> deny;
  std::vector<int32_t> items;
  std::vector<float> scores;
  TopK top;
};

Scratch& scratch() {
  thread_local Scratch s;
  return s;
}

void grow(std::vector<uint32_t>& l, std::vector<float>& d, size_t n) {
  if (l.size() < n) l.resize(n);
  if (d.size() < n) d.resize(n);
}

// bias + sum_j user_j * factor_j, summed in double in coordinate order: the
// exact score of either path (the float16 index storage and the transform lose
// a little precision, so the graph's candidates are scored again here).
double exact_score(const RescoreQuery& q, size_t i) {
  const float* f = q.item_factors + i * q.dim;
  double sum = q.item_bias ? double(q.item_bias[i]) : 0.0;
  for (size_t j = 0; j < q.dim; ++j) sum += double(q.user[j]) * double(f[j]);
  return sum;
}

// The exact top k by scanning items in decreasing norm (scoring/norm_scan.hpp)
// into out_items / out_scores, each item that may enter scored exactly as the
// graph's candidates are; false when the order's head did not settle it.
bool norm_scan(const RescoreQuery& q, Scratch& s, int32_t* out_items, float* out_scores, size_t& count) {
  TopK& top = s.top;
  top.reset(q.k);
  const double slack = double(q.dim + 2) * 0x1p-23;
  auto exact = [&](int32_t item, float) {
    return std::binary_search(s.deny.begin(), s.deny.end(), item) ? std::numeric_limits<float>::quiet_NaN()
                                                                   : float(exact_score(q, size_t(item)));
  };
  if (!scan_by_norm(*q.order, q.user, q.item_bias, augmented_norm(q.user, q.dim, q.item_bias != nullptr), slack, exact, top))
    return false;
  count = top.write_sorted(out_items, out_scores);
  return true;
}

}  // namespace

size_t rescored_topk(const Hnsw& h, const RescoreQuery& q, int32_t* out_items, float* out_scores) {
  const size_t want_dim = q.dim + (q.item_bias ? 1 : 0);
  if (q.dim == 0 || h.dim() != want_dim)
    throw_invalid("index: expected vectors of " + std::to_string(want_dim) + " numbers but the index holds " +
                  std::to_string(h.dim()));
  if (q.k == 0 || q.fetch < q.k) throw_invalid("fetch: expected at least k candidates");
  Scratch& s = scratch();

  // The query: the user's factors, and a 1 against the items' bias coordinate.
  s.query.assign(q.user, q.user + q.dim);
  if (q.item_bias) s.query.push_back(1.0f);

  s.deny.assign(q.deny, q.deny + q.n_deny);
  std::sort(s.deny.begin(), s.deny.end());
  // The scan works on item indices: not with an allow-list or labels that are not the items (the deny list holds labels).
  if (!q.has_allow && !q.label_item && order_applies(q.order, q.n_items, q.dim)) {
    size_t n = 0;
    if (norm_scan(q, s, out_items, out_scores, n)) return n;
  }

  size_t m = 0;  // candidates kept, in s.labels
  if (!q.has_allow && q.n_deny <= kPostFilterMax) {
    // Unfiltered search for fetch + |deny|, then drop the denied (sorted copy, binary search).
    const size_t searched = q.fetch + q.n_deny;
    grow(s.labels, s.distances, searched);
    const size_t n = h.search(s.query.data(), searched, std::max(q.ef, searched), nullptr, s.labels.data(), s.distances.data());
    for (size_t c = 0; c < n && m < q.fetch; ++c) {
      const int32_t x = int32_t(s.labels[c]);
      if (std::binary_search(s.deny.begin(), s.deny.end(), x)) continue;
      s.labels[m++] = uint32_t(x);
    }
  } else {
    SlotFilter filter = h.make_filter(q.has_allow ? q.allow : nullptr, q.n_allow, q.deny, q.n_deny);
    if (q.has_allow && q.n_allow == 0) return 0;  // nothing may be returned
    grow(s.labels, s.distances, q.fetch);
    m = h.search(s.query.data(), q.fetch, std::max(q.ef, q.fetch), &filter, s.labels.data(), s.distances.data(),
                 q.exact_fraction);
  }

  // Candidates as item indices; their factor rows are fetched from memory at
  // random, so ask for all of them before reading any (the misses overlap).
  s.items.resize(m);
  for (size_t c = 0; c < m; ++c) {
    const uint32_t label = s.labels[c];
    int32_t item = int32_t(label);
    if (q.label_item) {
      if (label >= q.n_labels) throw_invalid("index: label " + std::to_string(label) + " has no item");
      item = q.label_item[label];
    }
    if (item < 0 || size_t(item) >= q.n_items)
      throw_invalid("index: item " + std::to_string(item) + " is outside the " + std::to_string(q.n_items) + " factor rows");
    s.items[c] = item;
    const char* row = reinterpret_cast<const char*>(q.item_factors + size_t(item) * q.dim);
    for (size_t b = 0; b < q.dim * sizeof(float); b += 64) __builtin_prefetch(row + b);
  }

  // Exact scores, best first, ties by the smaller item.
  s.top.reset(q.k);
  for (size_t c = 0; c < m; ++c) s.top.push(float(exact_score(q, size_t(s.items[c]))), s.items[c]);
  s.scores.resize(m);
  const size_t n = s.top.write_sorted(s.items.data(), s.scores.data());
  std::copy(s.items.begin(), s.items.begin() + ptrdiff_t(n), out_items);
  std::copy(s.scores.begin(), s.scores.begin() + ptrdiff_t(n), out_scores);
  return n;
}

}  // namespace fastrec::ann
