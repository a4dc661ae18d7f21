// ALS training and per-row solves (see als.hpp for the maths).
#include "als/als.hpp"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <cstdlib>
#include <memory>
#include <new>
#include <numeric>
#include <string>

#include "als/kernels.hpp"
#include "als/stream.hpp"
#include "common/error.hpp"
#if defined(__linux__)
#include <sys/mman.h>
#endif
#include "common/simd.hpp"
#include "common/thread_pool.hpp"

namespace fastrec::als {
namespace {

// Largest gathered block, in bytes: rows beyond it are processed in blocks
// that are gathered again on every pass (only very popular items get there).
constexpr size_t kGatherBytes = 64u << 20;
constexpr size_t kGramChunk = 4096;  // rows per partial Gram (fixed: results do not depend on threads)
// Rows of the fixed side prefetched ahead of the one being gathered (2 or 4
// cache lines each at k = 64; twice as many rows of the 1-line int8 copy):
// enough misses in flight to cover DRAM latency.
constexpr size_t kGatherAhead = 16;
// Bytes of the next row's factors prefetched while the current row is solved.
constexpr size_t kNextRowBytes = 128u << 10;

void check_cancel(const CancelToken* cancel) {
  if (cancel) cancel->throw_if_cancelled();
}

float confidence(const Config& c, float w) {
  return c.confidence == Confidence::Linear ? 1.0f + c.alpha * w : c.alpha * w;
}

double row_lambda(const Config& c, size_t count, size_t n_other) {
  switch (c.reg_scaling) {
    case RegScaling::None: return c.regularization;
    case RegScaling::Count: return c.regularization * static_cast<double>(count);
    case RegScaling::Frequency: {
      double base = static_cast<double>(count) + (c.implicit ? c.unobserved_weight * static_cast<double>(n_other) : 0.0);
      return c.regularization * std::pow(base, static_cast<double>(c.nu));
    }
  }
  return c.regularization;
}

// Cache-line aligned storage: a 256-byte factor row then spans 4 lines, not 5,
// and 32-byte vector loads never straddle two lines.
template <typename T>
struct LineAligned {
  using value_type = T;
  LineAligned() = default;
  template <typename U>
  LineAligned(const LineAligned<U>&) {}
  T* allocate(size_t n) { return static_cast<T*>(::operator new(n * sizeof(T), std::align_val_t(64))); }
  // resize() leaves new elements uninitialized: every buffer is written before it is read.
  template <typename U>
  void construct(U* p) noexcept {
    ::new (static_cast<void*>(p)) U;
  }
  void deallocate(T* p, size_t) { ::operator delete(p, std::align_val_t(64)); }
  bool operator==(const LineAligned&) const { return true; }
  bool operator!=(const LineAligned&) const { return false; }
};
template <typename T>
using aligned_vector = std::vector<T, LineAligned<T>>;

// Storage for the half copy of a fixed side: 2 MiB aligned and advised for
// 2 MiB pages before the first touch, because the gathers hit it at random and
// with 4 KiB pages most of them would also miss the TLB.
class HugeBuffer {
 public:
  ~HugeBuffer() { release(); }
  uint16_t* get(size_t n) {
    if (n <= n_) return p_;
    release();
    const size_t bytes = (n * sizeof(uint16_t) + kHuge - 1) / kHuge * kHuge;
    p_ = static_cast<uint16_t*>(::operator new(bytes, std::align_val_t(kHuge)));  // portable C++17 (MSVC too)
#if defined(__linux__) && defined(MADV_HUGEPAGE)
    madvise(p_, bytes, MADV_HUGEPAGE);  // advice only: errors are harmless
#endif
    n_ = bytes / sizeof(uint16_t);
    return p_;
  }

 private:
  static constexpr size_t kHuge = 2u << 20;
  void release() {
    if (p_) ::operator delete(p_, std::align_val_t(kHuge));
    p_ = nullptr;
    n_ = 0;
  }
  uint16_t* p_ = nullptr;
  size_t n_ = 0;
};

// Per-thread buffers, grown as needed and reused across rows (no per-row
// allocation); line-aligned so that two threads' scratch never share a line.
struct alignas(64) Scratch {
  aligned_vector<float> Y, Z, a, b, x, r, p, ap, tmp, Af;
  aligned_vector<uint16_t> H;  // a gathered row kept as halves (RowSolver::half_rows_)
  aligned_vector<double> A;  // rows 32-byte aligned (system_stride)
  std::vector<double> rhs;
  // The next row's columns, prefetched a few at a time during this row's CG
  // passes so that its gather finds them in cache.
  const int32_t* next_cols = nullptr;
  size_t next_n = 0, next_done = 0;
};

template <typename V>
void grow(V& v, size_t n) {
  if (v.size() < n) v.resize(n);
}

// Whether the rows of this side solve augmented vectors [x, bias] against
// fixed rows [y, 1]: both halves of explicit models, the items half of
// implicit ones with item_bias (whose users half has fixed_bias instead).
bool augmented(const Config& cfg, const Side& side) {
  return !cfg.implicit || (cfg.item_bias && side.fixed_bias == nullptr);
}

// The users half of an implicit CG fit in the eigenbasis of YᵀY
// (Config::eigenbasis): there the shared term and the preconditioner are
// diagonal; a row's warm start comes in the old basis and is rotated by V.
struct Eigenbasis {
  std::vector<float> rotation;      // V, ld x ld: a row x of the old basis is x V in the new one
  std::vector<float> base_diag;     // w0 Λ, padded to ld with zeros
  std::vector<float> precond_diag;  // 1 / (w0 Λ + lambda), padded with zeros
};

// Solves rows of one side. d = factors (+1 for the bias of augmented rows),
// ld = padded(d). base (ld x ld, padded with zeros) is w0 G for implicit
// models and null for explicit ones; base_rhs (ld, or null) is the term
// -w0 Yᵀb every row's right-hand side shares (users half with item_bias, (3)).
class RowSolver {
 public:
  // `precond`: M⁻¹ of Config::precondition (ld x ld) or null. `eig`: CG in
  // that eigenbasis (base and precond then unused), or null.
  RowSolver(const CsrView& m, const Side& side, const Config& cfg, const float* base, bool exact,
            const float* base_rhs = nullptr, const float* precond = nullptr, const Eigenbasis* eig = nullptr)
      : m_(m), side_(side), cfg_(cfg), base_(base), base_rhs_(base_rhs), precond_(precond),
        exact_(exact || cfg.solver == Solver::Cholesky), K_(kernels()), S_(simd::kernels()) {
    if (eig && !exact_) eig_ = eig;
    k_ = cfg.factors;
    aug_ = augmented(cfg, side);
    d_ = aug_ ? k_ + 1 : k_;
    ld_ = padded(d_);
    cap_ = std::max<size_t>(256, kGatherBytes / (ld_ * sizeof(float)));
    fixed_.f32 = side.fixed;
    fixed_.k = k_;
    if (side.fixed_i8) {
      fixed_.i8 = side.fixed_i8;
      fixed_.row_scale = side.fixed_row_scale;
      ahead_ = 2 * kGatherAhead;  // one-line rows: twice the rows for the same lines in flight (measured: 32 > 16)
    } else if (side.fixed_half) {
      fixed_.f16 = side.fixed_half;
      fixed_.inv_scale = 1.0f / side.fixed_half_scale;
      // CG keeps the gathered rows as halves (no bias column to append; exact: same bits as widening them).
      half_rows_ = cfg.half_buffer && !aug_ && !exact_ && K_.fast_half;
    }
  }

  size_t d() const { return d_; }
  size_t ld() const { return ld_; }

  // Fill s.a / s.b with the row's weights (a = c - w0 or 1, b = c or the
  // target) and return its length.
  size_t coefficients(int64_t row, Scratch& s) const {
    const int64_t lo = m_.indptr[row], hi = m_.indptr[row + 1];
    const size_t n = static_cast<size_t>(hi - lo);
    grow(s.a, n);
    grow(s.b, n);
    const float* w = m_.data + lo;
    float* a = s.a.data();
    float* b = s.b.data();
    if (cfg_.implicit) {
      // c = c0 + alpha w: the same value as confidence(), in a loop the compiler vectorizes.
      const float c0 = cfg_.confidence == Confidence::Linear ? 1.0f : 0.0f, alpha = cfg_.alpha;
      const float w0 = cfg_.unobserved_weight;
      for (size_t j = 0; j < n; ++j) {
        const float c = c0 + alpha * w[j];
        a[j] = c - w0;
        b[j] = c;
      }
      if (cfg_.item_bias && side_.fixed_bias) {  // users half with item_bias: weights c - (c - w0) b_j of (3)
        const int32_t* col = m_.indices + lo;
        for (size_t j = 0; j < n; ++j) b[j] -= a[j] * side_.fixed_bias[col[j]];
      }
    } else {
      const int32_t* col = m_.indices + lo;
      for (size_t j = 0; j < n; ++j) {
        a[j] = 1.0f;
        b[j] = w[j] - side_.global_mean - side_.fixed_bias[col[j]];
      }
    }
    return n;
  }

