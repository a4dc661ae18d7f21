// The seeded ML-20M-shaped matrix of the C++ ALS bench tools (als-driver.cpp,
// als-halves.cpp): power-law users and items (1 / (rank + 2000) and
// 1 / (rank + 50), as bench/als.mjs), shuffled ids; not bit-identical to the
// JS generator. `scale` shrinks every dimension for quick runs.
#pragma once
#include <algorithm>
#include <numeric>
#include <random>
#include <utility>
#include <vector>
#include <sys/resource.h>

#include "sparse/csr.hpp"

namespace bench {

inline double cpu_seconds() {
  rusage ru;
  getrusage(RUSAGE_SELF, &ru);
  return ru.ru_utime.tv_sec + ru.ru_stime.tv_sec + 1e-6 * (ru.ru_utime.tv_usec + ru.ru_stime.tv_usec);
}

// Cumulative distribution of p(rank) ~ 1 / (rank + shift).
inline std::vector<double> power_law_cdf(size_t n, double shift) {
  std::vector<double> c(n);
  double s = 0;
  for (size_t i = 0; i < n; ++i) c[i] = s += 1.0 / (i + shift);
  for (auto& v : c) v /= s;
  return c;
}

// {users x items, items x users}: 20M draws (scaled), duplicates kept once.
inline std::pair<fastrec::CsrMatrix, fastrec::CsrMatrix> ml20m_shaped(double scale = 1.0) {
  const size_t users = size_t(138493 * scale), items = size_t(26744 * scale), draws = size_t(20000000 * scale);
  std::mt19937_64 rng(20);
  std::uniform_real_distribution<double> U(0, 1);
  auto cu = power_law_cdf(users, 2000), ci = power_law_cdf(items, 50);
  std::vector<int32_t> pu(users), pi(items);
  std::iota(pu.begin(), pu.end(), 0);
  std::iota(pi.begin(), pi.end(), 0);
  std::shuffle(pu.begin(), pu.end(), rng);
  std::shuffle(pi.begin(), pi.end(), rng);
  std::vector<int32_t> rows(draws), cols(draws);
  for (size_t n = 0; n < draws; ++n) {
    rows[n] = pu[std::lower_bound(cu.begin(), cu.end(), U(rng)) - cu.begin()];
    cols[n] = pi[std::lower_bound(ci.begin(), ci.end(), U(rng)) - ci.begin()];
  }
  fastrec::CooInput in{rows.data(), cols.data(), nullptr, draws, (int64_t)users, (int64_t)items, fastrec::Combine::Max, true};
  fastrec::CsrMatrix ui = fastrec::csr_from_coo(in, 2);
  fastrec::CsrMatrix iu = fastrec::csr_transpose(fastrec::CsrView::of(ui), 2);
  return {std::move(ui), std::move(iu)};
}

}  // namespace bench
