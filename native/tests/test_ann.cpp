// HNSW and flat index: recall against a brute-force oracle written here,
// filters, deletes, concurrency, file format robustness.
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <random>
#include <set>
#include <thread>

#include "ann/crc32.hpp"
#include "ann/distance.hpp"
#include "ann/flat.hpp"
#include "ann/hnsw.hpp"
#include "common/error.hpp"
#include "common/simd.hpp"
#include "test.hpp"

using namespace fastrec;
using namespace fastrec::ann;

namespace {

// Gaussian mixture: `clusters` centres in [-1,1]^d, points with sd 0.15 around them.
std::vector<float> clustered(size_t n, size_t d, size_t clusters, uint32_t seed) {
  std::mt19937 rng(seed);
  std::uniform_real_distribution<float> u(-1, 1);
  std::normal_distribution<float> g(0, 0.15f);
  std::vector<float> centres(clusters * d);
  for (float& c : centres) c = u(rng);
  std::vector<float> out(n * d);
  for (size_t i = 0; i < n; ++i) {
    size_t c = rng() % clusters;
    for (size_t j = 0; j < d; ++j) out[i * d + j] = centres[c * d + j] + g(rng);
  }
  return out;
}

// The oracle: plain double-precision loops, best k labels by the metric.
std::vector<uint32_t> brute(const std::vector<float>& data, size_t d, const float* q, size_t k, Metric m,
                            const std::function<bool(uint32_t)>& allowed = nullptr) {
  size_t n = data.size() / d;
  std::vector<std::pair<double, uint32_t>> all;
  double qn = 0;
  for (size_t j = 0; j < d; ++j) qn += double(q[j]) * q[j];
  for (size_t i = 0; i < n; ++i) {
    if (allowed && !allowed(uint32_t(i))) continue;
    double dot = 0, l2 = 0, xn = 0;
    for (size_t j = 0; j < d; ++j) {
      double x = data[i * d + j];
      dot += x * q[j];
      l2 += (x - q[j]) * (x - q[j]);
      xn += x * x;
    }
    double dist = m == Metric::L2 ? l2 : m == Metric::InnerProduct ? -dot : -dot / std::sqrt(xn * qn + 1e-30);
    all.push_back({dist, uint32_t(i)});
  }
  std::sort(all.begin(), all.end());
  std::vector<uint32_t> out;
  for (size_t i = 0; i < std::min(k, all.size()); ++i) out.push_back(all[i].second);
  return out;
}

double recall_of(const std::vector<uint32_t>& truth, const uint32_t* got, size_t n) {
  std::set<uint32_t> t(truth.begin(), truth.end());
  size_t hit = 0;
  for (size_t i = 0; i < n; ++i) hit += t.count(got[i]);
  return truth.empty() ? 1.0 : double(hit) / double(truth.size());
}

std::vector<uint32_t> iota_labels(size_t n, uint32_t start = 0) {
  std::vector<uint32_t> l(n);
  for (size_t i = 0; i < n; ++i) l[i] = start + uint32_t(i);
  return l;
}

double hnsw_recall(Hnsw& h, const std::vector<float>& data, const std::vector<float>& queries, size_t d, size_t k,
                   size_t ef, Metric m) {
  size_t nq = queries.size() / d;
  double sum = 0;
  std::vector<uint32_t> labels(k);
  std::vector<float> dist(k);
  for (size_t i = 0; i < nq; ++i) {
    size_t n = h.search(queries.data() + i * d, k, ef, nullptr, labels.data(), dist.data());
    CHECK(n == k);
    for (size_t j = 1; j < n; ++j) CHECK(dist[j - 1] <= dist[j]);
    sum += recall_of(brute(data, d, queries.data() + i * d, k, m), labels.data(), n);
  }
  return sum / double(nq);
}

std::string temp_path(const char* name) {
  return std::string("/tmp/fastrec_test_") + name + "_" + std::to_string(::getpid()) + ".idx";
}

}  // namespace

TEST_CASE(ann_crc32_known_values) {
  const char* s = "123456789";
  CHECK(crc32(s, 9) == 0xCBF43926u);  // the standard CRC-32 check value
  CHECK(crc32(s + 4, 5, crc32(s, 4)) == 0xCBF43926u);
  CHECK(crc32("", 0) == 0);
  std::vector<unsigned char> big(1000);
  for (size_t i = 0; i < big.size(); ++i) big[i] = (unsigned char)(i * 7);
  uint32_t whole = crc32(big.data(), big.size());
  CHECK(crc32(big.data() + 333, 667, crc32(big.data(), 333)) == whole);
}

TEST_CASE(ann_flat_matches_oracle_all_metrics) {
  size_t n = 1500, d = 19, k = 7;
  auto data = clustered(n, d, 10, 1);
  auto queries = clustered(60, d, 10, 2);
  for (Metric m : {Metric::L2, Metric::InnerProduct, Metric::Cosine}) {
    FlatIndex f(d, m);
    f.add(data.data(), 700);
    f.add(data.data() + 700 * d, n - 700);
    CHECK(f.size() == n);
    std::vector<uint32_t> many(60 * k);
    std::vector<float> many_d(60 * k);
    f.search_many(queries.data(), 60, k, many.data(), many_d.data(), 2);
    for (size_t i = 0; i < 60; ++i) {
      auto truth = brute(data, d, queries.data() + i * d, k, m);
      std::vector<uint32_t> one(k);
      std::vector<float> one_d(k);
      CHECK(f.search(queries.data() + i * d, k, one.data(), one_d.data(), 2) == k);
      // float vs double may swap near-ties: allow one miss per query
      CHECK(recall_of(truth, one.data(), k) >= 1.0 - 1.0 / k);
      CHECK(recall_of(truth, many.data() + i * k, k) >= 1.0 - 1.0 / k);
      for (size_t j = 0; j < k; ++j) CHECK_NEAR(one_d[j], many_d[i * k + j], 1e-3 * (1 + std::fabs(one_d[j])));
    }
  }
  // k larger than the collection: what there is, padded in batches
  FlatIndex small(d, Metric::L2);
  small.add(data.data(), 3);
  std::vector<uint32_t> l(5);
  std::vector<float> dd(5);
  CHECK(small.search(queries.data(), 5, l.data(), dd.data()) == 3);
  small.search_many(queries.data(), 1, 5, l.data(), dd.data(), 1);
  CHECK(l[3] == 0xFFFFFFFFu && std::isinf(dd[4]));
  FlatIndex empty(d, Metric::L2);
  CHECK(empty.search(queries.data(), 5, l.data(), dd.data()) == 0);
}

