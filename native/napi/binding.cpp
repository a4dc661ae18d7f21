#include "binding.hpp"

#include <cstring>
#include <new>

namespace fastrec::napi {

std::vector<InitFn>& registry() {
  static std::vector<InitFn> fns;
  return fns;
}
Registrar::Registrar(InitFn fn) { registry().push_back(fn); }

Napi::Error make_error(Napi::Env env, const std::string& code, const std::string& message) {
  Napi::Error err = Napi::Error::New(env, message);
  err.Set("code", Napi::String::New(env, code));
  err.Set("fastrecNative", Napi::Boolean::New(env, true));
  return err;
}

Napi::Error make_error(Napi::Env env, std::exception_ptr error) {
  try {
    std::rethrow_exception(error);
  } catch (const Error& e) {
    return make_error(env, error_code_name(e.code()), e.what());
  } catch (const std::bad_alloc&) {
    return make_error(env, "OUT_OF_MEMORY", "out of memory: the operation needs more memory than is available");
  } catch (const Napi::Error& e) {
    return e;
  } catch (const std::exception& e) {
    return make_error(env, "INTERNAL", std::string("internal error: ") + e.what());
  } catch (...) {
    return make_error(env, "INTERNAL", "internal error: unknown exception");
  }
}

void export_fn(Napi::Env env, Napi::Object exports, const char* name,
               std::function<Napi::Value(const Napi::CallbackInfo&)> fn) {
  auto* held = new std::function<Napi::Value(const Napi::CallbackInfo&)>(std::move(fn));
  env.AddCleanupHook([held] { delete held; });
  exports.Set(name, Napi::Function::New(
                        env,
                        [](const Napi::CallbackInfo& info) -> Napi::Value {
                          auto* f = static_cast<std::function<Napi::Value(const Napi::CallbackInfo&)>*>(info.Data());
                          try {
                            return (*f)(info);
                          } catch (const Napi::Error& e) {
                            throw;
                          } catch (...) {
                            throw make_error(info.Env(), std::current_exception());
                          }
                        },
                        name, held));
}

double number(const Napi::Value& v, const char* name) {
  if (!v.IsNumber()) throw Error(ErrorCode::InvalidArgument, std::string(name) + ": expected a number");
  return v.As<Napi::Number>().DoubleValue();
}
int64_t integer(const Napi::Value& v, const char* name) {
  double d = number(v, name);
  if (d != static_cast<double>(static_cast<int64_t>(d)))
    throw Error(ErrorCode::InvalidArgument, std::string(name) + ": expected an integer");
  return static_cast<int64_t>(d);
}
bool boolean(const Napi::Value& v, const char* name) {
  if (!v.IsBoolean()) throw Error(ErrorCode::InvalidArgument, std::string(name) + ": expected a boolean");
  return v.As<Napi::Boolean>().Value();
}
std::string string(const Napi::Value& v, const char* name) {
  if (!v.IsString()) throw Error(ErrorCode::InvalidArgument, std::string(name) + ": expected a string");
  return v.As<Napi::String>().Utf8Value();
}
Napi::Value prop(const Napi::Object& o, const char* key) { return o.Get(key); }

Napi::Promise PromiseWorker::start(Napi::Env env, std::vector<Napi::Value> keep, ExecuteFn execute, FinishFn finish,
                                   std::shared_ptr<CancelToken> cancel) {
  auto* w = new PromiseWorker(env, std::move(execute), std::move(finish));
  for (auto& v : keep)
    if (v.IsObject()) w->keep_.push_back(Napi::Persistent(v.As<Napi::Object>()));
  w->cancel_ = std::move(cancel);
  Napi::Promise promise = w->deferred_.Promise();
  w->Queue();
  return promise;
}

PromiseWorker::PromiseWorker(Napi::Env env, ExecuteFn execute, FinishFn finish)
    : Napi::AsyncWorker(env, "fastrec"), deferred_(Napi::Promise::Deferred::New(env)),
      execute_(std::move(execute)), finish_(std::move(finish)) {}

void PromiseWorker::Execute() {
  try {
    execute_();
  } catch (...) {
    error_ = std::current_exception();
    SetError("native error");
  }
}

void PromiseWorker::OnOK() {
  Napi::Env env = Env();
  try {
    deferred_.Resolve(finish_ ? finish_(env) : env.Undefined());
  } catch (...) {
    reject(env, std::current_exception());
  }
  keep_.clear();
}

void PromiseWorker::OnError(const Napi::Error&) {
  reject(Env(), error_);
  keep_.clear();
}

// When even rejecting fails, the environment is shutting down (the process or
// worker is exiting while the work finished): nobody is left to tell, and an
// exception escaping here would abort the process.
void PromiseWorker::reject(Napi::Env env, std::exception_ptr error) noexcept {
  try {
    deferred_.Reject(make_error(env, error).Value());
  } catch (...) {
  }
}

}  // namespace fastrec::napi

