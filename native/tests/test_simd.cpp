// Every SIMD level available on this CPU must agree with the scalar kernels on
// odd lengths and unaligned pointers.
#include <cstdlib>
#include <random>

#include "common/simd.hpp"
#include "test.hpp"

using namespace fastrec;

namespace {

std::vector<float> random_vec(size_t n, uint32_t seed) {
  std::mt19937 rng(seed);
  std::uniform_real_distribution<float> u(-1.0f, 1.0f);
  std::vector<float> v(n);
  for (auto& x : v) x = u(rng);
  return v;
}

const simd::Kernels& scalar() { return *simd::kernels_for("scalar"); }

template <typename F>
void for_each_level(F f) {
  for (const std::string& level : simd::available_levels()) f(*simd::kernels_for(level));
}

const size_t kLengths[] = {0, 1, 3, 7, 8, 15, 16, 17, 31, 33, 63, 64, 65, 100, 257, 1000};

}  // namespace

TEST_CASE(levels_include_scalar) {
  auto levels = simd::available_levels();
  CHECK(!levels.empty());
  CHECK(levels.front() == "scalar");
  CHECK(simd::kernels().name != nullptr);
}

TEST_CASE(dot_and_l2_match_scalar) {
  for_each_level([](const simd::Kernels& k) {
    for (size_t n : kLengths) {
      auto a = random_vec(n + 1, 1), b = random_vec(n + 3, 2);
      // +1 / +3 offsets make the pointers unaligned.
      double tol = 1e-5 * (n + 1);
      CHECK_NEAR(k.dot(a.data() + 1, b.data() + 3, n), scalar().dot(a.data() + 1, b.data() + 3, n), tol);
      CHECK_NEAR(k.l2sq(a.data() + 1, b.data() + 3, n), scalar().l2sq(a.data() + 1, b.data() + 3, n), tol);
    }
  });
}

TEST_CASE(axpy_and_scale_add_match_scalar) {
  for_each_level([](const simd::Kernels& k) {
    for (size_t n : kLengths) {
      auto x = random_vec(n + 1, 3), y0 = random_vec(n + 2, 4);
      auto y1 = y0, y2 = y0;
      k.axpy(0.37f, x.data() + 1, y1.data() + 2, n);
      scalar().axpy(0.37f, x.data() + 1, y2.data() + 2, n);
      for (size_t i = 0; i < n + 2; ++i) CHECK_NEAR(y1[i], y2[i], 1e-6);
      y1 = y0, y2 = y0;
      k.scale_add(-1.5f, x.data() + 1, 0.25f, y1.data() + 2, n);
      scalar().scale_add(-1.5f, x.data() + 1, 0.25f, y2.data() + 2, n);
      for (size_t i = 0; i < n + 2; ++i) CHECK_NEAR(y1[i], y2[i], 1e-6);
    }
  });
}

TEST_CASE(gemv_matches_scalar) {
  for_each_level([](const simd::Kernels& k) {
    for (size_t rows : {1u, 3u, 4u, 9u}) {
      for (size_t cols : {1u, 7u, 16u, 33u, 64u}) {
        size_t lda = cols + 3;
        auto A = random_vec(rows * lda + 1, 5), x = random_vec(cols + 1, 6);
        std::vector<float> y1(rows), y2(rows);
        k.gemv(A.data() + 1, rows, cols, lda, x.data() + 1, y1.data());
        scalar().gemv(A.data() + 1, rows, cols, lda, x.data() + 1, y2.data());
        for (size_t r = 0; r < rows; ++r) CHECK_NEAR(y1[r], y2[r], 1e-5 * cols);
      }
    }
  });
}

TEST_CASE(gemm_nt_matches_naive) {
  for_each_level([](const simd::Kernels& k) {
    for (size_t m : {1u, 5u, 8u}) {
      for (size_t n : {1u, 13u, 40u, 300u}) {
        for (size_t kk : {1u, 17u, 64u}) {
          size_t lda = kk + 1, ldb = kk + 2, ldc = n + 5;
          auto A = random_vec(m * lda + 1, 7), B = random_vec(n * ldb + 1, 8);
          std::vector<float> C(m * ldc, 99.0f);
          k.gemm_nt(A.data() + 1, m, lda, B.data() + 1, n, ldb, kk, C.data(), ldc);
          for (size_t i = 0; i < m; ++i)
            for (size_t j = 0; j < n; ++j) {
              double ref = 0;
              for (size_t p = 0; p < kk; ++p) ref += double(A[1 + i * lda + p]) * B[1 + j * ldb + p];
              CHECK_NEAR(C[i * ldc + j], ref, 1e-5 * kk);
            }
          // Padding columns of C are left untouched.
          for (size_t i = 0; i < m; ++i)
            for (size_t j = n; j < ldc; ++j) CHECK(C[i * ldc + j] == 99.0f);
        }
      }
    }
  });
}

TEST_CASE(select_table_follows_the_level) {
  // An engine's per-ISA table follows the shared level; a level it lacks falls back to the lowest.
  const int scalar_t = 1, avx2_t = 2;
  std::initializer_list<simd::IsaTable<int>> tables = {{"scalar", &scalar_t}, {"avx2", &avx2_t}};
  CHECK(*simd::select_table<int>(tables, "avx2") == 2);
  CHECK(*simd::select_table<int>(tables, "scalar") == 1);
  CHECK(*simd::select_table<int>(tables, "avx512") == 1);
  // The shared kernels' own table is the one named by their level.
  CHECK(std::string(simd::kernels().name) == simd::available_levels().back() ||
        std::getenv("FASTREC_SIMD") != nullptr);
}
