// ALS: both solvers against a dense normal-equations oracle, convergence of
// CG to Cholesky, monotone loss, planted structure, determinism, fold-in and
// the explain decomposition.
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <random>

#include "als/als.hpp"
#include "als/kernels.hpp"
#include "als/stream.hpp"
#include "ann/distance.hpp"
#include "common/simd.hpp"
#include "sparse/csr.hpp"
#include "als_test_data.hpp"
#include "test.hpp"

using namespace fastrec;
using namespace fastrec::als;
using namespace fastrec::als_test;

namespace {

Data make_data(int64_t users, int64_t items, double density, uint32_t seed, bool ratings = false) {
  return random_cells(users, items, density, seed, ratings ? 5 : 4);
}

// The user's solution written straight from the objective: every cell of the
// row, observed or not, with its own weight (no YᵀY trick).
std::vector<double> dense_reference(const std::vector<float>& dense, int64_t items, int64_t u, const float* Y,
                                    const float* ybias, float mean, const Config& cfg) {
  const size_t k = cfg.factors, d = cfg.implicit ? k : k + 1;
  std::vector<double> A(d * d, 0.0), b(d, 0.0);
  size_t count = 0;
  for (int64_t i = 0; i < items; ++i) count += dense[u * items + i] != 0.0f;
  for (int64_t i = 0; i < items; ++i) {
    const float w = dense[u * items + i];
    std::vector<double> y(d);
    for (size_t c = 0; c < k; ++c) y[c] = Y[i * k + c];
    if (!cfg.implicit) y[k] = 1.0;
    double weight, target;
    if (cfg.implicit) {
      weight = cell_weight(cfg, w);
      target = w != 0.0f ? 1.0 : 0.0;
    } else {
      if (w == 0.0f) continue;
      weight = 1.0;
      target = w - mean - ybias[i];
    }
    for (size_t r = 0; r < d; ++r) {
      b[r] += weight * target * y[r];
      for (size_t c = 0; c < d; ++c) A[r * d + c] += weight * y[r] * y[c];
    }
  }
  const double lam = row_lambda_ref(cfg, count, cfg.implicit ? items : 0);
  for (size_t r = 0; r < d; ++r) A[r * d + r] += lam;
  return gauss(A, b, d);
}

// Every score x_u . y_i of a model. Fits are compared by their scores: factors
// are only defined up to a rotation, and fits in the eigenbasis of YᵀY
// (Config::eigenbasis) rotate them differently when eigenvalues are close.
std::vector<float> score_matrix(const Model& m) {
  std::vector<float> s(m.users * m.items);
  for (size_t u = 0; u < m.users; ++u)
    for (size_t i = 0; i < m.items; ++i) {
      double dot = 0.0;
      for (size_t c = 0; c < m.factors; ++c)
        dot += static_cast<double>(m.user_factors[u * m.factors + c]) * m.item_factors[i * m.factors + c];
      s[u * m.items + i] = static_cast<float>(dot);
    }
  return s;
}

double max_abs_diff(const float* a, const double* b, size_t n) {
  double m = 0;
  for (size_t i = 0; i < n; ++i) m = std::max(m, std::fabs(a[i] - b[i]));
  return m;
}

// Solve every user of `data` against fixed item factors Y with both solvers
// and compare with the oracle.
void check_against_reference(const Config& base_cfg, bool ratings) {
  const size_t k = base_cfg.factors;
  Data data = make_data(25, 18, 0.3, 7, ratings);
  std::vector<float> Y = random_factors(data.items, k, 11);
  std::vector<float> ybias = random_factors(data.items, 1, 12);
  const float mean = 3.0f;
  for (Solver solver : {Solver::Cholesky, Solver::CG}) {
    Config cfg = base_cfg;
    cfg.solver = solver;
    cfg.cg_steps = 60;  // CG is exact after d steps in exact arithmetic
    std::vector<float> X(data.users * k, 0.0f), xbias(data.users, 0.0f);
    Side side;
    side.fixed = Y.data();
    side.fixed_bias = ybias.data();
    side.n_fixed = data.items;
    side.target = X.data();
    side.target_bias = xbias.data();
    side.global_mean = mean;
    std::vector<int32_t> rows(data.users);
    for (int32_t u = 0; u < data.users; ++u) rows[u] = u;
    solve_rows(CsrView::of(data.ui), rows.data(), rows.size(), side, nullptr, cfg, false, 2, nullptr);
    for (int64_t u = 0; u < data.users; ++u) {
      std::vector<double> ref = dense_reference(data.dense, data.items, u, Y.data(), ybias.data(), mean, cfg);
      bool empty = data.ui.indptr[u + 1] == data.ui.indptr[u];
      if (empty) {
        for (size_t c = 0; c < k; ++c) CHECK(X[u * k + c] == 0.0f);
        continue;
      }
      double scale = 1.0;
      for (double v : ref) scale = std::max(scale, std::fabs(v));
      CHECK_NEAR(max_abs_diff(X.data() + u * k, ref.data(), k) / scale, 0.0, 2e-4);
      if (!cfg.implicit) CHECK_NEAR((xbias[u] - ref[k]) / scale, 0.0, 2e-4);
    }
  }
}

}  // namespace

TEST_CASE(dense_reference_implicit_linear) {
  Config cfg;
  cfg.factors = 6;
  cfg.alpha = 2.0f;
  cfg.regularization = 0.1f;
  check_against_reference(cfg, false);
}

TEST_CASE(dense_reference_implicit_proportional_unobserved_weight) {
  Config cfg;
  cfg.factors = 5;
  cfg.confidence = Confidence::Proportional;
  cfg.alpha = 3.0f;
  cfg.unobserved_weight = 0.3f;
  cfg.regularization = 0.05f;
  cfg.reg_scaling = RegScaling::Count;
  check_against_reference(cfg, false);
}

TEST_CASE(dense_reference_implicit_frequency_scaled) {
  Config cfg;
  cfg.factors = 17;  // crosses a 16-float tile boundary
  cfg.alpha = 1.5f;
  cfg.unobserved_weight = 0.5f;
  cfg.regularization = 0.02f;
  cfg.reg_scaling = RegScaling::Frequency;
  cfg.nu = 0.7f;
  check_against_reference(cfg, false);
}

TEST_CASE(dense_reference_explicit_biased) {
  Config cfg;
  cfg.factors = 4;
  cfg.implicit = false;
  cfg.regularization = 0.3f;
  check_against_reference(cfg, true);
  cfg.reg_scaling = RegScaling::Count;
  cfg.factors = 15;  // d = 16: the bias fills the last lane of a tile
  check_against_reference(cfg, true);
}

TEST_CASE(long_row_processed_in_blocks) {
  // One user who saw 40,000 items: more than one gathered block at k = 4.
  const int64_t items = 40000;
  std::vector<float> dense(items);
  for (int64_t i = 0; i < items; ++i) dense[i] = (i % 3 == 0) ? 0.0f : static_cast<float>(1 + i % 5);
  CsrMatrix m = csr_of_dense(dense, 1, items);
  Config cfg;
  cfg.factors = 4;
  cfg.alpha = 0.5f;
  cfg.regularization = 1.0f;
  std::vector<float> Y = random_factors(items, 4, 3);
  for (Solver solver : {Solver::Cholesky, Solver::CG}) {
    cfg.solver = solver;
    cfg.cg_steps = 30;
    std::vector<float> X(4, 0.0f);
    Side side;
    side.fixed = Y.data();
    side.n_fixed = items;
    side.target = X.data();
    int32_t row = 0;
    solve_rows(CsrView::of(m), &row, 1, side, nullptr, cfg, false, 1, nullptr);
    std::vector<double> ref = dense_reference(dense, items, 0, Y.data(), nullptr, 0, cfg);
    CHECK_NEAR(max_abs_diff(X.data(), ref.data(), 4), 0.0, 1e-4);
  }
}

