#include "svd/truncated_svd.hpp"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <memory>
#include <numeric>
#include <string>

#include "common/error.hpp"
#include "common/thread_pool.hpp"
#include "svd/jacobi.hpp"
#include "svd/svd_kernels.hpp"

namespace fastrec::svd {
namespace {

// Directions of a Gram matrix whose eigenvalue is below this fraction of the
// largest carry no signal (float data): they are dropped rather than amplified.
constexpr double kDropRelative = 1e-12;

// Sum per-part upper triangles in part order and mirror them.
std::vector<double> finish_gram(const std::vector<std::vector<double>>& partial, size_t l) {
  std::vector<double> g(l * l, 0.0);
  for (auto& p : partial)
    for (size_t t = 0; t < l * l; ++t) g[t] += p[t];
  for (size_t j = 0; j < l; ++j)
    for (size_t c = j + 1; c < l; ++c) g[c * l + j] = g[j * l + c];
  return g;
}

// Row-major tall dense block with rows padded to `ld` floats (padding is zero).
struct Block {
  size_t rows = 0, ld = 0;
  std::vector<float> a;
  Block(size_t r, size_t width) : rows(r), ld(width), a(r * width, 0.0f) {}
  float* row(size_t i) { return a.data() + i * ld; }
  const float* row(size_t i) const { return a.data() + i * ld; }
};

void check(const CancelToken* cancel) {
  if (cancel) cancel->throw_if_cancelled();
}

// Standard normal draws from a seeded splitmix64 stream (Box-Muller): the same
// seed gives the same Omega whatever the thread count.
struct Gaussian {
  uint64_t state;
  explicit Gaussian(uint64_t seed) : state(seed * 0x9E3779B97F4A7C15ULL + 0x2545F4914F6CDD1DULL) {}
  uint64_t next() {
    uint64_t z = (state += 0x9E3779B97F4A7C15ULL);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
    return z ^ (z >> 31);
  }
  double uniform() { return (static_cast<double>(next() >> 11) + 0.5) * (1.0 / 9007199254740992.0); }
  void pair(double& a, double& b) {
    double r = std::sqrt(-2.0 * std::log(uniform())), t = 6.283185307179586 * uniform();
    a = r * std::cos(t);
    b = r * std::sin(t);
  }
};

class Solver {
 public:
  Solver(const CsrView& a, const SvdOptions& o, const CancelToken* cancel)
      : a_(a), threads_(resolve_threads(o.threads)), cancel_(cancel), k_(svd_kernels()) {}

  // Y = A_c X   (X: cols x ld, Y: rows x ld)
  void multiply(const float* X, size_t ld, Block& Y) {
    std::vector<float> shift;
    if (!mean_.empty()) shift = mean_times(X, ld, a_.cols);
    parallel_for(static_cast<size_t>(a_.rows), 256, threads_, [&](size_t b, size_t e, size_t) {
      check(cancel_);
      for (size_t i = b; i < e; ++i) {
        int64_t lo = a_.indptr[i], hi = a_.indptr[i + 1];
        float* y = Y.row(i);
        k_.gather_rows(a_.indices + lo, a_.data + lo, static_cast<size_t>(hi - lo), X, ld, y);
        if (!shift.empty())
          for (size_t c = 0; c < ld; ++c) y[c] -= shift[c];
      }
    });
  }

