// C++ driver for profiling ALS half-iterations without Node: builds the same
// kind of seeded ML-20M-shaped matrix as bench/als.mjs (power-law users and
// items, shuffled ids; not bit-identical to it) and runs variants
// interleaved (A B A B ...), reporting the min and median seconds (wall and
// CPU) of an iteration, so that variants are compared under the same load.
// Each variant is a fit of two iterations; the second is timed.
//   g++ -O2 -std=c++17 -Inative/core bench/tools/als-driver.cpp build/libfastrec_core.a -lpthread -o /tmp/als-driver
//   VARIANTS="1:1,1:0" /tmp/als-driver [factors=64] [threads=2] [reps=3] [solver=cg|cholesky] [scale=1]
// A variant is half[:stream[:steps[:hot]]]: Config::half_gather (0 or 1), Config::stream_items
// (0 or 1), Config::cg_steps (3) and Config::stream_max_items (0: automatic); stream and
// hot are ignored when built with -DALS_OLD against a library that predates them. LOSS=1 also reports the final loss (and times it: use it apart).
#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <numeric>
#include <random>
#include <string>
#include <vector>
#include <sys/resource.h>

#include "als/als.hpp"
#include "sparse/csr.hpp"

using namespace fastrec;

static std::vector<double> cdf_of(size_t n, double shift) {
  std::vector<double> c(n);
  double s = 0;
  for (size_t i = 0; i < n; ++i) c[i] = s += 1.0 / (i + shift);
  for (auto& v : c) v /= s;
  return c;
}

static double cpu_seconds() {
  rusage ru;
  getrusage(RUSAGE_SELF, &ru);
  return ru.ru_utime.tv_sec + ru.ru_stime.tv_sec + 1e-6 * (ru.ru_utime.tv_usec + ru.ru_stime.tv_usec);
}

struct Variant {
  unsigned half = 1, stream = 1, steps = 3, hot = 0;
  als::Config cfg;
  als::Model model;
  std::vector<double> cpu, total;
  double loss = 0;
};

int main(int argc, char** argv) {
  size_t k = argc > 1 ? atoi(argv[1]) : 64, threads = argc > 2 ? atoi(argv[2]) : 2, reps = argc > 3 ? atoi(argv[3]) : 3;
  std::string solver = argc > 4 ? argv[4] : "cg";
  double scale = argc > 5 ? atof(argv[5]) : 1.0;
  const size_t users = size_t(138493 * scale), items = size_t(26744 * scale), draws = size_t(20000000 * scale);
  std::mt19937_64 rng(20);
  std::uniform_real_distribution<double> U(0, 1);
  auto cu = cdf_of(users, 2000), ci = cdf_of(items, 50);
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
  CooInput in{rows.data(), cols.data(), nullptr, draws, (int64_t)users, (int64_t)items, Combine::Max, true};
  CsrMatrix ui = csr_from_coo(in, 2);
  CsrMatrix iu = csr_transpose(CsrView::of(ui), 2);
  printf("users %zu items %zu nnz %lld\n", users, items, (long long)ui.nnz());

  std::vector<Variant> vs;
  std::string spec = getenv("VARIANTS") ? getenv("VARIANTS") : "1:1";
  for (size_t pos = 0; pos <= spec.size();) {
    size_t comma = spec.find(',', pos);
    if (comma == std::string::npos) comma = spec.size();
    Variant v;
    sscanf(spec.substr(pos, comma - pos).c_str(), "%u:%u:%u:%u", &v.half, &v.stream, &v.steps, &v.hot);
    pos = comma + 1;
    v.cfg.factors = k;
    v.cfg.half_gather = v.half != 0;
    v.cfg.cg_steps = v.steps;
#ifndef ALS_OLD  // built against the library before Config::stream_items
    v.cfg.stream_items = v.stream != 0;
    v.cfg.stream_max_items = v.hot;
#endif
    v.cfg.solver = solver == "cg" ? als::Solver::CG : als::Solver::Cholesky;
    v.model = als::init_model(CsrView::of(ui), v.cfg, 1);
    vs.push_back(std::move(v));
  }
  const bool loss = getenv("LOSS") != nullptr;
  for (size_t rep = 0; rep < reps; ++rep) {
    for (auto& v : vs) {
      // Two iterations per fit; the second is timed (buffers kept within a fit are warm by then).
      als::FitOptions opt;
      opt.iterations = 2;
      opt.threads = threads;
      opt.compute_loss = loss;
      double c0 = 0;
      auto t0 = std::chrono::steady_clock::now();
      opt.progress = [&](size_t it, double seconds, double l) {
        if (it == 1) {
          c0 = cpu_seconds();
          t0 = std::chrono::steady_clock::now();
          return;
        }
        v.total.push_back(std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
        v.cpu.push_back(cpu_seconds() - c0);
      };
      auto r = als::fit(CsrView::of(ui), CsrView::of(iu), v.cfg, opt, v.model);
      v.loss = r.loss;
    }
  }
  auto stat = [](std::vector<double> x) {
    std::sort(x.begin(), x.end());
    char b[64];
    snprintf(b, sizeof b, "%.3f/%.3f", x[0], x[x.size() / 2]);
    return std::string(b);
  };
  printf("half:stream:steps:hot  wall s min/median  CPU s min/median  loss\n");
  for (auto& v : vs) printf("%u:%u:%u:%u  %s  %s  %.9f\n", v.half, v.stream, v.steps, v.hot, stat(v.total).c_str(), stat(v.cpu).c_str(), v.loss);
}