// The row solves of one users half against item factors Y, by Cholesky or by
// CG (plain or preconditioned) with the given number of steps.
struct HalfSolve {
  Data data;
  Config cfg;
  std::vector<float> Y;
  std::vector<int32_t> rows;
  HalfSolve(Data d, Config c, std::vector<float> y) : data(std::move(d)), cfg(c), Y(std::move(y)) {
    for (int32_t u = 0; u < data.users; ++u) rows.push_back(u);
  }
  std::vector<float> solve(Solver solver, size_t steps, bool precondition) const {
    Config c = cfg;
    c.solver = solver;
    c.cg_steps = steps;
    c.precondition = precondition;
    std::vector<float> X(data.users * cfg.factors, 0.0f);
    Side side;
    side.fixed = Y.data();
    side.n_fixed = data.items;
    side.target = X.data();
    solve_rows(CsrView::of(data.ui), rows.data(), rows.size(), side, nullptr, c, false, 1, nullptr);
    return X;
  }
  // |X - exact| over all rows
  double error(const std::vector<float>& X, const std::vector<float>& exact) const {
    double e = 0;
    for (size_t i = 0; i < X.size(); ++i) e += (X[i] - exact[i]) * (X[i] - exact[i]);
    return std::sqrt(e);
  }
};

TEST_CASE(cg_converges_to_cholesky) {
  Config cfg;
  cfg.factors = 24;
  cfg.alpha = 5.0f;
  cfg.regularization = 0.05f;
  HalfSolve h(make_data(40, 60, 0.25, 5), cfg, random_factors(60, cfg.factors, 9));
  const std::vector<float> exact = h.solve(Solver::Cholesky, 1, false);
  for (bool precondition : {false, true}) {
    double prev = 1e30;
    std::vector<double> errs;
    for (size_t steps : {1, 2, 4, 8, 16, 32}) {
      double e = h.error(h.solve(Solver::CG, steps, precondition), exact);
      errs.push_back(e);
      CHECK(e < prev);
      prev = e;
    }
    CHECK(errs.back() < 1e-3 * errs.front());
    CHECK(errs.back() < 1e-3);
  }
}

TEST_CASE(preconditioner_is_the_inverse_of_the_shared_part) {
  // M = base + lambda I (+ (lambda_b - lambda) on the bias coordinate): P M = I.
  for (bool aug : {false, true}) {
    const size_t k = 9, d = aug ? k + 1 : k, ld = padded(d);
    const double lambda = 0.3, lambda_b = 2.5;
    std::vector<float> F = random_factors(40, d, 17), base(ld * ld, 0.0f);
    for (size_t r = 0; r < d; ++r)
      for (size_t c = 0; c < d; ++c)
        for (size_t i = 0; i < 40; ++i) base[r * ld + c] += 0.7f * F[i * d + r] * F[i * d + c];
    std::vector<float> P = cg_preconditioner(base.data(), k, aug, lambda, lambda_b);
    CHECK(P.size() == ld * ld);
    for (size_t r = 0; r < ld; ++r)
      for (size_t c = 0; c < ld; ++c) {
        if (r >= d || c >= d) {
          CHECK(P[r * ld + c] == 0.0f);  // padding stays zero, so z's padding does
          continue;
        }
        double pm = 0.0;  // (P M)[r][c]
        for (size_t j = 0; j < d; ++j) {
          double m = base[j * ld + c] + (j == c ? (aug && j == k ? lambda_b : lambda) : 0.0);
          pm += static_cast<double>(P[r * ld + j]) * m;
        }
        CHECK_NEAR(pm, r == c ? 1.0 : 0.0, 1e-5);
        CHECK(P[r * ld + c] == P[c * ld + r]);
      }
  }
  // Not positive definite (lambda 0, a rank-deficient base): no preconditioner.
  std::vector<float> zero(padded(4) * padded(4), 0.0f);
  CHECK(cg_preconditioner(zero.data(), 4, false, 0.0, 0.0).empty());
}

TEST_CASE(preconditioned_cg_beats_plain_cg_on_a_skewed_gram) {
  // Item factors whose columns span 27x in scale (as trained factors do: a
  // few strong directions): plain CG crawls along the weak ones, CG
  // preconditioned by (w0 YᵀY + lambda I)⁻¹ does not.
  Config cfg;
  cfg.factors = 24;
  cfg.alpha = 2.0f;
  cfg.regularization = 0.05f;
  std::vector<float> Y = random_factors(80, cfg.factors, 31);
  for (size_t i = 0; i < 80; ++i)
    for (size_t c = 0; c < cfg.factors; ++c) Y[i * cfg.factors + c] *= std::pow(3.0f, static_cast<float>(c) / 8.0f);
  HalfSolve h(make_data(50, 80, 0.15, 13), cfg, Y);
  const std::vector<float> exact = h.solve(Solver::Cholesky, 1, false);
  const double plain2 = h.error(h.solve(Solver::CG, 2, false), exact);
  const double plain3 = h.error(h.solve(Solver::CG, 3, false), exact);
  const double pre2 = h.error(h.solve(Solver::CG, 2, true), exact);
  const double pre3 = h.error(h.solve(Solver::CG, 3, true), exact);
  std::printf("skewed Gram, |X - exact|: plain 2 steps %.3g, 3 steps %.3g; preconditioned 2 steps %.3g, 3 steps %.3g\n",
              plain2, plain3, pre2, pre3);
  CHECK(pre2 < 0.5 * plain3);
  CHECK(pre3 < 0.5 * pre2);
}

TEST_CASE(kernels_agree_with_scalar) {
  const Kernels& K = kernels();
  const size_t n = 37, d = 21, ld = padded(d);
  std::vector<float> Y(n * ld, 0.0f), Z(n * ld, 0.0f), a(n), beta(n), p(ld, 0.0f);
  std::mt19937 rng(1);
  std::uniform_real_distribution<float> u(-1, 1);
  for (size_t j = 0; j < n; ++j) {
    a[j] = u(rng);
    beta[j] = u(rng);
    for (size_t c = 0; c < d; ++c) {
      Y[j * ld + c] = u(rng);
      Z[j * ld + c] = a[j] * Y[j * ld + c];
    }
  }
  for (size_t c = 0; c < d; ++c) p[c] = u(rng);
  std::vector<float> A(ld * ld, 0.0f);
  K.gram_upper(Y.data(), Z.data(), n, ld, d, A.data());
  for (size_t r = 0; r < d; ++r)
    for (size_t c = r; c < d; ++c) {
      double s = 0;
      for (size_t j = 0; j < n; ++j) s += static_cast<double>(Y[j * ld + r]) * Z[j * ld + c];
      CHECK_NEAR(A[r * ld + c], s, 1e-4);
    }
  std::vector<float> out(ld, 0.0f);
  K.weighted_matvec(Y.data(), n, ld, a.data(), -0.5f, beta.data(), p.data(), out.data());
  for (size_t c = 0; c < ld; ++c) {
    double s = 0;
    for (size_t j = 0; j < n; ++j) {
      double dp = 0;
      for (size_t q = 0; q < d; ++q) dp += static_cast<double>(Y[j * ld + q]) * p[q];
      s += (beta[j] - 0.5 * a[j] * dp) * Y[j * ld + c];
    }
    CHECK_NEAR(out[c], s, 1e-4);
  }
  std::vector<float> g = gram(Y.data(), n, ld, 2);  // rows of ld floats, zero tail
  for (size_t r = 0; r < d; ++r) {
    double s = 0;
    for (size_t j = 0; j < n; ++j) s += static_cast<double>(Y[j * ld + r]) * Y[j * ld + 3];
    CHECK_NEAR(g[r * ld + 3], s, 1e-4);
    CHECK_NEAR(g[3 * ld + r], s, 1e-4);
  }
}

TEST_CASE(loss_decreases_with_exact_solver) {
  for (bool implicit : {true, false}) {
    Data data = make_data(60, 40, 0.2, 21, !implicit);
    Config cfg;
    cfg.factors = 8;
    cfg.implicit = implicit;
    cfg.solver = Solver::Cholesky;
    cfg.alpha = 4.0f;
    cfg.regularization = 0.1f;
    Model model = init_model(CsrView::of(data.ui), cfg, 42);
    std::vector<double> losses;
    FitOptions opt;
    opt.iterations = 12;
    opt.threads = 2;
    opt.compute_loss = true;
    opt.progress = [&](size_t, double, double loss) { losses.push_back(loss); };
    fit(CsrView::of(data.ui), CsrView::of(data.iu), cfg, opt, model);
    CHECK(losses.size() == 12);
    for (size_t i = 1; i < losses.size(); ++i) CHECK(losses[i] <= losses[i - 1] * (1 + 1e-6));
    CHECK(losses.back() < losses.front());
    // The loss reported matches the standalone computation.
    CHECK_NEAR(loss(CsrView::of(data.ui), CsrView::of(data.iu), cfg, model, 1), losses.back(), 1e-6 * losses.back());
  }
}

