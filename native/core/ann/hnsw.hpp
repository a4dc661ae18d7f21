// Hierarchical Navigable Small World graph (Malkov & Yashunin 2018, "Efficient
// and robust approximate nearest neighbor search using HNSW graphs").
//
// Storage (what makes it fast and small): one block per slot holding the
// level-0 neighbour list and the vector side by side, so visiting a node costs
// one or two cache misses:  [u32 count | flags][u32 links[M0]][vector], the
// vector as stored_dim floats, half floats, or (int8) a float scale and
// stored_dim int8 (distance.hpp); 260 / 200 bytes per block at M 16, d 64.
// Upper levels (about 1 node in M) keep their lists in a separate pool.
// At M = 16, d = 64: 388 bytes per block + 4 (upper offset) + ~4.5 (upper
// lists) ~= 397 bytes per vector while labels equal slots (ids 0..n-1 as
// built); otherwise + 4 (slot -> label) + 4 (label -> slot).
//
// Concurrency: searches and adds run under a shared lock; only growing the
// storage, reusing a deleted slot and loading take it exclusively. Neighbour
// lists are read with relaxed atomic loads and written under striped per-node
// locks, so a search running beside an add sees either list version, never a
// torn id (every id in a list is a fully written node).
//
// Labels are caller ids (uint32 < 2^31, e.g. IdMap indices); slots are
// internal. Deleting marks the slot (it stays a graph vertex for routing but
// is never returned); a later add reuses it.
#pragma once
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <shared_mutex>
#include <string>
#include <thread>
#include <vector>

#include "ann/distance.hpp"
#include "ann/metric.hpp"
#include "common/cancel.hpp"

namespace fastrec::ann {

constexpr uint32_t kNoSlot = 0xFFFFFFFFu;

// How stored vectors are kept. The graph is built from the stored form (what
// searches measure), and queries always stay float32.
enum class Storage : uint32_t { Float32 = 0, Float16 = 1, Int8 = 2 };
Storage storage_of(const std::string& s);  // "float32" | "float16" | "int8", else InvalidArgument
const char* storage_name(Storage s);

struct HnswParams {
  size_t dim = 0;
  Metric metric = Metric::L2;
  size_t M = 16;                 // links per node on upper levels; 2M on level 0
  size_t ef_construction = 200;  // beam width while inserting
  uint64_t seed = 42;            // level draws: a node's level depends only on (seed, slot)
  bool mips_transform = false;   // metric ip through the Euclidean transform (see metric.hpp)
  float max_norm = 0;            // phi for the transform; 0 = the largest norm of the first batch
  // float16: half the bytes and memory traffic, ~1e-3 relative error per coordinate;
  // int8: a quarter plus 4 bytes, each coordinate within max|x| / 254 (distance.hpp).
  Storage storage = Storage::Float32;
};

// Which labels a search may return: an allow-list (only these) and/or a
// deny-list (never these), both as label arrays. Built once per search into a
// slot bitset so the graph walk tests one bit per visited node.
struct SlotFilter {
  bool active = false;
  std::vector<uint64_t> allowed;       // bit per slot: may be returned
  std::vector<uint32_t> allowed_list;  // the allowed slots when an allow-list was given (for the exact scan)
  size_t allowed_count = 0;            // live allowed slots
  bool test(uint32_t slot) const { return (allowed[slot >> 6] >> (slot & 63)) & 1; }
};

struct Neighbor {
  float distance;
  uint32_t label;
};

// How a search was answered (for benchmarks and tests).
enum class SearchPath : uint32_t { Graph = 0, FilteredGraph = 1, ExactScan = 2 };

// A shared mutex that lets a waiting writer in: glibc's rwlock prefers readers,
// so a steady stream of searches would starve an add that must grow storage.
class GrowLock {
 public:
  void lock_shared() {
    while (writers_waiting_.load(std::memory_order_acquire) > 0) std::this_thread::yield();
    m_.lock_shared();
  }
  void unlock_shared() { m_.unlock_shared(); }
  void lock() {
    writers_waiting_.fetch_add(1, std::memory_order_acq_rel);
    m_.lock();
    writers_waiting_.fetch_sub(1, std::memory_order_acq_rel);
  }
  void unlock() { m_.unlock(); }

