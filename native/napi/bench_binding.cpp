// Benchmark hooks (used by bench/kernels.mjs, not by the library): time one
// SIMD kernel of a named level, and measure the machine's memory bandwidth.
// Timing runs in C++ so the figures carry no JS call overhead.
#include <algorithm>
#include <chrono>
#include <cstring>
#include <numeric>

#include "binding.hpp"
#include "common/simd.hpp"

namespace fastrec::napi {
namespace {

using Clock = std::chrono::steady_clock;

struct Timing {
  double seconds = 0;  // per call (best of the repetitions: least disturbed by other processes)
  double bytes = 0;    // bytes a call must move to or from memory at least once
  double flops = 0;    // floating-point operations per call (a multiply-add counts 2)
};

// Best per-call time over `reps` samples. Short calls are batched so that each
// sample lasts at least about a millisecond (well above the clock's resolution).
template <typename F>
double best_seconds(size_t reps, F&& call) {
  auto t0 = Clock::now();
  call();  // warm-up, also estimates the batch size
  double once = std::chrono::duration<double>(Clock::now() - t0).count();
  size_t batch = once >= 1e-3 ? 1 : static_cast<size_t>(1e-3 / std::max(once, 1e-8)) + 1;
  double best = 1e300;
  for (size_t r = 0; r < reps; ++r) {
    auto start = Clock::now();
    for (size_t b = 0; b < batch; ++b) call();
    best = std::min(best, std::chrono::duration<double>(Clock::now() - start).count() / batch);
  }
  return best;
}

std::vector<float> filled(size_t n, float seed) {
  std::vector<float> v(n);
  for (size_t i = 0; i < n; ++i) v[i] = seed + static_cast<float>(i % 97) * 0.001f;
  return v;
}

// m, n, k: vector kernels use n; gemv is an m x n matrix times a vector; gemm_nt
// multiplies A (m x k) by Bᵀ (B is n x k).
Timing time_kernel(const simd::Kernels& kern, const std::string& kernel, size_t m, size_t n, size_t k, size_t reps) {
  Timing t;
  volatile float sink = 0;
  constexpr double F = sizeof(float);
  if (kernel == "dot" || kernel == "l2sq") {
    auto a = filled(n, 0.5f), b = filled(n, 0.25f);
    auto fn = kernel == "dot" ? kern.dot : kern.l2sq;
    t.seconds = best_seconds(reps, [&] { sink = sink + fn(a.data(), b.data(), n); });
    t.bytes = 2 * n * F;
    t.flops = (kernel == "dot" ? 2.0 : 3.0) * n;
  } else if (kernel == "axpy") {
    auto x = filled(n, 0.5f), y = filled(n, 0.25f);
    t.seconds = best_seconds(reps, [&] { kern.axpy(1e-7f, x.data(), y.data(), n); });
    t.bytes = 3 * n * F;  // read x, read y, write y
    t.flops = 2.0 * n;
  } else if (kernel == "gemv") {
    auto A = filled(m * n, 0.5f), x = filled(n, 0.25f);
    std::vector<float> y(m);
    t.seconds = best_seconds(reps, [&] { kern.gemv(A.data(), m, n, n, x.data(), y.data()); });
    t.bytes = (m * n + n + m) * F;
    t.flops = 2.0 * m * n;
  } else if (kernel == "gemm_nt") {
    auto A = filled(m * k, 0.5f), B = filled(n * k, 0.25f);
    std::vector<float> C(m * n);
    t.seconds = best_seconds(reps, [&] { kern.gemm_nt(A.data(), m, k, B.data(), n, k, k, C.data(), n); });
    t.bytes = (m * k + n * k + m * n) * F;
    t.flops = 2.0 * m * n * k;
  } else {
    throw Error(ErrorCode::InvalidArgument,
                "kernel: expected 'dot', 'axpy', 'l2sq', 'gemv' or 'gemm_nt' but received '" + kernel + "'");
  }
  return t;
}

// Read and copy bandwidth over a buffer far larger than the caches. The read
// loop sums 16-byte integer vectors (baseline SSE2 / NEON width) into eight
// independent accumulators, so it is limited by memory, not by arithmetic.
struct Bandwidth {
  double read_gbs = 0;
  double copy_gbs = 0;
};

typedef uint64_t u64x2 __attribute__((vector_size(16)));

Bandwidth measure_bandwidth(size_t bytes, size_t reps) {
  size_t words = bytes / sizeof(uint64_t) / 16 * 16;
  std::vector<uint64_t> src(words), dst(words);
  std::iota(src.begin(), src.end(), uint64_t{1});
  std::fill(dst.begin(), dst.end(), 0);  // touch every page before timing
  volatile uint64_t sink = 0;
  double read_s = best_seconds(reps, [&] {
    u64x2 acc[8] = {};
    for (size_t i = 0; i < words; i += 16)
      for (size_t j = 0; j < 8; ++j) {
        u64x2 v;
        std::memcpy(&v, &src[i + 2 * j], sizeof v);
        acc[j] += v;
      }
    u64x2 s = acc[0] + acc[1] + acc[2] + acc[3] + acc[4] + acc[5] + acc[6] + acc[7];
    sink = sink + s[0] + s[1];
  });
  double copy_s = best_seconds(reps, [&] { std::memcpy(dst.data(), src.data(), words * sizeof(uint64_t)); });
  // A copy reads the source and writes the destination: 2 bytes moved per byte copied.
  return {words * 8.0 / read_s / 1e9, 2.0 * words * 8.0 / copy_s / 1e9};
}

void init_bench(Napi::Env env, Napi::Object exports) {
  // benchKernel(level, kernel, m, n, k, reps) -> Promise<{ seconds, bytes, flops }>
  export_fn(env, exports, "benchKernel", [](const Napi::CallbackInfo& info) -> Napi::Value {
    std::string level = string(info[0], "level");
    std::string kernel = string(info[1], "kernel");
    int64_t m = integer(info[2], "m"), n = integer(info[3], "n"), k = integer(info[4], "k");
    int64_t reps = integer(info[5], "reps");
    if (m < 0 || n < 0 || k < 0 || reps < 1)
      throw Error(ErrorCode::InvalidArgument, "benchKernel: expected m, n, k >= 0 and reps >= 1");
    const simd::Kernels* kern = simd::kernels_for(level);
    if (!kern) throw Error(ErrorCode::InvalidArgument, "level: '" + level + "' is not available on this CPU");
    auto out = std::make_shared<Timing>();
    return PromiseWorker::start(
        info.Env(), {},
        [=] { *out = time_kernel(*kern, kernel, static_cast<size_t>(m), static_cast<size_t>(n), static_cast<size_t>(k),
                                 static_cast<size_t>(reps)); },
        [out](Napi::Env env) -> Napi::Value {
          Napi::Object o = Napi::Object::New(env);
          o.Set("seconds", out->seconds);
          o.Set("bytes", out->bytes);
          o.Set("flops", out->flops);
          return o;
        });
  });

  // benchMemory(bytes, reps) -> Promise<{ readGBs, copyGBs }>
  export_fn(env, exports, "benchMemory", [](const Napi::CallbackInfo& info) -> Napi::Value {
    int64_t bytes = integer(info[0], "bytes"), reps = integer(info[1], "reps");
    if (bytes < 1024 || reps < 1) throw Error(ErrorCode::InvalidArgument, "benchMemory: expected bytes >= 1024 and reps >= 1");
    auto out = std::make_shared<Bandwidth>();
    return PromiseWorker::start(
        info.Env(), {}, [=] { *out = measure_bandwidth(static_cast<size_t>(bytes), static_cast<size_t>(reps)); },
        [out](Napi::Env env) -> Napi::Value {
          Napi::Object o = Napi::Object::New(env);
          o.Set("readGBs", out->read_gbs);
          o.Set("copyGBs", out->copy_gbs);
          return o;
        });
  });
}
FASTREC_REGISTER(init_bench);

}  // namespace
}  // namespace fastrec::napi
