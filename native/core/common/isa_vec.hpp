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
constexpr size_t WD = W / 2;
typedef double vd __attribute__((vector_size(WD * sizeof(double))));
inline float hsum(vf v) {
  float s = 0;
  for (size_t j = 0; j < W; ++j) s += v[j];
  return s;
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
