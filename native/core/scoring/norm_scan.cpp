#include "scoring/norm_scan.hpp"

#include <numeric>
#include <string>

#include "common/error.hpp"

namespace fastrec {

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
  o.head.assign((o.head_rows + 3) / 4 * 4 * dim, 0.0f);
  for (size_t p = 0; p < o.head_rows; ++p)
    std::copy(item_factors + size_t(o.items[p]) * dim, item_factors + (size_t(o.items[p]) + 1) * dim, o.head.begin() + ptrdiff_t(p * dim));
  return o;
}

bool order_applies(const NormOrder* o, size_t n_items, size_t dim) {
  if (!o || o->items.empty()) return false;
  if (o->items.size() != n_items || o->dim != dim)
    throw_invalid("order: made for " + std::to_string(o->items.size()) + " x " + std::to_string(o->dim) +
                  " factors, not these " + std::to_string(n_items) + " x " + std::to_string(dim));
  return true;
}

double augmented_norm(const float* user, size_t dim, bool with_bias) {
  double sq = with_bias ? 1.0 : 0.0;
  for (size_t j = 0; j < dim; ++j) sq += double(user[j]) * double(user[j]);
  return std::sqrt(sq);
}

}  // namespace fastrec
