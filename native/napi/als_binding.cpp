// ALS exports (lib/models/als.ts drives them; arguments are validated there):
//   alsFit(userItems, itemUsers, config, init|null, iterations, seed, threads, computeLoss, onProgress|null, cancelFlag|null)
//     -> Promise<{ userFactors, itemFactors, userBias, itemBias, globalMean, loss, itemGram }>
//   alsSolveRows(matrix, rows, side, gram|null, config, exact, threads, cancelFlag|null) -> Promise<{ factors, bias }>
//   alsFoldInPlan(side, gram|null, config) -> plan (a handle; see als::FoldInPlan)
//   alsFoldIn(plan, indices, values) -> { factors, bias }
//   alsExplain(indices, values, side, gram|null, config, item) -> Float32Array
//   alsGram(factors, dim, threads, column|undefined) -> Float32Array (column: the Gram of [factors, column], dim + 1 wide)
// `side` is { fixed: Float32Array, fixedBias: Float32Array|null, globalMean } plus,
// for alsSolveRows, { target: Float32Array, targetBias: Float32Array|null }.
// Implicit models with itemBias: the users half passes fixedBias = the item
// biases, the items half fixedBias null and targetBias = the item biases;
// `gram` is then the Gram matrix of [Y, b] ((factors + 1) squared).
// Training works on copies: the caller's arrays are never modified, so an
// aborted or failed call leaves the model as it was.
#include <algorithm>
#include <cmath>
#include <string>

#include "als/als.hpp"
#include "binding.hpp"

