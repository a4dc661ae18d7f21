// Cyclic Jacobi eigen-decomposition of a small symmetric matrix, in double.
// Used for the l x l Gram matrices of the randomized SVD (l = k + oversampling),
// where its accuracy (small relative errors for well-separated eigenvalues)
// matters more than its O(l^3)-per-sweep cost.
#pragma once
#include <cstddef>
#include <vector>

namespace fastrec::svd {

// a: n x n symmetric, row-major (overwritten). On return `values` holds the
// eigenvalues in descending order and `vectors` (n x n, row-major) the matching
// eigenvectors as COLUMNS: a = V diag(values) V^T.
void jacobi_eigen(std::vector<double>& a, size_t n, std::vector<double>& values, std::vector<double>& vectors);

}  // namespace fastrec::svd
