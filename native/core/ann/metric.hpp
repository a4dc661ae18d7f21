// Distances shared by the HNSW graph and the flat (exact) index.
//
// Every metric is turned into "smaller is closer":
//   l2:     squared Euclidean distance
//   ip:     1 - <q, x>            (hnswlib's convention; order = inner-product order)
//   cosine: 1 - <q, x> on vectors normalized when stored and when queried
// With the Euclidean transform for inner product (Bachrach et al. 2014) an item
// x is stored as [x, sqrt(phi^2 - |x|^2)] and a query q as [q, 0], so
// |q' - x'|^2 = |q|^2 + phi^2 - 2<q, x>: L2 order equals inner-product order.
#pragma once
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <string>

#include "common/error.hpp"
#include "common/simd.hpp"

namespace fastrec::ann {

enum class Metric : uint32_t { L2 = 0, InnerProduct = 1, Cosine = 2 };

inline Metric metric_of(const std::string& s) {
  if (s == "l2") return Metric::L2;
  if (s == "ip") return Metric::InnerProduct;
  if (s == "cosine") return Metric::Cosine;
  throw_invalid("metric: expected 'l2', 'ip' or 'cosine' but received '" + s + "'");
}

inline const char* metric_name(Metric m) {
  switch (m) {
    case Metric::L2: return "l2";
    case Metric::InnerProduct: return "ip";
    case Metric::Cosine: return "cosine";
  }
  return "?";
}

using DistanceFn = float (*)(const float*, const float*, size_t);

// Scale v to unit length in place (a zero vector stays zero).
inline void normalize(float* v, size_t n) {
  double s = 0;
  for (size_t i = 0; i < n; ++i) s += double(v[i]) * v[i];
  if (s <= 0) return;
  float inv = float(1.0 / std::sqrt(s));
  for (size_t i = 0; i < n; ++i) v[i] *= inv;
}

}  // namespace fastrec::ann
