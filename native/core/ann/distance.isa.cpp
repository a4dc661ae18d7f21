// Distance kernels compiled once per instruction set (see common/kernels.isa.cpp).
// Two independent accumulators hide the FMA latency at d = 64 (8 AVX2 steps).
#include <cstdint>
#include <cstring>
#if defined(__F16C__) || defined(__AVX2__)
#include <immintrin.h>
#endif

#include "ann/distance.hpp"

namespace fastrec::FASTREC_ISA_NS {
namespace ann_detail {

constexpr size_t W = FASTREC_ISA_LANES;
#if FASTREC_ISA_LANES == 1
typedef float vf;
static inline float hsum(vf v) { return v; }
#else
typedef float vf __attribute__((vector_size(W * sizeof(float))));
static inline float hsum(vf v) {
  float s = 0;
  for (size_t j = 0; j < W; ++j) s += v[j];
  return s;
}
#endif
static inline vf load(const float* p) {
  vf v;
  std::memcpy(&v, p, sizeof(vf));
  return v;
}

static float dot(const float* a, const float* b, size_t n) {
  vf s0 = {}, s1 = {};
  size_t i = 0;
  for (; i + 2 * W <= n; i += 2 * W) {
    s0 += load(a + i) * load(b + i);
    s1 += load(a + i + W) * load(b + i + W);
  }
  for (; i + W <= n; i += W) s0 += load(a + i) * load(b + i);
  float s = hsum(s0 + s1);
  for (; i < n; ++i) s += a[i] * b[i];
  return s;
}

static float l2(const float* a, const float* b, size_t n) {
  vf s0 = {}, s1 = {};
  size_t i = 0;
  for (; i + 2 * W <= n; i += 2 * W) {
    vf d0 = load(a + i) - load(b + i);
    vf d1 = load(a + i + W) - load(b + i + W);
    s0 += d0 * d0;
    s1 += d1 * d1;
  }
  for (; i + W <= n; i += W) {
    vf d = load(a + i) - load(b + i);
    s0 += d * d;
  }
  float s = hsum(s0 + s1);
  for (; i < n; ++i) {
    float d = a[i] - b[i];
    s += d * d;
  }
  return s;
}

static float ip(const float* a, const float* b, size_t n) { return 1.0f - dot(a, b, n); }

// Half-float storage: widen 8 halves at a time (F16C) and accumulate in float.
#if defined(__F16C__)
static inline __m256 load_half8(const uint16_t* p) {
  return _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(p)));
}
static float hsum256(__m256 v) {
  __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
  s = _mm_add_ps(s, _mm_movehl_ps(s, s));
  s = _mm_add_ss(s, _mm_movehdup_ps(s));
  return _mm_cvtss_f32(s);
}
static float l2_f16(const float* a, const uint16_t* b, size_t n) {
  __m256 s0 = _mm256_setzero_ps(), s1 = _mm256_setzero_ps();
  size_t i = 0;
  for (; i + 16 <= n; i += 16) {
    __m256 d0 = _mm256_sub_ps(_mm256_loadu_ps(a + i), load_half8(b + i));
    __m256 d1 = _mm256_sub_ps(_mm256_loadu_ps(a + i + 8), load_half8(b + i + 8));
    s0 = _mm256_fmadd_ps(d0, d0, s0);
    s1 = _mm256_fmadd_ps(d1, d1, s1);
  }
  for (; i + 8 <= n; i += 8) {
    __m256 d0 = _mm256_sub_ps(_mm256_loadu_ps(a + i), load_half8(b + i));
    s0 = _mm256_fmadd_ps(d0, d0, s0);
  }
  float s = hsum256(_mm256_add_ps(s0, s1));
  for (; i < n; ++i) {
    float d = a[i] - ann::half_to_float(b[i]);
    s += d * d;
  }
  return s;
}
static float ip_f16(const float* a, const uint16_t* b, size_t n) {
  __m256 s0 = _mm256_setzero_ps(), s1 = _mm256_setzero_ps();
  size_t i = 0;
  for (; i + 16 <= n; i += 16) {
    s0 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i), load_half8(b + i), s0);
    s1 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i + 8), load_half8(b + i + 8), s1);
  }
  for (; i + 8 <= n; i += 8) s0 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i), load_half8(b + i), s0);
  float s = hsum256(_mm256_add_ps(s0, s1));
  for (; i < n; ++i) s += a[i] * ann::half_to_float(b[i]);
  return 1.0f - s;
}
#else
static float l2_f16(const float* a, const uint16_t* b, size_t n) {
  float s = 0;
  for (size_t i = 0; i < n; ++i) {
    float d = a[i] - ann::half_to_float(b[i]);
    s += d * d;
  }
  return s;
}
static float ip_f16(const float* a, const uint16_t* b, size_t n) {
  float s = 0;
  for (size_t i = 0; i < n; ++i) s += a[i] * ann::half_to_float(b[i]);
  return 1.0f - s;
}
#endif

