// Neighbour lists and neighbourhood scoring against brute-force references.
#include <algorithm>
#include <cmath>
#include <random>
#include <vector>

#include "knn/neighbours.hpp"
#include "knn/sparse_topk.hpp"
#include "sparse/csr.hpp"
#include "test.hpp"

using namespace fastrec;
using namespace fastrec::knn;

namespace {

CsrMatrix random_matrix(int64_t rows, int64_t cols, double density, unsigned seed) {
  std::mt19937 gen(seed);
  std::uniform_real_distribution<double> u(0, 1);
  CsrMatrix m;
  m.rows = rows;
  m.cols = cols;
  m.indptr.push_back(0);
  for (int64_t i = 0; i < rows; ++i) {
    for (int64_t j = 0; j < cols; ++j)
      if (u(gen) < density) {
        m.indices.push_back(static_cast<int32_t>(j));
        m.data.push_back(static_cast<float>(1 + static_cast<int>(u(gen) * 5)));  // small integers: exact float sums
      }
    m.indptr.push_back(static_cast<int64_t>(m.indices.size()));
  }
  return m;
}

std::vector<double> dense_row(const CsrMatrix& m, int64_t i) {
  std::vector<double> r(static_cast<size_t>(m.cols), 0.0);
  for (int64_t p = m.indptr[i]; p < m.indptr[i + 1]; ++p) r[m.indices[p]] = m.data[p];
  return r;
}

// Brute force: every pair's similarity by the documented formula, sorted by
// (score desc, index asc), positive only, self excluded, first k.
std::vector<std::pair<float, int32_t>> brute_neighbours(const CsrMatrix& m, int64_t i, const NeighbourOptions& o) {
  auto xi = dense_row(m, i);
  double sqi = 0;
  for (double v : xi) sqi += v * v;
  std::vector<std::pair<float, int32_t>> all;
  for (int64_t j = 0; j < m.rows; ++j) {
    if (j == i) continue;
    auto xj = dense_row(m, j);
    double dot = 0, sqj = 0;
    for (size_t c = 0; c < xi.size(); ++c) {
      dot += xi[c] * xj[c];
      sqj += xj[c] * xj[c];
    }
    if (dot == 0) continue;
    double s = dot;
    if (o.similarity == Similarity::Cosine) s = dot / (std::sqrt(sqi * sqj) + o.shrink);
    if (o.similarity == Similarity::Asymmetric) s = dot / (std::pow(sqi, o.alpha) * std::pow(sqj, 1 - o.alpha) + o.shrink);
    float f = static_cast<float>(s);
    if (f > 0) all.push_back({f, static_cast<int32_t>(j)});
  }
  std::sort(all.begin(), all.end(), [](auto& a, auto& b) { return a.first > b.first || (a.first == b.first && a.second < b.second); });
  if (all.size() > o.k) all.resize(o.k);
  return all;
}

void check_against_brute(const NeighbourOptions& o, unsigned seed) {
  CsrMatrix x = random_matrix(90, 60, 0.08, seed);
  CsrMatrix xt = csr_transpose(CsrView::of(x), 1);
  NeighbourLists nb = top_neighbours(CsrView::of(x), CsrView::of(xt), o);
  CHECK(nb.rows == 90);
  for (int64_t i = 0; i < 90; ++i) {
    auto ref = brute_neighbours(x, i, o);
    CHECK(static_cast<size_t>(nb.indptr[i + 1] - nb.indptr[i]) == ref.size());
    for (size_t t = 0; t < ref.size(); ++t) {
      CHECK(nb.indices[nb.indptr[i] + t] == ref[t].second);
      CHECK(nb.scores[nb.indptr[i] + t] == ref[t].first);
    }
  }
}

}  // namespace

TEST_CASE(knn_cosine_matches_brute_force) {
  NeighbourOptions o;
  o.k = 7;
  o.threads = 3;
  check_against_brute(o, 1);
}

TEST_CASE(knn_cosine_with_shrink_matches_brute_force) {
  NeighbourOptions o;
  o.k = 5;
  o.shrink = 10;
  check_against_brute(o, 2);
}

TEST_CASE(knn_asymmetric_matches_brute_force) {
  NeighbourOptions o;
  o.k = 10;
  o.similarity = Similarity::Asymmetric;
  o.alpha = 0.2;
  o.threads = 2;
  check_against_brute(o, 3);
}

TEST_CASE(knn_dot_matches_brute_force_with_k_above_rows) {
  NeighbourOptions o;
  o.k = 500;  // more than there are rows: every positive neighbour
  o.similarity = Similarity::Dot;
  check_against_brute(o, 4);
}

