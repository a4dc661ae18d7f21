// Hot loops of the ALS solvers, compiled once per instruction set
// (kernels.isa.cpp) and chosen at run time to match simd::kernels().
//
// Every routine works on a "gathered" buffer: the factor vectors of one row's
// observed columns copied into n consecutive rows of `ld` floats (ld a
// multiple of 16, padding zero), so a whole per-row solve runs in cache.
#pragma once
#include <cstddef>
#include <cstdint>

namespace fastrec::als {

// The fixed side's factor rows (k floats each) that a row gathers from:
// float32, or an IEEE half copy of them multiplied by `scale` (a power of
// two; widened values are multiplied by 1 / scale, which is exact).
struct FixedRows {
  const float* f32 = nullptr;
  const uint16_t* f16 = nullptr;  // used when not null
  float inv_scale = 1.0f;
  // Or (used when not null) an 8-bit copy: row r is i8[r * k..] * row_scale[r].
  const int8_t* i8 = nullptr;
  const float* row_scale = nullptr;
  size_t k = 0;
};

struct Kernels {
  const char* name;
  // Upper block triangle of A += Yᵀ Z over n gathered rows:
  // A[r * ld + c] += sum_j Y[j * ld + r] * Z[j * ld + c] for r < d and
  // c in [16 * floor(r / 16), ld). Z is Y scaled per row (the weights).
  void (*gram_upper)(const float* Y, const float* Z, size_t n, size_t ld, size_t d, float* A);
  // out[c] += sum_j t_j * Y[j * ld + c] for c < ld, where
  // t_j = (beta ? beta[j] : 0) + (p ? scale * (a ? a[j] : 1) * <Y_j, p> : 0).
  // With p = x, scale = -1, beta = b this is the residual Yᵀ(b - a∘(Y x));
  // with beta = null, scale = 1 it is the CG matvec Yᵀ(a∘(Y p)).
  void (*weighted_matvec)(const float* Y, size_t n, size_t ld, const float* a, float scale,
                          const float* beta, const float* p, float* out);
  // sum_j (a ? a[j] : 1) * <Y_j, p>^2 over n gathered rows, i.e. pᵀ Yᵀ diag(a) Y p: the
  // curvature along p that CG's last step needs (that step never uses A p itself).
  double (*weighted_sq)(const float* Y, size_t n, size_t ld, const float* a, const float* p);
  // The same two over gathered rows kept as IEEE halves: row j is inv times
  // Y[j * ld..] (inv a power of two, FixedRows::inv_scale). They give the
  // same bits as the float kernels over the widened rows (products by a power
  // of two are exact), unless a value underflows.
  void (*weighted_matvec_h)(const uint16_t* Y, size_t n, size_t ld, float inv, const float* a, float scale,
                            const float* beta, const float* p, float* out);
  double (*weighted_sq_h)(const uint16_t* Y, size_t n, size_t ld, float inv, const float* a, const float* p);
  // gather_matvec from fixed.f16 into a buffer of halves (the rows copied as they
  // are, padding zero; no bias column), out updated as weighted_matvec_h does.
  void (*gather_matvec_h)(const FixedRows& fixed, const int32_t* cols, size_t n, size_t ld, size_t ahead,
                          const float* a, float scale, const float* beta, const float* p, float* out, uint16_t* buf);
  // Whether this level widens halves in registers (F16C, AVX-512): only then
  // are half buffers worth using.
  bool fast_half;
  // One user row's share of a pass of the streamed items half (stream.cpp):
  // for each j < n with i = items[j] and d = <x, P[i * ld..]>:
  //   curv == null: OUT[i * ld..] += (beta_j + scale * a_j * d) * x   (beta null: 0)
  //   curv != null: curv[i] += a_j * d^2
  // x is the user's factor row padded to ld; rows of items come in
  // increasing order, so each item's sums run in user order.
  void (*stream_update)(const float* x, size_t ld, const int32_t* items, size_t n, const float* a, float scale,
                        const float* beta, const float* P, float* OUT, double* curv);
  // out[0..ld) += G p for a symmetric d x d matrix G in rows of ld floats (zero padded).
  void (*symv)(const float* G, size_t d, size_t ld, const float* p, float* out);
  // Gather rows cols[0..n) of `fixed` into buf (n rows of ld floats, zero
  // padded; buf[j * ld + k] = 1 when bias_one), then, when out is not null,
  // the same update of out as weighted_matvec over buf (bit for bit): copying
  // a few rows and using them at once while they are in L1 saves a pass.
  // Rows are prefetched `ahead` entries in advance.
  void (*gather_matvec)(const FixedRows& fixed, const int32_t* cols, size_t n, size_t ld, bool bias_one, size_t ahead,
                        const float* a, float scale, const float* beta, const float* p, float* out, float* buf);
  // dst[i] = half(scale * src[i]), rounded to nearest even.
  void (*to_half)(const float* src, size_t n, float scale, uint16_t* dst);
  // Rows of k floats to int8: scale[r] = max_c |src[r * k + c]| / 127 (0 for a
  // zero row), dst[r * k + c] = round_to_nearest_even(src / scale[r]).
  void (*to_int8_rows)(const float* src, size_t rows, size_t k, int8_t* dst, float* scale);
  // Cholesky A = Uᵀ U in place (d x d doubles, rows lda apart: U = Lᵀ in the
  // upper triangle, the strict lower one untouched); false if not positive
  // definite.
  bool (*cholesky)(double* A, size_t d, size_t lda);
  // Solve Uᵀ U x = b with cholesky()'s U; x overwrites b.
  void (*cholesky_solve)(const double* U, size_t d, size_t lda, double* b);
};

// Row stride for a d x d system given to cholesky(): a multiple of 4 doubles,
// so that rows start 32-byte aligned, but not of 8. Rows a multiple of 512
// bytes apart (d = 64, 128) map a column block of every row to the same few
// L1 sets: the factorization at d = 64 took 3x as long as with this stride.
inline size_t system_stride(size_t d) {
  const size_t s = (d + 3) / 4 * 4;
  return s % 8 == 0 ? s + 4 : s;
}

// The kernels of the SIMD level in use (simd::kernels().name).
const Kernels& kernels();

// Padded row length for d floats.
inline size_t padded(size_t d) { return (d + 15) / 16 * 16; }

}  // namespace fastrec::als
