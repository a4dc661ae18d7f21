// Exact index: the panel kernels of every SIMD level against scalar, and the
// brute-force and pruned searches against an oracle. On small-integer data
// every float score is exact, so results must match the integer oracle label
// for label (ties by smaller label included); on float data the pruned search
// must return bit-for-bit what the brute-force scan returns.
#include <algorithm>
#include <cmath>
#include <cstring>
#include <random>

#include "ann/exact_kernels.hpp"
#include "ann/flat.hpp"
#include "common/simd.hpp"
#include "test.hpp"

using namespace fastrec;
using namespace fastrec::ann;

namespace {

// n x d integers in [-range, range] (as floats): all products and sums stay exact.
std::vector<float> ints(size_t n, size_t d, int range, uint32_t seed) {
  std::mt19937 rng(seed);
  std::uniform_int_distribution<int> u(-range, range);
  std::vector<float> v(n * d);
  for (float& x : v) x = float(u(rng));
  return v;
}

// Gaussian mixture with power-law cluster sizes (as bench/exact-topk.mjs).
std::vector<float> mixture(size_t n, size_t d, size_t clusters, uint32_t seed, uint32_t centre_seed = 99) {
  std::mt19937 crng(centre_seed), rng(seed);
  std::normal_distribution<float> g(0, 1);
  std::vector<float> centres(clusters * d);
  for (float& c : centres) c = g(crng);
  std::vector<double> cdf(clusters);
  double total = 0;
  for (size_t c = 0; c < clusters; ++c) cdf[c] = total += 1.0 / std::pow(double(c + 1), 1.1);
  std::uniform_real_distribution<double> u(0, total);
  std::vector<float> out(n * d);
  for (size_t i = 0; i < n; ++i) {
    size_t c = std::lower_bound(cdf.begin(), cdf.end(), u(rng)) - cdf.begin();
    c = std::min(c, clusters - 1);
    for (size_t j = 0; j < d; ++j) out[i * d + j] = centres[c * d + j] + 0.35f * g(rng);
  }
  return out;
}

// Integer oracle: exact scores (ip: dot; l2: -|q-x|^2), best k by (score desc, label asc).
std::vector<std::pair<int64_t, uint32_t>> int_oracle(const std::vector<float>& data, size_t d, const float* q, size_t k,
                                                     Metric m, const std::function<bool(uint32_t)>& ok = nullptr) {
  size_t n = data.size() / d;
  std::vector<std::pair<int64_t, uint32_t>> all;
  for (size_t i = 0; i < n; ++i) {
    if (ok && !ok(uint32_t(i))) continue;
    int64_t s = 0;
    for (size_t j = 0; j < d; ++j) {
      int64_t x = int64_t(data[i * d + j]), y = int64_t(q[j]);
      s += m == Metric::L2 ? -(x - y) * (x - y) : x * y;
    }
    all.push_back({-s, uint32_t(i)});
  }
  std::sort(all.begin(), all.end());
  all.resize(std::min(k, n));
  return all;
}

struct Result {
  std::vector<uint32_t> labels;
  std::vector<float> dist;
  bool operator==(const Result& o) const {
    return labels == o.labels && dist.size() == o.dist.size() &&
           std::memcmp(dist.data(), o.dist.data(), dist.size() * sizeof(float)) == 0;
  }
};

Result one(const FlatIndex& f, const float* q, size_t k, size_t threads, bool prune, ExactStats* st = nullptr) {
  Result r;
  r.labels.resize(k);
  r.dist.resize(k);
  size_t n = f.search(q, k, r.labels.data(), r.dist.data(), threads, prune, st);
  r.labels.resize(n);
  r.dist.resize(n);
  return r;
}

std::vector<Result> many(const FlatIndex& f, const std::vector<float>& qs, size_t k, size_t threads, bool prune,
                         ExactStats* st = nullptr) {
  size_t d = f.dim(), nq = qs.size() / d;
  std::vector<uint32_t> l(nq * k);
  std::vector<float> dd(nq * k);
  f.search_many(qs.data(), nq, k, l.data(), dd.data(), threads, nullptr, prune, st);
  std::vector<Result> out(nq);
  for (size_t i = 0; i < nq; ++i)
    for (size_t j = 0; j < k; ++j)
      if (l[i * k + j] != 0xFFFFFFFFu) {
        out[i].labels.push_back(l[i * k + j]);
        out[i].dist.push_back(dd[i * k + j]);
      } else {
        CHECK(std::isinf(dd[i * k + j]));
      }
  return out;
}

void check_matches_int_oracle(const FlatIndex& f, const std::vector<float>& data, const std::vector<float>& qs,
                              size_t k, Metric m) {
  size_t d = f.dim(), nq = qs.size() / d;
  for (bool prune : {false, true}) {
    auto batch = many(f, qs, k, 2, prune);
    for (size_t i = 0; i < nq; ++i) {
      auto truth = int_oracle(data, d, qs.data() + i * d, k, m);
      Result single = one(f, qs.data() + i * d, k, 2, prune);
      CHECK(single == batch[i]);
      CHECK(single.labels.size() == truth.size());
      for (size_t j = 0; j < truth.size(); ++j) {
        CHECK(single.labels[j] == truth[j].second);
        // distances: l2 = |q-x|^2 exactly, ip = 1 - dot exactly
        double expect = m == Metric::L2 ? double(truth[j].first) : 1.0 + double(truth[j].first);
        CHECK(double(single.dist[j]) == expect);
      }
    }
  }
}

}  // namespace

