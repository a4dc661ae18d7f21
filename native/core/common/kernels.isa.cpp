// Kernels written once over a vector type of FASTREC_ISA_LANES floats (GCC/Clang
// vector extensions); CMake compiles this file once per instruction set.
// Lane-parallel accumulators keep the arithmetic order fixed per level, so no
// fast-math reassociation is needed for vectorization.
#include <cstring>
#include <vector>

#include "common/isa_vec.hpp"
#include "common/simd.hpp"

namespace fastrec::FASTREC_ISA_NS {

static float dot(const float* a, const float* b, size_t n) {
  vf a0 = {}, a1 = {}, a2 = {}, a3 = {};
  size_t i = 0;
  for (; i + 4 * W <= n; i += 4 * W) {
    a0 += load(a + i) * load(b + i);
    a1 += load(a + i + W) * load(b + i + W);
    a2 += load(a + i + 2 * W) * load(b + i + 2 * W);
    a3 += load(a + i + 3 * W) * load(b + i + 3 * W);
  }
  for (; i + W <= n; i += W) a0 += load(a + i) * load(b + i);
  float s = hsum((a0 + a1) + (a2 + a3));
  for (; i < n; ++i) s += a[i] * b[i];
  return s;
}

static void axpy(float alpha, const float* x, float* y, size_t n) {
  const vf va = splat(alpha);
  size_t i = 0;
  for (; i + W <= n; i += W) store(y + i, load(y + i) + va * load(x + i));
  for (; i < n; ++i) y[i] += alpha * x[i];
}

static void scale_add(float alpha, const float* x, float beta, float* y, size_t n) {
  const vf va = splat(alpha), vb = splat(beta);
  size_t i = 0;
  for (; i + W <= n; i += W) store(y + i, va * load(x + i) + vb * load(y + i));
  for (; i < n; ++i) y[i] = alpha * x[i] + beta * y[i];
}

static float l2sq(const float* a, const float* b, size_t n) {
  vf a0 = {}, a1 = {};
  size_t i = 0;
  for (; i + 2 * W <= n; i += 2 * W) {
    vf d0 = load(a + i) - load(b + i);
    vf d1 = load(a + i + W) - load(b + i + W);
    a0 += d0 * d0;
    a1 += d1 * d1;
  }
  for (; i + W <= n; i += W) {
    vf d = load(a + i) - load(b + i);
    a0 += d * d;
  }
  float s = hsum(a0 + a1);
  for (; i < n; ++i) {
    float d = a[i] - b[i];
    s += d * d;
  }
  return s;
}

// Four rows at a time so each load of x feeds four multiply-adds.
static void gemv(const float* A, size_t rows, size_t cols, size_t lda, const float* x, float* y) {
  size_t r = 0;
  for (; r + 4 <= rows; r += 4) {
    const float* r0 = A + r * lda;
    const float* r1 = r0 + lda;
    const float* r2 = r1 + lda;
    const float* r3 = r2 + lda;
    vf s0 = {}, s1 = {}, s2 = {}, s3 = {};
    size_t c = 0;
    for (; c + W <= cols; c += W) {
      vf xv = load(x + c);
      s0 += load(r0 + c) * xv;
      s1 += load(r1 + c) * xv;
      s2 += load(r2 + c) * xv;
      s3 += load(r3 + c) * xv;
    }
    float t0 = hsum(s0), t1 = hsum(s1), t2 = hsum(s2), t3 = hsum(s3);
    for (; c < cols; ++c) {
      t0 += r0[c] * x[c];
      t1 += r1[c] * x[c];
      t2 += r2[c] * x[c];
      t3 += r3[c] * x[c];
    }
    y[r] = t0;
    y[r + 1] = t1;
    y[r + 2] = t2;
    y[r + 3] = t3;
  }
  for (; r < rows; ++r) y[r] = dot(A + r * lda, x, cols);
}

// C = A Bᵀ. B is packed in panels of NR rows, transposed so that each step of
// the inner product loads NR consecutive floats (one or two vectors) and
// multiplies them by a broadcast element of A: an MR x NR register tile.
constexpr size_t MR = 4;
constexpr size_t NR = (W == 1) ? 4 : 2 * W;
constexpr size_t NB = 256;  // rows of B per packed block (NB * k floats stay in L2)

static void pack_b(const float* B, size_t n, size_t ldb, size_t k, float* out) {
  // out[panel][p][j] = B[(panel * NR + j) * ldb + p], zero past n.
  for (size_t j0 = 0; j0 < n; j0 += NR) {
    size_t nr = (n - j0 < NR) ? n - j0 : NR;
    for (size_t p = 0; p < k; ++p) {
      for (size_t j = 0; j < nr; ++j) out[p * NR + j] = B[(j0 + j) * ldb + p];
      for (size_t j = nr; j < NR; ++j) out[p * NR + j] = 0.0f;
    }
    out += NR * k;
  }
}

static void micro_tile(const float* A, size_t mr, size_t lda, const float* panel, size_t k,
                       float* C, size_t nr, size_t ldc) {
  constexpr size_t V = NR / W;  // vectors per panel row
  vf acc[MR][V] = {};
  const float* a[MR];
  for (size_t i = 0; i < MR; ++i) a[i] = A + (i < mr ? i : 0) * lda;
  for (size_t p = 0; p < k; ++p) {
    vf b[V];
    for (size_t v = 0; v < V; ++v) b[v] = load(panel + p * NR + v * W);
    for (size_t i = 0; i < MR; ++i) {
      vf ai = splat(a[i][p]);
      for (size_t v = 0; v < V; ++v) acc[i][v] += ai * b[v];
    }
  }
  for (size_t i = 0; i < mr; ++i) {
    float tmp[NR];
    for (size_t v = 0; v < V; ++v) store(tmp + v * W, acc[i][v]);
    std::memcpy(C + i * ldc, tmp, nr * sizeof(float));
  }
}

static void gemm_nt(const float* A, size_t m, size_t lda, const float* B, size_t n, size_t ldb,
                    size_t k, float* C, size_t ldc) {
  thread_local std::vector<float> packed;
  packed.resize(((NB + NR - 1) / NR) * NR * k);
  for (size_t j0 = 0; j0 < n; j0 += NB) {
    size_t nb = (n - j0 < NB) ? n - j0 : NB;
    pack_b(B + j0 * ldb, nb, ldb, k, packed.data());
    for (size_t i0 = 0; i0 < m; i0 += MR) {
      size_t mr = (m - i0 < MR) ? m - i0 : MR;
      for (size_t jj = 0; jj < nb; jj += NR) {
        size_t nr = (nb - jj < NR) ? nb - jj : NR;
        micro_tile(A + i0 * lda, mr, lda, packed.data() + (jj / NR) * NR * k, k,
                   C + i0 * ldc + j0 + jj, nr, ldc);
      }
    }
  }
}

extern const simd::Kernels kernels_table;
const simd::Kernels kernels_table = {
#define FASTREC_STR2(x) #x
#define FASTREC_STR(x) FASTREC_STR2(x)
    FASTREC_STR(FASTREC_ISA_NS) + 4,  // "isa_avx2" -> "avx2"
    dot, axpy, scale_add, l2sq, gemv, gemm_nt,
};

}  // namespace fastrec::FASTREC_ISA_NS
