// test_npy.cc: the .npy reader and writer (engine/io/npy.h).
//
// Three layers: our writer round-trips every dtype and odd shape (0-d, an empty dimension);
// files written by numpy itself (tests/fixtures/npy/, made by tests/fixtures/make_golden.py)
// read back with the right shape, dtype and values; and every kind of bad file (Fortran order,
// big-endian, an unsupported dtype, truncation, corrupt headers) fails with one line that names
// the file and the fix, checked by substring so the wording can still improve.
#include <gtest/gtest.h>
#include <unistd.h>

#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <initializer_list>

#include "engine/io/npy.h"

#include "tests/support/check.h"

namespace lb {
namespace {

using test::expect_error;

namespace fs = std::filesystem;

std::string fixture(const std::string& name) { return std::string(LB_FIXTURES_DIR) + "/npy/" + name; }

// A fresh folder per test, removed afterwards.
class NpyDir {
 public:
  NpyDir() {
    const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
    path_ = fs::temp_directory_path() / ("lb_npy_" + std::string(info->name()) + "_" + std::to_string(::getpid()));
    fs::create_directories(path_);
  }
  ~NpyDir() { fs::remove_all(path_); }
  std::string file(const std::string& name) const { return (path_ / name).string(); }
  const fs::path& path() const { return path_; }

