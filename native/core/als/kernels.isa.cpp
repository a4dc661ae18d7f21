// ALS hot loops over gathered factor buffers (see kernels.hpp). Written once
// over GCC vector types of FASTREC_ISA_LANES floats; CMake compiles this file
// per instruction set.
#include <algorithm>
#include <cstdint>
#include <cmath>
#include <cstring>
#if defined(__F16C__) || defined(__AVX2__)
#include <immintrin.h>
#endif

#include "als/kernels.hpp"
#include "ann/distance.hpp"  // float_to_half / half_to_float (portable, round to nearest even)
#include "common/isa_vec.hpp"

namespace fastrec::FASTREC_ISA_NS {
namespace als_impl {

using als::FixedRows;

constexpr size_t NR = 16;      // tile columns (ld is a multiple of 16)
constexpr size_t V = NR / W;   // vectors per tile row
constexpr size_t MR = 4;       // tile rows
constexpr size_t JB = 128;     // gathered rows per pass, so a tile's inputs stay in L1

// A 4 x 16 register tile of Yᵀ Z, accumulated over the gathered rows in
// blocks of JB; only tiles on or right of the diagonal block are computed.
static void gram_upper(const float* Y, const float* Z, size_t n, size_t ld, size_t d, float* A) {
  for (size_t j0 = 0; j0 < n; j0 += JB) {
    const size_t j1 = (n - j0 < JB) ? n : j0 + JB;
    for (size_t r0 = 0; r0 < d; r0 += MR) {
      const size_t mr = (d - r0 < MR) ? d - r0 : MR;
      for (size_t c0 = (r0 / NR) * NR; c0 < d; c0 += NR) {
        vf acc[MR][V] = {};
        for (size_t j = j0; j < j1; ++j) {
          const float* yj = Y + j * ld + r0;  // r0 + 3 < ld: padding reads are zeros
          const float* zj = Z + j * ld + c0;
          vf zv[V];
          for (size_t v = 0; v < V; ++v) zv[v] = load(zj + v * W);
          for (size_t i = 0; i < MR; ++i) {
            const vf s = splat(yj[i]);
            for (size_t v = 0; v < V; ++v) acc[i][v] += s * zv[v];
          }
        }
        for (size_t i = 0; i < mr; ++i) {
          float* row = A + (r0 + i) * ld + c0;
          for (size_t v = 0; v < V; ++v) store(row + v * W, load(row + v * W) + acc[i][v]);
        }
      }
    }
  }
}

// W values of a gathered row: floats as they are, IEEE halves widened (exact).
static inline vf load_row(const float* p) { return load(p); }
static inline vf load_row(const uint16_t* p) {
#if FASTREC_ISA_LANES == 8 && defined(__F16C__)
  return reinterpret_cast<vf>(_mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(p))));
#elif FASTREC_ISA_LANES == 16 && defined(__AVX512F__)
  // The masked form: GCC 12 warns about the plain one's undefined pass-through value.
  return reinterpret_cast<vf>(_mm512_maskz_cvtph_ps(0xFFFF, _mm256_loadu_si256(reinterpret_cast<const __m256i*>(p))));
#elif FASTREC_ISA_LANES == 1
  return ann::half_to_float(*p);
#else
  vf v;
  for (size_t i = 0; i < W; ++i) v[i] = ann::half_to_float(p[i]);
  return v;
#endif
}

template <typename T>
static inline float dot_ld(const T* a, const float* b, size_t ld) {
  vf s0 = {}, s1 = {};
  size_t c = 0;
  for (; c + 2 * W <= ld; c += 2 * W) {
    s0 += load_row(a + c) * load(b + c);
    s1 += load_row(a + c + W) * load(b + c + W);
  }
  for (; c < ld; c += W) s0 += load_row(a + c) * load(b + c);
  return hsum(s0 + s1);
}

