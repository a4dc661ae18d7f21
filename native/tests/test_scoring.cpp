// Fused scoring + top-k against brute force.
#include <algorithm>
#include <limits>
#include <random>
#include <set>

#include "common/topk.hpp"
#include "scoring/factor_topk.hpp"
#include "test.hpp"

using namespace fastrec;

namespace {

struct Problem {
  size_t n_users, n_items, dim;
  std::vector<float> users, items, bias;
  CsrMatrix seen;
};

Problem make(size_t n_users, size_t n_items, size_t dim, uint32_t seed) {
  std::mt19937 rng(seed);
  std::uniform_real_distribution<float> u(-1, 1);
  Problem p{n_users, n_items, dim, {}, {}, {}, {}};
  p.users.resize(n_users * dim);
  p.items.resize(n_items * dim);
  p.bias.resize(n_items);
  for (auto& x : p.users) x = u(rng);
  for (auto& x : p.items) x = u(rng);
  // Quantized scores create ties on purpose.
  for (auto& x : p.items) x = std::round(x * 4) / 4;
  for (auto& x : p.bias) x = u(rng);
  std::vector<int32_t> r, c;
  for (size_t i = 0; i < n_users * 5; ++i) {
    r.push_back(static_cast<int32_t>(rng() % n_users));
    c.push_back(static_cast<int32_t>(rng() % n_items));
  }
  CooInput in{r.data(), c.data(), nullptr, r.size(), (int64_t)n_users, (int64_t)n_items, Combine::Sum, true};
  p.seen = csr_from_coo(in, 1);
  return p;
}

std::vector<ScoredId> brute(const Problem& p, size_t user, bool use_bias, bool filter_seen, const std::set<int32_t>& exclude,
                            const std::set<int32_t>& include, size_t k) {
  std::vector<ScoredId> all;
  std::set<int32_t> seen;
  if (filter_seen)
    for (int64_t q = p.seen.indptr[user]; q < p.seen.indptr[user + 1]; ++q) seen.insert(p.seen.indices[q]);
  for (size_t i = 0; i < p.n_items; ++i) {
    int32_t id = static_cast<int32_t>(i);
    if (seen.count(id) || exclude.count(id) || (!include.empty() && !include.count(id))) continue;
    double s = 0;
    for (size_t d = 0; d < p.dim; ++d) s += double(p.users[user * p.dim + d]) * p.items[i * p.dim + d];
    if (use_bias) s += p.bias[i];
    all.push_back({static_cast<float>(s), id});
  }
  std::sort(all.begin(), all.end(), ranks_before);
  if (all.size() > k) all.resize(k);
  return all;
}

void check_case(const Problem& p, bool use_bias, bool filter_seen, const std::vector<int32_t>& exclude,
                const std::vector<int32_t>& include, size_t k) {
  std::set<int32_t> ex(exclude.begin(), exclude.end()), in(include.begin(), include.end());
  ItemFilter f{exclude.data(), exclude.size(), include.data(), include.size()};
  const float* bias = use_bias ? p.bias.data() : nullptr;
  std::vector<int32_t> rows(p.n_users);
  for (size_t u = 0; u < p.n_users; ++u) rows[u] = static_cast<int32_t>(p.n_users - 1 - u);  // reversed order
  std::vector<int32_t> ids(rows.size() * k);
  std::vector<float> scores(rows.size() * k);
  CsrView seen = CsrView::of(p.seen);
  factor_topk_many(p.users.data(), rows.data(), rows.size(), p.items.data(), p.n_items, p.dim, bias,
                   filter_seen ? &seen : nullptr, f, k, ids.data(), scores.data(), 2, nullptr, nullptr);
  for (size_t r = 0; r < rows.size(); ++r) {
    size_t user = rows[r];
    auto ref = brute(p, user, use_bias, filter_seen, ex, in, k);
    // Single-user path.
    std::vector<int32_t> one_ids(k);
    std::vector<float> one_scores(k);
    const int32_t* s = filter_seen ? p.seen.indices.data() + p.seen.indptr[user] : nullptr;
    size_t ns = filter_seen ? p.seen.indptr[user + 1] - p.seen.indptr[user] : 0;
    size_t count = factor_topk_one(p.users.data() + user * p.dim, p.items.data(), p.n_items, p.dim, bias, s, ns, f, k,
                                   one_ids.data(), one_scores.data());
    CHECK(count == ref.size());
    for (size_t i = 0; i < k; ++i) {
      if (i < ref.size()) {
        CHECK_NEAR(scores[r * k + i], ref[i].score, 1e-4);
        CHECK_NEAR(one_scores[i], ref[i].score, 1e-4);
        // Ids must match except where float rounding reorders near-ties.
        if (i + 1 < ref.size() && std::fabs(ref[i].score - ref[i + 1].score) > 1e-4 &&
            (i == 0 || std::fabs(ref[i].score - ref[i - 1].score) > 1e-4)) {
          CHECK(ids[r * k + i] == ref[i].id);
          CHECK(one_ids[i] == ref[i].id);
        }
        CHECK(!ex.count(ids[r * k + i]));
        CHECK(in.empty() || in.count(ids[r * k + i]));
      } else {
        CHECK(ids[r * k + i] == -1);
      }
    }
  }
}

}  // namespace

