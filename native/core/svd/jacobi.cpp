#include "svd/jacobi.hpp"

#include <algorithm>
#include <cmath>
#include <numeric>

namespace fastrec::svd {

void jacobi_eigen(std::vector<double>& a, size_t n, std::vector<double>& values, std::vector<double>& vectors) {
  std::vector<double> v(n * n, 0.0);
  for (size_t i = 0; i < n; ++i) v[i * n + i] = 1.0;
  // Rotations zero a[p][q] (Golub & Van Loan, Algorithm 8.4.2, with the
  // numerically stable choice of t = tan(theta) of smaller magnitude).
  for (int sweep = 0; sweep < 60; ++sweep) {
    double off = 0.0, diag = 0.0;
    for (size_t p = 0; p < n; ++p) {
      diag += a[p * n + p] * a[p * n + p];
      for (size_t q = p + 1; q < n; ++q) off += a[p * n + q] * a[p * n + q];
    }
    if (off <= 1e-30 * diag || off == 0.0) break;
    for (size_t p = 0; p + 1 < n; ++p) {
      for (size_t q = p + 1; q < n; ++q) {
        double apq = a[p * n + q];
        if (apq == 0.0) continue;
        double app = a[p * n + p], aqq = a[q * n + q];
        // Skip elements negligible against both diagonal entries.
        if (std::fabs(apq) < 1e-300 || std::fabs(apq) <= 1e-18 * std::sqrt(std::fabs(app * aqq))) {
          a[p * n + q] = a[q * n + p] = 0.0;
          continue;
        }
        double theta = (aqq - app) / (2.0 * apq);
        double t = (theta >= 0 ? 1.0 : -1.0) / (std::fabs(theta) + std::sqrt(theta * theta + 1.0));
        double c = 1.0 / std::sqrt(t * t + 1.0), s = t * c;
        // A <- J^T A J on rows/columns p and q.
        for (size_t k = 0; k < n; ++k) {
          double akp = a[k * n + p], akq = a[k * n + q];
          a[k * n + p] = c * akp - s * akq;
          a[k * n + q] = s * akp + c * akq;
        }
        for (size_t k = 0; k < n; ++k) {
          double apk = a[p * n + k], aqk = a[q * n + k];
          a[p * n + k] = c * apk - s * aqk;
          a[q * n + k] = s * apk + c * aqk;
        }
        a[p * n + q] = a[q * n + p] = 0.0;
        for (size_t k = 0; k < n; ++k) {
          double vkp = v[k * n + p], vkq = v[k * n + q];
          v[k * n + p] = c * vkp - s * vkq;
          v[k * n + q] = s * vkp + c * vkq;
        }
      }
    }
  }
  std::vector<size_t> order(n);
  std::iota(order.begin(), order.end(), size_t{0});
  std::stable_sort(order.begin(), order.end(), [&](size_t x, size_t y) { return a[x * n + x] > a[y * n + y]; });
  values.assign(n, 0.0);
  vectors.assign(n * n, 0.0);
  for (size_t j = 0; j < n; ++j) {
    values[j] = a[order[j] * n + order[j]];
    for (size_t i = 0; i < n; ++i) vectors[i * n + j] = v[i * n + order[j]];
  }
}

}  // namespace fastrec::svd
