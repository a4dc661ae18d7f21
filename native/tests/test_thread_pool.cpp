#include <atomic>
#include <stdexcept>
#include <thread>

#include "common/thread_pool.hpp"
#include "test.hpp"

using namespace fastrec;

TEST_CASE(parallel_for_covers_every_index_once) {
  for (size_t threads : {1u, 2u, 4u}) {
    std::vector<std::atomic<int>> hits(10007);
    parallel_for(hits.size(), 13, threads, [&](size_t b, size_t e, size_t slot) {
      CHECK(slot < threads);
      for (size_t i = b; i < e; ++i) hits[i]++;
    });
    for (auto& h : hits) CHECK(h.load() == 1);
  }
}

TEST_CASE(parallel_for_rethrows_and_stops) {
  std::atomic<size_t> done{0};
  CHECK_THROWS(parallel_for(1000000, 10, 2, [&](size_t b, size_t, size_t) {
    if (b == 500) throw std::runtime_error("boom");
    done++;
  }));
  CHECK(done.load() < 100000);
}

TEST_CASE(nested_parallel_for_runs_inline) {
  std::atomic<int> total{0};
  parallel_for(8, 1, 2, [&](size_t, size_t, size_t) {
    parallel_for(100, 1, 2, [&](size_t b, size_t e, size_t slot) {
      CHECK(slot == 0);
      total += static_cast<int>(e - b);
    });
  });
  CHECK(total.load() == 800);
}

TEST_CASE(concurrent_callers_share_the_pool) {
  std::atomic<long> sum{0};
  std::vector<std::thread> callers;
  for (int c = 0; c < 4; ++c)
    callers.emplace_back([&] {
      for (int rep = 0; rep < 20; ++rep)
        parallel_for(1000, 7, 2, [&](size_t b, size_t e, size_t) {
          for (size_t i = b; i < e; ++i) sum += static_cast<long>(i);
        });
    });
  for (auto& t : callers) t.join();
  CHECK(sum.load() == 4L * 20 * (999L * 1000 / 2));
}