TEST_CASE(ann_distance_batches_match_single_calls) {
  // The graph walk's batched kernels against the one-row kernels, for odd
  // dimensions (vector tails), odd counts (the unpaired last row), and rows
  // gathered from a strided block layout like the index's.
  const auto& dk = distance_kernels();
  std::mt19937 rng(3);
  std::uniform_real_distribution<float> u(-1, 1);
  for (size_t n : {size_t(1), size_t(7), size_t(16), size_t(37), size_t(64), size_t(65)}) {
    const size_t rows = 9, stride = 4 * n + 12;  // bytes per row, a 12-byte header before each vector
    std::vector<char> block(rows * stride);
    std::vector<char> half_block(rows * stride);
    std::vector<float> q(n);
    for (float& x : q) x = u(rng);
    for (size_t r = 0; r < rows; ++r)
      for (size_t i = 0; i < n; ++i) {
        float x = u(rng);
        std::memcpy(block.data() + r * stride + 4 * i, &x, 4);
        uint16_t h = float_to_half(x);
        std::memcpy(half_block.data() + r * stride + 2 * i, &h, 2);
      }
    const uint32_t ids[] = {8, 0, 3, 3, 5, 1, 7};
    for (size_t count : {size_t(0), size_t(1), size_t(6), size_t(7)}) {
      std::vector<float> out(count + 1, -7.0f);
      for (int kind = 0; kind < 4; ++kind) {
        auto batch = kind == 0 ? dk.l2_batch : kind == 1 ? dk.ip_batch : kind == 2 ? dk.l2_f16_batch : dk.ip_f16_batch;
        const char* base = kind < 2 ? block.data() : half_block.data();
        batch(q.data(), base, stride, ids, count, n, out.data());
        for (size_t c = 0; c < count; ++c) {
          const char* row = base + ids[c] * stride;
          float want = kind == 0   ? dk.l2(q.data(), reinterpret_cast<const float*>(row), n)
                       : kind == 1 ? dk.ip(q.data(), reinterpret_cast<const float*>(row), n)
                       : kind == 2 ? dk.l2_f16(q.data(), reinterpret_cast<const uint16_t*>(row), n)
                                   : dk.ip_f16(q.data(), reinterpret_cast<const uint16_t*>(row), n);
          CHECK_NEAR(out[c], want, 1e-4 * (1 + std::fabs(want)));
        }
        CHECK(out[count] == -7.0f);  // nothing written past count
      }
    }
    // widening a stored half-float row
    std::vector<float> wide(n + 1, -7.0f);
    dk.widen_f16(reinterpret_cast<const uint16_t*>(half_block.data() + 2 * stride), wide.data(), n);
    for (size_t i = 0; i < n; ++i) {
      uint16_t h;
      std::memcpy(&h, half_block.data() + 2 * stride + 2 * i, 2);
      CHECK(wide[i] == half_to_float(h));
    }
    CHECK(wide[n] == -7.0f);
  }
}

TEST_CASE(ann_hnsw_recall_each_metric) {
  size_t n = 4000, d = 16, k = 10;
  auto data = clustered(n, d, 40, 3);
  auto queries = clustered(100, d, 40, 4);
  for (Metric m : {Metric::L2, Metric::InnerProduct, Metric::Cosine}) {
    HnswParams p;
    p.dim = d;
    p.metric = m;
    p.M = 12;
    p.ef_construction = 100;
    Hnsw h(p);
    auto labels = iota_labels(n);
    h.add(data.data(), labels.data(), n, 2);
    CHECK(h.size() == n);
    // Inner product is not a metric (a point is not its own nearest neighbour),
    // so graphs reach lower recall on it; the Euclidean transform below fixes that.
    size_t ef = m == Metric::InnerProduct ? 256 : 128;
    double r = hnsw_recall(h, data, queries, d, k, ef, m);
    std::printf("metric %s recall@10 ef=%zu: %.4f\n", metric_name(m), ef, r);
    CHECK(r >= (m == Metric::InnerProduct ? 0.85 : 0.95));
  }
}

TEST_CASE(ann_half_float_conversion) {
  // exact values, rounding to nearest even, subnormals, overflow, specials
  CHECK(float_to_half(1.0f) == 0x3C00 && half_to_float(0x3C00) == 1.0f);
  CHECK(float_to_half(-2.0f) == 0xC000);
  CHECK(float_to_half(65504.0f) == 0x7BFF && float_to_half(65520.0f) == 0x7C00);
  CHECK(float_to_half(1.0f + 1.0f / 2048) == 0x3C00);          // halfway: to even
  CHECK(float_to_half(1.0f + 3.0f / 2048) == 0x3C02);          // halfway: to even (up)
  CHECK(half_to_float(0x0001) == std::ldexp(1.0f, -24));       // smallest subnormal
  CHECK(float_to_half(std::ldexp(1.0f, -24)) == 0x0001);
  CHECK(float_to_half(std::ldexp(1.0f, -26)) == 0x0000);
  CHECK(std::isinf(half_to_float(0x7C00)) && std::isnan(half_to_float(0x7E00)));
  std::mt19937 rng(3);
  std::uniform_real_distribution<float> u(-100, 100);
  for (int i = 0; i < 10000; ++i) {
    float f = u(rng);
    float back = half_to_float(float_to_half(f));
    CHECK(std::fabs(back - f) <= std::fabs(f) * (1.0f / 2048) + 1e-7f);  // half a unit in the last place
  }
}

