// Run-time choice of the ALS kernels: the same level as simd::kernels().
#include "als/kernels.hpp"

#include <cstring>

#include "common/simd.hpp"

namespace fastrec {
#ifdef FASTREC_HAVE_ISA_SCALAR
namespace isa_scalar { extern const als::Kernels als_kernels_table; }
#endif
#ifdef FASTREC_HAVE_ISA_AVX2
namespace isa_avx2 { extern const als::Kernels als_kernels_table; }
#endif
#ifdef FASTREC_HAVE_ISA_AVX512
namespace isa_avx512 { extern const als::Kernels als_kernels_table; }
#endif
#ifdef FASTREC_HAVE_ISA_NEON
namespace isa_neon { extern const als::Kernels als_kernels_table; }
#endif
}  // namespace fastrec

namespace fastrec::als {
namespace {

const Kernels* choose() {
  const char* level = simd::kernels().name;
  const Kernels* tables[] = {
#ifdef FASTREC_HAVE_ISA_SCALAR
      &isa_scalar::als_kernels_table,
#endif
#ifdef FASTREC_HAVE_ISA_AVX2
      &isa_avx2::als_kernels_table,
#endif
#ifdef FASTREC_HAVE_ISA_AVX512
      &isa_avx512::als_kernels_table,
#endif
#ifdef FASTREC_HAVE_ISA_NEON
      &isa_neon::als_kernels_table,
#endif
  };
  for (const Kernels* t : tables)
    if (std::strcmp(t->name, level) == 0) return t;
  return tables[0];  // scalar is always compiled in
}

}  // namespace

const Kernels& kernels() {
  static const Kernels* chosen = choose();
  return *chosen;
}

}  // namespace fastrec::als
