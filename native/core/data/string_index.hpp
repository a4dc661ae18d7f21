// StringIndex: dense indices for string ids, the native side of a JS IdMap's
// bulk path. Keys are UTF-16 code units (what a JS string is), stored once in
// an arena; lookups hash the key (FNV-1a) and probe an open-addressing table.
#pragma once
#include <cstddef>
#include <cstdint>
#include <vector>

namespace fastrec {

class StringIndex {
 public:
  // For each of `n` keys, laid end to end in `text` with lengths `lens`, write
  // its index to `out`. A key not seen before gets the next index, counting on
  // from `next_index` (the JS map may also hold non-string ids, so the caller
  // says where numbering stands); its position k is appended to `first_seen`.
  // Returns the index after the last one given out.
  int32_t intern(const char16_t* text, const int32_t* lens, size_t n, int32_t next_index, int32_t* out,
                 std::vector<int32_t>& first_seen);

  // Store keys known to be new with the indices they already have (to catch
  // up with ids the JS map added one at a time).
  void insert(const char16_t* text, const int32_t* lens, const int32_t* indices, size_t n);

  // Number of keys stored.
  size_t size() const { return count_; }

 private:
  struct Slot {  // 16 bytes: four slots per cache line
    uint32_t hash = 0;
    int32_t index = -1;   // -1: empty
    uint32_t offset = 0;  // key start in arena_ (the arena holds at most 2^32 code units)
    uint32_t length = 0;
  };
  void grow();
  // The slot holding `key`, or the empty slot where it belongs.
  Slot& find(const char16_t* key, uint32_t len, uint32_t hash);
  void store(Slot& slot, const char16_t* key, uint32_t len, uint32_t hash, int32_t index);
  std::vector<Slot> slots_;     // power-of-two capacity, at most 1/2 full
  std::vector<char16_t> arena_; // every key's code units, end to end
  size_t count_ = 0;
};

}  // namespace fastrec
