// Per-ISA hot loops of the truncated SVD (see svd_kernels.hpp). Accumulators
// stay in registers across the nonzeros of a row: 4 vectors at a time.
#include <cstring>

#include "svd/svd_kernels.hpp"

namespace fastrec::FASTREC_ISA_NS {
namespace {

constexpr size_t W = FASTREC_ISA_LANES;
#if FASTREC_ISA_LANES == 1
typedef float vf;
#else
typedef float vf __attribute__((vector_size(W * sizeof(float))));
#endif

inline vf load(const float* p) {
  vf v;
  std::memcpy(&v, p, sizeof(vf));
  return v;
}
inline void store(float* p, vf v) { std::memcpy(p, &v, sizeof(vf)); }
inline vf splat(float x) {
  vf z = {};
  return z + x;
}

void gather_rows(const int32_t* idx, const float* val, size_t nnz, const float* X, size_t ld, float* y) {
  size_t c = 0;
  for (; c + 4 * W <= ld; c += 4 * W) {
    vf a0 = {}, a1 = {}, a2 = {}, a3 = {};
    for (size_t p = 0; p < nnz; ++p) {
      const float* x = X + (idx ? static_cast<size_t>(idx[p]) : p) * ld + c;
      vf v = splat(val[p]);
      a0 += v * load(x);
      a1 += v * load(x + W);
      a2 += v * load(x + 2 * W);
      a3 += v * load(x + 3 * W);
    }
    store(y + c, a0);
    store(y + c + W, a1);
    store(y + c + 2 * W, a2);
    store(y + c + 3 * W, a3);
  }
  for (; c < ld; c += W) {
    vf a0 = {};
    for (size_t p = 0; p < nnz; ++p) {
      const float* x = X + (idx ? static_cast<size_t>(idx[p]) : p) * ld + c;
      a0 += splat(val[p]) * load(x);
    }
    store(y + c, a0);
  }
}

void axpy_row(float alpha, const float* x, float* y, size_t ld) {
  vf a = splat(alpha);
  for (size_t c = 0; c < ld; c += W) store(y + c, load(y + c) + a * load(x + c));
}

}  // namespace

extern const svd::SvdKernels svd_kernels_table;
const svd::SvdKernels svd_kernels_table = {"isa", gather_rows, axpy_row};

}  // namespace fastrec::FASTREC_ISA_NS
