// rescored_topk (ann/rescored_topk.hpp): the request step of AnnScorer. Checked
// against an exact oracle written here: with fetch covering the whole catalog
// every item is a candidate, so the answer must be the exact top-k by
// bias + <user, factors> (double sums), whatever the graph.
#include <algorithm>
#include <functional>
#include <limits>
#include <memory>
#include <random>
#include <set>
#include <vector>

#include "ann/hnsw.hpp"
#include "ann/rescored_topk.hpp"
#include "common/error.hpp"
#include "test.hpp"

using namespace fastrec;
using namespace fastrec::ann;

namespace {

struct Catalog {
  size_t n, dim;
  std::vector<float> factors, bias, user;
  std::vector<int32_t> label_item;  // label -> item
  std::vector<uint32_t> item_label;  // item -> label
};

// n items with random factors and bias; labels a permutation of the items when `shuffled`.
Catalog catalog(size_t n, size_t dim, bool shuffled, uint32_t seed) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> g(0, 1);
  Catalog c{n, dim, std::vector<float>(n * dim), std::vector<float>(n), std::vector<float>(dim), std::vector<int32_t>(n),
            std::vector<uint32_t>(n)};
  for (float& x : c.factors) x = g(rng);
  for (float& x : c.bias) x = 0.3f * g(rng);
  for (float& x : c.user) x = g(rng);
  for (size_t i = 0; i < n; ++i) c.item_label[i] = uint32_t(i);
  if (shuffled) std::shuffle(c.item_label.begin(), c.item_label.end(), rng);
  for (size_t i = 0; i < n; ++i) c.label_item[c.item_label[i]] = int32_t(i);
  return c;
}

// The index AnnScorer builds: [factors, bias] per item under its label, inner product.
std::unique_ptr<Hnsw> index_of(const Catalog& c, bool with_bias) {
  HnswParams p;
  p.dim = c.dim + (with_bias ? 1 : 0);
  p.metric = Metric::InnerProduct;
  p.M = 8;
  p.ef_construction = 64;
  auto h = std::make_unique<Hnsw>(p);
  std::vector<float> rows(c.n * p.dim);
  for (size_t i = 0; i < c.n; ++i) {
    std::copy(c.factors.begin() + ptrdiff_t(i * c.dim), c.factors.begin() + ptrdiff_t((i + 1) * c.dim), rows.begin() + ptrdiff_t(i * p.dim));
    if (with_bias) rows[i * p.dim + c.dim] = c.bias[i];
  }
  h->add(rows.data(), c.item_label.data(), c.n, 1);
  return h;
}

// Exact top-k items among those `ok`, by bias + <user, factors> summed in double (ties: smaller item).
std::vector<std::pair<float, int32_t>> oracle(const Catalog& c, bool with_bias, size_t k, const std::function<bool(int32_t)>& ok) {
  std::vector<std::pair<float, int32_t>> all;
  for (size_t i = 0; i < c.n; ++i) {
    if (!ok(int32_t(i))) continue;
    double s = with_bias ? double(c.bias[i]) : 0.0;
    for (size_t j = 0; j < c.dim; ++j) s += double(c.user[j]) * double(c.factors[i * c.dim + j]);
    all.push_back({float(s), int32_t(i)});
  }
  std::sort(all.begin(), all.end(), [](auto a, auto b) { return a.first > b.first || (a.first == b.first && a.second < b.second); });
  all.resize(std::min(k, all.size()));
  return all;
}

void check_equal(const std::vector<std::pair<float, int32_t>>& want, const int32_t* items, const float* scores, size_t n) {
  CHECK(n == want.size());
  for (size_t r = 0; r < std::min(n, want.size()); ++r) {
    CHECK(items[r] == want[r].second);
    CHECK(scores[r] == want[r].first);  // bit-exact: same double sum, same rounding
  }
}

// The catalog's user against all its items (no bias, identity labels: tests set those).
RescoreQuery query_for(const Catalog& c) {
  RescoreQuery q;
  q.user = c.user.data();
  q.dim = c.dim;
  q.item_factors = c.factors.data();
  q.n_items = c.n;
  return q;
}

}  // namespace

