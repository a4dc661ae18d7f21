#include "ann/flat.hpp"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>

#include "common/simd.hpp"
#include "common/thread_pool.hpp"
#include "common/topk.hpp"

namespace fastrec::ann {

namespace {
constexpr float kInf = std::numeric_limits<float>::infinity();
constexpr size_t kRowBlock = 2048;   // single query: scores of one block stay in L1/L2
constexpr size_t kQueryBlock = 48;   // batch: queries per tile (multiple of the GEMM's 4-row micro-tile)
constexpr size_t kItemBlock = 512;   // batch: items per tile; 48 x 512 scores = 96 KiB
}  // namespace

FlatIndex::FlatIndex(size_t dim, Metric metric) : dim_(dim), metric_(metric) {
  if (dim == 0) throw_invalid("dim: expected a positive integer");
}

void FlatIndex::add(const float* vectors, size_t n) {
  for (size_t i = 0; i < n * dim_; ++i)
    if (!std::isfinite(vectors[i])) throw_invalid("vectors: expected finite numbers but found NaN or Infinity");
  size_t at = data_.size();
  data_.insert(data_.end(), vectors, vectors + n * dim_);
  for (size_t r = 0; r < n; ++r) {
    float* v = data_.data() + at + r * dim_;
    if (metric_ == Metric::Cosine) normalize(v, dim_);
    double s = 0;
    for (size_t j = 0; j < dim_; ++j) s += double(v[j]) * v[j];
    half_norms_.push_back(metric_ == Metric::L2 ? float(0.5 * s) : 0.0f);
  }
  n_ += n;
}

namespace {
// Score (bigger is better) -> reported distance.
float to_distance(Metric m, float score, float q_norm_sq) {
  return m == Metric::L2 ? std::max(0.0f, q_norm_sq - 2.0f * score) : 1.0f - score;
}
}  // namespace

size_t FlatIndex::search(const float* query, size_t k, uint32_t* labels, float* distances, size_t threads) const {
  if (k == 0 || n_ == 0) return 0;
  std::vector<float> q(query, query + dim_);
  if (metric_ == Metric::Cosine) normalize(q.data(), dim_);
  float q_norm_sq = 0;
  for (float x : q) q_norm_sq += x * x;
  const auto& kern = simd::kernels();
  const bool l2 = metric_ == Metric::L2;
  size_t nthreads = std::min(resolve_threads(threads), std::max<size_t>(1, n_ / (8 * kRowBlock)));
  std::vector<TopK> tops(nthreads, TopK(k));
  size_t blocks = (n_ + kRowBlock - 1) / kRowBlock;
  parallel_for(blocks, 1, nthreads, [&](size_t b0, size_t b1, size_t slot) {
    float scores[kRowBlock];
    TopK& top = tops[slot];
    for (size_t b = b0; b < b1; ++b) {
      size_t r0 = b * kRowBlock, rows = std::min(kRowBlock, n_ - r0);
      kern.gemv(data_.data() + r0 * dim_, rows, dim_, dim_, q.data(), scores);
      if (l2)
        for (size_t i = 0; i < rows; ++i) scores[i] -= half_norms_[r0 + i];
      float th = top.threshold();
      for (size_t i = 0; i < rows; ++i) {
        if (scores[i] >= th) {
          top.push(scores[i], int32_t(r0 + i));
          th = top.threshold();
        }
      }
    }
  });
  TopK merged(k);
  for (auto& t : tops)
    for (const ScoredId& s : t.take_sorted()) merged.push(s.score, s.id);
  std::vector<ScoredId> best = merged.take_sorted();
  for (size_t i = 0; i < best.size(); ++i) {
    labels[i] = uint32_t(best[i].id);
    if (distances) distances[i] = to_distance(metric_, best[i].score, q_norm_sq);
  }
  return best.size();
}

void FlatIndex::search_many(const float* queries, size_t nq, size_t k, uint32_t* labels, float* distances,
                            size_t threads, const CancelToken* cancel) const {
  const auto& kern = simd::kernels();
  const bool l2 = metric_ == Metric::L2;
  size_t qblocks = (nq + kQueryBlock - 1) / kQueryBlock;
  parallel_for(qblocks, 1, resolve_threads(threads), [&](size_t b0, size_t b1, size_t) {
    std::vector<float> qbuf(kQueryBlock * dim_);
    std::vector<float> tile(kQueryBlock * kItemBlock);
    std::vector<TopK> tops(kQueryBlock, TopK(k));
    std::vector<float> qn(kQueryBlock);
    for (size_t b = b0; b < b1; ++b) {
      if (cancel) cancel->throw_if_cancelled();
      size_t q0 = b * kQueryBlock, qb = std::min(kQueryBlock, nq - q0);
      std::memcpy(qbuf.data(), queries + q0 * dim_, qb * dim_ * sizeof(float));
      for (size_t r = 0; r < qb; ++r) {
        float* v = qbuf.data() + r * dim_;
        if (metric_ == Metric::Cosine) normalize(v, dim_);
        float s = 0;
        for (size_t j = 0; j < dim_; ++j) s += v[j] * v[j];
        qn[r] = s;
        tops[r].reset(k);
      }
      for (size_t i0 = 0; i0 < n_; i0 += kItemBlock) {
        size_t ib = std::min(kItemBlock, n_ - i0);
        kern.gemm_nt(qbuf.data(), qb, dim_, data_.data() + i0 * dim_, ib, dim_, dim_, tile.data(), kItemBlock);
        const float* hn = half_norms_.data() + i0;
        for (size_t r = 0; r < qb; ++r) {
          float* row = tile.data() + r * kItemBlock;
          TopK& top = tops[r];
          float th = top.threshold();
          for (size_t i = 0; i < ib; ++i) {
            float s = l2 ? row[i] - hn[i] : row[i];
            if (s >= th) {
              top.push(s, int32_t(i0 + i));
              th = top.threshold();
            }
          }
        }
      }
      for (size_t r = 0; r < qb; ++r) {
        std::vector<ScoredId> best = tops[r].take_sorted();
        uint32_t* lo = labels + (q0 + r) * k;
        float* dout = distances + (q0 + r) * k;
        for (size_t i = 0; i < k; ++i) {
          if (i < best.size()) {
            lo[i] = uint32_t(best[i].id);
            dout[i] = to_distance(metric_, best[i].score, qn[r]);
          } else {
            lo[i] = 0xFFFFFFFFu;
            dout[i] = kInf;
          }
        }
      }
    }
  });
}

}  // namespace fastrec::ann