// Lane i = the sum of the lanes of s[i], for R = W = 8 vectors: three rounds
// of pairwise shuffles and adds instead of eight separate horizontal sums.
template <size_t R>
static inline void sums(const vf* s, float* t) {
#if FASTREC_ISA_LANES == 8
  if constexpr (R == 8) {
    const vi ev = {0, 2, 8, 10, 4, 6, 12, 14}, od = {1, 3, 9, 11, 5, 7, 13, 15};
    auto pair = [&](vf a, vf b) { return __builtin_shuffle(a, b, ev) + __builtin_shuffle(a, b, od); };
    const vf q0 = pair(pair(s[0], s[1]), pair(s[2], s[3]));  // per 128-bit half: partial sums of rows 0-3
    const vf q1 = pair(pair(s[4], s[5]), pair(s[6], s[7]));
    const vi lo = {0, 1, 2, 3, 8, 9, 10, 11}, hi = {4, 5, 6, 7, 12, 13, 14, 15};
    store(t, __builtin_shuffle(q0, q1, lo) + __builtin_shuffle(q0, q1, hi));
    return;
  }
#endif
  for (size_t i = 0; i < R; ++i) t[i] = hsum(s[i]);
}

// The kernels below read gathered rows of T = float, or T = uint16_t (IEEE
// halves: the row times 1 / inv, inv a power of two). With halves each dot
// product is computed on the unscaled values and multiplied by inv, and each
// t_j is multiplied by inv before it scales a row: products by a power of two
// are exact, so the result has the same bits as the kernel over the widened
// rows (inv = 1 for floats changes nothing).

// The general form (any ld): eight gathered rows at a time, their dot
// products with p (one FMA chain per row: eight independent chains hide the
// FMA latency), then one pass that adds sum_i t_i y_i into out while the rows
// are in L1 (each load of p and of out serves eight rows).
template <typename T>
static void weighted_matvec_any(const T* Y, size_t n, size_t ld, float inv, const float* a, float scale,
                                const float* beta, const float* p, float* out) {
  constexpr size_t R = 8;
  size_t j = 0;
  for (; j + R <= n; j += R) {
    const T* y = Y + j * ld;
    alignas(64) float t[R] = {};
    if (p) {
      vf s[R] = {};
      for (size_t c = 0; c < ld; c += W) {
        const vf pv = load(p + c);
        for (size_t i = 0; i < R; ++i) s[i] += load_row(y + i * ld + c) * pv;
      }
      sums<R>(s, t);
      for (size_t i = 0; i < R; ++i) t[i] = inv * t[i] * (scale * (a ? a[j + i] : 1.0f));
    }
    if (beta)
      for (size_t i = 0; i < R; ++i) t[i] += beta[j + i];
    for (size_t i = 0; i < R; ++i) t[i] *= inv;
    for (size_t c = 0; c < ld; c += W) {
      vf acc0 = splat(t[0]) * load_row(y + c) + splat(t[2]) * load_row(y + 2 * ld + c);
      vf acc1 = splat(t[1]) * load_row(y + ld + c) + splat(t[3]) * load_row(y + 3 * ld + c);
      acc0 += splat(t[4]) * load_row(y + 4 * ld + c) + splat(t[6]) * load_row(y + 6 * ld + c);
      acc1 += splat(t[5]) * load_row(y + 5 * ld + c) + splat(t[7]) * load_row(y + 7 * ld + c);
      store(out + c, load(out + c) + (acc0 + acc1));
    }
  }
  for (; j < n; ++j) {
    const T* yj = Y + j * ld;
    float t = p ? inv * dot_ld(yj, p, ld) * (scale * (a ? a[j] : 1.0f)) : 0.0f;
    if (beta) t += beta[j];
    const vf tv = splat(inv * t);
    for (size_t c = 0; c < ld; c += W) store(out + c, load(out + c) + tv * load_row(yj + c));
  }
}

