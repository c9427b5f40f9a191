// io/npz.cc: the .npz reader and writer (format and guarantees in npz.h).
//
// Reading: zip_open with ZIP_CHECKCONS (libzip compares every local header with the central
// directory), then per member: size checks from zip_stat, the .npy header (io::read_npy), one
// allocation of the checked shape, zip_fread to the end.
// libzip checks a member's CRC only when a read reaches its end, so read_member always asks for
// one byte past the stated size: that last read is where a corrupt member is caught.
//
// Writing: libzip builds the archive into an in-memory buffer source, which is then written with
// write_file_atomic (temp file + rename), the way every lightbox output is written.
#include "engine/io/npz.h"

#include <zip.h>

#include <algorithm>
#include <cstring>
#include <filesystem>
#include <list>
#include <set>

#include "engine/io/file.h"
#include "engine/io/npy.h"

namespace lb::io {

namespace {

constexpr uint64_t kMaxMemberBytes = uint64_t{16} << 30;  // 16 GiB: far above any MedMNIST file
// zlib's deflate cannot expand data more than 1032:1 (RFC 1951's longest match, 258 bytes, costs
// at least 2 bits); a member that claims more is lying about its size.
constexpr uint64_t kMaxDeflateRatio = 1032;
// numpy stamps members 1980-01-01 (the zip epoch); a fixed time keeps saved archives byte-for-byte
// reproducible. One day later, so that no time zone turns it into 1979, which zip cannot store.
constexpr time_t kFixedMtime = 315619200;  // 1980-01-02 00:00:00 UTC

std::string zip_code_message(int code) {
  zip_error_t err;
  zip_error_init_with_code(&err, code);
  std::string msg = zip_error_strerror(&err);
  zip_error_fini(&err);
  return msg;
}

// The first bytes of the file, to tell "not a zip at all" from "a zip cut short".
std::string file_start(const std::string& path, size_t n) {
  std::FILE* f = std::fopen(path.c_str(), "rb");
  if (!f) return {};
  std::string head(n, '\0');
  head.resize(std::fread(&head[0], 1, n, f));
  std::fclose(f);
  return head;
}

[[noreturn]] void throw_open_error(const std::string& path, int code) {
  const std::string why = zip_code_message(code);
  if (code == ZIP_ER_NOZIP) {
    const std::string head = file_start(path, 6);
    if (head.compare(0, 6, "\x93NUMPY") == 0)
      LB_THROW(path << " is a .npy file, not a .npz archive; load it with load_npy");
    if (head.compare(0, 4, "PK\x03\x04") == 0)
      LB_THROW(path << " is truncated or corrupt: it starts like a zip archive but its directory is missing (" << why
                    << "); re-download it");
    LB_THROW(path << " is not a .npz (zip) archive: " << why << "; re-download it");
  }
  if (code == ZIP_ER_INCONS) LB_THROW(path << " is a corrupt zip archive (" << why << "); re-download it");
  LB_THROW(path << ": cannot open as a .npz (zip) archive (" << why << "); check the file and re-download it");
}

// The bytes a member claims, checked against what the archive can hold. Throws before any
// allocation happens.
uint64_t checked_member_size(zip_t* za, uint64_t index, const std::string& what, uintmax_t archive_bytes) {
  zip_stat_t st;
  zip_stat_init(&st);
  LB_CHECK(zip_stat_index(za, index, 0, &st) == 0,
           what << ": cannot read the member's directory entry (" << zip_strerror(za) << "); re-download it");
  const uint64_t need = ZIP_STAT_SIZE | ZIP_STAT_COMP_SIZE | ZIP_STAT_COMP_METHOD;
  LB_CHECK((st.valid & need) == need, what << ": the member's directory entry lacks its sizes; re-download it");
  LB_CHECK(st.size <= kMaxMemberBytes,
           what << ": the member claims " << st.size << " bytes (over 16 GiB); the archive is corrupt, re-download it");
  LB_CHECK(st.comp_size <= archive_bytes, what << ": the member claims " << st.comp_size
                                               << " compressed bytes but the archive holds " << archive_bytes
                                               << "; it is truncated, re-download it");
  if (st.comp_method == ZIP_CM_STORE)
    LB_CHECK(st.size == st.comp_size, what << ": stored member claims " << st.size << " bytes but holds "
                                           << st.comp_size << "; the archive is corrupt, re-download it");
  if (st.comp_method == ZIP_CM_DEFLATE)
    LB_CHECK(st.size <= st.comp_size * kMaxDeflateRatio + 1024,
             what << ": deflated member claims " << st.size << " bytes from " << st.comp_size
                  << " compressed (more than deflate can expand); the archive is corrupt, re-download it");
  return st.size;
}

// Reads member `index` (`size` bytes by its directory entry) as a .npy: header first, so the
// tensor is allocated only after its shape has been checked against `size`. Then confirms the
// member ends where its entry says (which is when libzip verifies its CRC).
Tensor read_member(zip_t* za, uint64_t index, uint64_t size, const std::string& what) {
  zip_file_t* f = zip_fopen_index(za, index, 0);
  LB_CHECK(f != nullptr, what << ": cannot open the member (" << zip_strerror(za)
                              << "); write the archive again with np.savez or np.savez_compressed");
  std::unique_ptr<zip_file_t, int (*)(zip_file_t*)> guard(f, &zip_fclose);
  uint64_t got = 0;
  auto read = [&](char* out, size_t want) {
    for (size_t done = 0; done < want;) {
      const zip_int64_t n = zip_fread(f, out + done, want - done);
      LB_CHECK(n >= 0, what << ": corrupt member (" << zip_file_strerror(f) << ") after " << got + done << " of "
                            << size << " bytes; re-download the archive");
      LB_CHECK(n > 0, what << ": truncated member: read " << got + done << " of " << size
                           << " bytes; re-download the archive");
      done += static_cast<size_t>(n);
    }
    got += want;
  };
  Tensor t = read_npy(read, static_cast<size_t>(size), what);
  // Bytes after the array (numpy writes none) still count: the CRC covers them.
  char scratch[4096];
  while (got < size) read(scratch, static_cast<size_t>(std::min<uint64_t>(sizeof scratch, size - got)));
  char extra = 0;
  const zip_int64_t n = zip_fread(f, &extra, 1);
  LB_CHECK(n >= 0, what << ": corrupt member (" << zip_file_strerror(f) << "); re-download the archive");
  LB_CHECK(n == 0, what << ": the member holds more than the " << size
                        << " bytes its directory entry says; the archive is corrupt, re-download it");
  const int rc = zip_fclose(guard.release());
  LB_CHECK(rc == 0, what << ": corrupt member (" << zip_code_message(rc) << "); re-download the archive");
  return t;
}

void check_keys(const std::string& path, const std::vector<std::pair<std::string, Tensor>>& arrays) {
  std::set<std::string> seen;
  for (const auto& [key, t] : arrays) {
    LB_CHECK(!key.empty(), "save_npz: " << path << ": an array has an empty key; give every array a name");
    LB_CHECK(key.find('\0') == std::string::npos,
             "save_npz: " << path << ": key '" << key.c_str() << "...' holds a NUL byte; use a plain name");
    LB_CHECK(seen.insert(key).second,
             "save_npz: " << path << ": key '" << key << "' appears twice; give every array its own name");
  }
}

// Owns the in-memory buffer source and the archive written into it, freeing whatever is left.
struct ArchiveBuilder {
  zip_source_t* buffer = nullptr;
  zip_t* archive = nullptr;
  ~ArchiveBuilder() {
    if (archive) zip_discard(archive);
    if (buffer) zip_source_free(buffer);
  }
};

void add_member(ArchiveBuilder& b, const std::string& path, const std::string& name, const std::string& bytes,
                bool compress) {
  zip_source_t* s = zip_source_buffer(b.archive, bytes.data(), bytes.size(), 0);
  LB_CHECK(s != nullptr, "save_npz: " << path << ": " << zip_strerror(b.archive));
  const zip_int64_t idx = zip_file_add(b.archive, name.c_str(), s, ZIP_FL_ENC_UTF_8);
  if (idx < 0) {
    zip_source_free(s);  // the archive owns a source only once it has been added
    LB_THROW("save_npz: " << path << ": cannot add " << name << " (" << zip_strerror(b.archive) << ")");
  }
  const zip_uint64_t i = static_cast<zip_uint64_t>(idx);
  LB_CHECK(zip_set_file_compression(b.archive, i, compress ? ZIP_CM_DEFLATE : ZIP_CM_STORE, 0) == 0 &&
               zip_file_set_mtime(b.archive, i, kFixedMtime, 0) == 0,
           "save_npz: " << path << ": " << zip_strerror(b.archive));
}

// Reads back everything libzip wrote into the buffer source.
std::string drain(zip_source_t* src, const std::string& path) {
  zip_stat_t st;
  zip_stat_init(&st);
  LB_CHECK(zip_source_stat(src, &st) == 0 && (st.valid & ZIP_STAT_SIZE),
           "save_npz: " << path << ": cannot size the built archive");
  std::string out(st.size, '\0');
  LB_CHECK(zip_source_open(src) == 0, "save_npz: " << path << ": cannot read the built archive");
  const zip_int64_t n = st.size ? zip_source_read(src, &out[0], st.size) : 0;
  zip_source_close(src);
  LB_CHECK(n == static_cast<zip_int64_t>(st.size), "save_npz: " << path << ": short read of the built archive");
  return out;
}

}  // namespace

NpzReader::NpzReader(const std::string& path) : path_(path), archive_(nullptr, &zip_discard) {
  std::error_code ec;
  LB_CHECK(std::filesystem::exists(path, ec), path << ": no such file; check the path");
  LB_CHECK(!std::filesystem::is_directory(path, ec), path << ": is a directory; give the path of a .npz file");
  int code = 0;
  zip_t* za = zip_open(path.c_str(), ZIP_RDONLY | ZIP_CHECKCONS, &code);
  if (!za) throw_open_error(path, code);
  archive_.reset(za);
  const zip_int64_t n = zip_get_num_entries(za, 0);
  LB_CHECK(n >= 0, path << ": cannot list the archive (" << zip_strerror(za) << "); re-download it");
  for (zip_int64_t i = 0; i < n; ++i) {
    const char* name = zip_get_name(za, static_cast<zip_uint64_t>(i), 0);
    LB_CHECK(name != nullptr,
             path << ": cannot read member " << i << "'s name (" << zip_strerror(za) << "); re-download it");
    std::string key = name;
    if (!key.empty() && key.back() == '/') continue;  // a folder entry holds no array
    if (key.size() > 4 && key.compare(key.size() - 4, 4, ".npy") == 0) key.resize(key.size() - 4);
    members_.push_back({key, static_cast<uint64_t>(i)});
  }
}

NpzReader::~NpzReader() = default;
NpzReader::NpzReader(NpzReader&&) noexcept = default;
NpzReader& NpzReader::operator=(NpzReader&&) noexcept = default;

std::vector<std::string> NpzReader::keys() const {
  std::vector<std::string> out;
  out.reserve(members_.size());
  for (const Member& m : members_) out.push_back(m.key);
  return out;
}

const NpzReader::Member* NpzReader::find(const std::string& key) const {
  for (const Member& m : members_)
    if (m.key == key) return &m;
  return nullptr;
}

bool NpzReader::has(const std::string& key) const { return find(key) != nullptr; }

Tensor NpzReader::get(const std::string& key) const {
  LB_CHECK(archive_, "NpzReader: this reader was moved from; open the archive again");
  const Member* m = find(key);
  if (!m) {
    std::string list;
    for (const Member& k : members_) list += (list.empty() ? "" : ", ") + k.key;
    LB_THROW(path_ << ": no array '" << key << "' (it has: " << (list.empty() ? "nothing" : list)
                   << "); use one of those keys");
  }
  const std::string what = path_ + ":" + key;
  std::error_code ec;
  const uintmax_t archive_bytes = std::filesystem::file_size(path_, ec);
  LB_CHECK(!ec, what << ": cannot read the archive's size (" << ec.message() << "); check the file");
  const uint64_t size = checked_member_size(archive_.get(), m->index, what, archive_bytes);
  return read_member(archive_.get(), m->index, size, what);
}

void save_npz(const std::string& path, const std::vector<std::pair<std::string, Tensor>>& arrays, bool compress) {
  check_keys(path, arrays);
  if (arrays.empty()) {
    // libzip removes an archive left with no members; numpy writes just the 22-byte end record.
    write_file_atomic(path, std::string("PK\x05\x06", 4) + std::string(18, '\0'));
    return;
  }
  ArchiveBuilder b;
  zip_error_t err;
  zip_error_init(&err);
  b.buffer = zip_source_buffer_create(nullptr, 0, 0, &err);
  LB_CHECK(b.buffer != nullptr, "save_npz: " << path << ": " << zip_error_strerror(&err));
  b.archive = zip_open_from_source(b.buffer, ZIP_TRUNCATE, &err);
  LB_CHECK(b.archive != nullptr, "save_npz: " << path << ": " << zip_error_strerror(&err));
  zip_error_fini(&err);
  zip_source_keep(b.buffer);  // the archive would free the buffer on close; we read it after

  // libzip reads member bytes only at zip_close, so they must stay put until then: a std::list
  // never moves its strings (a vector would, and short strings live inside the string object).
  std::list<std::string> payloads;
  for (const auto& [key, t] : arrays) {
    payloads.push_back(encode_npy(t));
    add_member(b, path, key + ".npy", payloads.back(), compress);
  }
  if (zip_close(b.archive) != 0)
    LB_THROW("save_npz: " << path << ": cannot build the archive (" << zip_strerror(b.archive) << ")");
  b.archive = nullptr;  // zip_close freed it
  write_file_atomic(path, drain(b.buffer, path));
}

}  // namespace lb::io