 private:
  std::shared_mutex m_;
  std::atomic<int> writers_waiting_{0};
};

class Hnsw {
 public:
  explicit Hnsw(const HnswParams& params, size_t initial_capacity = 0);
  ~Hnsw();
  Hnsw(const Hnsw&) = delete;
  Hnsw& operator=(const Hnsw&) = delete;

  const HnswParams& params() const { return params_; }
  size_t dim() const { return params_.dim; }
  size_t stored_dim() const { return stored_dim_; }
  float max_norm() const { return phi_; }
  // Live (not deleted) items.
  size_t size() const { return live_.load(std::memory_order_relaxed); }
  // Slots in use, deleted ones included.
  size_t slots() const { return n_slots_.load(std::memory_order_acquire); }
  size_t capacity() const { return capacity_; }
  // Bytes held by the index (graph, vectors, labels), not counting per-search scratch.
  size_t memory_bytes() const;

  // Insert n vectors (row-major n x dim) with their labels, on `threads`
  // threads. A label already present is replaced. Throws InvalidArgument for a
  // label >= 2^31 or (with the transform) a vector longer than max_norm.
  void add(const float* vectors, const uint32_t* labels, size_t n, size_t threads = 1,
           const CancelToken* cancel = nullptr, const std::function<void(size_t)>& progress = nullptr);
  // Mark a label deleted; false if it was not present.
  bool remove(uint32_t label);
  bool contains(uint32_t label) const;
  // One past the largest live label (0 when empty): what a list of ids must cover.
  size_t label_end() const;
  // The stored vector of a label (as given; cosine: normalized) or false.
  bool get_vector(uint32_t label, float* out) const;

  // Filter over labels (nullptr / 0 = no list).
  SlotFilter make_filter(const int32_t* allow, size_t n_allow, const int32_t* deny, size_t n_deny) const;

  // k nearest, closest first, into labels/distances (length >= k); returns the
  // count found (< k when fewer items are reachable or allowed). ef < k is raised to k.
  // With a filter whose allowed share is below exact_fraction the allowed
  // items are scanned exactly instead of walking the graph.
  size_t search(const float* query, size_t k, size_t ef, const SlotFilter* filter, uint32_t* labels,
                float* distances, double exact_fraction = kDefaultExactFraction, SearchPath* path = nullptr) const;
  // Many queries (row-major nq x dim) in parallel; row r writes r*k.., padded with kNoSlot / +inf.
  void search_many(const float* queries, size_t nq, size_t k, size_t ef, const SlotFilter* filter, uint32_t* labels,
                   float* distances, size_t threads, double exact_fraction = kDefaultExactFraction,
                   const CancelToken* cancel = nullptr) const;
  // Exact k nearest among live (and allowed) items: the ground truth.
  size_t search_exact(const float* query, size_t k, const SlotFilter* filter, uint32_t* labels, float* distances) const;

  // Versioned file: magic, header and per-section CRC-32 (hnsw_io.cpp). `meta`
  // is an opaque checksummed section stored with the graph (lib/ann.ts keeps the
  // items' ids and search defaults there, so one file is the whole index).
  // load() maps the file (MAP_PRIVATE) when mmap is true, else reads it.
  // Errors: Io, CorruptFile, UnsupportedVersion.
  void save(const std::string& path, const std::string& meta = {}) const;
  static std::unique_ptr<Hnsw> load(const std::string& path, bool mmap = true, std::string* meta = nullptr);
  // The same format in memory. from_bytes with in_place = true uses the
  // level-0 blocks where they lie (when 4-byte aligned) without copying: the
  // caller keeps the bytes alive and unchanged for the index's lifetime; the
  // index never writes to them (the first add or remove copies them first).
  std::vector<uint8_t> to_bytes(const std::string& meta = {}) const;
  static std::unique_ptr<Hnsw> from_bytes(const void* data, size_t bytes, bool in_place, std::string* meta = nullptr);
  // Whether the level-0 blocks are the caller's bytes (from_bytes in place).
  bool borrows_bytes() const { return level0_borrowed_.load(std::memory_order_acquire); }