// Row lengths of NV vectors known at compile time: blocks of 32 rows (8 KiB
// at k = 64, in L1), first all their dot products (eight rows at a time, as
// above), then sum_i t_i y_i with out held in NV registers for the whole call.
// Separating the two phases over 32 rows instead of 8 removes the stall of
// each 8-row block's axpy waiting for its own dot products, and out is read
// and written once per call instead of once per 8 rows (~15% faster in L1).
// Row j's dot is a sums<8> one when j lies in a complete group of eight
// counted from the call's first row, else dot_ld, as in the general form; out
// accumulates row after row, so calls on consecutive chunks of a multiple of 8
// rows give the same bits as one call.
template <size_t NV, typename T>
static void weighted_matvec_fixed(const T* Y, size_t n, float inv, const float* a, float scale, const float* beta,
                                  const float* p, float* out) {
  constexpr size_t ld = NV * W, R = 8, B = 32;
  vf acc[NV];
  for (size_t v = 0; v < NV; ++v) acc[v] = load(out + v * W);
  alignas(64) float t[B];
  for (size_t j0 = 0; j0 < n; j0 += B) {
    const size_t nb = n - j0 < B ? n - j0 : B;
    const T* yb = Y + j0 * ld;
    if (p) {
      size_t i0 = 0;
      for (; i0 + R <= nb; i0 += R) {
        const T* y = yb + i0 * ld;
        vf s[R] = {};
        for (size_t v = 0; v < NV; ++v) {
          const vf pv = load(p + v * W);
          for (size_t i = 0; i < R; ++i) s[i] += load_row(y + i * ld + v * W) * pv;
        }
        sums<R>(s, t + i0);
      }
      for (; i0 < nb; ++i0) t[i0] = dot_ld(yb + i0 * ld, p, ld);
      for (size_t i = 0; i < nb; ++i) t[i] = inv * t[i] * (scale * (a ? a[j0 + i] : 1.0f));
    } else {
      for (size_t i = 0; i < nb; ++i) t[i] = 0.0f;
    }
    if (beta)
      for (size_t i = 0; i < nb; ++i) t[i] += beta[j0 + i];
    for (size_t i = 0; i < nb; ++i) {
      const vf tv = splat(inv * t[i]);
      const T* y = yb + i * ld;
      for (size_t v = 0; v < NV; ++v) acc[v] += tv * load_row(y + v * W);
    }
  }
  for (size_t v = 0; v < NV; ++v) store(out + v * W, acc[v]);
}

// out[c] += sum_j t_j Y[j * ld + c]; see kernels.hpp.
template <typename T>
static void matvec_rows(const T* Y, size_t n, size_t ld, float inv, const float* a, float scale, const float* beta,
                        const float* p, float* out) {
  switch (ld / W) {
    case 16 / W: return weighted_matvec_fixed<16 / W>(Y, n, inv, a, scale, beta, p, out);
    case 32 / W: return weighted_matvec_fixed<32 / W>(Y, n, inv, a, scale, beta, p, out);
    case 48 / W: return weighted_matvec_fixed<48 / W>(Y, n, inv, a, scale, beta, p, out);
    case 64 / W: return weighted_matvec_fixed<64 / W>(Y, n, inv, a, scale, beta, p, out);
    default: return weighted_matvec_any(Y, n, ld, inv, a, scale, beta, p, out);
  }
}

static void weighted_matvec(const float* Y, size_t n, size_t ld, const float* a, float scale, const float* beta,
                            const float* p, float* out) {
  matvec_rows(Y, n, ld, 1.0f, a, scale, beta, p, out);
}

static void weighted_matvec_h(const uint16_t* Y, size_t n, size_t ld, float inv, const float* a, float scale,
                              const float* beta, const float* p, float* out) {
  matvec_rows(Y, n, ld, inv, a, scale, beta, p, out);
}

// The dot products of weighted_matvec without its second half: eight rows'
// dots at a time, squared and weighted, summed in double: one running sum per
// position in the group of eight (eight independent chains instead of one
// serial chain of double adds), added together in a fixed order at the end.
template <typename T>
static double sq_rows(const T* Y, size_t n, size_t ld, float inv, const float* a, const float* p) {
  constexpr size_t R = 8;
  double part[R] = {};
  size_t j = 0;
  for (; j + R <= n; j += R) {
    const T* y = Y + j * ld;
    alignas(64) float t[R];
    vf s[R] = {};
    for (size_t c = 0; c < ld; c += W) {
      const vf pv = load(p + c);
      for (size_t i = 0; i < R; ++i) s[i] += load_row(y + i * ld + c) * pv;
    }
    sums<R>(s, t);
    for (size_t i = 0; i < R; ++i) {
      const double d = inv * t[i];
      part[i] += static_cast<double>(a ? a[j + i] : 1.0f) * (d * d);
    }
  }
  double total = ((part[0] + part[1]) + (part[2] + part[3])) + ((part[4] + part[5]) + (part[6] + part[7]));
  for (; j < n; ++j) {
    const double t = inv * dot_ld(Y + j * ld, p, ld);
    total += static_cast<double>(a ? a[j] : 1.0f) * (t * t);
  }
  return total;
}

static double weighted_sq(const float* Y, size_t n, size_t ld, const float* a, const float* p) {
  return sq_rows(Y, n, ld, 1.0f, a, p);
}