static void dot_gather(const float* q, const float* base, size_t ld, const uint32_t* ids, size_t count, size_t n,
                       float* out) {
  for (size_t i = 0; i < count; ++i) {
    if (i + 4 < count) __builtin_prefetch(base + size_t(ids[i + 4]) * ld);
    out[i] = dot(q, base + size_t(ids[i]) * ld, n);
  }
}

// ---- batches: two rows at a time, each with two accumulators ----

static inline const float* row_f(const char* base, size_t stride, uint32_t id) {
  return reinterpret_cast<const float*>(base + size_t(id) * stride);
}

template <bool L2>
static void batch_f32(const float* q, const char* base, size_t stride, const uint32_t* ids, size_t count, size_t n,
                      float* out) {
  size_t r = 0;
  for (; r + 2 <= count; r += 2) {
    const float* a = row_f(base, stride, ids[r]);
    const float* b = row_f(base, stride, ids[r + 1]);
    vf a0 = {}, a1 = {}, b0 = {}, b1 = {};
    size_t i = 0;
    for (; i + 2 * W <= n; i += 2 * W) {
      vf q0 = load(q + i), q1 = load(q + i + W);
      if (L2) {
        vf da0 = q0 - load(a + i), da1 = q1 - load(a + i + W);
        vf db0 = q0 - load(b + i), db1 = q1 - load(b + i + W);
        a0 += da0 * da0;
        a1 += da1 * da1;
        b0 += db0 * db0;
        b1 += db1 * db1;
      } else {
        a0 += q0 * load(a + i);
        a1 += q1 * load(a + i + W);
        b0 += q0 * load(b + i);
        b1 += q1 * load(b + i + W);
      }
    }
    float sa = hsum(a0 + a1), sb = hsum(b0 + b1);
    for (; i < n; ++i) {
      if (L2) {
        float da = q[i] - a[i], db = q[i] - b[i];
        sa += da * da;
        sb += db * db;
      } else {
        sa += q[i] * a[i];
        sb += q[i] * b[i];
      }
    }
    out[r] = L2 ? sa : 1.0f - sa;
    out[r + 1] = L2 ? sb : 1.0f - sb;
  }
  if (r < count) {
    const float* a = row_f(base, stride, ids[r]);
    out[r] = L2 ? l2(q, a, n) : ip(q, a, n);
  }
}

#if defined(__F16C__)
template <bool L2>
static void batch_f16(const float* q, const char* base, size_t stride, const uint32_t* ids, size_t count, size_t n,
                      float* out) {
  size_t r = 0;
  for (; r + 2 <= count; r += 2) {
    const uint16_t* a = reinterpret_cast<const uint16_t*>(base + size_t(ids[r]) * stride);
    const uint16_t* b = reinterpret_cast<const uint16_t*>(base + size_t(ids[r + 1]) * stride);
    __m256 a0 = _mm256_setzero_ps(), a1 = _mm256_setzero_ps(), b0 = _mm256_setzero_ps(), b1 = _mm256_setzero_ps();
    size_t i = 0;
    for (; i + 16 <= n; i += 16) {
      __m256 q0 = _mm256_loadu_ps(q + i), q1 = _mm256_loadu_ps(q + i + 8);
      if (L2) {
        __m256 da0 = _mm256_sub_ps(q0, load_half8(a + i)), da1 = _mm256_sub_ps(q1, load_half8(a + i + 8));
        __m256 db0 = _mm256_sub_ps(q0, load_half8(b + i)), db1 = _mm256_sub_ps(q1, load_half8(b + i + 8));
        a0 = _mm256_fmadd_ps(da0, da0, a0);
        a1 = _mm256_fmadd_ps(da1, da1, a1);
        b0 = _mm256_fmadd_ps(db0, db0, b0);
        b1 = _mm256_fmadd_ps(db1, db1, b1);
      } else {
        a0 = _mm256_fmadd_ps(q0, load_half8(a + i), a0);
        a1 = _mm256_fmadd_ps(q1, load_half8(a + i + 8), a1);
        b0 = _mm256_fmadd_ps(q0, load_half8(b + i), b0);
        b1 = _mm256_fmadd_ps(q1, load_half8(b + i + 8), b1);
      }
    }
    float sa = hsum256(_mm256_add_ps(a0, a1)), sb = hsum256(_mm256_add_ps(b0, b1));
    for (; i < n; ++i) {
      float xa = ann::half_to_float(a[i]), xb = ann::half_to_float(b[i]);
      if (L2) {
        sa += (q[i] - xa) * (q[i] - xa);
        sb += (q[i] - xb) * (q[i] - xb);
      } else {
        sa += q[i] * xa;
        sb += q[i] * xb;
      }
    }
    out[r] = L2 ? sa : 1.0f - sa;
    out[r + 1] = L2 ? sb : 1.0f - sb;
  }
  if (r < count) {
    const uint16_t* a = reinterpret_cast<const uint16_t*>(base + size_t(ids[r]) * stride);
    out[r] = L2 ? l2_f16(q, a, n) : ip_f16(q, a, n);
  }
}
#else
template <bool L2>
static void batch_f16(const float* q, const char* base, size_t stride, const uint32_t* ids, size_t count, size_t n,
                      float* out) {
  for (size_t r = 0; r < count; ++r) {
    const uint16_t* a = reinterpret_cast<const uint16_t*>(base + size_t(ids[r]) * stride);
    out[r] = L2 ? l2_f16(q, a, n) : ip_f16(q, a, n);
  }
}
#endif