  // Z = A_cᵀ Y   (Y: rows x ld, Z: cols x ld)
  void multiply_t(const Block& Y, Block& Z) {
    const size_t ld = Y.ld, n = static_cast<size_t>(a_.cols), m = static_cast<size_t>(a_.rows);
    if (use_transpose()) {
      if (!at_) at_ = std::make_unique<CsrMatrix>(csr_transpose(a_, threads_));
      CsrView at = CsrView::of(*at_);
      parallel_for(n, 256, threads_, [&](size_t b, size_t e, size_t) {
        check(cancel_);
        for (size_t j = b; j < e; ++j) {
          int64_t lo = at.indptr[j], hi = at.indptr[j + 1];
          k_.gather_rows(at.indices + lo, at.data + lo, static_cast<size_t>(hi - lo), Y.a.data(), ld, Z.row(j));
        }
      });
    } else {
      // Scatter rows of Y into one copy of Z per part (Y is read once, in
      // order; each copy is small enough to stay in cache), then add the
      // copies in part order. Parts hold equal shares of the nonzeros and are
      // fixed by the thread count, so results are reproducible.
      const size_t parts = threads_;
      std::vector<size_t> bounds(parts + 1, m);
      bounds[0] = 0;
      for (size_t t = 1; t < parts; ++t) {
        int64_t target = a_.nnz() * static_cast<int64_t>(t) / static_cast<int64_t>(parts);
        bounds[t] = static_cast<size_t>(std::lower_bound(a_.indptr, a_.indptr + m, target) - a_.indptr);
      }
      scatter_.resize(parts);
      parallel_for(parts, 1, threads_, [&](size_t pb, size_t pe, size_t) {
        for (size_t part = pb; part < pe; ++part) {
          scatter_[part].assign(n * ld, 0.0f);
          float* z = scatter_[part].data();
          for (size_t i = bounds[part]; i < bounds[part + 1]; ++i) {
            if ((i & 4095) == 0) check(cancel_);
            int64_t lo = a_.indptr[i], hi = a_.indptr[i + 1];
            k_.scatter_row(a_.indices + lo, a_.data + lo, static_cast<size_t>(hi - lo), Y.row(i), z, ld);
          }
        }
      });
      parallel_for(n, 512, threads_, [&](size_t b, size_t e, size_t) {
        float* out = Z.row(b);
        std::memcpy(out, scatter_[0].data() + b * ld, (e - b) * ld * sizeof(float));
        for (size_t s = 1; s < parts; ++s) {
          const float* src = scatter_[s].data() + b * ld;
          for (size_t t = 0; t < (e - b) * ld; ++t) out[t] += src[t];
        }
      });
    }
    if (!mean_.empty()) {
      std::vector<double> colsum = column_sums(Y);
      for (size_t j = 0; j < n; ++j) {
        float* z = Z.row(j);
        for (size_t c = 0; c < ld; ++c) z[c] -= static_cast<float>(mean_[j] * colsum[c]);
      }
    }
  }

  // Y <- Y T with Yᵀ Y = I on the kept directions (SVQB), `passes` times.
  void orthonormalize(Block& Y, size_t l, int passes) {
    for (int pass = 0; pass < passes; ++pass) {
      std::vector<double> g = gram(Y, l), values, vectors;
      jacobi_eigen(g, l, values, vectors);
      const double top = std::max(values[0], 0.0);
      std::vector<float> t(l * Y.ld, 0.0f);
      for (size_t c = 0; c < l; ++c) {
        if (!(values[c] > kDropRelative * top) || top == 0.0) continue;
        double scale = 1.0 / std::sqrt(values[c]);
        for (size_t r = 0; r < l; ++r) t[r * Y.ld + c] = static_cast<float>(vectors[r * l + c] * scale);
      }
      apply_small(Y, l, t, Y.ld);
    }
  }

  // Y <- Y[:, :l] T   (T: l x ldt float, result width ldt <= Y.ld)
  void apply_small(Block& Y, size_t l, const std::vector<float>& t, size_t ldt) {
    parallel_for(Y.rows, 512, threads_, [&](size_t b, size_t e, size_t) {
      std::vector<float> tmp(ldt);
      for (size_t i = b; i < e; ++i) {
        float* y = Y.row(i);
        k_.gather_rows(nullptr, y, l, t.data(), ldt, tmp.data());
        std::memcpy(y, tmp.data(), ldt * sizeof(float));
        for (size_t c = ldt; c < Y.ld; ++c) y[c] = 0.0f;
      }
    });
  }

  // Yᵀ Y on the first l columns, in double. Blocks of 64 rows are transposed
  // so that row j of the block's Gram, sum_i Y[i][j] Y[i][:], is one register-
  // resident gather over the block (float within a block, double across).
  std::vector<double> gram(const Block& Y, size_t l) {
    const size_t ld = Y.ld, parts = std::min<size_t>(4 * threads_, std::max<size_t>(1, Y.rows / 64));
    std::vector<std::vector<double>> partial(parts, std::vector<double>(l * l, 0.0));
    parallel_for(parts, 1, threads_, [&](size_t pb, size_t pe, size_t) {
      constexpr size_t B = 64;
      std::vector<float> yt(ld * B), row(ld);
      for (size_t part = pb; part < pe; ++part) {
        auto& g = partial[part];
        size_t lo = Y.rows * part / parts, hi = Y.rows * (part + 1) / parts;
        for (size_t b = lo; b < hi; b += B) {
          size_t nb = std::min(hi, b + B) - b;
          for (size_t i = 0; i < nb; ++i)
            for (size_t j = 0; j < l; ++j) yt[j * B + i] = Y.row(b + i)[j];
          for (size_t j = 0; j < l; ++j) {
            k_.gather_rows(nullptr, yt.data() + j * B, nb, Y.row(b), ld, row.data());
            double* gj = g.data() + j * l;
            for (size_t c = j; c < l; ++c) gj[c] += row[c];
          }
        }
      }
    });
    return finish_gram(partial, l);
  }

