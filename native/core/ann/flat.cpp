#include "ann/flat.hpp"

#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstring>
#include <limits>
#include <mutex>
#include <new>
#include <numeric>
#include <random>

#include "ann/ball_partition.hpp"
#include "common/thread_pool.hpp"
#include "common/topk.hpp"

namespace fastrec::ann {

namespace {
constexpr float kInf = std::numeric_limits<float>::infinity();
constexpr float kNaN = std::numeric_limits<float>::quiet_NaN();
constexpr uint32_t kNoLabel = 0xFFFFFFFFu;
constexpr size_t kQueryChunk = 96;            // batch: queries per work item (16 AVX2 register tiles)
constexpr size_t kBoundsBatch = 4096;         // batch: queries whose block bounds are held at once
constexpr size_t kSeedBlocks = 8;             // one query: highest-bound blocks scanned before the rest are sorted
constexpr size_t kBatchSeedBlocks = 3;        // batch: the same per query, before the chunk's shared order
constexpr size_t kSlotsPerThread = 1 << 14;   // one query: one thread per 16,384 items to scan

// Rounding error of a float dot product of length d (bias included), with or
// without fused multiply-adds: |fl(s) - s| <= gamma_{2d+4} * sum |terms| (Higham, ch. 3).
double gamma_of(size_t d) {
  const double u = std::ldexp(1.0, -24), n = 2.0 * double(d) + 4.0;
  return 1.1 * n * u / (1.0 - n * u);
}

// Score (bigger is better) -> reported distance.
float to_distance(Metric m, float score, float q_norm_sq) {
  return m == Metric::L2 ? std::max(0.0f, q_norm_sq - 2.0f * score) : 1.0f - score;
}

double sum_sq(const float* v, size_t d) {
  double s = 0;
  for (size_t j = 0; j < d; ++j) s += double(v[j]) * v[j];
  return s;
}

// Items (row-major) -> panel layout with per-slot bias; padding slots get NaN.
void write_panels(const float* rows, size_t n, size_t dim, float* panels, float* bias, const float* row_bias) {
  size_t np = (n + kPanel - 1) / kPanel;
  for (size_t i = 0; i < n; ++i) {
    float* panel = panels + (i / kPanel) * kPanel * dim;
    for (size_t p = 0; p < dim; ++p) panel[p * kPanel + i % kPanel] = rows[i * dim + p];
    bias[i] = row_bias ? row_bias[i] : 0.0f;
  }
  for (size_t i = n; i < np * kPanel; ++i) bias[i] = kNaN;
}

}  // namespace

struct ExactQueries {
  size_t dim;
  std::vector<float> q;          // n x dim, normalized for cosine
  std::vector<float> norm_sq;    // float, as the reported l2 distance uses it
  std::vector<double> norm, norm2;