static double weighted_sq_h(const uint16_t* Y, size_t n, size_t ld, float inv, const float* a, const float* p) {
  return sq_rows(Y, n, ld, inv, a, p);
}

// stream_update with the user's row held in NV registers (NV = ld / W fixed
// at compile time); P and OUT rows of the items a few entries ahead are
// prefetched, since the items of a row are scattered over the item side.
template <size_t NV>
static void stream_update_fixed(const float* x, const int32_t* items, size_t n, const float* a, float scale,
                                const float* beta, const float* P, float* OUT, double* curv) {
  constexpr size_t ld = NV * W;
  constexpr size_t kAhead = 4;
  vf xv[NV];
  for (size_t v = 0; v < NV; ++v) xv[v] = load(x + v * W);
  for (size_t j = 0; j < n && j < kAhead; ++j) {
    const float* pp = P + static_cast<size_t>(items[j]) * ld;
    for (size_t o = 0; o < ld; o += 16) __builtin_prefetch(pp + o);
  }
  for (size_t j = 0; j < n; ++j) {
    if (j + kAhead < n) {
      const size_t ia = static_cast<size_t>(items[j + kAhead]);
      for (size_t o = 0; o < ld; o += 16) __builtin_prefetch(P + ia * ld + o);
      if (!curv)
        for (size_t o = 0; o < ld; o += 16) __builtin_prefetch(OUT + ia * ld + o, 1);
    }
    const size_t i = static_cast<size_t>(items[j]);
    const float* pi = P + i * ld;
    vf s0 = {}, s1 = {};
    size_t v = 0;
    for (; v + 2 <= NV; v += 2) {
      s0 += xv[v] * load(pi + v * W);
      s1 += xv[v + 1] * load(pi + (v + 1) * W);
    }
    if (v < NV) s0 += xv[v] * load(pi + v * W);
    const float d = hsum(s0 + s1);
    const float aj = a ? a[j] : 1.0f;
    if (curv) {
      curv[i] += static_cast<double>(aj) * (static_cast<double>(d) * d);
      continue;
    }
    const vf t = splat((beta ? beta[j] : 0.0f) + scale * aj * d);
    float* oi = OUT + i * ld;
    for (size_t u = 0; u < NV; ++u) store(oi + u * W, load(oi + u * W) + t * xv[u]);
  }
}

static void stream_update(const float* x, size_t ld, const int32_t* items, size_t n, const float* a, float scale,
                          const float* beta, const float* P, float* OUT, double* curv) {
  switch (ld / W) {
    case 16 / W: return stream_update_fixed<16 / W>(x, items, n, a, scale, beta, P, OUT, curv);
    case 32 / W: return stream_update_fixed<32 / W>(x, items, n, a, scale, beta, P, OUT, curv);
    case 48 / W: return stream_update_fixed<48 / W>(x, items, n, a, scale, beta, P, OUT, curv);
    case 64 / W: return stream_update_fixed<64 / W>(x, items, n, a, scale, beta, P, OUT, curv);
    default: break;
  }
  for (size_t j = 0; j < n; ++j) {  // larger rows: the same sums, x read from memory
    const size_t i = static_cast<size_t>(items[j]);
    const float d = dot_ld(x, P + i * ld, ld);
    const float aj = a ? a[j] : 1.0f;
    if (curv) {
      curv[i] += static_cast<double>(aj) * (static_cast<double>(d) * d);
      continue;
    }
    const vf t = splat((beta ? beta[j] : 0.0f) + scale * aj * d);
    float* oi = OUT + i * ld;
    for (size_t c = 0; c < ld; c += W) store(oi + c, load(oi + c) + t * load(x + c));
  }
}

// out[0..ld) += G p for a symmetric d x d matrix G stored in rows of ld
// floats (zero padded): written as sum_c p[c] * G[c, :] (row c = column c), so
// each output vector is its own accumulator and no horizontal sums are needed.
template <size_t NF>
static inline void symv_block(const float* G, size_t d, size_t ld, const float* p, float* out) {
  constexpr size_t NV = NF / W;
  vf acc[NV];
  for (size_t v = 0; v < NV; ++v) acc[v] = load(out + v * W);
  for (size_t c = 0; c < d; ++c) {
    const vf pc = splat(p[c]);
    const float* row = G + c * ld;
    for (size_t v = 0; v < NV; ++v) acc[v] += pc * load(row + v * W);
  }
  for (size_t v = 0; v < NV; ++v) store(out + v * W, acc[v]);
}