TEST_CASE(ann_hnsw_float16_storage) {
  size_t n = 4000, d = 16, k = 10;
  auto data = clustered(n, d, 40, 3);
  auto queries = clustered(100, d, 40, 4);
  for (Metric m : {Metric::L2, Metric::Cosine}) {
    HnswParams p;
    p.dim = d;
    p.metric = m;
    p.M = 12;
    p.ef_construction = 100;
    p.storage = Storage::Float16;
    Hnsw h(p);
    auto labels = iota_labels(n);
    h.add(data.data(), labels.data(), n, 2);
    double r = hnsw_recall(h, data, queries, d, k, 128, m);
    std::printf("float16 %s recall@10 ef=128: %.4f, %.1f bytes/vector\n", metric_name(m), r, double(h.memory_bytes()) / n);
    CHECK(r >= 0.95);
    CHECK(h.memory_bytes() < n * (4 + 4 * 24 + 2 * d + 20));
    std::vector<float> back(d);
    CHECK(h.get_vector(7, back.data()));
    if (m == Metric::L2)
      for (size_t j = 0; j < d; ++j) CHECK_NEAR(back[j], data[7 * d + j], 2e-3);
    std::string path = temp_path("f16");
    h.save(path);
    auto g = Hnsw::load(path);
    uint32_t a[10], b[10];
    h.search(queries.data(), k, 64, nullptr, a, nullptr);
    g->search(queries.data(), k, 64, nullptr, b, nullptr);
    for (size_t j = 0; j < k; ++j) CHECK(a[j] == b[j]);
    std::remove(path.c_str());
  }
}

// The int8 row as quantize_int8 wrote it, in double: scale * x.
std::vector<double> int8_row_values(const char* row, size_t n) {
  float scale;
  std::memcpy(&scale, row, 4);
  std::vector<double> v(n);
  for (size_t i = 0; i < n; ++i) v[i] = double(scale) * double(int8_t(row[kInt8RowHeader + i]));
  return v;
}

TEST_CASE(ann_int8_quantization_rounds_each_coordinate) {
  std::mt19937 rng(21);
  std::uniform_real_distribution<float> u(-3, 3);
  for (size_t n : {size_t(1), size_t(5), size_t(64), size_t(65)}) {
    std::vector<float> v(n);
    for (float& x : v) x = u(rng);
    std::vector<char> row(int8_row_bytes(n));
    quantize_int8(v.data(), n, row.data());
    float scale, m = 0;
    std::memcpy(&scale, row.data(), 4);
    for (float x : v) m = std::max(m, std::fabs(x));
    CHECK(scale == m / 127.0f);
    auto back = int8_row_values(row.data(), n);
    int extreme = 0;
    for (size_t i = 0; i < n; ++i) {
      CHECK(std::fabs(back[i] - v[i]) <= scale * 0.5 * (1 + 1e-5));  // nearest step
      extreme += std::abs(int(int8_t(row[4 + i]))) == 127;
    }
    CHECK(extreme >= 1);  // the largest coordinate uses the whole range
  }
  // a zero vector: scale 0, zeros; non-finite coordinates count as 0
  float z[3] = {0, -0.0f, 0};
  char zr[7];
  quantize_int8(z, 3, zr);
  for (double x : int8_row_values(zr, 3)) CHECK(x == 0);
  float bad[4] = {NAN, 2, -INFINITY, -1};
  char br[8];
  quantize_int8(bad, 4, br);
  auto b = int8_row_values(br, 4);
  CHECK(b[0] == 0 && b[2] == 0 && std::fabs(b[1] - 2) < 1e-6 && std::fabs(b[3] + 1) <= 2.0 / 254);
}

TEST_CASE(ann_int8_kernels_match_scalar_reference_on_every_level) {
  // Every compiled SIMD level (scalar, avx2, ...) against double-precision sums
  // over the dequantized rows, for dimensions with and without vector tails,
  // single rows and batches (odd counts, strided rows behind a block header).
  std::mt19937 rng(22);
  std::uniform_real_distribution<float> u(-1, 1);
  size_t levels = 0;
  for (const std::string& level : simd::available_levels()) {
    const DistanceKernels* dk = distance_kernels_for(level);
    if (!dk) continue;
    ++levels;
    for (size_t n : {size_t(1), size_t(3), size_t(7), size_t(8), size_t(9), size_t(15), size_t(16), size_t(17),
                     size_t(33), size_t(64), size_t(65), size_t(100)}) {
      const size_t rows = 9, stride = (12 + int8_row_bytes(n) + 3) & ~size_t(3);
      std::vector<char> block(rows * stride, 0);
      std::vector<float> q(n), v(n);
      for (float& x : q) x = u(rng);
      for (size_t r = 0; r < rows; ++r) {
        const float amp = r == 4 ? 0.0f : float(r + 1) * 0.7f;  // row 4: all zeros
        for (float& x : v) x = amp * u(rng);
        quantize_int8(v.data(), n, block.data() + r * stride + 12);
      }
      auto reference = [&](const char* row, bool l2) {
        auto x = int8_row_values(row, n);
        double s = 0;
        for (size_t i = 0; i < n; ++i) s += l2 ? (q[i] - x[i]) * (q[i] - x[i]) : q[i] * x[i];
        return l2 ? s : 1.0 - s;
      };
      const uint32_t ids[] = {8, 0, 3, 4, 5, 1, 7};
      for (size_t count : {size_t(0), size_t(1), size_t(6), size_t(7)}) {
        for (bool l2 : {true, false}) {
          std::vector<float> out(count + 1, -7.0f);
          (l2 ? dk->l2_i8_batch : dk->ip_i8_batch)(q.data(), block.data() + 12, stride, ids, count, n, out.data());
          for (size_t c = 0; c < count; ++c) {
            const char* row = block.data() + ids[c] * stride + 12;
            const double want = reference(row, l2);
            const float one = (l2 ? dk->l2_i8 : dk->ip_i8)(q.data(), row, n);
            CHECK_NEAR(out[c], want, 1e-5 * (1 + std::fabs(want)) * std::sqrt(double(n)));
            CHECK_NEAR(one, want, 1e-5 * (1 + std::fabs(want)) * std::sqrt(double(n)));
          }
          CHECK(out[count] == -7.0f);  // nothing written past count
        }
      }
      std::vector<float> wide(n + 1, -7.0f);
      dk->widen_i8(block.data() + 2 * stride + 12, wide.data(), n);
      auto want = int8_row_values(block.data() + 2 * stride + 12, n);
      for (size_t i = 0; i < n; ++i) CHECK(wide[i] == float(want[i]));
      CHECK(wide[n] == -7.0f);
    }
  }
  CHECK(levels >= 1);
  CHECK(distance_kernels_for("no-such-level") == nullptr);
}

