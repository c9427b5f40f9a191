// test_safetensors.cc: the .safetensors reader and writer (engine/io/safetensors.h).
//
// Layers: our writer round-trips every dtype, 0-d and empty tensors, names in any order and the
// metadata, with the byte layout the spec asks for; a file packed by hand in Python per the spec
// (tests/fixtures/io/handmade.safetensors, from make_io_fixtures.py) reads back exactly, F16 and
// BF16 included; and each rule of the spec, broken on purpose in a file built right here from a
// header string and a buffer, fails with one line naming the file and the problem.
#include <gtest/gtest.h>
#include <unistd.h>

#include <cmath>
#include <cstring>
#include <filesystem>
#include <functional>
#include <initializer_list>
#include <limits>

#include "engine/io/file.h"
#include "engine/io/safetensors.h"

#include "tests/support/check.h"

namespace lb {
namespace {

using test::expect_error;
using test::TempFolder;

namespace fs = std::filesystem;

void expect_same(const Tensor& got, const Tensor& want) {
  ASSERT_EQ(got.shape(), want.shape());
  ASSERT_EQ(got.dtype(), want.dtype());
  EXPECT_EQ(std::memcmp(got.raw_data(), want.raw_data(), want.nbytes()), 0);
}

// The bytes of a file: the 8-byte little-endian header length, the header, the buffer.
std::string packed(const std::string& header, const std::string& buffer = "") {
  std::string out;
  for (int b = 0; b < 8; ++b) out += static_cast<char>((header.size() >> (8 * b)) & 0xff);
  return out + header + buffer;
}

// Writes `header` + `buffer` as a file and expects loading it to fail with every one of `parts`.
void expect_bad(const std::string& header, const std::string& buffer, std::initializer_list<std::string> parts) {
  TempFolder dir;
  const std::string path = dir.file("bad.safetensors");
  io::write_file_atomic(path, packed(header, buffer));
  SCOPED_TRACE(header);
  std::vector<std::string> all = {"bad.safetensors"};
  all.insert(all.end(), parts.begin(), parts.end());
  try {
    io::load_safetensors(path);
    ADD_FAILURE() << "expected an lb::Error";
  } catch (const Error& e) {
    const std::string msg = e.what();
    for (const std::string& p : all) EXPECT_NE(msg.find(p), std::string::npos) << "missing '" << p << "' in: " << msg;
    EXPECT_EQ(msg.find('\n'), std::string::npos) << "errors are one line: " << msg;
  }
}

// ---- our writer, our reader -----------------------------------------------------------------

std::vector<std::pair<std::string, Tensor>> sample_tensors() {
  Generator gen(5);
  Tensor u8 = Tensor::empty({2, 5}, DType::UInt8);
  for (int64_t i = 0; i < u8.numel(); ++i) u8.data<uint8_t>()[i] = static_cast<uint8_t>(i * 29);
  // Names out of alphabetical order: the file must keep the order given.
  return {{"layer1.0.conv1.weight", Tensor::randn({4, 2, 3, 3}, gen)},
          {"fc.bias", Tensor::randn({2}, gen, 0, 1, DType::Float64)},
          {"bn1.num_batches_tracked", Tensor::scalar(123456789012LL, DType::Int64)},
          {"a.mask", u8},
          {"empty", Tensor::zeros({3, 0, 2})},
          {"scalar", Tensor::scalar(0.5)}};
}

TEST(Safetensors, RoundTripEveryDtypeShapeAndMetadata) {
  TempFolder dir;
  const auto tensors = sample_tensors();
  const std::map<std::string, std::string> meta = {{"arch", "resnet18"}, {"config", "{\"lr\": 0.05}"}, {"é", "ü"}};
  io::save_safetensors(dir.file("m.safetensors"), tensors, meta);
  const io::SafeTensors st = io::load_safetensors(dir.file("m.safetensors"));
  ASSERT_EQ(st.tensors.size(), tensors.size());
  for (size_t i = 0; i < tensors.size(); ++i) {
    SCOPED_TRACE(tensors[i].first);
    EXPECT_EQ(st.tensors[i].first, tensors[i].first);
    expect_same(st.tensors[i].second, tensors[i].second);
  }
  EXPECT_EQ(st.metadata, meta);
}

TEST(Safetensors, LayoutFollowsTheSpec) {
  TempFolder dir;
  const auto tensors = sample_tensors();
  io::save_safetensors(dir.file("m.safetensors"), tensors, {{"arch", "resnet18"}});
  const std::string bytes = io::read_file(dir.file("m.safetensors"));
  uint64_t n = 0;
  for (int b = 7; b >= 0; --b) n = (n << 8) | static_cast<unsigned char>(bytes[b]);
  EXPECT_EQ(n % 8, 0u) << "header padded to a multiple of 8, so the data is 8-byte aligned";
  const std::string header = bytes.substr(8, n);
  EXPECT_EQ(header.rfind("{\"__metadata__\":{\"arch\":\"resnet18\"}", 0), 0u) << header;
  EXPECT_EQ(header.find_last_not_of(' '), header.rfind('}')) << "padding is spaces after the object";
  size_t data = 0;
  for (const auto& [name, t] : tensors) data += t.nbytes();
  EXPECT_EQ(bytes.size(), 8 + n + data) << "the buffer holds the tensors and nothing else";
  // The first tensor's bytes start the buffer, in the order given.
  const Tensor& first = tensors[0].second;
  EXPECT_EQ(std::memcmp(bytes.data() + 8 + n, first.raw_data(), first.nbytes()), 0);
}

TEST(Safetensors, NoMetadataMeansNoMetadataKey) {
  TempFolder dir;
  io::save_safetensors(dir.file("m.safetensors"), {{"w", Tensor::ones({2})}});
  EXPECT_EQ(io::read_file(dir.file("m.safetensors")).find("__metadata__"), std::string::npos);
  EXPECT_TRUE(io::load_safetensors(dir.file("m.safetensors")).metadata.empty());
}

TEST(Safetensors, NoTensorsAtAll) {
  TempFolder dir;
  io::save_safetensors(dir.file("m.safetensors"), {}, {});
  const io::SafeTensors st = io::load_safetensors(dir.file("m.safetensors"));
  EXPECT_TRUE(st.tensors.empty());
  EXPECT_EQ(io::read_file(dir.file("m.safetensors")).size(), 16u);  // length + "{}" + 6 spaces
}

TEST(Safetensors, SaveRefusesBadNames) {
  TempFolder dir;
  const std::string path = dir.file("x.safetensors");
  const Tensor t = Tensor::ones({1});
  expect_error([&] { io::save_safetensors(path, {{"", t}}); }, {"x.safetensors", "empty name"});
  expect_error([&] { io::save_safetensors(path, {{"__metadata__", t}}); }, {"reserved"});
  expect_error([&] { io::save_safetensors(path, {{"w", t}, {"w", t}}); }, {"'w' appears twice"});
  expect_error([&] { io::save_safetensors(path, {{"bad\xff", t}}); }, {"not valid UTF-8"});
  expect_error([&] { io::save_safetensors(path, {{"w", t}}, {{"k", "\xc3"}}); }, {"metadata", "not valid UTF-8"});
  expect_error([&] { io::save_safetensors(path, {{"w", Tensor()}}); }, {"'w' is undefined"});
  EXPECT_FALSE(fs::exists(path)) << "a refused save writes nothing";
}

// ---- a file packed by hand per the spec -------------------------------------------------------

TEST(Safetensors, ReadsHandPackedFileWithHalfPrecision) {
  const io::SafeTensors st = io::load_safetensors(std::string(LB_FIXTURES_DIR) + "/io/handmade.safetensors");
  EXPECT_EQ(st.metadata, (std::map<std::string, std::string>{{"arch", "resnet18"}, {"format", "pt"}}));
  std::vector<std::string> names;
  for (const auto& [name, t] : st.tensors) names.push_back(name);
  EXPECT_EQ(names, (std::vector<std::string>{"conv1.weight", "scale", "bn1.num_batches_tracked", "mask_u8", "mask_bool",
                                             "half", "brain", "nothing"}));  // header order
  const auto& t = st.tensors;
  EXPECT_EQ(t[0].second.shape(), (Shape{2, 3}));
  EXPECT_EQ(t[0].second.to_vector(), (std::vector<double>{-2.5, -1.5, -0.5, 0.5, 1.5, 2.5}));
  EXPECT_EQ(t[1].second.dtype(), DType::Float64);
  EXPECT_EQ(t[1].second.dim(), 0);
  EXPECT_EQ(t[1].second.item(), -0.125);
  EXPECT_EQ(t[2].second.dtype(), DType::Int64);
  EXPECT_EQ(t[2].second.to_vector(), (std::vector<double>{7, -1, 1099511627776.0}));
  EXPECT_EQ(t[3].second.to_vector(), (std::vector<double>{0, 1, 254, 255}));
  EXPECT_EQ(t[4].second.dtype(), DType::UInt8);
  EXPECT_EQ(t[4].second.to_vector(), (std::vector<double>{0, 1, 1})) << "BOOL byte 2 reads as true (1)";
  // F16 -> float32, exactly: normal, negative, the largest half, the smallest subnormal, -0, inf.
  const Tensor& half = t[5].second;
  EXPECT_EQ(half.dtype(), DType::Float32);
  EXPECT_EQ(half.to_vector(), (std::vector<double>{1.0, -2.0, 0.5, 65504.0, std::ldexp(1.0, -24), 0.0,
                                                   std::numeric_limits<double>::infinity()}));
  EXPECT_TRUE(std::signbit(half.at(5))) << "-0 keeps its sign";
  EXPECT_EQ(t[6].second.dtype(), DType::Float32);
  EXPECT_EQ(t[6].second.to_vector(), (std::vector<double>{1.0, -2.5, 3.140625}));  // BF16 -> float32
  EXPECT_EQ(t[7].second.shape(), (Shape{0, 4}));
}

TEST(Safetensors, HalfPrecisionNaNAndSubnormals) {
  // F16 0x7e00 is NaN; 0x0201 is the subnormal 513 * 2^-24; 0x3c01 is 1 + 2^-10. BF16 0xffc0 is NaN.
  TempFolder dir;
  const std::string h =
      "{\"h\":{\"dtype\":\"F16\",\"shape\":[3],\"data_offsets\":[0,6]},"
      "\"b\":{\"dtype\":\"BF16\",\"shape\":[1],\"data_offsets\":[6,8]}}";
  io::write_file_atomic(dir.file("h.safetensors"), packed(h, std::string("\x00\x7e\x01\x02\x01\x3c\xc0\xff", 8)));
  const io::SafeTensors st = io::load_safetensors(dir.file("h.safetensors"));
  EXPECT_TRUE(std::isnan(st.tensors[0].second.at(0)));
  EXPECT_EQ(st.tensors[0].second.at(1), std::ldexp(513.0, -24));
  EXPECT_EQ(st.tensors[0].second.at(2), 1.0 + std::ldexp(1.0, -10));
  EXPECT_TRUE(std::isnan(st.tensors[1].second.at(0)));
}

// ---- every rule, broken -------------------------------------------------------------------------

TEST(Safetensors, MissingFile) {
  expect_error([] { io::load_safetensors("/no/such/file.safetensors"); }, {"file.safetensors", "cannot open"});
}

TEST(Safetensors, ZipArchiveGivenInstead) {
  expect_error([] { io::load_safetensors(std::string(LB_FIXTURES_DIR) + "/io/npz_stored.npz"); },
               {"npz_stored.npz is a zip archive", ".pth", "convert_weights.py"});
}

TEST(Safetensors, DirectoryInsteadOfFile) {
  TempFolder dir;
  expect_error([&] { io::load_safetensors(dir.file("")); }, {"is a directory"});
}

TEST(Safetensors, FileShorterThanEightBytes) {
  TempFolder dir;
  for (size_t n : {0, 5}) {
    io::write_file_atomic(dir.file("s.safetensors"), std::string(n, '\x01'));
    expect_error([&] { io::load_safetensors(dir.file("s.safetensors")); }, {"s.safetensors", "too short"});
  }
}

TEST(Safetensors, HeaderLengthPastTheEnd) {
  TempFolder dir;
  std::string bytes = packed("{}");
  bytes[0] = 100;  // claims 100 header bytes, holds 2
  io::write_file_atomic(dir.file("s.safetensors"), bytes);
  expect_error([&] { io::load_safetensors(dir.file("s.safetensors")); },
               {"s.safetensors", "header length 100 runs past the end", "truncated"});
}

TEST(Safetensors, HeaderLengthAbsurd) {
  TempFolder dir;
  std::string bytes = packed("{}");
  bytes[5] = 1;  // 2^40 + 2
  io::write_file_atomic(dir.file("s.safetensors"), bytes);
  expect_error([&] { io::load_safetensors(dir.file("s.safetensors")); }, {"absurd", "100 MB"});
}

TEST(Safetensors, HeaderNotUtf8) { expect_bad("{\"w\xff\":{}}", "", {"not valid UTF-8", "offset 3"}); }

TEST(Safetensors, HeaderOverlongUtf8) { expect_bad("{\"\xc0\xaf\":{}}", "", {"not valid UTF-8"}); }

TEST(Safetensors, HeaderMalformedJson) { expect_bad("{\"w\": {\"dtype\": ", "", {"not valid JSON"}); }

TEST(Safetensors, HeaderNotAnObject) { expect_bad("[1, 2]", "", {"header is an array", "not an object"}); }

TEST(Safetensors, HeaderNotStartingWithBrace) { expect_bad(" {}", "", {"does not start with '{'"}); }

TEST(Safetensors, DuplicateName) {
  const std::string e = "{\"dtype\":\"U8\",\"shape\":[1],\"data_offsets\":[0,1]}";
  expect_bad("{\"w\":" + e + ",\"w\":" + e + "}", "x", {"names 'w' twice"});
}

TEST(Safetensors, EntryNotAnObject) { expect_bad("{\"w\": 5}", "", {"tensor 'w' is a number", "not an object"}); }

TEST(Safetensors, EntryMissingField) {
  expect_bad("{\"w\":{\"shape\":[1],\"data_offsets\":[0,1]}}", "x", {"tensor 'w' has no \"dtype\""});
  expect_bad("{\"w\":{\"dtype\":\"U8\",\"data_offsets\":[0,1]}}", "x", {"has no \"shape\""});
  expect_bad("{\"w\":{\"dtype\":\"U8\",\"shape\":[1]}}", "x", {"has no \"data_offsets\""});
}

TEST(Safetensors, EntryWithWrongJsonTypes) {
  expect_bad("{\"w\":{\"dtype\":8,\"shape\":[1],\"data_offsets\":[0,1]}}", "x", {"dtype is a number"});
  expect_bad("{\"w\":{\"dtype\":\"U8\",\"shape\":\"1\",\"data_offsets\":[0,1]}}", "x", {"shape is a string"});
  expect_bad("{\"w\":{\"dtype\":\"U8\",\"shape\":[1.5],\"data_offsets\":[0,1]}}", "x", {"shape", "not an integer"});
  expect_bad("{\"w\":{\"dtype\":\"U8\",\"shape\":[1],\"data_offsets\":[1]}}", "x", {"not [begin, end]"});
  expect_bad("{\"w\":{\"dtype\":\"U8\",\"shape\":[1],\"data_offsets\":[\"0\",1]}}", "x",
             {"a string", "not an integer"});
}

TEST(Safetensors, UnknownAndUnsupportedDtypes) {
  expect_bad("{\"w\":{\"dtype\":\"F33\",\"shape\":[1],\"data_offsets\":[0,4]}}", std::string(4, '\0'),
             {"unknown dtype 'F33'", "F32, F64, I64, U8, BOOL, F16, BF16"});
  expect_bad("{\"w\":{\"dtype\":\"I32\",\"shape\":[1],\"data_offsets\":[0,4]}}", std::string(4, '\0'),
             {"dtype I32 is not supported", "F32, F64, I64, U8, BOOL, F16, BF16", "convert"});
}

TEST(Safetensors, NegativeShape) {
  expect_bad("{\"w\":{\"dtype\":\"U8\",\"shape\":[-1,2],\"data_offsets\":[0,2]}}", "xx", {"negative value -1"});
}

TEST(Safetensors, OverflowingShape) {
  expect_bad("{\"w\":{\"dtype\":\"F32\",\"shape\":[4611686018427387904,4],\"data_offsets\":[0,4]}}",
             std::string(4, '\0'), {"overflows"});
  expect_bad("{\"w\":{\"dtype\":\"U8\",\"shape\":[18446744073709551615],\"data_offsets\":[0,1]}}", "x", {"too large"});
  expect_bad("{\"w\":{\"dtype\":\"U8\",\"shape\":[1e30],\"data_offsets\":[0,1]}}", "x", {"not an integer"});
}

TEST(Safetensors, OffsetsPastTheEnd) {
  expect_bad("{\"w\":{\"dtype\":\"U8\",\"shape\":[100],\"data_offsets\":[0,100]}}", "xxxxxxxx",
             {"tensor 'w'", "[0, 100]", "past the end of the data (8 bytes)"});
}

TEST(Safetensors, OffsetsEndBeforeBegin) {
  expect_bad("{\"w\":{\"dtype\":\"U8\",\"shape\":[0],\"data_offsets\":[4,0]}}", "xxxx", {"end before they begin"});
}

TEST(Safetensors, OffsetsDoNotMatchShape) {
  expect_bad("{\"w\":{\"dtype\":\"F32\",\"shape\":[2,2],\"data_offsets\":[0,12]}}", std::string(12, '\0'),
             {"tensor 'w' is F32 [2, 2] = 16 bytes", "hold 12", "wrong shapes"});
}

TEST(Safetensors, OverlappingTensors) {
  expect_bad(
      "{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},"
      "\"b\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[4,12]}}",
      std::string(12, '\0'), {"'a' and 'b' overlap"});
}

TEST(Safetensors, HoleBetweenTensors) {
  expect_bad(
      "{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]},"
      "\"b\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[8,12]}}",
      std::string(12, '\0'), {"data bytes [4, 8) belong to no tensor", "holes"});
}

TEST(Safetensors, TrailingBytesAfterTheLastTensor) {
  expect_bad("{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]}}", std::string(7, '\0'),
             {"data bytes [4, 7) belong to no tensor"});
}

TEST(Safetensors, MetadataValuesMustBeStrings) {
  expect_bad("{\"__metadata__\":{\"epochs\":5}}", "", {"__metadata__ value of 'epochs' is a number", "string"});
  expect_bad("{\"__metadata__\":[\"a\"]}", "", {"__metadata__ is an array", "not an object"});
}

TEST(Safetensors, EveryTruncationIsAnError) {
  TempFolder dir;
  // Small on purpose: every cut is a file written and read back.
  io::save_safetensors(dir.file("whole.safetensors"),
                       {{"w", Tensor::ones({2, 3})}, {"s", Tensor::scalar(3, DType::Int64)}, {"e", Tensor::zeros({0})}},
                       {{"arch", "resnet18"}});
  const std::string whole = io::read_file(dir.file("whole.safetensors"));
  for (size_t cut = 0; cut < whole.size(); ++cut) {
    io::write_file_atomic(dir.file("cut.safetensors"), whole.substr(0, cut));
    EXPECT_THROW(io::load_safetensors(dir.file("cut.safetensors")), Error) << "cut at " << cut;
  }
}

}  // namespace
}  // namespace lb