static void widen_f16(const uint16_t* h, float* out, size_t n) {
  size_t i = 0;
#if defined(__F16C__)
  for (; i + 8 <= n; i += 8) _mm256_storeu_ps(out + i, load_half8(h + i));
#endif
  for (; i < n; ++i) out[i] = ann::half_to_float(h[i]);
}


// ---- int8 storage: rows [float scale][int8 x[n]] (distance.hpp) ----
// The query stays float32; the row is widened to floats and the sum scaled
// once at the end: <q, scale x> = scale <q, x>. For l2 the difference
// q - scale x is formed per coordinate (one fused multiply-subtract).

static inline float row_scale(const void* row) {
  float s;
  std::memcpy(&s, row, sizeof(float));
  return s;
}
static inline const int8_t* row_values(const void* row) {
  return static_cast<const int8_t*>(row) + ann::kInt8RowHeader;
}

#if defined(__AVX2__)
// 8 int8 -> 8 floats: sign-extend to int32 (vpmovsxbd) and convert.
static inline __m256 widen8(const int8_t* p) {
  return _mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(_mm_loadl_epi64(reinterpret_cast<const __m128i*>(p))));
}
static inline float sum8(__m256 v) {
  __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
  s = _mm_add_ps(s, _mm_movehl_ps(s, s));
  s = _mm_add_ss(s, _mm_movehdup_ps(s));
  return _mm_cvtss_f32(s);
}
// 16 int8 as two halves of 8 floats: two 8-byte sign-extending loads
// (vpmovsxbd with a memory operand) need no shuffle to reach the upper half.
static inline void widen16(const int8_t* p, __m256& lo, __m256& hi) {
  lo = widen8(p);
  hi = widen8(p + 8);
}
#endif

template <bool L2>
static float dist_i8(const float* q, const void* row, size_t n) {
  const float sc = row_scale(row);
  const int8_t* x = row_values(row);
  size_t i = 0;
  float s = 0;
#if defined(__AVX2__)
  const __m256 vs = _mm256_set1_ps(sc);
  __m256 s0 = _mm256_setzero_ps(), s1 = _mm256_setzero_ps();
  for (; i + 16 <= n; i += 16) {
    __m256 lo, hi;
    widen16(x + i, lo, hi);
    if (L2) {
      const __m256 d0 = _mm256_fnmadd_ps(vs, lo, _mm256_loadu_ps(q + i));
      const __m256 d1 = _mm256_fnmadd_ps(vs, hi, _mm256_loadu_ps(q + i + 8));
      s0 = _mm256_fmadd_ps(d0, d0, s0);
      s1 = _mm256_fmadd_ps(d1, d1, s1);
    } else {
      s0 = _mm256_fmadd_ps(_mm256_loadu_ps(q + i), lo, s0);
      s1 = _mm256_fmadd_ps(_mm256_loadu_ps(q + i + 8), hi, s1);
    }
  }
  for (; i + 8 <= n; i += 8) {
    const __m256 x8 = widen8(x + i);
    if (L2) {
      const __m256 d0 = _mm256_fnmadd_ps(vs, x8, _mm256_loadu_ps(q + i));
      s0 = _mm256_fmadd_ps(d0, d0, s0);
    } else {
      s0 = _mm256_fmadd_ps(_mm256_loadu_ps(q + i), x8, s0);
    }
  }
  s = sum8(_mm256_add_ps(s0, s1));
#endif
  for (; i < n; ++i) {
    if (L2) {
      const float d = q[i] - sc * float(x[i]);
      s += d * d;
    } else {
      s += q[i] * float(x[i]);
    }
  }
  return L2 ? s : 1.0f - sc * s;
}