  const int32_t* cols(int64_t row) const { return m_.indices + m_.indptr[row]; }

  // Copy the factor vectors of entries [j0, j0 + nb) of the row into buf
  // (prefetching ahead: the rows are scattered over the fixed side).
  void gather(int64_t row, size_t j0, size_t nb, float* buf) const {
    K_.gather_matvec(fixed_, cols(row) + j0, nb, ld_, aug_, ahead_, nullptr, 0.0f, nullptr, nullptr,
                     nullptr, buf);
  }

  double lambda(size_t n) const { return row_lambda(cfg_, n, side_.n_fixed); }
  // Regularization of the bias coordinate of augmented rows: the row's own
  // lambda (explicit) or the constant lambda_b (implicit item bias).
  double bias_lambda(size_t n) const { return cfg_.implicit ? cfg_.item_bias_regularization : lambda(n); }
  // out[k] += scale (lambda_b - lambda) v[k]: turns lambda I into diag(lambda,..., lambda_b).
  void bias_reg_correction(size_t n, float scale, const float* v, float* out) const {
    if (aug_ && cfg_.implicit) out[k_] += scale * static_cast<float>(bias_lambda(n) - lambda(n)) * v[k_];
  }

  // Queue `next` (or nothing when < 0) for prefetching during this row's passes.
  void plan_prefetch(int64_t next, Scratch& s) const {
    s.next_done = 0;
    s.next_n = 0;
    if (next < 0) return;
    s.next_cols = cols(next);
    // Only the head of a long row: what fits in L2 beside this row's buffer (the
    // gather's own prefetching covers the rest; more would evict itself).
    const size_t row_bytes = k_ * (fixed_.i8 ? 1 : fixed_.f16 ? 2 : 4);
    s.next_n = std::min(static_cast<size_t>(m_.indptr[next + 1] - m_.indptr[next]), kNextRowBytes / row_bytes);
  }

  void prefetch_next(Scratch& s, size_t count) const {
    const size_t end = std::min(s.next_n, s.next_done + count);
    const size_t bytes = k_ * (fixed_.i8 ? 1 : fixed_.f16 ? 2 : 4);
    for (size_t j = s.next_done; j < end; ++j) {
      const size_t col = static_cast<size_t>(s.next_cols[j]);
      const char* p = fixed_.i8    ? reinterpret_cast<const char*>(fixed_.i8 + col * k_)
                      : fixed_.f16 ? reinterpret_cast<const char*>(fixed_.f16 + col * k_)
                                   : reinterpret_cast<const char*>(fixed_.f32 + col * k_);
      if (fixed_.i8) __builtin_prefetch(fixed_.row_scale + col, 0, 2);
      for (size_t off = 0; off < bytes; off += 64) __builtin_prefetch(p + off, 0, 2);
      __builtin_prefetch(p + bytes - 1, 0, 2);
    }
    s.next_done = end;
  }

  // out (ld, zeroed by the caller) += sum_j t_j y_j with t_j = beta_j + scale a_j <y_j, p>.
  // `passes_left` (>= 1) spreads the next row's prefetches over the remaining passes.
  void matvec(int64_t row, size_t n, Scratch& s, bool gathered, float scale, const float* beta, const float* p,
              float* out, size_t passes_left = 1) const {
    const float* a = cfg_.implicit ? s.a.data() : nullptr;
    if (gathered) {
      constexpr size_t kSeg = 16;  // a few prefetches per 16 rows keep the misses in flight spread out
      if (s.next_done >= s.next_n) {
        gathered_matvec(s, 0, n, a, scale, beta, p, out);
        return;
      }
      const size_t segs = (n + kSeg - 1) / kSeg;
      const size_t per = (s.next_n - s.next_done + segs * passes_left - 1) / (segs * passes_left);
      for (size_t j0 = 0; j0 < n; j0 += kSeg) {
        const size_t nb = std::min(kSeg, n - j0);
        gathered_matvec(s, j0, nb, a ? a + j0 : nullptr, scale, beta ? beta + j0 : nullptr, p, out);
        prefetch_next(s, per);
      }
      return;
    }
    for (size_t j0 = 0; j0 < n; j0 += cap_) {
      size_t nb = std::min(cap_, n - j0);
      K_.gather_matvec(fixed_, cols(row) + j0, nb, ld_, aug_, ahead_, a ? a + j0 : nullptr, scale,
                       beta ? beta + j0 : nullptr, p, out, s.Y.data());
    }
  }

  // weighted_matvec over gathered entries [j0, j0 + nb) of the buffer in use.
  void gathered_matvec(Scratch& s, size_t j0, size_t nb, const float* a, float scale, const float* beta, const float* p,
                       float* out) const {
    if (half_rows_)
      K_.weighted_matvec_h(s.H.data() + j0 * ld_, nb, ld_, fixed_.inv_scale, a, scale, beta, p, out);
    else
      K_.weighted_matvec(s.Y.data() + j0 * ld_, nb, ld_, a, scale, beta, p, out);
  }
  double gathered_sq(Scratch& s, size_t j0, size_t nb, const float* a, const float* p) const {
    return half_rows_ ? K_.weighted_sq_h(s.H.data() + j0 * ld_, nb, ld_, fixed_.inv_scale, a, p)
                      : K_.weighted_sq(s.Y.data() + j0 * ld_, nb, ld_, a, p);
  }

  // pᵀ Yᵀ diag(a) Y p over the gathered row, with the next row's prefetches
  // spread over it as in matvec (this is the last pass of the row).
  double curvature(size_t n, Scratch& s, const float* p) const {
    const float* a = cfg_.implicit ? s.a.data() : nullptr;
    if (s.next_done >= s.next_n) return gathered_sq(s, 0, n, a, p);
    constexpr size_t kSeg = 16;
    const size_t segs = (n + kSeg - 1) / kSeg;
    const size_t per = (s.next_n - s.next_done + segs - 1) / segs;
    double total = 0.0;
    for (size_t j0 = 0; j0 < n; j0 += kSeg) {
      const size_t nb = std::min(kSeg, n - j0);
      total += gathered_sq(s, j0, nb, a ? a + j0 : nullptr, p);
      prefetch_next(s, per);
    }
    return total;
  }

  // The data part of (1)'s normal matrix (s.Af, upper triangle, float) and
  // the right-hand side Yᵀ b (s.r); factor() adds the rest.
  void normal_equations(int64_t row, size_t n, Scratch& s, bool gathered) const {
    grow(s.Af, ld_ * ld_);
    std::fill(s.Af.begin(), s.Af.begin() + ld_ * ld_, 0.0f);
    auto accumulate = [&](const float* Y, size_t nb, size_t j0) {
      const float* Z = Y;
      if (cfg_.implicit) {
        grow(s.Z, nb * ld_);
        for (size_t j = 0; j < nb; ++j) {
          const float aj = s.a[j0 + j];
          const float* y = Y + j * ld_;
          float* z = s.Z.data() + j * ld_;
          for (size_t c = 0; c < ld_; ++c) z[c] = aj * y[c];
        }
        Z = s.Z.data();
      }
      K_.gram_upper(Y, Z, nb, ld_, d_, s.Af.data());
    };
    if (gathered) {
      accumulate(s.Y.data(), n, 0);
    } else {
      for (size_t j0 = 0; j0 < n; j0 += cap_) {
        size_t nb = std::min(cap_, n - j0);
        gather(row, j0, nb, s.Y.data());
        accumulate(s.Y.data(), nb, j0);
      }
    }
    grow(s.r, ld_);
    std::fill(s.r.begin(), s.r.begin() + ld_, 0.0f);
    matvec(row, n, s, gathered, 0.0f, s.b.data(), nullptr, s.r.data());
    if (base_rhs_) S_.axpy(1.0f, base_rhs_, s.r.data(), ld_);
  }