TEST_CASE(same_seed_same_result_any_threads) {
  Data data = make_data(80, 50, 0.15, 3);
  Config cfg;
  cfg.factors = 10;
  FitOptions opt;
  opt.iterations = 4;
  Model a = init_model(CsrView::of(data.ui), cfg, 7), b = init_model(CsrView::of(data.ui), cfg, 7);
  Model c = init_model(CsrView::of(data.ui), cfg, 8);
  CHECK(a.user_factors == b.user_factors);
  CHECK(a.user_factors != c.user_factors);
  opt.threads = 1;
  fit(CsrView::of(data.ui), CsrView::of(data.iu), cfg, opt, a);
  opt.threads = 2;
  fit(CsrView::of(data.ui), CsrView::of(data.iu), cfg, opt, b);
  CHECK(a.user_factors == b.user_factors);
  CHECK(a.item_factors == b.item_factors);
}

// Rank items for user u by x_u.y_i, skipping seen ones.
std::vector<int32_t> ranking(const Model& m, const CsrMatrix& ui, int32_t u) {
  std::vector<std::pair<float, int32_t>> s;
  const size_t k = m.factors;
  for (size_t i = 0; i < m.items; ++i) {
    bool seen = std::binary_search(ui.indices.begin() + ui.indptr[u], ui.indices.begin() + ui.indptr[u + 1],
                                   static_cast<int32_t>(i));
    if (seen) continue;
    float v = 0;
    for (size_t c = 0; c < k; ++c) v += m.user_factors[u * k + c] * m.item_factors[i * k + c];
    s.push_back({-v, static_cast<int32_t>(i)});
  }
  std::sort(s.begin(), s.end());
  std::vector<int32_t> out;
  for (auto& p : s) out.push_back(p.second);
  return out;
}

TEST_CASE(checkerboard_recommends_withheld_diagonal) {
  // Cell (u, i) is observed when u + i is even, except the diagonal: the
  // only unseen item of u's own parity is item u.
  const int64_t n = 24;
  std::vector<float> dense(n * n, 0.0f);
  for (int64_t u = 0; u < n; ++u)
    for (int64_t i = 0; i < n; ++i)
      if ((u + i) % 2 == 0 && u != i) dense[u * n + i] = 1.0f;
  CsrMatrix ui = csr_of_dense(dense, n, n), iu = csr_transpose(CsrView::of(ui), 1);
  for (size_t factors : {2, 8})
  for (Solver solver : {Solver::CG, Solver::Cholesky}) {
    Config cfg;
    cfg.factors = factors;
    cfg.alpha = 10.0f;
    cfg.regularization = 0.01f;
    cfg.solver = solver;
    Model m = init_model(CsrView::of(ui), cfg, 1);
    FitOptions opt;
    // 8 factors fit this rank-2 pattern in many ways and get there slowly: run to convergence.
    opt.iterations = factors == 2 ? 15 : 200;
    fit(CsrView::of(ui), CsrView::of(iu), cfg, opt, m);
    for (int32_t u = 0; u < n; ++u) CHECK(ranking(m, ui, u).front() == u);
  }
}

TEST_CASE(planted_low_rank_structure_recovered) {
  // 4 user groups x 4 item groups: users see 60% of their group's items; the
  // unseen items of their own group must fill the top of their ranking.
  const int64_t users = 200, items = 120, groups = 4;
  std::mt19937 rng(5);
  std::uniform_real_distribution<double> u01(0, 1);
  std::vector<float> dense(users * items, 0.0f);
  for (int64_t u = 0; u < users; ++u)
    for (int64_t i = 0; i < items; ++i)
      if (u % groups == i % groups && u01(rng) < 0.6) dense[u * items + i] = 1.0f;
  CsrMatrix ui = csr_of_dense(dense, users, items), iu = csr_transpose(CsrView::of(ui), 1);
  Config cfg;
  cfg.factors = 8;
  cfg.alpha = 5.0f;
  cfg.regularization = 0.1f;
  Model m = init_model(CsrView::of(ui), cfg, 3);
  FitOptions opt;
  opt.iterations = 10;
  opt.threads = 2;
  fit(CsrView::of(ui), CsrView::of(iu), cfg, opt, m);
  size_t hits = 0, total = 0;
  for (int32_t u = 0; u < users; ++u) {
    auto r = ranking(m, ui, u);
    size_t unseen_own = 0;
    for (int64_t i = 0; i < items; ++i) unseen_own += (i % groups == u % groups) && dense[u * items + i] == 0.0f;
    for (size_t j = 0; j < std::min<size_t>(unseen_own, 10); ++j, ++total) hits += r[j] % groups == u % groups;
  }
  CHECK(total > 1000);
  CHECK(hits == total);
}

// The factorization every exact solve uses: Uᵀ U = A and a solve against a
// dense elimination, for sizes around the register blocks and the vector
// width; the strict lower triangle (factor_robust's copy of A) is untouched;
// an indefinite matrix is refused.
TEST_CASE(cholesky_kernel_factors_and_solves) {
  const Kernels& K = kernels();
  std::mt19937 rng(5);
  std::uniform_real_distribution<double> u(-1, 1);
  for (size_t d : {1, 2, 3, 4, 5, 7, 8, 9, 16, 17, 63, 64, 65, 128}) {
    std::vector<double> B(d * d), A(d * d, 0.0), b(d);
    for (auto& v : B) v = u(rng);
    for (size_t r = 0; r < d; ++r)
      for (size_t c = 0; c < d; ++c) {
        for (size_t q = 0; q < d; ++q) A[r * d + c] += B[r * d + q] * B[c * d + q];
        if (r == c) A[r * d + c] += 0.1;
      }
    for (auto& v : b) v = u(rng);
    for (size_t lda : {d, system_stride(d), d + 3}) {  // the padding after each row is left alone
      std::vector<double> U(d * lda, -7.0);
      for (size_t r = 0; r < d; ++r) std::copy(A.begin() + r * d, A.begin() + (r + 1) * d, U.begin() + r * lda);
      CHECK(K.cholesky(U.data(), d, lda));
      for (size_t r = 0; r < d; ++r) {
        for (size_t c = d; c < lda; ++c) CHECK(U[r * lda + c] == -7.0);
        for (size_t c = 0; c < d; ++c) {
          if (c < r) {
            CHECK(U[r * lda + c] == A[r * d + c]);
            continue;
          }
          double s = 0;  // (Uᵀ U)[r][c] = sum over q <= r of U[q][r] U[q][c]
          for (size_t q = 0; q <= r; ++q) s += U[q * lda + r] * U[q * lda + c];
          CHECK_NEAR(s, A[r * d + c], 1e-10 * (1 + std::fabs(A[r * d + c])));
        }
      }
      std::vector<double> x = b;
      K.cholesky_solve(U.data(), d, lda, x.data());
      const std::vector<double> ref = gauss(A, b, d);
      for (size_t c = 0; c < d; ++c) CHECK_NEAR(x[c], ref[c], 1e-8 * (1 + std::fabs(ref[c])));
    }
  }
  std::vector<double> indefinite = {1, 2, 2, 1};  // eigenvalues 3 and -1
  CHECK(!K.cholesky(indefinite.data(), 2, 2));
}

// An unregularized fold-in of a one-item history: the normal equations are
// singular (rank 1), the first factorization fails and the ridge retries
// rebuild A from its lower triangle. The answer must still solve them.
TEST_CASE(fold_in_of_a_singular_system_retries_with_a_ridge) {
  const size_t k = 6, n = 5;
  std::vector<float> Y(n * k);
  std::mt19937 rng(9);
  std::uniform_real_distribution<float> u(-1, 1);
  for (auto& v : Y) v = u(rng);
  Config cfg;
  cfg.factors = k;
  cfg.implicit = true;
  cfg.alpha = 2.0f;
  cfg.unobserved_weight = 0.0f;  // no shared term: A = c y yᵀ, rank 1
  cfg.regularization = 0.0f;
  cfg.solver = Solver::Cholesky;
  int32_t col = 3;
  float w = 1.5f;
  int64_t indptr[2] = {0, 1};
  CsrView h{1, static_cast<int64_t>(n), indptr, &col, &w};
  std::vector<float> x(k, 0.0f);
  Side side;
  side.fixed = Y.data();
  side.n_fixed = n;
  side.target = x.data();
  int32_t row = 0;
  solve_rows(h, &row, 1, side, nullptr, cfg, true, 1, nullptr);
  // A x = b with A = c y yᵀ, b = c y (c = 1 + alpha w): y . x = 1.
  double dot = 0, norm = 0;
  for (size_t c = 0; c < k; ++c) {
    CHECK(std::isfinite(x[c]));
    dot += static_cast<double>(x[c]) * Y[col * k + c];
    norm += static_cast<double>(x[c]) * x[c];
  }
  CHECK_NEAR(dot, 1.0, 1e-3);
  CHECK(norm > 0);
}

