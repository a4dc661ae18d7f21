#include <algorithm>
#include <random>

#include "common/topk.hpp"
#include "test.hpp"

using namespace fastrec;

TEST_CASE(topk_matches_full_sort) {
  std::mt19937 rng(42);
  for (size_t n : {0u, 1u, 5u, 100u, 1000u}) {
    for (size_t k : {0u, 1u, 3u, 10u, 2000u}) {
      std::vector<ScoredId> all;
      TopK top(k);
      for (size_t i = 0; i < n; ++i) {
        float s = static_cast<float>(rng() % 50);  // many ties
        all.push_back({s, static_cast<int32_t>(i)});
      }
      std::shuffle(all.begin(), all.end(), rng);
      for (auto& x : all) top.push(x.score, x.id);
      std::sort(all.begin(), all.end(), ranks_before);
      auto got = top.take_sorted();
      CHECK(got.size() == std::min(n, k));
      for (size_t i = 0; i < got.size(); ++i) {
        CHECK(got[i].id == all[i].id);
        CHECK(got[i].score == all[i].score);
      }
    }
  }
}

TEST_CASE(topk_ignores_nan) {
  TopK top(2);
  top.push(__builtin_nanf(""), 0);
  top.push(1.0f, 1);
  auto got = top.take_sorted();
  CHECK(got.size() == 1 && got[0].id == 1);
}
