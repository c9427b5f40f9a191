// io/png.cc: image files through stb_image and stb_image_write (shapes and formats in png.h).
//
// This is the one translation unit that compiles stb's implementations. STB_*_STATIC keeps every
// stb symbol private to this file, so another part of the program compiling stb can never clash
// with it. File access goes through io::read_file and io::write_file_atomic (so stb's own stdio
// code is compiled out): missing files get the same messages as everywhere else, and an image is
// never half-written.
#include "engine/io/png.h"

#include <climits>
#include <cstring>
#include <filesystem>
#include <memory>

#include "engine/io/file.h"

#define STB_IMAGE_STATIC
#define STB_IMAGE_IMPLEMENTATION
#define STBI_NO_STDIO
#define STBI_ONLY_PNG
#define STBI_ONLY_JPEG
#define STBI_ONLY_BMP
// A header's width and height are read before any pixel; a side over 65536 is refused by stb
// itself, and the pixel count is checked below (stbi_info) before stb allocates the image.
#define STBI_MAX_DIMENSIONS (1 << 16)
#include <stb/stb_image.h>

#define STB_IMAGE_WRITE_STATIC
#define STB_IMAGE_WRITE_IMPLEMENTATION
#define STBI_WRITE_NO_STDIO
#include <stb/stb_image_write.h>

