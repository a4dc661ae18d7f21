#include "ann/distance.hpp"

#include <cstring>

#include "common/simd.hpp"

namespace fastrec {
#ifdef FASTREC_HAVE_ISA_SCALAR
namespace isa_scalar { extern const ann::DistanceKernels ann_distance_table; }
#endif
#ifdef FASTREC_HAVE_ISA_AVX2
namespace isa_avx2 { extern const ann::DistanceKernels ann_distance_table; }
#endif
#ifdef FASTREC_HAVE_ISA_AVX512
namespace isa_avx512 { extern const ann::DistanceKernels ann_distance_table; }
#endif
#ifdef FASTREC_HAVE_ISA_NEON
namespace isa_neon { extern const ann::DistanceKernels ann_distance_table; }
#endif
}  // namespace fastrec

namespace fastrec::ann {
namespace {

// Follow the level simd::kernels() chose (it honours FASTREC_SIMD and the CPU).
const DistanceKernels* choose() {
  const char* level = simd::kernels().name;
#ifdef FASTREC_HAVE_ISA_AVX512
  if (std::strcmp(level, "avx512") == 0) return &isa_avx512::ann_distance_table;
#endif
#ifdef FASTREC_HAVE_ISA_AVX2
  if (std::strcmp(level, "avx2") == 0) return &isa_avx2::ann_distance_table;
#endif
#ifdef FASTREC_HAVE_ISA_NEON
  if (std::strcmp(level, "neon") == 0) return &isa_neon::ann_distance_table;
#endif
  (void)level;
  return &isa_scalar::ann_distance_table;
}

}  // namespace

const DistanceKernels& distance_kernels() {
  static const DistanceKernels* chosen = choose();
  return *chosen;
}

}  // namespace fastrec::ann