static void symv(const float* G, size_t d, size_t ld, const float* p, float* out) {
  size_t b = 0;
  for (; b + 64 <= ld; b += 64) symv_block<64>(G + b, d, ld, p, out + b);
  for (; b < ld; b += 16) symv_block<16>(G + b, d, ld, p, out + b);
}

// One fixed row into dst (k floats, widened from halves when f16 is set).
static inline void copy_row(const FixedRows& f, int32_t col, float* dst) {
  const size_t k = f.k;
  if (f.i8) {
    const int8_t* src = f.i8 + static_cast<size_t>(col) * k;
    const float s = f.row_scale[col];
    size_t c = 0;
#if defined(__AVX2__)
    const __m256 sv = _mm256_set1_ps(s);
    for (; c + 8 <= k; c += 8)
      _mm256_storeu_ps(dst + c, _mm256_mul_ps(sv, _mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(
                                                      _mm_loadl_epi64(reinterpret_cast<const __m128i*>(src + c))))));
#endif
    for (; c < k; ++c) dst[c] = s * static_cast<float>(src[c]);
    return;
  }
  if (!f.f16) {
    std::memcpy(dst, f.f32 + static_cast<size_t>(col) * k, k * sizeof(float));
    return;
  }
  const uint16_t* src = f.f16 + static_cast<size_t>(col) * k;
  size_t c = 0;
#if defined(__F16C__)
  const __m256 inv = _mm256_set1_ps(f.inv_scale);
  for (; c + 8 <= k; c += 8)
    _mm256_storeu_ps(dst + c, _mm256_mul_ps(inv, _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(src + c)))));
#endif
  for (; c < k; ++c) dst[c] = f.inv_scale * ann::half_to_float(src[c]);
}

static inline void prefetch_row(const FixedRows& f, int32_t col) {
  if (f.i8) {
    const char* p = reinterpret_cast<const char*>(f.i8 + static_cast<size_t>(col) * f.k);
    for (size_t off = 0; off < f.k; off += 64) __builtin_prefetch(p + off);
    __builtin_prefetch(p + f.k - 1);
    __builtin_prefetch(f.row_scale + col);
    return;
  }
  const size_t bytes = f.k * (f.f16 ? 2 : 4);
  const char* p = f.f16 ? reinterpret_cast<const char*>(f.f16 + static_cast<size_t>(col) * f.k)
                        : reinterpret_cast<const char*>(f.f32 + static_cast<size_t>(col) * f.k);
  for (size_t off = 0; off < bytes; off += 64) __builtin_prefetch(p + off);
  __builtin_prefetch(p + bytes - 1);  // rows need not start on a cache line
}

// The gather loop of both buffer layouts: rows prefetched `ahead` of the one
// being copied (they are scattered over the fixed side), copied in blocks of
// B rows, and each block's update of out made while the block is in L1.
template <typename CopyRow, typename UpdateBlock>
static inline void gather_in_blocks(const FixedRows& f, const int32_t* cols, size_t n, size_t ahead, CopyRow copy,
                                    UpdateBlock update) {
  constexpr size_t B = 16;  // rows per block: a multiple of weighted_matvec's 8 keeps its summation order
  for (size_t j = 0; j < n && j < ahead; ++j) prefetch_row(f, cols[j]);
  for (size_t j0 = 0; j0 < n; j0 += B) {
    const size_t j1 = (n - j0 < B) ? n : j0 + B;
    for (size_t j = j0; j < j1; ++j) {
      if (j + ahead < n) prefetch_row(f, cols[j + ahead]);
      copy(j);
    }
    update(j0, j1);
  }
}

static void gather_matvec(const FixedRows& f, const int32_t* cols, size_t n, size_t ld, bool bias_one, size_t ahead,
                          const float* a, float scale, const float* beta, const float* p, float* out, float* buf) {
  const size_t k = f.k;
  gather_in_blocks(
      f, cols, n, ahead,
      [&](size_t j) {
        float* dst = buf + j * ld;
        copy_row(f, cols[j], dst);
        if (ld > k) std::memset(dst + k, 0, (ld - k) * sizeof(float));
        if (bias_one) dst[k] = 1.0f;
      },
      [&](size_t j0, size_t j1) {
        if (out)
          weighted_matvec(buf + j0 * ld, j1 - j0, ld, a ? a + j0 : nullptr, scale, beta ? beta + j0 : nullptr, p, out);
      });
}

