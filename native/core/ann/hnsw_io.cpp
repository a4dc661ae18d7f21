// HNSW file format (little-endian), versions 2 and 3:
//
//   FileHeader (128 bytes): magic "FRECHNSW", version, header CRC-32 (of the
//   header with that field zeroed, then the section table), parameters,
//   counts, entry point.
//   Section table: kSections x { tag, crc32, offset, bytes }.
//   Sections, each starting at a 64-byte aligned offset:
//     LVL0  slots x block (count word, 2M links, vector)  <- used in place when mapped
//     LABL  slots x u32 label (0xFFFFFFFF = never written)
//     UPPR  slots x u32 offset into POOL (0xFFFFFFFF = level 0 only)
//     POOL  u32 upper-level lists
//     META  opaque bytes of the caller (lib/ann.ts: ids and search defaults)
// Version 1 had no META (the ids lived in a side file) and is refused with
// UnsupportedVersion. Version 3 adds int8 vector storage (flags bit 2; blocks
// hold a float scale and int8 values, distance.hpp): an index stored so is
// written as version 3, so that a reader of version 2 refuses it with
// UnsupportedVersion (the service then builds its indexes afresh) instead of
// calling it corrupt; float32 and float16 indexes are still written as version
// 2, readable by every reader of version 2. The same bytes serve files (save/load) and memory
// (to_bytes/from_bytes), so an index can be embedded in another file: offsets
// are relative to the start of the index, so 64-byte alignment of that start
// keeps every section aligned.
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
constexpr uint32_t kVersion = 3;        // the newest version read
constexpr uint32_t kVersionNoInt8 = 2;  // written when the vectors are not int8
constexpr uint32_t kSections = 5;
constexpr uint32_t kTags[kSections] = {0x304C564Cu /*LVL0*/, 0x4C42414Cu /*LABL*/, 0x52505055u /*UPPR*/,
                                       0x4C4F4F50u /*POOL*/, 0x4154454Du /*META*/};
constexpr uint32_t kMeta = 4;

struct FileHeader {
  char magic[8];
  uint32_t version;
  uint32_t header_crc;
  uint32_t metric;
  uint32_t dim;
  uint32_t stored_dim;
  uint32_t M;
  uint32_t ef_construction;
  uint32_t flags;  // bit 0: mips transform, bit 1: float16 storage, bit 2: int8 storage (version 3)
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

constexpr uint64_t kTableEnd = sizeof(FileHeader) + kSections * sizeof(Section);

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

// Where the bytes being loaded live, which decides how the level-0 blocks are adopted.
enum class Origin { Mapped, Copy, Borrow };
}  // namespace

struct HnswFile {
  // Header, table and section sources of an index (caller holds its locks).
  struct Image {
    FileHeader fh{};
    Section sec[kSections];
    const void* data[kSections];
    uint64_t total = 0;
    std::vector<uint32_t> iota_labels;  // LABL while labels equal slots (not kept in memory then)
  };
  static Image image(const Hnsw& h, const std::string& meta);
  static void save(const Hnsw& h, const std::string& path, const std::string& meta);
  static std::vector<uint8_t> to_bytes(const Hnsw& h, const std::string& meta);
  static std::unique_ptr<Hnsw> load(const std::string& path, bool use_mmap, std::string* meta);
  // `what` names the source in messages ("HNSW index file 'x'" / "HNSW index bytes").
  static std::unique_ptr<Hnsw> parse(const char* bytes, uint64_t n, const std::string& what, Origin origin,
                                     std::string* meta);
};