template <bool L2>
static void batch_i8(const float* q, const char* base, size_t stride, const uint32_t* ids, size_t count, size_t n,
                     float* out) {
  size_t r = 0;
#if defined(__AVX2__)
  // Two rows at a time (their loads overlap), two accumulators each.
  for (; r + 2 <= count; r += 2) {
    const char* ra = base + size_t(ids[r]) * stride;
    const char* rb = base + size_t(ids[r + 1]) * stride;
    const float sa = row_scale(ra), sb = row_scale(rb);
    const int8_t* a = row_values(ra);
    const int8_t* b = row_values(rb);
    const __m256 vsa = _mm256_set1_ps(sa), vsb = _mm256_set1_ps(sb);
    __m256 a0 = _mm256_setzero_ps(), a1 = _mm256_setzero_ps(), b0 = _mm256_setzero_ps(), b1 = _mm256_setzero_ps();
    size_t i = 0;
    for (; i + 16 <= n; i += 16) {
      const __m256 q0 = _mm256_loadu_ps(q + i), q1 = _mm256_loadu_ps(q + i + 8);
      __m256 alo, ahi, blo, bhi;
      widen16(a + i, alo, ahi);
      widen16(b + i, blo, bhi);
      if (L2) {
        const __m256 da0 = _mm256_fnmadd_ps(vsa, alo, q0), da1 = _mm256_fnmadd_ps(vsa, ahi, q1);
        const __m256 db0 = _mm256_fnmadd_ps(vsb, blo, q0), db1 = _mm256_fnmadd_ps(vsb, bhi, q1);
        a0 = _mm256_fmadd_ps(da0, da0, a0);
        a1 = _mm256_fmadd_ps(da1, da1, a1);
        b0 = _mm256_fmadd_ps(db0, db0, b0);
        b1 = _mm256_fmadd_ps(db1, db1, b1);
      } else {
        a0 = _mm256_fmadd_ps(q0, alo, a0);
        a1 = _mm256_fmadd_ps(q1, ahi, a1);
        b0 = _mm256_fmadd_ps(q0, blo, b0);
        b1 = _mm256_fmadd_ps(q1, bhi, b1);
      }
    }
    for (; i + 8 <= n; i += 8) {
      const __m256 q0 = _mm256_loadu_ps(q + i);
      const __m256 xa = widen8(a + i), xb = widen8(b + i);
      if (L2) {
        const __m256 da = _mm256_fnmadd_ps(vsa, xa, q0), db = _mm256_fnmadd_ps(vsb, xb, q0);
        a0 = _mm256_fmadd_ps(da, da, a0);
        b0 = _mm256_fmadd_ps(db, db, b0);
      } else {
        a0 = _mm256_fmadd_ps(q0, xa, a0);
        b0 = _mm256_fmadd_ps(q0, xb, b0);
      }
    }
    float ta = sum8(_mm256_add_ps(a0, a1)), tb = sum8(_mm256_add_ps(b0, b1));
    for (; i < n; ++i) {
      if (L2) {
        const float da = q[i] - sa * float(a[i]), db = q[i] - sb * float(b[i]);
        ta += da * da;
        tb += db * db;
      } else {
        ta += q[i] * float(a[i]);
        tb += q[i] * float(b[i]);
      }
    }
    out[r] = L2 ? ta : 1.0f - sa * ta;
    out[r + 1] = L2 ? tb : 1.0f - sb * tb;
  }
#endif
  for (; r < count; ++r) out[r] = dist_i8<L2>(q, base + size_t(ids[r]) * stride, n);
}

static void widen_i8(const void* row, float* out, size_t n) {
  const float sc = row_scale(row);
  const int8_t* x = row_values(row);
  size_t i = 0;
#if defined(__AVX2__)
  const __m256 vs = _mm256_set1_ps(sc);
  for (; i + 8 <= n; i += 8) _mm256_storeu_ps(out + i, _mm256_mul_ps(vs, widen8(x + i)));
#endif
  for (; i < n; ++i) out[i] = sc * float(x[i]);
}

}  // namespace ann_detail

extern const ann::DistanceKernels ann_distance_table;
const ann::DistanceKernels ann_distance_table = {ann_detail::l2,
                                                  ann_detail::ip,
                                                  ann_detail::l2_f16,
                                                  ann_detail::ip_f16,
                                                  ann_detail::dot_gather,
                                                  ann_detail::batch_f32<true>,
                                                  ann_detail::batch_f32<false>,
                                                  ann_detail::batch_f16<true>,
                                                  ann_detail::batch_f16<false>,
                                                  ann_detail::widen_f16,
                                                  ann_detail::dist_i8<true>,
                                                  ann_detail::dist_i8<false>,
                                                  ann_detail::batch_i8<true>,
                                                  ann_detail::batch_i8<false>,
                                                  ann_detail::widen_i8};

}  // namespace fastrec::FASTREC_ISA_NS
