// Truncated SVD export: truncatedSvd(matrix, k, oversample, powerIterations,
// center, seed, threads, onProgress|null, cancelFlag|null) -> Promise<{ u, s, vt, mean }>.
#include "binding.hpp"
#include "svd/truncated_svd.hpp"

namespace fastrec::napi {
namespace {

void init_svd(Napi::Env env, Napi::Object exports) {
  export_fn(env, exports, "truncatedSvd", [](const Napi::CallbackInfo& info) -> Napi::Value {
    CsrView m = csr_arg(info[0], "matrix");
    svd::SvdOptions o;
    o.k = static_cast<size_t>(integer(info[1], "k"));
    o.oversample = static_cast<size_t>(integer(info[2], "oversample"));
    o.power_iterations = static_cast<size_t>(integer(info[3], "powerIterations"));
    o.center = boolean(info[4], "center");
    o.seed = static_cast<uint64_t>(integer(info[5], "seed"));
    o.threads = static_cast<size_t>(integer(info[6], "threads"));
    auto progress = std::make_shared<Progress>(info.Env(), info[7]);
    auto cancel = cancel_arg(info[8]);
    auto out = std::make_shared<svd::SvdResult>();
    return PromiseWorker::start(
        info.Env(), {info[0], info[8]},
        [m, o, out, progress, cancel] {
          *out = svd::truncated_svd(m, o, cancel.get(), [&](size_t step, size_t steps) {
            progress->post([step, steps](Napi::Env env) -> Napi::Value {
              return Napi::Number::New(env, static_cast<double>(step) / static_cast<double>(steps));
            });
          });
        },
        [out, progress](Napi::Env env) -> Napi::Value {
          Napi::Object r = Napi::Object::New(env);
          r.Set("u", to_js(env, std::move(out->u)));
          r.Set("s", to_js(env, std::move(out->s)));
          r.Set("vt", to_js(env, std::move(out->vt)));
          r.Set("mean", out->mean.empty() ? env.Null() : Napi::Value(to_js(env, std::move(out->mean))));
          return r;
        },
        cancel);
  });
}

FASTREC_REGISTER(init_svd);

}  // namespace
}  // namespace fastrec::napi
