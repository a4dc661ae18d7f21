// Per-ISA distance kernels for the ANN hot loops (chosen at run time with the
// same level as simd::kernels()). Kept separate from the shared kernels so the
// graph search pays one indirect call per distance, not two.
#pragma once
#include <cstddef>
#include <cstdint>
#include <string>

namespace fastrec::ann {

// int8 storage: a stored row is [float scale][int8 x[n]] and stands for the
// vector scale * x. Symmetric per-vector quantization: scale = max_i |v_i| / 127,
// x_i = round(v_i / scale), so each coordinate is off by at most scale / 2 and
// the vector's sign pattern and direction are kept; one scale per vector serves
// every metric (l2 and the transform measure |q - scale x|, ip and cosine
// scale <q, x>). Queries stay float32.
constexpr size_t kInt8RowHeader = sizeof(float);
inline size_t int8_row_bytes(size_t n) { return kInt8RowHeader + n; }
// Quantize v (n floats) into `row` (int8_row_bytes(n) bytes, any alignment).
// Non-finite values are treated as 0 (the index refuses them before this).
void quantize_int8(const float* v, size_t n, void* row);

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
  // int8 storage (rows as quantize_int8 writes them): |a - scale x|^2 and
  // 1 - scale <a, x>, the batches over rows at base + ids[i] * stride, and a row
  // widened back to floats (scale * x). AVX2 widens 8 int8 to 8 floats per step.
  float (*l2_i8)(const float* a, const void* row, size_t n);
  float (*ip_i8)(const float* a, const void* row, size_t n);
  Batch l2_i8_batch, ip_i8_batch;
  void (*widen_i8)(const void* row, float* out, size_t n);
};

const DistanceKernels& distance_kernels();
// The kernels of one SIMD level ("scalar", "avx2", ...; see simd::available_levels()),
// or nullptr when that level is not compiled in or not supported by this CPU (tests).
const DistanceKernels* distance_kernels_for(const std::string& level);

// IEEE 754 binary16 <-> binary32 (round to nearest even), portable bit arithmetic.
uint16_t float_to_half(float f);
float half_to_float(uint16_t h);

}  // namespace fastrec::ann
