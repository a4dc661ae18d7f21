// Module entry: calls every engine's registered init function, and exports
// facts about the build (SIMD level, threads, CUDA).
#include <napi.h>

#include "binding.hpp"
#include "common/simd.hpp"
#include "common/thread_pool.hpp"

namespace fastrec::napi {
namespace {

bool cuda_compiled() {
#ifdef FASTREC_HAVE_CUDA
  return true;
#else
  return false;
#endif
}

void init_info(Napi::Env env, Napi::Object exports) {
  export_fn(env, exports, "simdLevel", [](const Napi::CallbackInfo& info) -> Napi::Value {
    return Napi::String::New(info.Env(), simd::kernels().name);
  });
  export_fn(env, exports, "simdLevels", [](const Napi::CallbackInfo& info) -> Napi::Value {
    auto levels = simd::available_levels();
    Napi::Array out = Napi::Array::New(info.Env(), levels.size());
    for (size_t i = 0; i < levels.size(); ++i) out.Set(i, levels[i]);
    return out;
  });
  export_fn(env, exports, "hardwareThreads", [](const Napi::CallbackInfo& info) -> Napi::Value {
    return Napi::Number::New(info.Env(), static_cast<double>(hardware_threads()));
  });
  export_fn(env, exports, "cudaCompiled", [](const Napi::CallbackInfo& info) -> Napi::Value {
    return Napi::Boolean::New(info.Env(), cuda_compiled());
  });
  // Test hook: proves native failures become typed JS errors, sync and async.
  export_fn(env, exports, "debugThrow", [](const Napi::CallbackInfo& info) -> Napi::Value {
    std::string kind = string(info[0], "kind");
    bool async = info.Length() > 1 && info[1].ToBoolean();
    auto fail = [kind] {
      if (kind == "bad_alloc") throw std::bad_alloc();
      if (kind == "std") throw std::runtime_error("boom");
      throw Error(ErrorCode::InvalidArgument, "debugThrow: " + kind);
    };
    if (!async) fail();
    return PromiseWorker::start(info.Env(), {}, fail, nullptr);
  });
}
FASTREC_REGISTER(init_info);

}  // namespace
}  // namespace fastrec::napi

static Napi::Object InitFastrec(Napi::Env env, Napi::Object exports) {
  for (fastrec::napi::InitFn fn : fastrec::napi::registry()) fn(env, exports);
  return exports;
}

NODE_API_MODULE(fastrec, InitFastrec)
