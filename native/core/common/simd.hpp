// Run-time dispatched SIMD kernels.
//
// The same source (kernels.isa.cpp) is compiled once per instruction set
// (scalar, AVX2+FMA, AVX-512 on x86-64; NEON on arm64). At first use the best
// level the CPU supports is chosen; FASTREC_SIMD=scalar|avx2|avx512|neon forces
// a lower one (a higher one than the CPU has is ignored).
#pragma once
#include <cstddef>
#include <string>
#include <vector>

namespace fastrec::simd {

struct Kernels {
  const char* name;
  // sum_i a[i] * b[i]
  float (*dot)(const float* a, const float* b, size_t n);
  // y += alpha * x
  void (*axpy)(float alpha, const float* x, float* y, size_t n);
  // y = alpha * x + beta * y
  void (*scale_add)(float alpha, const float* x, float beta, float* y, size_t n);
  // sum_i (a[i] - b[i])^2
  float (*l2sq)(const float* a, const float* b, size_t n);
  // y[r] = sum_c A[r * lda + c] * x[c] for r < rows  (row-major A)
  void (*gemv)(const float* A, size_t rows, size_t cols, size_t lda, const float* x, float* y);
  // C[i * ldc + j] = sum_p A[i * lda + p] * B[j * ldb + p]  (C = A Bᵀ; both row-major,
  // the shape of scoring users against items). Blocked and packed for the cache.
  void (*gemm_nt)(const float* A, size_t m, size_t lda, const float* B, size_t n, size_t ldb,
                  size_t k, float* C, size_t ldc);
};

// The kernels in use (chosen once, thread-safe).
const Kernels& kernels();
// The kernels of one named level, or nullptr if not compiled in or not supported by this CPU.
const Kernels* kernels_for(const std::string& level);
// Levels compiled in and supported by this CPU, lowest first.
std::vector<std::string> available_levels();

}  // namespace fastrec::simd