  ExactQueries(const float* src, size_t n, size_t d, Metric m) : dim(d), q(src, src + n * d), norm_sq(n), norm(n), norm2(n) {
    for (size_t r = 0; r < n; ++r) {
      float* v = q.data() + r * d;
      if (m == Metric::Cosine) normalize(v, d);
      float s = 0;
      for (size_t j = 0; j < d; ++j) s += v[j] * v[j];
      norm_sq[r] = s;
      norm2[r] = sum_sq(v, d);
      norm[r] = std::sqrt(norm2[r]);
    }
  }
  const float* row(size_t r) const { return q.data() + r * dim; }
};

void AlignedFloats::resize(size_t n) {
  if (n > cap_) {
    size_t cap = (std::max(n, cap_ * 2) + 15) / 16 * 16;  // aligned_alloc wants a multiple of 64 bytes
    float* p = static_cast<float*>(std::aligned_alloc(64, cap * sizeof(float)));
    if (!p) throw std::bad_alloc();
    if (n_) std::memcpy(p, p_, n_ * sizeof(float));
    std::free(p_);
    p_ = p;
    cap_ = cap;
  }
  if (n > n_) std::memset(p_ + n_, 0, (n - n_) * sizeof(float));
  n_ = n;
}

FlatIndex::FlatIndex(size_t dim, Metric metric) : dim_(dim), metric_(metric) {
  if (dim == 0) throw_invalid("dim: expected a positive integer");
}

size_t FlatIndex::memory_bytes() const {
  std::shared_lock lock(mutex_);
  return panels_.capacity() * 4 + bias_.capacity() * 4 + label_.capacity() * 4 + slot_of_.capacity() * 8 +
         centre_panels_.capacity() * 4 +
         centre_bias_.capacity() * 4 + blocks_.capacity() * sizeof(Block) + units_.capacity() * sizeof(Unit);
}

size_t FlatIndex::blocks() const {
  std::shared_lock lock(mutex_);
  return bounded_;
}

void FlatIndex::append_panel() {
  panels_.resize(panels_.size() + kPanel * dim_);
  bias_.resize(bias_.size() + kPanel, kNaN);
  label_.resize(label_.size() + kPanel, kNoLabel);
}

void FlatIndex::rebuild_units() {
  units_.clear();
  block_units_.clear();
  for (size_t b = 0; b < blocks_.size(); ++b) {
    block_units_.push_back(uint32_t(units_.size()));
    for (size_t p = 0; p < blocks_[b].npanels; p += kUnitPanels)
      units_.push_back(Unit{blocks_[b].panel0 + p, std::min(kUnitPanels, blocks_[b].npanels - p), uint32_t(b)});
  }
  block_units_.push_back(uint32_t(units_.size()));
}

void FlatIndex::add(const float* vectors, size_t n) {
  for (size_t i = 0; i < n * dim_; ++i)
    if (!std::isfinite(vectors[i])) throw_invalid("vectors: expected finite numbers but found NaN or Infinity");
  std::unique_lock lock(mutex_);
  if (n_ + n >= size_t(kNoLabel) / 2) throw_invalid("vectors: the index holds at most 2^31 - 1 items");
  std::vector<float> v(dim_);
  for (size_t r = 0; r < n; ++r) {
    std::copy_n(vectors + r * dim_, dim_, v.data());
    if (metric_ == Metric::Cosine) normalize(v.data(), dim_);
    // New items go to unbounded tail blocks of at most one work unit each.
    if (blocks_.empty() || blocks_.back().bounded || blocks_.back().count == kUnitPanels * kPanel) {
      Block b;
      b.panel0 = label_.size() / kPanel;
      blocks_.push_back(b);
    }
    Block& b = blocks_.back();
    if (b.count == b.npanels * kPanel) {
      append_panel();
      ++b.npanels;
    }
    size_t slot = b.panel0 * kPanel + b.count++;
    float* panel = panels_.data() + (slot / kPanel) * kPanel * dim_;
    for (size_t p = 0; p < dim_; ++p) panel[p * kPanel + slot % kPanel] = v[p];
    bias_[slot] = metric_ == Metric::L2 ? float(-0.5 * sum_sq(v.data(), dim_)) : 0.0f;
    label_[slot] = uint32_t(n_ + r);
    slot_of_.push_back(slot);
  }
  n_ += n;
  rebuild_units();
}

std::vector<float> FlatIndex::rows_in_label_order() const {
  std::vector<float> rows(n_ * dim_);
  for (size_t s = 0; s < label_.size(); ++s) {
    if (label_[s] == kNoLabel) continue;
    const float* panel = panels_.data() + (s / kPanel) * kPanel * dim_;
    float* out = rows.data() + size_t(label_[s]) * dim_;
    for (size_t p = 0; p < dim_; ++p) out[p] = panel[p * kPanel + s % kPanel];
  }
  return rows;
}

void FlatIndex::partition(size_t block_size, size_t threads, const CancelToken* cancel, uint32_t seed) {
  if (block_size < kPanel) throw_invalid("blockSize: expected at least 16 items per block");
  std::unique_lock lock(mutex_);
  if (n_ == 0) return;
  threads = resolve_threads(threads);
  const size_t d = dim_;
  std::vector<float> rows = rows_in_label_order();

  // Blocks: the leaves of a ball tree (ball_partition.hpp). Any partition keeps
  // the search exact; a tight one only makes it prune more.
  BallPartition part = ball_partition(rows.data(), n_, d, block_size, threads, cancel, seed);
  const std::vector<uint32_t>& members = part.order;
  const std::vector<size_t>& start = part.start;
  const size_t nc = start.size() - 1;
  size_t total_panels = 0;
  for (size_t c = 0; c < nc; ++c) total_panels += (start[c + 1] - start[c] + kPanel - 1) / kPanel;

  AlignedFloats panels;
  panels.resize(total_panels * kPanel * d);
  std::vector<float> bias(total_panels * kPanel, kNaN);
  std::vector<uint32_t> label(total_panels * kPanel, kNoLabel);
  std::vector<Block> blocks;
  std::vector<float> block_centres;
  std::vector<float> xs, xb;
  size_t panel0 = 0;
  for (size_t c = 0; c < nc; ++c) {
    size_t cnt = start[c + 1] - start[c];
    if (!cnt) continue;
    xs.resize(cnt * d);
    xb.resize(cnt);
    std::vector<double> mean(d, 0.0);
    for (size_t i = 0; i < cnt; ++i) {
      uint32_t l = members[start[c] + i];
      const float* x = rows.data() + (start[c] + i) * d;  // ball_partition reordered the rows
      std::copy_n(x, d, xs.data() + i * d);
      // the same arithmetic as add(), so scores do not change with the layout
      xb[i] = metric_ == Metric::L2 ? float(-0.5 * sum_sq(x, d)) : 0.0f;
      label[panel0 * kPanel + i] = l;
      for (size_t j = 0; j < d; ++j) mean[j] += x[j];
    }
    write_panels(xs.data(), cnt, d, panels.data() + panel0 * kPanel * d, bias.data() + panel0 * kPanel, xb.data());
    Block b;
    b.panel0 = panel0;
    b.npanels = (cnt + kPanel - 1) / kPanel;
    b.count = cnt;
    b.bounded = true;
    std::vector<float> centre(d);
    for (size_t j = 0; j < d; ++j) centre[j] = float(mean[j] / double(cnt));
    b.centre_norm = std::sqrt(sum_sq(centre.data(), d));
    b.min_half_norm = std::numeric_limits<double>::infinity();
    for (size_t i = 0; i < cnt; ++i) {
      const float* x = xs.data() + i * d;
      double r2 = 0;
      for (size_t j = 0; j < d; ++j) r2 += (double(x[j]) - centre[j]) * (double(x[j]) - centre[j]);
      double xn2 = sum_sq(x, d);
      b.radius = std::max(b.radius, std::sqrt(r2));
      b.max_norm = std::max(b.max_norm, std::sqrt(xn2));
      b.min_half_norm = std::min(b.min_half_norm, -double(xb[i]));
      b.max_abs_bias = std::max(b.max_abs_bias, std::fabs(double(xb[i])));
    }
    if (metric_ != Metric::L2) b.min_half_norm = 0;
    blocks.push_back(b);
    block_centres.insert(block_centres.end(), centre.begin(), centre.end());
    panel0 += b.npanels;
  }
  size_t nb = blocks.size();
  size_t ncp = (nb + kPanel - 1) / kPanel;
  centre_panels_ = AlignedFloats();
  centre_panels_.resize(ncp * kPanel * d);
  centre_bias_.assign(ncp * kPanel, 0.0f);
  write_panels(block_centres.data(), nb, d, centre_panels_.data(), centre_bias_.data(), nullptr);

  bound_cn_.clear();
  bound_r_.clear();
  bound_minhn_.clear();
  bound_maxn_.clear();
  bound_mab_.clear();
  for (const Block& b : blocks) {
    bound_cn_.push_back(b.centre_norm);
    bound_r_.push_back(b.radius);
    bound_minhn_.push_back(b.min_half_norm);
    bound_maxn_.push_back(b.max_norm);
    bound_mab_.push_back(b.max_abs_bias);
  }
  panels_ = std::move(panels);
  bias_ = std::move(bias);
  label_ = std::move(label);
  blocks_ = std::move(blocks);
  bounded_ = nb;
  for (size_t slot = 0; slot < label_.size(); ++slot)
    if (label_[slot] != kNoLabel) slot_of_[label_[slot]] = slot;
  rebuild_units();
}

void FlatIndex::block_bounds(const ExactQueries& Q, size_t r0, size_t nq, float* out) const {
  const size_t nb = blocks_.size();
  const size_t ncp = (bounded_ + kPanel - 1) / kPanel;
  const double g = gamma_of(dim_);
  // <q, c> for every query and centre: one register-blocked pass (a single
  // query streams the centres instead of filling a tile with copies of itself).
  const size_t ldq = ncp * kPanel;
  std::vector<float> qcs(nq * ldq);
  if (bounded_ && nq == 1) {
    std::vector<ExactHit> hits(ldq);
    size_t nh = exact_kernels().scan_one(Q.row(r0), -kInf, centre_panels_.data(), centre_bias_.data(), ncp, dim_,
                                         hits.data());
    for (size_t h = 0; h < nh; ++h) qcs[hits[h].slot] = hits[h].score;
  } else if (bounded_) {
    std::vector<const float*> ptr(nq);
    for (size_t r = 0; r < nq; ++r) ptr[r] = Q.row(r0 + r);
    exact_kernels().dense(ptr.data(), nq, centre_panels_.data(), centre_bias_.data(), ncp, dim_, qcs.data(), ldq);
  }
  // Per-block terms as plain arrays: a branch-free loop per query.
  const double *cn = bound_cn_.data(), *rad = bound_r_.data(), *mhn = bound_minhn_.data(), *mxn = bound_maxn_.data(),
               *mab = bound_mab_.data();
  const bool l2 = metric_ == Metric::L2;
  for (size_t r = 0; r < nq; ++r) {
    float* o = out + r * nb;
    const float* qc = qcs.data() + r * ldq;
    const double qn = Q.norm[r0 + r], qn2 = Q.norm2[r0 + r];
    for (size_t bi = 0; bi < bounded_; ++bi) {
      // <q, c> as the float kernel computed it, raised by its rounding error bound.
      double qc_hi = double(qc[bi]) + g * qn * cn[bi];
      double ub = qc_hi + qn * rad[bi] - mhn[bi];
      if (l2) {
        double d2 = qn2 - 2.0 * qc_hi + cn[bi] * cn[bi];  // a lower bound of |q - c|^2
        double dl = std::sqrt(std::max(0.0, d2)) - rad[bi];
        ub = std::min(ub, dl > 0 ? 0.5 * (qn2 - dl * dl) : ub);
      }
      // Rounding of the items' own float scores, and of this double arithmetic.
      ub += g * (qn * mxn[bi] + mab[bi]) + 1e-12 * (std::fabs(ub) + qn2 + qn * (cn[bi] + rad[bi]) + mab[bi]);
      // To float, rounded up: float(y) >= y (1 - 2^-24) >= ub for this y.
      o[bi] = float(ub + std::fabs(ub) * 0x1p-22 + 1e-30);
    }
    for (size_t bi = bounded_; bi < nb; ++bi) o[bi] = kInf;
  }
}

ExactFilter FlatIndex::make_filter(const int32_t* allow, size_t n_allow, const int32_t* deny, size_t n_deny) const {
  std::shared_lock lock(mutex_);
  ExactFilter f;
  f.has_allow = allow != nullptr;
  f.bits.assign((n_ + 63) / 64, f.has_allow ? 0 : ~uint64_t(0));
  auto check = [&](int32_t l, const char* name) {
    if (l < 0 || size_t(l) >= n_)
      throw_invalid(std::string(name) + ": expected labels in [0, " + std::to_string(n_) + ") but found " +
                    std::to_string(l));
    return uint32_t(l);
  };
  for (size_t i = 0; i < n_allow; ++i) {
    uint32_t l = check(allow[i], "allow");
    f.bits[l >> 6] |= uint64_t(1) << (l & 63);
  }
  for (size_t i = 0; i < n_deny; ++i) {
    uint32_t l = check(deny[i], "deny");
    f.bits[l >> 6] &= ~(uint64_t(1) << (l & 63));
  }
  if (!f.has_allow && n_ % 64) f.bits.back() &= (uint64_t(1) << (n_ % 64)) - 1;
  for (uint64_t w : f.bits) f.allowed += size_t(__builtin_popcountll(w));
  if (f.has_allow)
    for (size_t l = 0; l < n_; ++l)
      if (f.pass(uint32_t(l))) f.allowed_list.push_back(uint32_t(l));
  return f;
}

void FlatIndex::gather(const std::vector<uint32_t>& labels, FlatIndex& out) const {
  out.n_ = labels.size();
  size_t np = (labels.size() + kPanel - 1) / kPanel;
  out.panels_.resize(np * kPanel * dim_);
  out.bias_.assign(np * kPanel, kNaN);
  out.label_.assign(np * kPanel, kNoLabel);
  for (size_t i = 0; i < labels.size(); ++i) {
    size_t s = slot_of_[labels[i]];
    const float* src = panels_.data() + (s / kPanel) * kPanel * dim_ + s % kPanel;
    float* dst = out.panels_.data() + (i / kPanel) * kPanel * dim_ + i % kPanel;
    for (size_t p = 0; p < dim_; ++p) dst[p * kPanel] = src[p * kPanel];
    out.bias_[i] = bias_[s];
    out.label_[i] = labels[i];
  }
  for (size_t p0 = 0; p0 < np; p0 += kUnitPanels) {
    Block b;
    b.panel0 = p0;
    b.npanels = std::min(kUnitPanels, np - p0);
    b.count = std::min(b.npanels * kPanel, labels.size() - p0 * kPanel);
    out.blocks_.push_back(b);
  }
  out.rebuild_units();
}

size_t FlatIndex::search(const float* query, size_t k, uint32_t* labels, float* distances, size_t threads,
                         bool prune, ExactStats* stats, const ExactFilter* filter) const {
  std::shared_lock lock(mutex_);
  if (k == 0 || n_ == 0) return 0;
  if (filter && filter->has_allow && filter->allowed * kSelective <= n_) {
    // A selective allow-list: score just those items (same floats, same scores).
    FlatIndex sub(dim_, metric_);
    gather(filter->allowed_list, sub);
    lock.unlock();
    return sub.search(query, k, labels, distances, threads, false, stats);
  }
  const ExactQueries Q(query, 1, dim_, metric_);
  const ExactKernels& K = exact_kernels();
  const bool use_bounds = prune && bounded_ > 0;
  std::vector<float> ub(blocks_.size(), kInf);
  std::atomic<uint64_t> scored{0}, visited{0};
  thread_local std::vector<ExactHit> seed_hits;
  seed_hits.resize(kUnitPanels * kPanel);
  // Score unit u into top with threshold thr.
  auto scan_unit = [&](const Unit& u, TopK& top, float thr, std::vector<ExactHit>& hits) {
    size_t nh = K.scan_one(Q.row(0), thr, panels_.data() + u.panel0 * kPanel * dim_, bias_.data() + u.panel0 * kPanel,
                           u.npanels, dim_, hits.data());
    const uint32_t* lab = label_.data() + u.panel0 * kPanel;
    for (size_t h = 0; h < nh; ++h)
      if (!filter || filter->pass(lab[hits[h].slot])) top.push(hits[h].score, int32_t(lab[hits[h].slot]));
  };
  TopK seed(k);
  std::vector<uint32_t> order;  // units to visit
  if (use_bounds) {
    block_bounds(Q, 0, 1, ub.data());
    // Seed with the few blocks of highest bound; then only units that can beat
    // their k-th score are kept, highest bound first (the threshold rises
    // fastest and later units drop out). A good seed keeps that list short.
    std::vector<uint32_t> top_blocks(bounded_);
    std::iota(top_blocks.begin(), top_blocks.end(), 0u);
    const size_t nseed = std::min<size_t>(kSeedBlocks, bounded_);
    auto higher = [&](uint32_t a, uint32_t b) { return ub[a] > ub[b] || (ub[a] == ub[b] && a < b); };
    std::partial_sort(top_blocks.begin(), top_blocks.begin() + nseed, top_blocks.end(), higher);
    std::vector<char> seeded(blocks_.size(), 0);
    for (size_t si = 0; si < nseed; ++si) {
      uint32_t b = top_blocks[si];
      if (seed.size() == k && ub[b] < seed.threshold()) break;
      seeded[b] = 1;
      for (uint32_t ui = block_units_[b]; ui < block_units_[b + 1]; ++ui) {
        const Unit& u = units_[ui];
        scan_unit(u, seed, seed.threshold(), seed_hits);
        scored += u.npanels * kPanel;
        ++visited;
      }
    }
    const float thr0 = seed.threshold();
    for (size_t i = 0; i < units_.size(); ++i)
      if (!seeded[units_[i].block] && ub[units_[i].block] >= thr0) order.push_back(uint32_t(i));
    std::sort(order.begin(), order.end(), [&](uint32_t a, uint32_t b) {
      float ua = ub[units_[a].block], ubb = ub[units_[b].block];
      return ua > ubb || (ua == ubb && a < b);
    });
  } else {
    order.resize(units_.size());
    std::iota(order.begin(), order.end(), 0u);
  }
  size_t slots = 0;
  for (uint32_t i : order) slots += units_[i].npanels * kPanel;
  const size_t nu = order.size();
  size_t nthreads = std::min(resolve_threads(threads), std::max<size_t>(1, slots / kSlotsPerThread));
  std::vector<TopK> tops(nthreads, TopK(k));
  // The best k-th score any thread has seen: a lower bound of the final one.
  std::atomic<float> shared{seed.threshold()};
  parallel_for(nu, 1, nthreads, [&](size_t b0, size_t b1, size_t slot) {
    thread_local std::vector<ExactHit> hits;
    hits.resize(kUnitPanels * kPanel);
    TopK& top = tops[slot];
    uint64_t my_scored = 0, my_units = 0;
    for (size_t i = b0; i < b1; ++i) {
      const Unit& u = units_[order[i]];
      float thr = std::max(top.threshold(), shared.load(std::memory_order_relaxed));
      if (ub[u.block] < thr) continue;
      if (i + 1 < b1) {  // units are small and scattered: start fetching the next one
        const char* next = reinterpret_cast<const char*>(panels_.data() + units_[order[i + 1]].panel0 * kPanel * dim_);
        for (size_t line = 0; line < 16; ++line) __builtin_prefetch(next + line * 64);
      }
      scan_unit(u, top, thr, hits);
      my_scored += u.npanels * kPanel;
      ++my_units;
      if (top.size() == k) {
        float t = top.threshold(), cur = shared.load(std::memory_order_relaxed);
        while (t > cur && !shared.compare_exchange_weak(cur, t, std::memory_order_relaxed)) {
        }
      }
    }
    scored += my_scored;
    visited += my_units;
  });
  tops.push_back(std::move(seed));
  TopK merged(k);
  for (auto& t : tops)
    for (const ScoredId& s : t.take_sorted()) merged.push(s.score, s.id);
  std::vector<ScoredId> best = merged.take_sorted();
  for (size_t i = 0; i < best.size(); ++i) {
    labels[i] = uint32_t(best[i].id);
    if (distances) distances[i] = to_distance(metric_, best[i].score, Q.norm_sq[0]);
  }
  if (stats) {
    stats->scored += scored.load();
    stats->units += visited.load();
  }
  return best.size();
}

void FlatIndex::search_many(const float* queries, size_t nq, size_t k, uint32_t* labels, float* distances,
                            size_t threads, const CancelToken* cancel, bool prune, ExactStats* stats,
                            const ExactFilter* filter) const {
  std::shared_lock lock(mutex_);
  for (size_t i = 0; i < nq * k; ++i) {
    labels[i] = kNoLabel;
    distances[i] = kInf;
  }
  if (k == 0 || nq == 0 || n_ == 0) return;
  if (filter && filter->has_allow && filter->allowed * kSelective <= n_) {
    FlatIndex sub(dim_, metric_);
    gather(filter->allowed_list, sub);
    lock.unlock();
    sub.search_many(queries, nq, k, labels, distances, threads, cancel, false, stats);
    return;
  }
  const ExactQueries Q(queries, nq, dim_, metric_);
  const ExactKernels& K = exact_kernels();
  threads = resolve_threads(threads);
  const bool use_bounds = prune && bounded_ > 0;
  const size_t nb = blocks_.size(), nu = units_.size();
  std::atomic<uint64_t> scored{0}, visited{0};
  const size_t batch = use_bounds ? kBoundsBatch : nq;

  for (size_t s0 = 0; s0 < nq; s0 += batch) {
    const size_t sb = std::min(batch, nq - s0);
    std::unique_ptr<float[]> U;            // sb x nb upper bounds (every entry written: no zero fill)
    std::vector<uint32_t> best(sb, ~0u);   // each query's highest-bound block
    std::vector<uint32_t> qorder(sb);
    std::iota(qorder.begin(), qorder.end(), 0u);
    if (use_bounds) {
      U.reset(new float[sb * nb]);
      size_t chunks = (sb + kQueryChunk - 1) / kQueryChunk;
      parallel_for(chunks, 1, threads, [&](size_t c0, size_t c1, size_t) {
        for (size_t c = c0; c < c1; ++c) {
          size_t r0 = c * kQueryChunk, mr = std::min(kQueryChunk, sb - r0);
          block_bounds(Q, s0 + r0, mr, U.get() + r0 * nb);
          for (size_t r = r0; r < r0 + mr; ++r) {
            const float* u = U.get() + r * nb;
            best[r] = uint32_t(std::max_element(u, u + bounded_) - u);
          }
        }
      });
      // Queries that share their best block share a chunk, so the tiles there stay full.
      std::stable_sort(qorder.begin(), qorder.end(), [&](uint32_t a, uint32_t b) { return best[a] < best[b]; });
    }
    const size_t chunks = (sb + kQueryChunk - 1) / kQueryChunk;
    parallel_for(chunks, 1, threads, [&](size_t c0, size_t c1, size_t) {
      struct Scratch {
        std::vector<TopK> tops;
        std::vector<ExactHit> hits;
        std::vector<float> thr, bkey, ut;
        std::vector<uint32_t> active, uorder, cand, slot_of, top_blocks;
        std::vector<std::pair<uint32_t, uint32_t>> seeds;  // (block, chunk position), sorted
        std::vector<const float*> ptr;
      };
      thread_local Scratch s;  // reused across chunks and calls: no per-chunk allocation
      s.tops.resize(kQueryChunk);
      s.hits.resize(kQueryChunk * kUnitPanels * kPanel);
      s.thr.resize(kQueryChunk);
      s.bkey.resize(nb);
      s.uorder.reserve(nu);
      s.ptr.resize(kQueryChunk);
      if (use_bounds) s.slot_of.resize(nb);
      auto& tops = s.tops;
      auto& hits = s.hits;
      auto& thr = s.thr;
      auto& bkey = s.bkey;
      auto& ut = s.ut;
      auto& cand = s.cand;
      auto& slot_of = s.slot_of;
      auto& top_blocks = s.top_blocks;
      auto& seeds = s.seeds;
      auto& active = s.active;
      auto& uorder = s.uorder;
      auto& ptr = s.ptr;
      uint64_t my_scored = 0, my_units = 0;

      size_t r0 = 0;  // the chunk's first position in qorder
      auto seeded = [&](size_t i, uint32_t b) {  // was block b among query i's seeds
        auto it = std::lower_bound(seeds.begin(), seeds.end(), std::make_pair(b, uint32_t(i)));
        return it != seeds.end() && it->first == b && it->second == i;
      };
      // Score the active queries (chunk positions) against unit u.
      auto run_unit = [&](const Unit& u) {
        size_t na = active.size();
        bool warm = false;
        for (size_t a = 0; a < na; ++a) {
          ptr[a] = Q.row(s0 + qorder[r0 + active[a]]);
          warm |= tops[active[a]].size() < k;
        }
        // While some heap is not full its threshold is -inf and every score
        // would be a hit: score a few panels first to set the thresholds.
        size_t first = warm ? std::min(u.npanels, (k + kPanel - 1) / kPanel + 1) : u.npanels;
        for (size_t p0 = 0; p0 < u.npanels;) {
          size_t np = p0 == 0 ? first : u.npanels - p0;
          for (size_t a = 0; a < na; ++a) thr[a] = tops[active[a]].threshold();
          size_t slot0 = (u.panel0 + p0) * kPanel;
          size_t nh = K.scan(ptr.data(), na, thr.data(), panels_.data() + slot0 * dim_, bias_.data() + slot0, np, dim_,
                             hits.data());
          for (size_t h = 0; h < nh; ++h) {
            uint32_t l = label_[slot0 + hits[h].slot];
            if (!filter || filter->pass(l)) tops[active[hits[h].query]].push(hits[h].score, int32_t(l));
          }
          my_scored += na * np * kPanel;
          p0 += np;
        }
        ++my_units;
      };

      for (size_t c = c0; c < c1; ++c) {
        if (cancel) cancel->throw_if_cancelled();
        r0 = c * kQueryChunk;
        const size_t mr = std::min(kQueryChunk, sb - r0);
        for (size_t i = 0; i < mr; ++i) tops[i].reset(k);
        uorder.clear();
        if (use_bounds) {
          // Seed: each query's few highest-bound blocks first, queries that share
          // a block together (one run of the kernel per block).
          seeds.clear();
          for (size_t i = 0; i < mr; ++i) {
            const float* u = U.get() + size_t(qorder[r0 + i]) * nb;
            top_blocks.resize(bounded_);
            std::iota(top_blocks.begin(), top_blocks.end(), 0u);
            const size_t ns = std::min(kBatchSeedBlocks, bounded_);
            std::partial_sort(top_blocks.begin(), top_blocks.begin() + ns, top_blocks.end(),
                              [&](uint32_t a, uint32_t b) { return u[a] > u[b] || (u[a] == u[b] && a < b); });
            for (size_t j = 0; j < ns; ++j) seeds.push_back({top_blocks[j], uint32_t(i)});
          }
          std::sort(seeds.begin(), seeds.end());
          for (size_t i = 0; i < seeds.size();) {
            size_t j = i;
            active.clear();
            while (j < seeds.size() && seeds[j].first == seeds[i].first) active.push_back(seeds[j++].second);
            uint32_t b = seeds[i].first;
            for (uint32_t ui = block_units_[b]; ui < block_units_[b + 1]; ++ui) run_unit(units_[ui]);
            i = j;
          }
          // Highest bound over the chunk per block (rows streamed, vectorizable);
          // only blocks above the lowest threshold can matter to anyone.
          float min_thr = kInf;
          for (size_t i = 0; i < mr; ++i) min_thr = std::min(min_thr, tops[i].threshold());
          std::fill(bkey.begin(), bkey.end(), -kInf);
          for (size_t i = 0; i < mr; ++i) {
            const float* u = U.get() + size_t(qorder[r0 + i]) * nb;
            for (size_t b = 0; b < nb; ++b) bkey[b] = bkey[b] < u[b] ? u[b] : bkey[b];
          }
          // Their bounds block-major (ut[pos * mr + i]): the per-unit test reads one short row.
          cand.clear();
          for (size_t b = 0; b < nb; ++b)
            if (bkey[b] >= min_thr) {
              slot_of[b] = uint32_t(cand.size());
              cand.push_back(uint32_t(b));
              for (uint32_t ui = block_units_[b]; ui < block_units_[b + 1]; ++ui) uorder.push_back(ui);
            }
          if (ut.size() < cand.size() * mr) ut.resize(cand.size() * mr);
          for (size_t i = 0; i < mr; ++i) {
            const float* u = U.get() + size_t(qorder[r0 + i]) * nb;
            for (size_t c = 0; c < cand.size(); ++c) ut[c * mr + i] = u[cand[c]];
          }
          std::sort(uorder.begin(), uorder.end(), [&](uint32_t a, uint32_t b) {
            float ka = bkey[units_[a].block], kb = bkey[units_[b].block];
            return ka > kb || (ka == kb && a < b);
          });
        } else {
          uorder.resize(nu);
          std::iota(uorder.begin(), uorder.end(), 0u);
        }
        float min_thr = kInf;  // units come by decreasing bkey: once below every threshold, none is left
        for (size_t i = 0; i < mr; ++i) min_thr = std::min(min_thr, tops[i].threshold());
        for (size_t pos = 0; pos < uorder.size(); ++pos) {
          const Unit& u = units_[uorder[pos]];
          if (use_bounds && bkey[u.block] < min_thr) {
            min_thr = kInf;
            for (size_t i = 0; i < mr; ++i) min_thr = std::min(min_thr, tops[i].threshold());
            if (bkey[u.block] < min_thr) break;
          }
          active.clear();
          if (use_bounds) {
            const float* ub = ut.data() + size_t(slot_of[u.block]) * mr;
            for (size_t i = 0; i < mr; ++i)
              if (ub[i] >= tops[i].threshold() && !seeded(i, u.block)) active.push_back(uint32_t(i));
          } else {
            for (size_t i = 0; i < mr; ++i) active.push_back(uint32_t(i));
          }
          if (!active.empty()) run_unit(u);
        }
        for (size_t i = 0; i < mr; ++i) {
          size_t q = s0 + qorder[r0 + i];
          std::vector<ScoredId> top = tops[i].take_sorted();
          for (size_t j = 0; j < top.size(); ++j) {
            labels[q * k + j] = uint32_t(top[j].id);
            distances[q * k + j] = to_distance(metric_, top[j].score, Q.norm_sq[q]);
          }
        }
      }
      scored += my_scored;
      visited += my_units;
    });
  }
  if (stats) {
    stats->scored += scored.load();
    stats->units += visited.load();
  }
}

}  // namespace fastrec::ann
