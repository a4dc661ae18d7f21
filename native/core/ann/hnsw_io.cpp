// HNSW file format (little-endian), version 1:
//
//   FileHeader (128 bytes): magic "FRECHNSW", version, header CRC-32 (of the
//   header with that field zeroed), parameters, counts, entry point.
//   Section table: kSections x { tag, crc32, offset, bytes }.
//   Sections, each starting at a 64-byte aligned offset:
//     LVL0  slots x block (count word, 2M links, vector)  <- mapped in place
//     LABL  slots x u32 label (0xFFFFFFFF = never written)
//     UPPR  slots x u32 offset into POOL (0xFFFFFFFF = level 0 only)
//     POOL  u32 upper-level lists
//
// Loading checks sizes before reading anything, every CRC, then the structure
// (link ids < slots, counts <= capacity, levels consistent), so a truncated,
// bit-flipped or crafted file gives CorruptFile instead of a crash.
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <memory>

#include "ann/crc32.hpp"
#include "ann/hnsw.hpp"

namespace fastrec::ann {

namespace {
constexpr char kMagic[8] = {'F', 'R', 'E', 'C', 'H', 'N', 'S', 'W'};
constexpr uint32_t kVersion = 1;
constexpr uint32_t kSections = 4;
constexpr uint32_t kTags[kSections] = {0x304C564Cu /*LVL0*/, 0x4C42414Cu /*LABL*/, 0x52505055u /*UPPR*/,
                                       0x4C4F4F50u /*POOL*/};

struct FileHeader {
  char magic[8];
  uint32_t version;
  uint32_t header_crc;
  uint32_t metric;
  uint32_t dim;
  uint32_t stored_dim;
  uint32_t M;
  uint32_t ef_construction;
  uint32_t flags;  // bit 0: mips transform, bit 1: float16 storage
  uint64_t seed;
  uint64_t slots;
  uint64_t live;
  uint64_t pool_used;
  uint64_t entry;
  uint64_t block_bytes;
  float phi;
  uint32_t section_count;
  uint8_t reserved[128 - 96];
};
static_assert(sizeof(FileHeader) == 128, "header layout");

struct Section {
  uint32_t tag;
  uint32_t crc;
  uint64_t offset;
  uint64_t bytes;
};
static_assert(sizeof(Section) == 24, "section layout");

uint32_t entry_slot_of(uint64_t e) { return uint32_t(e); }
uint32_t entry_level_of(uint64_t e) { return uint32_t(e >> 32); }

uint64_t align64(uint64_t x) { return (x + 63) & ~uint64_t(63); }

[[noreturn]] void corrupt(const std::string& path, const std::string& why) {
  throw Error(ErrorCode::CorruptFile, "corrupt HNSW index file '" + path + "': " + why);
}

[[noreturn]] void io_error(const std::string& what, const std::string& path) {
  throw Error(ErrorCode::Io, what + " '" + path + "': " + std::strerror(errno));
}

struct Fd {
  int fd = -1;
  ~Fd() {
    if (fd >= 0) ::close(fd);
  }
};

void write_all(int fd, const void* data, size_t bytes, const std::string& path) {
  const char* p = static_cast<const char*>(data);
  while (bytes) {
    ssize_t w = ::write(fd, p, bytes);
    if (w < 0) {
      if (errno == EINTR) continue;
      io_error("cannot write", path);
    }
    p += w;
    bytes -= size_t(w);
  }
}
}  // namespace

struct HnswFile {
  static void save(const Hnsw& h, const std::string& path);
  static std::unique_ptr<Hnsw> load(const std::string& path, bool use_mmap);
};

void HnswFile::save(const Hnsw& h, const std::string& path) {
  std::shared_lock<GrowLock> g(h.grow_mutex_);
  std::lock_guard<std::mutex> lg(h.label_mutex_);
  const uint64_t slots = h.n_slots_.load();
  const uint64_t pool_used = h.pool_used_.load();
  FileHeader fh{};
  std::memcpy(fh.magic, kMagic, 8);
  fh.version = kVersion;
  fh.metric = uint32_t(h.params_.metric);
  fh.dim = uint32_t(h.params_.dim);
  fh.stored_dim = uint32_t(h.stored_dim_);
  fh.M = uint32_t(h.params_.M);
  fh.ef_construction = uint32_t(h.params_.ef_construction);
  fh.flags = (h.params_.mips_transform ? 1u : 0u) | (h.params_.float16 ? 2u : 0u);
  fh.seed = h.params_.seed;
  fh.slots = slots;
  fh.live = h.live_.load();
  fh.pool_used = pool_used;
  fh.entry = h.entry_.load();
  fh.block_bytes = h.block_bytes_;
  fh.phi = h.phi_;
  fh.section_count = kSections;

  const void* data[kSections] = {h.level0_, h.labels_.data(), h.upper_.data(), h.pool_.data()};
  Section sec[kSections];
  uint64_t bytes[kSections] = {slots * h.block_bytes_, slots * 4, slots * 4, pool_used * 4};
  uint64_t offset = align64(sizeof(FileHeader) + sizeof(sec));
  for (uint32_t i = 0; i < kSections; ++i) {
    sec[i].tag = kTags[i];
    sec[i].offset = offset;
    sec[i].bytes = bytes[i];
    sec[i].crc = crc32(data[i], bytes[i]);
    offset = align64(offset + bytes[i]);
  }
  fh.header_crc = 0;
  uint32_t crc = crc32(&fh, sizeof(fh));
  fh.header_crc = crc32(sec, sizeof(sec), crc);

  // Write beside the target and rename, so a failed save never leaves a half file under the name.
  std::string tmp = path + ".tmp" + std::to_string(::getpid());
  Fd f;
  f.fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
  if (f.fd < 0) io_error("cannot create", tmp);
  try {
    write_all(f.fd, &fh, sizeof(fh), tmp);
    write_all(f.fd, sec, sizeof(sec), tmp);
    uint64_t pos = sizeof(fh) + sizeof(sec);
    static const char zeros[64] = {};
    for (uint32_t i = 0; i < kSections; ++i) {
      write_all(f.fd, zeros, sec[i].offset - pos, tmp);
      write_all(f.fd, data[i], bytes[i], tmp);
      pos = sec[i].offset + bytes[i];
    }
    if (::fsync(f.fd) != 0) io_error("cannot sync", tmp);
  } catch (...) {
    ::unlink(tmp.c_str());
    throw;
  }
  ::close(f.fd);
  f.fd = -1;
  if (std::rename(tmp.c_str(), path.c_str()) != 0) {
    int e = errno;
    ::unlink(tmp.c_str());
    errno = e;
    io_error("cannot rename onto", path);
  }
}

std::unique_ptr<Hnsw> HnswFile::load(const std::string& path, bool use_mmap) {
  Fd f;
  f.fd = ::open(path.c_str(), O_RDONLY);
  if (f.fd < 0) io_error("cannot open", path);
  struct stat st;
  if (::fstat(f.fd, &st) != 0) io_error("cannot stat", path);
  const uint64_t file_bytes = uint64_t(st.st_size);
  if (file_bytes < sizeof(FileHeader) + kSections * sizeof(Section))
    corrupt(path, "file is " + std::to_string(file_bytes) + " bytes, shorter than the header");

  // The whole file: mapped privately (pages load on demand; writes such as a
  // delete flag stay private) or read into memory.
  void* base = nullptr;
  std::unique_ptr<char[]> owned;
  if (use_mmap) {
    base = ::mmap(nullptr, file_bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE, f.fd, 0);
    if (base == MAP_FAILED) io_error("cannot map", path);
  } else {
    owned.reset(new char[file_bytes]);
    uint64_t got = 0;
    while (got < file_bytes) {
      ssize_t r = ::pread(f.fd, owned.get() + got, file_bytes - got, off_t(got));
      if (r < 0 && errno == EINTR) continue;
      if (r <= 0) io_error("cannot read", path);
      got += uint64_t(r);
    }
    base = owned.get();
  }
  struct Unmap {
    void* p;
    size_t n;
    bool active;
    ~Unmap() {
      if (active) ::munmap(p, n);
    }
  } unmap{base, file_bytes, use_mmap};

  const char* bytes = static_cast<const char*>(base);
  FileHeader fh;
  std::memcpy(&fh, bytes, sizeof(fh));
  if (std::memcmp(fh.magic, kMagic, 8) != 0) corrupt(path, "not a fastrec HNSW index (bad magic number)");
  if (fh.version > kVersion)
    throw Error(ErrorCode::UnsupportedVersion, "HNSW index file '" + path + "' has format version " +
                                                   std::to_string(fh.version) + "; this fastrec reads up to " +
                                                   std::to_string(kVersion));
  if (fh.version == 0) corrupt(path, "format version 0");
  Section sec[kSections];
  std::memcpy(sec, bytes + sizeof(fh), sizeof(sec));
  uint32_t stored_crc = fh.header_crc;
  fh.header_crc = 0;
  uint32_t crc = crc32(sec, sizeof(sec), crc32(&fh, sizeof(fh)));
  if (crc != stored_crc) corrupt(path, "header checksum mismatch");
  if (fh.section_count != kSections) corrupt(path, "unexpected section count");
  if (fh.metric > 2 || fh.dim == 0 || fh.dim > 65535 || fh.M < 2 || fh.M > 256 || fh.ef_construction == 0 ||
      fh.flags > 3 || fh.stored_dim != fh.dim + (fh.flags & 1) || ((fh.flags & 1) && fh.metric != 1))
    corrupt(path, "invalid parameters in header");

  HnswParams p;
  p.dim = fh.dim;
  p.metric = Metric(fh.metric);
  p.M = fh.M;
  p.ef_construction = fh.ef_construction;
  p.seed = fh.seed;
  p.mips_transform = fh.flags & 1;
  p.max_norm = fh.phi;
  p.float16 = (fh.flags & 2) != 0;
  auto h = std::make_unique<Hnsw>(p, 16);
  if (h->block_bytes_ != fh.block_bytes) corrupt(path, "block size does not match the parameters");
  const uint64_t slots = fh.slots;
  if (slots >= kNoSlot || fh.live > slots) corrupt(path, "invalid item counts");
  if (fh.pool_used >= (uint64_t(1) << 32)) corrupt(path, "invalid upper-level pool size");
  const uint64_t want[kSections] = {slots * fh.block_bytes, slots * 4, slots * 4, fh.pool_used * 4};
  for (uint32_t i = 0; i < kSections; ++i) {
    if (sec[i].tag != kTags[i]) corrupt(path, "section " + std::to_string(i) + " has a wrong tag");
    if (sec[i].bytes != want[i]) corrupt(path, "section " + std::to_string(i) + " has a wrong size");
    if (sec[i].offset % 64 || sec[i].offset > file_bytes || sec[i].bytes > file_bytes - sec[i].offset)
      corrupt(path, "truncated: section " + std::to_string(i) + " extends past the end of the file");
    if (crc32(bytes + sec[i].offset, sec[i].bytes) != sec[i].crc)
      corrupt(path, "checksum mismatch in section " + std::to_string(i));
  }

  // Structure checks (the checksums only prove the bytes are what was written).
  const uint32_t* labels = reinterpret_cast<const uint32_t*>(bytes + sec[1].offset);
  const uint32_t* upper = reinterpret_cast<const uint32_t*>(bytes + sec[2].offset);
  const uint32_t* pool = reinterpret_cast<const uint32_t*>(bytes + sec[3].offset);
  const char* level0 = bytes + sec[0].offset;
  const size_t M0 = h->M0_;
  uint64_t top_level = 0;
  size_t live = 0;
  uint32_t max_label = 0;
  for (uint64_t s = 0; s < slots; ++s) {
    const uint32_t* lk = reinterpret_cast<const uint32_t*>(level0 + s * fh.block_bytes);
    if ((lk[0] & Hnsw::kCountMask) > M0) corrupt(path, "a level-0 list is longer than 2M");
    for (uint32_t j = 1; j <= (lk[0] & Hnsw::kCountMask); ++j)
      if (lk[j] >= slots) corrupt(path, "a link points past the last item");
    if (labels[s] != kNoSlot) {
      if (labels[s] >= 0x80000000u) corrupt(path, "invalid label");
      if (!(lk[0] & Hnsw::kDeletedBit)) {
        ++live;
        max_label = std::max(max_label, labels[s]);
      }
    }
    if (upper[s] != kNoSlot) {
      uint64_t off = upper[s];
      if (off >= fh.pool_used) corrupt(path, "an upper-level offset points past the pool");
      uint64_t L = pool[off];
      if (L == 0 || L > 30 || off + 1 + L * (fh.M + 1) > fh.pool_used) corrupt(path, "invalid upper-level block");
      top_level = std::max(top_level, L);
      for (uint64_t l = 0; l < L; ++l) {
        const uint32_t* ul = pool + off + 1 + l * (fh.M + 1);
        if (ul[0] > fh.M) corrupt(path, "an upper-level list is longer than M");
        for (uint32_t j = 1; j <= ul[0]; ++j)
          if (ul[j] >= slots) corrupt(path, "an upper-level link points past the last item");
      }
    }
  }
  if (live != fh.live) corrupt(path, "live item count does not match the deleted flags");
  if (slots == 0 ? fh.entry != Hnsw::kNoEntry
                 : (fh.entry == Hnsw::kNoEntry || entry_slot_of(fh.entry) >= slots ||
                    uint64_t(entry_level_of(fh.entry)) != (upper[entry_slot_of(fh.entry)] == kNoSlot ? 0 : pool[upper[entry_slot_of(fh.entry)]]) ||
                    uint64_t(entry_level_of(fh.entry)) < top_level))
    corrupt(path, "invalid entry point");

  // Adopt: level-0 blocks in place when mapped, the small arrays copied.
  {
    std::unique_lock<GrowLock> g(h->grow_mutex_);
    std::free(h->level0_);
    h->level0_ = nullptr;
    if (use_mmap) {
      h->level0_ = const_cast<char*>(level0);
      h->level0_mapped_ = true;
      h->map_base_ = base;
      h->map_bytes_ = file_bytes;
      unmap.active = false;
    } else {
      char* copy = static_cast<char*>(std::malloc(std::max<uint64_t>(sec[0].bytes, 1)));
      if (!copy) throw std::bad_alloc();
      std::memcpy(copy, level0, sec[0].bytes);
      h->level0_ = copy;
    }
    h->capacity_ = slots;
    h->labels_.assign(labels, labels + slots);
    h->upper_.assign(upper, upper + slots);
    h->pool_.assign(pool, pool + fh.pool_used);
    h->pool_used_.store(fh.pool_used);
    h->n_slots_.store(slots);
    h->live_.store(live);
    h->entry_.store(fh.entry);
    h->label_to_slot_.assign(live ? size_t(max_label) + 1 : 0, kNoSlot);
    for (uint64_t s = 0; s < slots; ++s) {
      bool deleted = reinterpret_cast<const uint32_t*>(level0 + s * fh.block_bytes)[0] & Hnsw::kDeletedBit;
      if (labels[s] == kNoSlot) continue;
      if (deleted) {
        h->free_slots_.push_back(uint32_t(s));
      } else {
        if (h->label_to_slot_[labels[s]] != kNoSlot) corrupt(path, "a label appears twice");
        h->label_to_slot_[labels[s]] = uint32_t(s);
      }
    }
    if (h->capacity_ < 16) h->ensure_capacity(16);
  }
  return h;
}

void Hnsw::save(const std::string& path) const { HnswFile::save(*this, path); }
std::unique_ptr<Hnsw> Hnsw::load(const std::string& path, bool mmap) { return HnswFile::load(path, mmap); }

}  // namespace fastrec::ann