TEST_CASE(fold_in_reproduces_trained_user) {
  Data data = make_data(100, 70, 0.15, 13);
  Config cfg;
  cfg.factors = 8;
  cfg.alpha = 3.0f;
  cfg.regularization = 0.5f;
  cfg.solver = Solver::Cholesky;
  Model m = init_model(CsrView::of(data.ui), cfg, 2);
  FitOptions opt;
  opt.iterations = 40;
  FitResult res = fit(CsrView::of(data.ui), CsrView::of(data.iu), cfg, opt, m);
  CHECK(res.item_gram.size() == cfg.factors * cfg.factors);
  std::vector<float> X(data.users * cfg.factors, 0.0f);
  Side side;
  side.fixed = m.item_factors.data();
  side.n_fixed = m.items;
  side.target = X.data();
  std::vector<int32_t> rows = {0, 17, 55};
  solve_rows(CsrView::of(data.ui), rows.data(), rows.size(), side, res.item_gram.data(), cfg, true, 1, nullptr);
  for (int32_t u : rows) {
    double norm = 0, diff = 0;
    for (size_t c = 0; c < cfg.factors; ++c) {
      norm += m.user_factors[u * 8 + c] * m.user_factors[u * 8 + c];
      diff += std::pow(m.user_factors[u * 8 + c] - X[u * 8 + c], 2);
    }
    CHECK(norm > 0);
    // The trained x_u was solved against the previous iteration's items; after
    // 40 iterations the items move by well under 1%.
    CHECK(std::sqrt(diff / norm) < 2e-2);
  }
}

TEST_CASE(explain_decomposes_the_folded_in_score) {
  for (bool implicit : {true, false}) {
    Data data = make_data(50, 40, 0.2, 17, !implicit);
    Config cfg;
    cfg.factors = 6;
    cfg.implicit = implicit;
    cfg.alpha = 2.0f;
    cfg.regularization = 0.2f;
    Model m = init_model(CsrView::of(data.ui), cfg, 4);
    FitOptions opt;
    opt.iterations = 5;
    fit(CsrView::of(data.ui), CsrView::of(data.iu), cfg, opt, m);
    // User 3's history as a 1-row matrix, folded in and explained.
    const int32_t u = 3;
    CsrMatrix h;
    h.rows = 1;
    h.cols = data.items;
    h.indptr = {0, data.ui.indptr[u + 1] - data.ui.indptr[u]};
    h.indices.assign(data.ui.indices.begin() + data.ui.indptr[u], data.ui.indices.begin() + data.ui.indptr[u + 1]);
    h.data.assign(data.ui.data.begin() + data.ui.indptr[u], data.ui.data.begin() + data.ui.indptr[u + 1]);
    CHECK(h.indices.size() > 2);
    std::vector<float> x(cfg.factors, 0.0f), xb(1, 0.0f);
    Side side;
    side.fixed = m.item_factors.data();
    side.fixed_bias = implicit ? nullptr : m.item_bias.data();
    side.n_fixed = m.items;
    side.target = x.data();
    side.target_bias = xb.data();
    side.global_mean = m.global_mean;
    int32_t row = 0;
    solve_rows(CsrView::of(h), &row, 1, side, nullptr, cfg, true, 1, nullptr);
    for (int32_t item : {0, 5, 33}) {
      std::vector<float> parts = explain(CsrView::of(h), side, nullptr, cfg, item);
      CHECK(parts.size() == h.indices.size());
      double sum = 0;
      for (float p : parts) sum += p;
      double score = 0;
      for (size_t c = 0; c < cfg.factors; ++c) score += x[c] * m.item_factors[item * cfg.factors + c];
      if (!implicit) score += xb[0];  // mu + b_i are outside the decomposition
      CHECK_NEAR(sum, score, 1e-4 * std::max(1.0, std::fabs(score)));
    }
  }
}

TEST_CASE(invalid_input_is_rejected) {
  Data data = make_data(10, 8, 0.5, 1);
  Config cfg;
  cfg.factors = 0;
  CHECK_THROWS(init_model(CsrView::of(data.ui), cfg, 1));
  cfg.factors = 4;
  cfg.regularization = -1;
  CHECK_THROWS(init_model(CsrView::of(data.ui), cfg, 1));
  cfg.regularization = 0.1f;
  cfg.alpha = std::nanf("");
  CHECK_THROWS(init_model(CsrView::of(data.ui), cfg, 1));
  cfg.alpha = 1;
  Model m = init_model(CsrView::of(data.ui), cfg, 1);
  // Negative confidence weights.
  CsrMatrix bad = data.ui;
  bad.data[0] = -2.0f;
  CsrMatrix bad_t = csr_transpose(CsrView::of(bad), 1);
  FitOptions opt;
  opt.iterations = 1;
  CHECK_THROWS(fit(CsrView::of(bad), CsrView::of(bad_t), cfg, opt, m));
  // Shapes that disagree.
  Config wrong = cfg;
  wrong.factors = 5;
  CHECK_THROWS(fit(CsrView::of(data.ui), CsrView::of(data.iu), wrong, opt, m));
  CHECK_THROWS(fit(CsrView::of(data.iu), CsrView::of(data.ui), cfg, opt, m));
}

TEST_CASE(malformed_matrices_are_rejected_not_read_out_of_bounds) {
  Data data = make_data(10, 8, 0.5, 1);
  Config cfg;
  cfg.factors = 4;
  Model m = init_model(CsrView::of(data.ui), cfg, 1);
  FitOptions opt;
  opt.iterations = 1;
  CsrMatrix column = data.ui;
  column.indices[0] = 1 << 30;  // a column far outside the item factors
  CHECK_THROWS(fit(CsrView::of(column), CsrView::of(data.iu), cfg, opt, m));
  CsrMatrix negative = data.iu;
  negative.indices[0] = -5;
  CHECK_THROWS(fit(CsrView::of(data.ui), CsrView::of(negative), cfg, opt, m));
  CsrMatrix rows = data.ui;
  rows.indptr[2] = rows.indptr[1] - 1;  // a row that ends before it starts
  CHECK_THROWS(fit(CsrView::of(rows), CsrView::of(data.iu), cfg, opt, m));
  std::vector<float> target(m.user_factors);
  Side side;
  side.fixed = m.item_factors.data();
  side.n_fixed = m.items;
  side.target = target.data();
  const int32_t row = 0;
  CHECK_THROWS(solve_rows(CsrView::of(column), &row, 1, side, nullptr, cfg, true, 1, nullptr));
  fit(CsrView::of(data.ui), CsrView::of(data.iu), cfg, opt, m);  // the intact data still fits
}

TEST_CASE(cancellation_stops_training) {
  Data data = make_data(30, 20, 0.3, 1);
  Config cfg;
  cfg.factors = 4;
  Model m = init_model(CsrView::of(data.ui), cfg, 1);
  CancelToken token;
  FitOptions opt;
  opt.iterations = 100;
  opt.cancel = &token;
  size_t seen = 0;
  opt.progress = [&](size_t it, double, double) {
    seen = it;
    if (it == 2) token.cancel();
  };
  bool aborted = false;
  try {
    fit(CsrView::of(data.ui), CsrView::of(data.iu), cfg, opt, m);
  } catch (const Error& e) {
    aborted = e.code() == ErrorCode::Aborted;
  }
  CHECK(aborted);
  CHECK(seen == 2);
}

