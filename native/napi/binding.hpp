// Shared helpers for the thin N-API layer. Engines add their exports in their
// own file with FASTREC_REGISTER(fn); addon.cpp calls every registered fn.
//
// Rules (see README "Native layer"):
//  - JavaScript validates arguments; C++ converts and trusts them, except for
//    checks that would otherwise read out of bounds.
//  - Every exported function goes through wrap(): C++ exceptions (including
//    std::bad_alloc) become JS errors with a `code`; nothing aborts the process.
//  - Typed arrays are read through their view (TypedArrayOf::Data() already
//    applies byteOffset). Inputs used by native threads are kept referenced.
#pragma once
#include <napi.h>

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "common/cancel.hpp"
#include "common/error.hpp"
#include "scoring/norm_scan.hpp"
#include "sparse/csr.hpp"

namespace fastrec::napi {

using InitFn = void (*)(Napi::Env, Napi::Object);
struct Registrar {
  Registrar(InitFn fn);
};
std::vector<InitFn>& registry();

#define FASTREC_CONCAT2(a, b) a##b
#define FASTREC_CONCAT(a, b) FASTREC_CONCAT2(a, b)
#define FASTREC_REGISTER(fn) static ::fastrec::napi::Registrar FASTREC_CONCAT(fastrec_registrar_, __LINE__)(fn)

// A JS Error carrying a fastrec error code (lib/errors.ts turns it into the typed class).
Napi::Error make_error(Napi::Env env, const std::string& code, const std::string& message);
Napi::Error make_error(Napi::Env env, std::exception_ptr error);

using Handler = Napi::Value (*)(const Napi::CallbackInfo&);
// Export `fn` as `name`, with C++ exceptions converted to JS errors.
void export_fn(Napi::Env env, Napi::Object exports, const char* name, std::function<Napi::Value(const Napi::CallbackInfo&)> fn);

// ---- argument access (JS has validated types; these only convert) ----
template <typename T>
struct Array {
  T* data = nullptr;
  size_t length = 0;
};
template <typename T> napi_typedarray_type typed_array_type();
template <> inline napi_typedarray_type typed_array_type<float>() { return napi_float32_array; }
template <> inline napi_typedarray_type typed_array_type<double>() { return napi_float64_array; }
template <> inline napi_typedarray_type typed_array_type<int32_t>() { return napi_int32_array; }
template <> inline napi_typedarray_type typed_array_type<uint32_t>() { return napi_uint32_array; }
template <> inline napi_typedarray_type typed_array_type<uint8_t>() { return napi_uint8_array; }
template <> inline napi_typedarray_type typed_array_type<int64_t>() { return napi_bigint64_array; }
template <> inline napi_typedarray_type typed_array_type<uint16_t>() { return napi_uint16_array; }

template <typename T>
Array<T> typed(const Napi::Value& v, const char* name) {
  if (!v.IsTypedArray()) throw Error(ErrorCode::InvalidArgument, std::string(name) + ": expected a typed array");
  auto arr = v.As<Napi::TypedArrayOf<T>>();
  if (arr.TypedArrayType() != typed_array_type<T>())
    throw Error(ErrorCode::InvalidArgument, std::string(name) + ": wrong typed array element type");
  return {arr.Data(), arr.ElementLength()};
}
double number(const Napi::Value& v, const char* name);
int64_t integer(const Napi::Value& v, const char* name);
bool boolean(const Napi::Value& v, const char* name);
std::string string(const Napi::Value& v, const char* name);
Napi::Value prop(const Napi::Object& o, const char* key);

// A new JS typed array that takes ownership of a std::vector without copying.
template <typename T>
Napi::TypedArrayOf<T> to_js(Napi::Env env, std::vector<T>&& v) {
  auto* owned = new std::vector<T>(std::move(v));
  if (owned->empty()) owned->reserve(1);  // a valid, non-null pointer even when empty
  size_t bytes = owned->size() * sizeof(T);
  auto buffer = Napi::ArrayBuffer::New(env, owned->data(), bytes,
                                       [](Napi::Env, void*, std::vector<T>* p) { delete p; }, owned);
  return Napi::TypedArrayOf<T>::New(env, owned->size(), buffer, 0);
}

// A CSR matrix object from JS ({ rows, cols, indptr, indices, data }) as a
// view; checks array lengths (not the full structure, which lib/ validated when
// it built the matrix). Append the object to a worker's `keep` list.
CsrView csr_arg(const Napi::Value& v, const char* name);
Napi::Object csr_to_js(Napi::Env env, CsrMatrix&& m);

// The first n results of one nearest-neighbour query as { labels: Int32Array, distances: Float32Array }.
// Copied into V8-owned arrays: cheaper than external buffers with finalizers, which a search per
// millisecond would pile up.
Napi::Object neighbors_to_js(Napi::Env env, const std::vector<uint32_t>& labels, const std::vector<float>& distances,
                             size_t n);

// A cancellation token watching an optional Int32Array(1) flag from JS
// (lib/native.ts cancelFlag(signal)); null/undefined gives a token that is
// never cancelled. Keep the flag's value alive in the worker's `keep` list.
std::shared_ptr<CancelToken> cancel_arg(const Napi::Value& v);

// Long work off the JS thread, returned as a Promise.
//
// `execute` runs on a libuv worker thread and must not touch JS; `finish` runs
// on the JS thread to build the result. `keep` holds JS values (input typed
// arrays) alive until the work is done.
class PromiseWorker : public Napi::AsyncWorker {
 public:
  using ExecuteFn = std::function<void()>;
  using FinishFn = std::function<Napi::Value(Napi::Env)>;
  static Napi::Promise start(Napi::Env env, std::vector<Napi::Value> keep, ExecuteFn execute, FinishFn finish,
                             std::shared_ptr<CancelToken> cancel = nullptr);