TEST_CASE(exact_kernels_match_scalar_exactly_on_integers) {
  const ExactKernels* scalar = exact_kernels_for("scalar");
  CHECK(scalar != nullptr);
  for (const std::string& level : simd::available_levels()) {
    const ExactKernels* k = exact_kernels_for(level.c_str());
    CHECK(k != nullptr);
    for (size_t dim : {1, 5, 16, 33}) {
      for (size_t nq : {1, 5, 6, 7, 13}) {
        size_t np = 3, n = np * kPanel;
        auto items = ints(n, dim, 3, uint32_t(dim * 31 + nq)), qs = ints(nq, dim, 3, uint32_t(dim + nq));
        std::vector<float> panels(n * dim), bias(n);
        for (size_t i = 0; i < n; ++i) {
          for (size_t p = 0; p < dim; ++p) panels[(i / kPanel) * kPanel * dim + p * kPanel + i % kPanel] = items[i * dim + p];
          bias[i] = i % 7 == 3 ? std::nanf("") : float(int(i % 5) - 2);
        }
        std::vector<const float*> ptr(nq);
        std::vector<float> thr(nq);
        for (size_t r = 0; r < nq; ++r) {
          ptr[r] = qs.data() + r * dim;
          thr[r] = float(int(r % 3) - 1);
        }
        // dense: every score equals the exact integer sum (NaN in NaN-bias slots)
        std::vector<float> a(nq * n), b(nq * n);
        k->dense(ptr.data(), nq, panels.data(), bias.data(), np, dim, a.data(), n);
        scalar->dense(ptr.data(), nq, panels.data(), bias.data(), np, dim, b.data(), n);
        for (size_t r = 0; r < nq; ++r)
          for (size_t i = 0; i < n; ++i) {
            float expect = bias[i];
            for (size_t p = 0; p < dim; ++p) expect += qs[r * dim + p] * items[i * dim + p];
            float got = a[r * n + i];
            CHECK((std::isnan(expect) && std::isnan(got)) || got == expect);
            CHECK((std::isnan(got) && std::isnan(b[r * n + i])) || got == b[r * n + i]);
          }
        // scan: exactly the scores >= threshold, none from NaN slots
        std::vector<ExactHit> h1(nq * n), h2(nq * n);
        size_t c1 = k->scan(ptr.data(), nq, thr.data(), panels.data(), bias.data(), np, dim, h1.data());
        size_t c2 = scalar->scan(ptr.data(), nq, thr.data(), panels.data(), bias.data(), np, dim, h2.data());
        size_t expect_hits = 0;
        for (size_t r = 0; r < nq; ++r)
          for (size_t i = 0; i < n; ++i) expect_hits += a[r * n + i] >= thr[r];
        CHECK(c1 == expect_hits && c2 == expect_hits);
        auto key = [](const ExactHit& h) { return std::make_pair(h.query, h.slot); };
        std::sort(h1.begin(), h1.begin() + c1, [&](auto& x, auto& y) { return key(x) < key(y); });
        std::sort(h2.begin(), h2.begin() + c2, [&](auto& x, auto& y) { return key(x) < key(y); });
        for (size_t i = 0; i < c1; ++i) {
          CHECK(key(h1[i]) == key(h2[i]) && h1[i].score == h2[i].score);
          CHECK(h1[i].score == a[h1[i].query * n + h1[i].slot]);
        }
        // scan_one: the same as row 0 of scan
        for (size_t npan : {1, 2, 3}) {
          std::vector<ExactHit> h3(n);
          size_t c3 = k->scan_one(ptr[0], thr[0], panels.data(), bias.data(), npan, dim, h3.data());
          size_t e3 = 0;
          for (size_t i = 0; i < npan * kPanel; ++i) e3 += a[i] >= thr[0];
          CHECK(c3 == e3);
          for (size_t i = 0; i < c3; ++i) CHECK(h3[i].score == a[h3[i].slot]);
        }
      }
    }
  }
}

