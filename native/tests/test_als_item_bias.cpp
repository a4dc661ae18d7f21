// Implicit ALS with a learned item bias (Config::item_bias; als.hpp (2), (3)):
// both halves of both solvers against a dense oracle written straight from the
// objective, the loss against a brute-force sum over every cell, monotone
// decrease with the exact solver, a planted popularity offset recovered,
// fold-in and explain, invalid input.
#include <algorithm>
#include <cmath>
#include <random>

#include "als/als.hpp"
#include "sparse/csr.hpp"
#include "als_test_data.hpp"
#include "test.hpp"

using namespace fastrec;
using namespace fastrec::als;
using namespace fastrec::als_test;

namespace {

// min over x of sum_i w_ui (p_ui - b_i - x.y_i)^2 + lambda_u |x|^2, every cell written out.
std::vector<double> user_reference(const Data& d, int64_t u, const float* Y, const float* b, const Config& cfg) {
  const size_t k = cfg.factors;
  std::vector<double> A(k * k, 0.0), rhs(k, 0.0);
  size_t count = 0;
  for (int64_t i = 0; i < d.items; ++i) {
    const float w = d.dense[u * d.items + i];
    count += w != 0.0f;
    const double weight = cell_weight(cfg, w), target = (w != 0.0f ? 1.0 : 0.0) - b[i];
    for (size_t r = 0; r < k; ++r) {
      rhs[r] += weight * target * Y[i * k + r];
      for (size_t c = 0; c < k; ++c) A[r * k + c] += weight * Y[i * k + r] * Y[i * k + c];
    }
  }
  const double lam = row_lambda_ref(cfg, count, static_cast<size_t>(d.items));
  for (size_t r = 0; r < k; ++r) A[r * k + r] += lam;
  return gauss(A, rhs, k);
}

// min over [y, b] of sum_u w_ui (p_ui - x_u.y - b)^2 + lambda_i |y|^2 + lambda_b b^2.
std::vector<double> item_reference(const Data& d, int64_t i, const float* X, const Config& cfg) {
  const size_t k = cfg.factors, n = k + 1;
  std::vector<double> A(n * n, 0.0), rhs(n, 0.0);
  size_t count = 0;
  for (int64_t u = 0; u < d.users; ++u) {
    const float w = d.dense[u * d.items + i];
    count += w != 0.0f;
    const double weight = cell_weight(cfg, w), target = w != 0.0f ? 1.0 : 0.0;
    std::vector<double> x(n, 1.0);
    for (size_t c = 0; c < k; ++c) x[c] = X[u * k + c];
    for (size_t r = 0; r < n; ++r) {
      rhs[r] += weight * target * x[r];
      for (size_t c = 0; c < n; ++c) A[r * n + c] += weight * x[r] * x[c];
    }
  }
  const double lam = row_lambda_ref(cfg, count, static_cast<size_t>(d.users));
  for (size_t r = 0; r < k; ++r) A[r * n + r] += lam;
  A[k * n + k] += cfg.item_bias_regularization;
  return gauss(A, rhs, n);
}

// The objective of als.hpp summed over every cell (no Gram trick), divided by nnz like loss().
double brute_force_loss(const Data& d, const Model& m, const Config& cfg) {
  const size_t k = cfg.factors;
  double total = 0.0;
  std::vector<size_t> user_count(d.users, 0), item_count(d.items, 0);
  for (int64_t u = 0; u < d.users; ++u)
    for (int64_t i = 0; i < d.items; ++i) {
      const float w = d.dense[u * d.items + i];
      double s = m.item_bias[i];
      for (size_t c = 0; c < k; ++c) s += static_cast<double>(m.user_factors[u * k + c]) * m.item_factors[i * k + c];
      const double p = w != 0.0f ? 1.0 : 0.0;
      total += cell_weight(cfg, w) * (p - s) * (p - s);
      user_count[u] += w != 0.0f;
      item_count[i] += w != 0.0f;
    }
  for (int64_t u = 0; u < d.users; ++u) {
    double norm = 0;
    for (size_t c = 0; c < k; ++c) norm += static_cast<double>(m.user_factors[u * k + c]) * m.user_factors[u * k + c];
    total += row_lambda_ref(cfg, user_count[u], static_cast<size_t>(d.items)) * norm;
  }
  for (int64_t i = 0; i < d.items; ++i) {
    double norm = 0;
    for (size_t c = 0; c < k; ++c) norm += static_cast<double>(m.item_factors[i * k + c]) * m.item_factors[i * k + c];
    total += row_lambda_ref(cfg, item_count[i], static_cast<size_t>(d.users)) * norm;
    total += cfg.item_bias_regularization * static_cast<double>(m.item_bias[i]) * m.item_bias[i];
  }
  return total / static_cast<double>(d.ui.nnz());
}

Config biased_config(size_t k) {
  Config cfg;
  cfg.factors = k;
  cfg.item_bias = true;
  cfg.alpha = 2.0f;
  cfg.regularization = 0.3f;
  cfg.item_bias_regularization = 0.7f;
  return cfg;
}

// User u's row as a 1-row matrix (a history to fold in or explain).
CsrMatrix history_of(const Data& d, int32_t u) {
  CsrMatrix h;
  h.rows = 1;
  h.cols = d.items;
  h.indptr = {0, d.ui.indptr[u + 1] - d.ui.indptr[u]};
  h.indices.assign(d.ui.indices.begin() + d.ui.indptr[u], d.ui.indices.begin() + d.ui.indptr[u + 1]);
  h.data.assign(d.ui.data.begin() + d.ui.indptr[u], d.ui.data.begin() + d.ui.indptr[u + 1]);
  return h;
}

std::vector<int32_t> all_rows(int64_t n) {
  std::vector<int32_t> rows(static_cast<size_t>(n));
  for (int64_t r = 0; r < n; ++r) rows[r] = static_cast<int32_t>(r);
  return rows;
}

double rel_diff(const float* a, const double* b, size_t n) {
  double scale = 1.0, m = 0.0;
  for (size_t i = 0; i < n; ++i) scale = std::max(scale, std::fabs(b[i]));
  for (size_t i = 0; i < n; ++i) m = std::max(m, std::fabs(a[i] - b[i]));
  return m / scale;
}

// Both halves of one configuration, both solvers, against the oracles.
void check_halves(Config cfg) {
  const size_t k = cfg.factors;
  Data d = random_cells(23, 19, 0.3, 5);
  const std::vector<float> Y = random_values(d.items * k, 7, 0.5f), b = random_values(d.items, 8, 0.4f);
  const std::vector<float> X0 = random_values(d.users * k, 9, 0.5f);
  for (Solver solver : {Solver::Cholesky, Solver::CG}) {
    cfg.solver = solver;
    cfg.cg_steps = 80;  // CG reaches the exact solution within d steps in exact arithmetic
    // Users half: fixed Y with biases b (fixed_bias), targets x_u.
    std::vector<float> X(d.users * k, 0.0f);
    Side users;
    users.fixed = Y.data();
    users.fixed_bias = b.data();
    users.n_fixed = static_cast<size_t>(d.items);
    users.target = X.data();
    std::vector<int32_t> rows = all_rows(d.users);
    solve_rows(CsrView::of(d.ui), rows.data(), rows.size(), users, nullptr, cfg, false, 2, nullptr);
    for (int64_t u = 0; u < d.users; ++u) {
      if (d.ui.indptr[u + 1] == d.ui.indptr[u]) continue;  // no observations: solved as 0
      std::vector<double> ref = user_reference(d, u, Y.data(), b.data(), cfg);
      CHECK_NEAR(rel_diff(X.data() + u * k, ref.data(), k), 0.0, 2e-4);
    }
    // The same with the Gram matrix of [Y, b] passed in (as fold-in does).
    std::vector<float> X2(d.users * k, 0.0f);
    users.target = X2.data();
    std::vector<float> g = gram_of_fixed(Y.data(), b.data(), static_cast<size_t>(d.items), cfg, 1);
    CHECK(g.size() == (k + 1) * (k + 1));
    solve_rows(CsrView::of(d.ui), rows.data(), rows.size(), users, g.data(), cfg, false, 1, nullptr);
    for (size_t j = 0; j < X.size(); ++j) CHECK_NEAR(X2[j], X[j], 1e-4);
    // Items half: fixed X0 with the constant 1, targets [y_i, b_i].
    std::vector<float> Yt(d.items * k, 0.0f), bt(d.items, 0.0f);
    Side items;
    items.fixed = X0.data();
    items.n_fixed = static_cast<size_t>(d.users);
    items.target = Yt.data();
    items.target_bias = bt.data();
    std::vector<int32_t> irows = all_rows(d.items);
    solve_rows(CsrView::of(d.iu), irows.data(), irows.size(), items, nullptr, cfg, false, 2, nullptr);
    for (int64_t i = 0; i < d.items; ++i) {
      if (d.iu.indptr[i + 1] == d.iu.indptr[i]) continue;
      std::vector<double> ref = item_reference(d, i, X0.data(), cfg);
      std::vector<float> got(Yt.begin() + i * k, Yt.begin() + (i + 1) * k);
      got.push_back(bt[i]);
      CHECK_NEAR(rel_diff(got.data(), ref.data(), k + 1), 0.0, 2e-4);
    }
  }
}

}  // namespace

