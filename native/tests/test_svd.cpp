// Randomized truncated SVD against an exact dense oracle (one-sided Jacobi SVD
// in double, Hestenes 1958), plus orthonormality, centering, rank deficiency,
// determinism and argument errors.
#include <algorithm>
#include <cmath>
#include <random>
#include <vector>

#include "common/cancel.hpp"
#include "sparse/csr.hpp"
#include "svd/jacobi.hpp"
#include "svd/truncated_svd.hpp"
#include "test.hpp"

using namespace fastrec;
using namespace fastrec::svd;

namespace {

struct Dense {
  size_t m, n;
  std::vector<double> a;  // row-major
  double& at(size_t i, size_t j) { return a[i * n + j]; }
  double at(size_t i, size_t j) const { return a[i * n + j]; }
};

// Oracle: singular values of a dense matrix by one-sided Jacobi rotations of
// its columns until every pair is orthogonal; the column norms are then the
// singular values. Independent of the code under test.
std::vector<double> oracle_singular_values(Dense d) {
  const size_t m = d.m, n = d.n;
  for (int sweep = 0; sweep < 100; ++sweep) {
    double worst = 0;
    for (size_t p = 0; p + 1 < n; ++p)
      for (size_t q = p + 1; q < n; ++q) {
        double alpha = 0, beta = 0, gamma = 0;
        for (size_t i = 0; i < m; ++i) {
          alpha += d.at(i, p) * d.at(i, p);
          beta += d.at(i, q) * d.at(i, q);
          gamma += d.at(i, p) * d.at(i, q);
        }
        if (gamma == 0) continue;
        worst = std::max(worst, std::fabs(gamma) / std::sqrt(alpha * beta));
        double zeta = (beta - alpha) / (2 * gamma);
        double t = (zeta >= 0 ? 1 : -1) / (std::fabs(zeta) + std::sqrt(1 + zeta * zeta));
        double c = 1 / std::sqrt(1 + t * t), s = c * t;
        for (size_t i = 0; i < m; ++i) {
          double x = d.at(i, p), y = d.at(i, q);
          d.at(i, p) = c * x - s * y;
          d.at(i, q) = s * x + c * y;
        }
      }
    if (worst < 1e-15) break;
  }
  std::vector<double> s(n);
  for (size_t j = 0; j < n; ++j) {
    double t = 0;
    for (size_t i = 0; i < m; ++i) t += d.at(i, j) * d.at(i, j);
    s[j] = std::sqrt(t);
  }
  std::sort(s.rbegin(), s.rend());
  return s;
}

CsrMatrix to_csr(const Dense& d) {
  CsrMatrix c;
  c.rows = static_cast<int64_t>(d.m);
  c.cols = static_cast<int64_t>(d.n);
  c.indptr.push_back(0);
  for (size_t i = 0; i < d.m; ++i) {
    for (size_t j = 0; j < d.n; ++j)
      if (d.at(i, j) != 0) {
        c.indices.push_back(static_cast<int32_t>(j));
        c.data.push_back(static_cast<float>(d.at(i, j)));
      }
    c.indptr.push_back(static_cast<int64_t>(c.indices.size()));
  }
  return c;
}

// Random sparse nonnegative matrix with values exactly representable in float.
Dense random_sparse(size_t m, size_t n, double density, unsigned seed) {
  std::mt19937 gen(seed);
  std::uniform_real_distribution<double> u(0, 1);
  Dense d{m, n, std::vector<double>(m * n, 0.0)};
  for (auto& x : d.a)
    if (u(gen) < density) x = std::floor(1 + 4 * u(gen));
  return d;
}

// sum_r s_r x_r y_rᵀ with sparse x_r, y_r: a planted spectrum (plus float rounding).
Dense planted(size_t m, size_t n, const std::vector<double>& strengths, unsigned seed) {
  std::mt19937 gen(seed);
  std::uniform_real_distribution<double> u(0, 1);
  Dense d{m, n, std::vector<double>(m * n, 0.0)};
  for (double s : strengths) {
    std::vector<double> x(m), y(n);
    for (auto& v : x) v = u(gen) < 0.3 ? u(gen) : 0;
    for (auto& v : y) v = u(gen) < 0.3 ? u(gen) : 0;
    for (size_t i = 0; i < m; ++i)
      for (size_t j = 0; j < n; ++j) d.at(i, j) += s * x[i] * y[j];
  }
  for (auto& v : d.a) v = static_cast<float>(v);  // the CSR holds floats: make the oracle see the same matrix
  return d;
}

void check_singular_values(const SvdResult& r, const std::vector<double>& exact, double rel) {
  for (size_t t = 0; t < r.k; ++t) CHECK_NEAR(r.s[t], exact[t], rel * exact[t] + 1e-6 * exact[0]);
}

// UᵀU = I, V Vᵀ = I (for nonzero singular values), A v_t = s_t u_t.
void check_factors(const Dense& d, const SvdResult& r, double tol) {
  const size_t m = r.rows, n = r.cols, k = r.k;
  for (size_t a = 0; a < k; ++a)
    for (size_t b = 0; b < k; ++b) {
      double uu = 0, vv = 0;
      for (size_t i = 0; i < m; ++i) uu += double(r.u[i * k + a]) * r.u[i * k + b];
      for (size_t j = 0; j < n; ++j) vv += double(r.vt[a * n + j]) * r.vt[b * n + j];
      CHECK_NEAR(uu, a == b ? 1.0 : 0.0, tol);
      CHECK_NEAR(vv, a == b ? 1.0 : 0.0, tol);
    }
  for (size_t t = 0; t < k; ++t)
    for (size_t i = 0; i < m; ++i) {
      double av = 0;
      for (size_t j = 0; j < n; ++j) av += d.at(i, j) * r.vt[t * n + j];
      CHECK_NEAR(av, r.s[t] * r.u[i * k + t], tol * r.s[0]);
    }
}

}  // namespace