TEST_CASE(exact_index_matches_integer_oracle_with_ties) {
  // Values in [-2, 2] in 12 dimensions: many equal scores, broken by the smaller label.
  size_t d = 12, k = 9;
  auto data = ints(3000, d, 2, 5);
  auto qs = ints(40, d, 2, 6);
  for (Metric m : {Metric::InnerProduct, Metric::L2}) {
    FlatIndex f(d, m);
    f.add(data.data(), 1000);
    f.add(data.data() + 1000 * d, 2000);
    check_matches_int_oracle(f, data, qs, k, m);  // unpartitioned: every block scanned
    f.partition(64, 2);
    CHECK(f.blocks() > 10);
    check_matches_int_oracle(f, data, qs, k, m);  // pruned
    // items added after partition() are searched too (unbounded tail)
    auto more = ints(500, d, 2, 7);
    f.add(more.data(), 500);
    data.insert(data.end(), more.begin(), more.end());
    check_matches_int_oracle(f, data, qs, k, m);
    data.resize(3000 * d);
  }
}

TEST_CASE(exact_pruned_equals_brute_force_bit_for_bit) {
  size_t d = 24, k = 10, n = 6000;
  for (Metric m : {Metric::InnerProduct, Metric::L2, Metric::Cosine}) {
    for (int clustered = 0; clustered < 2; ++clustered) {
      std::vector<float> data, qs;
      if (clustered) {
        data = mixture(n, d, 40, 11);
        qs = mixture(250, d, 40, 12);  // several query chunks
      } else {
        std::mt19937 rng(13);
        std::uniform_real_distribution<float> u(0, 1);
        data.resize(n * d);
        qs.resize(250 * d);
        for (float& x : data) x = u(rng);
        for (float& x : qs) x = u(rng);
      }
      FlatIndex plain(d, m);
      plain.add(data.data(), n);
      auto truth = many(plain, qs, k, 1, false);
      FlatIndex f(d, m);
      f.add(data.data(), n);
      f.partition(100, 2);
      ExactStats pruned_stats, brute_stats;
      auto pruned = many(f, qs, k, 2, true, &pruned_stats);
      auto brute = many(f, qs, k, 2, false, &brute_stats);
      CHECK(brute_stats.scored >= 250 * n);
      for (size_t i = 0; i < qs.size() / d; ++i) {
        CHECK(truth[i].labels.size() == k);
        CHECK(pruned[i] == truth[i]);
        CHECK(brute[i] == truth[i]);
        CHECK(one(f, qs.data() + i * d, k, 2, true) == truth[i]);
        CHECK(one(f, qs.data() + i * d, k, 1, false) == truth[i]);
        CHECK(one(plain, qs.data() + i * d, k, 2, true) == truth[i]);
      }
      // Planted clusters must let the bounds skip most of the work.
      if (clustered && m != Metric::Cosine) CHECK(pruned_stats.scored * 3 < brute_stats.scored);
    }
  }
}

