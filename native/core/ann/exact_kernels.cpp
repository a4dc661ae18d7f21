#include "ann/exact_kernels.hpp"

#include "common/simd.hpp"

namespace fastrec {
FASTREC_DECLARE_ISA_TABLE(ann::ExactKernels, ann_exact_table)
}  // namespace fastrec

namespace fastrec::ann {

const ExactKernels& exact_kernels() {
  static const ExactKernels* t = FASTREC_SELECT_ISA_TABLE(ExactKernels, ann_exact_table);
  return *t;
}

const ExactKernels* exact_kernels_for(const char* level) {
  if (!simd::kernels_for(level)) return nullptr;  // not compiled in or not supported by this CPU
  for (const auto& t : FASTREC_ISA_TABLES(ExactKernels, ann_exact_table))
    if (std::string(t.level) == level) return t.table;
  return nullptr;
}

}  // namespace fastrec::ann
