// Compressed sparse rows: 64-bit row offsets, 32-bit column indices, float32
// values; column indices sorted and unique within each row. Empty rows and
// columns are allowed.
#pragma once
#include <cstddef>
#include <cstdint>
#include <vector>

namespace fastrec {

enum class Combine { Sum, Max, Last };

struct CsrMatrix {
  int64_t rows = 0;
  int64_t cols = 0;
  std::vector<int64_t> indptr;   // rows + 1 entries
  std::vector<int32_t> indices;  // nnz entries
  std::vector<float> data;       // nnz entries
  int64_t nnz() const { return indptr.empty() ? 0 : indptr.back(); }
};

// A read-only view of CSR arrays owned elsewhere (e.g. JavaScript typed
// arrays), which is what the engines consume.
struct CsrView {
  int64_t rows = 0;
  int64_t cols = 0;
  const int64_t* indptr = nullptr;
  const int32_t* indices = nullptr;
  const float* data = nullptr;
  int64_t nnz() const { return rows == 0 ? 0 : indptr[rows]; }
  static CsrView of(const CsrMatrix& m) {
    return {m.rows, m.cols, m.indptr.data(), m.indices.data(), m.data.data()};
  }
};

struct CooInput {
  const int32_t* rows;
  const int32_t* cols;
  const float* values;  // may be null: every value is 1
  size_t nnz;
  int64_t n_rows;  // < 0: infer as max(row) + 1
  int64_t n_cols;  // < 0: infer as max(col) + 1
  Combine combine = Combine::Sum;
  bool allow_negative = true;  // NaN and infinity are always rejected
};

// Build a CSR matrix from COO triples. Duplicates (row, col) are combined by
// `combine` (Last = the one that comes last in the input). Throws
// InvalidArgument naming the first bad entry.
CsrMatrix csr_from_coo(const CooInput& in, size_t threads);

// The transpose (e.g. the item x user view of a user x item matrix).
CsrMatrix csr_transpose(const CsrView& m, size_t threads);

// Number of stored entries per row / per column.
std::vector<int32_t> csr_row_counts(const CsrView& m);
std::vector<int32_t> csr_col_counts(const CsrView& m);

// Check the structural invariants (offsets monotone, indices in range, sorted
// and unique); throws InvalidArgument with the first violation.
void csr_validate(const CsrView& m, const char* what);

}  // namespace fastrec
