// Hot loops of the truncated SVD, compiled once per instruction set
// (svd_kernels.isa.cpp) and chosen at run time to match simd::kernels().
#pragma once
#include <cstddef>
#include <cstdint>

namespace fastrec::svd {

struct SvdKernels {
  const char* name;
  // y[0..ld) = sum_p val[p] * X[idx[p] * ld .. + ld]  (idx == nullptr: idx[p] = p).
  // The row gather of a sparse x dense product, and (with idx null) a dense
  // row times a small matrix. `ld` must be a multiple of 16.
  void (*gather_rows)(const int32_t* idx, const float* val, size_t nnz, const float* X, size_t ld, float* y);
  // y[0..ld) += alpha * x[0..ld)  (`ld` a multiple of 16)
  void (*axpy_row)(float alpha, const float* x, float* y, size_t ld);
  // Z[idx[p] * ld .. + ld] += val[p] * y[0..ld) for every p: the scatter of a
  // sparse row into a dense block (Aᵀ Y by rows of A). `y` stays in registers.
  void (*scatter_row)(const int32_t* idx, const float* val, size_t nnz, const float* y, float* Z, size_t ld);
};

// The table for the SIMD level in use.
const SvdKernels& svd_kernels();

// Row padding used for every tall dense block: a multiple of 16 floats, so the
// kernels need no tail loops at any SIMD width.
inline size_t padded_width(size_t l) { return (l + 15) / 16 * 16; }

}  // namespace fastrec::svd