  // Cholesky factor of the normal matrix of a row with n observations (after
  // normal_equations) in s.A, rows system_stride(d) apart: the upper triangle
  // of s.Af + base + lambda I, in double. If rounding made it indefinite, it
  // is rebuilt with a growing ridge on the diagonal. False if that fails too.
  bool factor(size_t n, Scratch& s) const {
    const size_t lda = system_stride(d_);
    grow(s.A, d_ * lda);
    const double lam = lambda(n), bias_lam = aug_ ? bias_lambda(n) : lam;
    auto build = [&](double ridge) {
      for (size_t r = 0; r < d_; ++r) {
        const float* af = s.Af.data() + r * ld_;
        const float* bs = base_ ? base_ + r * ld_ : nullptr;
        double* a = s.A.data() + r * lda;
        for (size_t c = r; c < d_; ++c) a[c] = static_cast<double>(af[c]) + (bs ? static_cast<double>(bs[c]) : 0.0);
        a[r] += (r == k_ ? bias_lam : lam) + ridge;
      }
    };
    build(0.0);
    double trace = 0.0;
    for (size_t r = 0; r < d_; ++r) trace += std::fabs(s.A[r * lda + r]);
    if (K_.cholesky(s.A.data(), d_, lda)) return true;
    double ridge = 1e-7 * (trace / static_cast<double>(d_) + 1e-12);
    for (int attempt = 0; attempt < 8; ++attempt, ridge *= 100) {
      build(ridge);
      if (K_.cholesky(s.A.data(), d_, lda)) return true;
    }
    return false;
  }

  // Whether the row fits the gather buffer (then it is gathered once).
  bool fits(size_t n, Scratch& s) const {
    if (half_rows_ && n <= cap_) {
      grow(s.H, n * ld_);
      return true;
    }
    grow(s.Y, std::min(n, cap_) * ld_);
    return n <= cap_;
  }

  // Gather the row (when it fits) and return whether it is gathered.
  bool prepare(int64_t row, size_t n, Scratch& s) const {
    if (!fits(n, s)) return false;
    gather(row, 0, n, s.Y.data());
    return true;
  }

  // Solve one row in place (target[row], target_bias[row]); `next` is the row
  // this thread solves next (or -1), prefetched meanwhile.
  void solve(int64_t row, int64_t next, Scratch& s) const {
    float* xt = side_.target + static_cast<size_t>(row) * k_;
    float* bt = aug_ ? side_.target_bias + row : nullptr;
    const size_t n = coefficients(row, s);
    plan_prefetch(-1, s);
    if (n == 0) {  // no observations: the minimizer of the regularized objective is 0
      std::fill(xt, xt + k_, 0.0f);
      if (bt) *bt = 0.0f;
      return;
    }
    for (auto* v : {&s.x, &s.r, &s.p, &s.ap, &s.tmp}) {
      grow(*v, ld_);
      std::fill(v->begin(), v->begin() + ld_, 0.0f);
    }
    if (exact_) {
      const bool gathered = prepare(row, n, s);
      normal_equations(row, n, s, gathered);
      grow(s.rhs, d_);
      for (size_t c = 0; c < d_; ++c) s.rhs[c] = s.r[c];
      if (!factor(n, s)) {
        std::fill(xt, xt + k_, 0.0f);
        if (bt) *bt = 0.0f;
        return;
      }
      K_.cholesky_solve(s.A.data(), d_, system_stride(d_), s.rhs.data());
      for (size_t c = 0; c < k_; ++c) xt[c] = static_cast<float>(s.rhs[c]);
      if (bt) *bt = static_cast<float>(s.rhs[k_]);
      return;
    }
    conjugate_gradient(row, n, next, s, xt, bt);
  }

  // z = M⁻¹ r (Config::precondition; diagonal in the eigenbasis), or z = r; returns rᵀz.
  float precondition(const float* r, const float*& z, float* buf) const {
    if (!eig_) return apply_preconditioner(precond_, d_, ld_, r, buf, z);
    const float* w = eig_->precond_diag.data();
    for (size_t c = 0; c < ld_; ++c) buf[c] = w[c] * r[c];
    z = buf;
    return S_.dot(r, z, ld_);
  }

  bool has_base() const { return base_ || eig_; }
  // out += base v (diagonal in the eigenbasis).
  void add_base(const float* v, float* out) const {
    if (eig_) {
      const float* g = eig_->base_diag.data();
      for (size_t c = 0; c < ld_; ++c) out[c] += g[c] * v[c];
    } else {
      K_.symv(base_, d_, ld_, v, out);
    }
  }

  // (Preconditioned) CG on (1) from the current value (warm start), cfg.cg_steps steps.
  void conjugate_gradient(int64_t row, size_t n, int64_t next, Scratch& s, float* xt, float* bt) const {
    float* x = s.x.data();
    float* r = s.r.data();
    float* p = s.p.data();
    float* ap = s.ap.data();
    float* tmp = s.tmp.data();
    if (eig_) {  // the warm start into the eigenbasis
      std::fill(x, x + ld_, 0.0f);
      K_.symv(eig_->rotation.data(), k_, ld_, xt, x);
    } else {
      std::memcpy(x, xt, k_ * sizeof(float));
    }
    if (bt) x[k_] = *bt;
    const float lam = static_cast<float>(lambda(n));
    // r = b - A x = Yᵀ(b - a∘(Y x)) - base x - lam x; the gather computes the first term on the way.
    const bool gathered = fits(n, s);
    if (gathered && half_rows_) {
      K_.gather_matvec_h(fixed_, cols(row), n, ld_, ahead_, cfg_.implicit ? s.a.data() : nullptr, -1.0f, s.b.data(),
                         x, r, s.H.data());
    } else if (gathered) {
      K_.gather_matvec(fixed_, cols(row), n, ld_, aug_, ahead_, cfg_.implicit ? s.a.data() : nullptr, -1.0f,
                       s.b.data(), x, r, s.Y.data());
    } else {
      matvec(row, n, s, gathered, -1.0f, s.b.data(), x, r);
    }
    plan_prefetch(next, s);
    if (has_base()) {
      std::fill(tmp, tmp + ld_, 0.0f);
      add_base(x, tmp);
      S_.axpy(-1.0f, tmp, r, ld_);
    }
    S_.axpy(-lam, x, r, d_);
    bias_reg_correction(n, -1.0f, x, r);
    if (base_rhs_) S_.axpy(1.0f, base_rhs_, r, ld_);
    const float* z;  // tmp is free until the last step's pᵀ base p, when z is no longer needed
    float rz = precondition(r, z, tmp);
    std::memcpy(p, z, ld_ * sizeof(float));
    const bool preconditioned = precond_ || eig_;
    float rs = preconditioned ? S_.dot(r, r, ld_) : rz;  // |r|^2, the stopping test
    for (size_t step = 0; step < cfg_.cg_steps; ++step) {
      if (!(rs > kCgTolerance) || !(rz > 0.0f)) break;
      if (gathered && step + 1 == cfg_.cg_steps) {
        // Last step: x += alpha p needs only pᵀ A p, not A p (the residual is
        // not used again), so the pass over the row computes dots only.
        double pap = curvature(n, s, p);
        if (has_base()) {
          std::fill(tmp, tmp + ld_, 0.0f);
          add_base(p, tmp);
          pap += static_cast<double>(S_.dot(p, tmp, ld_));
        }
        pap += static_cast<double>(lam) * static_cast<double>(S_.dot(p, p, d_));
        if (aug_ && cfg_.implicit) pap += (bias_lambda(n) - lam) * static_cast<double>(p[k_]) * p[k_];
        if (!(pap > 0.0)) break;
        S_.axpy(static_cast<float>(static_cast<double>(rz) / pap), p, x, ld_);
        break;
      }
      std::fill(ap, ap + ld_, 0.0f);
      matvec(row, n, s, gathered, 1.0f, nullptr, p, ap, cfg_.cg_steps - step);
      if (has_base()) add_base(p, ap);
      S_.axpy(lam, p, ap, d_);
      bias_reg_correction(n, 1.0f, p, ap);
      const float pap = S_.dot(p, ap, ld_);
      if (!(pap > 0.0f)) break;  // not positive definite along p: stop where we are
      const float alpha = rz / pap;
      S_.axpy(alpha, p, x, ld_);
      S_.axpy(-alpha, ap, r, ld_);
      const float rz_new = precondition(r, z, tmp);
      rs = preconditioned ? S_.dot(r, r, ld_) : rz_new;
      S_.scale_add(1.0f, z, rz_new / rz, p, ld_);  // p = z + (rz_new / rz) p
      rz = rz_new;
    }
    prefetch_next(s, s.next_n);  // whatever the passes did not cover (e.g. CG stopped early)
    std::memcpy(xt, x, k_ * sizeof(float));
    if (bt) *bt = x[k_];
  }

