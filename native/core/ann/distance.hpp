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
  // the same against a vector stored as IEEE half floats (float16 storage)
  float (*l2_f16)(const float* a, const uint16_t* b, size_t n);
  float (*ip_f16)(const float* a, const uint16_t* b, size_t n);
  void (*dot_gather)(const float* q, const float* base, size_t ld, const uint32_t* ids, size_t count, size_t n,
                     float* out);
  // Batches for the graph walk: out[i] = distance from q to the row at
  // base + ids[i] * stride (bytes), n elements, for i < count. One indirect
  // call per visited node instead of one per neighbour, and two rows in flight
  // at a time (their loads overlap).
  using Batch = void (*)(const float* q, const char* base, size_t stride, const uint32_t* ids, size_t count, size_t n,
                         float* out);
  Batch l2_batch, ip_batch, l2_f16_batch, ip_f16_batch;
  // out[i] = h[i] widened from half floats (F16C where available): building a
  // float16 index widens every vector whose neighbours are being chosen.
  void (*widen_f16)(const uint16_t* h, float* out, size_t n);
};

const DistanceKernels& distance_kernels();

// IEEE 754 binary16 <-> binary32 (round to nearest even), portable bit arithmetic.
uint16_t float_to_half(float f);
float half_to_float(uint16_t h);

}  // namespace fastrec::ann
