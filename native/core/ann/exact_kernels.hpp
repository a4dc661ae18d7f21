// Hot loops of the exact (flat) index, compiled once per instruction set
// (exact_kernels.isa.cpp) and chosen at run time like simd::kernels().
//
// Items live in PANELS of kPanel items, transposed: panel[p * kPanel + j] is
// coordinate p of item j. One step over p then loads kPanel consecutive floats
// (whole vectors) and multiplies them by one broadcast query coordinate, so a
// register tile of MR queries x kPanel items needs no horizontal sums and no
// re-packing: the layout is made once, when items are added.
//
// Every score is  bias[j] + sum_p q[p] * x_j[p]  accumulated in the order
// p = 0, 1, ..., dim-1 starting from bias[j] (one fused multiply-add per step on
// vector levels). All entry points use that same order, so one query scored
// alone, in a batch or in any block order gets bit-identical scores: pruned
// and brute-force searches return the same top-k.
// bias is -|x|^2/2 for l2 (ranking by <q,x> - |x|^2/2 = ranking by -|q-x|^2/2),
// 0 for ip/cosine, and NaN in padding slots (NaN never passes a threshold).
#pragma once
#include <cstddef>
#include <cstdint>

namespace fastrec::ann {

constexpr size_t kPanel = 16;  // items per panel (2 AVX2 / 1 AVX-512 / 4 NEON vectors)

// One score that passed its query's threshold: query index within the call,
// item slot relative to the first panel of the call.
struct ExactHit {
  float score;
  uint32_t query;
  uint32_t slot;
};

struct ExactKernels {
  const char* name;
  // Queries (row pointers, dim floats each) x items of `npanels` panels. Appends
  // every score >= thr[query] to hits (capacity nq * npanels * kPanel); returns the count.
  size_t (*scan)(const float* const* queries, size_t nq, const float* thr, const float* panels, const float* bias,
                 size_t npanels, size_t dim, ExactHit* hits);
  // One query: the same, with several panels in flight (independent
  // accumulator chains) for a memory-bound stream.
  size_t (*scan_one)(const float* query, float thr, const float* panels, const float* bias, size_t npanels,
                     size_t dim, ExactHit* hits);
  // Every score: out[r * ldo + slot] for r < nq, slot < npanels * kPanel.
  void (*dense)(const float* const* queries, size_t nq, const float* panels, const float* bias, size_t npanels,
                size_t dim, float* out, size_t ldo);
  // sum of x[0..n) with 8 independent vector accumulators: the memory-bandwidth
  // probe a one-query scan is compared with (bench/exact-topk.mjs).
  float (*stream_sum)(const float* x, size_t n);
  // 12 independent multiply-add chains in registers, `steps` times: the
  // level's arithmetic peak (flops = 24 * W * steps), the kernels' yardstick.
  float (*fma_peak)(size_t steps);
};

// The kernels of the level in use (follows simd::kernels(), so FASTREC_SIMD applies).
const ExactKernels& exact_kernels();
// The kernels of one named level, or nullptr if not compiled in or not supported.
const ExactKernels* exact_kernels_for(const char* level);

}  // namespace fastrec::ann