TEST_CASE(topk_many_matches_brute_force) {
  Problem p = make(300, 2500, 24, 1);
  check_case(p, false, true, {}, {}, 10);
  check_case(p, true, false, {}, {}, 7);
}

TEST_CASE(topk_filters_hold) {
  Problem p = make(130, 1500, 16, 2);
  std::vector<int32_t> exclude, include;
  for (int32_t i = 0; i < 1500; i += 3) exclude.push_back(i);
  for (int32_t i = 0; i < 1500; i += 5) include.push_back(i);
  check_case(p, true, true, exclude, {}, 10);
  check_case(p, false, true, exclude, include, 10);
  check_case(p, false, true, {}, include, 400);  // k larger than what is left: padded
}

TEST_CASE(topk_k_larger_than_catalog) {
  Problem p = make(5, 20, 8, 3);
  check_case(p, false, true, {}, {}, 50);
}

TEST_CASE(topk_many_cancels) {
  Problem p = make(1000, 500, 8, 4);
  std::vector<int32_t> rows(1000);
  for (int32_t i = 0; i < 1000; ++i) rows[i] = i;
  std::vector<int32_t> ids(1000 * 5);
  std::vector<float> scores(1000 * 5);
  CancelToken cancel;
  cancel.cancel();
  CHECK_THROWS(factor_topk_many(p.users.data(), rows.data(), 1000, p.items.data(), 500, 8, nullptr, nullptr, {}, 5,
                                ids.data(), scores.data(), 2, &cancel, nullptr));
}

// factor_topk_one with a norm order (scoring/norm_scan.hpp): the same answer,
// bit for bit, as scoring every item, for item counts that leave gemv a
// remainder (rows scored through dot), norms spread like trained factors',
// quantized scores (ties), bias, seen and excluded items, any k; a head too
// short to settle the answer falls back to scoring every item; an include list
// always does.
TEST_CASE(topk_one_norm_scan_matches_scoring_every_item) {
  size_t scanned_settled = 0;
  // dim 40: gemv's row sums and dot's four accumulators round differently (at 13 they agree).
  for (size_t n_items : {size_t(401), size_t(402), size_t(403), size_t(1200)}) {
    Problem p = make(25, n_items, n_items == 1200 ? 13 : 40, uint32_t(n_items));
    for (size_t i = 0; i < n_items; i += 17)
      for (size_t d = 0; d < p.dim; ++d) p.items[i * p.dim + d] *= 8.0f;  // a few long (popular) items
    for (bool use_bias : {false, true}) {
      const float* bias = use_bias ? p.bias.data() : nullptr;
      const NormOrder order = norm_order(p.items.data(), bias, n_items, p.dim);
      const NormOrder short_head = norm_order(p.items.data(), bias, n_items, p.dim, 8);
      std::vector<int32_t> exclude{2, 3, 5, 8, 13, 21, 34, 55, 89, 144, 233, 377};
      std::vector<int32_t> include{1, 17, 34, 51, 100, 200};
      for (size_t user = 0; user < p.n_users; ++user) {
        const int32_t* s = p.seen.indices.data() + p.seen.indptr[user];
        const size_t ns = size_t(p.seen.indptr[user + 1] - p.seen.indptr[user]);
        for (size_t k : {size_t(1), size_t(7), size_t(40)}) {
          for (int variant = 0; variant < 3; ++variant) {
            ItemFilter f;
            if (variant == 1) f = {exclude.data(), exclude.size(), nullptr, 0};
            if (variant == 2) f = {nullptr, 0, include.data(), include.size()};
            std::vector<int32_t> a(k), b(k), c(k);
            std::vector<float> sa(k), sb(k), sc(k);
            const float* u = p.users.data() + user * p.dim;
            size_t na = factor_topk_one(u, p.items.data(), n_items, p.dim, bias, s, ns, f, k, a.data(), sa.data());
            size_t nb = factor_topk_one(u, p.items.data(), n_items, p.dim, bias, s, ns, f, k, b.data(), sb.data(), &order);
            size_t nc = factor_topk_one(u, p.items.data(), n_items, p.dim, bias, s, ns, f, k, c.data(), sc.data(), &short_head);
            CHECK(na == nb && a == b && sa == sb);
            CHECK(na == nc && a == c && sa == sc);
            // Does the scan settle it within the head? (Else the test would not see it.)
            TopK top(k);
            auto score = [&](int32_t, float q) { return q; };
            scanned_settled += variant == 0 && scan_by_norm(order, u, bias, augmented_norm(u, p.dim, use_bias), 1e-5, score, top) &&
                               top.size() == k && order.items.size() > 0;
          }
        }
      }
    }
    // An order for other factors is refused.
    const NormOrder other = norm_order(p.items.data(), nullptr, n_items - 1, p.dim);
    std::vector<int32_t> ids(5);
    std::vector<float> sc(5);
    CHECK_THROWS(factor_topk_one(p.users.data(), p.items.data(), n_items, p.dim, nullptr, nullptr, 0, ItemFilter{}, 5,
                                 ids.data(), sc.data(), &other));
  }
  CHECK(scanned_settled > 0);
}