TEST_CASE(half_copy_scales_by_a_power_of_two_and_rounds_to_nearest) {
  std::vector<float> f = {0.0f, 1e-3f, -2.5f, 123.456f, -7.0e5f, 3.0e-9f, 1.0f / 3.0f};
  std::vector<uint16_t> h(f.size());
  const float scale = half_copy(f.data(), f.size(), h.data(), 1);
  int e = 0;
  CHECK(std::frexp(scale, &e) == 0.5f);  // a power of two
  CHECK(7.0e5f * scale >= 16384.0f && 7.0e5f * scale < 32768.0f);
  for (size_t i = 0; i < f.size(); ++i) {
    const float back = ann::half_to_float(h[i]) / scale;
    CHECK(h[i] == ann::float_to_half(f[i] * scale));  // the SIMD conversion rounds like the portable one
    if (std::fabs(f[i]) * scale >= 6.2e-5f) CHECK_NEAR(back, f[i], std::fabs(f[i]) * 0x1p-11);  // normal halves
  }
  std::vector<float> zeros(5, 0.0f);
  CHECK(half_copy(zeros.data(), zeros.size(), h.data(), 1) == 1.0f);
  f[2] = std::nanf("");
  CHECK(half_copy(f.data(), f.size(), h.data(), 1) == 0.0f);  // no copy: the caller gathers float32
  // Long enough for the vector path and several chunks.
  std::vector<float> big = random_factors(70001, 1, 3);
  std::vector<uint16_t> hb(big.size());
  const float s = half_copy(big.data(), big.size(), hb.data(), 2);
  for (size_t i = 0; i < big.size(); i += 997) CHECK(hb[i] == ann::float_to_half(big[i] * s));
}

// gather_matvec with a bias column over random weights (seeded), `first`
// (>= 0) as the first gathered row: the buffer holds value(col, c) in its
// first k columns, then 1, then zeros, and out equals weighted_matvec over
// that buffer (the same operations in the same order).
template <typename RowValue>
void check_gather_matvec(const FixedRows& fixed, size_t rows, size_t n, size_t ahead, uint32_t seed, int32_t first,
                         RowValue value) {
  const Kernels& K = kernels();
  const size_t k = fixed.k, ld = padded(k + 1);
  std::mt19937 rng(seed);
  std::uniform_real_distribution<float> u(-1, 1);
  std::vector<int32_t> cols(n);
  std::vector<float> a(n), beta(n), p(ld, 0.0f);
  for (size_t j = 0; j < n; ++j) {
    cols[j] = static_cast<int32_t>(rng() % rows);
    a[j] = u(rng);
    beta[j] = u(rng);
  }
  if (first >= 0) cols[0] = first;
  for (size_t c = 0; c <= k; ++c) p[c] = u(rng);
  std::vector<float> buf(n * ld, 7.0f), out(ld, 0.0f), again(ld, 0.0f);
  K.gather_matvec(fixed, cols.data(), n, ld, true, ahead, a.data(), -0.5f, beta.data(), p.data(), out.data(),
                  buf.data());
  for (size_t j = 0; j < n; ++j)
    for (size_t c = 0; c < ld; ++c) {
      const float want = c < k ? value(cols[j], c) : (c == k ? 1.0f : 0.0f);
      CHECK(buf[j * ld + c] == want);
    }
  K.weighted_matvec(buf.data(), n, ld, a.data(), -0.5f, beta.data(), p.data(), again.data());
  for (size_t c = 0; c < ld; ++c) CHECK(out[c] == again[c]);
}

TEST_CASE(gather_matvec_is_gather_then_weighted_matvec) {
  for (bool half : {false, true})
    for (size_t k : {5, 16, 21}) {
      const size_t rows = 50, n = 37;
      std::vector<float> F = random_factors(rows, k, 4);
      std::vector<uint16_t> H(F.size());
      const float scale = half_copy(F.data(), F.size(), H.data(), 1);
      FixedRows fixed;
      fixed.f32 = F.data();
      fixed.k = k;
      if (half) {
        fixed.f16 = H.data();
        fixed.inv_scale = 1.0f / scale;
      }
      check_gather_matvec(fixed, rows, n, 8, 2, -1, [&](int32_t col, size_t c) {
        return half ? ann::half_to_float(H[col * k + c]) / scale : F[col * k + c];
      });
    }
}

namespace {

// Solve every user against Y gathered from its half copy (the path fit takes
// with half_gather) and compare with the dense oracle.
void check_half_gather(const Config& base_cfg, bool ratings) {
  const size_t k = base_cfg.factors;
  Data data = make_data(25, 18, 0.3, 7, ratings);
  std::vector<float> Y = random_factors(data.items, k, 11);
  std::vector<float> ybias = random_factors(data.items, 1, 12);
  std::vector<uint16_t> H(Y.size());
  const float scale = half_copy(Y.data(), Y.size(), H.data(), 1);
  std::vector<float> Yr(Y.size());  // the factors as the half copy holds them
  for (size_t i = 0; i < Y.size(); ++i) Yr[i] = ann::half_to_float(H[i]) / scale;
  const float mean = 3.0f;
  std::vector<int32_t> rows(data.users);
  for (int32_t u = 0; u < data.users; ++u) rows[u] = u;
  std::vector<float> gram_r = gram(Yr.data(), data.items, k, 1);
  for (Solver solver : {Solver::Cholesky, Solver::CG}) {
    Config cfg = base_cfg;
    cfg.solver = solver;
    cfg.cg_steps = 60;
    auto solve = [&](bool half, const float* fixed_gram) {
      std::vector<float> X(data.users * k, 0.0f), xbias(data.users, 0.0f);
      Side side;
      side.fixed = Y.data();
      side.fixed_bias = ybias.data();
      side.n_fixed = data.items;
      side.target = X.data();
      side.target_bias = xbias.data();
      side.global_mean = mean;
      if (half) {
        side.fixed_half = H.data();
        side.fixed_half_scale = scale;
      }
      solve_rows(CsrView::of(data.ui), rows.data(), rows.size(), side, fixed_gram, cfg, false, 2, nullptr);
      X.insert(X.end(), xbias.begin(), xbias.end());
      return X;
    };
    // With the Gram of the rounded factors too, the half path solves exactly
    // the rounded problem: the oracle on Yr, to the float path's tolerance.
    std::vector<float> exact_r = solve(true, cfg.implicit ? gram_r.data() : nullptr);
    // As fit() runs it (float32 Gram): within 5e-3 of the oracle on Y itself.
    std::vector<float> as_fit = solve(true, nullptr);
    std::vector<float> f32 = solve(false, nullptr);
    CHECK(as_fit != f32);  // the half copy was used
    for (int64_t u = 0; u < data.users; ++u) {
      if (data.ui.indptr[u + 1] == data.ui.indptr[u]) continue;
      std::vector<double> ref_r = dense_reference(data.dense, data.items, u, Yr.data(), ybias.data(), mean, cfg);
      std::vector<double> ref = dense_reference(data.dense, data.items, u, Y.data(), ybias.data(), mean, cfg);
      double sr = 1.0, s = 1.0;
      for (double v : ref_r) sr = std::max(sr, std::fabs(v));
      for (double v : ref) s = std::max(s, std::fabs(v));
      CHECK_NEAR(max_abs_diff(exact_r.data() + u * k, ref_r.data(), k) / sr, 0.0, 2e-4);
      CHECK_NEAR(max_abs_diff(as_fit.data() + u * k, ref.data(), k) / s, 0.0, 5e-3);
      if (!cfg.implicit) {
        CHECK_NEAR((exact_r[data.users * k + u] - ref_r[k]) / sr, 0.0, 2e-4);
        CHECK_NEAR((as_fit[data.users * k + u] - ref[k]) / s, 0.0, 5e-3);
      }
    }
  }
}

}  // namespace

TEST_CASE(half_gather_against_dense_reference) {
  Config cfg;
  cfg.factors = 17;  // 16 lanes converted by F16C, one by the portable path
  cfg.alpha = 1.5f;
  cfg.unobserved_weight = 0.5f;
  cfg.regularization = 0.02f;
  check_half_gather(cfg, false);
  Config ex;
  ex.factors = 6;
  ex.implicit = false;
  ex.regularization = 0.3f;
  check_half_gather(ex, true);
}

// 8 iterations from seed 9, the loss after each appended to `losses` (for comparing two fits' paths).
static Model fit_8_with_losses(const Data& data, const Config& cfg, size_t threads, std::vector<double>& losses) {
  Model m = init_model(CsrView::of(data.ui), cfg, 9);
  FitOptions opt;
  opt.iterations = 8;
  opt.threads = threads;
  opt.compute_loss = true;
  opt.progress = [&](size_t, double, double loss) { losses.push_back(loss); };
  fit(CsrView::of(data.ui), CsrView::of(data.iu), cfg, opt, m);
  return m;
}

