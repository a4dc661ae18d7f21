// An AbortSignal (or null/undefined) as a CancelToken that native work polls.
// Called on the JS thread; an already aborted signal gives a cancelled token.
#pragma once
#include <memory>

#include "binding.hpp"

namespace fastrec::napi {

inline std::shared_ptr<CancelToken> cancel_from_signal(Napi::Env env, const Napi::Value& signal) {
  auto token = std::make_shared<CancelToken>();
  if (!signal.IsObject()) return token;
  Napi::Object s = signal.As<Napi::Object>();
  if (s.Get("aborted").ToBoolean().Value()) {
    token->cancel();
    return token;
  }
  Napi::Value add = s.Get("addEventListener");
  if (!add.IsFunction()) return token;
  std::weak_ptr<CancelToken> weak = token;  // the signal may outlive the work
  Napi::Function on_abort = Napi::Function::New(env, [weak](const Napi::CallbackInfo&) {
    if (auto t = weak.lock()) t->cancel();
  });
  Napi::Object opts = Napi::Object::New(env);
  opts.Set("once", true);
  add.As<Napi::Function>().Call(s, {Napi::String::New(env, "abort"), on_abort, opts});
  return token;
}

}  // namespace fastrec::napi