// factor_topk_many with a norm order: when the scan settles (a head of the
// whole catalog), every user gets exactly factor_topk_one's answer; when it
// settles fewer than half of the first 256 users (a head of 8 items), every
// user gets exactly the blocked GEMM's. Progress reaches n either way.
TEST_CASE(topk_many_norm_scan_answers_as_the_single_user_path) {
  Problem p = make(300, 403, 40, 17);
  for (size_t i = 0; i < p.n_items; i += 13)
    for (size_t d = 0; d < p.dim; ++d) p.items[i * p.dim + d] *= 8.0f;
  std::vector<int32_t> exclude{2, 3, 5, 8, 13, 21, 34, 55, 89, 144, 233, 377};
  const ItemFilter f{exclude.data(), exclude.size(), nullptr, 0};
  CsrView seen = CsrView::of(p.seen);
  for (bool use_bias : {false, true}) {
    const float* bias = use_bias ? p.bias.data() : nullptr;
    std::vector<int32_t> rows(p.n_users);
    for (size_t u = 0; u < p.n_users; ++u) rows[u] = int32_t((u * 7) % p.n_users);
    const size_t k = 10;
    std::vector<int32_t> gemm_ids(rows.size() * k);
    std::vector<float> gemm_sc(rows.size() * k);
    factor_topk_many(p.users.data(), rows.data(), rows.size(), p.items.data(), p.n_items, p.dim, bias, &seen, f, k,
                     gemm_ids.data(), gemm_sc.data(), 2, nullptr, nullptr);
    for (size_t head : {p.n_items, size_t(8)}) {
      const NormOrder order = norm_order(p.items.data(), bias, p.n_items, p.dim, head);
      std::vector<int32_t> ids(rows.size() * k);
      std::vector<float> sc(rows.size() * k);
      std::vector<size_t> reports;
      factor_topk_many(p.users.data(), rows.data(), rows.size(), p.items.data(), p.n_items, p.dim, bias, &seen, f, k,
                       ids.data(), sc.data(), 2, nullptr, [&](size_t d) { reports.push_back(d); }, &order);
      size_t differs_from_gemm = 0;
      for (size_t r = 0; r < rows.size(); ++r) {
        const size_t u = size_t(rows[r]);
        std::vector<int32_t> one(k, -1);
        std::vector<float> one_sc(k, -std::numeric_limits<float>::infinity());
        bool settled = false;
        factor_topk_one(p.users.data() + u * p.dim, p.items.data(), p.n_items, p.dim, bias,
                        p.seen.indices.data() + p.seen.indptr[u], size_t(p.seen.indptr[u + 1] - p.seen.indptr[u]), f, k,
                        one.data(), one_sc.data(), &order, &settled);
        CHECK(settled == (head == p.n_items));
        const int32_t* want = settled ? one.data() : gemm_ids.data() + r * k;
        const float* want_sc = settled ? one_sc.data() : gemm_sc.data() + r * k;
        CHECK(std::equal(want, want + k, ids.data() + r * k));
        CHECK(std::equal(want_sc, want_sc + k, sc.data() + r * k));
        differs_from_gemm += !std::equal(sc.begin() + ptrdiff_t(r * k), sc.begin() + ptrdiff_t((r + 1) * k), gemm_sc.begin() + ptrdiff_t(r * k));
      }
      if (head == p.n_items) CHECK(differs_from_gemm > 0);  // the two roundings do differ: the check above can tell them apart
      CHECK(!reports.empty() && *std::max_element(reports.begin(), reports.end()) == rows.size());
    }
  }
}
