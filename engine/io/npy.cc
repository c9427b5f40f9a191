// io/npy.cc: the .npy reader and writer (format in npy.h; numpy/lib/format.py is the reference).
//
// Reading is split in two so that files, .npz members and in-memory buffers share every check:
//   read_preamble  magic, version and header length; returns where the data starts
//   parse_header   the dict literal: descr, fortran_order, shape, and the size check
// read_npy pulls the header first through a read callback, then the data straight into the
// tensor, so a 300 MB dataset is never held twice and a lying header costs no allocation.
#include "engine/io/npy.h"

#include <cerrno>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <functional>
#include <limits>
#include <memory>

#include "engine/io/file.h"

#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "lightbox's .npy code copies little-endian bytes as they are; port it for big-endian hosts"
#endif

namespace lb::io {

namespace {

constexpr char kMagic[] = "\x93NUMPY";
constexpr size_t kMagicLen = 6;
constexpr size_t kAlign = 64;  // numpy pads headers so data starts 64-byte aligned
// numpy's own reader refuses headers over 10000 bytes (np.load's max_header_size); a header that
// claims more than a megabyte is a corrupt length field, refused before it is read.
constexpr size_t kMaxHeaderBytes = size_t{1} << 20;
constexpr size_t kMaxDims = 64;  // numpy 2's NPY_MAXDIMS

struct Header {
  DType dtype = DType::Float32;
  const char* dtype_label = "float32";  // "bool" for '|b1', which lands in a uint8 tensor
  bool is_bool = false;
  Shape shape;
  size_t data_offset = 0;
  size_t data_bytes = 0;
};

uint32_t read_le(const unsigned char* p, int nbytes) {
  uint32_t v = 0;
  for (int i = nbytes - 1; i >= 0; --i) v = (v << 8) | p[i];
  return v;
}

// Checks magic, version and header length against the `total` bytes of the whole file, given
// its first `n` bytes (at least the preamble, when the file is that long). Returns the offset
// of the first data byte.
size_t read_preamble(const unsigned char* p, size_t n, size_t total, const std::string& what) {
  if (n >= 2 && p[0] == 'P' && p[1] == 'K')
    LB_THROW(what << ": this is a zip archive (.npz), not a .npy file; load it with the npz reader");
  LB_CHECK(n >= kMagicLen + 2 && std::memcmp(p, kMagic, kMagicLen) == 0,
           what << ": not a .npy file (its first bytes are not \\x93NUMPY); write arrays with np.save");
  const int major = p[6], minor = p[7];
  LB_CHECK(major >= 1 && major <= 3, what << ": .npy format version " << major << "." << minor
                                          << " is not supported (1.0-3.0 are); save it again with np.save");
  const size_t len_bytes = major == 1 ? 2 : 4;
  const size_t pre = kMagicLen + 2 + len_bytes;
  LB_CHECK(n >= pre, what << ": truncated: the file ends inside the .npy preamble (" << total
                          << " bytes); download or save it again");
  const size_t header_len = read_le(p + 8, static_cast<int>(len_bytes));
  LB_CHECK(header_len <= kMaxHeaderBytes,
           what << ": the .npy header claims " << header_len
                << " bytes (numpy writes a few hundred); the file is corrupt, save it again");
  LB_CHECK(header_len <= total - pre, what << ": truncated: the header claims " << header_len
                                           << " bytes but the file holds " << total - pre
                                           << " after the preamble; download or save it again");
  return pre + header_len;
}

// A cursor over the header's Python dict literal. numpy writes a fixed, simple form; this
// accepts that form with any whitespace, and names the first thing it does not understand.
class DictReader {
 public:
  DictReader(const std::string& text, const std::string& what) : s_(text), what_(what) {}

