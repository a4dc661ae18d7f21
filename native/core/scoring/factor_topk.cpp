#include "scoring/factor_topk.hpp"

#include <algorithm>
#include <atomic>
#include <cmath>
#include <limits>
#include <string>
#include <vector>

#include "common/error.hpp"
#include "common/simd.hpp"
#include "common/thread_pool.hpp"
#include "common/topk.hpp"

namespace fastrec {
namespace {

constexpr float kNegInf = -std::numeric_limits<float>::infinity();
constexpr float kSkip = std::numeric_limits<float>::quiet_NaN();  // TopK ignores NaN

// The items a query may return, as "candidate positions": either every item
// (position = item index) or the include list (position = index in it).
struct Candidates {
  const int32_t* ids = nullptr;  // null: identity
  size_t n = 0;
  int32_t item(size_t pos) const { return ids ? ids[pos] : static_cast<int32_t>(pos); }
  // Position of an item, or -1 when it is not a candidate.
  int64_t position(int32_t item) const {
    if (!ids) return (item >= 0 && static_cast<size_t>(item) < n) ? item : -1;
    const int32_t* it = std::lower_bound(ids, ids + n, item);
    return (it != ids + n && *it == item) ? it - ids : -1;
  }
};

Candidates candidates_of(const ItemFilter& f, size_t n_items) {
  Candidates c;
  if (f.n_include > 0) {
    c.ids = f.include;
    c.n = f.n_include;
  } else {
    c.n = n_items;
  }
  return c;
}

// Sorted candidate positions of a sorted item list (items that are not candidates are dropped).
void positions_of(const Candidates& c, const int32_t* items, size_t n, std::vector<int64_t>& out) {
  out.clear();
  for (size_t i = 0; i < n; ++i) {
    int64_t p = c.position(items[i]);
    if (p >= 0) out.push_back(p);
  }
}

void check_filter(const ItemFilter& f, size_t n_items) {
  for (size_t i = 0; i < f.n_include; ++i)
    if (f.include[i] < 0 || static_cast<size_t>(f.include[i]) >= n_items || (i > 0 && f.include[i] <= f.include[i - 1]))
      throw_invalid("include: expected sorted unique item indices in [0, " + std::to_string(n_items) + ")");
  for (size_t i = 0; i < f.n_exclude; ++i)
    if (i > 0 && f.exclude[i] <= f.exclude[i - 1]) throw_invalid("exclude: expected sorted unique item indices");
}

// Whether a query scans `order` first (scoring/norm_scan.hpp): one that fits these factors, and no include list.
bool uses_scan(const NormOrder* order, const ItemFilter& filter, size_t n_items, size_t dim) {
  return filter.n_include == 0 && order_applies(order, n_items, dim);
}

// One user's scan into `top` (of the wanted k, empty); false when the order's head did not settle it. It ranks
// by the floats factor_topk_one's full scoring computes: gemv scores the rows of its four-row blocks one way and
// the last n_items % 4 rows through dot (other rounding), so the scan takes its head gemv's value for the former
// and dot for the latter.
bool scan_user(const float* user, const float* items, size_t n_items, size_t dim, const float* item_bias,
               const int32_t* seen, size_t n_seen, const ItemFilter& filter, const NormOrder& order, TopK& top) {
  const simd::Kernels& K = simd::kernels();
  const size_t n4 = n_items / 4 * 4;
  auto score = [&](int32_t item, float quick) {
    if (std::binary_search(seen, seen + n_seen, item) ||
        std::binary_search(filter.exclude, filter.exclude + filter.n_exclude, item))
      return kSkip;
    if (size_t(item) < n4) return quick;
    const float s = K.dot(user, items + size_t(item) * dim, dim);
    return item_bias ? s + item_bias[item] : s;
  };
  const double slack = double(dim + 2) * 0x1p-23;
  return scan_by_norm(order, user, item_bias, augmented_norm(user, dim, item_bias != nullptr), slack, score, top);
}

}  // namespace

size_t factor_topk_one(const float* user, const float* items, size_t n_items, size_t dim, const float* item_bias,
                       const int32_t* seen, size_t n_seen, const ItemFilter& filter, size_t k, int32_t* out_ids,
                       float* out_scores, const NormOrder* order, bool* settled_by_scan) {
  check_filter(filter, n_items);
  if (settled_by_scan) *settled_by_scan = false;
  const simd::Kernels& K = simd::kernels();
  if (uses_scan(order, filter, n_items, dim)) {
    TopK top(k);
    if (scan_user(user, items, n_items, dim, item_bias, seen, n_seen, filter, *order, top)) {
      if (settled_by_scan) *settled_by_scan = true;
      return top.write_sorted(out_ids, out_scores);
    }
  }
  Candidates cand = candidates_of(filter, n_items);
  thread_local std::vector<float> scores;
  scores.resize(cand.n);
  if (cand.ids) {
    for (size_t p = 0; p < cand.n; ++p) scores[p] = K.dot(user, items + static_cast<size_t>(cand.ids[p]) * dim, dim);
  } else {
    K.gemv(items, n_items, dim, dim, user, scores.data());
  }
  if (item_bias)
    for (size_t p = 0; p < cand.n; ++p) scores[p] += item_bias[cand.item(p)];
  for (size_t i = 0; i < n_seen; ++i) {
    int64_t p = cand.position(seen[i]);
    if (p >= 0) scores[p] = kSkip;
  }
  for (size_t i = 0; i < filter.n_exclude; ++i) {
    int64_t p = cand.position(filter.exclude[i]);
    if (p >= 0) scores[p] = kSkip;
  }
  TopK top(k);
  for (size_t p = 0; p < cand.n; ++p)
    if (scores[p] >= top.threshold()) top.push(scores[p], static_cast<int32_t>(p));
  size_t count = top.write_sorted(out_ids, out_scores);
  for (size_t i = 0; i < count; ++i) out_ids[i] = cand.item(out_ids[i]);
  return count;
}

namespace {

// The batch by blocked GEMM: blocks of users times blocks of items straight into per-user heaps. Progress
// counts from `done_before`.
void gemm_topk(const float* users, const int32_t* rows, size_t n, const float* items, size_t n_items, size_t dim,
               const float* item_bias, const CsrView* seen, const ItemFilter& filter, size_t k, int32_t* out_ids,
               float* out_scores, size_t threads, const CancelToken* cancel, const std::function<void(size_t)>& progress,
               size_t done_before) {
  const simd::Kernels& K = simd::kernels();
  const Candidates cand = candidates_of(filter, n_items);

  // Candidate item factors (and biases) contiguous, so blocks stream linearly.
  std::vector<float> gathered;
  const float* cand_items = items;
  if (cand.ids) {
    gathered.resize(cand.n * dim);
    for (size_t p = 0; p < cand.n; ++p)
      std::copy_n(items + static_cast<size_t>(cand.ids[p]) * dim, dim, gathered.data() + p * dim);
    cand_items = gathered.data();
  }
  std::vector<float> bias;
  if (item_bias) {
    bias.resize(cand.n);
    for (size_t p = 0; p < cand.n; ++p) bias[p] = item_bias[cand.item(p)];
  }
  std::vector<int64_t> excluded;
  positions_of(cand, filter.exclude, filter.n_exclude, excluded);

  // MB users x NB items of scores per block: 128 x 1024 floats = 512 KiB, in L2.
  constexpr size_t MB = 128, NB = 1024;
  const size_t n_blocks = (n + MB - 1) / MB;
  threads = resolve_threads(threads);
  struct Scratch {
    std::vector<float> a, c;
    std::vector<TopK> tops;
    std::vector<std::vector<int64_t>> seen_pos;
    std::vector<size_t> seen_cursor;
  };
  std::vector<Scratch> scratch(threads);
  std::atomic<size_t> done{done_before};

  parallel_for(n_blocks, 1, threads, [&](size_t b0, size_t b1, size_t slot) {
    Scratch& s = scratch[slot];
    s.a.resize(MB * dim);
    s.c.resize(MB * NB);
    s.tops.resize(MB);
    s.seen_pos.resize(MB);
    s.seen_cursor.resize(MB);
    for (size_t block = b0; block < b1; ++block) {
      if (cancel) cancel->throw_if_cancelled();
      const size_t u0 = block * MB, mb = std::min(MB, n - u0);
      for (size_t r = 0; r < mb; ++r) {
        const int32_t row = rows[u0 + r];
        std::copy_n(users + static_cast<size_t>(row) * dim, dim, s.a.data() + r * dim);
        s.tops[r].reset(k);
        s.seen_cursor[r] = 0;
        if (seen) {
          const int64_t lo = seen->indptr[row], hi = seen->indptr[row + 1];
          positions_of(cand, seen->indices + lo, static_cast<size_t>(hi - lo), s.seen_pos[r]);
        } else {
          s.seen_pos[r].clear();
        }
      }
      size_t ex_cursor = 0;
      for (size_t j0 = 0; j0 < cand.n; j0 += NB) {
        const size_t nb = std::min(NB, cand.n - j0);
        K.gemm_nt(s.a.data(), mb, dim, cand_items + j0 * dim, nb, dim, dim, s.c.data(), NB);
        const size_t ex_begin = ex_cursor;
        while (ex_cursor < excluded.size() && static_cast<size_t>(excluded[ex_cursor]) < j0 + nb) ++ex_cursor;
        for (size_t r = 0; r < mb; ++r) {
          float* c = s.c.data() + r * NB;
          if (!bias.empty()) K.axpy(1.0f, bias.data() + j0, c, nb);
          for (size_t e = ex_begin; e < ex_cursor; ++e) c[excluded[e] - j0] = kSkip;
          std::vector<int64_t>& sp = s.seen_pos[r];
          size_t& cur = s.seen_cursor[r];
          while (cur < sp.size() && static_cast<size_t>(sp[cur]) < j0 + nb) c[sp[cur++] - j0] = kSkip;
          TopK& top = s.tops[r];
          float thr = top.threshold();
          for (size_t j = 0; j < nb; ++j) {
            if (c[j] >= thr) {
              top.push(c[j], static_cast<int32_t>(j0 + j));
              thr = top.threshold();
            }
          }
        }
      }
      for (size_t r = 0; r < mb; ++r) {
        int32_t* ids = out_ids + (u0 + r) * k;
        float* sc = out_scores + (u0 + r) * k;
        size_t count = s.tops[r].write_sorted(ids, sc);
        for (size_t i = 0; i < count; ++i) ids[i] = cand.item(ids[i]);
        for (size_t i = count; i < k; ++i) {
          ids[i] = -1;
          sc[i] = kNegInf;
        }
      }
      size_t d = done.fetch_add(mb) + mb;
      if (progress) progress(d);
    }
  });
}

}  // namespace

void factor_topk_many(const float* users, const int32_t* rows, size_t n, const float* items, size_t n_items,
                      size_t dim, const float* item_bias, const CsrView* seen, const ItemFilter& filter, size_t k,
                      int32_t* out_ids, float* out_scores, size_t threads, const CancelToken* cancel,
                      const std::function<void(size_t)>& progress, const NormOrder* order) {
  check_filter(filter, n_items);
  if (!uses_scan(order, filter, n_items, dim)) {
    gemm_topk(users, rows, n, items, n_items, dim, item_bias, seen, filter, k, out_ids, out_scores, threads, cancel,
              progress, 0);
    return;
  }
  // First each user's scan; the users it settles are answered here, the rest by the blocked GEMM. The first
  // kProbe users are a probe: if the scan settles fewer than half of them, the factors' norms say too little
  // and the others go straight to the GEMM (on uniform norms, scanning every user made a batch 28% slower,
  // bench/README.md).
  constexpr size_t kProbe = 256;
  threads = resolve_threads(threads);
  std::vector<uint8_t> settled(n, 0);
  std::atomic<size_t> n_settled{0};
  auto scan_rows = [&](size_t from, size_t to) {
    parallel_for(to - from, 64, threads, [&](size_t b, size_t e, size_t) {
      if (cancel) cancel->throw_if_cancelled();
      TopK top;
      for (size_t r = from + b; r < from + e; ++r) {
        const int32_t row = rows[r];
        const int32_t* seen_row = seen ? seen->indices + seen->indptr[row] : nullptr;
        const size_t n_seen = seen ? size_t(seen->indptr[row + 1] - seen->indptr[row]) : 0;
        top.reset(k);
        if (!scan_user(users + size_t(row) * dim, items, n_items, dim, item_bias, seen_row, n_seen, filter, *order, top))
          continue;
        const size_t count = top.write_sorted(out_ids + r * k, out_scores + r * k);
        for (size_t i = count; i < k; ++i) {
          out_ids[r * k + i] = -1;
          out_scores[r * k + i] = kNegInf;
        }
        settled[r] = 1;
        n_settled.fetch_add(1);
      }
    });
  };
  const size_t probe = std::min(n, kProbe);
  scan_rows(0, probe);
  if (2 * n_settled.load() >= probe) scan_rows(probe, n);
  const size_t done = n_settled.load();
  if (progress && done > 0) progress(done);
  std::vector<int32_t> rest_rows;
  std::vector<size_t> rest_at;
  for (size_t r = 0; r < n; ++r)
    if (!settled[r]) {
      rest_rows.push_back(rows[r]);
      rest_at.push_back(r);
    }
  if (rest_rows.empty()) return;
  std::vector<int32_t> ids(rest_rows.size() * k);
  std::vector<float> scores(rest_rows.size() * k);
  gemm_topk(users, rest_rows.data(), rest_rows.size(), items, n_items, dim, item_bias, seen, filter, k, ids.data(),
            scores.data(), threads, cancel, progress, done);
  for (size_t i = 0; i < rest_at.size(); ++i) {
    std::copy_n(ids.data() + i * k, k, out_ids + rest_at[i] * k);
    std::copy_n(scores.data() + i * k, k, out_scores + rest_at[i] * k);
  }
}

}  // namespace fastrec
