// Per-ISA hot loops of the truncated SVD (see svd_kernels.hpp). Accumulators
// stay in registers across the nonzeros of a row: 4 vectors at a time.
#include <cstring>

#include "common/isa_vec.hpp"
#include "svd/svd_kernels.hpp"

namespace fastrec::FASTREC_ISA_NS {
namespace {

// One pass over the nonzeros for V consecutive vectors of the row: the V
// accumulators live in registers, so each nonzero costs V loads and V FMAs.
template <size_t V>
inline void gather_chunk(const int32_t* idx, const float* val, size_t nnz, const float* X, size_t ld, float* y) {
  vf acc[V] = {};
  for (size_t p = 0; p < nnz; ++p) {
    const float* x = X + (idx ? static_cast<size_t>(idx[p]) : p) * ld;
    const vf v = splat(val[p]);
    for (size_t t = 0; t < V; ++t) acc[t] += v * load(x + t * W);
  }
  for (size_t t = 0; t < V; ++t) store(y + t * W, acc[t]);
}

// Widest chunk that keeps accumulators + operands within 16 vector registers.
constexpr size_t kMaxChunk = (W == 1) ? 8 : 10;

template <typename Chunk>
inline void by_chunks(size_t ld, Chunk&& chunk) {
  size_t vectors = ld / W, c = 0;
  // Split into equal passes of at most kMaxChunk vectors (fewer passes = fewer re-reads).
  size_t passes = (vectors + kMaxChunk - 1) / kMaxChunk;
  while (vectors > 0) {
    size_t take = (vectors + passes - 1) / passes;
    chunk(c, take);
    c += take * W;
    vectors -= take;
    --passes;
  }
}

void gather_rows(const int32_t* idx, const float* val, size_t nnz, const float* X, size_t ld, float* y) {
  by_chunks(ld, [&](size_t c, size_t take) {
    switch (take) {
      case 1: gather_chunk<1>(idx, val, nnz, X + c, ld, y + c); break;
      case 2: gather_chunk<2>(idx, val, nnz, X + c, ld, y + c); break;
      case 3: gather_chunk<3>(idx, val, nnz, X + c, ld, y + c); break;
      case 4: gather_chunk<4>(idx, val, nnz, X + c, ld, y + c); break;
      case 5: gather_chunk<5>(idx, val, nnz, X + c, ld, y + c); break;
      case 6: gather_chunk<6>(idx, val, nnz, X + c, ld, y + c); break;
      case 7: gather_chunk<7>(idx, val, nnz, X + c, ld, y + c); break;
      case 8: gather_chunk<8>(idx, val, nnz, X + c, ld, y + c); break;
      case 9: gather_chunk<9>(idx, val, nnz, X + c, ld, y + c); break;
      default: gather_chunk<10>(idx, val, nnz, X + c, ld, y + c); break;
    }
  });
}

void axpy_row(float alpha, const float* x, float* y, size_t ld) {
  vf a = splat(alpha);
  for (size_t c = 0; c < ld; c += W) store(y + c, load(y + c) + a * load(x + c));
}

template <size_t V>
inline void scatter_chunk(const int32_t* idx, const float* val, size_t nnz, const float* y, float* Z, size_t ld) {
  vf yv[V];
  for (size_t t = 0; t < V; ++t) yv[t] = load(y + t * W);
  for (size_t p = 0; p < nnz; ++p) {
    float* z = Z + static_cast<size_t>(idx[p]) * ld;
    const vf v = splat(val[p]);
    for (size_t t = 0; t < V; ++t) store(z + t * W, load(z + t * W) + v * yv[t]);
  }
}

void scatter_row(const int32_t* idx, const float* val, size_t nnz, const float* y, float* Z, size_t ld) {
  by_chunks(ld, [&](size_t c, size_t take) {
    switch (take) {
      case 1: scatter_chunk<1>(idx, val, nnz, y + c, Z + c, ld); break;
      case 2: scatter_chunk<2>(idx, val, nnz, y + c, Z + c, ld); break;
      case 3: scatter_chunk<3>(idx, val, nnz, y + c, Z + c, ld); break;
      case 4: scatter_chunk<4>(idx, val, nnz, y + c, Z + c, ld); break;
      case 5: scatter_chunk<5>(idx, val, nnz, y + c, Z + c, ld); break;
      case 6: scatter_chunk<6>(idx, val, nnz, y + c, Z + c, ld); break;
      case 7: scatter_chunk<7>(idx, val, nnz, y + c, Z + c, ld); break;
      case 8: scatter_chunk<8>(idx, val, nnz, y + c, Z + c, ld); break;
      case 9: scatter_chunk<9>(idx, val, nnz, y + c, Z + c, ld); break;
      default: scatter_chunk<10>(idx, val, nnz, y + c, Z + c, ld); break;
    }
  });
}

}  // namespace

extern const svd::SvdKernels svd_kernels_table;
const svd::SvdKernels svd_kernels_table = {"isa", gather_rows, axpy_row, scatter_row};

}  // namespace fastrec::FASTREC_ISA_NS
