#include "ann/hnsw.hpp"

#include <sys/mman.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <limits>
#include <new>

#include "common/thread_pool.hpp"
#include "common/topk.hpp"

namespace fastrec::ann {

namespace {
constexpr float kInf = std::numeric_limits<float>::infinity();
using Pair = std::pair<float, uint32_t>;  // (distance, slot)

uint64_t pack_entry(uint32_t slot, int level) { return (uint64_t(uint32_t(level)) << 32) | slot; }
uint32_t entry_slot(uint64_t e) { return uint32_t(e); }
int entry_level(uint64_t e) { return int(uint32_t(e >> 32)); }

// Search heaps hold one integer per entry: the distance's bits mapped to an
// unsigned order (negative floats flipped) in the high half, the slot in the
// low half. Integer compares are cheaper than comparing (float, id) pairs.
inline uint64_t dist_key(float d, uint32_t slot) {
  uint32_t b;
  std::memcpy(&b, &d, 4);
  b = (b & 0x80000000u) ? ~b : (b | 0x80000000u);
  return (uint64_t(b) << 32) | slot;
}
inline float key_dist(uint64_t key) {
  uint32_t o = uint32_t(key >> 32);
  uint32_t b = (o & 0x80000000u) ? (o & 0x7FFFFFFFu) : ~o;
  float d;
  std::memcpy(&d, &b, 4);
  return d;
}
inline uint32_t key_slot(uint64_t key) { return uint32_t(key); }

// The position of `key` in the sorted keys a[0..n) (the first larger one; keys
// are unique). Branch-free halving (a conditional move per step): a new
// candidate's place is unpredictable, and a branching binary search
// mispredicted about half its steps.
inline size_t insertion_point(const uint64_t* a, size_t n, uint64_t key) {
  const uint64_t* base = a;
  while (n > 1) {
    const size_t half = n / 2;
    base = base[half] < key ? base + half : base;
    n -= half;
  }
  return size_t(base - a) + (n == 1 && *base < key);
}

// splitmix64: a node's level is a function of (seed, slot) only, so builds are
// reproducible in the level structure whatever the thread count.
uint64_t mix(uint64_t x) {
  x += 0x9E3779B97F4A7C15ull;
  x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ull;
  x = (x ^ (x >> 27)) * 0x94D049BB133111EBull;
  return x ^ (x >> 31);
}
}  // namespace

// Visit marks with an epoch per search, so clearing is O(1) (a full clear only
// every 65535 searches).
struct Hnsw::Visited {
  std::vector<uint16_t> tag;
  uint16_t epoch = 0;
  void start(size_t n) {
    if (tag.size() < n) {
      tag.assign(n, 0);
      epoch = 0;
    }
    if (++epoch == 0) {
      std::fill(tag.begin(), tag.end(), 0);
      epoch = 1;
    }
  }
  bool test_and_set(uint32_t i) {
    if (tag[i] == epoch) return true;
    tag[i] = epoch;
    return false;
  }
};

struct Hnsw::Scratch {
  std::vector<uint64_t> C;  // search_layer's candidates: min-heap of dist_key, closest on top
  std::vector<uint64_t> R;  // search_layer's results: max-heap of dist_key, worst kept on top
                            // (search_level0_pool: the results sorted, closest first)
  std::vector<uint8_t> expanded;  // search_level0_pool: entry i of R has been expanded
  std::vector<Pair> cand;   // connect(): a full list's candidates
  std::vector<Pair> work;
  std::vector<std::vector<Pair>> per_level;
  std::vector<uint32_t> chosen;
  std::vector<float> fbuf, fbuf2;  // stored vectors widened to float (float16 / int8 storage)
  Visited* visited = nullptr;
};

Hnsw::Hnsw(const HnswParams& params, size_t initial_capacity) : params_(params) {
  if (params_.dim == 0 || params_.dim > 65535) throw_invalid("dim: expected an integer in [1, 65535]");
  if (params_.M < 2 || params_.M > 256) throw_invalid("M: expected an integer in [2, 256]");
  if (params_.ef_construction < 1) throw_invalid("efConstruction: expected a positive integer");
  if (params_.mips_transform && params_.metric != Metric::InnerProduct)
    throw_invalid("mipsTransform: only applies to metric 'ip'");
  M0_ = 2 * params_.M;
  if (M0_ > kCountMask) throw_invalid("M: too large");
  level_mult_ = 1.0 / std::log(double(params_.M));
  stored_dim_ = params_.dim + (params_.mips_transform ? 1 : 0);
  vec_offset_ = sizeof(uint32_t) * (1 + M0_);
  size_t vector_bytes = 0;
  switch (params_.storage) {
    case Storage::Float32: vector_bytes = sizeof(float) * stored_dim_; break;
    case Storage::Float16: vector_bytes = sizeof(uint16_t) * stored_dim_; break;
    case Storage::Int8: vector_bytes = int8_row_bytes(stored_dim_); break;
    default: throw_invalid("storage: expected 'float32', 'float16' or 'int8'");
  }
  block_bytes_ = (vec_offset_ + vector_bytes + 3) & ~size_t(3);  // keeps every block's links 4-byte aligned
  vec_bytes_ = std::min<size_t>(vector_bytes, 512);  // prefetch at most 8 lines per vector
  const auto& dk = distance_kernels();
  const bool l2 = params_.metric == Metric::L2 || params_.mips_transform;
  dist_ = l2 ? dk.l2 : dk.ip;
  dist_half_ = l2 ? dk.l2_f16 : dk.ip_f16;
  dist_i8_ = l2 ? dk.l2_i8 : dk.ip_i8;
  widen_f16_ = dk.widen_f16;
  widen_i8_ = dk.widen_i8;
  switch (params_.storage) {
    case Storage::Float16: batch_ = l2 ? dk.l2_f16_batch : dk.ip_f16_batch; break;
    case Storage::Int8: batch_ = l2 ? dk.l2_i8_batch : dk.ip_i8_batch; break;
    default: batch_ = l2 ? dk.l2_batch : dk.ip_batch;
  }
  phi_ = params_.max_norm;
  node_locks_.reset(new std::mutex[kLockStripes]);
  std::unique_lock<GrowLock> g(grow_mutex_);
  ensure_capacity(std::max<size_t>(initial_capacity, 16));
}

Hnsw::~Hnsw() {
  for (Visited* v : visited_pool_) delete v;
  if (level0_mapped_) {
    munmap(map_base_, map_bytes_);
  } else if (!level0_borrowed_.load()) {
    std::free(level0_);
  }
}

// Every search reads level-0 blocks at random, one or two 4 KiB pages per visited node: on
// 100,000 x 64 float16 items (26 MB) that is thousands of pages, more than the TLB holds, and
// under load (a server between searches) their page-table entries leave the caches too. With
// transparent huge pages in 'madvise' mode the blocks can sit on 2 MiB pages instead (13 TLB
// entries): ask for them on large allocations, aligned so that whole huge pages fit.
char* Hnsw::alloc_blocks(size_t bytes) {
  constexpr size_t kHuge = size_t(2) << 20;
  if (bytes >= kHuge) {
    const size_t rounded = (bytes + kHuge - 1) / kHuge * kHuge;
    if (void* p = std::aligned_alloc(kHuge, rounded)) {
#ifdef MADV_HUGEPAGE  // Linux only
      madvise(p, rounded, MADV_HUGEPAGE);  // advice only: without THP the pages stay 4 KiB
#endif
      return static_cast<char*>(p);
    }
  }
  return static_cast<char*>(std::malloc(std::max<size_t>(bytes, 1)));
}

void Hnsw::own_level0() {
  if (!level0_borrowed_.load()) return;
  char* owned = alloc_blocks(capacity_ * block_bytes_);
  if (!owned) throw std::bad_alloc();
  std::memcpy(owned, level0_, n_slots_.load() * block_bytes_);
  level0_ = owned;
  level0_borrowed_.store(false, std::memory_order_release);
}

size_t Hnsw::memory_bytes() const {
  std::shared_lock<GrowLock> g(grow_mutex_);
  std::lock_guard<std::mutex> lg(label_mutex_);
  size_t n = slots();
  return n * block_bytes_ + n * sizeof(uint32_t) * (identity_ ? 1 : 2) + pool_used_.load() * sizeof(uint32_t) +
         label_to_slot_.size() * sizeof(uint32_t);
}

uint32_t Hnsw::slot_of(uint32_t label) const {
  if (identity_) return label < n_slots_.load(std::memory_order_acquire) && !is_deleted(label) ? label : kNoSlot;
  return label < label_to_slot_.size() ? label_to_slot_[label] : kNoSlot;
}

void Hnsw::materialize_labels() {
  if (!identity_) return;
  const size_t n = n_slots_.load();
  labels_.assign(capacity_, kNoSlot);
  label_to_slot_.assign(n, kNoSlot);
  for (size_t s = 0; s < n; ++s) {
    labels_[s] = uint32_t(s);
    if (!is_deleted(uint32_t(s))) label_to_slot_[s] = uint32_t(s);
  }
  identity_ = false;
}

void Hnsw::ensure_capacity(size_t needed) {
  if (needed <= capacity_) return;
  size_t cap = std::max(needed, capacity_ + capacity_ / 2);
  if (cap > size_t(kNoSlot) - 1) throw_invalid("the index cannot hold more than 2^32 - 2 items");
  char* grown = alloc_blocks(cap * block_bytes_);
  if (!grown) throw std::bad_alloc();
  size_t used = n_slots_.load();
  if (used) std::memcpy(grown, level0_, used * block_bytes_);
  if (level0_mapped_) {
    munmap(map_base_, map_bytes_);
    level0_mapped_ = false;
    map_base_ = nullptr;
  } else if (level0_borrowed_.load()) {
    level0_borrowed_.store(false, std::memory_order_release);  // the caller's bytes: never freed here
  } else {
    std::free(level0_);
  }
  level0_ = grown;
  if (!identity_) labels_.resize(cap, kNoSlot);
  upper_.resize(cap, kNoSlot);
  capacity_ = cap;
}

void Hnsw::grow_labels(size_t label_bound) {
  if (label_to_slot_.size() < label_bound)
    label_to_slot_.resize(std::max(label_bound, label_to_slot_.size() + label_to_slot_.size() / 2), kNoSlot);
}

uint32_t Hnsw::draw_level(uint32_t slot) const {
  // Level = floor(-ln(U) * mL) with mL = 1 / ln(M) (the paper's normalization factor).
  double u = double((mix(params_.seed ^ (uint64_t(slot) * 0x2545F4914F6CDD1Dull)) >> 11) + 1) * 0x1.0p-53;
  double l = -std::log(u) * level_mult_;
  return uint32_t(std::min(l, 30.0));
}

void Hnsw::prepare_vector(const float* v, float* out) const {
  std::memcpy(out, v, params_.dim * sizeof(float));
  if (params_.metric == Metric::Cosine) normalize(out, params_.dim);
  if (params_.mips_transform) {
    double s = 0;
    for (size_t i = 0; i < params_.dim; ++i) s += double(v[i]) * v[i];
    double rest = double(phi_) * phi_ - s;
    out[params_.dim] = float(std::sqrt(std::max(rest, 0.0)));
  }
}

const float* Hnsw::prepare_query(const float* q, float* buf) const {
  if (params_.metric == Metric::L2 && !params_.mips_transform) return q;
  std::memcpy(buf, q, params_.dim * sizeof(float));
  if (params_.metric == Metric::Cosine) normalize(buf, params_.dim);
  if (params_.mips_transform) buf[params_.dim] = 0.0f;
  return buf;
}

const float* Hnsw::as_float(uint32_t slot, float* buf) const {
  switch (params_.storage) {
    case Storage::Float16: widen_f16_(reinterpret_cast<const uint16_t*>(vec(slot)), buf, stored_dim_); return buf;
    case Storage::Int8: widen_i8_(vec(slot), buf, stored_dim_); return buf;
    default: return reinterpret_cast<const float*>(vec(slot));
  }
}

void Hnsw::store_vector(uint32_t slot, const float* prepared) {
  switch (params_.storage) {
    case Storage::Float16: {
      uint16_t* h = reinterpret_cast<uint16_t*>(vec(slot));
      for (size_t i = 0; i < stored_dim_; ++i) h[i] = float_to_half(prepared[i]);
      return;
    }
    case Storage::Int8: quantize_int8(prepared, stored_dim_, vec(slot)); return;
    default: std::memcpy(vec(slot), prepared, stored_dim_ * sizeof(float));
  }
}

Storage storage_of(const std::string& s) {
  if (s == "float32") return Storage::Float32;
  if (s == "float16") return Storage::Float16;
  if (s == "int8") return Storage::Int8;
  throw_invalid("storage: expected 'float32', 'float16' or 'int8' but received '" + s + "'");
}

const char* storage_name(Storage s) {
  switch (s) {
    case Storage::Float32: return "float32";
    case Storage::Float16: return "float16";
    case Storage::Int8: return "int8";
  }
  return "?";
}

std::unique_ptr<Hnsw> Hnsw::with_storage(Storage storage) const {
  std::unique_lock<GrowLock> g(grow_mutex_);  // exclusive: no add is linking nodes while the lists are copied
  std::lock_guard<std::mutex> lg(label_mutex_);
  HnswParams p = params_;
  p.storage = storage;
  p.max_norm = phi_;
  const size_t n = n_slots_.load();
  auto out = std::make_unique<Hnsw>(p, std::max<size_t>(n, 16));
  // Level-0 lists as they are, vectors re-stored from this index's stored form
  // (already normalized / transformed: store_vector takes the prepared vector).
  std::vector<float> buf(stored_dim_);
  for (size_t s = 0; s < n; ++s) {
    std::memcpy(out->block(uint32_t(s)), block(uint32_t(s)), vec_offset_);
    out->store_vector(uint32_t(s), as_float(uint32_t(s), buf.data()));
  }
  out->identity_ = identity_;
  if (!identity_) {
    out->labels_ = labels_;
    out->labels_.resize(out->capacity_, kNoSlot);
  }
  std::copy(upper_.begin(), upper_.begin() + ptrdiff_t(n), out->upper_.begin());
  out->pool_ = pool_;
  out->pool_used_.store(pool_used_.load());
  out->label_to_slot_ = label_to_slot_;
  out->free_slots_ = free_slots_;
  out->phi_ = phi_;
  out->live_.store(live_.load());
  out->n_slots_.store(n);
  out->entry_.store(entry_.load());
  return out;
}

// ---- adding -------------------------------------------------------------------

void Hnsw::add(const float* vectors, const uint32_t* labels, size_t n, size_t threads, const CancelToken* cancel,
               const std::function<void(size_t)>& progress) {
  if (n == 0) return;
  uint32_t max_label = 0;
  for (size_t i = 0; i < n; ++i) {
    if (labels[i] >= 0x80000000u) throw_invalid("labels: expected integers in [0, 2^31)");
    max_label = std::max(max_label, labels[i]);
  }
  for (size_t i = 0; i < n * params_.dim; ++i)
    if (!std::isfinite(vectors[i])) throw_invalid("vectors: expected finite numbers but found NaN or Infinity");

  std::vector<uint32_t> slots(n);
  {
    // Phase 1 (exclusive, single-threaded, cheap): assign slots, write vectors,
    // labels and levels. Nothing is linked yet, so concurrent searches (which
    // wait here) never see a half-written node.
    std::unique_lock<GrowLock> g(grow_mutex_);
    std::lock_guard<std::mutex> lg(label_mutex_);
    own_level0();
    if (params_.mips_transform) {
      float max_sq = 0;
      for (size_t i = 0; i < n; ++i) {
        double s = 0;
        for (size_t j = 0; j < params_.dim; ++j) s += double(vectors[i * params_.dim + j]) * vectors[i * params_.dim + j];
        max_sq = std::max(max_sq, float(s));
      }
      if (phi_ == 0 && n_slots_.load() == 0) phi_ = std::sqrt(max_sq);
      if (std::sqrt(max_sq) > phi_ * (1 + 1e-6f))
        throw_invalid("vectors: a vector's norm " + std::to_string(std::sqrt(max_sq)) +
                      " exceeds maxNorm " + std::to_string(phi_) +
                      " fixed by the first build (set maxNorm higher when creating the index)");
    }
    // A batch of fresh labels equal to the slots they get keeps identity mode.
    bool keeps_identity = identity_ && free_slots_.empty();
    for (size_t i = 0; i < n && keeps_identity; ++i) keeps_identity = labels[i] == n_slots_.load() + i;
    if (!keeps_identity) {
      materialize_labels();
      grow_labels(size_t(max_label) + 1);
    }
    // Replaced labels: the old slot is deleted (and becomes reusable).
    for (size_t i = 0; i < n && !identity_; ++i) {
      uint32_t old = label_to_slot_[labels[i]];
      if (old != kNoSlot) {
        uint32_t* h = links0(old);
        __atomic_store_n(h, __atomic_load_n(h, __ATOMIC_RELAXED) | kDeletedBit, __ATOMIC_RELEASE);
        label_to_slot_[labels[i]] = kNoSlot;
        free_slots_.push_back(old);
        live_.fetch_sub(1);
      }
    }
    size_t reuse = std::min(free_slots_.size(), n);
    size_t fresh = n - reuse;
    size_t first = n_slots_.load();
    ensure_capacity(first + fresh);
    // Pool space for the fresh nodes' upper levels.
    std::vector<uint32_t> levels(n);
    std::vector<float> prepared(stored_dim_);
    size_t pool_need = 0;
    for (size_t i = reuse; i < n; ++i) {
      uint32_t slot = uint32_t(first + (i - reuse));
      levels[i] = draw_level(slot);
      if (levels[i] > 0) pool_need += 1 + levels[i] * (params_.M + 1);
    }
    if (pool_used_.load() + pool_need > pool_.size())
      pool_.resize(std::max(pool_used_.load() + pool_need, pool_.size() + pool_.size() / 2), 0);
    for (size_t i = 0; i < n; ++i) {
      uint32_t slot;
      if (i < reuse) {
        slot = free_slots_.back();
        free_slots_.pop_back();
      } else {
        slot = uint32_t(first + (i - reuse));
        uint32_t L = levels[i];
        if (L > 0) {
          size_t off = pool_used_.load();
          pool_[off] = L;
          std::fill(pool_.begin() + off + 1, pool_.begin() + off + 1 + L * (params_.M + 1), 0u);
          upper_[slot] = uint32_t(off);
          pool_used_.store(off + 1 + L * (params_.M + 1));
        } else {
          upper_[slot] = kNoSlot;
        }
        links0(slot)[0] = 0;
      }
      // A reused slot keeps its old lists and level until insert() rewrites
      // them; it is a valid routing node meanwhile.
      prepare_vector(vectors + i * params_.dim, prepared.data());
      store_vector(slot, prepared.data());
      uint32_t* h = links0(slot);
      __atomic_store_n(h, __atomic_load_n(h, __ATOMIC_RELAXED) & ~kDeletedBit, __ATOMIC_RELEASE);
      if (!identity_) {
        labels_[slot] = labels[i];
        uint32_t prev = label_to_slot_[labels[i]];
        if (prev != kNoSlot) {  // the same label twice in one batch: the later row wins
          uint32_t* ph = links0(prev);
          __atomic_store_n(ph, __atomic_load_n(ph, __ATOMIC_RELAXED) | kDeletedBit, __ATOMIC_RELEASE);
          free_slots_.push_back(prev);
          live_.fetch_sub(1);
        }
        label_to_slot_[labels[i]] = slot;
      }
      slots[i] = slot;
      live_.fetch_add(1);
    }
    n_slots_.store(first + fresh, std::memory_order_release);
  }

  // Phase 2 (shared, parallel): link each node into the graph.
  std::shared_lock<GrowLock> g(grow_mutex_);
  std::atomic<size_t> done{0};
  size_t nthreads = resolve_threads(threads);
  parallel_for(n, 64, nthreads, [&](size_t begin, size_t end, size_t) {
    Scratch s;
    s.visited = acquire_visited();
    try {
      for (size_t i = begin; i < end; ++i) {
        if (cancel) cancel->throw_if_cancelled();
        insert(slots[i], level_of(slots[i]), s);
      }
    } catch (...) {
      release_visited(s.visited);
      throw;
    }
    release_visited(s.visited);
    size_t d = done.fetch_add(end - begin) + (end - begin);
    if (progress) progress(d);
  });
}

bool Hnsw::remove(uint32_t label) {
  if (level0_borrowed_.load(std::memory_order_acquire)) {
    std::unique_lock<GrowLock> g(grow_mutex_);
    own_level0();  // the delete flag lives in the block: never write the caller's bytes
  }
  std::shared_lock<GrowLock> g(grow_mutex_);
  std::lock_guard<std::mutex> lg(label_mutex_);
  uint32_t slot = slot_of(label);
  if (slot == kNoSlot) return false;
  {
    std::lock_guard<std::mutex> nl(lock_of(slot));
    uint32_t* h = links0(slot);
    __atomic_store_n(h, __atomic_load_n(h, __ATOMIC_RELAXED) | kDeletedBit, __ATOMIC_RELEASE);
  }
  if (!identity_) label_to_slot_[label] = kNoSlot;
  free_slots_.push_back(slot);
  live_.fetch_sub(1);
  return true;
}

bool Hnsw::contains(uint32_t label) const {
  std::shared_lock<GrowLock> g(grow_mutex_);
  std::lock_guard<std::mutex> lg(label_mutex_);
  return slot_of(label) != kNoSlot;
}

size_t Hnsw::label_end() const {
  std::shared_lock<GrowLock> g(grow_mutex_);
  std::lock_guard<std::mutex> lg(label_mutex_);
  size_t end = identity_ ? n_slots_.load() : label_to_slot_.size();
  while (end > 0 && slot_of(uint32_t(end - 1)) == kNoSlot) --end;
  return end;
}

bool Hnsw::get_vector(uint32_t label, float* out) const {
  std::shared_lock<GrowLock> g(grow_mutex_);
  std::lock_guard<std::mutex> lg(label_mutex_);
  uint32_t slot = slot_of(label);
  if (slot == kNoSlot) return false;
  std::vector<float> buf(stored_dim_);
  std::memcpy(out, as_float(slot, buf.data()), params_.dim * sizeof(float));
  return true;
}

uint32_t Hnsw::greedy_descend(const float* q, uint32_t ep, int from_level, int to_level, float* ep_dist) const {
  uint32_t cur = ep;
  float cur_d = *ep_dist;
  for (int l = from_level; l > to_level; --l) {
    bool changed = true;
    while (changed) {
      changed = false;
      const uint32_t* lk = links(cur, l);
      uint32_t cnt = std::min<uint32_t>(count_of(lk), uint32_t(params_.M));
      uint32_t ids[kMaxBatch];
      float dist[kMaxBatch];
      for (uint32_t j = 0; j < cnt; ++j) {
        ids[j] = __atomic_load_n(lk + 1 + j, __ATOMIC_RELAXED);
        prefetch_vector(ids[j]);
      }
      dist_batch(q, ids, cnt, dist);
      for (uint32_t j = 0; j < cnt; ++j) {
        if (dist[j] < cur_d) {
          cur_d = dist[j];
          cur = ids[j];
          changed = true;
        }
      }
    }
  }
  *ep_dist = cur_d;
  return cur;
}

// Algorithm 2 of the paper (SEARCH-LAYER) with hnswlib's rule for deleted or
// filtered nodes: they are walked through but not kept, and the walk does not
// stop early while fewer than ef results are kept.
void Hnsw::search_layer(const float* q, uint32_t entry, float entry_dist, size_t ef, int level, Scratch& s,
                        const SlotFilter* filter, bool collect_all) const {
  auto& C = s.C;
  auto& R = s.R;
  C.clear();
  R.clear();
  Visited& vis = *s.visited;
  vis.start(capacity_);
  const bool restricted = !collect_all;
  // Without deletions or a filter every node is kept: skip reading its header
  // (another cache line per candidate).
  const bool check_deleted = !collect_all && live_.load(std::memory_order_relaxed) != n_slots_.load(std::memory_order_relaxed);
  const bool check_filter = !collect_all && filter && filter->active;
  auto keep = [&](uint32_t id) {
    return (!check_deleted || !is_deleted(id)) && (!check_filter || filter->test(id));
  };
  const std::greater<uint64_t> closest_on_top;
  vis.test_and_set(entry);
  float bound = kInf;
  if (keep(entry)) {
    R.push_back(dist_key(entry_dist, entry));
    bound = entry_dist;
  }
  C.push_back(dist_key(entry_dist, entry));
  const uint32_t cap = level == 0 ? uint32_t(M0_) : uint32_t(params_.M);
  uint32_t fresh[kMaxBatch];
  float dist[kMaxBatch];
  while (!C.empty()) {
    const uint64_t top = C.front();
    if (key_dist(top) > bound && (R.size() >= ef || !restricted)) break;
    std::pop_heap(C.begin(), C.end(), closest_on_top);
    C.pop_back();
    // The next node to expand is probably the closest candidate left: fetch
    // its list while this one's neighbours are measured.
    if (!C.empty()) {
      const char* next = reinterpret_cast<const char*>(links(key_slot(C.front()), level));
      for (uint32_t off = 0; off < (cap + 1) * 4; off += 64) __builtin_prefetch(next + off);
    }
    const uint32_t* lk = links(key_slot(top), level);
    uint32_t cnt = std::min(count_of(lk), cap);
    // Gather the unvisited neighbours first and prefetch all their vectors,
    // then compute the distances in one batch: the memory fetches overlap
    // instead of arriving one neighbour at a time.
    uint32_t nf = 0;
    for (uint32_t j = 1; j <= cnt; ++j) {
      uint32_t id = __atomic_load_n(lk + j, __ATOMIC_RELAXED);
      if (vis.test_and_set(id)) continue;
      prefetch_vector(id);
      fresh[nf++] = id;
    }
    dist_batch(q, fresh, nf, dist);
    for (uint32_t j = 0; j < nf; ++j) {
      const uint32_t id = fresh[j];
      const float d = dist[j];
      if (R.size() < ef || d < bound) {
        const uint64_t key = dist_key(d, id);
        C.push_back(key);
        std::push_heap(C.begin(), C.end(), closest_on_top);
        if (keep(id)) {
          R.push_back(key);
          std::push_heap(R.begin(), R.end());
          if (R.size() > ef) {
            std::pop_heap(R.begin(), R.end());
            R.pop_back();
          }
          bound = key_dist(R.front());
        }
      }
    }
  }
}

// The unfiltered level-0 walk with nothing deleted (every search the service
// makes), with one array instead of two heaps: the ef closest nodes found so
// far, sorted, each flagged once expanded. The next node expanded is the
// closest unexpanded one and the walk ends when all are expanded. These are
// search_layer's expansions: there every node pushed is kept (no filter, no
// deletions), so a candidate still within the bound is one of the ef best, and
// one that fell out of them is never expanded (up to exact distance ties).
// Inserting costs a binary search and a move of at most ef keys, where the
// heaps paid a sift on each of them (a fifth of the search's time in a profile).
void Hnsw::search_level0_pool(const float* q, uint32_t entry, float entry_dist, size_t ef, Scratch& s) const {
  auto& P = s.R;
  auto& done = s.expanded;
  P.resize(ef);
  done.resize(ef);
  uint64_t* keys = P.data();
  uint8_t* flags = done.data();
  Visited& vis = *s.visited;
  vis.start(capacity_);
  vis.test_and_set(entry);
  keys[0] = dist_key(entry_dist, entry);
  flags[0] = 0;
  size_t size = 1;
  size_t cur = 0;  // the first unexpanded entry
  const uint32_t cap = uint32_t(M0_);
  uint32_t fresh[kMaxBatch];
  float dist[kMaxBatch];
  while (cur < size) {
    const uint32_t node = key_slot(keys[cur]);
    flags[cur] = 1;
    // The next node to expand is probably the next unexpanded entry: fetch its
    // list while this one's neighbours are measured.
    size_t next = cur + 1;
    while (next < size && flags[next]) ++next;
    if (next < size) {
      const char* nl = reinterpret_cast<const char*>(links0(key_slot(keys[next])));
      for (uint32_t off = 0; off < (cap + 1) * 4; off += 64) __builtin_prefetch(nl + off);
    }
    const uint32_t* lk = links0(node);
    const uint32_t cnt = std::min(count_of(lk), cap);
    uint32_t nf = 0;
    for (uint32_t j = 1; j <= cnt; ++j) {
      const uint32_t id = __atomic_load_n(lk + j, __ATOMIC_RELAXED);
      if (vis.test_and_set(id)) continue;
      prefetch_vector(id);
      fresh[nf++] = id;
    }
    dist_batch(q, fresh, nf, dist);
    size_t lowest = size;  // the first position written this round
    for (uint32_t j = 0; j < nf; ++j) {
      const float d = dist[j];
      if (size == ef && !(d < key_dist(keys[size - 1]))) continue;  // search_layer's push rule
      const uint64_t key = dist_key(d, fresh[j]);
      const size_t pos = insertion_point(keys, size, key);
      const size_t moved = (size == ef ? size - 1 : size) - pos;  // the last one drops off a full array
      std::memmove(keys + pos + 1, keys + pos, moved * sizeof(uint64_t));
      std::memmove(flags + pos + 1, flags + pos, moved);
      keys[pos] = key;
      flags[pos] = 0;
      if (size < ef) ++size;
      lowest = std::min(lowest, pos);
    }
    // Everything before `cur` is expanded; an entry inserted at or before it is the next one.
    cur = std::min(lowest, cur + 1);
    while (cur < size && flags[cur]) ++cur;
  }
  P.resize(size);
}

// Algorithm 4 (SELECT-NEIGHBORS-HEURISTIC) without extension or kept pruned
// connections: take candidates closest first and keep one only if it is closer
// to the base than to every neighbour kept so far (spreads links over directions).
void Hnsw::select_neighbors(std::vector<Pair>& candidates, size_t m) const {
  if (candidates.size() <= m) return;
  std::sort(candidates.begin(), candidates.end());
  thread_local std::vector<float> buf;
  buf.resize(stored_dim_);
  size_t kept = 0;
  for (size_t i = 0; i < candidates.size() && kept < m; ++i) {
    const Pair& c = candidates[i];
    const float* cv = as_float(c.second, buf.data());
    bool good = true;
    for (size_t r = 0; r < kept; ++r) {
      if (dist_to(cv, candidates[r].second) < c.first) {
        good = false;
        break;
      }
    }
    if (good) candidates[kept++] = c;
  }
  candidates.resize(kept);
}

void Hnsw::connect(uint32_t slot, int level, Scratch& s) {
  // s.work holds the chosen neighbours of `slot` at `level`.
  const size_t mmax = level == 0 ? M0_ : params_.M;
  {
    std::lock_guard<std::mutex> nl(lock_of(slot));
    uint32_t* lk = links(slot, level);
    uint32_t n = 0;
    for (const Pair& p : s.work) __atomic_store_n(lk + 1 + n++, p.second, __ATOMIC_RELAXED);
    uint32_t h = __atomic_load_n(lk, __ATOMIC_RELAXED);
    __atomic_store_n(lk, (h & ~kCountMask) | n, __ATOMIC_RELEASE);
  }
  s.fbuf2.resize(stored_dim_);
  for (const Pair& p : s.work) {
    uint32_t e = p.second;
    std::lock_guard<std::mutex> nl(lock_of(e));
    uint32_t* lk = links(e, level);
    uint32_t h = __atomic_load_n(lk, __ATOMIC_RELAXED);
    uint32_t cnt = std::min<uint32_t>(h & kCountMask, uint32_t(mmax));
    bool present = false;
    for (uint32_t j = 1; j <= cnt; ++j) present |= lk[j] == slot;
    if (present) continue;
    if (cnt < mmax) {
      __atomic_store_n(lk + 1 + cnt, slot, __ATOMIC_RELAXED);
      __atomic_store_n(lk, (h & ~kCountMask) | (cnt + 1), __ATOMIC_RELEASE);
      continue;
    }
    // Full: re-select e's neighbours among its current ones plus the new node.
    auto& cand = s.cand;
    cand.clear();
    const float* ev = as_float(e, s.fbuf2.data());
    cand.push_back({dist_to(ev, slot), slot});
    for (uint32_t j = 1; j <= cnt; ++j) cand.push_back({dist_to(ev, lk[j]), lk[j]});
    select_neighbors(cand, mmax);
    uint32_t n = 0;
    for (const Pair& c : cand) __atomic_store_n(lk + 1 + n++, c.second, __ATOMIC_RELAXED);
    __atomic_store_n(lk, (h & ~kCountMask) | n, __ATOMIC_RELEASE);
  }
}

// Algorithm 1 (INSERT).
void Hnsw::insert(uint32_t slot, int level, Scratch& s) {
  uint64_t e = entry_.load(std::memory_order_acquire);
  std::unique_lock<std::mutex> top_lock(entry_mutex_, std::defer_lock);
  if (e == kNoEntry || level > entry_level(e)) {
    top_lock.lock();  // this node may become the entry point: serialize with others that might
    e = entry_.load(std::memory_order_acquire);
    if (e == kNoEntry) {
      entry_.store(pack_entry(slot, level), std::memory_order_release);
      return;
    }
    if (level <= entry_level(e)) top_lock.unlock();
  }
  uint32_t ep = entry_slot(e);
  int top = entry_level(e);
  s.fbuf.resize(stored_dim_);
  const float* q = as_float(slot, s.fbuf.data());
  float ep_d = dist_to(q, ep);
  ep = greedy_descend(q, ep, top, level, &ep_d);
  // Choose the neighbours on every level top-down, then link bottom-up: a
  // concurrent search that reaches this node through an upper-level link then
  // always finds its lower-level lists already written (otherwise it could end
  // its level-0 walk at a node with no links yet).
  int from = std::min(level, top);
  if (s.per_level.size() < size_t(from) + 1) s.per_level.resize(size_t(from) + 1);
  for (int l = from; l >= 0; --l) {
    search_layer(q, ep, ep_d, params_.ef_construction, l, s, nullptr, true);
    auto& w = s.per_level[l];
    w.clear();
    for (uint64_t key : s.R) w.push_back({key_dist(key), key_slot(key)});
    w.erase(std::remove_if(w.begin(), w.end(), [&](const Pair& p) { return p.second == slot; }), w.end());
    if (w.empty()) continue;
    std::sort(w.begin(), w.end());
    ep = w.front().second;
    ep_d = w.front().first;
    select_neighbors(w, params_.M);
  }
  for (int l = 0; l <= from; ++l) {
    s.work.swap(s.per_level[l]);
    connect(slot, l, s);
    s.work.swap(s.per_level[l]);
  }
  if (level > top) entry_.store(pack_entry(slot, level), std::memory_order_release);
}

// ---- searching -----------------------------------------------------------------

Hnsw::Visited* Hnsw::acquire_visited() const {
  std::lock_guard<std::mutex> lg(visited_mutex_);
  if (visited_pool_.empty()) return new Visited();
  Visited* v = visited_pool_.back();
  visited_pool_.pop_back();
  return v;
}

void Hnsw::release_visited(Visited* v) const {
  std::lock_guard<std::mutex> lg(visited_mutex_);
  visited_pool_.push_back(v);
}

SlotFilter Hnsw::make_filter(const int32_t* allow, size_t n_allow, const int32_t* deny, size_t n_deny) const {
  std::shared_lock<GrowLock> g(grow_mutex_);
  std::lock_guard<std::mutex> lg(label_mutex_);
  SlotFilter f;
  if (!allow && !deny) return f;
  f.active = true;
  size_t words = (capacity_ + 63) / 64;
  auto slot_of_id = [&](int32_t label) -> uint32_t {
    return label < 0 ? kNoSlot : this->slot_of(uint32_t(label));
  };
  if (allow) {
    f.allowed.assign(words, 0);
    for (size_t i = 0; i < n_allow; ++i) {
      uint32_t s = slot_of_id(allow[i]);
      if (s == kNoSlot || ((f.allowed[s >> 6] >> (s & 63)) & 1)) continue;
      f.allowed[s >> 6] |= uint64_t(1) << (s & 63);
      f.allowed_list.push_back(s);
    }
    f.allowed_count = f.allowed_list.size();
  } else {
    // Deny-only: every written slot allowed, then clear the denied ones.
    f.allowed.assign(words, ~uint64_t(0));
    f.allowed_count = live_.load();
  }
  if (deny) {
    for (size_t i = 0; i < n_deny; ++i) {
      uint32_t s = slot_of_id(deny[i]);
      if (s == kNoSlot || !((f.allowed[s >> 6] >> (s & 63)) & 1)) continue;
      f.allowed[s >> 6] &= ~(uint64_t(1) << (s & 63));
      if (f.allowed_count) --f.allowed_count;
    }
  }
  return f;
}

size_t Hnsw::graph_search(const float* q, size_t k, size_t ef, const SlotFilter* filter, Neighbor* out) const {
  uint64_t e = entry_.load(std::memory_order_acquire);
  if (e == kNoEntry) return 0;
  uint32_t ep = entry_slot(e);
  float ep_d = dist_to(q, ep);
  ep = greedy_descend(q, ep, entry_level(e), 0, &ep_d);
  thread_local Scratch s;
  s.visited = acquire_visited();
  const bool plain = !(filter && filter->active) && live_.load(std::memory_order_relaxed) == n_slots_.load(std::memory_order_relaxed);
  if (plain) {
    search_level0_pool(q, ep, ep_d, std::max(ef, k), s);  // R comes back sorted by (distance, slot)
  } else {
    search_layer(q, ep, ep_d, std::max(ef, k), 0, s, filter, false);
  }
  release_visited(s.visited);
  s.visited = nullptr;
  // Closest first, ties by smaller label (already so when labels are the slots and R is sorted).
  auto& R = s.R;
  if (!(plain && identity_))
    std::sort(R.begin(), R.end(), [&](uint64_t a, uint64_t b) {
      return (a >> 32) < (b >> 32) || ((a >> 32) == (b >> 32) && label_of(key_slot(a)) < label_of(key_slot(b)));
    });
  size_t n = std::min(k, R.size());
  for (size_t i = 0; i < n; ++i) out[i] = {key_dist(R[i]), label_of(key_slot(R[i]))};
  return n;
}

size_t Hnsw::exact_scan(const float* q, size_t k, const SlotFilter* filter, Neighbor* out) const {
  TopK top(k);  // score = -distance, ties by smaller label
  const bool check_deleted = live_.load(std::memory_order_relaxed) != n_slots_.load(std::memory_order_relaxed);
  auto visit = [&](uint32_t s) {
    if ((!identity_ && labels_[s] == kNoSlot) || (check_deleted && is_deleted(s))) return;
    if (filter && filter->active && !filter->test(s)) return;
    float d = dist_to(q, s);
    if (-d >= top.threshold()) top.push(-d, int32_t(label_of(s)));
  };
  if (filter && filter->active && !filter->allowed_list.empty()) {
    const auto& list = filter->allowed_list;
    for (size_t i = 0; i < list.size(); ++i) {
      if (i + 8 < list.size()) {
        const char* p = vec(list[i + 8]);
        for (size_t off = 0; off < vec_bytes_; off += 64) __builtin_prefetch(p + off);
        __builtin_prefetch(p + vec_bytes_ - 1);
        if (check_deleted) __builtin_prefetch(block(list[i + 8]));
      }
      visit(list[i]);
    }
  } else {
    size_t n = slots();
    for (size_t s = 0; s < n; ++s) visit(uint32_t(s));
  }
  std::vector<ScoredId> best = top.take_sorted();
  for (size_t i = 0; i < best.size(); ++i) out[i] = {-best[i].score, uint32_t(best[i].id)};
  return best.size();
}

namespace {
// Distances are reported as 1 - <q, x> for ip with the transform too.
struct Output {
  const Hnsw& h;
  float q_norm_sq;
  float phi;
  bool transformed;
  float convert(float d) const {
    if (!transformed) return d;
    return 1.0f - 0.5f * (q_norm_sq + phi * phi - d);
  }
};
}  // namespace

size_t Hnsw::search(const float* query, size_t k, size_t ef, const SlotFilter* filter, uint32_t* labels,
                    float* distances, double exact_fraction, SearchPath* path) const {
  std::shared_lock<GrowLock> g(grow_mutex_);
  if (path) *path = SearchPath::Graph;
  if (k == 0) return 0;
  for (size_t i = 0; i < params_.dim; ++i)
    if (!std::isfinite(query[i])) throw_invalid("query: expected finite numbers but found NaN or Infinity");
  thread_local std::vector<float> qbuf;
  thread_local std::vector<Neighbor> found;
  qbuf.resize(stored_dim_);
  found.resize(k);
  const float* q = prepare_query(query, qbuf.data());
  size_t n;
  if (filter && filter->active) {
    if (filter->allowed_count == 0) return 0;
    if (double(filter->allowed_count) <= exact_fraction * double(std::max<size_t>(size(), 1))) {
      if (path) *path = SearchPath::ExactScan;
      n = exact_scan(q, k, filter, found.data());
    } else {
      if (path) *path = SearchPath::FilteredGraph;
      n = graph_search(q, k, ef, filter, found.data());
    }
  } else {
    n = graph_search(q, k, ef, nullptr, found.data());
  }
  Output o{*this, 0, phi_, params_.mips_transform};
  if (o.transformed)
    for (size_t i = 0; i < params_.dim; ++i) o.q_norm_sq += query[i] * query[i];
  for (size_t i = 0; i < n; ++i) {
    labels[i] = found[i].label;
    if (distances) distances[i] = o.convert(found[i].distance);
  }
  return n;
}

size_t Hnsw::search_exact(const float* query, size_t k, const SlotFilter* filter, uint32_t* labels,
                          float* distances) const {
  std::shared_lock<GrowLock> g(grow_mutex_);
  if (k == 0) return 0;
  std::vector<float> qbuf(stored_dim_);
  std::vector<Neighbor> found(k);
  const float* q = prepare_query(query, qbuf.data());
  size_t n = exact_scan(q, k, filter, found.data());
  Output o{*this, 0, phi_, params_.mips_transform};
  if (o.transformed)
    for (size_t i = 0; i < params_.dim; ++i) o.q_norm_sq += query[i] * query[i];
  for (size_t i = 0; i < n; ++i) {
    labels[i] = found[i].label;
    if (distances) distances[i] = o.convert(found[i].distance);
  }
  return n;
}

void Hnsw::search_many(const float* queries, size_t nq, size_t k, size_t ef, const SlotFilter* filter,
                       uint32_t* labels, float* distances, size_t threads, double exact_fraction,
                       const CancelToken* cancel) const {
  parallel_for(nq, 16, resolve_threads(threads), [&](size_t begin, size_t end, size_t) {
    for (size_t r = begin; r < end; ++r) {
      if (cancel) cancel->throw_if_cancelled();
      size_t n = search(queries + r * params_.dim, k, ef, filter, labels + r * k, distances + r * k, exact_fraction);
      for (size_t i = n; i < k; ++i) {
        labels[r * k + i] = kNoSlot;
        distances[r * k + i] = kInf;
      }
    }
  });
}

}  // namespace fastrec::ann