TEST_CASE(knn_query_neighbours_equals_row_neighbours) {
  CsrMatrix x = random_matrix(50, 40, 0.1, 5);
  CsrMatrix xt = csr_transpose(CsrView::of(x), 1);
  NeighbourOptions o;
  o.k = 6;
  NeighbourLists nb = top_neighbours(CsrView::of(x), CsrView::of(xt), o);
  auto sq = row_sq_norms(CsrView::of(x));
  for (int32_t i = 0; i < 50; ++i) {
    std::vector<int32_t> ids(6);
    std::vector<float> sc(6);
    int64_t lo = x.indptr[i], hi = x.indptr[i + 1];
    size_t c = query_neighbours(CsrView::of(xt), sq, x.indices.data() + lo, x.data.data() + lo, static_cast<size_t>(hi - lo), i, o,
                                ids.data(), sc.data());
    CHECK(static_cast<int64_t>(c) == nb.indptr[i + 1] - nb.indptr[i]);
    for (size_t t = 0; t < c; ++t) {
      CHECK(ids[t] == nb.indices[nb.indptr[i] + t]);
      CHECK_NEAR(sc[t], nb.scores[nb.indptr[i] + t], 1e-6);
    }
  }
}

TEST_CASE(knn_sparse_topk_matches_dense_scoring_with_filters) {
  CsrMatrix m = random_matrix(30, 40, 0.2, 6);     // sources x items
  CsrMatrix src = random_matrix(12, 30, 0.3, 7);   // queries x sources (weights)
  CsrMatrix seen = random_matrix(12, 40, 0.1, 8);  // queries x items
  RowsView mv{m.rows, m.cols, m.indptr.data(), m.indices.data(), m.data.data()};
  RowsView sv{src.rows, src.cols, src.indptr.data(), src.indices.data(), src.data.data()};
  std::vector<int32_t> exclude = {3, 17}, include;
  for (int32_t j = 0; j < 40; j += 2) include.push_back(j);
  for (int with_include = 0; with_include < 2; ++with_include) {
    ItemFilter f{exclude.data(), exclude.size(), with_include ? include.data() : nullptr, with_include ? include.size() : 0};
    const size_t k = 8;
    std::vector<int32_t> rows = {0, 5, 11, 5};
    std::vector<int32_t> ids(rows.size() * k);
    std::vector<float> sc(rows.size() * k);
    CsrView seen_view = CsrView::of(seen);
    sparse_topk_many(mv, sv, rows.data(), rows.size(), &seen_view, f, k, ids.data(), sc.data(), 2, nullptr, {});
    for (size_t r = 0; r < rows.size(); ++r) {
      int32_t q = rows[r];
      std::vector<double> score(40, 0.0);
      for (int64_t p = src.indptr[q]; p < src.indptr[q + 1]; ++p) {
        int32_t s = src.indices[p];
        for (int64_t t = m.indptr[s]; t < m.indptr[s + 1]; ++t) score[m.indices[t]] += double(src.data[p]) * m.data[t];
      }
      std::vector<std::pair<float, int32_t>> ref;
      for (int32_t j = 0; j < 40; ++j) {
        bool blocked = std::binary_search(seen.indices.begin() + seen.indptr[q], seen.indices.begin() + seen.indptr[q + 1], j) ||
                       j == 3 || j == 17 || (with_include && j % 2 != 0);
        if (!blocked && score[j] != 0) ref.push_back({static_cast<float>(score[j]), j});
      }
      std::sort(ref.begin(), ref.end(), [](auto& a, auto& b) { return a.first > b.first || (a.first == b.first && a.second < b.second); });
      for (size_t t = 0; t < k; ++t) {
        if (t < ref.size()) {
          CHECK(ids[r * k + t] == ref[t].second);
          CHECK(sc[r * k + t] == ref[t].first);
        } else {
          CHECK(ids[r * k + t] == -1);
          CHECK(std::isinf(sc[r * k + t]));
        }
      }
      // The single-query path agrees.
      std::vector<int32_t> one(k);
      std::vector<float> one_sc(k);
      size_t c = sparse_topk_one(mv, src.indices.data() + src.indptr[q], src.data.data() + src.indptr[q],
                                 static_cast<size_t>(src.indptr[q + 1] - src.indptr[q]),
                                 seen.indices.data() + seen.indptr[q], static_cast<size_t>(seen.indptr[q + 1] - seen.indptr[q]), f, k,
                                 one.data(), one_sc.data());
      CHECK(c == std::min(k, ref.size()));
      for (size_t t = 0; t < c; ++t) CHECK(one[t] == ids[r * k + t]);
    }
  }
}

TEST_CASE(knn_rejects_bad_options) {
  CsrMatrix x = random_matrix(5, 4, 0.5, 9);
  CsrMatrix xt = csr_transpose(CsrView::of(x), 1);
  NeighbourOptions o;
  o.k = 0;
  CHECK_THROWS(top_neighbours(CsrView::of(x), CsrView::of(xt), o));
  o.k = 3;
  o.alpha = 2;
  CHECK_THROWS(top_neighbours(CsrView::of(x), CsrView::of(xt), o));
  o.alpha = 0.5;
  CHECK_THROWS(top_neighbours(CsrView::of(x), CsrView::of(x), o));  // not the transpose (4 x 5 expected)
}