  void skip_ws() {
    while (i_ < s_.size() && (s_[i_] == ' ' || s_[i_] == '\t' || s_[i_] == '\n' || s_[i_] == '\r')) ++i_;
  }
  bool peek(char c) {
    skip_ws();
    return i_ < s_.size() && s_[i_] == c;
  }
  void expect(char c) {
    LB_CHECK(peek(c), what_ << ": malformed .npy header (expected '" << c << "' at byte " << i_ << " of \"" << s_
                            << "\"); save the array again with np.save");
    ++i_;
  }
  std::string string_literal() {
    skip_ws();
    LB_CHECK(i_ < s_.size() && (s_[i_] == '\'' || s_[i_] == '"'),
             what_ << ": malformed .npy header (expected a quoted string at byte " << i_ << " of \"" << s_
                   << "\"); structured dtypes are not supported, save a plain array");
    const char q = s_[i_++];
    const size_t end = s_.find(q, i_);
    LB_CHECK(end != std::string::npos, what_ << ": malformed .npy header (unterminated string)");
    std::string v = s_.substr(i_, end - i_);
    i_ = end + 1;
    return v;
  }
  bool boolean() {
    skip_ws();
    if (s_.compare(i_, 4, "True") == 0) return i_ += 4, true;
    if (s_.compare(i_, 5, "False") == 0) return i_ += 5, false;
    LB_THROW(what_ << ": malformed .npy header (expected True or False at byte " << i_ << " of \"" << s_ << "\")");
  }
  int64_t integer() {
    skip_ws();
    const size_t start = i_;
    int64_t v = 0;
    while (i_ < s_.size() && s_[i_] >= '0' && s_[i_] <= '9') {
      LB_CHECK(v <= (std::numeric_limits<int64_t>::max() - 9) / 10,
               what_ << ": shape dimension too large in .npy header \"" << s_ << "\"");
      v = v * 10 + (s_[i_++] - '0');
    }
    LB_CHECK(i_ > start, what_ << ": malformed .npy header (expected a non-negative integer at byte " << start
                               << " of \"" << s_ << "\")");
    if (i_ < s_.size() && s_[i_] == 'L') ++i_;  // Python 2 wrote long integers as 3L
    return v;
  }
  Shape tuple() {
    Shape shape;
    expect('(');
    while (!peek(')')) {
      LB_CHECK(shape.size() < kMaxDims, what_ << ": the .npy header's shape has over " << kMaxDims
                                              << " dimensions; the file is corrupt, save it again");
      shape.push_back(integer());
      if (!peek(',')) break;
      ++i_;
    }
    expect(')');
    return shape;
  }