TEST_CASE(item_bias_dense_reference_linear) { check_halves(biased_config(5)); }

TEST_CASE(item_bias_dense_reference_frequency_scaled_proportional) {
  Config cfg = biased_config(16);  // k + 1 = 17 crosses a 16-float tile
  cfg.confidence = Confidence::Proportional;
  cfg.alpha = 3.0f;
  cfg.unobserved_weight = 0.2f;
  cfg.reg_scaling = RegScaling::Frequency;
  cfg.nu = 0.5f;
  cfg.regularization = 0.05f;
  cfg.item_bias_regularization = 2.0f;
  check_halves(cfg);
}

TEST_CASE(item_bias_loss_matches_brute_force_and_decreases) {
  Data d = random_cells(50, 35, 0.2, 31);
  for (Solver solver : {Solver::Cholesky, Solver::CG}) {
    Config cfg = biased_config(6);
    cfg.solver = solver;
    cfg.unobserved_weight = 0.5f;
    Model m = init_model(CsrView::of(d.ui), cfg, 3);
    CHECK(m.item_bias.size() == static_cast<size_t>(d.items));
    CHECK(m.user_bias.empty());
    std::vector<double> losses;
    FitOptions opt;
    opt.iterations = 12;
    opt.threads = 2;
    opt.compute_loss = true;
    opt.progress = [&](size_t, double, double l) { losses.push_back(l); };
    FitResult r = fit(CsrView::of(d.ui), CsrView::of(d.iu), cfg, opt, m);
    CHECK(losses.size() == 12);
    if (solver == Solver::Cholesky) {
      // Each half minimizes the objective exactly over its block: it cannot increase.
      for (size_t i = 1; i < losses.size(); ++i) CHECK(losses[i] <= losses[i - 1] * (1 + 1e-6));
    }
    CHECK(losses.back() < losses.front());
    const double brute = brute_force_loss(d, m, cfg);
    CHECK_NEAR(losses.back(), brute, 1e-5 * brute);
    CHECK_NEAR(loss(CsrView::of(d.ui), CsrView::of(d.iu), cfg, m, 1), brute, 1e-5 * brute);
    CHECK(r.item_gram.size() == (cfg.factors + 1) * (cfg.factors + 1));
    // The biases are learned, not left at 0.
    double spread = 0;
    for (float v : m.item_bias) spread = std::max(spread, std::fabs(static_cast<double>(v)));
    CHECK(spread > 1e-2);
  }
}