TEST_CASE(ann_rescored_topk_matches_exact_oracle_when_every_item_is_a_candidate) {
  for (bool with_bias : {false, true}) {
    for (bool shuffled : {false, true}) {
      Catalog c = catalog(300, 8, shuffled, 5);
      auto hp = index_of(c, with_bias);
      const Hnsw& h = *hp;
      RescoreQuery q = query_for(c);
      q.item_bias = with_bias ? c.bias.data() : nullptr;
      q.label_item = shuffled ? c.label_item.data() : nullptr;
      q.n_labels = shuffled ? c.n : 0;
      q.k = 10;
      q.fetch = c.n;  // every item a candidate: the answer is exact
      q.ef = c.n;
      q.exact_fraction = 1.0;
      std::vector<int32_t> items(q.k);
      std::vector<float> scores(q.k);

      // No filter.
      size_t n = rescored_topk(h, q, items.data(), scores.data());
      check_equal(oracle(c, with_bias, q.k, [](int32_t) { return true; }), items.data(), scores.data(), n);

      // A short deny list (post-filtered): the oracle's own best items, by label.
      auto best = oracle(c, with_bias, 5, [](int32_t) { return true; });
      std::vector<int32_t> deny;
      std::set<int32_t> denied_items;
      for (auto& b : best) {
        deny.push_back(int32_t(c.item_label[size_t(b.second)]));
        denied_items.insert(b.second);
      }
      q.deny = deny.data();
      q.n_deny = deny.size();
      n = rescored_topk(h, q, items.data(), scores.data());
      check_equal(oracle(c, with_bias, q.k, [&](int32_t i) { return !denied_items.count(i); }), items.data(), scores.data(), n);

      // A long deny list (> kPostFilterMax: filtered walk) of every third item.
      std::vector<int32_t> long_deny;
      for (size_t i = 0; i < c.n; i += 3) long_deny.push_back(int32_t(c.item_label[i]));
      CHECK(long_deny.size() > kPostFilterMax);
      q.deny = long_deny.data();
      q.n_deny = long_deny.size();
      n = rescored_topk(h, q, items.data(), scores.data());
      check_equal(oracle(c, with_bias, q.k, [](int32_t i) { return i % 3 != 0; }), items.data(), scores.data(), n);

      // An allow list of 7 items (fewer than k): exactly those, best first.
      std::vector<int32_t> allow;
      for (int32_t i : {3, 50, 51, 120, 199, 250, 299}) allow.push_back(int32_t(c.item_label[size_t(i)]));
      q.deny = nullptr;
      q.n_deny = 0;
      q.allow = allow.data();
      q.n_allow = allow.size();
      q.has_allow = true;
      n = rescored_topk(h, q, items.data(), scores.data());
      std::set<int32_t> allowed{3, 50, 51, 120, 199, 250, 299};
      check_equal(oracle(c, with_bias, q.k, [&](int32_t i) { return allowed.count(i) > 0; }), items.data(), scores.data(), n);

      // An empty allow list: nothing may be returned.
      q.n_allow = 0;
      CHECK(rescored_topk(h, q, items.data(), scores.data()) == 0);
    }
  }
}

TEST_CASE(ann_rescored_topk_keeps_fetch_candidates_and_k_results) {
  Catalog c = catalog(500, 6, false, 9);
  auto hp = index_of(c, false);
  const Hnsw& h = *hp;
  RescoreQuery q = query_for(c);
  q.k = 4;
  q.fetch = 12;
  q.ef = 200;
  std::vector<int32_t> items(4);
  std::vector<float> scores(4);
  size_t n = rescored_topk(h, q, items.data(), scores.data());
  CHECK(n == 4);
  for (size_t r = 0; r < n; ++r) {
    double s = 0;
    for (size_t j = 0; j < c.dim; ++j) s += double(c.user[j]) * double(c.factors[size_t(items[r]) * c.dim + j]);
    CHECK(scores[r] == float(s));
    if (r) CHECK(scores[r - 1] >= scores[r]);
  }
}

TEST_CASE(ann_rescored_topk_rejects_inconsistent_inputs) {
  Catalog c = catalog(50, 4, false, 1);
  auto hp = index_of(c, true);  // holds dim + 1 coordinates
  const Hnsw& h = *hp;
  RescoreQuery q = query_for(c);
  std::vector<int32_t> items(10);
  std::vector<float> scores(10);
  CHECK_THROWS(rescored_topk(h, q, items.data(), scores.data()));  // no bias given, the index has a bias coordinate
  q.item_bias = c.bias.data();
  q.fetch = 5;  // fewer candidates than k
  CHECK_THROWS(rescored_topk(h, q, items.data(), scores.data()));
  q.fetch = 20;
  std::vector<int32_t> short_map(10, 0);  // labels beyond the map
  q.label_item = short_map.data();
  q.n_labels = short_map.size();
  CHECK_THROWS(rescored_topk(h, q, items.data(), scores.data()));
  q.label_item = nullptr;
  q.n_items = 10;  // labels name items beyond the factor rows
  CHECK_THROWS(rescored_topk(h, q, items.data(), scores.data()));
}

