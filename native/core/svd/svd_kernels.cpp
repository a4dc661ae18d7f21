#include "svd/svd_kernels.hpp"

#include "common/simd.hpp"

namespace fastrec {
FASTREC_DECLARE_ISA_TABLE(svd::SvdKernels, svd_kernels_table)
}  // namespace fastrec

namespace fastrec::svd {

// Follow the level the shared kernels chose (FASTREC_SIMD applies to both).
const SvdKernels& svd_kernels() {
  static const SvdKernels* chosen = FASTREC_SELECT_ISA_TABLE(SvdKernels, svd_kernels_table);
  return *chosen;
}

}  // namespace fastrec::svd