  void set_mean() {
    const size_t n = static_cast<size_t>(a_.cols);
    mean_.assign(n, 0.0);
    for (int64_t p = 0; p < a_.nnz(); ++p) mean_[a_.indices[p]] += a_.data[p];
    for (auto& v : mean_) v /= static_cast<double>(std::max<int64_t>(1, a_.rows));
  }
  const std::vector<double>& mean() const { return mean_; }
  size_t threads() const { return threads_; }

 private:
  bool use_transpose() const {
    // Per-thread scatter copies cost threads * cols * ld floats; past 256 MiB
    // transpose A once and gather instead.
    double bytes = static_cast<double>(threads_) * static_cast<double>(a_.cols) * 128.0 * 4.0;
    return threads_ > 1 && bytes > 256.0 * 1024 * 1024;
  }
  std::vector<float> mean_times(const float* X, size_t ld, int64_t n) {
    std::vector<double> acc(ld, 0.0);
    for (int64_t j = 0; j < n; ++j)
      for (size_t c = 0; c < ld; ++c) acc[c] += mean_[j] * X[j * ld + c];
    return std::vector<float>(acc.begin(), acc.end());
  }
  std::vector<double> column_sums(const Block& Y) {
    std::vector<double> s(Y.ld, 0.0);
    for (size_t i = 0; i < Y.rows; ++i) {
      const float* y = Y.row(i);
      for (size_t c = 0; c < Y.ld; ++c) s[c] += y[c];
    }
    return s;
  }

