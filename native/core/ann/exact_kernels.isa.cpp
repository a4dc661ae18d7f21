// Register-blocked scoring of queries against item panels (see exact_kernels.hpp).
// Compiled once per instruction set; W = FASTREC_ISA_LANES floats per vector.
//
// The batch tile is MR queries x one panel of kPanel items: MR * kPanel / W
// accumulators (AVX2: 6 x 2 = 12 ymm, plus 2 panel vectors and 1 broadcast of
// the 16 registers). Per coordinate p it loads kPanel / W panel vectors and MR
// broadcasts and issues MR * kPanel / W fused multiply-adds, so the loop is
// bound by the FMA units, not by loads. A whole tile is then tested against
// its queries' thresholds with one OR of compare masks: almost every tile of a
// top-k scan is rejected there without touching memory.
#include <cstdint>
#include <cstring>

#include "ann/exact_kernels.hpp"
#include "common/isa_vec.hpp"

#if (FASTREC_ISA_LANES == 8 && defined(__AVX2__)) || (FASTREC_ISA_LANES == 16 && defined(__AVX512F__))
#include <immintrin.h>
#endif

namespace fastrec::FASTREC_ISA_NS {
namespace {

using ann::ExactHit;
using ann::kPanel;

constexpr size_t V = kPanel / W;                              // vectors per panel row
constexpr size_t MR = W == 1 ? 2 : (W >= 16 ? 12 : 6);        // queries per register tile
constexpr size_t NP1 = W == 1 ? 1 : 2;                        // panels in flight for one query
static_assert(NP1 <= 2, "scan_one's tail handles a single leftover panel");
constexpr float kInf = __builtin_huge_valf();

#if FASTREC_ISA_LANES == 1
typedef int vmask;
inline vmask ge(vf a, vf t) { return a >= t ? -1 : 0; }
inline bool any(vmask m) { return m != 0; }
inline float lane(vf a, size_t) { return a; }
#else
typedef vi vmask;
inline vmask ge(vf a, vf t) { return a >= t; }
inline bool any(vmask m) {
#if FASTREC_ISA_LANES == 8 && defined(__AVX2__)
  __m256i x;
  std::memcpy(&x, &m, sizeof x);
  return !_mm256_testz_si256(x, x);
#else
  uint64_t w[sizeof(vmask) / 8];
  std::memcpy(w, &m, sizeof w);
  uint64_t o = 0;
  for (uint64_t x : w) o |= x;
  return o != 0;
#endif
}
inline float lane(vf a, size_t l) { return a[l]; }
#endif

// One float to every lane, straight from memory. (isa_vec's splat adds the
// float to a zero vector, which the compiler may not drop without fast-math:
// here that would cost an add and a shuffle per broadcast in the hot loop.)
inline vf bcast(const float* p) {
#if FASTREC_ISA_LANES == 8 && defined(__AVX2__)
  return vf(_mm256_broadcast_ss(p));
#elif FASTREC_ISA_LANES == 16 && defined(__AVX512F__)
  return vf(_mm512_set1_ps(*p));
#elif FASTREC_ISA_LANES == 1
  return *p;
#else
  vf v;
  for (size_t l = 0; l < W; ++l) v[l] = *p;
  return v;
#endif
}

// acc[r][v] = bias[v] + sum_p a[r][p] * panel[p][v], p ascending.
inline void tile(const float* const* a, const float* panel, const float* bias, size_t dim, vf (&out)[MR][V]) {
  // Accumulate in a local array (kept in registers) and copy out once: the
  // broadcast loads could otherwise alias `out` and force a store per step.
  vf acc[MR][V];
  for (size_t v = 0; v < V; ++v) {
    vf b = load(bias + v * W);
    for (size_t r = 0; r < MR; ++r) acc[r][v] = b;
  }
  for (size_t p = 0; p < dim; ++p) {
    vf x[V];
    for (size_t v = 0; v < V; ++v) x[v] = load(panel + p * kPanel + v * W);
    for (size_t r = 0; r < MR; ++r) {
      vf s = bcast(a[r] + p);
      for (size_t v = 0; v < V; ++v) acc[r][v] += s * x[v];
    }
  }
  for (size_t r = 0; r < MR; ++r)
    for (size_t v = 0; v < V; ++v) out[r][v] = acc[r][v];
}

size_t scan(const float* const* queries, size_t nq, const float* thr, const float* panels, const float* bias,
            size_t npanels, size_t dim, ExactHit* hits) {
  size_t nh = 0;
  for (size_t q0 = 0; q0 < nq; q0 += MR) {
    size_t mr = nq - q0 < MR ? nq - q0 : MR;
    const float* a[MR];
    float th[MR];
    for (size_t r = 0; r < MR; ++r) {
      a[r] = queries[q0 + (r < mr ? r : 0)];
      th[r] = r < mr ? thr[q0 + r] : kInf;  // rows past mr repeat a query and never pass
    }
    for (size_t pn = 0; pn < npanels; ++pn) {
      if (q0 == 0 && pn + 2 < npanels) {  // first pass over the items comes from memory: fetch ahead
        const char* ahead = reinterpret_cast<const char*>(panels + (pn + 2) * kPanel * dim);
        for (size_t line = 0; line < kPanel * dim * sizeof(float); line += 64) __builtin_prefetch(ahead + line);
      }
      vf acc[MR][V];
      tile(a, panels + pn * kPanel * dim, bias + pn * kPanel, dim, acc);
      vmask m = {};
      for (size_t r = 0; r < MR; ++r) {
        vf t = bcast(th + r);
        for (size_t v = 0; v < V; ++v) m |= ge(acc[r][v], t);
      }
      if (!any(m)) continue;
      for (size_t r = 0; r < mr; ++r)
        for (size_t v = 0; v < V; ++v)
          for (size_t l = 0; l < W; ++l) {
            float s = lane(acc[r][v], l);
            if (s >= th[r]) hits[nh++] = ExactHit{s, uint32_t(q0 + r), uint32_t(pn * kPanel + v * W + l)};
          }
    }
  }
  return nh;
}

// NP1 panels at once: NP1 * V independent chains hide the FMA latency while
// the loop streams items from memory.
size_t scan_one(const float* q, float thr, const float* panels, const float* bias, size_t npanels, size_t dim,
                ExactHit* hits) {
  size_t nh = 0;
  const vf t = bcast(&thr);
  for (size_t pn = 0; pn < npanels; pn += NP1) {
    size_t np = npanels - pn < NP1 ? npanels - pn : NP1;
    vf acc[NP1][V];
    const float* base = panels + pn * kPanel * dim;
    for (size_t u = 0; u < NP1; ++u)
      for (size_t v = 0; v < V; ++v) acc[u][v] = u < np ? load(bias + (pn + u) * kPanel + v * W) : splat(-kInf);
    if (np == NP1) {
      for (size_t p = 0; p < dim; ++p) {
        vf s = bcast(q + p);
        for (size_t u = 0; u < NP1; ++u)
          for (size_t v = 0; v < V; ++v) acc[u][v] += s * load(base + u * kPanel * dim + p * kPanel + v * W);
      }
    } else {
      for (size_t p = 0; p < dim; ++p) {
        vf s = bcast(q + p);
        for (size_t v = 0; v < V; ++v) acc[0][v] += s * load(base + p * kPanel + v * W);
      }
    }
    vmask m = {};
    for (size_t u = 0; u < np; ++u)
      for (size_t v = 0; v < V; ++v) m |= ge(acc[u][v], t);
    if (!any(m)) continue;
    for (size_t u = 0; u < np; ++u)
      for (size_t v = 0; v < V; ++v)
        for (size_t l = 0; l < W; ++l) {
          float s = lane(acc[u][v], l);
          if (s >= thr) hits[nh++] = ExactHit{s, 0, uint32_t((pn + u) * kPanel + v * W + l)};
        }
  }
  return nh;
}

void dense(const float* const* queries, size_t nq, const float* panels, const float* bias, size_t npanels,
           size_t dim, float* out, size_t ldo) {
  for (size_t q0 = 0; q0 < nq; q0 += MR) {
    size_t mr = nq - q0 < MR ? nq - q0 : MR;
    const float* a[MR];
    for (size_t r = 0; r < MR; ++r) a[r] = queries[q0 + (r < mr ? r : 0)];
    for (size_t pn = 0; pn < npanels; ++pn) {
      vf acc[MR][V];
      tile(a, panels + pn * kPanel * dim, bias + pn * kPanel, dim, acc);
      for (size_t r = 0; r < mr; ++r)
        for (size_t v = 0; v < V; ++v) store(out + (q0 + r) * ldo + pn * kPanel + v * W, acc[r][v]);
    }
  }
}

float stream_sum(const float* x, size_t n) {
  vf a[8] = {};
  size_t i = 0;
  for (; i + 8 * W <= n; i += 8 * W)
    for (size_t j = 0; j < 8; ++j) a[j] += load(x + i + j * W);
  vf t = ((a[0] + a[1]) + (a[2] + a[3])) + ((a[4] + a[5]) + (a[6] + a[7]));
  float s = hsum(t);
  for (; i < n; ++i) s += x[i];
  return s;
}

float fma_peak(size_t steps) {
  vf a[12];
  for (size_t j = 0; j < 12; ++j) a[j] = splat(float(j) * 1e-3f);
  const vf x = splat(0.999f), y = splat(1e-4f);
  for (size_t i = 0; i < steps; ++i)
    for (size_t j = 0; j < 12; ++j) a[j] = a[j] * x + y;
  vf t = a[0];
  for (size_t j = 1; j < 12; ++j) t += a[j];
  return hsum(t);
}

}  // namespace

extern const ann::ExactKernels ann_exact_table;
const ann::ExactKernels ann_exact_table = {
#define FASTREC_STR2(x) #x
#define FASTREC_STR(x) FASTREC_STR2(x)
    FASTREC_STR(FASTREC_ISA_NS) + 4,
    scan,
    scan_one,
    dense,
    stream_sum,
    fma_peak,
};

}  // namespace fastrec::FASTREC_ISA_NS
