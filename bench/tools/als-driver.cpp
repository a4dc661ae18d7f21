// C++ driver for profiling ALS half-iterations without Node: builds the same
// kind of seeded ML-20M-shaped matrix as bench/als.mjs (power-law users and
// items, shuffled ids; not bit-identical to it) and runs variants
// interleaved (A B A B ...), reporting the min and median seconds (wall and
// CPU) of an iteration, so that variants are compared under the same load.
// Each variant is a fit of two iterations; the second is timed.
//   g++ -O2 -std=c++17 -Inative/core bench/tools/als-driver.cpp build/libfastrec_core.a -lpthread -o /tmp/als-driver
//   VARIANTS="1:1,1:0" /tmp/als-driver [factors=64] [threads=2] [reps=3] [solver=cg|cholesky] [scale=1]
// A variant is half[:stream[:steps[:hot[:pre[:eig]]]]]: Config::gather (0 float32, 1 float16, 2 int8, 3 float16 with
// Config::half_buffer = false; build with -DALS_BOOL_GATHER against libraries before Config::gather: 0 or 1,
// with -DALS_NO_HALF_BUFFER against libraries before half_buffer), Config::stream_items
// (0 or 1), Config::cg_steps (3) and Config::stream_max_items (0: automatic); stream and
// Config::precondition (pre, default 1; build with -DALS_NO_PRECONDITION against libraries before it),
// Config::eigenbasis (eig, default 1; -DALS_NO_EIGENBASIS likewise);
// hot are ignored when built with -DALS_OLD against a library that predates them. LOSS=1 also reports the final loss (and times it: use it apart).
#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include "als/als.hpp"
#include "sparse/csr.hpp"
#include "ml20m_shape.hpp"

using namespace fastrec;

struct Variant {
  unsigned half = 1, stream = 1, steps = 3, hot = 0, pre = 1, eig = 1;
  als::Config cfg;
  als::Model model;
  std::vector<double> cpu, total;
  double loss = 0;
};

int main(int argc, char** argv) {
  size_t k = argc > 1 ? atoi(argv[1]) : 64, threads = argc > 2 ? atoi(argv[2]) : 2, reps = argc > 3 ? atoi(argv[3]) : 3;
  std::string solver = argc > 4 ? argv[4] : "cg";
  double scale = argc > 5 ? atof(argv[5]) : 1.0;
  auto shaped = bench::ml20m_shaped(scale);
  CsrMatrix &ui = shaped.first, &iu = shaped.second;
  printf("users %lld items %lld nnz %lld\n", (long long)ui.rows, (long long)iu.rows, (long long)ui.nnz());

  std::vector<Variant> vs;
  std::string spec = getenv("VARIANTS") ? getenv("VARIANTS") : "1:1";
  for (size_t pos = 0; pos <= spec.size();) {
    size_t comma = spec.find(',', pos);
    if (comma == std::string::npos) comma = spec.size();
    Variant v;
    sscanf(spec.substr(pos, comma - pos).c_str(), "%u:%u:%u:%u:%u:%u", &v.half, &v.stream, &v.steps, &v.hot, &v.pre, &v.eig);
    pos = comma + 1;
    v.cfg.factors = k;
#ifdef ALS_BOOL_GATHER  // built against a library before Config::gather (commit 01d6831 or older)
    v.cfg.half_gather = v.half != 0;
#else
    v.cfg.gather = v.half == 2 ? als::Gather::Int8 : v.half ? als::Gather::Float16 : als::Gather::Float32;
#ifndef ALS_NO_HALF_BUFFER  // built against a library before Config::half_buffer
    v.cfg.half_buffer = v.half != 3;  // 3: float16 widened while gathering (the layout before half buffers)
#endif
#endif
    v.cfg.cg_steps = v.steps;
#ifndef ALS_NO_PRECONDITION
    v.cfg.precondition = v.pre != 0;
#endif
#ifndef ALS_NO_EIGENBASIS
    v.cfg.eigenbasis = v.eig != 0;
#endif
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
      opt.iterations = getenv("ITERS") ? atoi(getenv("ITERS")) : 2;  // ITERS (with LOSS): loss after that many
      opt.threads = threads;
      opt.compute_loss = loss;
      double c0 = 0;
      auto t0 = std::chrono::steady_clock::now();
      opt.progress = [&](size_t it, double seconds, double l) {
        if (it + 1 < opt.iterations) return;
        if (it + 1 == opt.iterations) {
          c0 = bench::cpu_seconds();
          t0 = std::chrono::steady_clock::now();
          return;
        }
        v.total.push_back(std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
        v.cpu.push_back(bench::cpu_seconds() - c0);
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
  printf("half:stream:steps:hot:pre:eig  wall s min/median  CPU s min/median  loss\n");
  for (auto& v : vs) printf("%u:%u:%u:%u:%u:%u  %s  %s  %.9f\n", v.half, v.stream, v.steps, v.hot, v.pre, v.eig, stat(v.total).c_str(), stat(v.cpu).c_str(), v.loss);
  if (getenv("SAMPLES"))  // every timed iteration, wall / CPU, for pooling variants listed more than once
    for (auto& v : vs) {
      printf("samples %u", v.half);
      for (size_t i = 0; i < v.total.size(); ++i) printf(" %.3f/%.3f", v.total[i], v.cpu[i]);
      printf("\n");
    }
}
