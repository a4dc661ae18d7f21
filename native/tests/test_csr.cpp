// CSR construction against a straightforward map-based reference.
#include <algorithm>
#include <map>
#include <random>

#include "common/error.hpp"
#include "sparse/csr.hpp"
#include "test.hpp"

using namespace fastrec;

namespace {

void check_against_reference(size_t nnz, int32_t n_rows, int32_t n_cols, Combine combine, size_t threads, uint32_t seed) {
  std::mt19937 rng(seed);
  std::vector<int32_t> r(nnz), c(nnz);
  std::vector<float> v(nnz);
  std::map<std::pair<int32_t, int32_t>, float> ref;
  for (size_t i = 0; i < nnz; ++i) {
    // Skewed rows leave some rows empty; few columns force duplicates.
    r[i] = static_cast<int32_t>((rng() % n_rows) * (rng() % 2));
    c[i] = static_cast<int32_t>(rng() % n_cols);
    v[i] = static_cast<float>(rng() % 100) / 10.0f;
    auto key = std::make_pair(r[i], c[i]);
    auto it = ref.find(key);
    if (it == ref.end()) ref[key] = v[i];
    else if (combine == Combine::Sum) it->second += v[i];
    else if (combine == Combine::Max) it->second = std::max(it->second, v[i]);
    else it->second = v[i];
  }
  CooInput in{r.data(), c.data(), v.data(), nnz, n_rows, n_cols, combine, true};
  CsrMatrix m = csr_from_coo(in, threads);
  csr_validate(CsrView::of(m), "m");
  CHECK(m.rows == n_rows && m.cols == n_cols);
  CHECK(m.nnz() == static_cast<int64_t>(ref.size()));
  auto it = ref.begin();
  for (int64_t row = 0; row < m.rows; ++row)
    for (int64_t p = m.indptr[row]; p < m.indptr[row + 1]; ++p, ++it) {
      CHECK(it->first.first == row && it->first.second == m.indices[p]);
      CHECK_NEAR(m.data[p], it->second, 1e-4);
    }
  // Transposing twice gives the matrix back.
  CsrMatrix t = csr_transpose(CsrView::of(m), threads);
  csr_validate(CsrView::of(t), "t");
  CsrMatrix tt = csr_transpose(CsrView::of(t), threads);
  CHECK(tt.indptr == m.indptr && tt.indices == m.indices && tt.data == m.data);
  auto col_counts = csr_col_counts(CsrView::of(m));
  auto t_rows = csr_row_counts(CsrView::of(t));
  CHECK(col_counts == t_rows);
}

}  // namespace

TEST_CASE(coo_to_csr_sum) { check_against_reference(200000, 1000, 50, Combine::Sum, 2, 1); }
TEST_CASE(coo_to_csr_max) { check_against_reference(50000, 300, 40, Combine::Max, 2, 2); }
TEST_CASE(coo_to_csr_last) { check_against_reference(50000, 300, 40, Combine::Last, 1, 3); }
TEST_CASE(coo_to_csr_empty) { check_against_reference(0, 5, 5, Combine::Sum, 2, 4); }

TEST_CASE(coo_extreme_ids) {
  // The largest column index a 32-bit index can hold, with an inferred shape.
  std::vector<int32_t> r = {0, 1, 0}, c = {2147483646, 0, 2147483646};
  std::vector<float> v = {1, 2, 3};
  CooInput in{r.data(), c.data(), v.data(), 3, -1, -1, Combine::Sum, true};
  CsrMatrix m = csr_from_coo(in, 2);
  CHECK(m.rows == 2 && m.cols == 2147483647LL);
  CHECK(m.nnz() == 2);
  CHECK(m.indices[0] == 2147483646 && m.data[0] == 4.0f);
  CHECK(m.indices[1] == 0 && m.data[1] == 2.0f);
}

TEST_CASE(coo_rejects_bad_input) {
  std::vector<int32_t> r = {0, -1}, c = {0, 0};
  std::vector<float> v = {1, 1};
  CooInput in{r.data(), c.data(), v.data(), 2, -1, -1, Combine::Sum, true};
  CHECK_THROWS(csr_from_coo(in, 1));
  r[1] = 5;
  in.n_rows = 5;
  CHECK_THROWS(csr_from_coo(in, 1));
  in.n_rows = 6;
  v[1] = __builtin_nanf("");
  CHECK_THROWS(csr_from_coo(in, 1));
  v[1] = -1;
  in.allow_negative = false;
  try {
    csr_from_coo(in, 1);
    CHECK(false);
  } catch (const Error& e) {
    CHECK(e.code() == ErrorCode::InvalidArgument);
    CHECK(std::string(e.what()).find("values[1]") != std::string::npos);
  }
}

TEST_CASE(transpose_parallel_blocks_match_serial) {
  // Enough entries for several row blocks; rows of very uneven length (one
  // huge row, many empty ones) and empty columns exercise the block split.
  std::mt19937 rng(7);
  const int32_t n_rows = 5000, n_cols = 3000;
  std::vector<int32_t> r, c;
  std::vector<float> v;
  for (int i = 0; i < 400000; ++i) {
    int32_t row = (i % 3 == 0) ? 17 : static_cast<int32_t>(rng() % n_rows) / 4 * 4;  // 3 rows in 4 stay empty
    r.push_back(row);
    c.push_back(static_cast<int32_t>(rng() % (n_cols - 10)));  // the last 10 columns stay empty
    v.push_back(static_cast<float>(i % 1000));
  }
  CooInput in{r.data(), c.data(), v.data(), r.size(), n_rows, n_cols, Combine::Last, true};
  CsrMatrix m = csr_from_coo(in, 2);
  CsrMatrix serial = csr_transpose(CsrView::of(m), 1);
  csr_validate(CsrView::of(serial), "serial");
  for (size_t threads : {2, 3, 8}) {
    CsrMatrix t = csr_transpose(CsrView::of(m), threads);
    CHECK(t.rows == n_cols && t.cols == n_rows);
    CHECK(t.indptr == serial.indptr && t.indices == serial.indices && t.data == serial.data);
  }
  // Straightforward check of the serial result: every (row, col, value) appears mirrored.
  for (int64_t row = 0; row < m.rows; ++row)
    for (int64_t p = m.indptr[row]; p < m.indptr[row + 1]; ++p) {
      int32_t col = m.indices[p];
      const int32_t* b = serial.indices.data() + serial.indptr[col];
      const int32_t* e = serial.indices.data() + serial.indptr[col + 1];
      const int32_t* hit = std::lower_bound(b, e, static_cast<int32_t>(row));
      CHECK(hit != e && *hit == row);
      CHECK(serial.data[hit - serial.indices.data()] == m.data[p]);
    }
  CHECK(serial.indptr[n_cols] - serial.indptr[n_cols - 10] == 0);
}
