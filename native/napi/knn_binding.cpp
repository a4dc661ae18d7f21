// Neighbourhood model exports:
//   knnNeighbours(x, xt, k, similarity, alpha, shrink, threads, onProgress, cancelFlag) -> Promise<{ indptr, indices, scores }>
//   knnQuery(xt, sqNorms, features, values, self, k, similarity, alpha, shrink) -> { indices, scores }
//   sparseTopK(m, sources, weights, seen, exclude, include, k) -> { indices, scores }
//   sparseTopKMany(m, sources, rows, seen, exclude, include, k, threads, onProgress, cancelFlag) -> Promise<{ indices, scores }>
// m and sources are CSR-shaped { rows, cols, indptr, indices, data } (rows of
// neighbour lists need not be sorted by column).
#include <chrono>
#include <limits>

#include "binding.hpp"
#include "knn/neighbours.hpp"
#include "knn/sparse_topk.hpp"

namespace fastrec::napi {
namespace {

template <typename T>
Array<T> maybe_typed(const Napi::Value& v, const char* name) {
  if (v.IsNull() || v.IsUndefined()) return {};
  return typed<T>(v, name);
}

knn::Similarity similarity_of(const std::string& s) {
  if (s == "cosine") return knn::Similarity::Cosine;
  if (s == "asymmetric") return knn::Similarity::Asymmetric;
  if (s == "dot") return knn::Similarity::Dot;
  throw Error(ErrorCode::InvalidArgument, "similarity: expected 'cosine', 'asymmetric' or 'dot' but received '" + s + "'");
}

knn::NeighbourOptions neighbour_options(const Napi::CallbackInfo& info, size_t at) {
  knn::NeighbourOptions o;
  o.k = static_cast<size_t>(integer(info[at], "k"));
  o.similarity = similarity_of(string(info[at + 1], "similarity"));
  o.alpha = number(info[at + 2], "alpha");
  o.shrink = number(info[at + 3], "shrink");
  return o;
}

knn::RowsView rows_view(const CsrView& c) { return {c.rows, c.cols, c.indptr, c.indices, c.data}; }

Napi::Object ids_scores(Napi::Env env, std::vector<int32_t>&& ids, std::vector<float>&& scores) {
  Napi::Object out = Napi::Object::New(env);
  out.Set("indices", to_js(env, std::move(ids)));
  out.Set("scores", to_js(env, std::move(scores)));
  return out;
}

// Progress posts at most every 50 ms (worker threads report per chunk).
struct Throttled {
  std::shared_ptr<Progress> progress;
  std::atomic<int64_t> last{0};
  explicit Throttled(std::shared_ptr<Progress> p) : progress(std::move(p)) {}
  void report(size_t done, size_t total) {
    if (!progress->active()) return;
    int64_t now = std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now().time_since_epoch()).count();
    int64_t prev = last.load();
    if (done < total && now - prev < 50) return;
    if (!last.compare_exchange_strong(prev, now) && done < total) return;
    progress->post([done](Napi::Env env) -> Napi::Value { return Napi::Number::New(env, static_cast<double>(done)); });
  }
};

void init_knn(Napi::Env env, Napi::Object exports) {
  export_fn(env, exports, "knnNeighbours", [](const Napi::CallbackInfo& info) -> Napi::Value {
    CsrView x = csr_arg(info[0], "x");
    CsrView xt = csr_arg(info[1], "xt");
    knn::NeighbourOptions o = neighbour_options(info, 2);
    o.threads = static_cast<size_t>(integer(info[6], "threads"));
    auto progress = std::make_shared<Throttled>(std::make_shared<Progress>(info.Env(), info[7]));
    auto cancel = cancel_arg(info[8]);
    auto out = std::make_shared<knn::NeighbourLists>();
    return PromiseWorker::start(
        info.Env(), {info[0], info[1], info[8]},
        [x, xt, o, out, progress, cancel] {
          size_t total = static_cast<size_t>(x.rows);
          *out = knn::top_neighbours(x, xt, o, cancel.get(), [&](size_t done) { progress->report(done, total); });
        },
        [out, progress](Napi::Env env) -> Napi::Value {
          Napi::Object r = Napi::Object::New(env);
          r.Set("indptr", to_js(env, std::move(out->indptr)));
          r.Set("indices", to_js(env, std::move(out->indices)));
          r.Set("scores", to_js(env, std::move(out->scores)));
          return r;
        },
        cancel);
  });

  export_fn(env, exports, "knnQuery", [](const Napi::CallbackInfo& info) -> Napi::Value {
    CsrView xt = csr_arg(info[0], "xt");
    auto sq = typed<double>(info[1], "sqNorms");
    if (static_cast<int64_t>(sq.length) != xt.cols) throw Error(ErrorCode::DimensionMismatch, "sqNorms: expected one value per row of x");
    auto features = typed<int32_t>(info[2], "features");
    auto values = typed<float>(info[3], "values");
    if (values.length != features.length) throw Error(ErrorCode::DimensionMismatch, "values: expected one per feature");
    int32_t self = static_cast<int32_t>(integer(info[4], "self"));
    knn::NeighbourOptions o = neighbour_options(info, 5);
    std::vector<double> norms(sq.data, sq.data + sq.length);
    std::vector<int32_t> ids(o.k);
    std::vector<float> scores(o.k);
    size_t c = knn::query_neighbours(xt, norms, features.data, values.data, features.length, self, o, ids.data(), scores.data());
    ids.resize(c);
    scores.resize(c);
    return ids_scores(info.Env(), std::move(ids), std::move(scores));
  });

  export_fn(env, exports, "sparseTopK", [](const Napi::CallbackInfo& info) -> Napi::Value {
    CsrView m = csr_arg(info[0], "m");
    auto sources = typed<int32_t>(info[1], "sources");
    auto weights = maybe_typed<float>(info[2], "weights");
    if (weights.data && weights.length != sources.length) throw Error(ErrorCode::DimensionMismatch, "weights: expected one per source");
    auto seen = maybe_typed<int32_t>(info[3], "seen");
    auto exclude = maybe_typed<int32_t>(info[4], "exclude");
    auto include = maybe_typed<int32_t>(info[5], "include");
    size_t k = std::min<size_t>(static_cast<size_t>(integer(info[6], "k")), static_cast<size_t>(m.cols));
    ItemFilter f{exclude.data, exclude.length, include.data, include.length};
    std::vector<int32_t> ids(k);
    std::vector<float> scores(k);
    size_t c = knn::sparse_topk_one(rows_view(m), sources.data, weights.data, sources.length, seen.data, seen.length, f, k,
                                    ids.data(), scores.data());
    ids.resize(c);
    scores.resize(c);
    return ids_scores(info.Env(), std::move(ids), std::move(scores));
  });

  export_fn(env, exports, "sparseTopKMany", [](const Napi::CallbackInfo& info) -> Napi::Value {
    CsrView m = csr_arg(info[0], "m");
    CsrView sources = csr_arg(info[1], "sources");
    auto rows = typed<int32_t>(info[2], "rows");
    CsrView seen;
    bool has_seen = !(info[3].IsNull() || info[3].IsUndefined());
    if (has_seen) seen = csr_arg(info[3], "seen");
    for (size_t r = 0; r < rows.length; ++r)
      if (rows.data[r] < 0 || rows.data[r] >= sources.rows || (has_seen && rows.data[r] >= seen.rows))
        throw Error(ErrorCode::InvalidArgument, "rows[" + std::to_string(r) + "]: out of range");
    if (sources.cols > m.rows) throw Error(ErrorCode::DimensionMismatch, "sources: more columns than m has rows");
    auto exclude = maybe_typed<int32_t>(info[4], "exclude");
    auto include = maybe_typed<int32_t>(info[5], "include");
    size_t k = static_cast<size_t>(integer(info[6], "k"));
    size_t threads = static_cast<size_t>(integer(info[7], "threads"));
    auto progress = std::make_shared<Throttled>(std::make_shared<Progress>(info.Env(), info[8]));
    auto cancel = cancel_arg(info[9]);
    auto ids = std::make_shared<std::vector<int32_t>>(rows.length * k);
    auto scores = std::make_shared<std::vector<float>>(rows.length * k);
    ItemFilter f{exclude.data, exclude.length, include.data, include.length};
    size_t n = rows.length;
    const int32_t* row_ids = rows.data;
    return PromiseWorker::start(
        info.Env(), {info[0], info[1], info[2], info[3], info[4], info[5], info[9]},
        [=] {
          knn::sparse_topk_many(rows_view(m), rows_view(sources), row_ids, n, has_seen ? &seen : nullptr, f, k, ids->data(),
                                scores->data(), threads, cancel.get(), [&](size_t done) { progress->report(done, n); });
        },
        [ids, scores, progress](Napi::Env env) -> Napi::Value { return ids_scores(env, std::move(*ids), std::move(*scores)); },
        cancel);
  });
}

FASTREC_REGISTER(init_knn);

}  // namespace
}  // namespace fastrec::napi
