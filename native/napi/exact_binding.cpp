// Exports of the flat (exact) index, held by a JS External (a shared_ptr, so
// async work keeps the index alive). lib/ann.ts (ExactIndex) validates
// arguments and owns the API. Labels cross as Int32Array; batches pad with
// -1 / +Infinity. `scored` counts query x item scores computed (pruning rate).
#include <time.h>

#include <chrono>
#include <cstring>
#include <memory>
#include <random>

#include "ann/exact_kernels.hpp"
#include "ann/flat.hpp"
#include "binding.hpp"
#include "common/simd.hpp"
#include "common/thread_pool.hpp"
#include "common/topk.hpp"

namespace fastrec::napi {
namespace {

using ann::FlatIndex;

Napi::Value wrap_flat(Napi::Env env, std::shared_ptr<FlatIndex> p) {
  return make_handle(env, new std::shared_ptr<FlatIndex>(std::move(p)), HandleKind::FlatIndex);
}

std::shared_ptr<FlatIndex> flat(const Napi::Value& v) {
  return handle_arg<std::shared_ptr<FlatIndex>>(v, HandleKind::FlatIndex, "index: expected a native index handle");
}

void check_rows(size_t length, size_t dim, const char* name) {
  if (dim == 0 || length % dim != 0)
    throw Error(ErrorCode::DimensionMismatch, std::string(name) + ": length " + std::to_string(length) +
                                                  " is not a multiple of the dimension " + std::to_string(dim));
}

Napi::Value with_cancel(Napi::Env env, Napi::Promise promise, std::shared_ptr<CancelToken> cancel) {
  promise.Set("cancel", Napi::Function::New(env, [cancel](const Napi::CallbackInfo& info) -> Napi::Value {
                cancel->cancel();
                return info.Env().Undefined();
              }));
  return promise;
}

// Kernel throughput in cache, one thread: nq queries x n items (dim), `reps`
// passes; the new panel kernel with top-k thresholds vs the shared gemm_nt
// (which packs each block) followed by the same threshold test on its tile.
// Seconds are CPU seconds of the calling thread: time the scheduler gives to
// other jobs on a shared machine does not count.
struct KernelTiming {
  double scan_s = 0, gemm_s = 0, flops = 0, peak_gflops = 0;
};

double thread_cpu_seconds() {
  timespec ts;
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return double(ts.tv_sec) + 1e-9 * double(ts.tv_nsec);
}

size_t W_of(const std::string& level) {
  return level == "avx512" ? 16 : level == "avx2" ? 8 : level == "neon" ? 4 : 1;
}

KernelTiming time_exact_kernels(const std::string& level, size_t nq, size_t n, size_t dim, size_t reps) {
  const ann::ExactKernels* ek = ann::exact_kernels_for(level.c_str());
  const simd::Kernels* sk = simd::kernels_for(level);
  if (!ek || !sk) throw Error(ErrorCode::InvalidArgument, "level: '" + level + "' is not available on this CPU");
  n = (n + ann::kPanel - 1) / ann::kPanel * ann::kPanel;
  std::mt19937 rng(7);
  std::normal_distribution<float> g;
  std::vector<float> items(n * dim), queries(nq * dim), panels(n * dim), bias(n, 0.0f), tile(nq * n);
  for (float& x : items) x = g(rng);
  for (float& x : queries) x = g(rng);
  for (size_t i = 0; i < n; ++i)
    for (size_t p = 0; p < dim; ++p) panels[(i / ann::kPanel) * ann::kPanel * dim + p * ann::kPanel + i % ann::kPanel] = items[i * dim + p];
  std::vector<const float*> ptr(nq);
  for (size_t r = 0; r < nq; ++r) ptr[r] = queries.data() + r * dim;
  // Thresholds near the top-10 of a million-item scan: almost every score is rejected.
  std::vector<float> thr(nq, 4.5f * std::sqrt(float(dim)));
  std::vector<ann::ExactHit> hits(nq * n);
  volatile size_t sink = 0;
  double t0 = thread_cpu_seconds();
  for (size_t r = 0; r < reps; ++r) sink = sink + ek->scan(ptr.data(), nq, thr.data(), panels.data(), bias.data(), n / ann::kPanel, dim, hits.data());
  double t1 = thread_cpu_seconds();
  for (size_t r = 0; r < reps; ++r) {
    sk->gemm_nt(queries.data(), nq, dim, items.data(), n, dim, dim, tile.data(), n);
    size_t c = 0;
    for (size_t q = 0; q < nq; ++q)
      for (size_t i = 0; i < n; ++i) c += tile[q * n + i] >= thr[q];
    sink = sink + c;
  }
  double t2 = thread_cpu_seconds();
  const size_t steps = 20'000'000;
  volatile float fsink = ek->fma_peak(steps);
  (void)fsink;
  double t3 = thread_cpu_seconds();
  KernelTiming t;
  t.peak_gflops = 24.0 * double(W_of(level)) * double(steps) / (t3 - t2) / 1e9;
  t.scan_s = t1 - t0;
  t.gemm_s = t2 - t1;
  t.flops = 2.0 * double(nq) * double(n) * double(dim) * double(reps);
  return t;
}

// Best-of-reps read bandwidth (GB/s) of a streaming float sum over `bytes`, split over `threads`.
double stream_gbs(size_t bytes, size_t threads, size_t reps) {
  const ann::ExactKernels& K = ann::exact_kernels();
  size_t n = bytes / sizeof(float);
  ann::AlignedFloats buf;
  buf.resize(n);  // zero-filled: every page touched before timing
  for (size_t i = 0; i < n; i += 1024) buf.data()[i] = float(i & 7);
  size_t chunk = 1 << 18;  // 1 MiB per task
  std::vector<float> sums(threads);
  double best = 1e30;
  for (size_t r = 0; r < reps; ++r) {
    auto t0 = std::chrono::steady_clock::now();
    parallel_for((n + chunk - 1) / chunk, 1, threads, [&](size_t b0, size_t b1, size_t slot) {
      for (size_t b = b0; b < b1; ++b) sums[slot] += K.stream_sum(buf.data() + b * chunk, std::min(chunk, n - b * chunk));
    });
    best = std::min(best, std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
  }
  volatile float sink = sums[0];
  (void)sink;
  return double(n) * sizeof(float) / best / 1e9;
}

// Optional allow / deny label arrays -> a filter (null when neither is given).
std::shared_ptr<ann::ExactFilter> filter_arg(const FlatIndex& f, const Napi::Value& allow, const Napi::Value& deny) {
  bool has_allow = !(allow.IsNull() || allow.IsUndefined()), has_deny = !(deny.IsNull() || deny.IsUndefined());
  if (!has_allow && !has_deny) return nullptr;
  Array<int32_t> a{}, d{};
  if (has_allow) a = typed<int32_t>(allow, "allow");
  if (has_deny) d = typed<int32_t>(deny, "deny");
  return std::make_shared<ann::ExactFilter>(
      f.make_filter(has_allow ? a.data : nullptr, has_allow ? a.length : 0, d.data, has_deny ? d.length : 0));
}

Napi::Object neighbors(Napi::Env env, const std::vector<uint32_t>& labels, const std::vector<float>& distances, size_t n,
                       const ann::ExactStats& stats) {
  Napi::Object o = neighbors_to_js(env, labels, distances, n);
  o.Set("scored", double(stats.scored));
  return o;
}

void init_exact(Napi::Env env, Napi::Object exports) {
  export_fn(env, exports, "flatCreate", [](const Napi::CallbackInfo& info) -> Napi::Value {
    size_t dim = size_t(integer(info[0], "dim"));
    auto metric = ann::metric_of(string(info[1], "metric"));
    return wrap_flat(info.Env(), std::make_shared<FlatIndex>(dim, metric));
  });
  export_fn(env, exports, "flatAdd", [](const Napi::CallbackInfo& info) -> Napi::Value {
    auto f = flat(info[0]);
    auto v = typed<float>(info[1], "vectors");
    check_rows(v.length, f->dim(), "vectors");
    f->add(v.data, v.length / f->dim());
    return Napi::Number::New(info.Env(), double(f->size()));
  });
  export_fn(env, exports, "flatInfo", [](const Napi::CallbackInfo& info) -> Napi::Value {
    auto f = flat(info[0]);
    Napi::Object o = Napi::Object::New(info.Env());
    o.Set("size", double(f->size()));
    o.Set("dim", double(f->dim()));
    o.Set("metric", ann::metric_name(f->metric()));
    o.Set("memoryBytes", double(f->memory_bytes()));
    o.Set("blocks", double(f->blocks()));
    return o;
  });
  // flatPartition(handle, blockSize, threads, seed) -> Promise<number of blocks>
  export_fn(env, exports, "flatPartition", [](const Napi::CallbackInfo& info) -> Napi::Value {
    auto f = flat(info[0]);
    size_t block = size_t(integer(info[1], "blockSize"));
    size_t threads = size_t(integer(info[2], "threads"));
    uint32_t seed = uint32_t(integer(info[3], "seed"));
    auto cancel = std::make_shared<CancelToken>();
    return with_cancel(info.Env(), PromiseWorker::start(
        info.Env(), {}, [f, block, threads, seed, cancel] { f->partition(block, threads, cancel.get(), seed); },
        [f](Napi::Env env) -> Napi::Value { return Napi::Number::New(env, double(f->blocks())); }, cancel), cancel);
  });
  // flatSearch(handle, query, k, threads, prune, allow, deny) -> { labels, distances, scored } (sync)
  export_fn(env, exports, "flatSearch", [](const Napi::CallbackInfo& info) -> Napi::Value {
    auto f = flat(info[0]);
    auto q = typed<float>(info[1], "query");
    if (q.length != f->dim()) throw Error(ErrorCode::DimensionMismatch, "query: wrong dimension");
    size_t k = size_t(integer(info[2], "k"));
    size_t threads = size_t(integer(info[3], "threads"));
    bool prune = boolean(info[4], "prune");
    auto filter = filter_arg(*f, info[5], info[6]);
    std::vector<uint32_t> labels(k);
    std::vector<float> distances(k);
    ann::ExactStats stats;
    size_t n = f->search(q.data, k, labels.data(), distances.data(), threads, prune, &stats, filter.get());
    return neighbors(info.Env(), labels, distances, n, stats);
  });
  // flatSearchMany(handle, queries, k, threads, prune, allow, deny) -> Promise<{ labels, distances, scored }>
  export_fn(env, exports, "flatSearchMany", [](const Napi::CallbackInfo& info) -> Napi::Value {
    auto f = flat(info[0]);
    auto q = typed<float>(info[1], "queries");
    check_rows(q.length, f->dim(), "queries");
    size_t k = size_t(integer(info[2], "k"));
    size_t threads = size_t(integer(info[3], "threads"));
    bool prune = boolean(info[4], "prune");
    auto filter = filter_arg(*f, info[5], info[6]);
    size_t nq = q.length / f->dim();
    auto labels = std::make_shared<std::vector<uint32_t>>(nq * k);
    auto distances = std::make_shared<std::vector<float>>(nq * k);
    auto stats = std::make_shared<ann::ExactStats>();
    auto cancel = std::make_shared<CancelToken>();
    return with_cancel(info.Env(), PromiseWorker::start(
        info.Env(), {info[1]},
        [f, q, nq, k, threads, prune, filter, labels, distances, stats, cancel] {
          f->search_many(q.data, nq, k, labels->data(), distances->data(), threads, cancel.get(), prune, stats.get(),
                         filter.get());
        },
        [labels, distances, stats](Napi::Env env) -> Napi::Value {
          std::vector<int32_t> l(labels->size());
          for (size_t i = 0; i < l.size(); ++i) l[i] = (*labels)[i] == 0xFFFFFFFFu ? -1 : int32_t((*labels)[i]);
          Napi::Object o = Napi::Object::New(env);
          o.Set("labels", to_js(env, std::move(l)));
          o.Set("distances", to_js(env, std::move(*distances)));
          o.Set("scored", double(stats->scored));
          return o;
        },
        cancel), cancel);
  });
  // benchExactStream(bytes, threads, reps) -> Promise<GB/s>
  export_fn(env, exports, "benchExactStream", [](const Napi::CallbackInfo& info) -> Napi::Value {
    int64_t bytes = integer(info[0], "bytes"), threads = integer(info[1], "threads"), reps = integer(info[2], "reps");
    if (bytes < 4096 || threads < 1 || reps < 1)
      throw Error(ErrorCode::InvalidArgument, "benchExactStream: expected bytes >= 4096, threads >= 1, reps >= 1");
    auto out = std::make_shared<double>(0);
    return PromiseWorker::start(
        info.Env(), {}, [=] { *out = stream_gbs(size_t(bytes), size_t(threads), size_t(reps)); },
        [out](Napi::Env env) -> Napi::Value { return Napi::Number::New(env, *out); });
  });
  // benchExactKernel(level, queries, items, dim, reps) -> Promise<{ scanSeconds, gemmSeconds, flops }>
  export_fn(env, exports, "benchExactKernel", [](const Napi::CallbackInfo& info) -> Napi::Value {
    std::string level = string(info[0], "level");
    int64_t nq = integer(info[1], "queries"), n = integer(info[2], "items"), dim = integer(info[3], "dim");
    int64_t reps = integer(info[4], "reps");
    if (nq < 1 || n < 1 || dim < 1 || reps < 1 || nq * n > (int64_t(1) << 26))
      throw Error(ErrorCode::InvalidArgument, "benchExactKernel: expected positive sizes with queries x items <= 2^26");
    auto out = std::make_shared<KernelTiming>();
    return PromiseWorker::start(
        info.Env(), {}, [=] { *out = time_exact_kernels(level, size_t(nq), size_t(n), size_t(dim), size_t(reps)); },
        [out](Napi::Env env) -> Napi::Value {
          Napi::Object o = Napi::Object::New(env);
          o.Set("scanSeconds", out->scan_s);
          o.Set("gemmSeconds", out->gemm_s);
          o.Set("flops", out->flops);
          o.Set("peakGflops", out->peak_gflops);
          return o;
        });
  });
}

FASTREC_REGISTER(init_exact);

}  // namespace
}  // namespace fastrec::napi