 private:
  const CsrView& m_;
  const Side& side_;
  const Config& cfg_;
  const float* base_;
  const float* base_rhs_;
  const float* precond_;
  const Eigenbasis* eig_ = nullptr;
  bool exact_, aug_ = false;
  const Kernels& K_;
  const simd::Kernels& S_;
  size_t k_, d_, ld_, cap_;
  FixedRows fixed_;
  size_t ahead_ = kGatherAhead;
  bool half_rows_ = false;
};
// Side of gram_of_fixed()'s matrix: k, or k + 1 with item_bias.
size_t gram_dim(const Config& cfg) { return cfg.factors + (cfg.item_bias ? 1 : 0); }

// w0 * G padded to ld x ld (implicit), or empty (explicit: no shared term).
// g is gram_of_fixed(); augmented rows (items half with item_bias) use all of
// it, the others its leading k x k block (YᵀY).
std::vector<float> padded_base(const float* g, const Config& cfg, bool aug = false) {
  if (!cfg.implicit) return {};
  const size_t gd = gram_dim(cfg), d = aug ? cfg.factors + 1 : cfg.factors, ld = padded(d);
  std::vector<float> base(ld * ld, 0.0f);
  for (size_t r = 0; r < d; ++r)
    for (size_t c = 0; c < d; ++c) base[r * ld + c] = cfg.unobserved_weight * g[r * gd + c];
  return base;
}

// The right-hand side term -w0 Yᵀb of (3) (users half with item_bias), padded
// to ld; empty otherwise. g is the Gram matrix of [Y, b]: Yᵀb is its last column.
std::vector<float> padded_base_rhs(const float* g, const Config& cfg, bool aug) {
  if (!cfg.implicit || !cfg.item_bias || aug) return {};
  const size_t k = cfg.factors, gd = k + 1;
  std::vector<float> rhs(padded(k), 0.0f);
  for (size_t c = 0; c < k; ++c) rhs[c] = -cfg.unobserved_weight * g[c * gd + k];
  return rhs;
}

const float* data_or_null(const std::vector<float>& v) { return v.empty() ? nullptr : v.data(); }

// base and base_rhs of one half (implicit; left empty for explicit models)
// from the caller's gram_of_fixed() of the fixed side, or computed here.
void shared_terms(const Side& side, const float* fixed_gram, const Config& cfg, bool aug, size_t threads,
                  std::vector<float>& base, std::vector<float>& base_rhs) {
  if (!cfg.implicit) return;
  std::vector<float> computed;
  if (!fixed_gram) computed = gram_of_fixed(side.fixed, side.fixed_bias, side.n_fixed, cfg, threads);
  const float* g = fixed_gram ? fixed_gram : computed.data();
  base = padded_base(g, cfg, aug);
  base_rhs = padded_base_rhs(g, cfg, aug);
}

}  // namespace

void symmetric_eigen(std::vector<double>& a, size_t n, std::vector<double>& vectors) {
  vectors.assign(n * n, 0.0);
  for (size_t i = 0; i < n; ++i) vectors[i * n + i] = 1.0;
  auto off_diagonal = [&]() {
    double off = 0.0, all = 0.0;
    for (size_t r = 0; r < n; ++r)
      for (size_t c = 0; c < n; ++c) {
        const double v = a[r * n + c] * a[r * n + c];
        all += v;
        if (r != c) off += v;
      }
    return off <= 1e-26 * all;
  };
  for (int sweep = 0; sweep < 50 && !off_diagonal(); ++sweep) {
    for (size_t p = 0; p + 1 < n; ++p) {
      for (size_t q = p + 1; q < n; ++q) {
        const double apq = a[p * n + q];
        if (apq == 0.0) continue;
        // The rotation J (c on the diagonal, s at (p, q), -s at (q, p)) that zeroes
        // (JᵀAJ)_pq: t = s / c is the smaller root of t^2 + 2 theta t - 1 = 0.
        const double theta = (a[q * n + q] - a[p * n + p]) / (2.0 * apq);
        const double t = (theta >= 0.0 ? 1.0 : -1.0) / (std::fabs(theta) + std::sqrt(theta * theta + 1.0));
        const double c = 1.0 / std::sqrt(t * t + 1.0), s = t * c;
        for (size_t r = 0; r < n; ++r) {  // A J
          const double arp = a[r * n + p], arq = a[r * n + q];
          a[r * n + p] = c * arp - s * arq;
          a[r * n + q] = s * arp + c * arq;
        }
        for (size_t r = 0; r < n; ++r) {  // Jᵀ (A J)
          const double apr = a[p * n + r], aqr = a[q * n + r];
          a[p * n + r] = c * apr - s * aqr;
          a[q * n + r] = s * apr + c * aqr;
        }
        a[p * n + q] = a[q * n + p] = 0.0;
        for (size_t r = 0; r < n; ++r) {  // V J
          const double vrp = vectors[r * n + p], vrq = vectors[r * n + q];
          vectors[r * n + p] = c * vrp - s * vrq;
          vectors[r * n + q] = s * vrp + c * vrq;
        }
      }
    }
  }
}

std::vector<float> cg_preconditioner(const float* base, size_t k, bool aug, double lambda, double bias_lambda) {
  const size_t d = aug ? k + 1 : k, ld = padded(d);
  const size_t lda = system_stride(d);
  std::vector<double> M(d * lda);
  for (size_t r = 0; r < d; ++r)
    for (size_t c = 0; c < d; ++c) M[r * lda + c] = base[r * ld + c];
  for (size_t r = 0; r < d; ++r) M[r * lda + r] += lambda;
  if (aug) M[k * lda + k] += bias_lambda - lambda;
  const Kernels& K = kernels();
  double top = 0.0;
  for (size_t r = 0; r < d; ++r) top = std::max(top, M[r * lda + r]);
  // No ridge here (unlike the row solves): a nearly singular M would only
  // amplify rounding, so such halves run plain CG.
  if (!K.cholesky(M.data(), d, lda)) return {};
  for (size_t r = 0; r < d; ++r)
    if (M[r * lda + r] * M[r * lda + r] < 1e-7 * top) return {};
  std::vector<double> inv(d * d);  // column c = M⁻¹ e_c
  std::vector<double> e(d);
  for (size_t c = 0; c < d; ++c) {
    std::fill(e.begin(), e.end(), 0.0);
    e[c] = 1.0;
    K.cholesky_solve(M.data(), d, lda, e.data());
    for (size_t r = 0; r < d; ++r) inv[r * d + c] = e[r];
  }
  std::vector<float> P(ld * ld, 0.0f);
  for (size_t r = 0; r < d; ++r)  // symmetrized: rounding leaves the two triangles a few ulps apart
    for (size_t c = 0; c < d; ++c) P[r * ld + c] = static_cast<float>(0.5 * (inv[r * d + c] + inv[c * d + r]));
  return P;
}

float apply_preconditioner(const float* P, size_t d, size_t ld, const float* r, float* buf, const float*& z) {
  z = r;
  if (P) {
    std::fill(buf, buf + ld, 0.0f);
    kernels().symv(P, d, ld, r, buf);
    z = buf;
  }
  return simd::kernels().dot(r, z, ld);
}

namespace {

// The median of the rows' lambdas (all equal unless scaled per row).
double median_lambda(const CsrView& m, const int32_t* rows, size_t n_rows, const Side& side, const Config& cfg) {
  std::vector<double> lambdas(n_rows);
  for (size_t i = 0; i < n_rows; ++i)
    lambdas[i] = row_lambda(cfg, static_cast<size_t>(m.indptr[rows[i] + 1] - m.indptr[rows[i]]), side.n_fixed);
  std::nth_element(lambdas.begin(), lambdas.begin() + n_rows / 2, lambdas.end());
  return lambdas[n_rows / 2];
}

// Config::precondition's M⁻¹ for solving `rows` of m by CG against `base`, or
// empty (explicit: no shared term; Cholesky; switched off). Rows whose lambda
// is scaled share the median row's.
std::vector<float> preconditioner_for(const CsrView& m, const int32_t* rows, size_t n_rows, const Side& side,
                                      const float* base, const Config& cfg, bool exact) {
  if (!cfg.precondition || !cfg.implicit || !base || exact || cfg.solver != Solver::CG || n_rows == 0) return {};
  return cg_preconditioner(base, cfg.factors, augmented(cfg, side), median_lambda(m, rows, n_rows, side, cfg),
                           cfg.item_bias_regularization);
}

// Rows f[0..rows) (k floats each) replaced by f V, V = rotation (ld x ld).
void rotate_rows(float* f, size_t rows, size_t k, const std::vector<float>& rotation, size_t threads) {
  const size_t ld = padded(k);
  parallel_for(rows, 1024, threads, [&](size_t begin, size_t end, size_t) {
    std::vector<float> out(ld);
    for (size_t i = begin; i < end; ++i) {
      std::fill(out.begin(), out.end(), 0.0f);
      kernels().symv(rotation.data(), k, ld, f + i * k, out.data());
      std::memcpy(f + i * k, out.data(), k * sizeof(float));
    }
  });
}

// The users half's eigenbasis from the Gram matrix g of the fixed side
// (gram_of_fixed: YᵀY, or the Gram of [Y, b] whose leading block is YᵀY).
Eigenbasis eigenbasis_of(const std::vector<float>& g, const Config& cfg, double lambda) {
  const size_t k = cfg.factors, gd = gram_dim(cfg), ld = padded(k);
  std::vector<double> a(k * k), v;
  for (size_t r = 0; r < k; ++r)
    for (size_t c = 0; c < k; ++c) a[r * k + c] = g[r * gd + c];
  symmetric_eigen(a, k, v);
  Eigenbasis e;
  e.rotation.assign(ld * ld, 0.0f);
  e.base_diag.assign(ld, 0.0f);
  e.precond_diag.assign(ld, 0.0f);
  for (size_t r = 0; r < k; ++r)
    for (size_t c = 0; c < k; ++c) e.rotation[r * ld + c] = static_cast<float>(v[r * k + c]);
  for (size_t c = 0; c < k; ++c) {
    const double w = cfg.unobserved_weight * std::max(a[c * k + c], 0.0);  // a Gram matrix is PSD: clip rounding
    e.base_diag[c] = static_cast<float>(w);
    e.precond_diag[c] = w + lambda > 0.0 ? static_cast<float>(1.0 / (w + lambda)) : 1.0f;
  }
  return e;
}

// Rows by decreasing length, so the longest start first and dynamic
// scheduling balances the tail.
std::vector<int32_t> longest_first(const CsrView& m) {
  std::vector<int32_t> order(static_cast<size_t>(m.rows));
  std::iota(order.begin(), order.end(), 0);
  std::stable_sort(order.begin(), order.end(), [&](int32_t a, int32_t b) {
    return m.indptr[a + 1] - m.indptr[a] > m.indptr[b + 1] - m.indptr[b];
  });
  return order;
}

// `scratch` (one per thread) may be kept across calls: fit() does, so that the
// large gather buffers are allocated and faulted in once, not per half-iteration.
void run_rows(const CsrView& m, const int32_t* rows, size_t n_rows, const Side& side, const float* base,
              const Config& cfg, bool exact, size_t threads, const CancelToken* cancel,
              std::vector<Scratch>* kept = nullptr, const float* base_rhs = nullptr,
              const Eigenbasis* eig = nullptr) {
  const std::vector<float> precond = eig ? std::vector<float>() : preconditioner_for(m, rows, n_rows, side, base, cfg, exact);
  RowSolver solver(m, side, cfg, base, exact, base_rhs, data_or_null(precond), eig);
  const size_t slots = resolve_threads(threads);
  // One-thread calls (fold-in, a few rows) reuse this thread's buffers: for a
  // short history, allocating them was a fifth of the call.
  thread_local std::vector<Scratch> reused;
  std::vector<Scratch> local;
  std::vector<Scratch>& scratch = kept ? *kept : slots == 1 ? reused : local;
  if (scratch.size() < slots) scratch.resize(slots);
  parallel_for(n_rows, 16, slots, [&](size_t begin, size_t end, size_t slot) {
    check_cancel(cancel);
    for (size_t i = begin; i < end; ++i) solver.solve(rows[i], i + 1 < end ? rows[i + 1] : -1, scratch[slot]);
  });
}

// Objective terms of the rows of `m` (target side) against the fixed side,
// including the target side's regularization; see als.hpp.
double side_loss(const CsrView& m, const Side& side, const std::vector<float>& fixed_gram, const Config& cfg,
                 size_t threads) {
  const size_t k = cfg.factors;
  std::vector<double> per_row(static_cast<size_t>(m.rows), 0.0);
  parallel_for(static_cast<size_t>(m.rows), 256, threads, [&](size_t begin, size_t end, size_t) {
    std::vector<double> gx(k);
    for (size_t u = begin; u < end; ++u) {
      const float* x = side.target + u * k;
      const double bu = cfg.implicit ? 0.0 : side.target_bias[u];
      const int64_t lo = m.indptr[u], hi = m.indptr[u + 1];
      double sum = 0.0, norm = bu * bu;
      for (size_t c = 0; c < k; ++c) norm += static_cast<double>(x[c]) * x[c];
      if (cfg.implicit) {
        // w0 * xᵀ G x covers every cell as if unobserved; observed cells are corrected below.
        // With item_bias, x' = [x, 1] against G = the Gram of [Y, b] gives sum_i (x.y_i + b_i)^2.
        const size_t gd = gram_dim(cfg);
        auto xc = [&](size_t c) { return c < k ? static_cast<double>(x[c]) : 1.0; };
        double xgx = 0.0;
        for (size_t r = 0; r < gd; ++r) {
          double s = 0.0;
          for (size_t c = 0; c < gd; ++c) s += static_cast<double>(fixed_gram[r * gd + c]) * xc(c);
          xgx += s * xc(r);
        }
        sum += cfg.unobserved_weight * xgx;
      }
      for (int64_t e = lo; e < hi; ++e) {
        const int32_t i = m.indices[e];
        const float* y = side.fixed + static_cast<size_t>(i) * k;
        double s = cfg.item_bias ? side.fixed_bias[i] : 0.0;  // b_i (item_bias)
        for (size_t c = 0; c < k; ++c) s += static_cast<double>(x[c]) * y[c];
        if (cfg.implicit) {
          const double conf = confidence(cfg, m.data[e]);
          sum += conf * (1.0 - s) * (1.0 - s) - cfg.unobserved_weight * s * s;
        } else {
          const double err = m.data[e] - side.global_mean - bu - side.fixed_bias[i] - s;
          sum += err * err;
        }
      }
      sum += row_lambda(cfg, static_cast<size_t>(hi - lo), side.n_fixed) * norm;
      per_row[u] = sum;
    }
  });
  double total = 0.0;
  for (double v : per_row) total += v;  // fixed order: deterministic
  return total;
}

// Regularization of the rows of `m` alone (the fixed side's share of the objective).
// Biases share the row's lambda (explicit) or have the constant lambda_b (implicit item_bias).
double reg_loss(const CsrView& m, const float* f, const float* bias, size_t n_other, const Config& cfg) {
  const size_t k = cfg.factors;
  double total = 0.0;
  for (int64_t r = 0; r < m.rows; ++r) {
    const double b2 = bias ? static_cast<double>(bias[r]) * bias[r] : 0.0;
    double norm = cfg.implicit ? 0.0 : b2;
    for (size_t c = 0; c < k; ++c) norm += static_cast<double>(f[r * k + c]) * f[r * k + c];
    total += row_lambda(cfg, static_cast<size_t>(m.indptr[r + 1] - m.indptr[r]), n_other) * norm;
    if (cfg.implicit) total += cfg.item_bias_regularization * b2;
  }
  return total;
}

double loss_with_gram(const CsrView& ui, const CsrView& iu, const Config& cfg, const Model& model,
                      const std::vector<float>& item_gram, size_t threads) {
  Side users;
  users.fixed = model.item_factors.data();
  users.fixed_bias = data_or_null(model.item_bias);
  users.n_fixed = model.items;
  users.target = const_cast<float*>(model.user_factors.data());
  users.target_bias = cfg.implicit ? nullptr : const_cast<float*>(model.user_bias.data());
  users.global_mean = model.global_mean;
  double total = side_loss(ui, users, item_gram, cfg, threads);
  total += reg_loss(iu, model.item_factors.data(), data_or_null(model.item_bias), model.users, cfg);
  const double nnz = static_cast<double>(std::max<int64_t>(1, ui.nnz()));
  return total / nnz;
}

// The rows' extents and the column indices address the factor arrays: a malformed matrix must be an error, not
// an out-of-bounds read.
void check_structure(const CsrView& m, const char* name) {
  if (m.rows < 0 || m.cols < 0 || (m.rows > 0 && m.indptr[0] != 0))
    throw_invalid(std::string(name) + ": expected a CSR matrix whose indptr starts at 0");
  for (int64_t r = 0; r < m.rows; ++r)
    if (m.indptr[r + 1] < m.indptr[r])
      throw_invalid(std::string(name) + ": indptr decreases at row " + std::to_string(r) + " (a damaged matrix)");
  const int64_t nnz = m.nnz();
  for (int64_t e = 0; e < nnz; ++e)
    if (m.indices[e] < 0 || m.indices[e] >= m.cols)
      throw_invalid(std::string(name) + ": column index " + std::to_string(m.indices[e]) + " at entry " + std::to_string(e) +
                    " is outside [0, " + std::to_string(m.cols) + ") (a damaged matrix)");
}

std::string short_number(double v) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%g", v);
  return buf;
}

// Solving in float32 overflows with extreme settings (regularization 1e30, or weights times alpha near the float
// range): an error that says so, instead of factors that are NaN or infinite and score nothing.
void check_finite(const float* v, size_t n, const char* what, const Config& cfg) {
  for (size_t j = 0; j < n; ++j)
    if (!std::isfinite(v[j]))
      throw_invalid(std::string(what) + ": solving produced a non-finite value (float32 overflow); the settings are too extreme (alpha " +
                    short_number(cfg.alpha) + ", unobservedWeight " + short_number(cfg.unobserved_weight) + ", regularization " +
                    short_number(cfg.regularization) + "): lower them, or scale the interaction weights down");
}

void check_values(const CsrView& m, const Config& cfg) {
  check_structure(m, "matrix");
  const int64_t nnz = m.nnz();
  for (int64_t e = 0; e < nnz; ++e) {
    const float v = m.data[e];
    if (!std::isfinite(v) || (cfg.implicit && v < 0.0f)) {
      int64_t row = std::upper_bound(m.indptr, m.indptr + m.rows + 1, e) - m.indptr - 1;
      throw_invalid(std::string("matrix: implicit ALS needs finite weights >= 0 (confidence 1 + alpha * w); ") +
                    "found " + std::to_string(v) + " at row " + std::to_string(row) + ", column " +
                    std::to_string(m.indices[e]));
    }
  }
}

void check_model(const CsrView& ui, const CsrView& iu, const Config& cfg, const Model& model) {
  if (model.factors != cfg.factors) throw Error(ErrorCode::DimensionMismatch, "model factors differ from config.factors");
  if (ui.rows != static_cast<int64_t>(model.users) || ui.cols != static_cast<int64_t>(model.items) ||
      iu.rows != ui.cols || iu.cols != ui.rows || iu.nnz() != ui.nnz())
    throw Error(ErrorCode::DimensionMismatch, "matrix: user x item matrix, its transpose and the model disagree in shape");
  if (model.user_factors.size() != model.users * model.factors || model.item_factors.size() != model.items * model.factors)
    throw Error(ErrorCode::DimensionMismatch, "model: factor arrays have the wrong length");
  if (!cfg.implicit && (model.user_bias.size() != model.users || model.item_bias.size() != model.items))
    throw Error(ErrorCode::DimensionMismatch, "model: bias arrays have the wrong length");
  if (cfg.implicit && (model.item_bias.size() != (cfg.item_bias ? model.items : 0) || !model.user_bias.empty()))
    throw Error(ErrorCode::DimensionMismatch, cfg.item_bias ? "model: item_bias needs one item bias per item and no user biases"
                                                            : "model: implicit models without item_bias have no bias arrays");
}

}  // namespace

