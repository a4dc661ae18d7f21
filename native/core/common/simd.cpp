#include "common/simd.hpp"

#include <cstdlib>
#include <cstring>

namespace fastrec {
FASTREC_DECLARE_ISA_TABLE(simd::Kernels, kernels_table)
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

using Level = IsaTable<Kernels>;

std::vector<Level> compiled_levels() { return FASTREC_ISA_TABLES(Kernels, kernels_table); }

const Kernels* choose() {
  const char* forced = std::getenv("FASTREC_SIMD");
  const Kernels* best = nullptr;
  for (const Level& level : compiled_levels()) {
    if (!cpu_supports(level.level)) continue;
    best = level.table;
    // A forced level caps the choice; an unknown or unsupported name is ignored.
    if (forced && std::strcmp(forced, level.level) == 0) break;
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
    if (level == l.level) return cpu_supports(level) ? l.table : nullptr;
  return nullptr;
}

std::vector<std::string> available_levels() {
  std::vector<std::string> out;
  for (const Level& l : compiled_levels())
    if (cpu_supports(l.level)) out.push_back(l.level);
  return out;
}

}  // namespace fastrec::simd