 private:
  PromiseWorker(Napi::Env env, ExecuteFn execute, FinishFn finish);
  void Execute() override;
  void OnOK() override;
  void OnError(const Napi::Error& e) override;
  void reject(Napi::Env env, std::exception_ptr error) noexcept;
  Napi::Promise::Deferred deferred_;
  std::vector<Napi::ObjectReference> keep_;
  std::function<void()> execute_;
  FinishFn finish_;
  std::exception_ptr error_;
  std::shared_ptr<CancelToken> cancel_;
};

// Native objects handed to JS as Externals ("handles"). Each kind carries its
// own Node-API type tag, so a handle of another kind (or any other value)
// passed where one is expected is an InvalidArgument error, never a cast of
// the pointer to the wrong type.
enum class HandleKind { Hnsw, NormOrder, FlatIndex, StringIndex, AlsFoldIn };
const napi_type_tag* handle_tag(HandleKind kind);

// A new handle owning `p` (deleted when JS collects the handle).
template <typename T>
Napi::Value make_handle(Napi::Env env, T* p, HandleKind kind) {
  auto ext = Napi::External<T>::New(env, p, [](Napi::Env, T* q) { delete q; });
  ext.TypeTag(handle_tag(kind));
  return ext;
}

// The object behind the handle of this kind at `v`; otherwise InvalidArgument with `message`.
void* handle_data(const Napi::Value& v, HandleKind kind, const char* message);
template <typename T>
T& handle_arg(const Napi::Value& v, HandleKind kind, const char* message) {
  return *static_cast<T*>(handle_data(v, kind, message));
}

// normOrder's handle (scoring/norm_scan.hpp) at `v`, or an empty pointer when v
// is null or undefined. A reference (no atomic copy on the per-request path);
// work on native threads copies it.
const std::shared_ptr<NormOrder>& order_arg(const Napi::Value& v);

// Progress reports from worker threads to a JS callback (may be undefined).
// post() never blocks; reports arriving after the JS callback is gone are dropped.
class Progress {
 public:
  using Build = std::function<Napi::Value(Napi::Env)>;
  Progress(Napi::Env env, Napi::Value callback);
  ~Progress();
  bool active() const { return active_; }
  void post(Build build);

 private:
  Napi::ThreadSafeFunction tsfn_;
  bool active_ = false;
};

}  // namespace fastrec::napi