// Recall@10 of int8 storage against the float16 index's on the same data, every
// metric and the transform; stored vectors read back within half a step.
TEST_CASE(ann_hnsw_int8_storage_recall_close_to_float16) {
  size_t n = 4000, d = 16, k = 10;
  auto data = clustered(n, d, 40, 3);
  auto queries = clustered(100, d, 40, 4);
  struct Case {
    Metric metric;
    bool mips;
  };
  for (Case c : {Case{Metric::L2, false}, Case{Metric::InnerProduct, false}, Case{Metric::Cosine, false},
                 Case{Metric::InnerProduct, true}}) {
    double recall[2];
    for (int i = 0; i < 2; ++i) {
      HnswParams p;
      p.dim = d;
      p.metric = c.metric;
      p.mips_transform = c.mips;
      p.M = 12;
      p.ef_construction = 100;
      p.storage = i == 0 ? Storage::Float16 : Storage::Int8;
      Hnsw h(p);
      auto labels = iota_labels(n);
      h.add(data.data(), labels.data(), n, 1);  // one thread: the same graphs every run
      recall[i] = hnsw_recall(h, data, queries, d, k, 64, c.metric);
      if (i == 1) {
        CHECK(h.memory_bytes() < n * (4 + 4 * 24 + 4 + d + 1 + 20));  // a byte per coordinate
        std::vector<float> back(d);
        CHECK(h.get_vector(7, back.data()));
        if (c.metric == Metric::L2) {
          float m = 0;
          for (size_t j = 0; j < d; ++j) m = std::max(m, std::fabs(data[7 * d + j]));
          for (size_t j = 0; j < d; ++j) CHECK(std::fabs(back[j] - data[7 * d + j]) <= m / 254 * 1.0001f);
        }
      }
    }
    std::printf("%s%s recall@10 ef=64: float16 %.4f, int8 %.4f\n", metric_name(c.metric), c.mips ? " (transform)" : "",
                recall[0], recall[1]);
    // inner product on these spread norms is the hard case for the graph itself (float16 0.80, 0.87 with the transform)
    CHECK(recall[1] >= (c.metric != Metric::InnerProduct ? 0.9 : c.mips ? 0.8 : 0.75));
    // the transform's l2 is a small difference of large terms, so it feels the rounding most (0.886 -> 0.853 here)
    CHECK(recall[1] >= recall[0] - (c.mips ? 0.05 : 0.03));
  }
}

// with_storage keeps the graph: a float32 copy searches bit-identically; an
// int8 copy of a float32-built graph keeps labels, deletions and recall.
TEST_CASE(ann_hnsw_with_storage_keeps_the_graph) {
  size_t n = 3000, d = 12, k = 10;
  auto data = clustered(n, d, 30, 8);
  auto queries = clustered(60, d, 30, 9);
  HnswParams p;
  p.dim = d;
  p.metric = Metric::InnerProduct;
  p.M = 10;
  p.ef_construction = 80;
  Hnsw h(p);
  auto labels = iota_labels(n, 100);  // labels != slots: the maps are copied too
  h.add(data.data(), labels.data(), n, 1);
  CHECK(h.remove(105) && h.remove(2000));
  auto same = h.with_storage(Storage::Float32);
  auto i8 = h.with_storage(Storage::Int8);
  auto f16 = i8->with_storage(Storage::Float16);
  CHECK(i8->params().storage == Storage::Int8 && f16->params().storage == Storage::Float16);
  for (const Hnsw* g : {same.get(), i8.get(), f16.get()}) {
    CHECK(g->size() == h.size() && g->slots() == h.slots() && g->label_end() == h.label_end());
    CHECK(!g->contains(105) && g->contains(106) && !g->contains(2000) && !g->contains(99));
  }
  double r8 = 0, r32 = 0;
  for (size_t qi = 0; qi < 60; ++qi) {
    uint32_t a[10], b[10], c[10];
    float da[10], db[10];
    const float* q = queries.data() + qi * d;
    size_t na = h.search(q, k, 40, nullptr, a, da);
    size_t nb = same->search(q, k, 40, nullptr, b, db);
    CHECK(na == nb);
    for (size_t j = 0; j < na; ++j) CHECK(a[j] == b[j] && da[j] == db[j]);
    CHECK(i8->search(q, k, 40, nullptr, c, nullptr) == k);
    uint32_t e[10];
    h.search_exact(q, k, nullptr, e, nullptr);
    r32 += recall_of(std::vector<uint32_t>(e, e + k), a, k);
    r8 += recall_of(std::vector<uint32_t>(e, e + k), c, k);
  }
  std::printf("same graph, ef=40: float32 recall %.4f, int8 copy %.4f\n", r32 / 60, r8 / 60);
  CHECK(r8 / 60 >= r32 / 60 - 0.03);
  // the copies are independent indexes: adding to one leaves the other alone
  auto extra = clustered(5, d, 30, 10);
  auto el = iota_labels(5, 90000);
  i8->add(extra.data(), el.data(), 5, 1);
  CHECK(i8->contains(90000) && !h.contains(90000) && i8->size() == h.size() + 5);
}

