// test_limits.cc: every reader refuses a hostile header before it allocates (docs/reliability.md).
//
// The inputs are the limit-* and crash-* files of tests/fuzz/corpus (tests/fuzz/make_seeds.py
// writes the limit-* ones): headers that claim 10^12 elements in a file of a few hundred bytes,
// shapes whose byte count overflows int64, header lengths of gigabytes, a PNG of 20000 x 20000
// pixels, a PNG chunk claiming 900 MB in a 55-byte file, a MedMNIST label of 10^18 (which would
// size a per-class table). Each must end in the reader's own one-line error: had the reader
// allocated first, a 4 TB request would have failed with Storage's "out of host
// memory" (or std::bad_alloc) instead, so the message itself shows the check came first.
#include <gtest/gtest.h>

#include "engine/data/medmnist.h"
#include "engine/io/file.h"
#include "engine/io/npy.h"
#include "engine/io/npz.h"
#include "engine/io/png.h"
#include "engine/io/safetensors.h"
#include "models/train.h"
#include "tests/support/check.h"

namespace lb {
namespace {

using test::expect_error;

std::string kept(const std::string& target, const std::string& name) {
  return std::string(LB_SOURCE_DIR) + "/tests/fuzz/corpus/" + target + "/" + name;
}

TEST(Limits, NpyHeaderClaimingTeraElementsIsRefusedBeforeAllocating) {
  expect_error([] { io::load_npy(kept("npy", "limit-1e12-elements.npy")); },
               {"truncated: header says 1000000*1000000 float32 = 4000000000000 bytes", "download or save it again"});
}

TEST(Limits, NpyShapeWhoseByteCountOverflowsInt64IsRefused) {
  expect_error([] { io::load_npy(kept("npy", "limit-int64-overflow.npy")); }, {"overflows", "corrupt"});
}

TEST(Limits, NpyHeaderLengthOfGigabytesIsRefusedBeforeReadingIt) {
  expect_error([] { io::load_npy(kept("npy", "limit-huge-header-length.npy")); },
               {"the .npy header claims 2147483647 bytes", "corrupt"});
}

TEST(Limits, NpyDataShorterThanTheShapeIsRefused) {
  expect_error([] { io::load_npy(kept("npy", "limit-more-than-held.npy")); },
               {"header says 1000 float32 = 4000 bytes, file holds 40"});
}

TEST(Limits, NpyShapeWithAbsurdlyManyDimensionsIsRefused) {
  std::string dict = "{'descr': '<f4', 'fortran_order': False, 'shape': (";
  for (int i = 0; i < 100; ++i) dict += "1, ";
  dict += "), }";
  dict += std::string(64 - (10 + dict.size() + 1) % 64, ' ') + "\n";
  std::string bytes = std::string("\x93NUMPY\x01\x00", 8) + static_cast<char>(dict.size() & 0xff) +
                      static_cast<char>(dict.size() >> 8) + dict + std::string(4, '\0');
  expect_error([&] { io::parse_npy(bytes.data(), bytes.size(), "dims.npy"); }, {"over 64 dimensions"});
}

TEST(Limits, NpzMemberClaimingTeraElementsIsRefusedBeforeAllocating) {
  io::NpzReader r(kept("npz", "limit-member-1e12-elements.npz"));
  expect_error([&] { r.get("x"); }, {":x: truncated: header says 1000000*1000000 float32"});
}

TEST(Limits, NpzMemberShapeWhoseByteCountOverflowsIsRefused) {
  io::NpzReader r(kept("npz", "limit-member-overflow.npz"));
  expect_error([&] { r.get("x"); }, {":x: shape", "overflows"});
}

TEST(Limits, MedmnistLabelThatWouldSizeAHugeClassTableIsRefused) {
  expect_error([] { data::load_medmnist(kept("npz", "limit-label-1e18.npz")); },
               {"train_labels: label 1e+18 at row 1 is not below 1024", "re-download"});
}

TEST(Limits, SafetensorsTensorClaimingTeraElementsIsRefusedBeforeAllocating) {
  expect_error([] { io::load_safetensors(kept("safetensors", "limit-1e12-elements.safetensors")); },
               {"tensor 'w' is F32 [1000000, 1000000] = 4000000000000 bytes but its data_offsets [0, 16] hold 16"});
}

TEST(Limits, SafetensorsShapeWhoseByteCountOverflowsIsRefused) {
  expect_error([] { io::load_safetensors(kept("safetensors", "limit-overflow.safetensors")); },
               {"tensor 'w'", "whose size overflows"});
}

TEST(Limits, SafetensorsHeaderLengthOfExabytesIsRefused) {
  expect_error([] { io::load_safetensors(kept("safetensors", "limit-huge-header.safetensors")); },
               {"header length 9223372036854775808 is absurd"});
}

TEST(Limits, PngClaimingFourHundredMegapixelsIsRefusedBeforeDecoding) {
  expect_error([] { io::load_png(kept("png", "limit-20000x20000.png")); },
               {"the image header claims 20000x20000 pixels (over 64 megapixels)"});
}

// Found by tools/fuzz.sh: stb grew its IDAT buffer to the chunk's claimed length (900 MB for this
// 55-byte file) before reading it; the chunk list is now checked against the file first.
TEST(Limits, PngChunkClaimingMoreBytesThanTheFileHoldsIsRefusedBeforeDecoding) {
  expect_error([] { io::load_png(kept("png", "crash-png-idat-claims-922MB.png")); },
               {"cannot decode the image: its IDAT chunk claims 922812442 bytes but only", "truncated or corrupt"});
}

// Found by tools/fuzz.sh: a JPEG Huffman table declaring more than 256 codes made stb write past
// its 257-entry table (UBSan: index 257 out of bounds); DHT segments are now checked first.
TEST(Limits, JpegHuffmanTableWithMoreThan256CodesIsRefusedBeforeDecoding) {
  expect_error([] { io::load_png(kept("png", "crash-png-jpeg-huffman-counts-over-256.jpg")); },
               {"cannot decode the image: a JPEG Huffman table declares", "(at most 256 fit)"});
}

TEST(Limits, RunConfigWithEpochsThatWouldOverflowTheScheduleIsRefused) {
  expect_error(
      [] { models::parse_run_config(io::read_file(kept("run_config", "limit-epochs-overflow.json")), "c.json"); },
      {"c.json: --epochs must be in [1, 1000000]"});
}

TEST(Limits, RunConfigFieldsOfTheWrongTypeAreNamed) {
  expect_error([] { models::parse_run_config(io::read_file(kept("run_config", "limit-wrong-types.json")), "c.json"); },
               {"c.json: config.json: \"epochs\" is 2.5, not an integer"});
  expect_error(
      [] { models::parse_run_config(io::read_file(kept("run_config", "limit-negative-seed.json")), "c.json"); },
      {"\"seed\" is -1, not a non-negative integer"});
  expect_error([] { models::parse_run_config("[1, 2]", "c.json"); }, {"c.json holds array, not an object"});
  expect_error([] { models::parse_run_config("{\"lr\": ", "c.json"); }, {"c.json is not valid JSON"});
  expect_error([] { models::parse_run_config("{\"schedule\": \"step:0:0.1\"}", "c.json"); }, {"--schedule step needs"});
}

}  // namespace
}  // namespace lb
