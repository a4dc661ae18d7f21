#include "ann/distance.hpp"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>

#include "common/simd.hpp"

namespace fastrec {
FASTREC_DECLARE_ISA_TABLE(ann::DistanceKernels, ann_distance_table)
}  // namespace fastrec

namespace fastrec::ann {

uint16_t float_to_half(float f) {
  uint32_t x;
  std::memcpy(&x, &f, 4);
  uint32_t sign = (x >> 16) & 0x8000u;
  uint32_t mag = x & 0x7FFFFFFFu;
  if (mag >= 0x7F800000u) return uint16_t(sign | 0x7C00u | (mag > 0x7F800000u ? 0x200u : 0));  // inf / nan
  if (mag >= 0x477FF000u) return uint16_t(sign | 0x7C00u);  // rounds past the largest half: inf
  if (mag < 0x38800000u) {  // subnormal half (or zero)
    if (mag < 0x33000000u) return uint16_t(sign);
    uint32_t e = mag >> 23;
    uint32_t m = (mag & 0x7FFFFFu) | 0x800000u;
    uint32_t shift = 126 - e;  // 14 - (e - 127) + 13 - 1 ... bits to drop
    uint32_t half_m = m >> (shift);
    uint32_t rem = m & ((1u << shift) - 1), halfway = 1u << (shift - 1);
    if (rem > halfway || (rem == halfway && (half_m & 1))) ++half_m;
    return uint16_t(sign | half_m);
  }
  uint32_t r = mag - 0x38000000u;  // rebias exponent 127 -> 15
  uint32_t half = r >> 13;
  uint32_t rem = r & 0x1FFFu;
  if (rem > 0x1000u || (rem == 0x1000u && (half & 1))) ++half;
  return uint16_t(sign | half);
}

float half_to_float(uint16_t h) {
  uint32_t sign = uint32_t(h & 0x8000u) << 16;
  uint32_t e = (h >> 10) & 0x1F, m = h & 0x3FFu;
  uint32_t x;
  if (e == 0) {
    if (m == 0) {
      x = sign;
    } else {  // subnormal: normalize
      e = 127 - 15 + 1;
      while (!(m & 0x400u)) {
        m <<= 1;
        --e;
      }
      x = sign | (e << 23) | ((m & 0x3FFu) << 13);
    }
  } else if (e == 31) {
    x = sign | 0x7F800000u | (m << 13);
  } else {
    x = sign | ((e + 127 - 15) << 23) | (m << 13);
  }
  float f;
  std::memcpy(&f, &x, 4);
  return f;
}

void quantize_int8(const float* v, size_t n, void* row) {
  float m = 0;
  for (size_t i = 0; i < n; ++i) {
    const float a = std::fabs(v[i]);
    if (a > m && a <= std::numeric_limits<float>::max()) m = a;  // skips NaN and infinity
  }
  const float scale = m / 127.0f;
  const float inv = m > 0 ? 127.0f / m : 0.0f;
  std::memcpy(row, &scale, sizeof(float));
  int8_t* x = static_cast<int8_t*>(row) + kInt8RowHeader;
  for (size_t i = 0; i < n; ++i) {
    float r = v[i] * inv;
    if (!std::isfinite(r)) r = 0;  // NaN or infinity in the input
    r = std::min(127.0f, std::max(-127.0f, r));
    x[i] = int8_t(std::lrintf(r));  // round to nearest (even on ties)
  }
}

const DistanceKernels* distance_kernels_for(const std::string& level) {
  if (!simd::kernels_for(level)) return nullptr;  // not compiled in, or not supported by this CPU
  for (const auto& t : FASTREC_ISA_TABLES(DistanceKernels, ann_distance_table))
    if (level == t.level) return t.table;
  return nullptr;
}

const DistanceKernels& distance_kernels() {
  // Follow the level simd::kernels() chose (it honours FASTREC_SIMD and the CPU).
  static const DistanceKernels* chosen = FASTREC_SELECT_ISA_TABLE(DistanceKernels, ann_distance_table);
  return *chosen;
}

}  // namespace fastrec::ann