TEST_CASE(ann_hnsw_int8_save_load_identical_and_versioned) {
  size_t n = 1500, d = 20, k = 10;
  auto data = clustered(n, d, 15, 11);
  HnswParams p;
  p.dim = d;
  p.metric = Metric::Cosine;
  p.M = 8;
  p.ef_construction = 50;
  p.storage = Storage::Int8;
  Hnsw h(p);
  auto labels = iota_labels(n);
  h.add(data.data(), labels.data(), n, 1);
  h.remove(3);
  const std::string meta = "int8 meta";
  const std::vector<uint8_t> image = h.to_bytes(meta);
  uint32_t version, flags;
  std::memcpy(&version, image.data() + 8, 4);
  std::memcpy(&flags, image.data() + 36, 4);
  CHECK(version == 3 && flags == 4);
  std::string path = temp_path("int8");
  h.save(path, meta);
  for (int source = 0; source < 4; ++source) {
    std::vector<uint8_t> bytes = image;
    std::string got;
    auto g = source < 2 ? Hnsw::load(path, source == 0, &got) : Hnsw::from_bytes(bytes.data(), bytes.size(), source == 2, &got);
    CHECK(got == meta && g->params().storage == Storage::Int8 && g->size() == h.size() && !g->contains(3));
    for (size_t qi = 0; qi < 50; ++qi) {
      uint32_t a[10], b[10];
      float da[10], db[10];
      size_t na = h.search(data.data() + qi * 7 * d, k, 32, nullptr, a, da);
      size_t nb = g->search(data.data() + qi * 7 * d, k, 32, nullptr, b, db);
      CHECK(na == nb);
      for (size_t j = 0; j < na; ++j) CHECK(a[j] == b[j] && da[j] == db[j]);
    }
    CHECK(g->to_bytes(meta) == image);  // saved again: the same bytes
  }
  std::remove(path.c_str());
  // float32 and float16 indexes are still written as version 2 (older readers load them)
  for (Storage st : {Storage::Float32, Storage::Float16}) {
    auto other = h.with_storage(st)->to_bytes();
    std::memcpy(&version, other.data() + 8, 4);
    CHECK(version == 2);
  }
  // int8 blocks in a header claiming version 2 (checksum made consistent): damage, not a version
  std::vector<uint8_t> v2 = image;
  v2[8] = 2;
  std::memset(v2.data() + 12, 0, 4);
  uint32_t crc = crc32(v2.data() + 128, 5 * 24, crc32(v2.data(), 128));
  std::memcpy(v2.data() + 12, &crc, 4);
  bool corrupt = false;
  try {
    Hnsw::from_bytes(v2.data(), v2.size(), false);
  } catch (const Error& e) {
    corrupt = e.code() == ErrorCode::CorruptFile && std::string(e.what()).find("int8 storage in a version 2") != std::string::npos;
  }
  CHECK(corrupt);
  // both storage flags at once: corrupt
  std::vector<uint8_t> both = image;
  both[36] = 6;
  std::memset(both.data() + 12, 0, 4);
  crc = crc32(both.data() + 128, 5 * 24, crc32(both.data(), 128));
  std::memcpy(both.data() + 12, &crc, 4);
  CHECK_THROWS(Hnsw::from_bytes(both.data(), both.size(), false));
  // an unknown storage name is an InvalidArgument
  bool invalid = false;
  try {
    storage_of("int4");
  } catch (const Error& e) {
    invalid = e.code() == ErrorCode::InvalidArgument && std::string(e.what()).find("'int4'") != std::string::npos;
  }
  CHECK(invalid);
  CHECK(storage_of("int8") == Storage::Int8 && std::string(storage_name(Storage::Int8)) == "int8");
}

// The unfiltered walk (one sorted array, search_level0_pool) against the
// two-heap walk (search_layer), which an allow-everything filter selects: the
// same expansions, so the same results, on every storage and metric.
TEST_CASE(ann_hnsw_unfiltered_walk_matches_the_heap_walk) {
  size_t n = 3000, d = 16;
  auto data = clustered(n, d, 30, 23);
  auto queries = clustered(150, d, 30, 24);
  for (Storage st : {Storage::Float32, Storage::Float16, Storage::Int8}) {
    for (Metric m : {Metric::L2, Metric::InnerProduct}) {
      HnswParams p;
      p.dim = d;
      p.metric = m;
      p.M = 8;
      p.ef_construction = 60;
      p.storage = st;
      Hnsw h(p);
      auto labels = iota_labels(n);
      h.add(data.data(), labels.data(), n, 2);
      const int32_t absent = int32_t(n + 5);  // denies nothing, but makes the filter active
      SlotFilter all = h.make_filter(nullptr, 0, &absent, 1);
      CHECK(all.active);
      for (size_t ef : {size_t(10), size_t(40), size_t(100)}) {
        for (size_t qi = 0; qi < 150; ++qi) {
          uint32_t a[12], b[12];
          float da[12], db[12];
          SearchPath path_a, path_b;
          size_t na = h.search(queries.data() + qi * d, 12, ef, nullptr, a, da, 0.1, &path_a);
          size_t nb = h.search(queries.data() + qi * d, 12, ef, &all, b, db, 0.1, &path_b);
          CHECK(path_a == SearchPath::Graph && path_b == SearchPath::FilteredGraph);
          CHECK(na == nb && na == 12);
          for (size_t j = 0; j < na; ++j) CHECK(a[j] == b[j] && da[j] == db[j]);
        }
      }
    }
  }
}

TEST_CASE(ann_hnsw_mips_transform_recall) {
  size_t n = 3000, d = 12, k = 10;
  auto data = clustered(n, d, 30, 5);
  auto queries = clustered(80, d, 30, 6);
  HnswParams p;
  p.dim = d;
  p.metric = Metric::InnerProduct;
  p.mips_transform = true;
  p.M = 12;
  p.ef_construction = 100;
  Hnsw h(p);
  auto labels = iota_labels(n);
  h.add(data.data(), labels.data(), n, 2);
  double r = hnsw_recall(h, data, queries, d, k, 80, Metric::InnerProduct);
  std::printf("ip via Euclidean transform recall@10 ef=80: %.4f\n", r);
  CHECK(r >= 0.9);
  // distances come back as 1 - <q, x>
  uint32_t l[1];
  float dist[1];
  h.search(queries.data(), 1, 80, nullptr, l, dist);
  double dot = 0;
  for (size_t j = 0; j < d; ++j) dot += double(queries[j]) * data[l[0] * d + j];
  CHECK_NEAR(dist[0], 1.0 - dot, 1e-3 * (1 + std::fabs(dot)));
  // a vector longer than the fixed maximum norm is refused
  std::vector<float> big(d, 100.0f);
  uint32_t lab = 99999;
  CHECK_THROWS(h.add(big.data(), &lab, 1));
}