  // A copy with the same graph (links, levels, labels, entry point, deletions)
  // whose vectors are stored as `storage`, converted from this index's stored
  // vectors. Compares storages on one graph, or builds a graph from
  // full-precision vectors and serves it from a smaller copy.
  std::unique_ptr<Hnsw> with_storage(Storage storage) const;

  static constexpr double kDefaultExactFraction = 0.1;  // measured crossover 10-20% at 100k x 64 (bench/README.md)

 private:
  friend struct HnswFile;
  struct Visited;
  struct Scratch;

  // ---- storage ----
  char* block(uint32_t slot) const { return level0_ + size_t(slot) * block_bytes_; }
  uint32_t* links0(uint32_t slot) const { return reinterpret_cast<uint32_t*>(block(slot)); }  // [0]=header
  char* vec(uint32_t slot) const { return block(slot) + vec_offset_; }
  // Distance from a float vector (query, or a stored vector widened) to a stored vector.
  float dist_to(const float* q, uint32_t slot) const {
    switch (params_.storage) {
      case Storage::Float16: return dist_half_(q, reinterpret_cast<const uint16_t*>(vec(slot)), stored_dim_);
      case Storage::Int8: return dist_i8_(q, vec(slot), stored_dim_);
      default: return dist_(q, reinterpret_cast<const float*>(vec(slot)), stored_dim_);
    }
  }
  // Distances from q to the stored vectors of ids[0..n) in one kernel call.
  void dist_batch(const float* q, const uint32_t* ids, size_t n, float* out) const {
    batch_(q, level0_ + vec_offset_, block_bytes_, ids, n, stored_dim_, out);
  }
  void prefetch_vector(uint32_t slot) const {
    const char* p = vec(slot);
    for (size_t off = 0; off < vec_bytes_; off += 64) __builtin_prefetch(p + off);
    __builtin_prefetch(p + vec_bytes_ - 1);
  }
  // A stored vector as floats: in place for float32 storage, widened into buf otherwise.
  const float* as_float(uint32_t slot, float* buf) const;
  void store_vector(uint32_t slot, const float* prepared);
  int level_of(uint32_t slot) const {
    uint32_t off = upper_[slot];
    return off == kNoSlot ? 0 : int(pool_[off]);
  }
  // Header word then links for `slot` at `level` (>= 0).
  uint32_t* links(uint32_t slot, int level) const {
    if (level == 0) return links0(slot);
    return const_cast<uint32_t*>(pool_.data()) + upper_[slot] + 1 + size_t(level - 1) * (params_.M + 1);
  }
  static uint32_t count_of(const uint32_t* header) {
    return __atomic_load_n(header, __ATOMIC_ACQUIRE) & kCountMask;
  }
  bool is_deleted(uint32_t slot) const { return __atomic_load_n(links0(slot), __ATOMIC_ACQUIRE) & kDeletedBit; }
  std::mutex& lock_of(uint32_t slot) const { return node_locks_[slot & (kLockStripes - 1)]; }

  // Query in stored form (normalized / padded) into buf.
  const float* prepare_query(const float* q, float* buf) const;
  void prepare_vector(const float* v, float* out) const;