// A zeroed float vector whose pages the kernel may back with 2 MiB pages: the
// gathers jump around the fixed side's factors, and with 4 KiB pages nearly
// every gathered row of a large side costs a TLB miss. Advised before the
// first touch so the faults themselves get huge pages.
std::vector<float> huge_vector(size_t n) {
  std::vector<float> v;
  v.reserve(n);
#if defined(__linux__) && defined(MADV_HUGEPAGE)
  constexpr uintptr_t kHuge = 2u << 20;
  uintptr_t lo = (reinterpret_cast<uintptr_t>(v.data()) + kHuge - 1) & ~(kHuge - 1);
  uintptr_t hi = (reinterpret_cast<uintptr_t>(v.data() + n)) & ~(kHuge - 1);
  if (hi > lo) madvise(reinterpret_cast<void*>(lo), hi - lo, MADV_HUGEPAGE);  // advice only: errors are harmless
#endif
  v.resize(n);
  return v;
}

void validate(const Config& c) {
  if (c.factors < 1 || c.factors > 4096) throw_invalid("factors: expected an integer in [1, 4096] but received " + std::to_string(c.factors));
  if (!std::isfinite(c.alpha) || c.alpha < 0) throw_invalid("alpha: expected a finite number >= 0");
  if (!std::isfinite(c.unobserved_weight) || c.unobserved_weight < 0) throw_invalid("unobservedWeight: expected a finite number >= 0");
  if (!std::isfinite(c.regularization) || c.regularization < 0) throw_invalid("regularization: expected a finite number >= 0");
  if (!std::isfinite(c.nu)) throw_invalid("nu: expected a finite number");
  if (c.cg_steps < 1 || c.cg_steps > 1000) throw_invalid("cgSteps: expected an integer in [1, 1000]");
  if (c.item_bias && !c.implicit)
    throw_invalid("itemBias: only for implicit feedback (explicit models always learn user and item biases)");
  if (!std::isfinite(c.item_bias_regularization) || c.item_bias_regularization < 0)
    throw_invalid("itemBiasRegularization: expected a finite number >= 0");
}

