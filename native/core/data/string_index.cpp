#include "data/string_index.hpp"

#include <cstring>

#include "common/error.hpp"

namespace fastrec {
namespace {

// FNV-1a over the code units: cheap, and good enough for an open-addressing
// table whose slots also keep the full hash (so probes compare hashes first).
inline uint32_t fnv1a(const char16_t* s, size_t n) {
  uint32_t h = 2166136261u;
  for (size_t i = 0; i < n; ++i) {
    h ^= static_cast<uint32_t>(s[i]);
    h *= 16777619u;
  }
  return h ^ (h >> 15);
}

}  // namespace

void StringIndex::grow() {
  std::vector<Slot> old;
  old.swap(slots_);
  slots_.assign(old.empty() ? 1024 : old.size() * 2, Slot{});
  size_t mask = slots_.size() - 1;
  for (const Slot& s : old) {
    if (s.index < 0) continue;
    size_t p = s.hash & mask;
    while (slots_[p].index >= 0) p = (p + 1) & mask;
    slots_[p] = s;
  }
}

StringIndex::Slot& StringIndex::find(const char16_t* key, uint32_t len, uint32_t hash) {
  const size_t mask = slots_.size() - 1;
  for (size_t p = hash & mask;; p = (p + 1) & mask) {
    Slot& s = slots_[p];
    if (s.index < 0) return s;
    if (s.hash == hash && s.length == len && std::memcmp(arena_.data() + s.offset, key, len * sizeof(char16_t)) == 0)
      return s;
  }
}

void StringIndex::store(Slot& slot, const char16_t* key, uint32_t len, uint32_t hash, int32_t index) {
  if (arena_.size() + len > UINT32_MAX) throw_invalid("ids: more than 2^32 UTF-16 code units of distinct string ids");
  slot = Slot{hash, index, static_cast<uint32_t>(arena_.size()), len};
  arena_.insert(arena_.end(), key, key + len);
  if (++count_ * 2 > slots_.size()) grow();  // keep the table at most half full
}

int32_t StringIndex::intern(const char16_t* text, const int32_t* lens, size_t n, int32_t next_index, int32_t* out,
                            std::vector<int32_t>& first_seen) {
  if (slots_.empty()) grow();
  // Blocks of keys: hash them all and prefetch their home slots first, so the
  // cache misses of a block overlap instead of coming one after another.
  constexpr size_t kBlock = 16;
  uint32_t hashes[kBlock];
  const char16_t* key = text;
  for (size_t b = 0; b < n; b += kBlock) {
    const size_t e = b + kBlock < n ? b + kBlock : n;
    const char16_t* k0 = key;
    for (size_t k = b; k < e; key += lens[k], ++k) {
      hashes[k - b] = fnv1a(key, static_cast<uint32_t>(lens[k]));
      __builtin_prefetch(&slots_[hashes[k - b] & (slots_.size() - 1)]);
    }
    key = k0;
    for (size_t k = b; k < e; key += lens[k], ++k) {
      const uint32_t len = static_cast<uint32_t>(lens[k]);
      const uint32_t h = hashes[k - b];
      Slot& s = find(key, len, h);
      if (s.index >= 0) {
        out[k] = s.index;
        continue;
      }
      out[k] = next_index;
      first_seen.push_back(static_cast<int32_t>(k));
      store(s, key, len, h, next_index++);
    }
  }
  return next_index;
}

void StringIndex::insert(const char16_t* text, const int32_t* lens, const int32_t* indices, size_t n) {
  if (slots_.empty()) grow();
  const char16_t* key = text;
  for (size_t k = 0; k < n; key += lens[k], ++k) {
    const uint32_t len = static_cast<uint32_t>(lens[k]);
    const uint32_t h = fnv1a(key, len);
    Slot& s = find(key, len, h);
    if (s.index < 0) store(s, key, len, h, indices[k]);
  }
}

}  // namespace fastrec
