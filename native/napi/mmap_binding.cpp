// Memory-mapped model files: mapFile(path) -> ArrayBuffer over a read-only
// private mapping of the whole file (POSIX mmap; Windows: not available, the
// JS side falls back to reading the file). The mapping is released when the
// ArrayBuffer is garbage collected. Model files are only ever replaced by
// rename (lib/io/modelfile.ts), never rewritten in place, so a mapped file's
// pages cannot change or shrink under us.
#include "binding.hpp"

#if defined(__unix__) || defined(__APPLE__)
#include <cerrno>
#include <cstring>
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>
#define FASTREC_HAVE_MMAP 1
#endif

namespace fastrec::napi {
namespace {

void init_mmap(Napi::Env env, Napi::Object exports) {
  // mapFile(path: string) -> ArrayBuffer | null (null where mmap is unavailable or the file is empty)
  export_fn(env, exports, "mapFile", [](const Napi::CallbackInfo& info) -> Napi::Value {
    std::string path = string(info[0], "path");
#ifdef FASTREC_HAVE_MMAP
    int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) throw Error(ErrorCode::Io, "cannot open " + path + ": " + std::strerror(errno));
    struct stat st {};
    if (::fstat(fd, &st) != 0) {
      int e = errno;
      ::close(fd);
      throw Error(ErrorCode::Io, "cannot stat " + path + ": " + std::strerror(e));
    }
    size_t size = static_cast<size_t>(st.st_size);
    if (size == 0) {
      ::close(fd);
      return info.Env().Null();
    }
    void* p = ::mmap(nullptr, size, PROT_READ, MAP_PRIVATE, fd, 0);
    int e = errno;
    ::close(fd);  // the mapping keeps the file alive
    if (p == MAP_FAILED) throw Error(ErrorCode::Io, "cannot map " + path + ": " + std::strerror(e));
    auto* len = new size_t(size);
    return Napi::ArrayBuffer::New(
        info.Env(), p, size, [](Napi::Env, void* data, size_t* n) {
          ::munmap(data, *n);
          delete n;
        },
        len);
#else
    (void)path;
    return info.Env().Null();
#endif
  });
}

FASTREC_REGISTER(init_mmap);

}  // namespace
}  // namespace fastrec::napi
