// io/file.h: whole-file reads and atomic writes.
//
// Every output lightbox writes goes through write_file_atomic: the bytes go to a temporary file in
// the same folder, which is then renamed over the target. rename() within one filesystem is
// atomic, so a crash (or a kill) leaves either the old file or the new one, never half of one.
#pragma once

#include <string>

namespace lb::io {

void write_file_atomic(const std::string& path, const std::string& contents);
// Reads a whole file; a missing or unreadable file is an error naming it.
std::string read_file(const std::string& path);

}  // namespace lb::io
