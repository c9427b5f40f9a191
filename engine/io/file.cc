// io/file.cc: see file.h.
#include "engine/io/file.h"

#include <atomic>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <sstream>
#include <unistd.h>

#include "engine/common.h"

namespace lb::io {

void write_file_atomic(const std::string& path, const std::string& contents) {
  write_file_atomic(path, {{contents.data(), contents.size()}});
}

void write_file_atomic(const std::string& path, const std::vector<std::pair<const void*, size_t>>& parts) {
  // pid + a per-process counter: two threads saving to the same path never share a temp file.
  static std::atomic<uint64_t> counter{0};
  const std::string tmp = path + ".tmp." + std::to_string(::getpid()) + "." + std::to_string(counter++);
  std::FILE* f = std::fopen(tmp.c_str(), "wb");
  LB_CHECK(f != nullptr, "cannot create " << tmp << " (" << std::strerror(errno)
                                         << "); check that the folder exists and is writable");
  bool ok = true;
  for (const auto& [data, size] : parts) ok = ok && (size == 0 || std::fwrite(data, 1, size, f) == size);
  const int saved_errno = errno;
  ok = (std::fclose(f) == 0) && ok;
  if (!ok) {
    std::remove(tmp.c_str());
    LB_THROW("writing " << tmp << " failed (" << std::strerror(saved_errno) << "); check the free disk space");
  }
  if (std::rename(tmp.c_str(), path.c_str()) != 0) {
    const int err = errno;
    std::remove(tmp.c_str());
    LB_THROW("cannot rename " << tmp << " to " << path << " (" << std::strerror(err)
                              << "); check that the destination is writable");
  }
}

std::string read_file(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  LB_CHECK(f, path << ": cannot open (" << std::strerror(errno) << "); check the path");
  std::ostringstream ss;
  ss << f.rdbuf();
  LB_CHECK(!f.bad(), path << ": read error");
  return ss.str();
}

}  // namespace lb::io