  CsrView a_;
  size_t threads_;
  const CancelToken* cancel_;
  const SvdKernels& k_;
  std::vector<double> mean_;
  std::unique_ptr<CsrMatrix> at_;
  std::vector<std::vector<float>> scatter_;
};

// C (rows x l, double) <- C W, W l x l.
void times_small(std::vector<double>& C, size_t rows, size_t l, const std::vector<double>& W, size_t threads) {
  parallel_for(rows, 256, threads, [&](size_t b, size_t e, size_t) {
    std::vector<double> tmp(l);
    for (size_t i = b; i < e; ++i) {
      double* c = C.data() + i * l;
      std::fill(tmp.begin(), tmp.end(), 0.0);
      for (size_t r = 0; r < l; ++r) {
        double v = c[r];
        if (v == 0.0) continue;
        const double* w = W.data() + r * l;
        for (size_t j = 0; j < l; ++j) tmp[j] += v * w[j];
      }
      std::copy(tmp.begin(), tmp.end(), c);
    }
  });
}

std::vector<double> gram_double(const std::vector<double>& C, size_t rows, size_t l, size_t threads) {
  const size_t parts = std::min<size_t>(4 * threads, std::max<size_t>(1, rows / 64));
  std::vector<std::vector<double>> partial(parts, std::vector<double>(l * l, 0.0));
  parallel_for(parts, 1, threads, [&](size_t pb, size_t pe, size_t) {
    for (size_t part = pb; part < pe; ++part) {
      auto& g = partial[part];
      for (size_t i = rows * part / parts; i < rows * (part + 1) / parts; ++i) {
        const double* c = C.data() + i * l;
        for (size_t j = 0; j < l; ++j) {
          double v = c[j];
          if (v == 0.0) continue;
          for (size_t t = j; t < l; ++t) g[j * l + t] += v * c[t];
        }
      }
    }
  });
  return finish_gram(partial, l);
}

}  // namespace

SvdResult truncated_svd(const CsrView& a, const SvdOptions& o, const CancelToken* cancel,
                        const std::function<void(size_t, size_t)>& progress) {
  const size_t m = static_cast<size_t>(a.rows), n = static_cast<size_t>(a.cols);
  const size_t smaller = std::min(m, n);
  if (o.k < 1 || o.k > smaller)
    throw_invalid("k: expected an integer in [1, " + std::to_string(smaller) + "] (the smaller dimension) but received " +
                  std::to_string(o.k));
  const size_t k = o.k;
  const size_t l = std::min(k + o.oversample, smaller);
  const size_t ld = padded_width(l);
  const size_t steps = 2 * o.power_iterations + 2;
  size_t step = 0;
  auto advance = [&] {
    check(cancel);
    if (progress) progress(++step, steps);
  };

  Solver solver(a, o, cancel);
  const size_t threads = solver.threads();
  if (o.center) solver.set_mean();

  Block omega(n, ld);
  Gaussian rng(o.seed);
  for (size_t j = 0; j < n; ++j) {
    float* row = omega.row(j);
    for (size_t c = 0; c < l; c += 2) {
      double x, y;
      rng.pair(x, y);
      row[c] = static_cast<float>(x);
      if (c + 1 < l) row[c + 1] = static_cast<float>(y);
    }
  }

  Block Y(m, ld), Z(n, ld);
  solver.multiply(omega.a.data(), ld, Y);
  omega = Block(0, ld);
  advance();
  for (size_t q = 0; q < o.power_iterations; ++q) {
    solver.orthonormalize(Y, l, 1);
    solver.multiply_t(Y, Z);
    advance();
    solver.orthonormalize(Z, l, 1);
    solver.multiply(Z.a.data(), ld, Y);
    advance();
  }
  solver.orthonormalize(Y, l, 2);  // Q: orthonormal to float precision
  solver.multiply_t(Y, Z);         // Bᵀ = A_cᵀ Q
  advance();

  // Small SVD of B (l x n) through Bᵀ (n x l) in double, two rounds.
  std::vector<double> C(n * l);
  for (size_t j = 0; j < n; ++j)
    for (size_t c = 0; c < l; ++c) C[j * l + c] = Z.row(j)[c];
  Z = Block(0, ld);
  std::vector<double> wtot(l * l, 0.0);
  for (size_t i = 0; i < l; ++i) wtot[i * l + i] = 1.0;
  for (int round = 0; round < 2; ++round) {
    std::vector<double> g = gram_double(C, n, l, threads), values, w;
    jacobi_eigen(g, l, values, w);
    times_small(C, n, l, w, threads);
    std::vector<double> next(l * l, 0.0);
    for (size_t i = 0; i < l; ++i)
      for (size_t r = 0; r < l; ++r) {
        double v = wtot[i * l + r];
        if (v == 0.0) continue;
        for (size_t j = 0; j < l; ++j) next[i * l + j] += v * w[r * l + j];
      }
    wtot.swap(next);
  }
  check(cancel);
  std::vector<double> sigma(l, 0.0);
  for (size_t j = 0; j < n; ++j)
    for (size_t c = 0; c < l; ++c) sigma[c] += C[j * l + c] * C[j * l + c];
  for (auto& s : sigma) s = std::sqrt(s);
  std::vector<size_t> order(l);
  std::iota(order.begin(), order.end(), size_t{0});
  std::stable_sort(order.begin(), order.end(), [&](size_t x, size_t y) { return sigma[x] > sigma[y]; });

  SvdResult r;
  r.rows = m;
  r.cols = n;
  r.k = k;
  r.s.resize(k);
  r.vt.assign(k * n, 0.0f);
  r.u.assign(m * k, 0.0f);
  const double tiny = sigma[order[0]] * 1e-30;
  std::vector<double> sign(k, 1.0);
  for (size_t t = 0; t < k; ++t) {
    size_t c = order[t];
    double s = sigma[c];
    r.s[t] = static_cast<float>(s);
    if (!(s > tiny) || s == 0.0) {
      sign[t] = 0.0;  // no direction: zero singular vectors
      continue;
    }
    // Deterministic signs: the largest |v_j| of each right vector is positive.
    size_t arg = 0;
    for (size_t j = 1; j < n; ++j)
      if (std::fabs(C[j * l + c]) > std::fabs(C[arg * l + c])) arg = j;
    sign[t] = C[arg * l + c] < 0 ? -1.0 : 1.0;
    for (size_t j = 0; j < n; ++j) r.vt[t * n + j] = static_cast<float>(sign[t] * C[j * l + c] / s);
  }
  // U = Q W[:, order[:k]] (signs applied).
  const size_t ldk = padded_width(k);
  std::vector<float> wk(l * ldk, 0.0f);
  for (size_t i = 0; i < l; ++i)
    for (size_t t = 0; t < k; ++t) wk[i * ldk + t] = static_cast<float>(sign[t] * wtot[i * l + order[t]]);
  const auto& kern = svd_kernels();
  parallel_for(m, 512, threads, [&](size_t b, size_t e, size_t) {
    std::vector<float> tmp(ldk);
    for (size_t i = b; i < e; ++i) {
      kern.gather_rows(nullptr, Y.row(i), l, wk.data(), ldk, tmp.data());
      std::memcpy(r.u.data() + i * k, tmp.data(), k * sizeof(float));
    }
  });
  if (o.center) r.mean.assign(solver.mean().begin(), solver.mean().end());
  return r;
}

}  // namespace fastrec::svd
