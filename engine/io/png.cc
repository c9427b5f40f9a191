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
#include <stb/stb_image.h>

#define STB_IMAGE_WRITE_STATIC
#define STB_IMAGE_WRITE_IMPLEMENTATION
#define STBI_WRITE_NO_STDIO
#include <stb/stb_image_write.h>

namespace lb::io {

namespace {

// stbi_write_png_to_func hands the encoded bytes over in pieces; they are collected here.
void append_to_string(void* context, void* data, int size) {
  static_cast<std::string*>(context)->append(static_cast<const char*>(data), static_cast<size_t>(size));
}

// The (H, W, C) of an image tensor, or a one-line error saying which rule it breaks.
void image_dims(const std::string& path, const Tensor& img, int& h, int& w, int& c) {
  LB_CHECK(img.defined(), "save_png: " << path << ": the image is undefined; pass a uint8 tensor");
  LB_CHECK(img.dtype() == DType::UInt8, "save_png: " << path << ": the image is " << img.str()
                                                     << ", not uint8; scale it to 0-255 and convert it to uint8");
  LB_CHECK(img.dim() == 2 || img.dim() == 3, "save_png: " << path << ": the image has shape "
                                                          << shape_str(img.shape())
                                                          << "; give (H, W) for grey or (H, W, C) with C = 3 or 4");
  const int64_t c64 = img.dim() == 3 ? img.size(2) : 1;
  LB_CHECK(c64 >= 1 && c64 <= 4, "save_png: " << path << ": the image has " << c64 << " channels (shape "
                                              << shape_str(img.shape()) << "); PNG holds 1 (grey), 2 (grey+alpha), "
                                              << "3 (RGB) or 4 (RGBA)");
  LB_CHECK(img.size(0) >= 1 && img.size(1) >= 1, "save_png: " << path << ": the image has shape "
                                                              << shape_str(img.shape())
                                                              << "; a PNG needs at least one pixel");
  LB_CHECK(img.size(0) <= INT_MAX && img.size(1) * c64 <= INT_MAX,
           "save_png: " << path << ": the image " << shape_str(img.shape()) << " is too large for the encoder");
  h = static_cast<int>(img.size(0));
  w = static_cast<int>(img.size(1));
  c = static_cast<int>(c64);
}

}  // namespace

Tensor load_png(const std::string& path, int channels) {
  LB_CHECK(channels >= 0 && channels <= 4, "load_png: " << path << ": channels = " << channels
                                                        << "; use 0 (as stored), 1 (grey), 2, 3 (RGB) or 4 (RGBA)");
  std::error_code ec;
  LB_CHECK(!std::filesystem::is_directory(path, ec), path << ": is a directory; give the path of an image file");
  const std::string bytes = read_file(path);
  LB_CHECK(!bytes.empty(), path << ": the file is empty; write or download the image again");
  LB_CHECK(bytes.size() <= INT_MAX, path << ": the file is over 2 GB, too large for the image decoder");
  int w = 0, h = 0, stored = 0;
  stbi_uc* px = stbi_load_from_memory(reinterpret_cast<const stbi_uc*>(bytes.data()), static_cast<int>(bytes.size()),
                                      &w, &h, &stored, channels);
  LB_CHECK(px != nullptr, path << ": cannot decode the image (" << stbi_failure_reason()
                               << "); it must be a PNG, JPEG or BMP file, re-create or re-download it");
  std::unique_ptr<stbi_uc, void (*)(void*)> guard(px, &stbi_image_free);
  const int c = channels ? channels : stored;
  const Shape shape = c == 1 ? Shape{h, w} : Shape{h, w, c};
  Tensor t = Tensor::empty(shape, DType::UInt8);
  std::memcpy(t.raw_data(), px, t.nbytes());
  return t;
}

void save_png(const std::string& path, const Tensor& img) {
  int h = 0, w = 0, c = 0;
  image_dims(path, img, h, w, c);
  const Tensor cpu = img.device().is_cpu() ? img : img.to(Device::cpu());
  std::string out;
  const int ok = stbi_write_png_to_func(&append_to_string, &out, w, h, c, cpu.raw_data(), w * c);
  LB_CHECK(ok != 0 && !out.empty(), "save_png: " << path << ": the PNG encoder failed for shape "
                                                 << shape_str(img.shape()) << "; check the free memory");
  write_file_atomic(path, out);
}

}  // namespace lb::io