TEST_CASE(ann_hnsw_filters_never_leak) {
  size_t n = 3000, d = 8, k = 10;
  auto data = clustered(n, d, 20, 7);
  auto queries = clustered(40, d, 20, 8);
  HnswParams p;
  p.dim = d;
  p.M = 8;
  p.ef_construction = 64;
  Hnsw h(p);
  auto labels = iota_labels(n, 1000);  // labels differ from slots
  h.add(data.data(), labels.data(), n, 2);
  std::mt19937 rng(9);
  for (double share : {0.005, 0.3}) {
    std::vector<int32_t> allow;
    std::set<uint32_t> allowed;
    for (size_t i = 0; i < n; ++i)
      if (std::uniform_real_distribution<double>(0, 1)(rng) < share) {
        allow.push_back(int32_t(1000 + i));
        allowed.insert(uint32_t(1000 + i));
      }
    SlotFilter f = h.make_filter(allow.data(), allow.size(), nullptr, 0);
    CHECK(f.allowed_count == allow.size());
    double rsum = 0;
    for (size_t qi = 0; qi < 40; ++qi) {
      uint32_t out[10];
      float dist[10];
      SearchPath path;
      size_t got = h.search(queries.data() + qi * d, k, 64, &f, out, dist, 0.02, &path);
      CHECK(path == (share < 0.02 ? SearchPath::ExactScan : SearchPath::FilteredGraph));
      CHECK(got == std::min(k, allow.size()));
      for (size_t j = 0; j < got; ++j) CHECK(allowed.count(out[j]) == 1);
      auto truth = brute(data, d, queries.data() + qi * d, k, Metric::L2,
                         [&](uint32_t i) { return allowed.count(1000 + i) > 0; });
      for (auto& t : truth) t += 1000;
      rsum += recall_of(truth, out, got);
    }
    std::printf("filter share %.3f recall %.4f\n", share, rsum / 40);
    CHECK(rsum / 40 >= (share < 0.02 ? 0.999 : 0.9));
  }
  // deny-list: the denied labels never appear
  std::vector<int32_t> deny;
  for (size_t i = 0; i < n; i += 2) deny.push_back(int32_t(1000 + i));
  SlotFilter f = h.make_filter(nullptr, 0, deny.data(), deny.size());
  for (size_t qi = 0; qi < 40; ++qi) {
    uint32_t out[10];
    size_t got = h.search(queries.data() + qi * d, k, 64, &f, out, nullptr);
    CHECK(got == k);
    for (size_t j = 0; j < got; ++j) CHECK((out[j] - 1000) % 2 == 1);
  }
  // an allow-list of unknown labels: nothing
  int32_t unknown[2] = {5, -3};
  SlotFilter none = h.make_filter(unknown, 2, nullptr, 0);
  uint32_t out[10];
  CHECK(h.search(queries.data(), k, 64, &none, out, nullptr) == 0);
}

TEST_CASE(ann_hnsw_deletes_and_slot_reuse) {
  size_t n = 2000, d = 8, k = 20;
  auto data = clustered(n, d, 10, 10);
  HnswParams p;
  p.dim = d;
  p.M = 8;
  p.ef_construction = 64;
  Hnsw h(p);
  auto labels = iota_labels(n);
  h.add(data.data(), labels.data(), n, 2);
  std::set<uint32_t> removed;
  for (uint32_t i = 0; i < n; i += 3) {
    CHECK(h.remove(i));
    removed.insert(i);
  }
  CHECK(!h.remove(0));
  CHECK(!h.contains(0) && h.contains(1));
  CHECK(h.size() == n - removed.size());
  for (size_t qi = 0; qi < 50; ++qi) {
    uint32_t out[20];
    size_t got = h.search(data.data() + qi * 37 % n * d, k, 50, nullptr, out, nullptr);
    CHECK(got == k);
    for (size_t j = 0; j < got; ++j) CHECK(removed.count(out[j]) == 0);
  }
  // reuse: new labels fill deleted slots, the slot count does not grow
  size_t slots_before = h.slots();
  auto more = clustered(300, d, 10, 11);
  auto new_labels = iota_labels(300, 50000);
  h.add(more.data(), new_labels.data(), 300, 1);
  CHECK(h.slots() == slots_before);
  for (size_t i = 0; i < 300; i += 29) {
    uint32_t out[1];
    float dist[1];
    CHECK(h.search(more.data() + i * d, 1, 64, nullptr, out, dist) == 1);
    CHECK(out[0] == 50000 + i || dist[0] < 1e-6f);  // finds itself (or an exact duplicate)
  }
  // replacing a label moves it to its new vector
  std::vector<float> v(d, 5.0f);
  uint32_t lab = 1;
  h.add(v.data(), &lab, 1);
  uint32_t out[1];
  h.search(v.data(), 1, 32, nullptr, out, nullptr);
  CHECK(out[0] == 1);
  std::vector<float> back(d);
  CHECK(h.get_vector(1, back.data()) && back[0] == 5.0f);
  // k larger than everything left: what there is
  Hnsw tiny(p);
  uint32_t two[2] = {7, 8};
  tiny.add(data.data(), two, 2);
  tiny.remove(7);
  uint32_t res[10];
  CHECK(tiny.search(data.data(), 10, 10, nullptr, res, nullptr) == 1 && res[0] == 8);
  tiny.remove(8);
  CHECK(tiny.search(data.data(), 10, 10, nullptr, res, nullptr) == 0);
}

