#include "ann/ball_partition.hpp"

#include <algorithm>
#include <cmath>
#include <numeric>
#include <random>

#include "common/simd.hpp"
#include "common/thread_pool.hpp"

namespace fastrec::ann {
namespace {

constexpr size_t kSplitSample = 256;   // items a split's centres are fitted on
constexpr int kLloydSteps = 3;
constexpr size_t kMinLeaf = 16;        // the smallest block refine() makes (one panel)
constexpr double kWide = 1.5;          // blocks wider than this x the median radius are refined

// A node: m consecutive rows (row i at rows + i * dim) and their ids. The
// rows themselves are reordered as nodes split, so every pass over a node
// streams memory instead of gathering rows scattered over the whole matrix.

// Radius of rows[0, m) around their mean.
double radius_of(const float* rows, size_t dim, size_t m) {
  const simd::Kernels& K = simd::kernels();
  std::vector<double> mean(dim, 0.0);
  for (size_t i = 0; i < m; ++i)
    for (size_t j = 0; j < dim; ++j) mean[j] += rows[i * dim + j];
  std::vector<float> c(dim);
  for (size_t j = 0; j < dim; ++j) c[j] = float(mean[j] / double(m));
  float r2 = 0;
  for (size_t i = 0; i < m; ++i) r2 = std::max(r2, K.l2sq(rows + i * dim, c.data(), dim));
  return std::sqrt(double(r2));
}

// Split the node in place into two non-empty parts; returns the size of the first.
size_t split(float* rows, size_t dim, uint32_t* ids, size_t m, std::mt19937_64& rng) {
  const simd::Kernels& K = simd::kernels();
  auto row = [&](size_t i) { return rows + i * dim; };
  std::vector<size_t> sample(std::min(m, kSplitSample));
  if (sample.size() == m) {
    std::iota(sample.begin(), sample.end(), size_t(0));
  } else {
    for (size_t& s : sample) s = rng() % m;
  }
  // Far-apart seeds: the sample point farthest from a random one, then the one farthest from that.
  auto farthest = [&](const float* from) {
    size_t best = sample[0];
    float bd = -1;
    for (size_t s : sample) {
      float dd = K.l2sq(row(s), from, dim);
      if (dd > bd) bd = dd, best = s;
    }
    return best;
  };
  size_t a = farthest(row(sample[rng() % sample.size()]));
  size_t b = farthest(row(a));
  std::vector<float> c0(row(a), row(a) + dim), c1(row(b), row(b) + dim);
  std::vector<double> s0(dim), s1(dim);
  for (int step = 0; step < kLloydSteps; ++step) {
    std::fill(s0.begin(), s0.end(), 0.0);
    std::fill(s1.begin(), s1.end(), 0.0);
    size_t n0 = 0, n1 = 0;
    for (size_t s : sample) {
      const float* x = row(s);
      bool right = K.l2sq(x, c1.data(), dim) < K.l2sq(x, c0.data(), dim);
      std::vector<double>& acc = right ? s1 : s0;
      for (size_t j = 0; j < dim; ++j) acc[j] += x[j];
      ++(right ? n1 : n0);
    }
    if (!n0 || !n1) break;
    for (size_t j = 0; j < dim; ++j) {
      c0[j] = float(s0[j] / double(n0));
      c1[j] = float(s1[j] / double(n1));
    }
  }
  // Nearer to c1 <=> <x, c1 - c0> > (|c1|^2 - |c0|^2) / 2: one dot product per item.
  std::vector<float> w(dim);
  double t = 0;
  for (size_t j = 0; j < dim; ++j) {
    w[j] = c1[j] - c0[j];
    t += 0.5 * (double(c1[j]) * c1[j] - double(c0[j]) * c0[j]);
  }
  const float tf = float(t);
  auto left = [&](size_t i) { return K.dot(row(i), w.data(), dim) <= tf; };
  size_t lo = 0, hi = m;
  for (;;) {
    while (lo < hi && left(lo)) ++lo;
    while (lo < hi && !left(hi - 1)) --hi;
    if (lo + 1 >= hi) break;
    std::swap_ranges(row(lo), row(lo) + dim, row(hi - 1));
    std::swap(ids[lo], ids[hi - 1]);
    ++lo;
    --hi;
  }
  size_t mid = lo;
  if (mid == 0 || mid == m) mid = m / 2;  // no separating direction (duplicates): split anyhow
  return mid;
}

struct Range {
  size_t begin, end;
};

// A block much wider than the typical one (radius > max_radius) is cut further
// (down to kMinLeaf rows): it holds several distinct small clusters, and one
// block over them would have a bound too loose to ever prune.
void refine(float* rows, size_t dim, uint32_t* ids, size_t m, size_t begin, double max_radius, std::mt19937_64& rng,
            std::vector<Range>& leaves) {
  if (m > kMinLeaf && radius_of(rows, dim, m) > max_radius) {
    size_t mid = split(rows, dim, ids, m, rng);
    refine(rows, dim, ids, mid, begin, max_radius, rng, leaves);
    refine(rows + mid * dim, dim, ids + mid, m - mid, begin + mid, max_radius, rng, leaves);
    return;
  }
  leaves.push_back({begin, begin + m});
}

}  // namespace

BallPartition ball_partition(float* rows, size_t n, size_t dim, size_t leaf_size, size_t threads,
                             const CancelToken* cancel, uint64_t seed) {
  leaf_size = std::max<size_t>(leaf_size, 1);
  BallPartition out;
  out.order.resize(n);
  std::iota(out.order.begin(), out.order.end(), 0u);
  std::vector<Range> level, leaves;
  if (n) level.push_back({0, n});
  while (!level.empty()) {
    if (cancel) cancel->throw_if_cancelled();
    std::vector<Range> next(level.size() * 2, Range{0, 0});
    parallel_for(level.size(), 1, threads, [&](size_t i0, size_t i1, size_t) {
      for (size_t i = i0; i < i1; ++i) {
        Range r = level[i];
        if (r.end - r.begin <= leaf_size) continue;
        std::mt19937_64 rng(seed * 0x9E3779B97F4A7C15ull + r.begin * 31 + r.end);
        size_t mid = split(rows + r.begin * dim, dim, out.order.data() + r.begin, r.end - r.begin, rng);
        next[2 * i] = {r.begin, r.begin + mid};
        next[2 * i + 1] = {r.begin + mid, r.end};
      }
    });
    std::vector<Range> children;
    for (size_t i = 0; i < level.size(); ++i) {
      if (level[i].end - level[i].begin <= leaf_size) {
        leaves.push_back(level[i]);
      } else {
        children.push_back(next[2 * i]);
        children.push_back(next[2 * i + 1]);
      }
    }
    level.swap(children);
  }
  // Blocks much wider than the median one span distinct clusters: cut them further.
  std::vector<double> radius(leaves.size());
  parallel_for(leaves.size(), 16, threads, [&](size_t i0, size_t i1, size_t) {
    for (size_t i = i0; i < i1; ++i)
      radius[i] = radius_of(rows + leaves[i].begin * dim, dim, leaves[i].end - leaves[i].begin);
  });
  if (!leaves.empty()) {
    std::vector<double> sorted = radius;
    std::nth_element(sorted.begin(), sorted.begin() + sorted.size() / 2, sorted.end());
    const double max_radius = kWide * sorted[sorted.size() / 2];
    std::vector<std::vector<Range>> refined(leaves.size());
    parallel_for(leaves.size(), 16, threads, [&](size_t i0, size_t i1, size_t) {
      for (size_t i = i0; i < i1; ++i) {
        Range r = leaves[i];
        if (radius[i] <= max_radius) {
          refined[i].push_back(r);
          continue;
        }
        std::mt19937_64 rng(seed * 0x51AFD7ED558CCD1Dull + r.begin);
        refine(rows + r.begin * dim, dim, out.order.data() + r.begin, r.end - r.begin, r.begin, max_radius, rng,
               refined[i]);
      }
    });
    leaves.clear();
    for (auto& v : refined) leaves.insert(leaves.end(), v.begin(), v.end());
  }
  std::sort(leaves.begin(), leaves.end(), [](const Range& a, const Range& b) { return a.begin < b.begin; });
  for (const Range& r : leaves) out.start.push_back(r.begin);
  out.start.push_back(n);
  return out;
}

}  // namespace fastrec::ann