HnswFile::Image HnswFile::image(const Hnsw& h, const std::string& meta) {
  Image im;
  const uint64_t slots = h.n_slots_.load();
  const uint64_t pool_used = h.pool_used_.load();
  FileHeader& fh = im.fh;
  std::memcpy(fh.magic, kMagic, 8);
  fh.version = h.params_.storage == Storage::Int8 ? kVersion : kVersionNoInt8;
  fh.metric = uint32_t(h.params_.metric);
  fh.dim = uint32_t(h.params_.dim);
  fh.stored_dim = uint32_t(h.stored_dim_);
  fh.M = uint32_t(h.params_.M);
  fh.ef_construction = uint32_t(h.params_.ef_construction);
  fh.flags = (h.params_.mips_transform ? 1u : 0u) | (h.params_.storage == Storage::Float16 ? 2u : 0u) |
             (h.params_.storage == Storage::Int8 ? 4u : 0u);
  fh.seed = h.params_.seed;
  fh.slots = slots;
  fh.live = h.live_.load();
  fh.pool_used = pool_used;
  fh.entry = h.entry_.load();
  fh.block_bytes = h.block_bytes_;
  fh.phi = h.phi_;
  fh.section_count = kSections;

  if (h.identity_) {
    im.iota_labels.resize(slots);
    for (uint64_t s = 0; s < slots; ++s) im.iota_labels[s] = uint32_t(s);
  }
  const void* data[kSections] = {h.level0_, h.identity_ ? im.iota_labels.data() : h.labels_.data(), h.upper_.data(),
                                 h.pool_.data(), meta.data()};
  const uint64_t bytes[kSections] = {slots * h.block_bytes_, slots * 4, slots * 4, pool_used * 4, meta.size()};
  uint64_t offset = align64(kTableEnd);
  for (uint32_t i = 0; i < kSections; ++i) {
    im.data[i] = data[i];
    im.sec[i].tag = kTags[i];
    im.sec[i].offset = offset;
    im.sec[i].bytes = bytes[i];
    im.sec[i].crc = crc32(data[i], bytes[i]);
    im.total = offset + bytes[i];
    offset = align64(offset + bytes[i]);
  }
  fh.header_crc = 0;
  uint32_t crc = crc32(&fh, sizeof(fh));
  fh.header_crc = crc32(im.sec, sizeof(im.sec), crc);
  return im;
}

