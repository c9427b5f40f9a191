// test_png.cc: image files (engine/io/png.h).
//
// Round trips through our own writer (grey, grey+alpha, RGB, RGBA); files written by Pillow
// (tests/fixtures/io/, from make_io_fixtures.py), including a 16-bit PNG, a BMP and a JPEG, so the
// decoder is checked against an independent encoder; channel conversion; and bad files and bad
// tensors, each failing with one line that names the file.
#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <functional>
#include <initializer_list>

#include "engine/io/file.h"
#include "engine/io/png.h"

#include "tests/support/check.h"

namespace lb {
namespace {

using test::expect_error;
using test::TempFolder;

namespace fs = std::filesystem;

std::string fixture(const std::string& name) { return std::string(LB_FIXTURES_DIR) + "/io/" + name; }

// A uint8 image with every value different from its neighbours (so a transposed or shifted read
// would show).
Tensor pattern(const Shape& shape) {
  Tensor t = Tensor::empty(shape, DType::UInt8);
  for (int64_t i = 0; i < t.numel(); ++i) t.data<uint8_t>()[i] = static_cast<uint8_t>(i * 37 + 11);
  return t;
}

void expect_same(const Tensor& got, const Tensor& want) {
  ASSERT_EQ(got.shape(), want.shape());
  ASSERT_EQ(got.dtype(), DType::UInt8);
  EXPECT_EQ(std::memcmp(got.raw_data(), want.raw_data(), want.nbytes()), 0);
}

// ---- our writer, our reader -----------------------------------------------------------------

TEST(Png, RoundTripGrey) {
  TempFolder dir;
  const Tensor img = pattern({7, 5});  // (H, W): not square, so a swapped H and W would show
  io::save_png(dir.file("g.png"), img);
  EXPECT_EQ(io::read_file(dir.file("g.png")).rfind("\x89PNG\r\n\x1a\n", 0), 0u) << "the PNG signature";
  expect_same(io::load_png(dir.file("g.png")), img);
}

TEST(Png, RoundTripRgbRgbaAndGreyAlpha) {
  TempFolder dir;
  for (const Shape& shape : {Shape{4, 6, 3}, Shape{3, 2, 4}, Shape{5, 3, 2}, Shape{1, 1, 3}}) {
    SCOPED_TRACE(shape_str(shape));
    const Tensor img = pattern(shape);
    io::save_png(dir.file("c.png"), img);
    expect_same(io::load_png(dir.file("c.png")), img);
  }
}

// encode_png is save_png without the file: the same bytes, in memory.
TEST(Png, EncodeInMemoryGivesTheBytesSavePngWrites) {
  TempFolder dir;
  const Tensor img = pattern({9, 4, 3});
  io::save_png(dir.file("s.png"), img);
  const std::string bytes = io::encode_png(img);
  EXPECT_EQ(bytes, io::read_file(dir.file("s.png")));
  io::write_file_atomic(dir.file("m.png"), bytes);
  expect_same(io::load_png(dir.file("m.png")), img);
  expect_error([] { io::encode_png(pattern({2, 2, 5})); }, {"encode_png", "5 channels"});
}

TEST(Png, SingleChannelImageLoadsAsGrey) {
  TempFolder dir;
  const Tensor img = pattern({4, 3, 1});
  io::save_png(dir.file("g.png"), img);
  expect_same(io::load_png(dir.file("g.png")), img.view({4, 3}));
}

// ---- files written by Pillow --------------------------------------------------------------------

TEST(Png, ReadsPillowPngs) {
  const Tensor grey = io::load_png(fixture("grey_3x5.png"));
  ASSERT_EQ(grey.shape(), (Shape{3, 5}));
  for (int64_t i = 0; i < 15; ++i) EXPECT_EQ(grey.at(i), i * 17);
  const Tensor rgb = io::load_png(fixture("rgb_3x4.png"));
  ASSERT_EQ(rgb.shape(), (Shape{3, 4, 3}));
  for (int64_t i = 0; i < 36; ++i) EXPECT_EQ(rgb.at(i), i * 7);
  const Tensor rgba = io::load_png(fixture("rgba_2x3.png"));
  ASSERT_EQ(rgba.shape(), (Shape{2, 3, 4}));
  for (int64_t i = 0; i < 24; ++i) EXPECT_EQ(rgba.at(i), i * 10);
}

TEST(Png, SixteenBitPngKeepsTheHighByte) {
  const Tensor img = io::load_png(fixture("grey16_2x2.png"));
  ASSERT_EQ(img.shape(), (Shape{2, 2}));
  EXPECT_EQ(img.to_vector(), (std::vector<double>{0x12, 0xff, 0x00, 0xff}));
}

TEST(Png, ReadsBmpAndJpegToo) {
  const Tensor bmp = io::load_png(fixture("rgb_3x4.bmp"));
  ASSERT_EQ(bmp.shape(), (Shape{3, 4, 3}));
  for (int64_t i = 0; i < 36; ++i) EXPECT_EQ(bmp.at(i), i * 7);
  const Tensor jpg = io::load_png(fixture("flat_8x8.jpg"));
  ASSERT_EQ(jpg.shape(), (Shape{8, 8}));
  // JPEG is lossy and decoders round their inverse DCTs differently; a flat image may move by 1.
  for (double v : jpg.to_vector()) EXPECT_NEAR(v, 100, 1);
}

TEST(Png, ChannelConversion) {
  const Tensor rgb = io::load_png(fixture("rgb_3x4.png"));
  const Tensor grey = io::load_png(fixture("rgb_3x4.png"), 1);
  ASSERT_EQ(grey.shape(), (Shape{3, 4}));
  for (int64_t p = 0; p < 12; ++p) {
    // stb's luma: (77 R + 150 G + 29 B) >> 8, the ITU-R 601 weights in 8-bit fixed point.
    const int want = (77 * int(rgb.at(3 * p)) + 150 * int(rgb.at(3 * p + 1)) + 29 * int(rgb.at(3 * p + 2))) >> 8;
    EXPECT_EQ(grey.at(p), want) << p;
  }
  const Tensor rgba = io::load_png(fixture("rgb_3x4.png"), 4);
  ASSERT_EQ(rgba.shape(), (Shape{3, 4, 4}));
  for (int64_t p = 0; p < 12; ++p) EXPECT_EQ(rgba.at(4 * p + 3), 255) << "opaque alpha added";
  const Tensor grey3 = io::load_png(fixture("grey_3x5.png"), 3);
  ASSERT_EQ(grey3.shape(), (Shape{3, 5, 3}));
  for (int64_t p = 0; p < 15; ++p)
    for (int c = 0; c < 3; ++c) EXPECT_EQ(grey3.at(3 * p + c), p * 17) << "grey replicated to RGB";
}

// ---- bad files ----------------------------------------------------------------------------------

TEST(Png, MissingFile) {
  expect_error([] { io::load_png(fixture("no_such.png")); }, {"no_such.png", "cannot open", "check the path"});
}

TEST(Png, DirectoryEmptyFileAndBadChannels) {
  TempFolder dir;
  expect_error([&] { io::load_png(dir.path().string()); }, {"is a directory"});
  io::write_file_atomic(dir.file("empty.png"), "");
  expect_error([&] { io::load_png(dir.file("empty.png")); }, {"empty.png", "empty"});
  expect_error([] { io::load_png(fixture("grey_3x5.png"), 5); }, {"grey_3x5.png", "channels = 5"});
}

// A zero-length IDAT chunk adds no image data; before the first real IDAT stb used to copy its
// 0 bytes into a buffer it had not allocated (memcpy(NULL, src, 0): UBSan, found by tools/fuzz.sh;
// the CPU suite runs under UBSan in tools/test.sh). Such chunks are dropped: the image is the same.
TEST(Png, ZeroLengthIdatChunksAreIgnored) {
  TempFolder dir;
  const Tensor img = pattern({5, 3});
  io::save_png(dir.file("plain.png"), img);
  const std::string bytes = io::read_file(dir.file("plain.png"));
  const std::string empty_idat("\x00\x00\x00\x00IDAT\x35\xaf\x06\x1e", 12);  // length 0, type, CRC of "IDAT"
  const size_t after_ihdr = 8 + 12 + 13, iend = bytes.size() - 12;
  ASSERT_EQ(bytes.substr(12, 4), "IHDR");
  ASSERT_EQ(bytes.substr(iend + 4, 4), "IEND");
  std::string padded = bytes;
  padded.insert(iend, empty_idat);        // after the image data
  padded.insert(after_ihdr, empty_idat);  // before any image data: the case stb mishandled
  padded.insert(after_ihdr, empty_idat);
  io::write_file_atomic(dir.file("padded.png"), padded);
  expect_same(io::load_png(dir.file("padded.png")), img);
}

TEST(Png, TruncatedPngIsAnError) {
  expect_error([] { io::load_png(fixture("truncated.png")); }, {"truncated.png", "cannot decode the image", "re-"});
}

TEST(Png, NotAnImageIsAnError) {
  TempFolder dir;
  io::write_file_atomic(dir.file("text.png"), "this is not an image at all\n");
  // stbi_failure_reason's words for a file no decoder claims.
  expect_error([&] { io::load_png(dir.file("text.png")); }, {"text.png", "cannot decode", "unknown image type"});
}

TEST(Png, CorruptPngHeaderIsAnError) {
  TempFolder dir;
  std::string bytes = io::read_file(fixture("rgb_3x4.png"));
  bytes[16] = '\x7f';  // the IHDR width's top byte: 2^30 pixels wide
  io::write_file_atomic(dir.file("wide.png"), bytes);
  expect_error([&] { io::load_png(dir.file("wide.png")); }, {"wide.png", "cannot decode"});
}

TEST(Png, EveryTruncationIsAnError) {
  TempFolder dir;
  io::save_png(dir.file("whole.png"), pattern({6, 5, 3}));
  const std::string whole = io::read_file(dir.file("whole.png"));
  // The last 12 bytes are the IEND chunk, which carries nothing a decoder needs.
  for (size_t cut = 0; cut + 12 < whole.size(); ++cut) {
    io::write_file_atomic(dir.file("cut.png"), whole.substr(0, cut));
    EXPECT_THROW(io::load_png(dir.file("cut.png")), Error) << "cut at " << cut;
  }
}

// ---- bad tensors ----------------------------------------------------------------------------

TEST(Png, SaveRefusesWrongDtypeRankAndChannels) {
  TempFolder dir;
  const std::string path = dir.file("x.png");
  expect_error([&] { io::save_png(path, Tensor::zeros({4, 4})); }, {"x.png", "float32", "not uint8"});
  expect_error([&] { io::save_png(path, pattern({16})); }, {"x.png", "[16]", "(H, W)"});
  expect_error([&] { io::save_png(path, pattern({1, 2, 2, 3})); }, {"[1, 2, 2, 3]"});
  expect_error([&] { io::save_png(path, pattern({2, 2, 5})); }, {"5 channels", "RGBA"});
  expect_error([&] { io::save_png(path, pattern({0, 4})); }, {"at least one pixel"});
  expect_error([&] { io::save_png(path, Tensor()); }, {"undefined"});
  EXPECT_FALSE(fs::exists(path)) << "a refused save writes nothing";
}

}  // namespace
}  // namespace lb