TEST_CASE(symmetric_eigen_diagonalizes) {
  // A = V diag(w) Vᵀ with V orthogonal; from a dense start and from a nearly
  // diagonal one (the Gram of factors already rotated, as fit() sees it).
  const size_t n = 12;
  std::vector<float> F = random_factors(30, n, 41);
  std::vector<double> A(n * n, 0.0);
  for (size_t i = 0; i < 30; ++i)
    for (size_t r = 0; r < n; ++r)
      for (size_t c = 0; c < n; ++c) A[r * n + c] += static_cast<double>(F[i * n + r]) * F[i * n + c];
  std::vector<double> near(n * n);
  for (size_t r = 0; r < n; ++r)
    for (size_t c = 0; c < n; ++c) near[r * n + c] = r == c ? 1.0 + r : 1e-6 * A[r * n + c];
  for (const std::vector<double>& input : {A, near}) {
    std::vector<double> a = input, v;
    symmetric_eigen(a, n, v);
    for (size_t r = 0; r < n; ++r)
      for (size_t c = 0; c < n; ++c) {
        double vtv = 0.0, back = 0.0;
        for (size_t j = 0; j < n; ++j) {
          vtv += v[j * n + r] * v[j * n + c];
          back += v[r * n + j] * a[j * n + j] * v[c * n + j];
        }
        CHECK_NEAR(vtv, r == c ? 1.0 : 0.0, 1e-12);
        CHECK_NEAR(back, input[r * n + c], 1e-12 * (1.0 + std::fabs(input[r * n + c])));
        if (r != c) CHECK_NEAR(a[r * n + c], 0.0, 1e-12);
      }
  }
}

TEST_CASE(eigenbasis_fit_matches_the_plain_basis) {
  // Solving each users half in the eigenbasis of YᵀY is the same preconditioned
  // CG in rotated coordinates: the same losses and scores up to rounding, with
  // and without an item bias (whose users half also rotates -w0 Yᵀb). Float32
  // gather: a float16 copy rounds each basis differently (5e-6 apart here).
  // 600 users >= 32 k: fit() takes the eigenbasis (checked: the factors differ).
  Data data = make_data(600, 200, 0.08, 43);
  for (bool item_bias : {false, true}) {
    Config cfg;
    cfg.factors = 16;
    cfg.alpha = 4.0f;
    cfg.regularization = 0.05f;
    cfg.item_bias = item_bias;
    cfg.gather = Gather::Float32;
    Config plain = cfg;
    plain.eigenbasis = false;
    std::vector<double> le, lp, le1;
    Model e = fit_8_with_losses(data, cfg, 2, le), p = fit_8_with_losses(data, plain, 2, lp);
    Model e1 = fit_8_with_losses(data, cfg, 1, le1);
    CHECK(e.user_factors == e1.user_factors);  // deterministic for any thread count
    CHECK(e.item_factors != p.item_factors);   // the factors were rotated
    for (size_t i = 0; i < lp.size(); ++i) CHECK_NEAR(le[i], lp[i], 1e-6 * lp[i]);  // measured <= 8e-8
    CHECK(relative_error(score_matrix(e), score_matrix(p)) < 1e-4);
    if (item_bias) CHECK(relative_error(e.item_bias, p.item_bias) < 1e-3);
  }
}

TEST_CASE(half_gather_fit_tracks_float_fit) {
  Data data = make_data(300, 200, 0.08, 31);
  Config cfg;
  cfg.factors = 16;
  cfg.alpha = 4.0f;
  cfg.regularization = 0.05f;
  auto run = [&](bool half, size_t threads, std::vector<double>& losses) {
    Config c = cfg;
    c.gather = half ? Gather::Float16 : Gather::Float32;
    return fit_8_with_losses(data, c, threads, losses);
  };
  std::vector<double> lf, lh, lh1;
  Model f = run(false, 2, lf), h = run(true, 2, lh), h1 = run(true, 1, lh1);
  CHECK(h.user_factors == h1.user_factors);  // deterministic for any thread count
  CHECK(h.item_factors != f.item_factors);
  for (size_t i = 0; i < lf.size(); ++i) CHECK_NEAR(lh[i], lf[i], 1e-4 * lf[i]);
  CHECK(relative_error(score_matrix(h), score_matrix(f)) < 2e-3);
}

// weighted_matvec for every row length it special-cases (ld 16..64: out kept
// in registers, 32-row blocks) and the general loop (ld 80), with and without
// weights, beta and p, against double sums; rows split into consecutive calls
// of 16 (as gather_matvec and the segmented CG passes do) give the same bits
// as one call; weighted_sq over several blocks against double sums.
TEST_CASE(weighted_matvec_and_sq_agree_with_scalar_for_every_row_length) {
  const Kernels& K = kernels();
  std::mt19937 rng(9);
  std::uniform_real_distribution<float> u(-1, 1);
  for (size_t d : {16, 29, 48, 64, 70})
    for (size_t n : {0, 5, 8, 37, 70}) {
      const size_t ld = padded(d);
      std::vector<float> Y(n * ld, 0.0f), a(n), beta(n), p(ld, 0.0f), base(ld);
      for (size_t j = 0; j < n; ++j) {
        a[j] = u(rng);
        beta[j] = u(rng);
        for (size_t c = 0; c < d; ++c) Y[j * ld + c] = u(rng);
      }
      for (size_t c = 0; c < d; ++c) p[c] = u(rng);
      for (size_t c = 0; c < ld; ++c) base[c] = c < d ? u(rng) : 0.0f;  // out is added to, not overwritten
      for (int form = 0; form < 4; ++form) {
        const float* aw = form == 1 ? nullptr : a.data();
        const float* bw = form == 0 || form == 3 ? beta.data() : nullptr;
        const float* pw = form == 3 ? nullptr : p.data();
        const float scale = form == 0 ? -0.5f : 1.0f;
        std::vector<float> out(base), chunked(base);
        K.weighted_matvec(Y.data(), n, ld, aw, scale, bw, pw, out.data());
        for (size_t j0 = 0; j0 < n; j0 += 16) {
          const size_t nb = std::min<size_t>(16, n - j0);
          K.weighted_matvec(Y.data() + j0 * ld, nb, ld, aw ? aw + j0 : nullptr, scale, bw ? bw + j0 : nullptr, pw,
                            chunked.data());
        }
        for (size_t c = 0; c < ld; ++c) {
          const double want = weighted_matvec_ref(Y, n, ld, d, aw, scale, bw, pw, base[c], c);
          CHECK_NEAR(out[c], want, 1e-4 * (1 + std::fabs(want)));
          CHECK(chunked[c] == out[c]);
        }
      }
      const double want = weighted_sq_ref(Y, n, ld, d, a.data(), p.data());
      CHECK_NEAR(K.weighted_sq(Y.data(), n, ld, a.data(), p.data()), want, 1e-4 * (1 + std::fabs(want)));
    }
}

TEST_CASE(curvature_and_stream_kernels_agree_with_scalar) {
  const Kernels& K = kernels();
  std::mt19937 rng(5);
  std::uniform_real_distribution<float> u(-1, 1);
  for (size_t d : {13, 32, 64, 70}) {  // 70: ld 80 takes the kernel's generic loop
    const size_t ld = padded(d), n = 29, rows = 11;
    std::vector<float> Y(n * ld, 0.0f), a(n), beta(n), x(ld, 0.0f), P(rows * ld, 0.0f), out(rows * ld, 0.0f);
    std::vector<int32_t> items(n);
    for (size_t j = 0; j < n; ++j) {
      a[j] = u(rng);
      beta[j] = u(rng);
      items[j] = static_cast<int32_t>(j * rows / n);  // increasing, with repeats
      for (size_t c = 0; c < d; ++c) Y[j * ld + c] = u(rng);
    }
    for (size_t c = 0; c < d; ++c) x[c] = u(rng);
    for (size_t i = 0; i < rows; ++i)
      for (size_t c = 0; c < d; ++c) P[i * ld + c] = u(rng);
    // weighted_sq: sum_j a_j <Y_j, p>^2, with p = x.
    double want = 0;
    for (size_t j = 0; j < n; ++j) {
      double dp = 0;
      for (size_t c = 0; c < d; ++c) dp += static_cast<double>(Y[j * ld + c]) * x[c];
      want += a[j] * dp * dp;
    }
    CHECK_NEAR(K.weighted_sq(Y.data(), n, ld, a.data(), x.data()), want, 1e-4 * (1 + std::fabs(want)));
    // stream_update, both forms.
    std::vector<double> ref_out(rows * ld, 0.0), ref_curv(rows, 0.0);
    for (size_t j = 0; j < n; ++j) {
      const size_t i = static_cast<size_t>(items[j]);
      double dp = 0;
      for (size_t c = 0; c < d; ++c) dp += static_cast<double>(x[c]) * P[i * ld + c];
      const double t = beta[j] - 0.5 * a[j] * dp;
      for (size_t c = 0; c < ld; ++c) ref_out[i * ld + c] += t * x[c];
      ref_curv[i] += a[j] * dp * dp;
    }
    std::vector<double> curv(rows, 0.0);
    K.stream_update(x.data(), ld, items.data(), n, a.data(), -0.5f, beta.data(), P.data(), out.data(), nullptr);
    K.stream_update(x.data(), ld, items.data(), n, a.data(), 1.0f, nullptr, P.data(), nullptr, curv.data());
    for (size_t i = 0; i < rows; ++i) {
      CHECK_NEAR(curv[i], ref_curv[i], 1e-4 * (1 + std::fabs(ref_curv[i])));
      for (size_t c = 0; c < ld; ++c) CHECK_NEAR(out[i * ld + c], ref_out[i * ld + c], 1e-4);
    }
  }
}