void HnswFile::save(const Hnsw& h, const std::string& path, const std::string& meta) {
  std::shared_lock<GrowLock> g(h.grow_mutex_);
  std::lock_guard<std::mutex> lg(h.label_mutex_);
  const Image im = image(h, meta);

  // Write beside the target and rename, so a failed save never leaves a half file under the name.
  std::string tmp = path + ".tmp" + std::to_string(::getpid());
  Fd f;
  f.fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
  if (f.fd < 0) io_error("cannot create", tmp);
  try {
    write_all(f.fd, &im.fh, sizeof(im.fh), tmp);
    write_all(f.fd, im.sec, sizeof(im.sec), tmp);
    uint64_t pos = kTableEnd;
    static const char zeros[64] = {};
    for (uint32_t i = 0; i < kSections; ++i) {
      write_all(f.fd, zeros, im.sec[i].offset - pos, tmp);
      write_all(f.fd, im.data[i], im.sec[i].bytes, tmp);
      pos = im.sec[i].offset + im.sec[i].bytes;
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

std::vector<uint8_t> HnswFile::to_bytes(const Hnsw& h, const std::string& meta) {
  std::shared_lock<GrowLock> g(h.grow_mutex_);
  std::lock_guard<std::mutex> lg(h.label_mutex_);
  const Image im = image(h, meta);
  std::vector<uint8_t> out(im.total, 0);  // zeros fill the alignment gaps
  std::memcpy(out.data(), &im.fh, sizeof(im.fh));
  std::memcpy(out.data() + sizeof(im.fh), im.sec, sizeof(im.sec));
  for (uint32_t i = 0; i < kSections; ++i)
    if (im.sec[i].bytes) std::memcpy(out.data() + im.sec[i].offset, im.data[i], im.sec[i].bytes);
  return out;
}

std::unique_ptr<Hnsw> HnswFile::load(const std::string& path, bool use_mmap, std::string* meta) {
  Fd f;
  f.fd = ::open(path.c_str(), O_RDONLY);
  if (f.fd < 0) io_error("cannot open", path);
  struct stat st;
  if (::fstat(f.fd, &st) != 0) io_error("cannot stat", path);
  const uint64_t file_bytes = uint64_t(st.st_size);
  const std::string what = "HNSW index file '" + path + "'";
  if (file_bytes < kTableEnd)
    throw Error(ErrorCode::CorruptFile, "corrupt " + what + ": " + std::to_string(file_bytes) +
                                            " bytes, shorter than the header");
  if (!use_mmap) {
    std::unique_ptr<char[]> owned(new char[file_bytes]);
    uint64_t got = 0;
    while (got < file_bytes) {
      ssize_t r = ::pread(f.fd, owned.get() + got, file_bytes - got, off_t(got));
      if (r < 0 && errno == EINTR) continue;
      if (r <= 0) io_error("cannot read", path);
      got += uint64_t(r);
    }
    return parse(owned.get(), file_bytes, what, Origin::Copy, meta);
  }
  // Mapped privately: pages load on demand; writes such as a delete flag stay private.
  void* base = ::mmap(nullptr, file_bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE, f.fd, 0);
  if (base == MAP_FAILED) io_error("cannot map", path);
  std::unique_ptr<Hnsw> h;
  try {
    h = parse(static_cast<const char*>(base), file_bytes, what, Origin::Mapped, meta);
  } catch (...) {
    ::munmap(base, file_bytes);
    throw;
  }
  if (!h->level0_mapped_) ::munmap(base, file_bytes);  // small index: copied
  return h;
}

std::unique_ptr<Hnsw> HnswFile::parse(const char* bytes, uint64_t file_bytes, const std::string& what, Origin origin,
                                      std::string* meta) {
  auto corrupt = [&](const std::string& why) -> void {
    throw Error(ErrorCode::CorruptFile, "corrupt " + what + ": " + why);
  };
  if (file_bytes < kTableEnd)
    corrupt(std::to_string(file_bytes) + " bytes, shorter than the header");
  FileHeader fh;
  std::memcpy(&fh, bytes, sizeof(fh));
  if (std::memcmp(fh.magic, kMagic, 8) != 0) corrupt("not a fastrec HNSW index (bad magic number)");
  if (fh.version > kVersion)
    throw Error(ErrorCode::UnsupportedVersion, what + " has format version " + std::to_string(fh.version) +
                                                   "; this fastrec reads versions 2 to " + std::to_string(kVersion) +
                                                   ": upgrade fastrec or build the index again");
  if (fh.version == 1)
    throw Error(ErrorCode::UnsupportedVersion,
                what + " has format version 1 (written by an older fastrec, with the ids in a separate .ids.json "
                       "file); this fastrec reads versions 2 to " + std::to_string(kVersion) +
                    ": build the index again and save it");
  if (fh.version == 0) corrupt("format version 0");
  Section sec[kSections];
  std::memcpy(sec, bytes + sizeof(fh), sizeof(sec));
  uint32_t stored_crc = fh.header_crc;
  fh.header_crc = 0;
  uint32_t crc = crc32(sec, sizeof(sec), crc32(&fh, sizeof(fh)));
  if (crc != stored_crc) corrupt("header checksum mismatch");
  if (fh.section_count != kSections) corrupt("unexpected section count");
  if (fh.metric > 2 || fh.dim == 0 || fh.dim > 65535 || fh.M < 2 || fh.M > 256 || fh.ef_construction == 0 ||
      fh.flags > 7 || (fh.flags & 6) == 6 || fh.stored_dim != fh.dim + (fh.flags & 1) ||
      ((fh.flags & 1) && fh.metric != 1))
    corrupt("invalid parameters in header");
  if ((fh.flags & 4) && fh.version < 3) corrupt("int8 storage in a version " + std::to_string(fh.version) + " file");

  HnswParams p;
  p.dim = fh.dim;
  p.metric = Metric(fh.metric);
  p.M = fh.M;
  p.ef_construction = fh.ef_construction;
  p.seed = fh.seed;
  p.mips_transform = fh.flags & 1;
  p.max_norm = fh.phi;
  p.storage = (fh.flags & 2) ? Storage::Float16 : (fh.flags & 4) ? Storage::Int8 : Storage::Float32;
  auto h = std::make_unique<Hnsw>(p, 16);
  if (h->block_bytes_ != fh.block_bytes) corrupt("block size does not match the parameters");
  const uint64_t slots = fh.slots;
  if (slots >= kNoSlot || fh.live > slots) corrupt("invalid item counts");
  if (fh.pool_used >= (uint64_t(1) << 32)) corrupt("invalid upper-level pool size");
  const uint64_t want[kSections] = {slots * fh.block_bytes, slots * 4, slots * 4, fh.pool_used * 4, sec[kMeta].bytes};
  // Sections follow each other at the next 64-byte boundary; the gaps must be
  // zero and nothing may follow the last one, so every byte is checked.
  uint64_t end = kTableEnd;
  for (uint32_t i = 0; i < kSections; ++i) {
    if (sec[i].tag != kTags[i]) corrupt("section " + std::to_string(i) + " has a wrong tag");
    if (sec[i].bytes != want[i]) corrupt("section " + std::to_string(i) + " has a wrong size");
    if (sec[i].offset != align64(end)) corrupt("section " + std::to_string(i) + " has a wrong offset");
    if (sec[i].offset > file_bytes || sec[i].bytes > file_bytes - sec[i].offset)
      corrupt("truncated: section " + std::to_string(i) + " extends past the end");
    for (uint64_t b = end; b < sec[i].offset; ++b)
      if (bytes[b] != 0) corrupt("non-zero padding before section " + std::to_string(i));
    if (crc32(bytes + sec[i].offset, sec[i].bytes) != sec[i].crc)
      corrupt("checksum mismatch in section " + std::to_string(i));
    end = sec[i].offset + sec[i].bytes;
  }
  if (end != file_bytes) corrupt(std::to_string(file_bytes - end) + " unexpected bytes after the last section");

  // Structure checks (the checksums only prove the bytes are what was written).
  // Arrays are read by memcpy: in-memory bytes need not be aligned.
  auto u32 = [&](uint32_t section, uint64_t i) {
    uint32_t x;
    std::memcpy(&x, bytes + sec[section].offset + 4 * i, 4);
    return x;
  };
  const char* level0 = bytes + sec[0].offset;
  auto block_word = [&](uint64_t s, uint32_t j) {
    uint32_t x;
    std::memcpy(&x, level0 + s * fh.block_bytes + 4 * size_t(j), 4);
    return x;
  };
  const size_t M0 = h->M0_;
  uint64_t top_level = 0;
  size_t live = 0;
  uint32_t max_label = 0;
  for (uint64_t s = 0; s < slots; ++s) {
    const uint32_t head = block_word(s, 0);
    if ((head & Hnsw::kCountMask) > M0) corrupt("a level-0 list is longer than 2M");
    for (uint32_t j = 1; j <= (head & Hnsw::kCountMask); ++j)
      if (block_word(s, j) >= slots) corrupt("a link points past the last item");
    const uint32_t label = u32(1, s);
    if (label != kNoSlot) {
      if (label >= 0x80000000u) corrupt("invalid label");
      if (!(head & Hnsw::kDeletedBit)) {
        ++live;
        max_label = std::max(max_label, label);
      }
    }
    const uint32_t up = u32(2, s);
    if (up != kNoSlot) {
      uint64_t off = up;
      if (off >= fh.pool_used) corrupt("an upper-level offset points past the pool");
      uint64_t L = u32(3, off);
      if (L == 0 || L > 30 || off + 1 + L * (fh.M + 1) > fh.pool_used) corrupt("invalid upper-level block");
      top_level = std::max(top_level, L);
      for (uint64_t l = 0; l < L; ++l) {
        const uint64_t list = off + 1 + l * (fh.M + 1);
        const uint32_t cnt = u32(3, list);
        if (cnt > fh.M) corrupt("an upper-level list is longer than M");
        for (uint32_t j = 1; j <= cnt; ++j)
          if (u32(3, list + j) >= slots) corrupt("an upper-level link points past the last item");
      }
    }
  }
  if (live != fh.live) corrupt("live item count does not match the deleted flags");
  if (slots == 0) {
    if (fh.entry != Hnsw::kNoEntry) corrupt("invalid entry point");
  } else {
    const uint32_t es = entry_slot_of(fh.entry);
    if (fh.entry == Hnsw::kNoEntry || es >= slots) corrupt("invalid entry point");
    const uint32_t up = u32(2, es);
    const uint64_t level = up == kNoSlot ? 0 : u32(3, up);
    if (uint64_t(entry_level_of(fh.entry)) != level || level < top_level) corrupt("invalid entry point");
  }

  // The id maps (a label appearing twice is the last structural error).
  bool identity = true;  // labels equal slots: no maps kept
  for (uint64_t s = 0; s < slots && identity; ++s) identity = u32(1, s) == s;
  std::vector<uint32_t> label_to_slot(live && !identity ? size_t(max_label) + 1 : 0, kNoSlot);
  std::vector<uint32_t> free_slots;
  for (uint64_t s = 0; s < slots; ++s) {
    const uint32_t label = u32(1, s);
    if (label == kNoSlot) continue;
    if (identity) {
      if (block_word(s, 0) & Hnsw::kDeletedBit) free_slots.push_back(uint32_t(s));
      continue;
    }
    if (block_word(s, 0) & Hnsw::kDeletedBit) {
      free_slots.push_back(uint32_t(s));
    } else {
      if (label_to_slot[label] != kNoSlot) corrupt("a label appears twice");
      label_to_slot[label] = uint32_t(s);
    }
  }

  // Adopt: level-0 blocks in place when mapped (or borrowed and aligned), the
  // small arrays copied. Below 16 slots everything is copied (room to grow).
  // Nothing after taking over a mapping may throw: load() unmaps on error.
  std::unique_lock<GrowLock> g(h->grow_mutex_);
  const size_t cap = std::max<uint64_t>(slots, 16);
  h->identity_ = identity;
  if (!identity) {
    h->labels_.assign(cap, kNoSlot);
    if (slots) std::memcpy(h->labels_.data(), bytes + sec[1].offset, slots * 4);
  }
  h->upper_.assign(cap, kNoSlot);
  h->pool_.resize(fh.pool_used);
  if (slots) std::memcpy(h->upper_.data(), bytes + sec[2].offset, slots * 4);
  if (fh.pool_used) std::memcpy(h->pool_.data(), bytes + sec[3].offset, fh.pool_used * 4);
  h->label_to_slot_ = std::move(label_to_slot);
  h->free_slots_ = std::move(free_slots);
  if (meta) meta->assign(bytes + sec[kMeta].offset, sec[kMeta].bytes);
  const bool in_place = slots >= 16 && reinterpret_cast<uintptr_t>(level0) % 4 == 0 && origin != Origin::Copy;
  char* blocks = const_cast<char*>(level0);
  if (!in_place) {
    blocks = Hnsw::alloc_blocks(cap * fh.block_bytes);
    if (!blocks) throw std::bad_alloc();
    std::memcpy(blocks, level0, sec[0].bytes);
  }
  std::free(h->level0_);
  h->level0_ = blocks;
  if (in_place && origin == Origin::Mapped) {
    h->level0_mapped_ = true;  // the destructor unmaps
    h->map_base_ = const_cast<char*>(bytes);
    h->map_bytes_ = file_bytes;
  } else if (in_place) {
    h->level0_borrowed_.store(true);  // never written: own_level0() copies first
  }
  h->capacity_ = cap;
  h->pool_used_.store(fh.pool_used);
  h->n_slots_.store(slots);
  h->live_.store(live);
  h->entry_.store(fh.entry);
  return h;
}

void Hnsw::save(const std::string& path, const std::string& meta) const { HnswFile::save(*this, path, meta); }
std::unique_ptr<Hnsw> Hnsw::load(const std::string& path, bool mmap, std::string* meta) {
  return HnswFile::load(path, mmap, meta);
}
std::vector<uint8_t> Hnsw::to_bytes(const std::string& meta) const { return HnswFile::to_bytes(*this, meta); }
std::unique_ptr<Hnsw> Hnsw::from_bytes(const void* data, size_t bytes, bool in_place, std::string* meta) {
  return HnswFile::parse(static_cast<const char*>(data), bytes, "HNSW index bytes",
                         in_place ? Origin::Borrow : Origin::Copy, meta);
}

}  // namespace fastrec::ann
