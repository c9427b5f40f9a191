// io/file.h: whole-file reads and atomic writes.
//
// Every output lightbox writes goes through write_file_atomic: the bytes go to a temporary file in
// the same folder, which is then renamed over the target. rename() within one filesystem is
// atomic, so a crash (or a kill) leaves either the old file or the new one, never half of one.
#pragma once

#include <cstddef>
#include <string>
#include <utility>
#include <vector>

namespace lb::io {

void write_file_atomic(const std::string& path, const std::string& contents);
// The same for contents in several pieces (a header and a tensor's bytes), written back to back
// without first joining them in memory.
void write_file_atomic(const std::string& path, const std::vector<std::pair<const void*, size_t>>& parts);
// Reads a whole file; a missing or unreadable file is an error naming it.
std::string read_file(const std::string& path);
// Removes the temporary files ("<name>.tmp.<pid>.<n>") that processes killed in the middle of a
// write_file_atomic left in `folder` (not its subfolders); files of processes still alive stay.
// Returns how many it removed; a missing folder holds none.
int remove_stale_temp_files(const std::string& folder);

}  // namespace lb::io