// gather_matvec for a float16 fixed side kept as halves in the buffer: each
// row's k halves copied as they are (half the bytes written, and a row's whole
// buffer is twice as likely to stay in L1 during its CG passes), then the
// same update of out as weighted_matvec_h over the copied block.
static void gather_matvec_h(const FixedRows& f, const int32_t* cols, size_t n, size_t ld, size_t ahead, const float* a,
                            float scale, const float* beta, const float* p, float* out, uint16_t* buf) {
  const size_t k = f.k;
  gather_in_blocks(
      f, cols, n, ahead,
      [&](size_t j) {
        uint16_t* dst = buf + j * ld;
        std::memcpy(dst, f.f16 + static_cast<size_t>(cols[j]) * k, k * sizeof(uint16_t));
        if (ld > k) std::memset(dst + k, 0, (ld - k) * sizeof(uint16_t));
      },
      [&](size_t j0, size_t j1) {
        if (out)
          weighted_matvec_h(buf + j0 * ld, j1 - j0, ld, f.inv_scale, a ? a + j0 : nullptr, scale,
                            beta ? beta + j0 : nullptr, p, out);
      });
}

static void to_half(const float* src, size_t n, float scale, uint16_t* dst) {
  size_t i = 0;
#if defined(__F16C__)
  const __m256 s = _mm256_set1_ps(scale);
  for (; i + 8 <= n; i += 8)
    _mm_storeu_si128(reinterpret_cast<__m128i*>(dst + i),
                     _mm256_cvtps_ph(_mm256_mul_ps(s, _mm256_loadu_ps(src + i)), _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC));
#endif
  for (; i < n; ++i) dst[i] = ann::float_to_half(scale * src[i]);
}

static void to_int8_rows(const float* src, size_t rows, size_t k, int8_t* dst, float* scale) {
  for (size_t r = 0; r < rows; ++r) {
    const float* x = src + r * k;
    float m = 0.0f;
    for (size_t c = 0; c < k; ++c) m = std::fabs(x[c]) > m ? std::fabs(x[c]) : m;
    const float s = m / 127.0f, inv = m > 0.0f ? 127.0f / m : 0.0f;
    scale[r] = s;
    for (size_t c = 0; c < k; ++c) dst[r * k + c] = static_cast<int8_t>(std::nearbyint(x[c] * inv));
  }
}

// NV vectors of row j of U before scaling, from column c: A's row j minus
// U[p][j] U[p][c..] for every p < j (U's rows p < j are done). Short blocks
// keep S partial sums per vector over alternating p: with fewer than five
// vectors, the FMA latency and not the throughput would bound the loop.
template <size_t NV>
inline void row_minus_done(const double* A, size_t lda, size_t j, size_t c, vd (&a)[8]) {
  constexpr size_t S = NV >= 5 ? 1 : NV >= 3 ? 2 : 4;
  vd acc[S][NV] = {};
  size_t p = 0;
  for (; p + S <= j; p += S)
    for (size_t q = 0; q < S; ++q) {
      const double* up = A + (p + q) * lda + c;
      const vd s = vd{} + A[(p + q) * lda + j];
      for (size_t v = 0; v < NV; ++v) acc[q][v] += s * loadd(up + v * WD);
    }
  for (; p < j; ++p) {
    const double* up = A + p * lda + c;
    const vd s = vd{} + A[p * lda + j];
    for (size_t v = 0; v < NV; ++v) acc[0][v] += s * loadd(up + v * WD);
  }
  for (size_t v = 0; v < NV; ++v) {
    vd t = acc[0][v];
    for (size_t q = 1; q < S; ++q) t += acc[q][v];
    a[v] = loadd(A + j * lda + c + v * WD) - t;
  }
}

