// io/file.cc: see file.h.
#include "engine/io/file.h"

#include <unistd.h>
#include <atomic>
#include <cerrno>
#include <csignal>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "base/common.h"

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

namespace {

// The pid in "<name>.tmp.<pid>.<n>", or -1 when `name` is not a write_file_atomic temp file.
long temp_file_pid(const std::string& name) {
  const size_t last = name.rfind('.');
  if (last == std::string::npos || last == 0) return -1;
  const size_t mid = name.rfind('.', last - 1);
  if (mid == std::string::npos || mid < 4 || name.compare(mid - 4, 5, ".tmp.") != 0) return -1;
  const std::string pid = name.substr(mid + 1, last - mid - 1), n = name.substr(last + 1);
  const auto digits = [](const std::string& s) {
    return !s.empty() && s.size() < 10 && s.find_first_not_of("0123456789") == std::string::npos;
  };
  if (!digits(pid) || n.empty() || n.find_first_not_of("0123456789") != std::string::npos) return -1;
  return std::stol(pid);
}

}  // namespace

int remove_stale_temp_files(const std::string& folder) {
  namespace fs = std::filesystem;
  std::error_code ec;
  int removed = 0;
  for (const fs::directory_entry& e : fs::directory_iterator(folder, ec)) {
    const long pid = temp_file_pid(e.path().filename().string());
    if (pid <= 0 || !e.is_regular_file(ec)) continue;
    // kill(pid, 0) probes without sending anything: ESRCH means no such process any more.
    const bool alive = pid == ::getpid() || ::kill(static_cast<pid_t>(pid), 0) == 0 || errno != ESRCH;
    if (!alive && fs::remove(e.path(), ec)) ++removed;
  }
  return removed;
}

}  // namespace lb::io
