// The bulk path of lib/data/idmap.ts: string ids mapped to dense indices by a
// native hash table (StringIndex) that lives as long as its JS IdMap.
// Synchronous: it is one pass over the batch, and IdMap's API is synchronous.
#include "binding.hpp"
#include "data/string_index.hpp"

namespace fastrec::napi {
namespace {

StringIndex* index_arg(const Napi::Value& v) {
  return &handle_arg<StringIndex>(v, HandleKind::StringIndex, "index: expected a handle from stringIndexNew()");
}

// text (UTF-16 code units of every key, end to end) and lens must agree.
void check_text(const Array<uint16_t>& text, const Array<int32_t>& lens) {
  uint64_t total = 0;
  for (size_t k = 0; k < lens.length; ++k) {
    if (lens.data[k] < 0) throw Error(ErrorCode::InvalidArgument, "lens: expected lengths >= 0");
    total += static_cast<uint64_t>(lens.data[k]);
  }
  if (total != text.length)
    throw Error(ErrorCode::DimensionMismatch, "text has " + std::to_string(text.length) +
                                                  " code units but lens add up to " + std::to_string(total));
}

void init_idmap(Napi::Env env, Napi::Object exports) {
  export_fn(env, exports, "stringIndexNew", [](const Napi::CallbackInfo& info) -> Napi::Value {
    return make_handle(info.Env(), new StringIndex(), HandleKind::StringIndex);
  });

  // stringIndexIntern(index, text: Uint16Array, lens: Int32Array, nextIndex, out: Int32Array)
  //   -> Int32Array of the positions k whose key was new (in order)
  export_fn(env, exports, "stringIndexIntern", [](const Napi::CallbackInfo& info) -> Napi::Value {
    StringIndex* index = index_arg(info[0]);
    auto text = typed<uint16_t>(info[1], "text");
    auto lens = typed<int32_t>(info[2], "lens");
    int64_t next = integer(info[3], "nextIndex");
    auto out = typed<int32_t>(info[4], "out");
    check_text(text, lens);
    if (out.length != lens.length) throw Error(ErrorCode::DimensionMismatch, "out must have one entry per key");
    if (next < 0 || next + static_cast<int64_t>(lens.length) > INT32_MAX)
      throw Error(ErrorCode::InvalidArgument, "nextIndex: more than 2^31 - 1 ids");
    std::vector<int32_t> first_seen;
    index->intern(reinterpret_cast<const char16_t*>(text.data), lens.data, lens.length, static_cast<int32_t>(next),
                  out.data, first_seen);
    return to_js(info.Env(), std::move(first_seen));
  });

  // stringIndexInsert(index, text: Uint16Array, lens: Int32Array, indices: Int32Array)
  export_fn(env, exports, "stringIndexInsert", [](const Napi::CallbackInfo& info) -> Napi::Value {
    StringIndex* index = index_arg(info[0]);
    auto text = typed<uint16_t>(info[1], "text");
    auto lens = typed<int32_t>(info[2], "lens");
    auto indices = typed<int32_t>(info[3], "indices");
    check_text(text, lens);
    if (indices.length != lens.length) throw Error(ErrorCode::DimensionMismatch, "indices must have one entry per key");
    index->insert(reinterpret_cast<const char16_t*>(text.data), lens.data, indices.data, lens.length);
    return info.Env().Undefined();
  });
}
FASTREC_REGISTER(init_idmap);

}  // namespace
}  // namespace fastrec::napi