namespace lb::io {

namespace {

constexpr int64_t kMaxPixels = int64_t{1} << 26;  // 8192 x 8192: MedMNIST's largest is 224 x 224

// stbi_write_png_to_func hands the encoded bytes over in pieces; they are collected here.
void append_to_string(void* context, void* data, int size) {
  static_cast<std::string*>(context)->append(static_cast<const char*>(data), static_cast<size_t>(size));
}

// Every chunk of a PNG file is walked once before stb sees the file (PNG spec 5.3: length, type,
// data, CRC), for two faults found by tools/fuzz.sh:
// - stb sizes its IDAT buffer from each chunk's length field before reading the chunk, so a 55-byte
//   file whose IDAT claims 900 MB costs 900 MB. Every length is checked against the bytes that
//   follow it.
// - A zero-length IDAT chunk adds nothing to the image's zlib stream, but stb, meeting one before
//   any image data, copies its 0 bytes into a buffer it has not allocated yet: memcpy(NULL, src, 0),
//   which UBSan reports. Such chunks are dropped (erasing bytes before `at` leaves the count of
//   bytes still to come, and so the length check of every later chunk, as it was).
// The walk stops at IEND. Other formats pass through untouched.
void check_png_chunks(std::string& bytes, const std::string& path) {
  static const char kSignature[] = "\x89PNG\r\n\x1a\n";
  if (bytes.size() < 8 || bytes.compare(0, 8, kSignature, 8) != 0) return;
  size_t at = 8;
  while (at + 8 <= bytes.size()) {
    const auto* p = reinterpret_cast<const unsigned char*>(bytes.data() + at);
    const uint64_t len = (uint64_t{p[0]} << 24) | (uint64_t{p[1]} << 16) | (uint64_t{p[2]} << 8) | p[3];
    const std::string type = bytes.substr(at + 4, 4);
    LB_CHECK(len + 12 <= bytes.size() - at,
             path << ": cannot decode the image: its " << type << " chunk claims " << len << " bytes but only "
                  << bytes.size() - at - 8 << " follow; the file is truncated or corrupt, re-create or re-download it");
    if (type == "IEND") return;
    if (type == "IDAT" && len == 0) {
      bytes.erase(at, 12);  // length, type and CRC; the check above proved all 12 bytes are there
      continue;
    }
    at += 12 + len;
  }
}

// stb's JPEG decoder writes past its 257-entry Huffman size table when a DHT table's 16 code
// counts add up to more than 256 (found by tools/fuzz.sh; UBSan: index 257 out of bounds). Every
// FF C4 (DHT) marker in a file stb would read as a JPEG is checked first, reading its tables the
// way stb does (ITU T.81, B.2.4.2; bytes past the end read as 0), wherever stb might meet it.
// A valid JPEG never declares more than 256 codes in one table.
void check_jpeg_tables(const std::string& bytes, const std::string& path) {
  const auto* p = reinterpret_cast<const unsigned char*>(bytes.data());
  const size_t n = bytes.size();
  size_t soi = 0;
  while (soi < n && p[soi] == 0xff) ++soi;  // stb skips fill bytes before the first marker
  if (soi == 0 || soi >= n || p[soi] != 0xd8) return;
  auto at = [&](size_t i) -> size_t { return i < n ? p[i] : 0; };
  for (size_t i = 0; i + 1 < n; ++i) {
    if (p[i] != 0xff || p[i + 1] != 0xc4) continue;
    const size_t end = i + 2 + ((at(i + 2) << 8) | at(i + 3));
    for (size_t t = i + 4; t < end;) {
      size_t codes = 0;
      for (size_t k = 1; k <= 16; ++k) codes += at(t + k);
      LB_CHECK(codes <= 256, path << ": cannot decode the image: a JPEG Huffman table declares " << codes
                                  << " codes (at most 256 fit); the file is corrupt, re-create or re-download it");
      t += 17 + codes;
    }
  }
}

// The (H, W, C) of an image tensor, or a one-line error, starting with `who` (the function, and
// the file if there is one), saying which rule it breaks.
void image_dims(const std::string& who, const Tensor& img, int& h, int& w, int& c) {
  LB_CHECK(img.defined(), who << ": the image is undefined; pass a uint8 tensor");
  LB_CHECK(img.dtype() == DType::UInt8,
           who << ": the image is " << img.str() << ", not uint8; scale it to 0-255 and convert it to uint8");
  LB_CHECK(img.dim() == 2 || img.dim() == 3, who << ": the image has shape " << shape_str(img.shape())
                                                 << "; give (H, W) for grey or (H, W, C) with C = 3 or 4");
  const int64_t c64 = img.dim() == 3 ? img.size(2) : 1;
  LB_CHECK(c64 >= 1 && c64 <= 4, who << ": the image has " << c64 << " channels (shape " << shape_str(img.shape())
                                     << "); PNG holds 1 (grey), 2 (grey+alpha), 3 (RGB) or 4 (RGBA)");
  LB_CHECK(img.size(0) >= 1 && img.size(1) >= 1,
           who << ": the image has shape " << shape_str(img.shape()) << "; a PNG needs at least one pixel");
  LB_CHECK(img.size(0) <= INT_MAX && img.size(1) * c64 <= INT_MAX,
           who << ": the image " << shape_str(img.shape()) << " is too large for the encoder");
  h = static_cast<int>(img.size(0));
  w = static_cast<int>(img.size(1));
  c = static_cast<int>(c64);
}

// The PNG bytes of an image tensor: stb's encoder (filtered rows, deflate), collected in memory.
// `who` starts every error (image_dims).
std::string encode(const std::string& who, const Tensor& img) {
  int h = 0, w = 0, c = 0;
  image_dims(who, img, h, w, c);
  const Tensor cpu = img.device().is_cpu() ? img : img.to(Device::cpu());
  std::string out;
  const int ok = stbi_write_png_to_func(&append_to_string, &out, w, h, c, cpu.raw_data(), w * c);
  LB_CHECK(ok != 0 && !out.empty(),
           who << ": the PNG encoder failed for shape " << shape_str(img.shape()) << "; check the free memory");
  return out;
}

}  // namespace

Tensor load_png(const std::string& path, int channels) {
  LB_CHECK(channels >= 0 && channels <= 4, "load_png: " << path << ": channels = " << channels
                                                        << "; use 0 (as stored), 1 (grey), 2, 3 (RGB) or 4 (RGBA)");
  std::error_code ec;
  LB_CHECK(!std::filesystem::is_directory(path, ec), path << ": is a directory; give the path of an image file");
  std::string bytes = read_file(path);
  LB_CHECK(!bytes.empty(), path << ": the file is empty; write or download the image again");
  LB_CHECK(bytes.size() <= INT_MAX, path << ": the file is over 2 GB, too large for the image decoder");
  check_png_chunks(bytes, path);
  check_jpeg_tables(bytes, path);
  int w = 0, h = 0, stored = 0;
  const auto* data = reinterpret_cast<const stbi_uc*>(bytes.data());
  if (stbi_info_from_memory(data, static_cast<int>(bytes.size()), &w, &h, &stored)) {
    const int64_t pixels = int64_t{w} * h;
    LB_CHECK(pixels <= kMaxPixels, path << ": the image header claims " << w << "x" << h
                                        << " pixels (over 64 megapixels); the file is corrupt or far larger than any "
                                        << "image lightbox works with, resize it first");
  }
  stbi_uc* px = stbi_load_from_memory(reinterpret_cast<const stbi_uc*>(bytes.data()), static_cast<int>(bytes.size()),
                                      &w, &h, &stored, channels);
  LB_CHECK(
      px != nullptr || std::strcmp(stbi_failure_reason(), "too large") != 0,
      path << ": cannot decode the image: its header claims dimensions too large (a side over 65536 or over 2 GB of "
           << "pixels); the file is corrupt or far larger than any image lightbox works with");
  LB_CHECK(px != nullptr, path << ": cannot decode the image (" << stbi_failure_reason()
                               << "); it must be a PNG, JPEG or BMP file, re-create or re-download it");
  std::unique_ptr<stbi_uc, void (*)(void*)> guard(px, &stbi_image_free);
  const int c = channels ? channels : stored;
  const Shape shape = c == 1 ? Shape{h, w} : Shape{h, w, c};
  Tensor t = Tensor::empty(shape, DType::UInt8);
  std::memcpy(t.raw_data(), px, t.nbytes());
  return t;
}

std::string encode_png(const Tensor& img) { return encode("encode_png", img); }

void save_png(const std::string& path, const Tensor& img) { write_file_atomic(path, encode("save_png: " + path, img)); }

}  // namespace lb::io