Model init_model(const CsrView& ui, const Config& cfg, uint64_t seed) {
  validate(cfg);
  Model m;
  m.users = static_cast<size_t>(ui.rows);
  m.items = static_cast<size_t>(ui.cols);
  m.factors = cfg.factors;
  m.user_factors = huge_vector(m.users * m.factors);
  m.item_factors = huge_vector(m.items * m.factors);
  // splitmix64: a tiny generator whose output is the same on every platform.
  uint64_t state = seed ^ 0x9e3779b97f4a7c15ull;
  auto next = [&state]() {
    uint64_t z = (state += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
  };
  const float scale = 0.1f / std::sqrt(static_cast<float>(cfg.factors));
  auto fill = [&](std::vector<float>& v) {
    for (float& x : v) x = scale * (2.0f * static_cast<float>((next() >> 40) * 0x1.0p-24) - 1.0f);
  };
  fill(m.user_factors);
  fill(m.item_factors);
  if (cfg.item_bias) m.item_bias.assign(m.items, 0.0f);
  if (!cfg.implicit) {
    m.user_bias.assign(m.users, 0.0f);
    m.item_bias.assign(m.items, 0.0f);
    double sum = 0.0;
    for (int64_t e = 0; e < ui.nnz(); ++e) sum += ui.data[e];
    m.global_mean = ui.nnz() > 0 ? static_cast<float>(sum / static_cast<double>(ui.nnz())) : 0.0f;
  }
  return m;
}

float half_copy(const float* f, size_t n, uint16_t* out, size_t threads) {
  constexpr size_t kChunk = 1 << 16;
  const size_t chunks = (n + kChunk - 1) / kChunk;
  std::vector<float> chunk_max(chunks, 0.0f);
  parallel_for(chunks, 1, threads, [&](size_t begin, size_t end, size_t) {
    for (size_t c = begin; c < end; ++c) {
      float m = 0.0f;
      for (size_t i = c * kChunk, e = std::min(n, i + kChunk); i < e; ++i) {
        const float v = std::fabs(f[i]);
        m = (v > m || v != v) ? v : m;  // NaN sticks
      }
      chunk_max[c] = m;
    }
  });
  float top = 0.0f;
  for (float m : chunk_max) top = (m > top || m != m) ? m : top;
  if (!std::isfinite(top)) return 0.0f;
  int e = 0;
  std::frexp(top, &e);  // top in [2^(e-1), 2^e)
  const float scale = top > 0.0f ? std::ldexp(1.0f, 15 - e) : 1.0f;
  const Kernels& K = kernels();
  parallel_for(chunks, 1, threads, [&](size_t begin, size_t end, size_t) {
    for (size_t c = begin; c < end; ++c) {
      const size_t i = c * kChunk;
      K.to_half(f + i, std::min(kChunk, n - i), scale, out + i);
    }
  });
  return scale;
}

bool int8_copy(const float* f, size_t rows, size_t k, int8_t* out, float* scale, size_t threads) {
  constexpr size_t kChunk = 1 << 12;  // rows
  const size_t chunks = (rows + kChunk - 1) / kChunk;
  std::vector<uint8_t> finite(chunks, 1);
  const Kernels& K = kernels();
  parallel_for(chunks, 1, threads, [&](size_t begin, size_t end, size_t) {
    for (size_t c = begin; c < end; ++c) {
      const size_t r0 = c * kChunk, nr = std::min(kChunk, rows - r0);
      for (size_t i = r0 * k, e = (r0 + nr) * k; i < e; ++i)
        if (!std::isfinite(f[i])) {
          finite[c] = 0;
          break;
        }
      K.to_int8_rows(f + r0 * k, nr, k, out + r0 * k, scale + r0);
    }
  });
  return std::all_of(finite.begin(), finite.end(), [](uint8_t x) { return x != 0; });
}

namespace {
// FᵀF of rows of d floats, or with extra = true of rows [f_r, column[r]]
// (column null: 1), d + 1 wide; summed in a fixed order.
std::vector<float> gram_rows(const float* f, size_t rows, size_t k, bool extra, const float* column, size_t threads) {
  const size_t d = k + (extra ? 1 : 0);
  const size_t ld = padded(d);
  const size_t chunks = (rows + kGramChunk - 1) / kGramChunk;
  std::vector<float> partial(chunks * ld * ld, 0.0f);
  const Kernels& K = kernels();
  const size_t slots = resolve_threads(threads);
  std::vector<std::vector<float>> bufs(slots);
  parallel_for(chunks, 1, slots, [&](size_t begin, size_t end, size_t slot) {
    auto& buf = bufs[slot];
    buf.assign(kGramChunk * ld, 0.0f);
    for (size_t c = begin; c < end; ++c) {
      const size_t r0 = c * kGramChunk, nb = std::min(kGramChunk, rows - r0);
      for (size_t j = 0; j < nb; ++j) {
        std::memcpy(buf.data() + j * ld, f + (r0 + j) * k, k * sizeof(float));
        if (extra) buf[j * ld + k] = column ? column[r0 + j] : 1.0f;
      }
      K.gram_upper(buf.data(), buf.data(), nb, ld, d, partial.data() + c * ld * ld);
    }
  });
  std::vector<double> sum(d * d, 0.0);
  for (size_t c = 0; c < chunks; ++c)
    for (size_t r = 0; r < d; ++r)
      for (size_t col = r; col < d; ++col) sum[r * d + col] += partial[c * ld * ld + r * ld + col];
  std::vector<float> g(d * d);
  for (size_t r = 0; r < d; ++r)
    for (size_t col = r; col < d; ++col) g[r * d + col] = g[col * d + r] = static_cast<float>(sum[r * d + col]);
  return g;
}
}  // namespace

std::vector<float> gram(const float* f, size_t rows, size_t d, size_t threads) {
  return gram_rows(f, rows, d, false, nullptr, threads);
}

std::vector<float> gram_of_fixed(const float* f, const float* column, size_t rows, const Config& cfg, size_t threads) {
  return gram_rows(f, rows, cfg.factors, cfg.item_bias, column, threads);
}

FitResult fit(const CsrView& ui, const CsrView& iu, const Config& cfg, const FitOptions& opt, Model& model) {
  validate(cfg);
  check_model(ui, iu, cfg, model);
  check_values(ui, cfg);
  check_structure(iu, "itemUsers");
  const std::vector<int32_t> user_order = longest_first(ui), item_order = longest_first(iu);
  Side users, items;
  users.fixed = model.item_factors.data();
  users.n_fixed = model.items;
  users.target = model.user_factors.data();
  items.fixed = model.user_factors.data();
  items.n_fixed = model.users;
  items.target = model.item_factors.data();
  if (!cfg.implicit) {
    users.fixed_bias = model.item_bias.data();
    users.target_bias = model.user_bias.data();
    items.fixed_bias = model.user_bias.data();
    items.target_bias = model.item_bias.data();
    users.global_mean = items.global_mean = model.global_mean;
  } else if (cfg.item_bias) {  // (2) and (3): users see b as fixed_bias, items solve [y, b]
    users.fixed_bias = model.item_bias.data();
    items.target_bias = model.item_bias.data();
  }
  const size_t k = cfg.factors;
  const bool int8_gather = cfg.gather == Gather::Int8 && cfg.solver == Solver::CG;  // Cholesky stays exact
  const bool half_gather = cfg.gather == Gather::Float16 && cfg.solver == Solver::CG;
  FitResult result;
  std::vector<Scratch> scratch;  // per-thread buffers, kept for the whole fit
  HugeBuffer half;  // the half copy of the current fixed side (Config::gather)
  // One buffer serves both halves (sized for the larger side); a zero scale (non-finite factors) means gather float32.
  auto use_half_copy = [&](const std::vector<float>& fixed, Side& side) {
    uint16_t* h = half.get(std::max(model.item_factors.size(), model.user_factors.size()));
    side.fixed_half_scale = half_copy(fixed.data(), fixed.size(), h, opt.threads);
    side.fixed_half = side.fixed_half_scale > 0.0f ? h : nullptr;
  };
  std::vector<float> row_scale;  // the int8 copy's per-row scales (Config::gather)
  auto use_int8_copy = [&](const std::vector<float>& fixed, size_t rows, Side& side) {
    int8_t* q = reinterpret_cast<int8_t*>(half.get((std::max(model.item_factors.size(), model.user_factors.size()) + 1) / 2));
    row_scale.resize(std::max(model.items, model.users));
    const bool ok = int8_copy(fixed.data(), rows, k, q, row_scale.data(), opt.threads);
    side.fixed_i8 = ok ? q : nullptr;
    side.fixed_row_scale = ok ? row_scale.data() : nullptr;
  };
  // Implicit CG solves the items half by streaming the user rows (stream.hpp).
  std::unique_ptr<StreamedItems> streamed;
  std::vector<float> item_lambda;
  std::vector<int32_t> gathered_items = item_order;  // the items the per-row solver handles
  std::vector<int32_t> hot;                          // and those streamed
  if (cfg.implicit && !cfg.item_bias && cfg.solver == Solver::CG && cfg.stream_items) {
    hot = hot_items(iu, cfg);
    if (!hot.empty()) {
      streamed = std::make_unique<StreamedItems>(ui, hot, k, opt.threads);
      item_lambda.resize(model.items);
      for (size_t i = 0; i < model.items; ++i)
        item_lambda[i] =
            static_cast<float>(row_lambda(cfg, static_cast<size_t>(iu.indptr[i + 1] - iu.indptr[i]), model.users));
      std::vector<uint8_t> is_hot(model.items, 0);
      for (int32_t i : hot) is_hot[static_cast<size_t>(i)] = 1;
      gathered_items.clear();
      for (int32_t i : item_order)
        if (!is_hot[static_cast<size_t>(i)]) gathered_items.push_back(i);
    }
  }
  // gram_of_fixed: YᵀY, or with item_bias the Gram of [Y, b] (users half) and of [X, 1] (items half).
  const float* item_bias = data_or_null(model.item_bias);
  std::vector<float> item_gram;
  if (cfg.implicit) item_gram = gram_of_fixed(model.item_factors.data(), item_bias, model.items, cfg, opt.threads);
  // The eigen-decomposition costs O(k^3) a half (Jacobi: 6 ms at k = 64, 175 ms at 256 from a nearly diagonal
  // Gram, 4x that from scratch); the products it removes cost O(users k^2): worth it from ~32 k users on.
  const bool in_eigenbasis = cfg.implicit && cfg.solver == Solver::CG && cfg.precondition && cfg.eigenbasis &&
                             model.users >= 32 * k;
  const double user_lambda = user_order.empty() ? 0.0 : median_lambda(ui, user_order.data(), user_order.size(), users, cfg);
  for (size_t it = 1; it <= opt.iterations; ++it) {
    check_cancel(opt.cancel);
    const auto t0 = std::chrono::steady_clock::now();
    std::vector<float> base = padded_base(item_gram.data(), cfg);
    std::vector<float> base_rhs = padded_base_rhs(item_gram.data(), cfg, false);
    std::unique_ptr<Eigenbasis> eig;
    // Not for an iteration whose Gram is not finite: Jacobi would run all its sweeps on NaN.
    if (in_eigenbasis && std::all_of(item_gram.begin(), item_gram.end(), [](float v) { return std::isfinite(v); })) {
      // Rotate the items now, each user's warm start as it is solved.
      eig = std::make_unique<Eigenbasis>(eigenbasis_of(item_gram, cfg, user_lambda));
      rotate_rows(model.item_factors.data(), model.items, k, eig->rotation, opt.threads);
      if (!base_rhs.empty()) rotate_rows(base_rhs.data(), 1, k, eig->rotation, 1);
    }
    if (half_gather) use_half_copy(model.item_factors, users);
    if (int8_gather) use_int8_copy(model.item_factors, model.items, users);
    run_rows(ui, user_order.data(), user_order.size(), users, base.empty() ? nullptr : base.data(), cfg, false,
             opt.threads, opt.cancel, &scratch, data_or_null(base_rhs), eig.get());
    if (cfg.implicit)
      base = padded_base(gram_of_fixed(model.user_factors.data(), nullptr, model.users, cfg, opt.threads).data(), cfg,
                         augmented(cfg, items));
    if (streamed) {
      const std::vector<float> precond = preconditioner_for(iu, hot.data(), hot.size(), items, base.data(), cfg, false);
      streamed->solve(model.user_factors.data(), model.item_factors.data(), base.data(), item_lambda.data(), cfg,
                      opt.cancel, data_or_null(precond));
    }
    if (half_gather) use_half_copy(model.user_factors, items);
    if (int8_gather) use_int8_copy(model.user_factors, model.users, items);
    run_rows(iu, gathered_items.data(), gathered_items.size(), items, base.empty() ? nullptr : base.data(), cfg, false,
             opt.threads, opt.cancel, &scratch);
    if (cfg.implicit) item_gram = gram_of_fixed(model.item_factors.data(), item_bias, model.items, cfg, opt.threads);
    double loss = 0.0 / 0.0;
    if (opt.compute_loss) loss = loss_with_gram(ui, iu, cfg, model, item_gram, opt.threads);
    const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    check_finite(model.user_factors.data(), model.user_factors.size(), "userFactors", cfg);
    check_finite(model.item_factors.data(), model.item_factors.size(), "itemFactors", cfg);
    check_finite(model.user_bias.data(), model.user_bias.size(), "userBias", cfg);
    check_finite(model.item_bias.data(), model.item_bias.size(), "itemBias", cfg);
    result.loss = loss;
    if (opt.progress) opt.progress(it, seconds, loss);
  }
  if (cfg.implicit) result.item_gram = std::move(item_gram);
  return result;
}

double loss(const CsrView& ui, const CsrView& iu, const Config& cfg, const Model& model, size_t threads) {
  validate(cfg);
  check_model(ui, iu, cfg, model);
  std::vector<float> g;
  if (cfg.implicit) g = gram_of_fixed(model.item_factors.data(), data_or_null(model.item_bias), model.items, cfg, threads);
  return loss_with_gram(ui, iu, cfg, model, g, threads);
}

void solve_rows(const CsrView& m, const int32_t* rows, size_t n_rows, const Side& side, const float* fixed_gram,
                const Config& cfg, bool exact, size_t threads, const CancelToken* cancel) {
  validate(cfg);
  check_values(m, cfg);
  if (m.cols != static_cast<int64_t>(side.n_fixed))
    throw Error(ErrorCode::DimensionMismatch, "matrix: columns must match the rows of the fixed factors");
  for (size_t i = 0; i < n_rows; ++i)
    if (rows[i] < 0 || rows[i] >= m.rows) throw_invalid("rows: index " + std::to_string(rows[i]) + " out of range");
  const bool aug = augmented(cfg, side);
  if (aug && !side.target_bias)
    throw_invalid("side: the rows solved here learn a bias (explicit, or the items of an itemBias model): target_bias is required");
  std::vector<float> base, base_rhs;
  shared_terms(side, fixed_gram, cfg, aug, threads, base, base_rhs);
  run_rows(m, rows, n_rows, side, data_or_null(base), cfg, exact, threads, cancel, nullptr, data_or_null(base_rhs));
  const size_t k = cfg.factors;
  for (size_t i = 0; i < n_rows; ++i) {
    const size_t r = static_cast<size_t>(rows[i]);
    check_finite(side.target + r * k, k, "factors", cfg);
    if (side.target_bias) check_finite(side.target_bias + r, 1, "bias", cfg);
  }
}

FoldInPlan plan_fold_in(const Side& side, const float* fixed_gram, const Config& cfg) {
  validate(cfg);
  FoldInPlan plan;
  plan.config = cfg;
  plan.side = side;
  plan.side.target = nullptr;
  plan.side.target_bias = nullptr;
  shared_terms(side, fixed_gram, cfg, augmented(cfg, side), 1, plan.base, plan.base_rhs);
  return plan;
}

void fold_in(const FoldInPlan& plan, const CsrView& history, float* x, float* bias) {
  const Config& cfg = plan.config;
  check_values(history, cfg);
  if (history.rows != 1 || history.cols != static_cast<int64_t>(plan.side.n_fixed))
    throw Error(ErrorCode::DimensionMismatch, "history: expected one row over the fixed side's columns");
  Side side = plan.side;
  side.target = x;
  side.target_bias = bias;
  *bias = 0.0f;
  const int32_t row = 0;
  run_rows(history, &row, 1, side, data_or_null(plan.base), cfg, true, 1, nullptr, nullptr, data_or_null(plan.base_rhs));
  check_finite(x, cfg.factors, "factors", cfg);
  check_finite(bias, 1, "bias", cfg);
}

std::vector<float> explain(const CsrView& history, const Side& side, const float* fixed_gram, const Config& cfg,
                           int32_t item) {
  validate(cfg);
  check_values(history, cfg);
  if (history.rows != 1 || history.cols != static_cast<int64_t>(side.n_fixed))
    throw Error(ErrorCode::DimensionMismatch, "history: expected one row over the fixed side's columns");
  if (item < 0 || static_cast<size_t>(item) >= side.n_fixed) throw_invalid("item: index out of range");
  if (cfg.item_bias && !side.fixed_bias) throw_invalid("side: explaining an itemBias model needs the item biases (fixed_bias)");
  std::vector<float> base, base_rhs;
  shared_terms(side, fixed_gram, cfg, false, 1, base, base_rhs);
  RowSolver solver(history, side, cfg, data_or_null(base), true, data_or_null(base_rhs));
  Scratch s;
  const size_t n = solver.coefficients(0, s);
  std::vector<float> out(n + (cfg.item_bias ? 1 : 0), 0.0f);  // item_bias: the shared term -w0 <z, Yᵀb> last
  if (n == 0) return out;
  const bool gathered = solver.prepare(0, n, s);
  solver.normal_equations(0, n, s, gathered);
  const size_t d = solver.d(), ld = solver.ld(), k = cfg.factors;
  if (!solver.factor(n, s)) return out;
  // z = W⁻¹ y'_item
  std::vector<double> z(d);
  for (size_t c = 0; c < k; ++c) z[c] = side.fixed[static_cast<size_t>(item) * k + c];
  if (d > k) z[k] = 1.0;
  kernels().cholesky_solve(s.A.data(), d, system_stride(d), z.data());
  std::vector<float> row(ld);
  for (size_t j = 0; j < n; ++j) {
    solver.gather(0, j, 1, row.data());
    double dot = 0.0;
    for (size_t c = 0; c < d; ++c) dot += z[c] * row[c];
    out[j] = static_cast<float>(s.b[j] * dot);
  }
  if (cfg.item_bias) {
    double dot = 0.0;
    for (size_t c = 0; c < k; ++c) dot += z[c] * base_rhs[c];
    out[n] = static_cast<float>(dot);
  }
  return out;
}

}  // namespace fastrec::als