  void ensure_capacity(size_t needed);  // exclusive lock held
  // Memory for level-0 blocks (freed with std::free): 2 MiB pages where the kernel allows.
  static char* alloc_blocks(size_t bytes);
  void own_level0();                     // exclusive lock held: copy borrowed blocks before writing
  uint32_t label_of(uint32_t slot) const { return identity_ ? slot : labels_[slot]; }
  uint32_t slot_of(uint32_t label) const;  // label lock held: kNoSlot when absent or deleted
  void materialize_labels();             // exclusive and label locks held: leave identity mode
  void grow_labels(size_t label_bound);  // exclusive lock held
  uint32_t draw_level(uint32_t slot) const;
  void insert(uint32_t slot, int level, Scratch& s);
  void search_layer(const float* q, uint32_t entry, float entry_dist, size_t ef, int level, Scratch& s,
                    const SlotFilter* filter, bool collect_all) const;
  void search_level0_pool(const float* q, uint32_t entry, float entry_dist, size_t ef, Scratch& s) const;
  void select_neighbors(std::vector<std::pair<float, uint32_t>>& candidates, size_t m) const;
  void connect(uint32_t slot, int level, Scratch& s);
  uint32_t greedy_descend(const float* q, uint32_t ep, int from_level, int to_level, float* ep_dist) const;
  size_t graph_search(const float* q, size_t k, size_t ef, const SlotFilter* filter, Neighbor* out) const;
  size_t exact_scan(const float* q, size_t k, const SlotFilter* filter, Neighbor* out) const;
  Visited* acquire_visited() const;
  void release_visited(Visited* v) const;

  static constexpr uint32_t kDeletedBit = 0x80000000u;
  static constexpr uint32_t kCountMask = 0x0000FFFFu;
  static constexpr size_t kLockStripes = 4096;
  static constexpr uint32_t kMaxBatch = 512;

  HnswParams params_;
  size_t stored_dim_ = 0;
  size_t M0_ = 0;
  double level_mult_ = 0;
  size_t block_bytes_ = 0;
  size_t vec_offset_ = 0;
  size_t vec_bytes_ = 0;
  DistanceFn dist_ = nullptr;
  float (*dist_half_)(const float*, const uint16_t*, size_t) = nullptr;
  float (*dist_i8_)(const float*, const void*, size_t) = nullptr;
  DistanceKernels::Batch batch_ = nullptr;
  void (*widen_f16_)(const uint16_t*, float*, size_t) = nullptr;
  void (*widen_i8_)(const void*, float*, size_t) = nullptr;
  float phi_ = 0;  // transform's max norm (0 until the first add)

  // Level-0 blocks: owned (malloc), inside a private file mapping, or borrowed
  // (the caller's bytes, read-only: see from_bytes).
  char* level0_ = nullptr;
  bool level0_mapped_ = false;
  std::atomic<bool> level0_borrowed_{false};
  void* map_base_ = nullptr;
  size_t map_bytes_ = 0;
  size_t capacity_ = 0;
  std::atomic<size_t> n_slots_{0};
  std::atomic<size_t> live_{0};

  // Labels equal slots (the usual build of ids 0..n-1, nothing replaced or
  // reused): then neither map below is kept (8 bytes per vector saved).
  bool identity_ = true;
  std::vector<uint32_t> labels_;          // slot -> label (kNoSlot: not yet written); empty while identity_
  std::vector<uint32_t> upper_;           // slot -> offset in pool_ or kNoSlot (level 0 only)
  std::vector<uint32_t> pool_;            // upper-level lists: [level][count,links M] per level
  std::atomic<size_t> pool_used_{0};
  std::vector<uint32_t> label_to_slot_;   // label -> slot or kNoSlot; empty while identity_
  std::vector<uint32_t> free_slots_;      // deleted slots to reuse

  // Entry point and top level packed together so readers see a consistent pair.
  std::atomic<uint64_t> entry_{kNoEntry};
  static constexpr uint64_t kNoEntry = ~uint64_t(0);

  mutable GrowLock grow_mutex_;
  mutable std::mutex entry_mutex_;
  mutable std::mutex label_mutex_;
  mutable std::unique_ptr<std::mutex[]> node_locks_;
  mutable std::mutex visited_mutex_;
  mutable std::vector<Visited*> visited_pool_;
};

}  // namespace fastrec::ann