TEST_CASE(ann_hnsw_labels_equal_to_slots_keep_no_maps) {
  // Labels 0..n-1 added in order need neither slot->label nor label->slot
  // arrays; the first other label brings both back with the same answers.
  size_t n = 1500, d = 8, k = 10;
  auto data = clustered(n, d, 10, 21);
  auto queries = clustered(30, d, 10, 22);
  HnswParams p;
  p.dim = d;
  p.M = 8;
  p.ef_construction = 48;
  Hnsw h(p);
  auto labels = iota_labels(n);
  h.add(data.data(), labels.data(), 1000, 1);
  h.add(data.data() + 1000 * d, labels.data() + 1000, n - 1000, 1);  // a second batch continuing the run
  const size_t compact = h.memory_bytes();
  auto answers = [&](Hnsw& x) {
    std::vector<uint32_t> out(30 * k);
    std::vector<float> dist(30 * k);
    for (size_t q = 0; q < 30; ++q) CHECK(x.search(queries.data() + q * d, k, 40, nullptr, &out[q * k], &dist[q * k]) == k);
    return std::make_pair(out, dist);
  };
  auto before = answers(h);
  // saved and loaded: still compact, same answers
  std::string path = temp_path("identity");
  h.save(path);
  auto g = Hnsw::load(path, false);
  CHECK(g->memory_bytes() == compact);
  CHECK(answers(*g) == before);
  std::remove(path.c_str());
  // a label out of the run: the maps are built, 8 bytes per vector more, answers unchanged
  std::vector<float> far(d, 100.0f);
  uint32_t odd = 5000;
  h.add(far.data(), &odd, 1);
  CHECK(h.memory_bytes() >= compact + 8 * n);
  CHECK(answers(h) == before);
  CHECK(h.contains(5000) && h.contains(0) && h.contains(1499) && !h.contains(1500));
  uint32_t one[1];
  CHECK(h.search_exact(far.data(), 1, nullptr, one, nullptr) == 1 && one[0] == 5000);  // an outlier: the graph may not reach it
  // removing in the compact form, then re-adding the label, moves it to its new vector
  Hnsw c(p);
  c.add(data.data(), labels.data(), n, 1);
  CHECK(c.remove(42) && !c.contains(42) && !c.remove(42));
  uint32_t back = 42;
  c.add(far.data(), &back, 1);
  CHECK(c.contains(42) && c.search_exact(far.data(), 1, nullptr, one, nullptr) == 1 && one[0] == 42);
  CHECK(c.slots() == n);  // the deleted slot was reused
}

TEST_CASE(ann_hnsw_concurrent_add_and_search) {
  size_t n = 6000, d = 16;
  auto data = clustered(n, d, 30, 12);
  HnswParams p;
  p.dim = d;
  p.M = 10;
  p.ef_construction = 60;
  Hnsw h(p, 64);  // small start: adds must grow storage while searches run
  auto labels = iota_labels(n);
  h.add(data.data(), labels.data(), 500, 1);
  std::atomic<bool> stop{false};
  std::atomic<size_t> bad{0}, searches{0}, misses{0};
  std::vector<std::thread> readers;
  for (int t = 0; t < 3; ++t) {
    readers.emplace_back([&, t] {
      std::mt19937 rng(100 + t);
      uint32_t out[10];
      float dist[10];
      while (!stop.load()) {
        size_t qi = rng() % 500;
        size_t got = h.search(data.data() + qi * d, 10, 40, nullptr, out, dist);
        for (size_t j = 0; j < got; ++j) {
          if (out[j] >= n) bad++;                       // a label never added
          if (j && dist[j] < dist[j - 1]) bad++;        // unsorted
          if (!(dist[j] >= 0) || !std::isfinite(dist[j])) bad++;
        }
        if (got != 10) bad++;  // at least 500 items are always reachable
        if (got && out[0] != qi && dist[0] != 0.0f) misses++;  // an approximate miss, not garbage
        searches++;
      }
    });
  }
  // writers: batches of several threads plus single adds and deletes
  for (size_t at = 500; at < n; at += 500) h.add(data.data() + at * d, labels.data() + at, 500, 2);
  for (uint32_t i = 4000; i < 4100; ++i) h.remove(i);
  h.add(data.data() + 4000 * d, labels.data() + 4000, 100, 1);
  stop = true;
  for (auto& t : readers) t.join();
  CHECK(bad.load() == 0);
  CHECK(searches.load() > 0);
  CHECK(misses.load() * 50 < searches.load());  // an indexed point finds itself in > 98% of searches
  CHECK(h.size() == n);
  auto queries = clustered(50, d, 30, 13);
  double r = hnsw_recall(h, data, queries, d, 10, 80, Metric::L2);
  std::printf("recall after concurrent build: %.4f (%zu searches ran alongside)\n", r, searches.load());
  CHECK(r >= 0.9);
}