 private:
  fs::path path_;
};

// A .npy file image with a hand-written header dict (padded like numpy's) and `data_bytes` zeros.
std::string handmade(const std::string& dict, size_t data_bytes, int major = 1) {
  const size_t pre = major == 1 ? 10 : 12;
  std::string header = dict;
  while ((pre + header.size() + 1) % 64 != 0) header += ' ';
  header += '\n';
  std::string out("\x93NUMPY", 6);
  out += static_cast<char>(major);
  out += '\0';
  for (size_t b = 0; b < pre - 8; ++b) out += static_cast<char>((header.size() >> (8 * b)) & 0xff);
  return out + header + std::string(data_bytes, '\0');
}

Tensor parse(const std::string& bytes) { return io::parse_npy(bytes.data(), bytes.size(), "mem.npy"); }

void expect_same(const Tensor& got, const Tensor& want) {
  ASSERT_EQ(got.shape(), want.shape());
  ASSERT_EQ(got.dtype(), want.dtype());
  EXPECT_EQ(std::memcmp(got.raw_data(), want.raw_data(), want.nbytes()), 0);
}

// ---- our writer, our reader ----------------------------------------------------------------

TEST(Npy, RoundTripEveryDtypeAndShape) {
  NpyDir dir;
  const std::vector<Shape> shapes = {{2, 3}, {}, {0, 3}, {5}, {2, 1, 3, 2}};
  Generator gen(7);
  for (DType dt : {DType::Float32, DType::Float64, DType::Int64, DType::UInt8}) {
    for (const Shape& s : shapes) {
      Tensor t = Tensor::rand(s, gen, 0.0, 200.0, DType::Float64).to(dt);
      const std::string path = dir.file("t.npy");
      io::save_npy(path, t);
      SCOPED_TRACE(std::string(dtype_name(dt)) + " " + shape_str(s));
      expect_same(io::load_npy(path), t);
      expect_same(parse(io::encode_npy(t)), t);
    }
  }
  // The temporary file was renamed away every time.
  EXPECT_EQ(std::distance(fs::directory_iterator(dir.path()), fs::directory_iterator()), 1);
}

TEST(Npy, HeaderIsAlignedAndNumpyShaped) {
  const std::string bytes = io::encode_npy(Tensor::zeros({7}, DType::Float32));
  const size_t header_end = bytes.size() - 7 * 4;
  EXPECT_EQ(header_end % 64, 0u) << "numpy aligns data to 64 bytes";
  EXPECT_EQ(bytes[header_end - 1], '\n');
  // A 1-tuple needs its trailing comma, or Python reads (7) as the integer 7.
  EXPECT_NE(bytes.find("'shape': (7,)"), std::string::npos) << bytes.substr(0, header_end);
  EXPECT_NE(bytes.find("'descr': '<f4'"), std::string::npos);
}

TEST(Npy, SaveOverwritesExistingFile) {
  NpyDir dir;
  const std::string path = dir.file("w.npy");
  io::save_npy(path, Tensor::full({3}, 1.0));
  io::save_npy(path, Tensor::full({2, 2}, 4.0, DType::Float64));
  Tensor t = io::load_npy(path);
  EXPECT_EQ(t.shape(), (Shape{2, 2}));
  EXPECT_EQ(t.to_vector(), (std::vector<double>{4, 4, 4, 4}));
}

TEST(Npy, SaveIntoMissingFolderSaysSo) {
  NpyDir dir;
  expect_error([&] { io::save_npy(dir.file("no/such/dir/x.npy"), Tensor::zeros({1})); },
               {"save_npy", "cannot create", "folder exists"});
}

// ---- files written by numpy -----------------------------------------------------------------

TEST(Npy, ReadsNumpyFloat32) {
  Tensor t = io::load_npy(fixture("f4_2x3.npy"));
  EXPECT_EQ(t.shape(), (Shape{2, 3}));
  EXPECT_EQ(t.dtype(), DType::Float32);
  EXPECT_EQ(t.to_vector(), (std::vector<double>{-1.0, -0.5, 0.0, 0.5, 1.0, 1.5}));
}

TEST(Npy, ReadsNumpyUInt8) {
  Tensor t = io::load_npy(fixture("u1_3x4x4.npy"));
  EXPECT_EQ(t.shape(), (Shape{3, 4, 4}));
  EXPECT_EQ(t.dtype(), DType::UInt8);
  for (int64_t i = 0; i < 48; ++i) EXPECT_EQ(t.data<uint8_t>()[i], i);
}

TEST(Npy, ReadsNumpyInt64Exactly) {
  Tensor t = io::load_npy(fixture("i8_5x1.npy"));
  EXPECT_EQ(t.shape(), (Shape{5, 1}));
  const int64_t* p = t.data<int64_t>();
  // Compared as integers: 2^40 and -2^62 would survive a double, but the point is no double.
  const int64_t want[] = {-2, 0, 1, int64_t{1} << 40, -(int64_t{1} << 62)};
  for (int i = 0; i < 5; ++i) EXPECT_EQ(p[i], want[i]);
}

TEST(Npy, ReadsNumpyBoolAsUInt8) {
  Tensor t = io::load_npy(fixture("b1_2x3.npy"));
  EXPECT_EQ(t.shape(), (Shape{2, 3}));
  EXPECT_EQ(t.dtype(), DType::UInt8);
  EXPECT_EQ(t.to_vector(), (std::vector<double>{1, 0, 1, 0, 0, 1}));
}

TEST(Npy, ReadsNumpyScalarAndEmpty) {
  Tensor s = io::load_npy(fixture("f8_scalar.npy"));
  EXPECT_EQ(s.shape(), Shape{});
  EXPECT_EQ(s.dtype(), DType::Float64);
  EXPECT_EQ(s.item(), 2.5);
  Tensor e = io::load_npy(fixture("f4_empty_0x3.npy"));
  EXPECT_EQ(e.shape(), (Shape{0, 3}));
  EXPECT_EQ(e.numel(), 0);
}

TEST(Npy, ReadsFormatVersions2And3) {
  for (const char* name : {"f8_v2.npy", "f8_v3.npy"}) {
    Tensor t = io::load_npy(fixture(name));
    EXPECT_EQ(t.shape(), (Shape{4})) << name;
    EXPECT_EQ(t.to_vector(), (std::vector<double>{0.25, 1.25, 2.25, 3.25})) << name;
  }
  // A version 2.0 header we wrote ourselves parses too (the 4-byte length path in memory).
  Tensor h = parse(handmade("{'descr': '<f4', 'fortran_order': False, 'shape': (2,), }", 8, 2));
  EXPECT_EQ(h.shape(), (Shape{2}));
}

// ---- bad files --------------------------------------------------------------------------------

TEST(Npy, RejectsFortranOrder) {
  expect_error([] { io::load_npy(fixture("fortran_3x4.npy")); },
               {"fortran_3x4.npy", "Fortran-ordered", "np.ascontiguousarray"});
  // With at most one dimension above 1 both orders are the same bytes, so it is accepted.
  Tensor t = parse(handmade("{'descr': '<f4', 'fortran_order': True, 'shape': (1, 3), }", 12));
  EXPECT_EQ(t.shape(), (Shape{1, 3}));
}

TEST(Npy, RejectsBigEndian) {
  expect_error([] { io::load_npy(fixture("big_endian.npy")); },
               {"big_endian.npy", "'>f4'", "big-endian", "astype('<f4')"});
}

TEST(Npy, RejectsUnsupportedDtype) {
  expect_error([] { io::load_npy(fixture("i2.npy")); },
               {"i2.npy", "dtype '<i2' is not supported", "astype(np.float32)"});
  expect_error([] { parse(handmade("{'descr': [('a', '<f4')], 'fortran_order': False, 'shape': (1,), }", 4)); },
               {"mem.npy", "structured"});
}

TEST(Npy, RejectsTruncatedData) {
  expect_error([] { io::load_npy(fixture("truncated.npy")); },
               {"truncated.npy", "truncated: header says 10*28*28 uint8 = 7840 bytes, file holds 1000"});
}

TEST(Npy, RejectsTruncatedHeader) {
  const std::string good = io::encode_npy(Tensor::zeros({2, 3}));
  expect_error([&] { parse(good.substr(0, 40)); }, {"mem.npy", "truncated", "header"});
  expect_error([&] { parse(good.substr(0, 9)); }, {"mem.npy", "truncated", "preamble"});
  expect_error([&] { parse(good.substr(0, 3)); }, {"mem.npy", "not a .npy file"});
}

TEST(Npy, RejectsCorruptHeaders) {
  expect_error([] { parse("PK\x03\x04 this is a zip"); }, {"mem.npy", ".npz"});
  expect_error([] { parse(std::string("\x93NUMPY\x04\x00", 8) + std::string(60, ' ')); }, {"mem.npy", "version 4.0"});
  expect_error([] { parse(handmade("{'descr': '<f4', 'shape': (2,), }", 8)); }, {"mem.npy", "lacks 'fortran_order'"});
  expect_error([] { parse(handmade("{'descr': '<f4', 'fortran_order': Maybe, 'shape': (2,), }", 8)); },
               {"mem.npy", "malformed", "True or False"});
  expect_error([] { parse(handmade("{'descr': '<f4', 'fortran_order': False, 'shape': (2, -1), }", 8)); },
               {"mem.npy", "malformed"});
  expect_error([] { parse(handmade("{'descr': '<f4', 'fortran_order': False, 'shape': (2,), 'x': 1}", 8)); },
               {"mem.npy", "unexpected key 'x'"});
  // Each dimension fits an int64; their product does not. Must fail before any allocation.
  expect_error(
      [] { parse(handmade("{'descr': '<f4', 'fortran_order': False, 'shape': (4611686018427387904, 4), }", 0)); },
      {"mem.npy", "overflows"});
}

TEST(Npy, MissingFileAndDirectory) {
  expect_error([] { io::load_npy(fixture("no_such_file.npy")); },
               {"no_such_file.npy", "cannot open", "check the path"});
  expect_error([] { io::load_npy(std::string(LB_FIXTURES_DIR) + "/npy"); }, {"is a directory"});
}

}  // namespace
}  // namespace lb
