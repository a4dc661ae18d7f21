// Per-ISA distance kernels for the ANN hot loops (chosen at run time with the
// same level as simd::kernels()). Kept separate from the shared kernels so the
// graph search pays one indirect call per distance, not two.
#pragma once
#include <cstddef>
#include <cstdint>

namespace fastrec::ann {

struct DistanceKernels {
  // sum (a - b)^2
  float (*l2)(const float* a, const float* b, size_t n);
  // 1 - <a, b>
  float (*ip)(const float* a, const float* b, size_t n);
  // out[i] = <q, rows[ids[i]]> for i < count (gathered rows of length n with stride ld)
  void (*dot_gather)(const float* q, const float* base, size_t ld, const uint32_t* ids, size_t count, size_t n,
                     float* out);
};

const DistanceKernels& distance_kernels();

}  // namespace fastrec::ann