TEST_CASE(exact_k_larger_than_n_and_empty) {
  size_t d = 7;
  auto data = ints(20, d, 3, 1);
  FlatIndex f(d, Metric::L2);
  f.add(data.data(), 20);
  f.partition(16, 1);
  std::vector<uint32_t> l(50 * 2);
  std::vector<float> dd(50 * 2);
  CHECK(f.search(data.data(), 50, l.data(), dd.data(), 2, true) == 20);
  CHECK(l[0] == 0 && dd[0] == 0.0f);
  f.search_many(data.data(), 2, 50, l.data(), dd.data(), 2);
  CHECK(l[19] != 0xFFFFFFFFu && l[20] == 0xFFFFFFFFu && std::isinf(dd[49]) && l[50] == 1);
  FlatIndex empty(d, Metric::InnerProduct);
  empty.partition(16, 1);
  CHECK(empty.search(data.data(), 5, l.data(), dd.data()) == 0);
  empty.search_many(data.data(), 1, 3, l.data(), dd.data(), 1);
  CHECK(l[0] == 0xFFFFFFFFu);
  CHECK_THROWS(f.partition(3, 1));
}

TEST_CASE(exact_filters_match_the_oracle_on_the_allowed_items) {
  size_t d = 10, k = 7, n = 3200;
  auto data = ints(n, d, 2, 21), qs = ints(150, d, 2, 22);
  for (Metric m : {Metric::InnerProduct, Metric::L2}) {
    FlatIndex f(d, m);
    f.add(data.data(), n);
    for (int partitioned = 0; partitioned < 2; ++partitioned) {
      if (partitioned) f.partition(64, 2);
      std::vector<int32_t> wide, narrow, deny;  // 50% allowed (filtered scan), 3% allowed (gathered), 1/3 denied
      for (int32_t l = 0; l < int32_t(n); ++l) {
        if (l % 2 == 0) wide.push_back(l);
        if (l % 31 == 5) narrow.push_back(l);
        if (l % 3 == 1) deny.push_back(l);
      }
      struct Case {
        const std::vector<int32_t>* allow;
        const std::vector<int32_t>* deny;
      } cases[] = {{&wide, nullptr}, {&narrow, nullptr}, {nullptr, &deny}, {&wide, &deny}, {&narrow, &deny}};
      for (const Case& c : cases) {
        ExactFilter filter = f.make_filter(c.allow ? c.allow->data() : nullptr, c.allow ? c.allow->size() : 0,
                                           c.deny ? c.deny->data() : nullptr, c.deny ? c.deny->size() : 0);
        auto ok = [&](uint32_t l) {
          bool in_allow = !c.allow || std::binary_search(c.allow->begin(), c.allow->end(), int32_t(l));
          bool in_deny = c.deny && std::binary_search(c.deny->begin(), c.deny->end(), int32_t(l));
          return in_allow && !in_deny;
        };
        std::vector<uint32_t> l(150 * k);
        std::vector<float> dd(150 * k);
        f.search_many(qs.data(), 150, k, l.data(), dd.data(), 2, nullptr, true, nullptr, &filter);
        for (size_t i = 0; i < 150; ++i) {
          auto truth = int_oracle(data, d, qs.data() + i * d, k, m, ok);
          std::vector<uint32_t> one(k);
          std::vector<float> od(k);
          CHECK(f.search(qs.data() + i * d, k, one.data(), od.data(), 2, true, nullptr, &filter) == truth.size());
          for (size_t j = 0; j < truth.size(); ++j) {
            CHECK(one[j] == truth[j].second);
            CHECK(l[i * k + j] == truth[j].second);
            CHECK(od[j] == dd[i * k + j]);
          }
        }
      }
    }
    std::vector<int32_t> bad = {int32_t(n)};
    CHECK_THROWS(f.make_filter(bad.data(), 1, nullptr, 0));
    CHECK_THROWS(f.make_filter(nullptr, 0, bad.data(), 1));
  }
}
