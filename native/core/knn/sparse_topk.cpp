#include "knn/sparse_topk.hpp"

#include <algorithm>
#include <atomic>
#include <cmath>
#include <limits>

#include "common/thread_pool.hpp"
#include "common/topk.hpp"

namespace fastrec::knn {
namespace {

struct Scratch {
  std::vector<float> acc;
  std::vector<uint8_t> mark;  // 1: touched, 2: blocked (seen/excluded/not included)
  std::vector<int32_t> touched;
  TopK top;
};

bool contains(const int32_t* sorted, size_t n, int32_t v) { return std::binary_search(sorted, sorted + n, v); }

size_t score_one(const RowsView& m, const int32_t* sources, const float* weights, size_t n_sources,
                 const int32_t* seen, size_t n_seen, const ItemFilter& f, size_t k, int32_t* out_ids, float* out_scores,
                 Scratch& s) {
  const size_t n_items = static_cast<size_t>(m.cols);
  if (s.acc.size() != n_items) {
    s.acc.assign(n_items, 0.0f);
    s.mark.assign(n_items, 0);
  }
  for (size_t p = 0; p < n_sources; ++p) {
    int32_t src = sources[p];
    if (src < 0 || src >= m.rows) continue;
    const float w = weights ? weights[p] : 1.0f;
    for (int64_t q = m.indptr[src]; q < m.indptr[src + 1]; ++q) {
      int32_t j = m.indices[q];
      if (!s.mark[j]) {
        s.mark[j] = 1;
        s.touched.push_back(j);
      }
      s.acc[j] += w * m.values[q];
    }
  }
  s.top.reset(k);
  for (int32_t j : s.touched) {
    float v = s.acc[j];
    s.acc[j] = 0.0f;
    s.mark[j] = 0;
    if (v == 0.0f) continue;
    if (seen && contains(seen, n_seen, j)) continue;
    if (f.n_exclude && contains(f.exclude, f.n_exclude, j)) continue;
    if (f.n_include && !contains(f.include, f.n_include, j)) continue;
    if (v >= s.top.threshold()) s.top.push(v, j);
  }
  s.touched.clear();
  return s.top.write_sorted(out_ids, out_scores);
}

}  // namespace

size_t sparse_topk_one(const RowsView& m, const int32_t* sources, const float* weights, size_t n_sources,
                       const int32_t* seen, size_t n_seen, const ItemFilter& filter, size_t k, int32_t* out_ids,
                       float* out_scores) {
  Scratch s;
  return score_one(m, sources, weights, n_sources, seen, n_seen, filter, k, out_ids, out_scores, s);
}

void sparse_topk_many(const RowsView& m, const RowsView& sources, const int32_t* rows, size_t n, const CsrView* seen,
                      const ItemFilter& filter, size_t k, int32_t* out_ids, float* out_scores, size_t threads,
                      const CancelToken* cancel, const std::function<void(size_t)>& progress) {
  threads = resolve_threads(threads);
  std::vector<Scratch> scratch(threads);
  std::atomic<size_t> done{0};
  parallel_for(n, 64, threads, [&](size_t b, size_t e, size_t slot) {
    if (cancel) cancel->throw_if_cancelled();
    for (size_t r = b; r < e; ++r) {
      int32_t row = rows[r];
      int32_t* ids = out_ids + r * k;
      float* sc = out_scores + r * k;
      const int32_t* seen_ids = nullptr;
      size_t n_seen = 0;
      if (seen) {
        seen_ids = seen->indices + seen->indptr[row];
        n_seen = static_cast<size_t>(seen->indptr[row + 1] - seen->indptr[row]);
      }
      int64_t lo = sources.indptr[row], hi = sources.indptr[row + 1];
      size_t count = score_one(m, sources.indices + lo, sources.values + lo, static_cast<size_t>(hi - lo), seen_ids,
                               n_seen, filter, k, ids, sc, scratch[slot]);
      for (size_t t = count; t < k; ++t) {
        ids[t] = -1;
        sc[t] = -std::numeric_limits<float>::infinity();
      }
    }
    size_t total = done.fetch_add(e - b) + (e - b);
    if (progress) progress(total);
  });
}

}  // namespace fastrec::knn
