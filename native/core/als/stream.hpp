// The items half of an implicit CG iteration, solved for every item at once by
// streaming the users' rows instead of gathering each item's users.
//
// Gathering item i's users reads n_i factor rows scattered over the whole
// user side: with ~140K users (17 MiB even as halves) nearly every read
// misses the caches. Item popularity is far more skewed than user activity,
// so the other orientation is the cache-friendly one: walk the users in
// order (each user's factor row read once per pass, sequentially, and kept in
// registers) and update the CG vectors of the user's items, whose hot rows
// stay in cache. Each pass of the per-row CG (the residual b - A x, then one
// A p per step; the last step only needs pᵀ A p) becomes one sweep over the
// users x items matrix; the per-item CG scalars are kept in arrays.
//
// Threads own disjoint ranges of item ids (each user's row is split at the
// range boundaries once per fit), so no two threads write the same item, and
// every item's sums run in user order: the result does not depend on the
// number of threads.
#pragma once
#include <cstddef>
#include <cstdint>
#include <vector>

#include "als/als.hpp"

namespace fastrec::als {

// CG stops on a row (or item) once |r|^2 falls to this.
inline constexpr float kCgTolerance = 1e-20f;

class StreamedItems {
 public:
  // `ui` is users x items; `hot` the items solved here (the rest are left to
  // the per-row solver). Made once per fit: the users x hot-items matrix with
  // the hot items renumbered by decreasing count, split into one part per thread.
  StreamedItems(const CsrView& ui, const std::vector<int32_t>& hot, size_t factors, size_t threads);

  // Solve the hot items: `X` the user factors (users x k), `Y` all item
  // factors (items x k; warm start in, result out for the hot rows), `base` =
  // w0 XᵀX padded to ld x ld, `lambda[i]` item i's regularization, `precond`
  // Config::precondition's M⁻¹ (ld x ld) or null. Implicit, CG.
  void solve(const float* X, float* Y, const float* base, const float* lambda, const Config& cfg,
             const CancelToken* cancel, const float* precond = nullptr);

  size_t size() const { return hot_.size(); }

 private:
  enum class Pass { Residual, Matvec, Curvature };
  void pass(Pass kind, const float* X, const Config& cfg);

  size_t k_, ld_, slots_, users_;
  std::vector<int32_t> hot_;             // local id -> item id
  std::vector<int64_t> indptr_;          // users x hot (local ids, increasing in each row)
  std::vector<int32_t> indices_;
  std::vector<float> data_;
  std::vector<size_t> part_lo_;          // parts + 1 local-id boundaries
  std::vector<int64_t> split_;           // (parts + 1) x users: first entry of each part in each row
  std::vector<float> y_, r_, p_, ap_;    // hot x ld, padded
  std::vector<double> curv_;
  std::vector<float> rs_, rz_;  // |r|^2 (stopping test) and rᵀ M⁻¹ r per item
  std::vector<uint8_t> active_;
  std::vector<std::vector<float>> a_, b_;  // per-thread coefficient buffers
};

// The items worth streaming (rows of `iu`, items x users): the most frequent
// ones with at least Config::stream_min_count users, at most
// Config::stream_max_items of them (0: automatic, from the L2 size), most
// frequent first. Empty when none qualifies.
std::vector<int32_t> hot_items(const CsrView& iu, const Config& cfg);

}  // namespace fastrec::als
