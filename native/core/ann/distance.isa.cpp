// Distance kernels compiled once per instruction set (see common/kernels.isa.cpp).
// Two independent accumulators hide the FMA latency at d = 64 (8 AVX2 steps).
#include <cstdint>
#include <cstring>

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

static void dot_gather(const float* q, const float* base, size_t ld, const uint32_t* ids, size_t count, size_t n,
                       float* out) {
  for (size_t i = 0; i < count; ++i) {
    if (i + 4 < count) __builtin_prefetch(base + size_t(ids[i + 4]) * ld);
    out[i] = dot(q, base + size_t(ids[i]) * ld, n);
  }
}

}  // namespace ann_detail

extern const ann::DistanceKernels ann_distance_table;
const ann::DistanceKernels ann_distance_table = {ann_detail::l2, ann_detail::ip, ann_detail::dot_gather};

}  // namespace fastrec::FASTREC_ISA_NS