TEST_CASE(svd_jacobi_eigen_reconstructs) {
  const size_t n = 12;
  std::mt19937 gen(3);
  std::normal_distribution<double> g;
  std::vector<double> a(n * n);
  for (size_t i = 0; i < n; ++i)
    for (size_t j = 0; j <= i; ++j) a[i * n + j] = a[j * n + i] = g(gen);
  std::vector<double> copy = a, values, vectors;
  jacobi_eigen(copy, n, values, vectors);
  for (size_t t = 1; t < n; ++t) CHECK(values[t - 1] >= values[t]);
  for (size_t i = 0; i < n; ++i)
    for (size_t c = 0; c < n; ++c) {
      double av = 0;
      for (size_t j = 0; j < n; ++j) av += a[i * n + j] * vectors[j * n + c];
      CHECK_NEAR(av, values[c] * vectors[i * n + c], 1e-10);
    }
}

TEST_CASE(svd_oracle_matches_known_values) {
  // diag(3, 2) padded: singular values 3, 2, 0.
  Dense d{3, 3, {0, 3, 0, 2, 0, 0, 0, 0, 0}};
  auto s = oracle_singular_values(d);
  CHECK_NEAR(s[0], 3, 1e-12);
  CHECK_NEAR(s[1], 2, 1e-12);
  CHECK_NEAR(s[2], 0, 1e-12);
}

TEST_CASE(svd_full_range_matches_oracle) {
  // l = k + oversample covers the whole column space: the result is exact up to rounding.
  Dense d = random_sparse(70, 30, 0.2, 11);
  auto exact = oracle_singular_values(d);
  CsrMatrix c = to_csr(d);
  SvdOptions o;
  o.k = 10;
  o.oversample = 20;
  o.power_iterations = 2;
  o.threads = 2;
  SvdResult r = truncated_svd(CsrView::of(c), o);
  check_singular_values(r, exact, 1e-4);
  check_factors(d, r, 1e-4);
}

TEST_CASE(svd_power_iterations_converge_on_planted_spectrum) {
  Dense d = planted(300, 120, {100, 60, 35, 20, 12, 6, 3}, 5);
  auto exact = oracle_singular_values(d);
  CsrMatrix c = to_csr(d);
  SvdOptions o;
  o.k = 5;
  o.oversample = 5;
  o.power_iterations = 3;
  o.threads = 3;
  SvdResult r = truncated_svd(CsrView::of(c), o);
  check_singular_values(r, exact, 1e-4);
  check_factors(d, r, 2e-4);
}

TEST_CASE(svd_random_sparse_top_values_converge) {
  // A generic sparse matrix (slowly decaying spectrum): enough power iterations reach 1e-4.
  Dense d = random_sparse(200, 90, 0.1, 21);
  auto exact = oracle_singular_values(d);
  CsrMatrix c = to_csr(d);
  SvdOptions o;
  o.k = 4;
  o.oversample = 10;
  o.power_iterations = 12;
  o.seed = 9;
  SvdResult r = truncated_svd(CsrView::of(c), o);
  check_singular_values(r, exact, 1e-4);
}