TEST_CASE(hot_items_are_the_most_frequent_above_the_threshold) {
  Data data = make_data(200, 40, 0.3, 17);
  Config cfg;
  cfg.factors = 8;
  std::vector<int64_t> count(data.items);
  for (int64_t i = 0; i < data.items; ++i) count[i] = data.iu.indptr[i + 1] - data.iu.indptr[i];
  cfg.stream_min_count = 60;
  cfg.stream_max_items = 5;
  std::vector<int32_t> hot = hot_items(CsrView::of(data.iu), cfg);
  CHECK(hot.size() == 5);
  std::vector<int64_t> sorted = count;
  std::sort(sorted.rbegin(), sorted.rend());
  for (size_t j = 0; j < hot.size(); ++j) {
    CHECK(count[hot[j]] == sorted[j]);  // most frequent first
    CHECK(count[hot[j]] >= 60);
  }
  cfg.stream_max_items = 1000;
  hot = hot_items(CsrView::of(data.iu), cfg);
  size_t above = 0;
  for (int64_t c : count) above += c >= 60;
  CHECK(hot.size() == above);
  CHECK(above > 0 && above < static_cast<size_t>(data.items));
  // Automatic: at 64 factors only rows of >= 1,024 users qualify (none here).
  Config autocfg;
  autocfg.factors = 64;
  CHECK(hot_items(CsrView::of(data.iu), autocfg).empty());
}

TEST_CASE(streamed_items_against_dense_reference) {
  // The items half solved by streaming the user rows, against the oracle on
  // the transposed problem (items as rows, the user factors fixed).
  for (bool frequency : {false, true}) {
    Data data = make_data(30, 12, 0.4, 23);
    Config cfg;
    cfg.factors = 9;
    cfg.alpha = 2.0f;
    cfg.unobserved_weight = 0.7f;
    cfg.regularization = 0.03f;
    if (frequency) {
      cfg.reg_scaling = RegScaling::Frequency;
      cfg.nu = 0.5f;
    }
    cfg.cg_steps = 40;
    const size_t k = cfg.factors, ld = padded(k);
    std::vector<float> X = random_factors(data.users, k, 3), Y = random_factors(data.items, k, 4);
    std::vector<float> g = gram(X.data(), data.users, k, 1), base(ld * ld, 0.0f);
    for (size_t r = 0; r < k; ++r)
      for (size_t c = 0; c < k; ++c) base[r * ld + c] = cfg.unobserved_weight * g[r * k + c];
    std::vector<float> dense_t(data.items * data.users), lambda(data.items);
    std::vector<int32_t> all;
    for (int64_t i = 0; i < data.items; ++i) {
      const int64_t n = data.iu.indptr[i + 1] - data.iu.indptr[i];
      lambda[i] = frequency ? cfg.regularization * std::pow(n + cfg.unobserved_weight * data.users, cfg.nu)
                            : cfg.regularization;
      if (n > 0) all.push_back(static_cast<int32_t>(i));
      for (int64_t u = 0; u < data.users; ++u) dense_t[i * data.users + u] = data.dense[u * data.items + i];
    }
    // Plain, then preconditioned with M from the median lambda (exact only when unscaled).
    std::vector<float> sorted = lambda;
    std::nth_element(sorted.begin(), sorted.begin() + sorted.size() / 2, sorted.end());
    const std::vector<float> P = cg_preconditioner(base.data(), k, false, sorted[sorted.size() / 2], 0.0);
    CHECK(!P.empty());
    for (size_t threads : {1, 2, 3}) {
      const float* precond = threads == 2 ? P.data() : nullptr;
      std::vector<float> Ys = Y;
      StreamedItems streamed(CsrView::of(data.ui), all, k, threads);
      CHECK(streamed.size() == all.size());
      streamed.solve(X.data(), Ys.data(), base.data(), lambda.data(), cfg, nullptr, precond);
      for (int32_t i : all) {
        std::vector<double> ref = dense_reference(dense_t, data.users, i, X.data(), nullptr, 0.0f, cfg);
        double scale = 1.0;
        for (double v : ref) scale = std::max(scale, std::fabs(v));
        CHECK_NEAR(max_abs_diff(Ys.data() + i * k, ref.data(), k) / scale, 0.0, 2e-4);
      }
    }
  }
}

TEST_CASE(streamed_fit_tracks_per_row_fit) {
  Data data = make_data(300, 200, 0.08, 37);
  Config cfg;
  cfg.factors = 16;
  cfg.alpha = 4.0f;
  cfg.regularization = 0.05f;
  cfg.gather = Gather::Float16;
  cfg.stream_min_count = 25;  // about a third of the items (of ~24 users on average)
  cfg.stream_max_items = 60;
  CHECK(!hot_items(CsrView::of(data.iu), cfg).empty());
  auto run = [&](bool stream, size_t threads, std::vector<double>& losses) {
    Config c = cfg;
    c.stream_items = stream;
    return fit_8_with_losses(data, c, threads, losses);
  };
  std::vector<double> lr, ls, ls1, ls3;
  Model r = run(false, 2, lr), s = run(true, 2, ls), s1 = run(true, 1, ls1), s3 = run(true, 3, ls3);
  CHECK(s.item_factors == s1.item_factors);  // deterministic for any thread count
  CHECK(s.item_factors == s3.item_factors);
  CHECK(s.user_factors == s1.user_factors);
  CHECK(s.item_factors != r.item_factors);  // the streamed path was taken
  for (size_t i = 0; i < lr.size(); ++i) CHECK_NEAR(ls[i], lr[i], 1e-5 * lr[i]);
  CHECK(relative_error(score_matrix(s), score_matrix(r)) < 1e-3);
}

// int8_copy against a scalar reference: scale = max |row| / 127, values rounded
// to nearest even, |error| <= scale / 2; zero rows get scale 0; a non-finite
// value refuses the copy. Then gather_matvec from the int8 rows: each gathered
// value is exactly q * scale (float), and the matvec is bit for bit the one over
// the gathered buffer (k = 64: the AVX2 path's 8-wide loop; 5 and 21: its tail).
TEST_CASE(int8_copy_and_gather_agree_with_scalar) {
  for (size_t k : {5, 21, 64}) {
    const size_t rows = 9001, n = 77;
    std::vector<float> F = random_factors(rows, k, 5);
    for (size_t c = 0; c < k; ++c) F[3 * k + c] = 0.0f;  // a zero row
    std::vector<int8_t> Q(F.size());
    std::vector<float> S(rows);
    CHECK(int8_copy(F.data(), rows, k, Q.data(), S.data(), 2));
    for (size_t r = 0; r < rows; ++r) {
      float m = 0.0f;
      for (size_t c = 0; c < k; ++c) m = std::max(m, std::fabs(F[r * k + c]));
      CHECK(S[r] == m / 127.0f);
      for (size_t c = 0; c < k; ++c) {
        const float want = m > 0.0f ? std::nearbyint(F[r * k + c] * (127.0f / m)) : 0.0f;
        CHECK(Q[r * k + c] == static_cast<int8_t>(want));
        CHECK(std::fabs(Q[r * k + c] * S[r] - F[r * k + c]) <= 0.5f * S[r] * (1.0f + 1e-5f));
      }
    }
    CHECK(S[3] == 0.0f);
    FixedRows fixed;
    fixed.f32 = F.data();
    fixed.k = k;
    fixed.i8 = Q.data();
    fixed.row_scale = S.data();
    check_gather_matvec(fixed, rows, n, 32, 6, 3,
                        [&](int32_t col, size_t c) { return S[col] * static_cast<float>(Q[col * k + c]); });
    F[rows * k / 2] = std::nanf("");
    CHECK(!int8_copy(F.data(), rows, k, Q.data(), S.data(), 1));  // the caller gathers float32 instead
  }
}

