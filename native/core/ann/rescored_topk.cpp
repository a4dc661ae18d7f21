#include "ann/rescored_topk.hpp"

#include <algorithm>
#include <cmath>
#include <limits>
#include <numeric>
#include <string>
#include <vector>

#include "common/error.hpp"
#include "common/simd.hpp"

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

// Puts (sc, it) into the ranked first n entries (best first, ties by the smaller
// item), keeping at most cap; returns the new count.
size_t insert_ranked(float* scores, int32_t* items, size_t n, size_t cap, float sc, int32_t it) {
  auto worse = [&](size_t b) { return scores[b] < sc || (scores[b] == sc && items[b] > it); };
  if (n == cap && !worse(n - 1)) return n;
  size_t b = n < cap ? n++ : n - 1;
  for (; b > 0 && worse(b - 1); --b) {
    scores[b] = scores[b - 1];
    items[b] = items[b - 1];
  }
  scores[b] = sc;
  items[b] = it;
  return n;
}

// The exact top k by scanning items in decreasing norm (NormOrder) into
// s.scores / s.items; false when the order's head did not settle it. Items are
// screened in blocks with float dot products over the head (error at most
// (dim + 1) 2^-24 |user'| |item'|; the margin doubles it), and only an item that
// may enter the top k is scored exactly. The scan stops at the first block
// whose bound |user'| |item'| is below the k-th exact score by more than two
// float ulps: no item from there on can round to a score that enters or ties
// the top k.
bool norm_scan(const RescoreQuery& q, Scratch& s, size_t& count) {
  constexpr size_t kBlock = 16;
  const NormOrder& o = *q.order;
  const simd::Kernels& S = simd::kernels();
  double qn = q.item_bias ? 1.0 : 0.0;
  for (size_t j = 0; j < q.dim; ++j) qn += double(q.user[j]) * double(q.user[j]);
  qn = std::sqrt(qn);
  const double screen = double(q.dim + 2) * 0x1p-23;
  s.items.resize(q.k);
  s.scores.resize(q.k);
  size_t n = 0;
  double floor = -std::numeric_limits<double>::infinity();  // what an item must reach once n == k
  float quick[kBlock];
  for (size_t p0 = 0; p0 < o.items.size(); p0 += kBlock) {
    if (n == q.k && qn * o.norms[p0] * (1.0 + 1e-9) < floor) break;
    if (p0 >= o.head_rows) return false;
    const size_t nb = std::min(kBlock, o.head_rows - p0);
    S.gemv(o.head.data() + p0 * q.dim, nb, q.dim, q.dim, q.user, quick);
    for (size_t b = 0; b < nb; ++b) {
      const size_t pos = p0 + b, i = size_t(o.items[pos]);
      const double bound = qn * o.norms[pos];
      if (n == q.k && double(quick[b]) + (q.item_bias ? q.item_bias[i] : 0.0) + screen * bound < floor) continue;
      if (std::binary_search(s.deny.begin(), s.deny.end(), int32_t(i))) continue;
      n = insert_ranked(s.scores.data(), s.items.data(), n, q.k, float(exact_score(q, i)), int32_t(i));
      if (n == q.k) {
        const double kth = s.scores[n - 1];
        floor = kth - std::fabs(kth) * 0x1p-22 - double(std::numeric_limits<float>::denorm_min());
      }
    }
  }
  count = n;
  return true;
}

}  // namespace

NormOrder norm_order(const float* item_factors, const float* item_bias, size_t n_items, size_t dim, size_t head) {
  NormOrder o;
  std::vector<double> norm(n_items);
  for (size_t i = 0; i < n_items; ++i) {
    double sq = item_bias ? double(item_bias[i]) * double(item_bias[i]) : 0.0;
    for (size_t j = 0; j < dim; ++j) sq += double(item_factors[i * dim + j]) * double(item_factors[i * dim + j]);
    if (!std::isfinite(sq)) return o;
    norm[i] = std::sqrt(sq);
  }
  o.items.resize(n_items);
  std::iota(o.items.begin(), o.items.end(), 0);
  std::sort(o.items.begin(), o.items.end(), [&](int32_t a, int32_t b) { return norm[a] > norm[b] || (norm[a] == norm[b] && a < b); });
  o.norms.resize(n_items);
  for (size_t p = 0; p < n_items; ++p) o.norms[p] = norm[size_t(o.items[p])];
  o.dim = dim;
  o.head_rows = std::min(head, n_items);
  o.head.resize(o.head_rows * dim);
  for (size_t p = 0; p < o.head_rows; ++p)
    std::copy(item_factors + size_t(o.items[p]) * dim, item_factors + size_t(o.items[p] + 1) * dim, o.head.begin() + ptrdiff_t(p * dim));
  return o;
}

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
  if (q.order && !q.order->items.empty() && !q.has_allow && !q.label_item) {
    if (q.order->items.size() != q.n_items || q.order->dim != q.dim)
      throw_invalid("order: made for " + std::to_string(q.order->items.size()) + " x " + std::to_string(q.order->dim) +
                    " factors, not these " + std::to_string(q.n_items) + " x " + std::to_string(q.dim));
    size_t n = 0;
    if (norm_scan(q, s, n)) {
      std::copy(s.items.begin(), s.items.begin() + ptrdiff_t(n), out_items);
      std::copy(s.scores.begin(), s.scores.begin() + ptrdiff_t(n), out_scores);
      return n;
    }
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

  // Exact scores, best first, ties by the smaller item (a few dozen candidates).
  s.scores.resize(m);
  size_t n = 0;
  for (size_t c = 0; c < m; ++c) {
    const int32_t item = s.items[c];
    n = insert_ranked(s.scores.data(), s.items.data(), n, m, float(exact_score(q, size_t(item))), item);
  }
  n = std::min(q.k, n);
  std::copy(s.items.begin(), s.items.begin() + ptrdiff_t(n), out_items);
  std::copy(s.scores.begin(), s.scores.begin() + ptrdiff_t(n), out_scores);
  return n;
}

}  // namespace fastrec::ann
