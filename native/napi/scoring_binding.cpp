// Fused factor scoring + top-k: factorTopK (sync, one user) and
// factorTopKMany (Promise, many users).
#include <limits>
#include <memory>

#include "binding.hpp"
#include "scoring/factor_topk.hpp"

namespace fastrec::napi {
namespace {

template <typename T>
Array<T> optional_typed(const Napi::Value& v, const char* name) {
  if (v.IsNull() || v.IsUndefined()) return {};
  return typed<T>(v, name);
}

struct FactorArgs {
  Array<float> items;
  size_t dim = 0, n_items = 0;
  Array<float> bias;
  ItemFilter filter;
};

FactorArgs factor_args(const Napi::CallbackInfo& info, size_t items_at) {
  FactorArgs a;
  a.items = typed<float>(info[items_at], "items");
  a.dim = static_cast<size_t>(integer(info[items_at + 1], "dim"));
  if (a.dim == 0 || a.items.length % a.dim != 0)
    throw Error(ErrorCode::DimensionMismatch, "items: length " + std::to_string(a.items.length) +
                                                  " is not a multiple of dim " + std::to_string(a.dim));
  a.n_items = a.items.length / a.dim;
  a.bias = optional_typed<float>(info[items_at + 2], "itemBias");
  if (a.bias.data && a.bias.length != a.n_items)
    throw Error(ErrorCode::DimensionMismatch, "itemBias: expected one value per item");
  return a;
}

void init_scoring(Napi::Env env, Napi::Object exports) {
  // factorTopK(user, items, dim, itemBias, seen, exclude, include, k, order|null) -> { indices, scores, scanned }
  //   (scanned: the norm scan settled the answer)
  export_fn(env, exports, "factorTopK", [](const Napi::CallbackInfo& info) -> Napi::Value {
    auto user = typed<float>(info[0], "user");
    FactorArgs a = factor_args(info, 1);
    if (user.length != a.dim) throw Error(ErrorCode::DimensionMismatch, "user: expected dim values");
    auto seen = optional_typed<int32_t>(info[4], "seen");
    auto exclude = optional_typed<int32_t>(info[5], "exclude");
    auto include = optional_typed<int32_t>(info[6], "include");
    a.filter = {exclude.data, exclude.length, include.data, include.length};
    size_t k = static_cast<size_t>(integer(info[7], "k"));
    k = std::min(k, a.n_items);
    std::vector<int32_t> ids(k);
    std::vector<float> scores(k);
    const auto& order = order_arg(info[8]);
    bool settled = false;
    size_t count = factor_topk_one(user.data, a.items.data, a.n_items, a.dim, a.bias.data, seen.data, seen.length,
                                   a.filter, k, ids.data(), scores.data(), order.get(), &settled);
    ids.resize(count);
    scores.resize(count);
    Napi::Object out = Napi::Object::New(info.Env());
    out.Set("indices", to_js(info.Env(), std::move(ids)));
    out.Set("scores", to_js(info.Env(), std::move(scores)));
    out.Set("scanned", Napi::Boolean::New(info.Env(), settled));
    return out;
  });

  // factorTopKMany(users, rows, items, dim, itemBias, seenCsr, exclude, include, k, threads, onProgress, cancelFlag, order|null)
  //   -> Promise<{ indices, scores }> with rows.length * k entries
  export_fn(env, exports, "factorTopKMany", [](const Napi::CallbackInfo& info) -> Napi::Value {
    auto users = typed<float>(info[0], "users");
    auto rows = typed<int32_t>(info[1], "rows");
    FactorArgs a = factor_args(info, 2);
    if (users.length % a.dim != 0) throw Error(ErrorCode::DimensionMismatch, "users: length is not a multiple of dim");
    size_t n_users = users.length / a.dim;
    for (size_t r = 0; r < rows.length; ++r)
      if (rows.data[r] < 0 || static_cast<size_t>(rows.data[r]) >= n_users)
        throw Error(ErrorCode::InvalidArgument, "rows[" + std::to_string(r) + "] is not a user row");
    std::shared_ptr<CsrView> seen;
    if (!info[5].IsNull() && !info[5].IsUndefined()) {
      seen = std::make_shared<CsrView>(csr_arg(info[5], "seen"));
      if (static_cast<size_t>(seen->rows) < n_users || static_cast<size_t>(seen->cols) != a.n_items)
        throw Error(ErrorCode::DimensionMismatch, "seen: expected a users x items matrix");
    }
    auto exclude = optional_typed<int32_t>(info[6], "exclude");
    auto include = optional_typed<int32_t>(info[7], "include");
    a.filter = {exclude.data, exclude.length, include.data, include.length};
    size_t k = static_cast<size_t>(integer(info[8], "k"));
    size_t threads = static_cast<size_t>(integer(info[9], "threads"));
    auto progress = std::make_shared<Progress>(info.Env(), info[10]);
    auto ids = std::make_shared<std::vector<int32_t>>(rows.length * k);
    auto scores = std::make_shared<std::vector<float>>(rows.length * k);
    auto cancel = cancel_arg(info[11]);
    auto order = order_arg(info[12]);  // copied into the work: it outlives this call
    return PromiseWorker::start(
        info.Env(), {info[0], info[1], info[2], info[4], info[5], info[6], info[7], info[11]},
        [=] {
          std::function<void(size_t)> report;
          if (progress->active())
            report = [progress](size_t done) {
              progress->post([done](Napi::Env env) { return Napi::Number::New(env, static_cast<double>(done)); });
            };
          factor_topk_many(users.data, rows.data, rows.length, a.items.data, a.n_items, a.dim, a.bias.data, seen.get(),
                           a.filter, k, ids->data(), scores->data(), threads, cancel.get(), report, order.get());
        },
        [ids, scores, progress](Napi::Env env) -> Napi::Value {
          Napi::Object out = Napi::Object::New(env);
          out.Set("indices", to_js(env, std::move(*ids)));
          out.Set("scores", to_js(env, std::move(*scores)));
          return out;
        },
        cancel);
  });
}
FASTREC_REGISTER(init_scoring);

}  // namespace
}  // namespace fastrec::napi