// The exact scan by decreasing norm (RescoreQuery::order). Norms spread as
// trained factors' do (a few items 20x longer), a graph walked at ef 1 (so the
// graph alone is approximate): with the order, every answer is the oracle's.
TEST_CASE(ann_rescored_topk_norm_scan_is_exact) {
  for (bool with_bias : {false, true}) {
    Catalog c = catalog(2000, 12, false, 11);
    for (size_t i = 0; i < c.n; i += 40)
      for (size_t j = 0; j < c.dim; ++j) c.factors[i * c.dim + j] *= 20.0f;
    // Ties: item 9 a copy of item 7 (the smaller item ranks first), both the longest.
    for (size_t j = 0; j < c.dim; ++j) c.factors[7 * 12 + j] *= 40.0f;
    std::copy(c.factors.begin() + 7 * 12, c.factors.begin() + 8 * 12, c.factors.begin() + 9 * 12);
    c.bias[9] = c.bias[7];
    auto hp = index_of(c, with_bias);
    const NormOrder order = norm_order(c.factors.data(), with_bias ? c.bias.data() : nullptr, c.n, c.dim);
    CHECK(order.items.size() == c.n && order.head_rows == c.n);
    for (size_t p = 1; p < c.n; ++p) CHECK(order.norms[p - 1] >= order.norms[p]);
    std::mt19937 rng(3);
    std::normal_distribution<float> g(0, 1);
    size_t graph_differs = 0;
    for (int u = 0; u < 30; ++u) {
      for (float& x : c.user) x = g(rng);
      if (u == 0)  // along items 7 and 9, so both make the top 10
        for (size_t j = 0; j < c.dim; ++j) c.user[j] = 50.0f * c.factors[7 * 12 + j];
      RescoreQuery q = query_for(c);
      q.item_bias = with_bias ? c.bias.data() : nullptr;
      q.ef = 1;
      for (size_t k : {size_t(1), size_t(10), size_t(60)}) {
        q.k = k;
        q.fetch = k;
        // Deny: none, a short list of the best items, a long list (> kPostFilterMax) of every third.
        std::vector<std::vector<int32_t>> denies(3);
        for (auto& b : oracle(c, with_bias, 5, [](int32_t) { return true; })) denies[1].push_back(b.second);
        for (size_t i = 0; i < c.n; i += 3) denies[2].push_back(int32_t(i));
        for (auto& deny : denies) {
          std::set<int32_t> denied(deny.begin(), deny.end());
          q.deny = deny.data();
          q.n_deny = deny.size();
          std::vector<int32_t> items(k), graph_items(k);
          std::vector<float> scores(k), graph_scores(k);
          q.order = &order;
          size_t n = rescored_topk(*hp, q, items.data(), scores.data());
          auto want = oracle(c, with_bias, k, [&](int32_t i) { return !denied.count(i); });
          check_equal(want, items.data(), scores.data(), n);
          if (u == 0 && deny.empty() && k == 10) {  // the tie: 7 right before 9
            auto at7 = std::find(items.begin(), items.end(), 7), at9 = std::find(items.begin(), items.end(), 9);
            CHECK(at9 != items.end() && at7 + 1 == at9);
          }
          q.order = nullptr;
          size_t m = rescored_topk(*hp, q, graph_items.data(), graph_scores.data());
          graph_differs += m != n || !std::equal(items.begin(), items.begin() + ptrdiff_t(n), graph_items.begin());
        }
      }
    }
    CHECK(graph_differs > 0);  // the test would not notice a scan that handed over to the graph
  }
}

// A head too short to settle the answer hands over to the graph (the same
// answer as without an order); an allow-list always does; an order made for
// other factors is refused.
TEST_CASE(ann_rescored_topk_norm_scan_hands_over_to_the_graph) {
  Catalog c = catalog(600, 8, false, 4);  // no norm skew: the bound settles late
  auto hp = index_of(c, false);
  const NormOrder short_head = norm_order(c.factors.data(), nullptr, c.n, c.dim, 16);
  CHECK(short_head.head_rows == 16);
  RescoreQuery q = query_for(c);
  q.k = 10;
  q.fetch = 20;
  q.ef = 2;
  std::vector<int32_t> a(10), b(10);
  std::vector<float> sa(10), sb(10);
  size_t na = rescored_topk(*hp, q, a.data(), sa.data());
  q.order = &short_head;
  size_t nb = rescored_topk(*hp, q, b.data(), sb.data());
  CHECK(na == nb && a == b && sa == sb);
  // Allow-list: the graph's filtered answer, order or not.
  std::vector<int32_t> allow{1, 2, 3, 500};
  q.allow = allow.data();
  q.n_allow = allow.size();
  q.has_allow = true;
  const NormOrder full = norm_order(c.factors.data(), nullptr, c.n, c.dim);
  q.order = &full;
  nb = rescored_topk(*hp, q, b.data(), sb.data());
  check_equal(oracle(c, false, 10, [](int32_t i) { return i == 1 || i == 2 || i == 3 || i == 500; }), b.data(), sb.data(), nb);
  // An order for fewer items, or another dimension: InvalidArgument.
  q.has_allow = false;
  q.allow = nullptr;
  q.n_allow = 0;
  const NormOrder other = norm_order(c.factors.data(), nullptr, 300, c.dim);
  q.order = &other;
  CHECK_THROWS(rescored_topk(*hp, q, b.data(), sb.data()));
  // A factor that is not finite: no order (the graph path, which reports it).
  std::vector<float> bad = c.factors;
  bad[5] = std::numeric_limits<float>::quiet_NaN();
  CHECK(norm_order(bad.data(), nullptr, c.n, c.dim).items.empty());
}