namespace fastrec::napi {

const napi_type_tag* handle_tag(HandleKind kind) {
  // Random 128-bit values, one per kind (0x6661737472656300 is "fastrec\0").
  static const napi_type_tag tags[] = {
      {0x6661737472656300, 0x9b1d4e2a7c35f801},  // Hnsw
      {0x6661737472656300, 0x4f0a93c6e2d17b02},  // NormOrder
      {0x6661737472656300, 0xd37e5a1b08c94f03},  // FlatIndex
      {0x6661737472656300, 0x21c8f6b4a95e0d04},  // StringIndex
      {0x6661737472656300, 0x7e3b0c59d2a61f05},  // AlsFoldIn
  };
  return &tags[static_cast<int>(kind)];
}

void* handle_data(const Napi::Value& v, HandleKind kind, const char* message) {
  if (!v.IsExternal()) throw Error(ErrorCode::InvalidArgument, message);
  auto ext = v.As<Napi::External<void>>();
  if (!ext.CheckTypeTag(handle_tag(kind))) throw Error(ErrorCode::InvalidArgument, message);
  return ext.Data();
}

const std::shared_ptr<NormOrder>& order_arg(const Napi::Value& v) {
  static const std::shared_ptr<NormOrder> none;
  if (v.IsNull() || v.IsUndefined()) return none;
  return handle_arg<std::shared_ptr<NormOrder>>(v, HandleKind::NormOrder, "order: expected a handle from normOrder");
}

Progress::Progress(Napi::Env env, Napi::Value callback) {
  if (!callback.IsFunction()) return;
  tsfn_ = Napi::ThreadSafeFunction::New(env, callback.As<Napi::Function>(), "fastrec-progress", 0, 1);
  tsfn_.Unref(env);  // progress alone must not keep the process alive
  active_ = true;
}

Progress::~Progress() {
  if (active_) tsfn_.Release();
}

void Progress::post(Build build) {
  if (!active_) return;
  auto* payload = new Build(std::move(build));
  napi_status status = tsfn_.NonBlockingCall(payload, [](Napi::Env env, Napi::Function fn, Build* b) {
    try {
      fn.Call({(*b)(env)});
    } catch (...) {
      // A throwing progress callback must not take the worker down; ignore it.
    }
    delete b;
  });
  if (status != napi_ok) delete payload;
}

}  // namespace fastrec::napi

namespace fastrec::napi {

CsrView csr_arg(const Napi::Value& v, const char* name) {
  if (!v.IsObject()) throw Error(ErrorCode::InvalidArgument, std::string(name) + ": expected a CSR matrix object");
  Napi::Object o = v.As<Napi::Object>();
  CsrView m;
  m.rows = integer(o.Get("rows"), "rows");
  m.cols = integer(o.Get("cols"), "cols");
  auto indptr = typed<int64_t>(o.Get("indptr"), "indptr");
  auto indices = typed<int32_t>(o.Get("indices"), "indices");
  auto data = typed<float>(o.Get("data"), "data");
  if (m.rows < 0 || m.cols < 0 || indptr.length != static_cast<size_t>(m.rows) + 1)
    throw Error(ErrorCode::DimensionMismatch, std::string(name) + ": indptr must have rows + 1 entries");
  int64_t nnz = indptr.data[m.rows];
  if (nnz < 0 || indices.length != static_cast<size_t>(nnz) || data.length != static_cast<size_t>(nnz))
    throw Error(ErrorCode::DimensionMismatch, std::string(name) + ": indices and data must have indptr[rows] entries");
  m.indptr = indptr.data;
  m.indices = indices.data;
  m.data = data.data;
  return m;
}

Napi::Object neighbors_to_js(Napi::Env env, const std::vector<uint32_t>& labels, const std::vector<float>& distances,
                             size_t n) {
  auto l = Napi::Int32Array::New(env, n);
  auto d = Napi::Float32Array::New(env, n);
  if (n) {
    std::memcpy(l.Data(), labels.data(), n * sizeof(int32_t));
    std::memcpy(d.Data(), distances.data(), n * sizeof(float));
  }
  Napi::Object o = Napi::Object::New(env);
  o.Set("labels", l);
  o.Set("distances", d);
  return o;
}

Napi::Object csr_to_js(Napi::Env env, CsrMatrix&& m) {
  Napi::Object o = Napi::Object::New(env);
  o.Set("rows", Napi::Number::New(env, static_cast<double>(m.rows)));
  o.Set("cols", Napi::Number::New(env, static_cast<double>(m.cols)));
  o.Set("indptr", to_js(env, std::move(m.indptr)));
  o.Set("indices", to_js(env, std::move(m.indices)));
  o.Set("data", to_js(env, std::move(m.data)));
  return o;
}

}  // namespace fastrec::napi

namespace fastrec::napi {

std::shared_ptr<CancelToken> cancel_arg(const Napi::Value& v) {
  auto token = std::make_shared<CancelToken>();
  if (v.IsNull() || v.IsUndefined()) return token;
  auto flag = typed<int32_t>(v, "cancelFlag");
  if (flag.length < 1) throw Error(ErrorCode::InvalidArgument, "cancelFlag: expected an Int32Array of length 1");
  token->external = flag.data;
  return token;
}

}  // namespace fastrec::napi