// Cholesky A = Uᵀ U in place, U upper triangular (row-major d x d; the upper
// triangle becomes U = Lᵀ, the strict lower triangle is left as it was);
// false if A is not positive definite. Left-looking by rows of U: row j is
// A's row j minus U[p][j] U[p][j..] for every p < j, accumulated in registers
// up to four vectors at a time. Every step is a broadcast times a contiguous
// row, so no short dot product and no horizontal sum (for a fold-in's 64 x 64
// system those were most of the time). Vectors start at multiples of the
// width, so that all of them are independent chains; lanes left of the
// diagonal are computed and dropped.
static bool cholesky(double* A, size_t d, size_t lda) {
  const size_t vend = d - d % WD;
  for (size_t j = 0; j < d; ++j) {
    double* uj = A + j * lda;
    size_t c = j - j % WD;
    bool first = true;
    while (c < vend) {
      vd a[8];
      const size_t nv = std::min<size_t>(8, (vend - c) / WD);
      switch (nv) {
        case 8: row_minus_done<8>(A, lda, j, c, a); break;
        case 7: row_minus_done<7>(A, lda, j, c, a); break;
        case 6: row_minus_done<6>(A, lda, j, c, a); break;
        case 5: row_minus_done<5>(A, lda, j, c, a); break;
        case 4: row_minus_done<4>(A, lda, j, c, a); break;
        case 3: row_minus_done<3>(A, lda, j, c, a); break;
        case 2: row_minus_done<2>(A, lda, j, c, a); break;
        default: row_minus_done<1>(A, lda, j, c, a); break;
      }
      for (size_t v = 0; v < nv; ++v) {
        if (first && c < j) {  // the strict lower triangle keeps A
          double lanes[WD];
          std::memcpy(lanes, &a[v], sizeof(vd));
          for (size_t q = j - c; q < WD; ++q) uj[c + q] = lanes[q];
        } else {
          stored(uj + c, a[v]);
        }
        first = false;
        c += WD;
      }
    }
    for (c = std::max(j, vend); c < d; ++c) {  // columns past the last whole vector: four partial sums
      double s[4] = {uj[c], 0.0, 0.0, 0.0};
      size_t p = 0;
      for (; p + 4 <= j; p += 4)
        for (size_t q = 0; q < 4; ++q) s[q] -= A[(p + q) * lda + j] * A[(p + q) * lda + c];
      for (; p < j; ++p) s[0] -= A[p * lda + j] * A[p * lda + c];
      uj[c] = (s[0] + s[1]) + (s[2] + s[3]);
    }
    const double s = uj[j];
    if (!(s > 0.0) || !std::isfinite(s)) return false;
    const double l = std::sqrt(s), inv = 1.0 / l;
    uj[j] = l;
    for (size_t i = j + 1; i < d; ++i) uj[i] *= inv;
  }
  return true;
}

// Solve Uᵀ U x = b with cholesky()'s U (x overwrites b): Uᵀ y = b by
// subtracting each solved y_p times U's row p from the rest, then U x = y by
// rows, each a contiguous dot product.
static void cholesky_solve(const double* U, size_t d, size_t lda, double* b) {
  for (size_t p = 0; p < d; ++p) {
    const double* up = U + p * lda;
    const double y = b[p] / up[p];
    b[p] = y;
    const vd ys = vd{} + y;
    size_t i = p + 1;
    for (; i + WD <= d; i += WD) stored(b + i, loadd(b + i) - ys * loadd(up + i));
    for (; i < d; ++i) b[i] -= y * up[i];
  }
  for (size_t i = d; i-- > 0;) {
    const double* ui = U + i * lda;
    vd acc = {};
    size_t j = i + 1;
    for (; j + WD <= d; j += WD) acc += loadd(ui + j) * loadd(b + j);
    double s = hsumd(acc);
    for (; j < d; ++j) s += ui[j] * b[j];
    b[i] = (b[i] - s) / ui[i];
  }
}

}  // namespace als_impl

extern const als::Kernels als_kernels_table;
const als::Kernels als_kernels_table = {
#define FASTREC_ALS_STR2(x) #x
#define FASTREC_ALS_STR(x) FASTREC_ALS_STR2(x)
    FASTREC_ALS_STR(FASTREC_ISA_NS) + 4,
    als_impl::gram_upper,
    als_impl::weighted_matvec,
    als_impl::weighted_sq,
    als_impl::weighted_matvec_h,
    als_impl::weighted_sq_h,
    als_impl::gather_matvec_h,
#if (FASTREC_ISA_LANES == 8 && defined(__F16C__)) || (FASTREC_ISA_LANES == 16 && defined(__AVX512F__))
    true,
#else
    false,
#endif
    als_impl::stream_update,
    als_impl::symv,
    als_impl::gather_matvec,
    als_impl::to_half,
    als_impl::to_int8_rows,
    als_impl::cholesky,
    als_impl::cholesky_solve,
};

}  // namespace fastrec::FASTREC_ISA_NS
