// Run-time choice of the ALS kernels: the same level as simd::kernels().
#include "als/kernels.hpp"

#include "common/simd.hpp"

namespace fastrec {
FASTREC_DECLARE_ISA_TABLE(als::Kernels, als_kernels_table)
}  // namespace fastrec

namespace fastrec::als {

const Kernels& kernels() {
  static const Kernels* chosen = FASTREC_SELECT_ISA_TABLE(Kernels, als_kernels_table);
  return *chosen;
}

}  // namespace fastrec::als
