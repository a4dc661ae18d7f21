// Data builders and the dense linear-algebra oracle shared by the ALS tests
// (test_als.cpp, test_als_item_bias.cpp).
#pragma once
#include <cmath>
#include <random>
#include <utility>
#include <vector>

#include "als/als.hpp"
#include "sparse/csr.hpp"

namespace fastrec::als_test {

struct Data {
  int64_t users, items;
  std::vector<float> dense;  // users x items, 0 = unobserved
  CsrMatrix ui, iu;
};

// The nonzero cells of a row-major dense matrix as CSR.
inline CsrMatrix csr_of_dense(const std::vector<float>& dense, int64_t rows, int64_t cols) {
  std::vector<int32_t> r, c;
  std::vector<float> v;
  for (int64_t a = 0; a < rows; ++a)
    for (int64_t b = 0; b < cols; ++b)
      if (dense[a * cols + b] != 0.0f) {
        r.push_back(static_cast<int32_t>(a));
        c.push_back(static_cast<int32_t>(b));
        v.push_back(dense[a * cols + b]);
      }
  return csr_from_coo({r.data(), c.data(), v.data(), r.size(), rows, cols}, 1);
}

inline Data data_of_dense(std::vector<float> dense, int64_t users, int64_t items) {
  Data d{users, items, std::move(dense), {}, {}};
  d.ui = csr_of_dense(d.dense, users, items);
  d.iu = csr_transpose(CsrView::of(d.ui), 1);
  return d;
}

// Each cell observed with probability `density`, with a weight 1..levels
// (drawn right after the cell's own density draw, row-major).
inline Data random_cells(int64_t users, int64_t items, double density, uint32_t seed, int levels = 4) {
  std::mt19937 rng(seed);
  std::uniform_real_distribution<double> u(0, 1);
  std::vector<float> dense(users * items, 0.0f);
  for (auto& w : dense)
    if (u(rng) < density) w = static_cast<float>(1 + std::floor(u(rng) * levels));
  return data_of_dense(std::move(dense), users, items);
}

inline std::vector<float> random_values(size_t n, uint32_t seed, float sd) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> g(0.0f, sd);
  std::vector<float> f(n);
  for (auto& x : f) x = g(rng);
  return f;
}

inline std::vector<float> random_factors(size_t n, size_t k, uint32_t seed) { return random_values(n * k, seed, 0.5f); }

// Gaussian elimination with partial pivoting (the oracle needs no cleverness).
inline std::vector<double> gauss(std::vector<double> A, std::vector<double> b, size_t n) {
  for (size_t c = 0; c < n; ++c) {
    size_t piv = c;
    for (size_t r = c + 1; r < n; ++r)
      if (std::fabs(A[r * n + c]) > std::fabs(A[piv * n + c])) piv = r;
    for (size_t j = 0; j < n; ++j) std::swap(A[c * n + j], A[piv * n + j]);
    std::swap(b[c], b[piv]);
    for (size_t r = c + 1; r < n; ++r) {
      double f = A[r * n + c] / A[c * n + c];
      for (size_t j = c; j < n; ++j) A[r * n + j] -= f * A[c * n + j];
      b[r] -= f * b[c];
    }
  }
  std::vector<double> x(n);
  for (size_t i = n; i-- > 0;) {
    double s = b[i];
    for (size_t j = i + 1; j < n; ++j) s -= A[i * n + j] * x[j];
    x[i] = s / A[i * n + i];
  }
  return x;
}

// Implicit weight of a cell: its confidence if observed, else w0.
inline double cell_weight(const als::Config& cfg, float w) {
  if (w == 0.0f) return cfg.unobserved_weight;
  return cfg.confidence == als::Confidence::Linear ? 1.0 + cfg.alpha * w : cfg.alpha * w;
}

// lambda_u for a row with `count` observations and `others` cells on the other side (als.hpp).
inline double row_lambda_ref(const als::Config& cfg, size_t count, size_t others) {
  switch (cfg.reg_scaling) {
    case als::RegScaling::None: return cfg.regularization;
    case als::RegScaling::Count: return cfg.regularization * static_cast<double>(count);
    case als::RegScaling::Frequency: return cfg.regularization * std::pow(count + cfg.unobserved_weight * others, cfg.nu);
  }
  return cfg.regularization;
}

// |a - ref| / |ref| (Frobenius norms).
inline double relative_error(const std::vector<float>& a, const std::vector<float>& ref) {
  double num = 0, den = 0;
  for (size_t i = 0; i < ref.size(); ++i) {
    num += std::pow(a[i] - ref[i], 2);
    den += std::pow(ref[i], 2);
  }
  return std::sqrt(num / den);
}

// Double-precision reference of the kernels' weighted_matvec: column c of
// base + sum_j t_j Y_j with t_j = beta_j + scale a_j <Y_j, p> over the first d
// columns (a, beta or p null: weight 1, no beta, no dot term).
inline double weighted_matvec_ref(const std::vector<float>& Y, size_t n, size_t ld, size_t d, const float* a,
                                  float scale, const float* beta, const float* p, double base, size_t c) {
  double want = base;
  for (size_t j = 0; j < n; ++j) {
    double t = beta ? beta[j] : 0.0;
    if (p) {
      double dp = 0;
      for (size_t q = 0; q < d; ++q) dp += static_cast<double>(Y[j * ld + q]) * p[q];
      t += scale * (a ? a[j] : 1.0) * dp;
    }
    want += t * Y[j * ld + c];
  }
  return want;
}

// Double-precision reference of weighted_sq: sum_j a_j <Y_j, p>^2.
inline double weighted_sq_ref(const std::vector<float>& Y, size_t n, size_t ld, size_t d, const float* a,
                              const float* p) {
  double want = 0;
  for (size_t j = 0; j < n; ++j) {
    double dp = 0;
    for (size_t c = 0; c < d; ++c) dp += static_cast<double>(Y[j * ld + c]) * p[c];
    want += a[j] * dp * dp;
  }
  return want;
}

}  // namespace fastrec::als_test
