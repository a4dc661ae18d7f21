#include "knn/neighbours.hpp"

#include <algorithm>
#include <atomic>
#include <cmath>

#include "common/error.hpp"
#include "common/thread_pool.hpp"
#include "common/topk.hpp"

namespace fastrec::knn {
namespace {

// Dense accumulator over the rows of x, with the list of touched rows so a
// reset costs only what was used.
struct Accumulator {
  std::vector<float> acc;
  std::vector<uint8_t> mark;
  std::vector<int32_t> touched;
  explicit Accumulator(size_t n = 0) : acc(n, 0.0f), mark(n, 0) {}
  void add(int32_t j, float v) {
    if (!mark[j]) {
      mark[j] = 1;
      touched.push_back(j);
    }
    acc[j] += v;
  }
};

// The similarity of (i, j) from their dot product.
struct Scorer {
  Similarity kind;
  double alpha, shrink;
  const std::vector<double>* sq;  // squared row norms (cosine, asymmetric)
  double query_sq;                // the query row's squared norm
  double score(double dot, int32_t j) const {
    switch (kind) {
      case Similarity::Dot:
        return dot;
      case Similarity::Cosine:
        return dot / (std::sqrt(query_sq * (*sq)[j]) + shrink);
      case Similarity::Asymmetric:
        return dot / (std::pow(query_sq, alpha) * std::pow((*sq)[j], 1.0 - alpha) + shrink);
    }
    return dot;
  }
};

size_t collect(Accumulator& a, const Scorer& s, int32_t self, size_t k, TopK& top, int32_t* ids, float* scores) {
  top.reset(k);
  for (int32_t j : a.touched) {
    double dot = a.acc[j];
    a.acc[j] = 0.0f;
    a.mark[j] = 0;
    if (j == self) continue;
    float v = static_cast<float>(s.score(dot, j));
    if (v > 0.0f && std::isfinite(v)) top.push(v, j);
  }
  a.touched.clear();
  return top.write_sorted(ids, scores);
}

void check_options(const NeighbourOptions& o) {
  if (o.k < 1) throw_invalid("k: expected a positive number of neighbours");
  if (!(o.alpha >= 0.0 && o.alpha <= 1.0)) throw_invalid("alpha: expected a number in [0, 1]");
  if (!(o.shrink >= 0.0) || !std::isfinite(o.shrink)) throw_invalid("shrink: expected a finite number >= 0");
}

}  // namespace

std::vector<double> row_sq_norms(const CsrView& x) {
  std::vector<double> sq(static_cast<size_t>(x.rows), 0.0);
  for (int64_t i = 0; i < x.rows; ++i)
    for (int64_t p = x.indptr[i]; p < x.indptr[i + 1]; ++p) sq[i] += double(x.data[p]) * x.data[p];
  return sq;
}

NeighbourLists top_neighbours(const CsrView& x, const CsrView& xt, const NeighbourOptions& o, const CancelToken* cancel,
                              const std::function<void(size_t)>& progress) {
  check_options(o);
  if (xt.rows != x.cols || xt.cols != x.rows) throw Error(ErrorCode::DimensionMismatch, "xt must be the transpose of x");
  const size_t n = static_cast<size_t>(x.rows);
  const size_t k = std::min(o.k, n > 0 ? n - 1 : 0);
  const size_t threads = resolve_threads(o.threads);
  std::vector<double> sq = row_sq_norms(x);
  // Fixed k slots per row, compacted afterwards.
  std::vector<int32_t> ids(n * k);
  std::vector<float> scores(n * k);
  std::vector<int32_t> counts(n, 0);
  std::vector<Accumulator> accs(threads);
  std::vector<TopK> tops(threads);
  std::atomic<size_t> done{0};
  parallel_for(n, 32, threads, [&](size_t b, size_t e, size_t slot) {
    if (cancel) cancel->throw_if_cancelled();
    Accumulator& a = accs[slot];
    if (a.acc.size() != n) a = Accumulator(n);
    for (size_t i = b; i < e; ++i) {
      for (int64_t p = x.indptr[i]; p < x.indptr[i + 1]; ++p) {
        const float w = x.data[p];
        const int32_t u = x.indices[p];
        for (int64_t q = xt.indptr[u]; q < xt.indptr[u + 1]; ++q) a.add(xt.indices[q], w * xt.data[q]);
      }
      Scorer s{o.similarity, o.alpha, o.shrink, &sq, sq[i]};
      counts[i] = static_cast<int32_t>(
          collect(a, s, static_cast<int32_t>(i), k, tops[slot], ids.data() + i * k, scores.data() + i * k));
    }
    size_t total = done.fetch_add(e - b) + (e - b);
    if (progress) progress(total);
  });
  NeighbourLists out;
  out.rows = x.rows;
  out.indptr.assign(n + 1, 0);
  for (size_t i = 0; i < n; ++i) out.indptr[i + 1] = out.indptr[i] + counts[i];
  out.indices.resize(static_cast<size_t>(out.indptr[n]));
  out.scores.resize(static_cast<size_t>(out.indptr[n]));
  for (size_t i = 0; i < n; ++i) {
    std::copy_n(ids.data() + i * k, counts[i], out.indices.data() + out.indptr[i]);
    std::copy_n(scores.data() + i * k, counts[i], out.scores.data() + out.indptr[i]);
  }
  return out;
}

size_t query_neighbours(const CsrView& xt, const std::vector<double>& sq_norms, const int32_t* features,
                        const float* values, size_t n, int32_t self, const NeighbourOptions& o, int32_t* out_ids,
                        float* out_scores) {
  check_options(o);
  Accumulator a(static_cast<size_t>(xt.cols));
  double query_sq = 0;
  for (size_t p = 0; p < n; ++p) {
    int32_t u = features[p];
    if (u < 0 || u >= xt.rows) continue;
    query_sq += double(values[p]) * values[p];
    for (int64_t q = xt.indptr[u]; q < xt.indptr[u + 1]; ++q) a.add(xt.indices[q], values[p] * xt.data[q]);
  }
  Scorer s{o.similarity, o.alpha, o.shrink, &sq_norms, query_sq};
  TopK top;
  return collect(a, s, self, o.k, top, out_ids, out_scores);
}

}  // namespace fastrec::knn
