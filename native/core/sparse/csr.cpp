#include "sparse/csr.hpp"

#include <algorithm>
#include <cmath>
#include <numeric>
#include <string>

#include "common/error.hpp"
#include "common/thread_pool.hpp"

#if defined(__linux__)
#include <sys/mman.h>
#endif

namespace fastrec {
namespace {

constexpr size_t kGrain = 1 << 16;

// Size `v` to n elements, asking Linux for transparent huge pages first when
// it is large. The COO -> CSR and transpose scatters write to random places
// in arrays of gigabytes; with 4 KiB pages nearly every write misses the TLB.
// (Only a hint: without THP it is a no-op. The pages are requested before the
// first touch, which is when the kernel decides.)
template <typename T>
void resize_scatter_target(std::vector<T>& v, size_t n) {
  v.reserve(n);
#if defined(__linux__) && defined(MADV_HUGEPAGE)
  constexpr uintptr_t kHuge = 2u << 20;
  if (n * sizeof(T) >= 8 * kHuge) {
    uintptr_t lo = (reinterpret_cast<uintptr_t>(v.data()) + kHuge - 1) & ~(kHuge - 1);
    uintptr_t hi = (reinterpret_cast<uintptr_t>(v.data() + n)) & ~(kHuge - 1);
    if (hi > lo) madvise(reinterpret_cast<void*>(lo), hi - lo, MADV_HUGEPAGE);
  }
#endif
  v.resize(n);
}

std::string at(const char* array, size_t i) { return std::string(array) + "[" + std::to_string(i) + "]"; }

// Validate the input in parallel and find the inferred shape.
void check_coo(const CooInput& in, size_t threads, int64_t& n_rows, int64_t& n_cols) {
  size_t chunks = (in.nnz + kGrain - 1) / kGrain;
  std::vector<int64_t> max_r(chunks, -1), max_c(chunks, -1);
  std::vector<size_t> bad(chunks, SIZE_MAX);
  parallel_for(in.nnz, kGrain, threads, [&](size_t b, size_t e, size_t) {
    size_t c = b / kGrain;
    int64_t mr = -1, mc = -1;
    for (size_t i = b; i < e; ++i) {
      int32_t r = in.rows[i], col = in.cols[i];
      bool ok = r >= 0 && col >= 0 && (in.n_rows < 0 || r < in.n_rows) && (in.n_cols < 0 || col < in.n_cols);
      if (ok && in.values) {
        float v = in.values[i];
        ok = std::isfinite(v) && (in.allow_negative || v >= 0);
      }
      if (!ok) {
        bad[c] = i;
        return;
      }
      mr = std::max<int64_t>(mr, r);
      mc = std::max<int64_t>(mc, col);
    }
    max_r[c] = mr;
    max_c[c] = mc;
  });
  for (size_t c = 0; c < chunks; ++c) {
    size_t i = bad[c];
    if (i == SIZE_MAX) continue;
    int32_t r = in.rows[i], col = in.cols[i];
    if (r < 0 || (in.n_rows >= 0 && r >= in.n_rows))
      throw_invalid("rows: expected an index in [0, " + (in.n_rows >= 0 ? std::to_string(in.n_rows) : "2^31") +
                    ") but " + at("rows", i) + " is " + std::to_string(r));
    if (col < 0 || (in.n_cols >= 0 && col >= in.n_cols))
      throw_invalid("cols: expected an index in [0, " + (in.n_cols >= 0 ? std::to_string(in.n_cols) : "2^31") +
                    ") but " + at("cols", i) + " is " + std::to_string(col));
    float v = in.values[i];
    throw_invalid("values: expected a finite" + std::string(in.allow_negative ? "" : ", non-negative") +
                  " number but " + at("values", i) + " is " + std::to_string(v));
  }
  int64_t mr = -1, mc = -1;
  for (size_t c = 0; c < chunks; ++c) {
    mr = std::max(mr, max_r[c]);
    mc = std::max(mc, max_c[c]);
  }
  n_rows = in.n_rows >= 0 ? in.n_rows : mr + 1;
  n_cols = in.n_cols >= 0 ? in.n_cols : mc + 1;
}

}  // namespace

CsrMatrix csr_from_coo(const CooInput& in, size_t threads) {
  threads = resolve_threads(threads);
  int64_t n_rows, n_cols;
  check_coo(in, threads, n_rows, n_cols);

  // 1. Stable counting sort by row: per-chunk histograms, then prefix sums give
  //    each chunk its own write cursor per row, so input order is kept within a
  //    row (which makes Combine::Last well defined).
  size_t chunks = std::min<size_t>(threads, (in.nnz + kGrain - 1) / kGrain);
  chunks = std::max<size_t>(chunks, 1);
  size_t per_chunk = (in.nnz + chunks - 1) / chunks;
  std::vector<std::vector<int64_t>> hist(chunks);
  parallel_for(chunks, 1, threads, [&](size_t b, size_t e, size_t) {
    for (size_t c = b; c < e; ++c) {
      hist[c].assign(n_rows, 0);
      size_t lo = c * per_chunk, hi = std::min(in.nnz, lo + per_chunk);
      for (size_t i = lo; i < hi; ++i) hist[c][in.rows[i]]++;
    }
  });
  std::vector<int64_t> offsets(n_rows + 1, 0);
  for (int64_t r = 0; r < n_rows; ++r) {
    int64_t cursor = offsets[r];
    for (size_t c = 0; c < chunks; ++c) {
      int64_t count = hist[c][r];
      hist[c][r] = cursor;  // becomes this chunk's write position for row r
      cursor += count;
    }
    offsets[r + 1] = cursor;
  }
  std::vector<int32_t> cols;
  std::vector<float> vals;
  resize_scatter_target(cols, in.nnz);
  resize_scatter_target(vals, in.nnz);
  parallel_for(chunks, 1, threads, [&](size_t b, size_t e, size_t) {
    for (size_t c = b; c < e; ++c) {
      std::vector<int64_t>& pos = hist[c];
      size_t lo = c * per_chunk, hi = std::min(in.nnz, lo + per_chunk);
      for (size_t i = lo; i < hi; ++i) {
        int64_t p = pos[in.rows[i]]++;
        cols[p] = in.cols[i];
        vals[p] = in.values ? in.values[i] : 1.0f;
      }
      std::vector<int64_t>().swap(pos);
    }
  });
  hist.clear();

  // 2. Per row: stable sort by column, then combine duplicates in place.
  std::vector<int64_t> kept(n_rows, 0);
  parallel_for(n_rows, 1024, threads, [&](size_t b, size_t e, size_t) {
    std::vector<std::pair<int32_t, float>> buf;
    for (size_t r = b; r < e; ++r) {
      int64_t lo = offsets[r], hi = offsets[r + 1];
      if (hi == lo) continue;
      bool sorted = true;
      for (int64_t p = lo + 1; p < hi && sorted; ++p) sorted = cols[p - 1] < cols[p];
      if (sorted) {
        kept[r] = hi - lo;
        continue;
      }
      buf.clear();
      for (int64_t p = lo; p < hi; ++p) buf.emplace_back(cols[p], vals[p]);
      std::stable_sort(buf.begin(), buf.end(), [](const auto& x, const auto& y) { return x.first < y.first; });
      int64_t w = lo;
      for (size_t i = 0; i < buf.size(); ++i) {
        if (w > lo && cols[w - 1] == buf[i].first) {
          float& v = vals[w - 1];
          switch (in.combine) {
            case Combine::Sum: v += buf[i].second; break;
            case Combine::Max: v = std::max(v, buf[i].second); break;
            case Combine::Last: v = buf[i].second; break;
          }
        } else {
          cols[w] = buf[i].first;
          vals[w] = buf[i].second;
          ++w;
        }
      }
      kept[r] = w - lo;
    }
  });

  // 3. Compact rows that lost duplicates.
  CsrMatrix out;
  out.rows = n_rows;
  out.cols = n_cols;
  out.indptr.assign(n_rows + 1, 0);
  for (int64_t r = 0; r < n_rows; ++r) out.indptr[r + 1] = out.indptr[r] + kept[r];
  if (out.nnz() == static_cast<int64_t>(in.nnz)) {
    out.indices.swap(cols);
    out.data.swap(vals);
  } else {
    out.indices.resize(out.nnz());
    out.data.resize(out.nnz());
    parallel_for(n_rows, 4096, threads, [&](size_t b, size_t e, size_t) {
      for (size_t r = b; r < e; ++r) {
        std::copy_n(cols.begin() + offsets[r], kept[r], out.indices.begin() + out.indptr[r]);
        std::copy_n(vals.begin() + offsets[r], kept[r], out.data.begin() + out.indptr[r]);
      }
    });
  }
  return out;
}

CsrMatrix csr_transpose(const CsrView& m, size_t threads) {
  threads = resolve_threads(threads);
  CsrMatrix t;
  t.rows = m.cols;
  t.cols = m.rows;
  const int64_t nnz = m.nnz();
  // Counting sort by column over contiguous blocks of rows: each block counts
  // its columns, prefix sums give every block its own write cursor per
  // column, then the blocks scatter in parallel. Blocks are in row order, so
  // each output row comes out sorted. One block per thread; a single block
  // when the per-block histograms (8 bytes per column each) would outweigh the work.
  size_t blocks = std::min<size_t>(threads, static_cast<size_t>(nnz / kGrain) + 1);
  if (blocks > 1 && m.cols > nnz) blocks = 1;
  std::vector<int64_t> row_start(blocks + 1, m.rows);
  row_start[0] = 0;
  // Split rows so that each block holds about the same number of entries.
  for (size_t b = 1, r = 0; b < blocks; ++b) {
    int64_t target = nnz / static_cast<int64_t>(blocks) * static_cast<int64_t>(b);
    r = static_cast<size_t>(std::upper_bound(m.indptr + r, m.indptr + m.rows + 1, target) - m.indptr);
    row_start[b] = std::max<int64_t>(row_start[b - 1], static_cast<int64_t>(r) - 1);
  }
  std::vector<std::vector<int64_t>> cursor(blocks);
  parallel_for(blocks, 1, threads, [&](size_t b0, size_t b1, size_t) {
    for (size_t b = b0; b < b1; ++b) {
      cursor[b].assign(m.cols, 0);
      int64_t* count = cursor[b].data();
      for (int64_t p = m.indptr[row_start[b]]; p < m.indptr[row_start[b + 1]]; ++p) count[m.indices[p]]++;
    }
  });
  t.indptr.assign(m.cols + 1, 0);
  for (int64_t c = 0; c < m.cols; ++c) {
    int64_t at = t.indptr[c];
    for (size_t b = 0; b < blocks; ++b) {
      int64_t count = cursor[b][c];
      cursor[b][c] = at;  // becomes block b's write position in output row c
      at += count;
    }
    t.indptr[c + 1] = at;
  }
  resize_scatter_target(t.indices, static_cast<size_t>(nnz));
  resize_scatter_target(t.data, static_cast<size_t>(nnz));
  parallel_for(blocks, 1, threads, [&](size_t b0, size_t b1, size_t) {
    for (size_t b = b0; b < b1; ++b) {
      int64_t* pos = cursor[b].data();
      for (int64_t r = row_start[b]; r < row_start[b + 1]; ++r)
        for (int64_t p = m.indptr[r]; p < m.indptr[r + 1]; ++p) {
          int64_t q = pos[m.indices[p]]++;
          t.indices[q] = static_cast<int32_t>(r);
          t.data[q] = m.data[p];
        }
      std::vector<int64_t>().swap(cursor[b]);
    }
  });
  return t;
}

std::vector<int32_t> csr_row_counts(const CsrView& m) {
  std::vector<int32_t> out(m.rows);
  for (int64_t r = 0; r < m.rows; ++r) out[r] = static_cast<int32_t>(m.indptr[r + 1] - m.indptr[r]);
  return out;
}

std::vector<int32_t> csr_col_counts(const CsrView& m) {
  std::vector<int32_t> out(m.cols, 0);
  for (int64_t p = 0; p < m.nnz(); ++p) out[m.indices[p]]++;
  return out;
}

void csr_validate(const CsrView& m, const char* what) {
  std::string name(what);
  if (m.rows < 0 || m.cols < 0) throw_invalid(name + ": negative shape");
  if (m.indptr[0] != 0) throw_invalid(name + ".indptr[0] must be 0");
  for (int64_t r = 0; r < m.rows; ++r) {
    int64_t lo = m.indptr[r], hi = m.indptr[r + 1];
    if (hi < lo) throw_invalid(name + ".indptr must be non-decreasing (row " + std::to_string(r) + ")");
    for (int64_t p = lo; p < hi; ++p) {
      int32_t c = m.indices[p];
      if (c < 0 || c >= m.cols)
        throw_invalid(name + ".indices[" + std::to_string(p) + "] = " + std::to_string(c) + " is out of range [0, " +
                      std::to_string(m.cols) + ")");
      if (p > lo && m.indices[p - 1] >= c)
        throw_invalid(name + ": column indices of row " + std::to_string(r) + " must be sorted and unique");
    }
  }
}

}  // namespace fastrec
