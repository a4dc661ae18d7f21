// StringIndex against a std::map reference: first-seen numbering, repeats,
// empty and non-ASCII keys, growth past many table sizes, and catch-up inserts.
#include <map>
#include <random>
#include <string>

#include "data/string_index.hpp"
#include "test.hpp"

using namespace fastrec;

namespace {

struct Batch {
  std::u16string text;
  std::vector<int32_t> lens;
  void add(const std::u16string& key) {
    text += key;
    lens.push_back(static_cast<int32_t>(key.size()));
  }
};

}  // namespace

TEST_CASE(string_index_matches_map_reference) {
  std::mt19937 rng(3);
  StringIndex index;
  std::map<std::u16string, int32_t> ref;
  int32_t next = 5;  // numbering may start anywhere (the JS map can hold number ids too)
  for (int round = 0; round < 4; ++round) {
    Batch b;
    std::vector<std::u16string> keys;
    for (int i = 0; i < 30000; ++i) {
      uint32_t r = rng() % (round == 0 ? 100 : 20000);
      std::u16string key = u"id-" + std::u16string(1, static_cast<char16_t>(u'a' + r % 26));
      for (uint32_t x = r; x; x /= 7) key += static_cast<char16_t>(u'0' + x % 7);
      if (r % 97 == 0) key = u"";           // the empty string is an id too
      if (r % 89 == 0) key += u"\u00e9\u4e2d";  // non-ASCII code units
      keys.push_back(key);
      b.add(key);
    }
    std::vector<int32_t> out(keys.size()), first_seen;
    int32_t after = index.intern(b.text.data(), b.lens.data(), keys.size(), next, out.data(), first_seen);
    size_t fresh = 0;
    for (size_t k = 0; k < keys.size(); ++k) {
      auto it = ref.find(keys[k]);
      if (it == ref.end()) {
        CHECK(fresh < first_seen.size() && first_seen[fresh] == static_cast<int32_t>(k));
        ++fresh;
        it = ref.emplace(keys[k], next++).first;
      }
      CHECK(out[k] == it->second);
    }
    CHECK(fresh == first_seen.size());
    CHECK(after == next);
    CHECK(index.size() == ref.size());
  }
}

TEST_CASE(string_index_insert_catches_up) {
  StringIndex index;
  Batch known;
  known.add(u"alice");
  known.add(u"bob");
  std::vector<int32_t> given = {3, 7};  // indices the JS map gave them (0-2 and 4-6 are number ids)
  index.insert(known.text.data(), known.lens.data(), given.data(), 2);
  Batch b;
  b.add(u"bob");
  b.add(u"carol");
  b.add(u"alice");
  b.add(u"carol");
  std::vector<int32_t> out(4), first_seen;
  CHECK(index.intern(b.text.data(), b.lens.data(), 4, 8, out.data(), first_seen) == 9);
  CHECK(out == (std::vector<int32_t>{7, 8, 3, 8}));
  CHECK(first_seen == (std::vector<int32_t>{1}));
}