// A fit gathering from the int8 copy follows the float32-gather fit: loss
// within 2e-4 relative after every iteration (the float16 copy's test uses 1e-4),
// factors within 2% (relative Frobenius), the same bits for 1 and 2 threads;
// Cholesky ignores it (exact).
TEST_CASE(int8_gather_fit_tracks_float_fit) {
  Data data = make_data(300, 200, 0.08, 31);
  Config cfg;
  cfg.factors = 16;
  cfg.alpha = 4.0f;
  cfg.regularization = 0.05f;
  auto run = [&](Gather gather, size_t threads, std::vector<double>& losses, Solver solver = Solver::CG) {
    Config c = cfg;
    c.gather = gather;
    c.solver = solver;
    return fit_8_with_losses(data, c, threads, losses);
  };
  std::vector<double> lf, lq, lq1, lh, lc, lc8;
  Model f = run(Gather::Float32, 2, lf), q = run(Gather::Int8, 2, lq), q1 = run(Gather::Int8, 1, lq1),
        h = run(Gather::Float16, 2, lh);
  CHECK(q.user_factors == q1.user_factors);
  CHECK(q.item_factors != f.item_factors);
  CHECK(q.item_factors != h.item_factors);
  for (size_t i = 0; i < lf.size(); ++i) CHECK_NEAR(lq[i], lf[i], 2e-4 * lf[i]);
  CHECK(relative_error(score_matrix(q), score_matrix(f)) < 2e-2);
  Model c = run(Gather::Float32, 2, lc, Solver::Cholesky), c8 = run(Gather::Int8, 2, lc8, Solver::Cholesky);
  CHECK(c.user_factors == c8.user_factors);
}

// Gathered rows kept as halves (Config::half_buffer): weighted_matvec_h and
// weighted_sq_h over half rows give the same bits as weighted_matvec and
// weighted_sq over the same rows widened (values times a power of two), for
// every row length the kernels special-case (ld 16..64) and the general loop
// (ld 80), every form (weights, beta, p present or not), consecutive 16-row
// calls equal to one call; both against double sums; gather_matvec_h copies
// the rows' halves as they are and updates out as gather_matvec from the same
// half copy does.
TEST_CASE(half_row_kernels_match_widened_rows_bit_for_bit) {
  const Kernels& K = kernels();
  std::mt19937 rng(12);
  std::uniform_real_distribution<float> u(-1, 1);
  for (size_t d : {13, 32, 48, 64, 70})
    for (size_t n : {0, 5, 8, 37, 70}) {
      const size_t ld = padded(d), rows = 90;
      std::vector<float> F(rows * d);
      for (float& v : F) v = 0.3f * u(rng);
      std::vector<uint16_t> half(F.size());
      const float scale = half_copy(F.data(), F.size(), half.data(), 1);
      const float inv = 1.0f / scale;
      std::vector<int32_t> cols(n);
      std::vector<float> a(n), beta(n), p(ld, 0.0f), base(ld, 0.0f);
      for (size_t j = 0; j < n; ++j) {
        cols[j] = static_cast<int32_t>(rng() % rows);
        a[j] = u(rng);
        beta[j] = u(rng);
      }
      for (size_t c = 0; c < d; ++c) {
        p[c] = u(rng);
        base[c] = u(rng);
      }
      // The gathered rows both ways: halves as stored (H) and widened (Y).
      std::vector<uint16_t> H(n * ld, 0);
      std::vector<float> Y(n * ld, 0.0f);
      for (size_t j = 0; j < n; ++j)
        for (size_t c = 0; c < d; ++c) {
          H[j * ld + c] = half[cols[j] * d + c];
          Y[j * ld + c] = ann::half_to_float(H[j * ld + c]) * inv;
        }
      for (int form = 0; form < 4; ++form) {
        const float* aw = form == 1 ? nullptr : a.data();
        const float* bw = form == 0 || form == 3 ? beta.data() : nullptr;
        const float* pw = form == 3 ? nullptr : p.data();
        const float sc = form == 0 ? -0.5f : 1.0f;
        std::vector<float> widened(base), halves(base), chunked(base);
        K.weighted_matvec(Y.data(), n, ld, aw, sc, bw, pw, widened.data());
        K.weighted_matvec_h(H.data(), n, ld, inv, aw, sc, bw, pw, halves.data());
        for (size_t j0 = 0; j0 < n; j0 += 16) {
          const size_t nb = std::min<size_t>(16, n - j0);
          K.weighted_matvec_h(H.data() + j0 * ld, nb, ld, inv, aw ? aw + j0 : nullptr, sc, bw ? bw + j0 : nullptr, pw,
                              chunked.data());
        }
        for (size_t c = 0; c < ld; ++c) {
          const double want = weighted_matvec_ref(Y, n, ld, d, aw, sc, bw, pw, base[c], c);
          CHECK_NEAR(halves[c], want, 1e-4 * (1 + std::fabs(want)));
          CHECK(halves[c] == widened[c]);
          CHECK(chunked[c] == halves[c]);
        }
      }
      const double want = weighted_sq_ref(Y, n, ld, d, a.data(), p.data());
      const double sq = K.weighted_sq_h(H.data(), n, ld, inv, a.data(), p.data());
      CHECK_NEAR(sq, want, 1e-4 * (1 + std::fabs(want)));
      CHECK(sq == K.weighted_sq(Y.data(), n, ld, a.data(), p.data()));
      CHECK(K.weighted_sq_h(H.data(), n, ld, inv, nullptr, p.data()) == K.weighted_sq(Y.data(), n, ld, nullptr, p.data()));
      // gather_matvec_h against gather_matvec from the same half copy (no bias column).
      FixedRows fixed;
      fixed.f32 = F.data();
      fixed.f16 = half.data();
      fixed.inv_scale = inv;
      fixed.k = d;
      std::vector<uint16_t> hbuf(n * ld, 0x7777);
      std::vector<float> fbuf(n * ld, 7.0f), out_h(base), out_f(base);
      K.gather_matvec_h(fixed, cols.data(), n, ld, 8, a.data(), -1.0f, beta.data(), p.data(), out_h.data(), hbuf.data());
      K.gather_matvec(fixed, cols.data(), n, ld, false, 8, a.data(), -1.0f, beta.data(), p.data(), out_f.data(),
                      fbuf.data());
      CHECK(hbuf == H);  // the halves as stored, padding zero
      CHECK(fbuf == Y);
      for (size_t c = 0; c < ld; ++c) CHECK(out_h[c] == out_f[c]);
    }
}

// A float16-gather CG fit that keeps the gathered rows as halves gives the same
// bits as one that widens them while gathering, for 1, 2 and 3 threads, with
// and without the streamed items, and with itemBias (its users half keeps halves,
// its items half, whose rows get a bias column, widens).
TEST_CASE(half_buffer_fit_matches_widened_gather_bit_for_bit) {
  Data data = make_data(300, 200, 0.08, 41);
  Config cfg;
  cfg.factors = 24;
  cfg.alpha = 4.0f;
  cfg.regularization = 0.05f;
  cfg.gather = Gather::Float16;
  cfg.stream_min_count = 25;
  cfg.stream_max_items = 60;
  for (int variant = 0; variant < 3; ++variant) {
    auto run = [&](bool half_buffer, size_t threads, std::vector<double>& losses) {
      Config c = cfg;
      c.half_buffer = half_buffer;
      c.stream_items = variant != 1;
      c.item_bias = variant == 2;
      return fit_8_with_losses(data, c, threads, losses);
    };
    std::vector<double> lw, lh, lh1, lh3;
    Model w = run(false, 2, lw), h = run(true, 2, lh), h1 = run(true, 1, lh1), h3 = run(true, 3, lh3);
    CHECK(h.user_factors == w.user_factors);
    CHECK(h.item_factors == w.item_factors);
    CHECK(h.item_bias == w.item_bias);
    CHECK(h1.user_factors == h.user_factors);
    CHECK(h3.item_factors == h.item_factors);
    CHECK(lh == lw);
    for (size_t i = 1; i < lh.size(); ++i) CHECK(lh[i] <= lh[0]);  // it trains
  }
}
