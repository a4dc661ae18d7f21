// Vector helpers for *.isa.cpp files (compiled once per instruction set with
// FASTREC_ISA_NS and FASTREC_ISA_LANES defined; see CMakeLists.txt). Include
// this instead of redefining the vector types in each engine:
//   vf / vd: FASTREC_ISA_LANES floats / half as many doubles (plain scalars at lanes = 1)
//   load / store / splat / hsum (and loadd / hsumd for doubles)
// memcpy loads and stores compile to unaligned vector moves: no alignment needed.
#pragma once
#ifndef FASTREC_ISA_NS
#error "common/isa_vec.hpp is only for *.isa.cpp files (compiled per ISA)"
#endif
#include <cstddef>
#include <cstring>

namespace fastrec::FASTREC_ISA_NS {
namespace {

constexpr size_t W = FASTREC_ISA_LANES;
#if FASTREC_ISA_LANES == 1
typedef float vf;
typedef double vd;
constexpr size_t WD = 1;
inline float hsum(vf v) { return v; }
inline double hsumd(vd v) { return v; }
#else
typedef float vf __attribute__((vector_size(W * sizeof(float))));
typedef int vi __attribute__((vector_size(W * sizeof(int))));
constexpr size_t WD = W / 2;
typedef double vd __attribute__((vector_size(WD * sizeof(double))));
// Horizontal sum by halving shuffles: log2(W) adds instead of W - 1 extracts.
template <size_t S>
inline vf fold(vf v) {
  vi mask;
  for (size_t j = 0; j < W; ++j) mask[j] = static_cast<int>(j ^ S);
  return v + __builtin_shuffle(v, mask);
}
inline float hsum(vf v) {
  if constexpr (W >= 16) v = fold<8>(v);
  if constexpr (W >= 8) v = fold<4>(v);
  if constexpr (W >= 4) v = fold<2>(v);
  v = fold<1>(v);
  return v[0];
}
inline double hsumd(vd v) {
  double s = 0;
  for (size_t j = 0; j < WD; ++j) s += v[j];
  return s;
}
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
inline vd loadd(const double* p) {
  vd v;
  std::memcpy(&v, p, sizeof(vd));
  return v;
}
inline void stored(double* p, vd v) { std::memcpy(p, &v, sizeof(vd)); }

}  // namespace
}  // namespace fastrec::FASTREC_ISA_NS