namespace fastrec::napi {
namespace {

als::Config config_arg(const Napi::Value& v) {
  if (!v.IsObject()) throw Error(ErrorCode::InvalidArgument, "config: expected an object");
  Napi::Object o = v.As<Napi::Object>();
  als::Config c;
  c.factors = static_cast<size_t>(integer(o.Get("factors"), "factors"));
  c.implicit = boolean(o.Get("implicit"), "implicit");
  std::string conf = string(o.Get("confidence"), "confidence");
  if (conf == "linear") c.confidence = als::Confidence::Linear;
  else if (conf == "proportional") c.confidence = als::Confidence::Proportional;
  else throw Error(ErrorCode::InvalidArgument, "confidence: expected 'linear' or 'proportional' but received '" + conf + "'");
  c.alpha = static_cast<float>(number(o.Get("alpha"), "alpha"));
  c.unobserved_weight = static_cast<float>(number(o.Get("unobservedWeight"), "unobservedWeight"));
  c.regularization = static_cast<float>(number(o.Get("regularization"), "regularization"));
  std::string scaling = string(o.Get("regularizationScaling"), "regularizationScaling");
  if (scaling == "none") c.reg_scaling = als::RegScaling::None;
  else if (scaling == "count") c.reg_scaling = als::RegScaling::Count;
  else if (scaling == "frequency") c.reg_scaling = als::RegScaling::Frequency;
  else throw Error(ErrorCode::InvalidArgument, "regularizationScaling: expected 'none', 'count' or 'frequency' but received '" + scaling + "'");
  c.nu = static_cast<float>(number(o.Get("nu"), "nu"));
  std::string solver = string(o.Get("solver"), "solver");
  if (solver == "cg") c.solver = als::Solver::CG;
  else if (solver == "cholesky") c.solver = als::Solver::Cholesky;
  else throw Error(ErrorCode::InvalidArgument, "solver: expected 'cg' or 'cholesky' but received '" + solver + "'");
  c.cg_steps = static_cast<size_t>(integer(o.Get("cgSteps"), "cgSteps"));
  Napi::Value pc = o.Get("precondition");
  if (!pc.IsUndefined() && !pc.IsNull()) c.precondition = boolean(pc, "precondition");
  Napi::Value gp = o.Get("gatherPrecision");
  if (!gp.IsUndefined() && !gp.IsNull()) {
    std::string precision = string(gp, "gatherPrecision");
    if (precision == "float16") c.gather = als::Gather::Float16;
    else if (precision == "int8") c.gather = als::Gather::Int8;
    else if (precision != "float32")
      throw Error(ErrorCode::InvalidArgument,
                  "gatherPrecision: expected 'float32', 'float16' or 'int8' but received '" + precision + "'");
  }
  Napi::Value ib = o.Get("itemBias");
  if (!ib.IsUndefined() && !ib.IsNull()) c.item_bias = boolean(ib, "itemBias");
  Napi::Value ibr = o.Get("itemBiasRegularization");
  if (!ibr.IsUndefined() && !ibr.IsNull()) c.item_bias_regularization = static_cast<float>(number(ibr, "itemBiasRegularization"));
  als::validate(c);
  return c;
}

std::vector<float> copy_of(const Napi::Value& v, const char* name, size_t expected) {
  auto a = typed<float>(v, name);
  if (a.length != expected)
    throw Error(ErrorCode::DimensionMismatch, std::string(name) + ": expected " + std::to_string(expected) +
                                                  " values but received " + std::to_string(a.length));
  std::vector<float> out = als::huge_vector(a.length);
  std::copy(a.data, a.data + a.length, out.begin());
  return out;
}

bool present(const Napi::Value& v) { return !v.IsNull() && !v.IsUndefined(); }

// The fixed side of a solve, as views of JS arrays (kept alive by the caller).
struct SideArgs {
  als::Side side;
  size_t n_fixed = 0;
};

SideArgs side_arg(const Napi::Value& v, const als::Config& c) {
  if (!v.IsObject()) throw Error(ErrorCode::InvalidArgument, "side: expected an object");
  Napi::Object o = v.As<Napi::Object>();
  auto fixed = typed<float>(o.Get("fixed"), "fixed");
  if (fixed.length % c.factors != 0) throw Error(ErrorCode::DimensionMismatch, "fixed: length is not a multiple of factors");
  SideArgs s;
  s.n_fixed = fixed.length / c.factors;
  s.side.fixed = fixed.data;
  s.side.n_fixed = s.n_fixed;
  if (!c.implicit || (c.item_bias && present(o.Get("fixedBias")))) {
    auto bias = typed<float>(o.Get("fixedBias"), "fixedBias");
    if (bias.length != s.n_fixed) throw Error(ErrorCode::DimensionMismatch, "fixedBias: expected one value per fixed row");
    s.side.fixed_bias = bias.data;
    if (!c.implicit) s.side.global_mean = static_cast<float>(number(o.Get("globalMean"), "globalMean"));
  }
  return s;
}

const float* gram_arg(const Napi::Value& v, const als::Config& c) {
  if (!present(v) || !c.implicit) return nullptr;
  auto g = typed<float>(v, "gram");
  const size_t gd = c.factors + (c.item_bias ? 1 : 0);
  if (g.length != gd * gd)
    throw Error(ErrorCode::DimensionMismatch, c.item_bias ? "gram: expected (factors + 1) x (factors + 1) values (the Gram of [Y, b])"
                                                          : "gram: expected factors x factors values");
  return g.data;
}

// alsFoldInPlan's handle: the plan and references that keep the fixed side's
// arrays (which the plan points into) alive as long as the plan.
struct FoldInHandle {
  als::FoldInPlan plan;
  Napi::ObjectReference fixed, fixed_bias;
};

// A one-row CSR view over a history (sorted unique indices).
struct History {
  int64_t indptr[2] = {0, 0};
  CsrView view;
};

void history_arg(const Napi::Value& idx, const Napi::Value& vals, size_t n_fixed, History& h) {
  auto indices = typed<int32_t>(idx, "indices");
  auto values = typed<float>(vals, "values");
  if (indices.length != values.length) throw Error(ErrorCode::DimensionMismatch, "indices and values must have the same length");
  for (size_t j = 0; j < indices.length; ++j) {
    if (indices.data[j] < 0 || static_cast<size_t>(indices.data[j]) >= n_fixed)
      throw Error(ErrorCode::InvalidArgument, "indices: item index " + std::to_string(indices.data[j]) + " out of range");
    if (j > 0 && indices.data[j] <= indices.data[j - 1])
      throw Error(ErrorCode::InvalidArgument, "indices: expected sorted unique item indices");
  }
  h.indptr[1] = static_cast<int64_t>(indices.length);
  h.view = {1, static_cast<int64_t>(n_fixed), h.indptr, indices.data, values.data};
}

Napi::Value fit_result(Napi::Env env, als::Model& m, als::FitResult& r) {
  Napi::Object o = Napi::Object::New(env);
  o.Set("userFactors", to_js(env, std::move(m.user_factors)));
  o.Set("itemFactors", to_js(env, std::move(m.item_factors)));
  o.Set("userBias", m.user_bias.empty() ? env.Null() : Napi::Value(to_js(env, std::move(m.user_bias))));
  o.Set("itemBias", m.item_bias.empty() ? env.Null() : Napi::Value(to_js(env, std::move(m.item_bias))));
  o.Set("globalMean", Napi::Number::New(env, m.global_mean));
  o.Set("loss", std::isnan(r.loss) ? env.Null() : Napi::Value(Napi::Number::New(env, r.loss)));
  o.Set("itemGram", r.item_gram.empty() ? env.Null() : Napi::Value(to_js(env, std::move(r.item_gram))));
  return o;
}

void init_als(Napi::Env env, Napi::Object exports) {
  export_fn(env, exports, "alsFit", [](const Napi::CallbackInfo& info) -> Napi::Value {
    CsrView ui = csr_arg(info[0], "userItems");
    CsrView iu = csr_arg(info[1], "itemUsers");
    als::Config cfg = config_arg(info[2]);
    size_t iterations = static_cast<size_t>(integer(info[4], "iterations"));
    uint64_t seed = static_cast<uint64_t>(integer(info[5], "seed"));
    size_t threads = static_cast<size_t>(integer(info[6], "threads"));
    bool compute_loss = boolean(info[7], "computeLoss");
    auto model = std::make_shared<als::Model>();
    auto init = info[3];
    // Copies of the starting point (continued training) are taken now, on the JS thread.
    if (present(init)) {
      Napi::Object o = init.As<Napi::Object>();
      model->users = static_cast<size_t>(ui.rows);
      model->items = static_cast<size_t>(ui.cols);
      model->factors = cfg.factors;
      model->user_factors = copy_of(o.Get("userFactors"), "userFactors", model->users * cfg.factors);
      model->item_factors = copy_of(o.Get("itemFactors"), "itemFactors", model->items * cfg.factors);
      if (!cfg.implicit) {
        model->user_bias = copy_of(o.Get("userBias"), "userBias", model->users);
        model->item_bias = copy_of(o.Get("itemBias"), "itemBias", model->items);
        model->global_mean = static_cast<float>(number(o.Get("globalMean"), "globalMean"));
      } else if (cfg.item_bias) {
        model->item_bias = copy_of(o.Get("itemBias"), "itemBias", model->items);
      }
    }
    bool fresh = !present(init);
    auto progress = std::make_shared<Progress>(info.Env(), info[8]);
    auto cancel = cancel_arg(info[9]);
    auto result = std::make_shared<als::FitResult>();
    return PromiseWorker::start(
        info.Env(), {info[0], info[1], info[9]},
        [ui, iu, cfg, iterations, seed, threads, compute_loss, model, fresh, progress, cancel, result] {
          if (fresh) *model = als::init_model(ui, cfg, seed);
          als::FitOptions opt;
          opt.iterations = iterations;
          opt.threads = threads;
          opt.compute_loss = compute_loss;
          opt.cancel = cancel.get();
          opt.progress = [&](size_t it, double seconds, double loss) {
            progress->post([it, iterations, seconds, loss](Napi::Env env) -> Napi::Value {
              Napi::Object p = Napi::Object::New(env);
              p.Set("iteration", Napi::Number::New(env, static_cast<double>(it)));
              p.Set("iterations", Napi::Number::New(env, static_cast<double>(iterations)));
              p.Set("seconds", Napi::Number::New(env, seconds));
              if (!std::isnan(loss)) p.Set("loss", Napi::Number::New(env, loss));
              return p;
            });
          };
          *result = als::fit(ui, iu, cfg, opt, *model);
        },
        [model, result, progress](Napi::Env env) -> Napi::Value { return fit_result(env, *model, *result); }, cancel);
  });

  export_fn(env, exports, "alsSolveRows", [](const Napi::CallbackInfo& info) -> Napi::Value {
    CsrView m = csr_arg(info[0], "matrix");
    auto rows = typed<int32_t>(info[1], "rows");
    als::Config cfg = config_arg(info[4]);
    SideArgs s = side_arg(info[2], cfg);
    if (m.cols != static_cast<int64_t>(s.n_fixed)) throw Error(ErrorCode::DimensionMismatch, "matrix: columns must equal the fixed side's rows");
    Napi::Object so = info[2].As<Napi::Object>();
    auto target = std::make_shared<std::vector<float>>(copy_of(so.Get("target"), "target", static_cast<size_t>(m.rows) * cfg.factors));
    auto target_bias = std::make_shared<std::vector<float>>();
    // Rows that learn a bias: explicit models, and the items half of itemBias models (no fixedBias).
    if (!cfg.implicit || (cfg.item_bias && !s.side.fixed_bias))
      *target_bias = copy_of(so.Get("targetBias"), "targetBias", static_cast<size_t>(m.rows));
    const float* gram = gram_arg(info[3], cfg);
    bool exact = boolean(info[5], "exact");
    size_t threads = static_cast<size_t>(integer(info[6], "threads"));
    auto cancel = cancel_arg(info[7]);
    std::vector<int32_t> row_list(rows.data, rows.data + rows.length);
    als::Side side = s.side;
    return PromiseWorker::start(
        info.Env(), {info[0], info[1], info[2], info[3], info[7]},
        [m, row_list, side, gram, cfg, exact, threads, cancel, target, target_bias]() mutable {
          side.target = target->data();
          side.target_bias = target_bias->empty() ? nullptr : target_bias->data();
          als::solve_rows(m, row_list.data(), row_list.size(), side, gram, cfg, exact, threads, cancel.get());
        },
        [target, target_bias](Napi::Env env) -> Napi::Value {
          Napi::Object o = Napi::Object::New(env);
          o.Set("factors", to_js(env, std::move(*target)));
          o.Set("bias", target_bias->empty() ? env.Null() : Napi::Value(to_js(env, std::move(*target_bias))));
          return o;
        },
        cancel);
  });

  export_fn(env, exports, "alsFoldInPlan", [](const Napi::CallbackInfo& info) -> Napi::Value {
    als::Config cfg = config_arg(info[2]);
    SideArgs s = side_arg(info[0], cfg);
    auto* plan = new FoldInHandle{als::plan_fold_in(s.side, gram_arg(info[1], cfg), cfg), {}, {}};
    Napi::Object side = info[0].As<Napi::Object>();
    plan->fixed = Napi::Persistent(side.Get("fixed").As<Napi::Object>());
    if (s.side.fixed_bias) plan->fixed_bias = Napi::Persistent(side.Get("fixedBias").As<Napi::Object>());
    return make_handle(info.Env(), plan, HandleKind::AlsFoldIn);
  });

  export_fn(env, exports, "alsFoldIn", [](const Napi::CallbackInfo& info) -> Napi::Value {
    const auto& plan = handle_arg<FoldInHandle>(info[0], HandleKind::AlsFoldIn, "plan: expected a handle from alsFoldInPlan").plan;
    History h;
    history_arg(info[1], info[2], plan.side.n_fixed, h);
    Napi::Float32Array x = Napi::Float32Array::New(info.Env(), plan.config.factors);
    float bias = 0.0f;
    als::fold_in(plan, h.view, x.Data(), &bias);
    Napi::Object o = Napi::Object::New(info.Env());
    o.Set("factors", x);
    o.Set("bias", Napi::Number::New(info.Env(), bias));
    return o;
  });

  export_fn(env, exports, "alsExplain", [](const Napi::CallbackInfo& info) -> Napi::Value {
    als::Config cfg = config_arg(info[4]);
    SideArgs s = side_arg(info[2], cfg);
    History h;
    history_arg(info[0], info[1], s.n_fixed, h);
    const float* gram = gram_arg(info[3], cfg);
    int64_t item = integer(info[5], "item");
    if (item < 0 || static_cast<size_t>(item) >= s.n_fixed) throw Error(ErrorCode::InvalidArgument, "item: index out of range");
    return to_js(info.Env(), als::explain(h.view, s.side, gram, cfg, static_cast<int32_t>(item)));
  });

  export_fn(env, exports, "alsGram", [](const Napi::CallbackInfo& info) -> Napi::Value {
    auto f = typed<float>(info[0], "factors");
    size_t dim = static_cast<size_t>(integer(info[1], "dim"));
    size_t threads = static_cast<size_t>(integer(info[2], "threads"));
    if (dim == 0 || f.length % dim != 0) throw Error(ErrorCode::DimensionMismatch, "factors: length is not a multiple of dim");
    if (present(info[3])) {
      auto column = typed<float>(info[3], "column");
      if (column.length != f.length / dim) throw Error(ErrorCode::DimensionMismatch, "column: expected one value per factor row");
      als::Config c;
      c.factors = dim;
      c.item_bias = true;
      return to_js(info.Env(), als::gram_of_fixed(f.data, column.data, f.length / dim, c, threads));
    }
    return to_js(info.Env(), als::gram(f.data, f.length / dim, dim, threads));
  });
}

FASTREC_REGISTER(init_als);

}  // namespace
}  // namespace fastrec::napi
