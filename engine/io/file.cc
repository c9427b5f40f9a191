// io/file.cc: see file.h.
#include "engine/io/file.h"

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <sstream>
#include <unistd.h>

#include "engine/common.h"

namespace lb::io {

void write_file_atomic(const std::string& path, const std::string& contents) {
  const std::string tmp = path + ".tmp." + std::to_string(::getpid());
  {
    std::ofstream f(tmp, std::ios::binary | std::ios::trunc);
    LB_CHECK(f, "cannot write " << tmp << " (" << std::strerror(errno)
                                << "); check that the folder exists and is writable");
    f.write(contents.data(), static_cast<std::streamsize>(contents.size()));
    f.flush();
    if (!f) {
      std::remove(tmp.c_str());
      LB_THROW("writing " << tmp << " failed (disk full?)");
    }
  }
  if (std::rename(tmp.c_str(), path.c_str()) != 0) {
    const int err = errno;
    std::remove(tmp.c_str());
    LB_THROW("cannot rename " << tmp << " to " << path << " (" << std::strerror(err) << ")");
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