TEST_CASE(svd_power_iterations_reduce_the_error) {
  Dense d = random_sparse(200, 90, 0.1, 21);
  auto exact = oracle_singular_values(d);
  CsrMatrix c = to_csr(d);
  double previous = 1e300;
  for (size_t q : {0, 1, 3}) {
    SvdOptions o;
    o.k = 4;
    o.oversample = 4;
    o.power_iterations = q;
    SvdResult r = truncated_svd(CsrView::of(c), o);
    double err = 0;
    for (size_t t = 0; t < 4; ++t) {
      // The range finder never overestimates: sigma_i(Qᵀ A) <= sigma_i(A).
      CHECK(r.s[t] <= exact[t] * (1 + 1e-5));
      err += exact[t] - r.s[t];
    }
    CHECK(err < previous);
    previous = err;
  }
}

TEST_CASE(svd_centered_matches_dense_centered_oracle) {
  Dense d = random_sparse(120, 40, 0.15, 31);
  Dense centered = d;
  for (size_t j = 0; j < d.n; ++j) {
    double mean = 0;
    for (size_t i = 0; i < d.m; ++i) mean += d.at(i, j);
    mean /= d.m;
    for (size_t i = 0; i < d.m; ++i) centered.at(i, j) -= mean;
  }
  auto exact = oracle_singular_values(centered);
  CsrMatrix c = to_csr(d);
  SvdOptions o;
  o.k = 6;
  o.oversample = 34;  // full range: exact up to rounding
  o.power_iterations = 1;
  o.center = true;
  SvdResult r = truncated_svd(CsrView::of(c), o);
  check_singular_values(r, exact, 1e-4);
  check_factors(centered, r, 1e-4);
  CHECK(r.mean.size() == 40);
}

TEST_CASE(svd_rank_deficient_input_has_zero_tail) {
  Dense d = planted(50, 30, {10, 5}, 8);  // rank 2
  CsrMatrix c = to_csr(d);
  SvdOptions o;
  o.k = 5;
  o.oversample = 5;
  o.power_iterations = 3;
  SvdResult r = truncated_svd(CsrView::of(c), o);
  auto exact = oracle_singular_values(d);
  CHECK_NEAR(r.s[0], exact[0], 1e-4 * exact[0]);
  CHECK_NEAR(r.s[1], exact[1], 1e-4 * exact[1]);
  for (size_t t = 2; t < 5; ++t) CHECK(r.s[t] < 1e-3 * r.s[0]);
  for (float v : r.u) CHECK(std::isfinite(v));
  for (float v : r.vt) CHECK(std::isfinite(v));
}

TEST_CASE(svd_empty_matrix_gives_zeros) {
  CsrMatrix c;
  c.rows = 5;
  c.cols = 4;
  c.indptr.assign(6, 0);
  SvdOptions o;
  o.k = 2;
  SvdResult r = truncated_svd(CsrView::of(c), o);
  for (float v : r.s) CHECK(v == 0.0f);
  for (float v : r.vt) CHECK(v == 0.0f);
}

TEST_CASE(svd_same_seed_and_threads_same_result) {
  Dense d = random_sparse(150, 60, 0.1, 41);
  CsrMatrix c = to_csr(d);
  SvdOptions o;
  o.k = 5;
  o.threads = 2;
  o.seed = 77;
  SvdResult a = truncated_svd(CsrView::of(c), o);
  SvdResult b = truncated_svd(CsrView::of(c), o);
  CHECK(a.u == b.u);
  CHECK(a.s == b.s);
  CHECK(a.vt == b.vt);
}

TEST_CASE(svd_rejects_bad_k_and_honours_cancel) {
  Dense d = random_sparse(10, 6, 0.5, 1);
  CsrMatrix c = to_csr(d);
  SvdOptions o;
  o.k = 7;
  CHECK_THROWS(truncated_svd(CsrView::of(c), o));
  o.k = 0;
  CHECK_THROWS(truncated_svd(CsrView::of(c), o));
  o.k = 2;
  CancelToken token;
  token.cancel();
  CHECK_THROWS(truncated_svd(CsrView::of(c), o, &token));
}
