#include "svd/svd_kernels.hpp"

#include <cstring>

#include "common/simd.hpp"

namespace fastrec {
#ifdef FASTREC_HAVE_ISA_SCALAR
namespace isa_scalar { extern const svd::SvdKernels svd_kernels_table; }
#endif
#ifdef FASTREC_HAVE_ISA_AVX2
namespace isa_avx2 { extern const svd::SvdKernels svd_kernels_table; }
#endif
#ifdef FASTREC_HAVE_ISA_AVX512
namespace isa_avx512 { extern const svd::SvdKernels svd_kernels_table; }
#endif
#ifdef FASTREC_HAVE_ISA_NEON
namespace isa_neon { extern const svd::SvdKernels svd_kernels_table; }
#endif
}  // namespace fastrec

namespace fastrec::svd {
namespace {
// Follow the level the shared kernels chose (FASTREC_SIMD applies to both).
const SvdKernels* choose() {
  const char* level = simd::kernels().name;
  const SvdKernels* best = nullptr;
#ifdef FASTREC_HAVE_ISA_SCALAR
  best = &isa_scalar::svd_kernels_table;
#endif
#ifdef FASTREC_HAVE_ISA_NEON
  if (std::strcmp(level, "neon") == 0) best = &isa_neon::svd_kernels_table;
#endif
#ifdef FASTREC_HAVE_ISA_AVX2
  if (std::strcmp(level, "avx2") == 0) best = &isa_avx2::svd_kernels_table;
#endif
#ifdef FASTREC_HAVE_ISA_AVX512
  if (std::strcmp(level, "avx512") == 0) best = &isa_avx512::svd_kernels_table;
#endif
  return best;
}
}  // namespace

const SvdKernels& svd_kernels() {
  static const SvdKernels* chosen = choose();
  return *chosen;
}

}  // namespace fastrec::svd
