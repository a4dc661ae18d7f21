// ANN exports: an HNSW graph (the flat exact index: exact_binding.cpp), held by a JS
// External (a shared_ptr, so async work keeps the index alive even if the JS
// object is collected meanwhile). lib/ann.ts validates arguments and owns the API.
//
// Labels cross as Int32Array (IdMap indices, >= 0); results pad with -1 / +Infinity.
#include <time.h>

#include <cstring>
#include <memory>

#include "ann/hnsw.hpp"
#include "ann/rescored_topk.hpp"
#include "binding.hpp"

namespace fastrec::napi {
namespace {

using ann::Hnsw;

constexpr const char* kIndexHandle = "index: expected a native index handle";

Napi::Value wrap_handle(Napi::Env env, std::shared_ptr<Hnsw> p) {
  return make_handle(env, new std::shared_ptr<Hnsw>(std::move(p)), HandleKind::Hnsw);
}
Napi::Value wrap_handle(Napi::Env env, std::shared_ptr<NormOrder> p) {
  return make_handle(env, new std::shared_ptr<NormOrder>(std::move(p)), HandleKind::NormOrder);
}

// The index at `v`, as the handle holds it: `auto h = index_arg(..)` shares it
// (work on native threads keeps it alive); `const auto&` takes no atomic
// reference count, for the per-query fast path.
const std::shared_ptr<Hnsw>& index_arg(const Napi::Value& v) {
  return handle_arg<std::shared_ptr<Hnsw>>(v, HandleKind::Hnsw, kIndexHandle);
}

Array<int32_t> optional_ids(const Napi::Value& v, const char* name) {
  if (v.IsNull() || v.IsUndefined()) return {};
  return typed<int32_t>(v, name);
}

Napi::Object batch_results(Napi::Env env, std::vector<uint32_t>&& labels, std::vector<float>&& distances) {
  std::vector<int32_t> l(labels.size());
  for (size_t i = 0; i < labels.size(); ++i) l[i] = labels[i] == ann::kNoSlot ? -1 : int32_t(labels[i]);
  Napi::Object o = Napi::Object::New(env);
  o.Set("labels", to_js(env, std::move(l)));
  o.Set("distances", to_js(env, std::move(distances)));
  return o;
}

// The promise gets a cancel() method that sets the token (lib/ann.ts calls it
// when the caller's AbortSignal fires; the work stops at its next check).
Napi::Value cancellable(Napi::Env env, Napi::Promise promise, std::shared_ptr<CancelToken> cancel) {
  promise.Set("cancel", Napi::Function::New(env, [cancel](const Napi::CallbackInfo& info) -> Napi::Value {
                cancel->cancel();
                return info.Env().Undefined();
              }));
  return promise;
}

Napi::Value loaded(Napi::Env env, Napi::Value handle, const std::string& meta) {
  Napi::Object o = Napi::Object::New(env);
  o.Set("handle", handle);
  o.Set("meta", to_js(env, std::vector<uint8_t>(meta.begin(), meta.end())));
  return o;
}

void check_dim(size_t length, size_t dim, const char* name) {
  if (dim == 0 || length % dim != 0)
    throw Error(ErrorCode::DimensionMismatch, std::string(name) + ": length " + std::to_string(length) +
                                                  " is not a multiple of the dimension " + std::to_string(dim));
}

void init_ann(Napi::Env env, Napi::Object exports) {
  // hnswCreate(dim, metric, M, efConstruction, seed, mipsTransform, maxNorm, capacity, storage) -> handle
  export_fn(env, exports, "hnswCreate", [](const Napi::CallbackInfo& info) -> Napi::Value {
    ann::HnswParams p;
    p.dim = size_t(integer(info[0], "dim"));
    p.metric = ann::metric_of(string(info[1], "metric"));
    p.M = size_t(integer(info[2], "M"));
    p.ef_construction = size_t(integer(info[3], "efConstruction"));
    p.seed = uint64_t(integer(info[4], "seed"));
    p.mips_transform = boolean(info[5], "mipsTransform");
    p.max_norm = float(number(info[6], "maxNorm"));
    size_t capacity = size_t(integer(info[7], "capacity"));
    p.storage = ann::storage_of(string(info[8], "storage"));
    return wrap_handle(info.Env(), std::make_shared<Hnsw>(p, capacity));
  });

  // hnswInfo(handle) -> { size, slots, capacity, dim, metric, M, efConstruction, memoryBytes, maxNorm, mipsTransform }
  export_fn(env, exports, "hnswInfo", [](const Napi::CallbackInfo& info) -> Napi::Value {
    auto h = index_arg(info[0]);
    Napi::Object o = Napi::Object::New(info.Env());
    o.Set("size", double(h->size()));
    o.Set("slots", double(h->slots()));
    o.Set("capacity", double(h->capacity()));
    o.Set("dim", double(h->dim()));
    o.Set("metric", ann::metric_name(h->params().metric));
    o.Set("M", double(h->params().M));
    o.Set("efConstruction", double(h->params().ef_construction));
    o.Set("memoryBytes", double(h->memory_bytes()));
    o.Set("maxNorm", double(h->max_norm()));
    o.Set("mipsTransform", h->params().mips_transform);
    o.Set("storage", ann::storage_name(h->params().storage));
    o.Set("labelEnd", double(h->label_end()));
    return o;
  });

  // hnswAdd(handle, vectors, labels, threads, onProgress) -> Promise<void>
  export_fn(env, exports, "hnswAdd", [](const Napi::CallbackInfo& info) -> Napi::Value {
    auto h = index_arg(info[0]);
    auto vectors = typed<float>(info[1], "vectors");
    auto labels = typed<int32_t>(info[2], "labels");
    check_dim(vectors.length, h->dim(), "vectors");
    if (vectors.length / h->dim() != labels.length)
      throw Error(ErrorCode::DimensionMismatch, "labels: expected one label per vector");
    size_t threads = size_t(integer(info[3], "threads"));
    auto progress = std::make_shared<Progress>(info.Env(), info[4]);
    auto cancel = std::make_shared<CancelToken>();
    return cancellable(info.Env(), PromiseWorker::start(
        info.Env(), {info[1], info[2]},
        [h, vectors, labels, threads, progress, cancel] {
          size_t n = labels.length;
          h->add(vectors.data, reinterpret_cast<const uint32_t*>(labels.data), n, threads, cancel.get(),
                 [progress](size_t done) {
                   progress->post([done](Napi::Env env) { return Napi::Number::New(env, double(done)); });
                 });
        },
        nullptr, cancel), cancel);
  });

  // hnswAddSync(handle, vectors, labels): small incremental adds on the calling thread.
  export_fn(env, exports, "hnswAddSync", [](const Napi::CallbackInfo& info) -> Napi::Value {
    auto h = index_arg(info[0]);
    auto vectors = typed<float>(info[1], "vectors");
    auto labels = typed<int32_t>(info[2], "labels");
    check_dim(vectors.length, h->dim(), "vectors");
    if (vectors.length / h->dim() != labels.length)
      throw Error(ErrorCode::DimensionMismatch, "labels: expected one label per vector");
    h->add(vectors.data, reinterpret_cast<const uint32_t*>(labels.data), labels.length, 1);
    return info.Env().Undefined();
  });

  export_fn(env, exports, "hnswRemove", [](const Napi::CallbackInfo& info) -> Napi::Value {
    auto h = index_arg(info[0]);
    return Napi::Boolean::New(info.Env(), h->remove(uint32_t(integer(info[1], "label"))));
  });

  export_fn(env, exports, "hnswContains", [](const Napi::CallbackInfo& info) -> Napi::Value {
    auto h = index_arg(info[0]);
    return Napi::Boolean::New(info.Env(), h->contains(uint32_t(integer(info[1], "label"))));
  });

  export_fn(env, exports, "hnswGetVector", [](const Napi::CallbackInfo& info) -> Napi::Value {
    auto h = index_arg(info[0]);
    std::vector<float> v(h->dim());
    if (!h->get_vector(uint32_t(integer(info[1], "label")), v.data())) return info.Env().Null();
    return to_js(info.Env(), std::move(v));
  });

  // hnswSearch(handle, query, k, ef, allow, deny, exactFraction) -> { labels, distances, path }
  export_fn(env, exports, "hnswSearch", [](const Napi::CallbackInfo& info) -> Napi::Value {
    auto h = index_arg(info[0]);
    auto q = typed<float>(info[1], "query");
    if (q.length != h->dim())
      throw Error(ErrorCode::DimensionMismatch, "query: expected " + std::to_string(h->dim()) + " numbers but received " +
                                                    std::to_string(q.length));
    size_t k = size_t(integer(info[2], "k"));
    size_t ef = size_t(integer(info[3], "ef"));
    auto allow = optional_ids(info[4], "allow");
    auto deny = optional_ids(info[5], "deny");
    double exact_fraction = number(info[6], "exactFraction");
    ann::SlotFilter filter = h->make_filter(allow.data, allow.length, deny.data, deny.length);
    std::vector<uint32_t> labels(k);
    std::vector<float> distances(k);
    ann::SearchPath path;
    size_t n = h->search(q.data, k, ef, &filter, labels.data(), distances.data(), exact_fraction, &path);
    Napi::Object o = neighbors_to_js(info.Env(), labels, distances, n);
    o.Set("path", path == ann::SearchPath::Graph ? "graph" : path == ann::SearchPath::FilteredGraph ? "filtered-graph" : "exact");
    return o;
  });

  // hnswSearchInto(handle, query, k, ef, outLabels: Int32Array, outDistances: Float32Array) -> count.
  // The unfiltered single query without building a result object or typed
  // arrays here (each costs more than a small search): lib/ann.ts owns the
  // output arrays and copies the first `count` entries out.
  export_fn(env, exports, "hnswSearchInto", [](const Napi::CallbackInfo& info) -> Napi::Value {
    const auto& h = index_arg(info[0]);
    auto q = typed<float>(info[1], "query");
    if (q.length != h->dim())
      throw Error(ErrorCode::DimensionMismatch, "query: expected " + std::to_string(h->dim()) + " numbers but received " +
                                                    std::to_string(q.length));
    size_t k = size_t(integer(info[2], "k"));
    size_t ef = size_t(integer(info[3], "ef"));
    auto labels = typed<int32_t>(info[4], "outLabels");
    auto distances = typed<float>(info[5], "outDistances");
    if (labels.length < k || distances.length < k) throw Error(ErrorCode::InvalidArgument, "outLabels/outDistances: shorter than k");
    size_t n = h->search(q.data, k, ef, nullptr, reinterpret_cast<uint32_t*>(labels.data), distances.data);
    return Napi::Number::New(info.Env(), double(n));
  });

  // normOrder(itemFactors, itemBias|null, dim, head (0: default_scan_head), sync) -> Promise<handle, or null when a
  // norm is not finite>, or with sync true the handle (or null) itself:
  // the items by decreasing norm for the exact scans of hnswRescoredTopK and factorTopK (scoring/norm_scan.hpp).
  export_fn(env, exports, "normOrder", [](const Napi::CallbackInfo& info) -> Napi::Value {
    auto factors = typed<float>(info[0], "itemFactors");
    const size_t dim = size_t(integer(info[2], "dim"));
    if (dim == 0 || factors.length % dim != 0)
      throw Error(ErrorCode::DimensionMismatch, "itemFactors: length " + std::to_string(factors.length) +
                                                    " is not a multiple of dim " + std::to_string(dim));
    const size_t n = factors.length / dim;
    Array<float> bias;
    if (!info[1].IsNull() && !info[1].IsUndefined()) {
      bias = typed<float>(info[1], "itemBias");
      if (bias.length != n) throw Error(ErrorCode::DimensionMismatch, "itemBias: expected one value per item");
    }
    const size_t head = info[3].IsUndefined() ? 0 : size_t(integer(info[3], "head"));
    auto order = std::make_shared<NormOrder>();
    if (info[4].IsBoolean() && info[4].As<Napi::Boolean>().Value()) {  // sync: the caller knows it is small
      *order = norm_order(factors.data, bias.data, n, dim, head ? head : default_scan_head(n));
      if (order->items.empty() && n > 0) return info.Env().Null();
      return wrap_handle(info.Env(), order);
    }
    // Off the JS thread: sorting a large catalog's norms takes a while (24 ms per 100,000 items).
    return PromiseWorker::start(
        info.Env(), {info[0], info[1]},
        [=] { *order = norm_order(factors.data, bias.data, n, dim, head ? head : default_scan_head(n)); },
        [order, n](Napi::Env env) -> Napi::Value {
          if (order->items.empty() && n > 0) return env.Null();
          return wrap_handle(env, order);
        });
  });

  // normOrderStats(order) -> { scans, settled, itemsRead }: how the scans over this order ended so far
  // (NormOrder::counts; the service's /metrics).
  export_fn(env, exports, "normOrderStats", [](const Napi::CallbackInfo& info) -> Napi::Value {
    const std::shared_ptr<NormOrder>& order = order_arg(info[0]);
    if (!order) throw Error(ErrorCode::InvalidArgument, "order: expected a handle from normOrder");
    Napi::Object o = Napi::Object::New(info.Env());
    o.Set("scans", double(order->counts.scans.load(std::memory_order_relaxed)));
    o.Set("settled", double(order->counts.settled.load(std::memory_order_relaxed)));
    o.Set("itemsRead", double(order->counts.items_read.load(std::memory_order_relaxed)));
    return o;
  });

  // hnswRescoredTopK(handle, user, k, fetch, ef, allow|null, deny|null, exactFraction, itemFactors, itemBias|null,
  //                  labelItem|null, outItems: Int32Array, outScores: Float32Array, order|null) -> count.
  // AnnScorer.recommend's whole step in one call (ann/rescored_topk.hpp): search, seen/excluded items
  // dropped, exact re-scoring, best first into the caller's arrays (no result object made here).
  export_fn(env, exports, "hnswRescoredTopK", [](const Napi::CallbackInfo& info) -> Napi::Value {
    const auto& h = index_arg(info[0]);
    auto user = typed<float>(info[1], "user");
    ann::RescoreQuery q;
    q.user = user.data;
    q.dim = user.length;
    q.k = size_t(integer(info[2], "k"));
    q.fetch = size_t(integer(info[3], "fetch"));
    q.ef = size_t(integer(info[4], "ef"));
    Array<int32_t> allow;
    if (!info[5].IsNull() && !info[5].IsUndefined()) {
      allow = typed<int32_t>(info[5], "allow");
      q.has_allow = true;
    }
    q.allow = allow.data;
    q.n_allow = allow.length;
    auto deny = optional_ids(info[6], "deny");
    q.deny = deny.data;
    q.n_deny = deny.length;
    q.exact_fraction = number(info[7], "exactFraction");
    auto factors = typed<float>(info[8], "itemFactors");
    if (q.dim == 0 || factors.length % q.dim != 0)
      throw Error(ErrorCode::DimensionMismatch, "itemFactors: length " + std::to_string(factors.length) +
                                                    " is not a multiple of the user vector's " + std::to_string(q.dim));
    q.item_factors = factors.data;
    q.n_items = factors.length / q.dim;
    Array<float> bias;
    if (!info[9].IsNull() && !info[9].IsUndefined()) {
      bias = typed<float>(info[9], "itemBias");
      if (bias.length != q.n_items) throw Error(ErrorCode::DimensionMismatch, "itemBias: expected one value per item");
      q.item_bias = bias.data;
    }
    auto label_item = optional_ids(info[10], "labelItem");
    q.label_item = label_item.length ? label_item.data : nullptr;
    q.n_labels = label_item.length;
    auto out_items = typed<int32_t>(info[11], "outItems");
    auto out_scores = typed<float>(info[12], "outScores");
    q.order = order_arg(info[13]).get();
    if (out_items.length < q.k || out_scores.length < q.k)
      throw Error(ErrorCode::InvalidArgument, "outItems/outScores: shorter than k");
    return Napi::Number::New(info.Env(), double(ann::rescored_topk(*h, q, out_items.data, out_scores.data)));
  });

  // hnswTimeSearch(handle, queries, k, ef) -> CPU seconds for all the queries one by one, timed in C++
  // (benchmarks: the search without the JS call around it).
  export_fn(env, exports, "hnswTimeSearch", [](const Napi::CallbackInfo& info) -> Napi::Value {
    auto h = index_arg(info[0]);
    auto q = typed<float>(info[1], "queries");
    check_dim(q.length, h->dim(), "queries");
    size_t k = size_t(integer(info[2], "k"));
    size_t ef = size_t(integer(info[3], "ef"));
    std::vector<uint32_t> labels(k);
    std::vector<float> distances(k);
    size_t nq = q.length / h->dim();
    // CPU time of this thread: on a shared machine wall time measures the scheduler.
    auto now = [] {
      timespec ts;
      clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
      return double(ts.tv_sec) + 1e-9 * double(ts.tv_nsec);
    };
    double t0 = now();
    for (size_t i = 0; i < nq; ++i) h->search(q.data + i * h->dim(), k, ef, nullptr, labels.data(), distances.data());
    return Napi::Number::New(info.Env(), now() - t0);
  });

  // hnswSearchExact(handle, query, k, allow, deny) -> { labels, distances }
  export_fn(env, exports, "hnswSearchExact", [](const Napi::CallbackInfo& info) -> Napi::Value {
    auto h = index_arg(info[0]);
    auto q = typed<float>(info[1], "query");
    if (q.length != h->dim()) throw Error(ErrorCode::DimensionMismatch, "query: wrong dimension");
    size_t k = size_t(integer(info[2], "k"));
    auto allow = optional_ids(info[3], "allow");
    auto deny = optional_ids(info[4], "deny");
    ann::SlotFilter filter = h->make_filter(allow.data, allow.length, deny.data, deny.length);
    std::vector<uint32_t> labels(k);
    std::vector<float> distances(k);
    size_t n = h->search_exact(q.data, k, &filter, labels.data(), distances.data());
    return neighbors_to_js(info.Env(), labels, distances, n);
  });

  // hnswSearchMany(handle, queries, k, ef, allow, deny, exactFraction, threads) -> Promise<{ labels, distances }>
  export_fn(env, exports, "hnswSearchMany", [](const Napi::CallbackInfo& info) -> Napi::Value {
    auto h = index_arg(info[0]);
    auto q = typed<float>(info[1], "queries");
    check_dim(q.length, h->dim(), "queries");
    size_t k = size_t(integer(info[2], "k"));
    size_t ef = size_t(integer(info[3], "ef"));
    auto allow = optional_ids(info[4], "allow");
    auto deny = optional_ids(info[5], "deny");
    double exact_fraction = number(info[6], "exactFraction");
    size_t threads = size_t(integer(info[7], "threads"));
    size_t nq = q.length / h->dim();
    auto filter = std::make_shared<ann::SlotFilter>(h->make_filter(allow.data, allow.length, deny.data, deny.length));
    auto labels = std::make_shared<std::vector<uint32_t>>(nq * k);
    auto distances = std::make_shared<std::vector<float>>(nq * k);
    auto cancel = std::make_shared<CancelToken>();
    return cancellable(info.Env(), PromiseWorker::start(
        info.Env(), {info[1]},
        [h, q, nq, k, ef, filter, labels, distances, exact_fraction, threads, cancel] {
          h->search_many(q.data, nq, k, ef, filter.get(), labels->data(), distances->data(), threads, exact_fraction,
                         cancel.get());
        },
        [labels, distances](Napi::Env env) -> Napi::Value {
          return batch_results(env, std::move(*labels), std::move(*distances));
        },
        cancel), cancel);
  });

  // hnswSave(handle, path, meta) -> Promise<void>: one file, `meta` (Uint8Array) in its checksummed META section.
  export_fn(env, exports, "hnswSave", [](const Napi::CallbackInfo& info) -> Napi::Value {
    auto h = index_arg(info[0]);
    std::string path = string(info[1], "path");
    auto m = typed<uint8_t>(info[2], "meta");
    std::string meta(reinterpret_cast<const char*>(m.data), m.length);
    return PromiseWorker::start(info.Env(), {}, [h, path, meta] { h->save(path, meta); }, nullptr);
  });
  // hnswLoad(path, mmap) -> Promise<{ handle, meta: Uint8Array }>
  export_fn(env, exports, "hnswLoad", [](const Napi::CallbackInfo& info) -> Napi::Value {
    std::string path = string(info[0], "path");
    bool mmap = boolean(info[1], "mmap");
    auto out = std::make_shared<std::shared_ptr<Hnsw>>();
    auto meta = std::make_shared<std::string>();
    return PromiseWorker::start(
        info.Env(), {}, [path, mmap, out, meta] { *out = std::shared_ptr<Hnsw>(Hnsw::load(path, mmap, meta.get())); },
        [out, meta](Napi::Env env) -> Napi::Value { return loaded(env, wrap_handle(env, *out), *meta); });
  });
  // hnswToBytes(handle, meta) -> Promise<Uint8Array> (the file's bytes, in memory)
  export_fn(env, exports, "hnswToBytes", [](const Napi::CallbackInfo& info) -> Napi::Value {
    auto h = index_arg(info[0]);
    auto m = typed<uint8_t>(info[1], "meta");
    std::string meta(reinterpret_cast<const char*>(m.data), m.length);
    auto out = std::make_shared<std::vector<uint8_t>>();
    return PromiseWorker::start(
        info.Env(), {}, [h, meta, out] { *out = h->to_bytes(meta); },
        [out](Napi::Env env) -> Napi::Value { return to_js(env, std::move(*out)); });
  });
  // hnswWithStorage(handle, storage) -> Promise<handle>: the same graph, vectors stored as `storage`.
  export_fn(env, exports, "hnswWithStorage", [](const Napi::CallbackInfo& info) -> Napi::Value {
    auto h = index_arg(info[0]);
    const ann::Storage storage = ann::storage_of(string(info[1], "storage"));
    auto out = std::make_shared<std::shared_ptr<Hnsw>>();
    return PromiseWorker::start(
        info.Env(), {}, [h, storage, out] { *out = std::shared_ptr<Hnsw>(h->with_storage(storage)); },
        [out](Napi::Env env) -> Napi::Value { return wrap_handle(env, *out); });
  });
  // hnswFromBytes(bytes: Uint8Array, inPlace) -> Promise<{ handle, meta }>. In place, the
  // index holds a reference to `bytes` until it is destroyed (always on the JS
  // thread: handles and finished workers are released there).
  export_fn(env, exports, "hnswFromBytes", [](const Napi::CallbackInfo& info) -> Napi::Value {
    auto b = typed<uint8_t>(info[0], "bytes");
    bool in_place = boolean(info[1], "inPlace");
    auto keep = in_place ? std::make_shared<Napi::ObjectReference>(Napi::Persistent(info[0].As<Napi::Object>()))
                         : std::shared_ptr<Napi::ObjectReference>();
    auto out = std::make_shared<std::unique_ptr<Hnsw>>();
    auto meta = std::make_shared<std::string>();
    return PromiseWorker::start(
        info.Env(), {info[0]}, [b, in_place, out, meta] { *out = Hnsw::from_bytes(b.data, b.length, in_place, meta.get()); },
        [out, meta, keep](Napi::Env env) -> Napi::Value {
          Hnsw* raw = out->release();
          std::shared_ptr<Hnsw> h;
          if (raw->borrows_bytes()) {
            h = std::shared_ptr<Hnsw>(raw, [keep](Hnsw* p) { delete p; });  // `keep` lives as long as the index
          } else {
            h = std::shared_ptr<Hnsw>(raw);
          }
          return loaded(env, wrap_handle(env, std::move(h)), *meta);
        });
  });
  // The flat (exact) index: native/napi/exact_binding.cpp.
}

FASTREC_REGISTER(init_ann);

}  // namespace
}  // namespace fastrec::napi
