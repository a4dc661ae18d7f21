// Per-half timing of ALS (k = 64) through solve_rows on the ML-20M-shaped
// data of als-driver.cpp: float32 gather, float16 gather, and float16 with
// the columns folded onto 512 rows (the same arithmetic with a cache-resident
// fixed side), which splits the misses from the compute. Min of 3 rounds.
//   g++ -O2 -std=c++17 -Inative/core bench/tools/als-halves.cpp build/libfastrec_core.a -lpthread -o /tmp/als-halves
//   flock /work/.bench.lock /tmp/als-halves [threads=1]
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <numeric>
#include <vector>
#include "als/als.hpp"
#include "sparse/csr.hpp"
#include "ml20m_shape.hpp"
using namespace fastrec;
int main(int argc, char** argv) {
  size_t threads = argc > 1 ? atoi(argv[1]) : 1;
  const size_t k = 64;
  auto shaped = bench::ml20m_shaped();
  CsrMatrix &ui = shaped.first, &iu = shaped.second;
  const size_t users = size_t(ui.rows), items = size_t(iu.rows);
  als::Config cfg; cfg.factors = k;
  als::Model m = als::init_model(CsrView::of(ui), cfg, 1);
  // one warm iteration so factors are realistic
  als::FitOptions opt; opt.iterations = 1; opt.threads = 2; cfg.gather = als::Gather::Float16;
  als::fit(CsrView::of(ui), CsrView::of(iu), cfg, opt, m);
  auto order = [](const CsrMatrix& x) {
    std::vector<int32_t> o(x.rows); std::iota(o.begin(), o.end(), 0);
    std::stable_sort(o.begin(), o.end(), [&](int32_t a, int32_t b) { return x.indptr[a + 1] - x.indptr[a] > x.indptr[b + 1] - x.indptr[b]; });
    return o;
  };
  auto uo = order(ui), io = order(iu);
  CsrMatrix ui_small = ui, iu_small = iu;  // columns folded into 512: same work, cache-resident table
  for (auto& c : ui_small.indices) c %= 512;
  for (auto& c : iu_small.indices) c %= 512;
  std::vector<uint16_t> hu(m.user_factors.size()), hi(m.item_factors.size());
  float su = als::half_copy(m.user_factors.data(), hu.size(), hu.data(), 2);
  float si = als::half_copy(m.item_factors.data(), hi.size(), hi.data(), 2);
  auto gi = als::gram(m.item_factors.data(), items, k, 2), gu = als::gram(m.user_factors.data(), users, k, 2);
  std::vector<float> X = m.user_factors, Yt = m.item_factors;
  auto time_half = [&](bool item_half, bool small, bool half) {
    als::Side s;
    const CsrMatrix& mat = item_half ? (small ? iu_small : iu) : (small ? ui_small : ui);
    s.fixed = item_half ? m.user_factors.data() : m.item_factors.data();
    s.n_fixed = item_half ? users : items;
    s.target = item_half ? Yt.data() : X.data();
    if (half) { s.fixed_half = item_half ? hu.data() : hi.data(); s.fixed_half_scale = item_half ? su : si; }
    auto& o = item_half ? io : uo;
    double c0 = bench::cpu_seconds(); auto t0 = std::chrono::steady_clock::now();
    als::solve_rows(CsrView::of(mat), o.data(), o.size(), s, item_half ? gu.data() : gi.data(), cfg, false, threads, nullptr);
    return std::make_pair(std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count(), bench::cpu_seconds() - c0);
  };
  const char* names[] = {"users f32", "users f16", "users f16 tiny-table", "items f32", "items f16", "items f16 tiny-table"};
  std::vector<double> best(6, 1e9), bestc(6, 1e9);
  for (int rep = 0; rep < 3; ++rep) {
    int v = 0;
    for (bool item_half : {false, true})
      for (int mode = 0; mode < 3; ++mode, ++v) {
        auto r = time_half(item_half, mode == 2, mode >= 1);
        best[v] = std::min(best[v], r.first); bestc[v] = std::min(bestc[v], r.second);
      }
  }
  for (int v = 0; v < 6; ++v) printf("%-22s wall %.3f  cpu %.3f\n", names[v], best[v], bestc[v]);
}
