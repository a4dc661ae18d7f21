// Sparse matrix exports: COO -> CSR, transpose, counts.
// A CSR matrix crosses the boundary as { rows, cols, indptr: BigInt64Array,
// indices: Int32Array, data: Float32Array }.
#include "binding.hpp"
#include "sparse/csr.hpp"

namespace fastrec::napi {
namespace {

Combine combine_of(const std::string& s) {
  if (s == "sum") return Combine::Sum;
  if (s == "max") return Combine::Max;
  if (s == "last") return Combine::Last;
  throw Error(ErrorCode::InvalidArgument, "combine: expected 'sum', 'max' or 'last' but received '" + s + "'");
}

void init_sparse(Napi::Env env, Napi::Object exports) {
  // csrFromCoo(rows: Int32Array, cols: Int32Array, values: Float32Array|null,
  //            nRows, nCols, combine, allowNegative, threads) -> Promise<Csr>
  export_fn(env, exports, "csrFromCoo", [](const Napi::CallbackInfo& info) -> Napi::Value {
    auto rows = typed<int32_t>(info[0], "rows");
    auto cols = typed<int32_t>(info[1], "cols");
    Array<float> values;
    if (!info[2].IsNull() && !info[2].IsUndefined()) values = typed<float>(info[2], "values");
    if (cols.length != rows.length || (values.data && values.length != rows.length))
      throw Error(ErrorCode::DimensionMismatch, "rows, cols and values must have the same length");
    auto in = std::make_shared<CooInput>();
    in->rows = rows.data;
    in->cols = cols.data;
    in->values = values.data;
    in->nnz = rows.length;
    in->n_rows = integer(info[3], "nRows");
    in->n_cols = integer(info[4], "nCols");
    in->combine = combine_of(string(info[5], "combine"));
    in->allow_negative = boolean(info[6], "allowNegative");
    size_t threads = static_cast<size_t>(integer(info[7], "threads"));
    auto out = std::make_shared<CsrMatrix>();
    return PromiseWorker::start(
        info.Env(), {info[0], info[1], info[2]}, [in, out, threads] { *out = csr_from_coo(*in, threads); },
        [out](Napi::Env env) -> Napi::Value { return csr_to_js(env, std::move(*out)); });
  });

  // csrTranspose(csr, threads) -> Promise<Csr>
  export_fn(env, exports, "csrTranspose", [](const Napi::CallbackInfo& info) -> Napi::Value {
    CsrView m = csr_arg(info[0], "matrix");
    size_t threads = static_cast<size_t>(integer(info[1], "threads"));
    auto out = std::make_shared<CsrMatrix>();
    return PromiseWorker::start(
        info.Env(), {info[0]}, [m, out, threads] { *out = csr_transpose(m, threads); },
        [out](Napi::Env env) -> Napi::Value { return csr_to_js(env, std::move(*out)); });
  });
}

FASTREC_REGISTER(init_sparse);

}  // namespace
}  // namespace fastrec::napi