 private:
  const std::string& s_;
  const std::string& what_;
  size_t i_ = 0;
};

// Maps a numpy type string to a tensor dtype, or throws the one-line explanation.
void set_dtype(Header& h, const std::string& descr, const std::string& what) {
  struct Known {
    const char* descr;
    DType dtype;
    const char* label;
  };
  static const Known kKnown[] = {{"<f4", DType::Float32, "float32"},
                                 {"<f8", DType::Float64, "float64"},
                                 {"<i8", DType::Int64, "int64"},
                                 {"|u1", DType::UInt8, "uint8"},
                                 {"|b1", DType::UInt8, "bool"}};
  for (const Known& k : kKnown)
    if (descr == k.descr) {
      h.dtype = k.dtype;
      h.dtype_label = k.label;
      h.is_bool = descr == "|b1";
      return;
    }
  if (!descr.empty() && descr[0] == '>') {
    std::string little = descr;
    little[0] = '<';
    LB_THROW(what << ": dtype '" << descr << "' is big-endian; convert it with arr.astype('" << little << "')");
  }
  LB_THROW(what << ": dtype '" << descr << "' is not supported (float32, float64, int64, uint8 and bool are); "
                << "convert with arr.astype(np.float32)");
}

// "4708*28*28" (or "scalar") for the size message.
std::string dims_product(const Shape& shape) {
  if (shape.empty()) return "scalar";
  std::string s;
  for (size_t i = 0; i < shape.size(); ++i) s += (i ? "*" : "") + std::to_string(shape[i]);
  return s;
}

// Element count and byte count, refusing products that overflow (a corrupt header).
void set_sizes(Header& h, const std::string& what) {
  const uint64_t item = dtype_size(h.dtype);
  uint64_t numel = 1;
  bool empty = false;
  for (int64_t d : h.shape) empty = empty || d == 0;
  if (!empty) {
    for (int64_t d : h.shape) {
      LB_CHECK(numel <= static_cast<uint64_t>(std::numeric_limits<int64_t>::max()) / item / d,
               what << ": shape " << shape_str(h.shape) << " in the .npy header overflows; the file is corrupt");
      numel *= static_cast<uint64_t>(d);
    }
  } else {
    numel = 0;
  }
  h.data_bytes = static_cast<size_t>(numel * item);
}

// Parses the dict in bytes [pre, data_offset) of `p` and checks the data fits in `total` bytes.
Header parse_header(const unsigned char* p, size_t data_offset, size_t total, const std::string& what) {
  const size_t pre = p[6] == 1 ? 10 : 12;
  std::string text(reinterpret_cast<const char*>(p) + pre, data_offset - pre);
  // The padding and the final '\n' carry nothing, and would split error messages in two.
  text.erase(text.find_last_not_of(" \t\r\n") + 1);
  DictReader r(text, what);
  Header h;
  h.data_offset = data_offset;
  bool seen_descr = false, seen_order = false, seen_shape = false, fortran = false;
  r.expect('{');
  while (!r.peek('}')) {
    const std::string key = r.string_literal();
    r.expect(':');
    if (key == "descr") {
      set_dtype(h, r.string_literal(), what);
      seen_descr = true;
    } else if (key == "fortran_order") {
      fortran = r.boolean();
      seen_order = true;
    } else if (key == "shape") {
      h.shape = r.tuple();
      seen_shape = true;
    } else {
      LB_THROW(what << ": unexpected key '" << key << "' in the .npy header; save the array again with np.save");
    }
    if (!r.peek(',')) break;
    r.expect(',');
  }
  r.expect('}');
  LB_CHECK(seen_descr && seen_order && seen_shape, what << ": the .npy header lacks "
                                                        << (!seen_descr   ? "'descr'"
                                                            : !seen_order ? "'fortran_order'"
                                                                          : "'shape'")
                                                        << "; save the array again with np.save");
  // A 1-D or empty array reads the same in either order, which is why numpy may mark it either way.
  int64_t big_dims = 0;
  for (int64_t d : h.shape) big_dims += d > 1;
  LB_CHECK(!fortran || big_dims <= 1,
           what << ": array is Fortran-ordered; save it with np.save(path, np.ascontiguousarray(arr))");
  set_sizes(h, what);
  const size_t held = total - data_offset;
  LB_CHECK(h.data_bytes <= held, what << ": truncated: header says " << dims_product(h.shape) << " " << h.dtype_label
                                      << " = " << h.data_bytes << " bytes, file holds " << held
                                      << " after the header; download or save it again");
  return h;
}

// Bools are bytes; numpy only writes 0 and 1, but a hand-made file might not.
void finish_bool(Tensor& t, const Header& h) {
  if (!h.is_bool) return;
  uint8_t* q = t.data<uint8_t>();
  for (int64_t i = 0; i < t.numel(); ++i) q[i] = q[i] != 0;
}

// The header bytes (preamble, dict, padding, '\n') for a CPU tensor.
std::string encode_header(const Tensor& t) {
  const char* descr = t.dtype() == DType::Float32   ? "<f4"
                      : t.dtype() == DType::Float64 ? "<f8"
                      : t.dtype() == DType::Int64   ? "<i8"
                                                    : "|u1";
  std::string dict = std::string("{'descr': '") + descr + "', 'fortran_order': False, 'shape': (";
  for (size_t i = 0; i < t.shape().size(); ++i) dict += (i ? ", " : "") + std::to_string(t.shape()[i]);
  dict += t.shape().size() == 1 ? ",), }" : "), }";
  size_t pre = 10;
  size_t padded = ((pre + dict.size() + 1 + kAlign - 1) / kAlign) * kAlign;
  if (padded - pre > 65535) {
    pre = 12;
    padded = ((pre + dict.size() + 1 + kAlign - 1) / kAlign) * kAlign;
  }
  const size_t header_len = padded - pre;
  std::string out(kMagic, kMagicLen);
  out += static_cast<char>(pre == 10 ? 1 : 2);
  out += '\0';
  for (size_t b = 0; b < pre - 8; ++b) out += static_cast<char>((header_len >> (8 * b)) & 0xff);
  out += dict;
  out.append(padded - out.size() - 1, ' ');
  out += '\n';
  return out;
}

Tensor cpu_copy_for_write(const Tensor& t, const char* op) {
  LB_CHECK(t.defined(), op << ": the tensor is undefined; pass a tensor with data");
  return t.device().is_cpu() ? t : t.to(Device::cpu());
}

}  // namespace

Tensor read_npy(const std::function<void(char*, size_t)>& read, size_t total, const std::string& what) {
  // The preamble is at most 12 bytes; a file shorter than that is refused by read_preamble.
  std::string head(std::min<size_t>(total, 12), '\0');
  read(&head[0], head.size());
  const size_t data_offset =
      read_preamble(reinterpret_cast<const unsigned char*>(head.data()), head.size(), total, what);
  const size_t got = head.size();
  if (data_offset > got) {
    head.resize(data_offset);
    read(&head[got], data_offset - got);
  }
  const Header h = parse_header(reinterpret_cast<const unsigned char*>(head.data()), data_offset, total, what);
  // Only now, with the shape checked against `total`, is tensor memory allocated.
  Tensor t = Tensor::empty(h.shape, h.dtype);
  char* dst = static_cast<char*>(t.raw_data());
  // Data bytes that came with the first 12 (a header shorter than any valid dict never gets here).
  const size_t early = std::min(h.data_bytes, head.size() - data_offset);
  if (early) std::memcpy(dst, head.data() + data_offset, early);
  if (h.data_bytes > early) read(dst + early, h.data_bytes - early);
  finish_bool(t, h);
  return t;
}

Tensor parse_npy(const void* data, size_t size, const std::string& what) {
  const char* p = static_cast<const char*>(data);
  size_t at = 0;
  return read_npy(
      [&](char* dst, size_t n) {
        LB_CHECK(n <= size - at, what << ": truncated .npy data; download or save it again");
        std::memcpy(dst, p + at, n);
        at += n;
      },
      size, what);
}

std::string encode_npy(const Tensor& t) {
  const Tensor c = cpu_copy_for_write(t, "encode_npy");
  std::string out = encode_header(c);
  out.append(static_cast<const char*>(c.raw_data()), c.nbytes());
  return out;
}

Tensor load_npy(const std::string& path) {
  std::error_code ec;
  LB_CHECK(!std::filesystem::is_directory(path, ec), path << ": is a directory; give the path of a .npy file");
  std::FILE* f = std::fopen(path.c_str(), "rb");
  LB_CHECK(f != nullptr, path << ": cannot open (" << std::strerror(errno) << "); check the path");
  // The FILE closes on every exit path, thrown or not.
  std::unique_ptr<std::FILE, int (*)(std::FILE*)> guard(f, &std::fclose);
  const uintmax_t total = std::filesystem::file_size(path, ec);
  LB_CHECK(!ec, path << ": cannot read its size (" << ec.message() << "); check the path");
  size_t at = 0;
  return read_npy(
      [&](char* dst, size_t n) {
        const size_t got = std::fread(dst, 1, n, f);
        LB_CHECK(got == n, path << ": truncated: read " << at + got << " of " << total
                                << " bytes (the file changed while it was read?); download or save it again");
        at += n;
      },
      static_cast<size_t>(total), path);
}

void save_npy(const std::string& path, const Tensor& t) {
  const Tensor c = cpu_copy_for_write(t, "save_npy");
  const std::string header = encode_header(c);
  try {
    write_file_atomic(path, {{header.data(), header.size()}, {c.raw_data(), c.nbytes()}});
  } catch (const Error& e) {
    LB_THROW("save_npy: " << e.what());
  }
}

}  // namespace lb::io
