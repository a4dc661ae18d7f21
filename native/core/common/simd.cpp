#include "common/simd.hpp"

#include <cstdlib>
#include <cstring>

namespace fastrec {
#ifdef FASTREC_HAVE_ISA_SCALAR
namespace isa_scalar { extern const simd::Kernels kernels_table; }
#endif
#ifdef FASTREC_HAVE_ISA_AVX2
namespace isa_avx2 { extern const simd::Kernels kernels_table; }
#endif
#ifdef FASTREC_HAVE_ISA_AVX512
namespace isa_avx512 { extern const simd::Kernels kernels_table; }
#endif
#ifdef FASTREC_HAVE_ISA_NEON
namespace isa_neon { extern const simd::Kernels kernels_table; }
#endif
}  // namespace fastrec

namespace fastrec::simd {
namespace {

bool cpu_supports(const std::string& level) {
  if (level == "scalar") return true;
#if defined(__x86_64__) || defined(_M_X64)
  __builtin_cpu_init();
  if (level == "avx2") return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
  if (level == "avx512")
    return __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
           __builtin_cpu_supports("avx512dq") && __builtin_cpu_supports("avx512vl") &&
           __builtin_cpu_supports("fma");
#endif
#if defined(__aarch64__)
  if (level == "neon") return true;  // Advanced SIMD is part of the AArch64 baseline.
#endif
  return false;
}

struct Level {
  const char* name;
  const Kernels* table;
};

std::vector<Level> compiled_levels() {
  std::vector<Level> levels;  // lowest first
#ifdef FASTREC_HAVE_ISA_SCALAR
  levels.push_back({"scalar", &isa_scalar::kernels_table});
#endif
#ifdef FASTREC_HAVE_ISA_NEON
  levels.push_back({"neon", &isa_neon::kernels_table});
#endif
#ifdef FASTREC_HAVE_ISA_AVX2
  levels.push_back({"avx2", &isa_avx2::kernels_table});
#endif
#ifdef FASTREC_HAVE_ISA_AVX512
  levels.push_back({"avx512", &isa_avx512::kernels_table});
#endif
  return levels;
}

const Kernels* choose() {
  const char* forced = std::getenv("FASTREC_SIMD");
  const Kernels* best = nullptr;
  for (const Level& level : compiled_levels()) {
    if (!cpu_supports(level.name)) continue;
    best = level.table;
    // A forced level caps the choice; an unknown or unsupported name is ignored.
    if (forced && std::strcmp(forced, level.name) == 0) break;
  }
  return best;
}

}  // namespace

const Kernels& kernels() {
  static const Kernels* chosen = choose();
  return *chosen;
}

const Kernels* kernels_for(const std::string& level) {
  for (const Level& l : compiled_levels())
    if (level == l.name) return cpu_supports(level) ? l.table : nullptr;
  return nullptr;
}

std::vector<std::string> available_levels() {
  std::vector<std::string> out;
  for (const Level& l : compiled_levels())
    if (cpu_supports(l.name)) out.push_back(l.name);
  return out;
}

}  // namespace fastrec::simd