TEST_CASE(item_bias_cg_and_half_gather_track_cholesky) {
  Data d = random_cells(80, 50, 0.15, 41);
  auto fitted_loss = [&](Solver solver, bool half) {
    Config cfg = biased_config(8);
    cfg.solver = solver;
    cfg.cg_steps = 3;
    cfg.gather = half ? Gather::Float16 : Gather::Float32;
    Model m = init_model(CsrView::of(d.ui), cfg, 5);
    FitOptions opt;
    opt.iterations = 15;
    opt.compute_loss = true;
    return fit(CsrView::of(d.ui), CsrView::of(d.iu), cfg, opt, m).loss;
  };
  const double exact = fitted_loss(Solver::Cholesky, false);
  CHECK_NEAR(fitted_loss(Solver::CG, false), exact, 1e-2 * exact);
  CHECK_NEAR(fitted_loss(Solver::CG, true), exact, 1e-2 * exact);
}

TEST_CASE(item_bias_recovers_planted_popularity) {
  // No low-rank structure: every cell is an independent coin, items 0..9 with
  // probability 0.5, the others 0.05. The bias must carry the difference.
  const int64_t users = 300, items = 60;
  std::mt19937 rng(77);
  std::uniform_real_distribution<double> u01(0, 1);
  std::vector<float> dense(users * items, 0.0f);
  for (int64_t u = 0; u < users; ++u)
    for (int64_t i = 0; i < items; ++i)
      if (u01(rng) < (i < 10 ? 0.5 : 0.05)) dense[u * items + i] = 1.0f;
  Data d = data_of_dense(std::move(dense), users, items);
  Config cfg = biased_config(4);
  cfg.solver = Solver::Cholesky;
  cfg.regularization = 20.0f;  // factors held small: popularity must go to b
  Model m = init_model(CsrView::of(d.ui), cfg, 1);
  FitOptions opt;
  opt.iterations = 10;
  fit(CsrView::of(d.ui), CsrView::of(d.iu), cfg, opt, m);
  float min_popular = 1e9f, max_rest = -1e9f;
  for (int64_t i = 0; i < items; ++i) {
    if (i < 10) min_popular = std::min(min_popular, m.item_bias[i]);
    else max_rest = std::max(max_rest, m.item_bias[i]);
  }
  CHECK(min_popular > max_rest + 0.1f);
  // With confidence 1 + 2 w the weighted share of ones is 3p / (3p + 1 - p):
  // 0.75 for p = 0.5, about 0.14 for p = 0.05; the biases sit near these.
  double mean_popular = 0;
  for (int64_t i = 0; i < 10; ++i) mean_popular += m.item_bias[i] / 10.0;
  CHECK(mean_popular > 0.5 && mean_popular < 0.9);
}