TEST_CASE(ann_hnsw_save_load_identical) {
  size_t n = 2500, d = 12, k = 10;
  auto data = clustered(n, d, 15, 14);
  for (bool mips : {false, true}) {
    HnswParams p;
    p.dim = d;
    p.metric = mips ? Metric::InnerProduct : Metric::Cosine;
    p.mips_transform = mips;
    p.M = 8;
    p.ef_construction = 50;
    Hnsw h(p);
    auto labels = iota_labels(n, 7);
    h.add(data.data(), labels.data(), n, 1);  // one thread: the same graph every run
    h.remove(10);
    h.remove(20);
    std::string path = temp_path("saveload");
    const std::string meta = std::string("ids and defaults\n") + std::string(1000, '\x01') + std::string(1, '\0') + "end";
    h.save(path, meta);
    const std::vector<uint8_t> image = h.to_bytes(meta);
    // the bytes in memory are the file's bytes
    {
      std::ifstream in(path, std::ios::binary);
      std::string file((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
      CHECK(file.size() == image.size() && std::memcmp(file.data(), image.data(), image.size()) == 0);
    }
    // Sources: mapped file, read file, bytes used in place, bytes copied.
    for (int source = 0; source < 4; ++source) {
      const bool use_mmap = source == 0;
      std::vector<uint8_t> bytes = image;
      std::string got_meta;
      auto g = source < 2 ? Hnsw::load(path, use_mmap, &got_meta) : Hnsw::from_bytes(bytes.data(), bytes.size(), source == 2, &got_meta);
      CHECK(got_meta == meta);
      CHECK(g->borrows_bytes() == (source == 2));
      CHECK(g->size() == h.size());
      CHECK(g->slots() == h.slots());
      CHECK(g->max_norm() == h.max_norm());
      CHECK(!g->contains(10) && g->contains(11));
      for (size_t qi = 0; qi < 40; ++qi) {
        uint32_t a[10], b[10];
        float da[10], db[10];
        size_t na = h.search(data.data() + qi * d, k, 40, nullptr, a, da);
        size_t nb = g->search(data.data() + qi * d, k, 40, nullptr, b, db);
        CHECK(na == nb);
        for (size_t j = 0; j < na; ++j) CHECK(a[j] == b[j] && da[j] == db[j]);
      }
      // a loaded (mapped) index keeps working: add grows it off the mapping, deleted slots are reused;
      // borrowed bytes are never written (remove and add copy them first)
      auto extra = clustered(100, d, 15, 15);
      auto el = iota_labels(100, 90000);
      g->add(extra.data(), el.data(), 100, 1);
      CHECK(!g->borrows_bytes());
      CHECK(g->remove(30) && !g->contains(30));
      CHECK(bytes == image);
      CHECK(g->size() == h.size() + 99);
      CHECK(g->contains(90000) && g->contains(90099));
      // recall@10 of the grown index against its own exact scan
      double rsum = 0;
      for (size_t i = 0; i < 100; i += 5) {
        uint32_t a[10], b[10];
        size_t na = g->search(extra.data() + i * d, 10, 200, nullptr, a, nullptr);
        size_t nb = g->search_exact(extra.data() + i * d, 10, nullptr, b, nullptr);
        CHECK(na == 10 && nb == 10);
        rsum += recall_of(std::vector<uint32_t>(b, b + 10), a, 10);
      }
      std::printf("mips %d source %d: recall@10 after adding to the loaded index %.3f\n", int(mips), source, rsum / 20);
      CHECK(rsum / 20 >= 0.85);
    }
    // a remove alone on borrowed bytes copies them too
    {
      std::vector<uint8_t> bytes = image;
      auto g = Hnsw::from_bytes(bytes.data(), bytes.size(), true);
      CHECK(g->borrows_bytes());
      CHECK(g->remove(11) && !g->contains(11) && g->size() == h.size() - 1);
      CHECK(!g->borrows_bytes() && bytes == image);
    }
    std::remove(path.c_str());
  }
}

TEST_CASE(ann_hnsw_corrupt_files_rejected) {
  size_t n = 600, d = 8;
  auto data = clustered(n, d, 6, 16);
  HnswParams p;
  p.dim = d;
  p.M = 6;
  p.ef_construction = 30;
  Hnsw h(p);
  auto labels = iota_labels(n);
  h.add(data.data(), labels.data(), n, 1);
  std::string path = temp_path("corrupt");
  const std::string meta(500, 'm');  // the ids section: its bit flips must be caught too
  h.save(path, meta);
  std::ifstream in(path, std::ios::binary);
  std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  in.close();
  // Each damaged variant through every loader: mapped file, read file, bytes in place, bytes copied.
  auto expect_code = [&](const std::string& content, ErrorCode code) {
    std::string bad = temp_path("corrupt_variant");
    std::ofstream(bad, std::ios::binary).write(content.data(), std::streamsize(content.size()));
    for (int source = 0; source < 4; ++source) {
      bool ok = false;
      try {
        std::vector<uint8_t> b(content.begin(), content.end());
        if (source < 2) Hnsw::load(bad, source == 0);
        else Hnsw::from_bytes(b.data(), b.size(), source == 2);
      } catch (const Error& e) {
        ok = e.code() == code;
      }
      CHECK(ok);
    }
    std::remove(bad.c_str());
  };
  // the META section is the last one: flips in its first, middle and last byte
  CHECK(bytes.size() > 600 && bytes.compare(bytes.size() - meta.size(), meta.size(), meta) == 0);
  for (size_t back : {meta.size(), meta.size() / 2, size_t(1)}) {
    std::string b = bytes;
    b[b.size() - back] ^= 0x04;
    expect_code(b, ErrorCode::CorruptFile);
  }
  // truncated at many lengths, including inside the header and the last byte
  for (size_t cut : {size_t(0), size_t(7), size_t(100), size_t(200), bytes.size() / 2, bytes.size() - 1})
    expect_code(bytes.substr(0, cut), ErrorCode::CorruptFile);
  // single bit flips spread over the file (header, table, every section)
  std::mt19937 rng(17);
  for (int t = 0; t < 60; ++t) {
    std::string b = bytes;
    size_t pos = t < 30 ? size_t(t) * 7 % 224 : rng() % b.size();
    if (pos >= 8 && pos < 12) continue;  // the version field: covered below
    b[pos] = char(b[pos] ^ (1 << (rng() % 8)));
    expect_code(b, ErrorCode::CorruptFile);
  }
  // a newer version is reported as such
  std::string newer = bytes;
  newer[8] = 4;
  expect_code(newer, ErrorCode::UnsupportedVersion);
  // so is version 1 (ids in a side file), which this version no longer reads
  std::string older = bytes;
  older[8] = 1;
  expect_code(older, ErrorCode::UnsupportedVersion);
  std::string garbage(4096, 'x');
  expect_code(garbage, ErrorCode::CorruptFile);
  // missing file: an I/O error
  bool io = false;
  try {
    Hnsw::load("/nonexistent/dir/x.idx");
  } catch (const Error& e) {
    io = e.code() == ErrorCode::Io;
  }
  CHECK(io);
  std::remove(path.c_str());
}

TEST_CASE(ann_hnsw_invalid_arguments) {
  HnswParams p;
  p.dim = 0;
  CHECK_THROWS(Hnsw h(p));
  p.dim = 4;
  p.M = 1;
  CHECK_THROWS(Hnsw h(p));
  p.M = 8;
  p.mips_transform = true;  // only with ip
  CHECK_THROWS(Hnsw h(p));
  p.mips_transform = false;
  Hnsw h(p);
  float v[4] = {1, 2, NAN, 4};
  uint32_t l = 0;
  CHECK_THROWS(h.add(v, &l, 1));
  v[2] = 3;
  l = 0x80000000u;
  CHECK_THROWS(h.add(v, &l, 1));
  CHECK(h.size() == 0);
  uint32_t out[3];
  CHECK(h.search(v, 3, 10, nullptr, out, nullptr) == 0);  // empty index: nothing, no error
}
