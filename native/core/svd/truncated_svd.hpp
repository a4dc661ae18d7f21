// Randomized truncated SVD of a sparse matrix (Halko, Martinsson & Tropp 2011,
// "Finding structure with randomness", Algorithms 4.4 and 5.1):
//
//   Omega (n x l Gaussian, l = k + oversample); Q = orth(A Omega)
//   repeat q times: Q = orth(A orth(Aᵀ Q))          (subspace iteration)
//   Bᵀ = Aᵀ Q (n x l); B = W Σ Vᵀ (small SVD); U = Q W
//
// A is never densified. With `center`, A is replaced by A - 1 muᵀ (mu = column
// means, i.e. PCA) implicitly: A_c X = A X - 1 (muᵀ X), A_cᵀ Y = Aᵀ Y - mu (1ᵀ Y).
//
// Orthonormalization is SVQB (Stathopoulos & Wu 2002): G = Yᵀ Y, G = W Λ Wᵀ
// by Jacobi, Y <- Y W Λ^-1/2; directions with Λ below the float noise floor
// are dropped (set to zero), so rank-deficient inputs are safe. The final Q is
// orthonormalized twice. The small SVD of B is two rounds of a Gram
// eigen-decomposition in double with the singular values taken as column
// norms in the second round, which keeps small singular values accurate.
#pragma once
#include <cstddef>
#include <cstdint>
#include <functional>
#include <vector>

#include "common/cancel.hpp"
#include "sparse/csr.hpp"

namespace fastrec::svd {

struct SvdOptions {
  size_t k = 10;
  size_t oversample = 10;
  size_t power_iterations = 4;
  bool center = false;
  uint64_t seed = 0;
  size_t threads = 0;  // 0: all cores
};

struct SvdResult {
  size_t rows = 0, cols = 0, k = 0;
  std::vector<float> u;   // rows x k, row-major
  std::vector<float> s;   // k, descending
  std::vector<float> vt;  // k x cols, row-major
  std::vector<float> mean;  // cols (column means) when centered, else empty
};

// progress(step, steps) after each product; may be empty.
SvdResult truncated_svd(const CsrView& a, const SvdOptions& options, const CancelToken* cancel = nullptr,
                        const std::function<void(size_t, size_t)>& progress = {});

}  // namespace fastrec::svd
