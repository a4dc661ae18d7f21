// Streamed items half of implicit CG (see stream.hpp).
#include "als/stream.hpp"

#include <algorithm>
#include <cstring>

#include "als/kernels.hpp"
#include "common/simd.hpp"
#include "common/thread_pool.hpp"

namespace fastrec::als {

std::vector<int32_t> hot_items(const CsrView& iu, const Config& cfg) {
  const size_t items = static_cast<size_t>(iu.rows), ld = padded(cfg.factors);
  auto count = [&](int32_t i) { return iu.indptr[i + 1] - iu.indptr[i]; };
  // Rows whose gathered block would not fit half of L2 (256 KiB): below that
  // the per-row solver runs in cache and a sweep over all users cannot pay.
  const int64_t min_count = cfg.stream_min_count
                                ? static_cast<int64_t>(cfg.stream_min_count)
                                : static_cast<int64_t>((256u << 10) / (ld * sizeof(float)));
  // As many as keep their CG vectors p and A p (2 ld floats each) within 512
  // KiB, so the hot rows stay in L2 while the users stream past. Fixed (not per
  // thread) so that the result does not depend on the number of threads.
  const size_t budget = cfg.stream_max_items ? cfg.stream_max_items : (512u << 10) / (2 * ld * sizeof(float));
  std::vector<int32_t> order;
  for (size_t i = 0; i < items; ++i)
    if (count(static_cast<int32_t>(i)) >= min_count) order.push_back(static_cast<int32_t>(i));
  std::stable_sort(order.begin(), order.end(), [&](int32_t a, int32_t b) { return count(a) > count(b); });
  if (order.size() > budget) order.resize(budget);
  return order;
}

StreamedItems::StreamedItems(const CsrView& ui, const std::vector<int32_t>& hot, size_t factors, size_t threads)
    : k_(factors), ld_(padded(factors)), slots_(resolve_threads(threads)), users_(static_cast<size_t>(ui.rows)),
      hot_(hot) {
  const size_t h = hot_.size();
  std::vector<int32_t> local(static_cast<size_t>(ui.cols), -1);
  for (size_t l = 0; l < h; ++l) local[static_cast<size_t>(hot_[l])] = static_cast<int32_t>(l);
  // users x hot, local ids increasing within each row.
  indptr_.assign(users_ + 1, 0);
  for (size_t u = 0; u < users_; ++u) {
    int64_t n = 0;
    for (int64_t e = ui.indptr[u]; e < ui.indptr[u + 1]; ++e) n += local[static_cast<size_t>(ui.indices[e])] >= 0;
    indptr_[u + 1] = indptr_[u] + n;
  }
  indices_.resize(static_cast<size_t>(indptr_[users_]));
  data_.resize(indices_.size());
  std::vector<int64_t> part_nnz(h, 0);
  parallel_for(users_, 1024, slots_, [&](size_t begin, size_t end, size_t) {
    std::vector<std::pair<int32_t, float>> row;
    for (size_t u = begin; u < end; ++u) {
      row.clear();
      for (int64_t e = ui.indptr[u]; e < ui.indptr[u + 1]; ++e) {
        const int32_t l = local[static_cast<size_t>(ui.indices[e])];
        if (l >= 0) row.emplace_back(l, ui.data[e]);
      }
      std::sort(row.begin(), row.end());
      for (size_t j = 0; j < row.size(); ++j) {
        indices_[static_cast<size_t>(indptr_[u]) + j] = row[j].first;
        data_[static_cast<size_t>(indptr_[u]) + j] = row[j].second;
      }
    }
  });
  for (int32_t l : indices_) ++part_nnz[static_cast<size_t>(l)];
  // One part of about equal nnz per thread: each part sweeps all users.
  const size_t parts = slots_;
  const double total = static_cast<double>(indices_.size());
  part_lo_.assign(parts + 1, h);
  part_lo_[0] = 0;
  double seen = 0;
  size_t q = 1;
  for (size_t l = 0; l < h && q < parts; ++l) {
    seen += static_cast<double>(part_nnz[l]);
    while (q < parts && seen >= total * static_cast<double>(q) / static_cast<double>(parts)) part_lo_[q++] = l + 1;
  }
  split_.resize((parts + 1) * users_);
  for (size_t u = 0; u < users_; ++u) {
    const int32_t* lo = indices_.data() + indptr_[u];
    const int32_t* hi = indices_.data() + indptr_[u + 1];
    for (size_t p = 0; p <= parts; ++p)
      split_[p * users_ + u] = indptr_[u] + (std::lower_bound(lo, hi, static_cast<int32_t>(part_lo_[p])) - lo);
  }
  for (auto* v : {&y_, &r_, &p_, &ap_}) v->assign(h * ld_, 0.0f);
  curv_.assign(h, 0.0);
  rs_.assign(h, 0.0f);
  rz_.assign(h, 0.0f);
  active_.assign(h, 0);
  a_.resize(slots_);
  b_.resize(slots_);
}

void StreamedItems::pass(Pass kind, const float* X, const Config& cfg) {
  const Kernels& K = kernels();
  const size_t users = users_, parts = part_lo_.size() - 1;
  const float c0 = cfg.confidence == Confidence::Linear ? 1.0f : 0.0f, alpha = cfg.alpha, w0 = cfg.unobserved_weight;
  parallel_for(parts, 1, slots_, [&](size_t begin, size_t end, size_t slot) {
    std::vector<float>& a = a_[slot];
    std::vector<float>& b = b_[slot];
    std::vector<float> xpad(k_ == ld_ ? 0 : ld_, 0.0f);
    for (size_t q = begin; q < end; ++q) {
      const int64_t* lo = split_.data() + q * users;
      const int64_t* hi = split_.data() + (q + 1) * users;
      for (size_t u = 0; u < users; ++u) {
        const int64_t e0 = lo[u], e1 = hi[u];
        if (e0 == e1) continue;
        const size_t n = static_cast<size_t>(e1 - e0);
        if (a.size() < n) {
          a.resize(n);
          b.resize(n);
        }
        const float* w = data_.data() + e0;
        for (size_t j = 0; j < n; ++j) {  // confidence c = c0 + alpha w (as in als.cpp)
          const float c = c0 + alpha * w[j];
          a[j] = c - w0;
          b[j] = c;
        }
        const float* x = X + u * k_;
        if (k_ != ld_) {
          std::memcpy(xpad.data(), x, k_ * sizeof(float));
          x = xpad.data();
        }
        const int32_t* items = indices_.data() + e0;
        switch (kind) {
          case Pass::Residual:
            K.stream_update(x, ld_, items, n, a.data(), -1.0f, b.data(), y_.data(), r_.data(), nullptr);
            break;
          case Pass::Matvec:
            K.stream_update(x, ld_, items, n, a.data(), 1.0f, nullptr, p_.data(), ap_.data(), nullptr);
            break;
          case Pass::Curvature:
            K.stream_update(x, ld_, items, n, a.data(), 1.0f, nullptr, p_.data(), nullptr, curv_.data());
            break;
        }
      }
    }
  });
}

void StreamedItems::solve(const float* X, float* Y, const float* base, const float* lambda, const Config& cfg,
                          const CancelToken* cancel, const float* precond) {
  const Kernels& K = kernels();
  const simd::Kernels& S = simd::kernels();
  const size_t k = k_, ld = ld_;
  // Per-item loop over [0, items) in chunks, on the pool.
  auto each_item = [&](auto&& fn) {
    parallel_for(hot_.size(), 64, slots_, [&](size_t begin, size_t end, size_t) {
      std::vector<float> tmp(ld);
      for (size_t i = begin; i < end; ++i) fn(i, tmp.data());
    });
  };
  auto check = [&]() {
    if (cancel) cancel->throw_if_cancelled();
  };
  each_item([&](size_t i, float*) {
    float* y = y_.data() + i * ld;
    std::memcpy(y, Y + static_cast<size_t>(hot_[i]) * k, k * sizeof(float));
    std::fill(r_.data() + i * ld, r_.data() + (i + 1) * ld, 0.0f);
  });
  pass(Pass::Residual, X, cfg);
  check();
  // r = Yᵀ(b - a∘(Y x)) - base x - lambda x; p = M⁻¹ r.
  each_item([&](size_t i, float* tmp) {
    float* y = y_.data() + i * ld;
    float* r = r_.data() + i * ld;
    float* p = p_.data() + i * ld;
    std::fill(tmp, tmp + ld, 0.0f);
    K.symv(base, k, ld, y, tmp);
    S.axpy(-1.0f, tmp, r, ld);
    S.axpy(-lambda[hot_[i]], y, r, k);
    const float* z;
    rz_[i] = apply_preconditioner(precond, k, ld, r, tmp, z);
    std::memcpy(p, z, ld * sizeof(float));
    rs_[i] = precond ? S.dot(r, r, ld) : rz_[i];
    active_[i] = rs_[i] > kCgTolerance && rz_[i] > 0.0f;
    if (!active_[i]) std::fill(p, p + ld, 0.0f);  // contributes nothing to later passes
  });
  for (size_t step = 0; step < cfg.cg_steps; ++step) {
    if (step + 1 == cfg.cg_steps) {
      // Last step: x += alpha p needs only pᵀ A p.
      std::fill(curv_.begin(), curv_.end(), 0.0);
      pass(Pass::Curvature, X, cfg);
      check();
      each_item([&](size_t i, float* tmp) {
        if (!active_[i]) return;
        const float* p = p_.data() + i * ld;
        std::fill(tmp, tmp + ld, 0.0f);
        K.symv(base, k, ld, p, tmp);
        const double pap = curv_[i] + static_cast<double>(S.dot(p, tmp, ld)) +
                           static_cast<double>(lambda[hot_[i]]) * static_cast<double>(S.dot(p, p, k));
        if (pap > 0.0) S.axpy(static_cast<float>(static_cast<double>(rz_[i]) / pap), p, y_.data() + i * ld, ld);
      });
      break;
    }
    std::fill(ap_.begin(), ap_.end(), 0.0f);
    pass(Pass::Matvec, X, cfg);
    check();
    each_item([&](size_t i, float* tmp) {
      if (!active_[i]) return;
      float* y = y_.data() + i * ld;
      float* r = r_.data() + i * ld;
      float* p = p_.data() + i * ld;
      float* ap = ap_.data() + i * ld;
      K.symv(base, k, ld, p, ap);
      S.axpy(lambda[hot_[i]], p, ap, k);
      const float pap = S.dot(p, ap, ld);
      if (!(pap > 0.0f)) {  // not positive definite along p: stop where we are
        active_[i] = 0;
        std::fill(p, p + ld, 0.0f);
        return;
      }
      const float alpha = rz_[i] / pap;
      S.axpy(alpha, p, y, ld);
      S.axpy(-alpha, ap, r, ld);
      const float* z;
      const float rz_new = apply_preconditioner(precond, k, ld, r, tmp, z);
      const float rs_new = precond ? S.dot(r, r, ld) : rz_new;
      S.scale_add(1.0f, z, rz_new / rz_[i], p, ld);  // p = z + (rz_new / rz) p
      rs_[i] = rs_new;
      rz_[i] = rz_new;
      if (!(rs_new > kCgTolerance) || !(rz_new > 0.0f)) {
        active_[i] = 0;
        std::fill(p, p + ld, 0.0f);
      }
    });
  }
  each_item([&](size_t i, float*) { std::memcpy(Y + static_cast<size_t>(hot_[i]) * k, y_.data() + i * ld, k * sizeof(float)); });
}

}  // namespace fastrec::als
