// Run-time dispatched SIMD kernels.
//
// The same source (kernels.isa.cpp) is compiled once per instruction set
// (scalar, AVX2+FMA, AVX-512 on x86-64; NEON on arm64). At first use the best
// level the CPU supports is chosen; FASTREC_SIMD=scalar|avx2|avx512|neon forces
// a lower one (a higher one than the CPU has is ignored).
#pragma once
#include <cstddef>
#include <cstring>
#include <initializer_list>
#include <string>
#include <utility>
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

// ---- per-ISA tables of an engine's own kernels -------------------------------
// An engine writes its hot loops in <engine>/<name>.isa.cpp (compiled once per
// level, like kernels.isa.cpp) ending in `extern const T table; const T table = {...};`,
// then, in one plain .cpp inside namespace fastrec:
//   FASTREC_DECLARE_ISA_TABLE(svd::SvdKernels, svd_kernels_table)
//   ... static const auto* t = FASTREC_SELECT_ISA_TABLE(svd::SvdKernels, svd_kernels_table);
// The selected table follows the level of the shared kernels (so FASTREC_SIMD applies).
#ifdef FASTREC_HAVE_ISA_SCALAR
#define FASTREC_IF_ISA_SCALAR(...) __VA_ARGS__
#else
#define FASTREC_IF_ISA_SCALAR(...)
#endif
#ifdef FASTREC_HAVE_ISA_AVX2
#define FASTREC_IF_ISA_AVX2(...) __VA_ARGS__
#else
#define FASTREC_IF_ISA_AVX2(...)
#endif
#ifdef FASTREC_HAVE_ISA_AVX512
#define FASTREC_IF_ISA_AVX512(...) __VA_ARGS__
#else
#define FASTREC_IF_ISA_AVX512(...)
#endif
#ifdef FASTREC_HAVE_ISA_NEON
#define FASTREC_IF_ISA_NEON(...) __VA_ARGS__
#else
#define FASTREC_IF_ISA_NEON(...)
#endif

#define FASTREC_DECLARE_ISA_TABLE(Type, table)                                   \
  FASTREC_IF_ISA_SCALAR(namespace isa_scalar { extern const Type table; })      \
  FASTREC_IF_ISA_AVX2(namespace isa_avx2 { extern const Type table; })          \
  FASTREC_IF_ISA_AVX512(namespace isa_avx512 { extern const Type table; })      \
  FASTREC_IF_ISA_NEON(namespace isa_neon { extern const Type table; })

// Every compiled level's table, lowest first, as {name, pointer} pairs.
#define FASTREC_ISA_TABLES(Type, table)                                           \
  std::initializer_list<::fastrec::simd::IsaTable<Type>> {                      \
    FASTREC_IF_ISA_SCALAR({"scalar", &::fastrec::isa_scalar::table}, )          \
    FASTREC_IF_ISA_NEON({"neon", &::fastrec::isa_neon::table}, )                \
    FASTREC_IF_ISA_AVX2({"avx2", &::fastrec::isa_avx2::table}, )                \
    FASTREC_IF_ISA_AVX512({"avx512", &::fastrec::isa_avx512::table}, )          \
  }

#define FASTREC_SELECT_ISA_TABLE(Type, table) \
  ::fastrec::simd::select_table<Type>(FASTREC_ISA_TABLES(Type, table), ::fastrec::simd::kernels().name)

namespace fastrec::simd {

template <typename T>
struct IsaTable {
  const char* level;
  const T* table;
};

// The table of `level`, or the lowest one when that level was not compiled in.
template <typename T>
const T* select_table(std::initializer_list<IsaTable<T>> tables, const char* level) {
  const T* chosen = tables.size() ? tables.begin()->table : nullptr;
  for (const IsaTable<T>& t : tables)
    if (std::strcmp(t.level, level) == 0) chosen = t.table;
  return chosen;
}

}  // namespace fastrec::simd