TEST_CASE(item_bias_fold_in_and_explain) {
  Data d = random_cells(70, 45, 0.2, 51);
  Config cfg = biased_config(6);
  cfg.solver = Solver::Cholesky;
  cfg.unobserved_weight = 0.4f;
  Model m = init_model(CsrView::of(d.ui), cfg, 6);
  FitOptions opt;
  opt.iterations = 40;
  FitResult res = fit(CsrView::of(d.ui), CsrView::of(d.iu), cfg, opt, m);
  const size_t k = cfg.factors;
  // Fold-in of training users against the final items reproduces their trained factors.
  std::vector<float> X(d.users * k, 0.0f);
  Side side;
  side.fixed = m.item_factors.data();
  side.fixed_bias = m.item_bias.data();
  side.n_fixed = m.items;
  side.target = X.data();
  std::vector<int32_t> rows = {0, 11, 42};
  solve_rows(CsrView::of(d.ui), rows.data(), rows.size(), side, res.item_gram.data(), cfg, true, 1, nullptr);
  for (int32_t u : rows) {
    double norm = 0, diff = 0;
    for (size_t c = 0; c < k; ++c) {
      norm += std::pow(m.user_factors[u * k + c], 2);
      diff += std::pow(m.user_factors[u * k + c] - X[u * k + c], 2);
    }
    CHECK(norm > 0);
    CHECK(std::sqrt(diff / norm) < 2e-2);
  }
  // explain: per-history terms plus the shared term add up to x_u.y_item.
  const int32_t u = 11;
  CsrMatrix h = history_of(d, u);
  CHECK(h.indices.size() > 2);
  for (int32_t item : {1, 20, 44}) {
    std::vector<float> parts = explain(CsrView::of(h), side, res.item_gram.data(), cfg, item);
    CHECK(parts.size() == h.indices.size() + 1);
    double sum = 0;
    for (float p : parts) sum += p;
    double score = 0;
    for (size_t c = 0; c < k; ++c) score += X[u * k + c] * m.item_factors[item * k + c];
    CHECK_NEAR(sum, score, 1e-4 * std::max(1.0, std::fabs(score)));
    CHECK(parts.back() != 0.0f);  // the biases do pull every user
  }
}

TEST_CASE(item_bias_invalid_input) {
  Data d = random_cells(10, 8, 0.5, 1);
  Config cfg = biased_config(4);
  cfg.implicit = false;  // explicit models have their own biases
  CHECK_THROWS(init_model(CsrView::of(d.ui), cfg, 1));
  cfg.implicit = true;
  cfg.item_bias_regularization = -1.0f;
  CHECK_THROWS(init_model(CsrView::of(d.ui), cfg, 1));
  cfg.item_bias_regularization = std::nanf("");
  CHECK_THROWS(init_model(CsrView::of(d.ui), cfg, 1));
  cfg.item_bias_regularization = 0.1f;
  // A model without its bias array (made for item_bias = false).
  Config plain = cfg;
  plain.item_bias = false;
  Model m = init_model(CsrView::of(d.ui), plain, 1);
  FitOptions opt;
  opt.iterations = 1;
  CHECK_THROWS(fit(CsrView::of(d.ui), CsrView::of(d.iu), cfg, opt, m));
  // ... and the other way round.
  Model mb = init_model(CsrView::of(d.ui), cfg, 1);
  CHECK_THROWS(fit(CsrView::of(d.ui), CsrView::of(d.iu), plain, opt, mb));
  // The items half (no fixed_bias) needs somewhere to put b_i.
  std::vector<float> Y(8 * 4, 0.0f);
  Side items;
  items.fixed = mb.user_factors.data();
  items.n_fixed = 10;
  items.target = Y.data();
  int32_t row = 0;
  CHECK_THROWS(solve_rows(CsrView::of(d.iu), &row, 1, items, nullptr, cfg, true, 1, nullptr));
  // explain needs the item biases (the users half); with them it answers.
  CsrMatrix h = history_of(d, 0);
  Side users;
  users.fixed = mb.item_factors.data();
  users.n_fixed = 8;
  CHECK_THROWS(explain(CsrView::of(h), users, nullptr, cfg, 0));
  users.fixed_bias = mb.item_bias.data();
  CHECK(explain(CsrView::of(h), users, nullptr, cfg, 0).size() == h.indices.size() + 1);
}
