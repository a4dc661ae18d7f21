// Top-k selection: keep the k largest scores seen, in O(log k) per accepted item.
// Ties are broken by the smaller id, so results are deterministic whatever the
// order in which items are offered (threads, blocks).
#pragma once
#include <algorithm>
#include <cstdint>
#include <vector>

namespace fastrec {

struct ScoredId {
  float score;
  int32_t id;
};

// True when a ranks before b: higher score, then smaller id.
inline bool ranks_before(const ScoredId& a, const ScoredId& b) {
  return a.score > b.score || (a.score == b.score && a.id < b.id);
}

class TopK {
 public:
  explicit TopK(size_t k = 0) { reset(k); }

  void reset(size_t k) {
    k_ = k;
    heap_.clear();
    heap_.reserve(k);
  }

  size_t k() const { return k_; }
  size_t size() const { return heap_.size(); }

  // Score an item must beat to enter once the heap is full (cheap pre-check
  // for hot loops; equal scores still need push() for the id tie-break).
  float threshold() const { return heap_.size() < k_ ? -INFINITY_F : heap_.front().score; }

  void push(float score, int32_t id) {
    if (k_ == 0 || score != score) return;  // NaN scores never rank
    ScoredId item{score, id};
    if (heap_.size() < k_) {
      heap_.push_back(item);
      std::push_heap(heap_.begin(), heap_.end(), ranks_before);
    } else if (ranks_before(item, heap_.front())) {
      std::pop_heap(heap_.begin(), heap_.end(), ranks_before);
      heap_.back() = item;
      std::push_heap(heap_.begin(), heap_.end(), ranks_before);
    }
  }

  // The kept items, best first. Leaves the heap empty.
  std::vector<ScoredId> take_sorted() {
    std::sort(heap_.begin(), heap_.end(), ranks_before);
    std::vector<ScoredId> out;
    out.swap(heap_);
    heap_.reserve(k_);
    return out;
  }

  // Write best-first into ids/scores (length >= size()); returns the count.
  size_t write_sorted(int32_t* ids, float* scores) {
    std::sort(heap_.begin(), heap_.end(), ranks_before);
    size_t n = heap_.size();
    for (size_t i = 0; i < n; ++i) {
      ids[i] = heap_[i].id;
      if (scores) scores[i] = heap_[i].score;
    }
    heap_.clear();
    return n;
  }

 private:
  static constexpr float INFINITY_F = __builtin_huge_valf();
  size_t k_ = 0;
  // A heap whose front is the worst kept item (ranks_before as "less" makes the
  // front the item that ranks last).
  std::vector<ScoredId> heap_;
};

}  // namespace fastrec
