// test_npz.cc: the .npz reader and writer (engine/io/npz.h).
//
// Four layers: our writer round-trips every dtype and odd shape, stored and deflated; archives
// written by numpy itself (np.savez, np.savez_compressed; tests/fixtures/io/, made by
// tests/fixtures/make_io_fixtures.py) and the real PneumoniaMNIST file read back with the right
// keys, shapes and values; every kind of bad archive fails with one line that names the file and
// says what to do, checked by substring so the wording can still improve; and sweeps that cut or
// corrupt an archive at every byte, which must end in a clean lb::Error or a correct read, never
// a crash or a wrong tensor.
#include <gtest/gtest.h>
#include <unistd.h>

#include <cstring>
#include <filesystem>
#include <functional>
#include <initializer_list>

#include "engine/io/file.h"
#include "engine/io/npy.h"
#include "engine/io/npz.h"

#include "tests/support/check.h"

namespace lb {
namespace {

using test::expect_error;
using test::TempFolder;

namespace fs = std::filesystem;

std::string fixture(const std::string& name) { return std::string(LB_FIXTURES_DIR) + "/io/" + name; }

void expect_same(const Tensor& got, const Tensor& want) {
  ASSERT_EQ(got.shape(), want.shape());
  ASSERT_EQ(got.dtype(), want.dtype());
  EXPECT_EQ(std::memcmp(got.raw_data(), want.raw_data(), want.nbytes()), 0);
}

// One tensor of each dtype, including a 0-d and an empty one, with distinct values.
std::vector<std::pair<std::string, Tensor>> sample_arrays() {
  Generator gen(11);
  Tensor u8 = Tensor::empty({3, 4, 4}, DType::UInt8);
  for (int64_t i = 0; i < u8.numel(); ++i) u8.data<uint8_t>()[i] = static_cast<uint8_t>(i * 37 + 5);
  return {{"weights", Tensor::randn({2, 3}, gen)},
          {"scalar", Tensor::scalar(-2.25, DType::Float64)},
          {"labels", Tensor::from_vector({-3, 0, 1, 1LL << 40}, {4}, DType::Int64)},
          {"images", u8},
          {"nothing", Tensor::zeros({0, 3})},
          {"a/nested key", Tensor::ones({1}, DType::Float64)}};
}

// ---- our writer, our reader ---------------------------------------------------------------------

TEST(Npz, RoundTripEveryDtypeStoredAndDeflated) {
  TempFolder dir;
  const auto arrays = sample_arrays();
  for (bool compress : {true, false}) {
    const std::string path = dir.file(compress ? "deflated.npz" : "stored.npz");
    io::save_npz(path, arrays, compress);
    io::NpzReader r(path);
    std::vector<std::string> want_keys;
    for (const auto& [k, t] : arrays) want_keys.push_back(k);
    EXPECT_EQ(r.keys(), want_keys);  // archive order is the order given
    for (const auto& [k, t] : arrays) {
      SCOPED_TRACE(k);
      ASSERT_TRUE(r.has(k));
      expect_same(r.get(k), t);
    }
  }
}

TEST(Npz, StoredMembersHoldPlainNpyBytesAndDeflatedOnesDoNot) {
  TempFolder dir;
  Tensor zeros = Tensor::zeros({64, 64});  // compresses to almost nothing
  io::save_npz(dir.file("s.npz"), {{"z", zeros}}, false);
  io::save_npz(dir.file("d.npz"), {{"z", zeros}}, true);
  const std::string stored = io::read_file(dir.file("s.npz"));
  const std::string deflated = io::read_file(dir.file("d.npz"));
  EXPECT_NE(stored.find(io::encode_npy(zeros)), std::string::npos);
  EXPECT_NE(stored.find("z.npy"), std::string::npos);  // numpy's member naming
  EXPECT_LT(deflated.size(), zeros.nbytes() / 10);
}

TEST(Npz, SavingIsReproducibleAndAtomic) {
  TempFolder dir;
  const std::string path = dir.file("a.npz");
  io::save_npz(path, sample_arrays());
  const std::string first = io::read_file(path);
  io::save_npz(path, sample_arrays());  // over the existing file
  EXPECT_EQ(io::read_file(path), first) << "fixed member times make archives byte-for-byte reproducible";
  int files = 0;
  for (const auto& e : fs::directory_iterator(dir.path())) files += e.is_regular_file();
  EXPECT_EQ(files, 1) << "no temporary file is left behind";
}

TEST(Npz, EmptyArchiveRoundTripsAndMatchesNumpy) {
  TempFolder dir;
  io::save_npz(dir.file("none.npz"), {});
  EXPECT_TRUE(io::NpzReader(dir.file("none.npz")).keys().empty());
  EXPECT_EQ(io::read_file(dir.file("none.npz")), io::read_file(fixture("npz_empty.npz")));
  io::NpzReader numpy_empty(fixture("npz_empty.npz"));
  EXPECT_TRUE(numpy_empty.keys().empty());
  expect_error([&] { numpy_empty.get("x"); }, {"npz_empty.npz", "no array 'x'", "nothing"});
}

TEST(Npz, ReaderCanBeMoved) {
  io::NpzReader a(fixture("npz_stored.npz"));
  io::NpzReader b(std::move(a));
  EXPECT_EQ(b.get("i8").numel(), 5);
  expect_error([&] { a.get("i8"); }, {"moved from"});  // NOLINT(bugprone-use-after-move): on purpose
}

// ---- files written by numpy ----------------------------------------------------------------

// The arrays make_io_fixtures.py saves (npz_arrays()), checked value by value.
void expect_numpy_fixture(const std::string& file) {
  SCOPED_TRACE(file);
  io::NpzReader r(fixture(file));
  EXPECT_EQ(r.keys(), (std::vector<std::string>{"f4", "f8_scalar", "i8", "u1", "b1", "empty"}));
  EXPECT_EQ(r.get("f4").to_vector(), (std::vector<double>{0, 0.25, 0.5, 0.75, 1.0, 1.25}));
  EXPECT_EQ(r.get("f4").shape(), (Shape{2, 3}));
  const Tensor f8 = r.get("f8_scalar");
  EXPECT_EQ(f8.dtype(), DType::Float64);
  EXPECT_EQ(f8.dim(), 0);
  EXPECT_EQ(f8.item(), 3.5);
  EXPECT_EQ(r.get("i8").to_vector(), (std::vector<double>{-2, -1, 0, 1, 2}));
  const Tensor u1 = r.get("u1");
  ASSERT_EQ(u1.shape(), (Shape{3, 4, 4}));
  for (int64_t i = 0; i < u1.numel(); ++i) ASSERT_EQ(u1.at(i), (i * 5) % 256) << i;
  const Tensor b1 = r.get("b1");
  EXPECT_EQ(b1.dtype(), DType::UInt8);  // numpy bool lands in uint8 0/1
  EXPECT_EQ(b1.to_vector(), (std::vector<double>{1, 0, 0, 1}));
  EXPECT_EQ(r.get("empty").shape(), (Shape{0, 3}));
}

TEST(Npz, ReadsNumpySavezStored) { expect_numpy_fixture("npz_stored.npz"); }

TEST(Npz, ReadsNumpySavezCompressed) { expect_numpy_fixture("npz_deflated.npz"); }

TEST(Npz, ReadsPneumoniaMNIST) {
  io::NpzReader r(LB_SOURCE_DIR "/data/pneumoniamnist.npz");
  for (const char* k : {"train_images", "train_labels", "val_images", "val_labels", "test_images", "test_labels"})
    EXPECT_TRUE(r.has(k)) << k;
  const struct {
    const char* split;
    int64_t n;
  } splits[] = {{"train", 4708}, {"val", 524}, {"test", 624}};
  for (const auto& s : splits) {
    SCOPED_TRACE(s.split);
    const Tensor images = r.get(std::string(s.split) + "_images");
    const Tensor labels = r.get(std::string(s.split) + "_labels");
    EXPECT_EQ(images.shape(), (Shape{s.n, 28, 28}));
    EXPECT_EQ(images.dtype(), DType::UInt8);
    EXPECT_EQ(labels.shape(), (Shape{s.n, 1}));
    EXPECT_EQ(labels.dtype(), DType::UInt8);
    int64_t positives = 0;
    for (double v : labels.to_vector()) {
      ASSERT_TRUE(v == 0 || v == 1) << v;
      positives += v == 1;
    }
    EXPECT_GT(positives, s.n / 2) << "pneumonia is the majority class in every split";
  }
}

// ---- bad archives ---------------------------------------------------------------------------

TEST(Npz, MissingFile) {
  expect_error([] { io::NpzReader r(fixture("no_such_file.npz")); }, {"no_such_file.npz", "no such file", "path"});
}

TEST(Npz, DirectoryInsteadOfFile) {
  TempFolder dir;
  expect_error([&] { io::NpzReader r(dir.path().string()); }, {"is a directory"});
}

TEST(Npz, NotAZipArchive) {
  expect_error([] { io::NpzReader r(fixture("not_a_zip.npz")); },
               {"not_a_zip.npz is not a .npz (zip) archive", "re-download"});
}

TEST(Npz, NpyFileGivenAsNpz) {
  expect_error([] { io::NpzReader r(fixture("npy_not_npz.npz")); }, {"npy_not_npz.npz", ".npy file", "load_npy"});
}

TEST(Npz, TruncatedArchive) {
  expect_error([] { io::NpzReader r(fixture("npz_truncated.npz")); },
               {"npz_truncated.npz", "truncated or corrupt", "re-download"});
}

TEST(Npz, CrcErrorInOneMember) {
  io::NpzReader r(fixture("npz_crc.npz"));  // the zip structure itself is intact
  expect_error([&] { r.get("f4"); }, {"npz_crc.npz:f4", "CRC", "re-download"});
  EXPECT_EQ(r.get("i8").numel(), 5) << "the other members still read";
}

TEST(Npz, MissingKeyListsTheKeys) {
  io::NpzReader r(fixture("npz_stored.npz"));
  EXPECT_FALSE(r.has("train_images"));
  expect_error([&] { r.get("train_images"); },
               {"npz_stored.npz", "no array 'train_images'", "f4, f8_scalar, i8, u1, b1, empty"});
}

TEST(Npz, MemberThatIsNotNpy) {
  io::NpzReader r(fixture("npz_bad_member.npz"));
  expect_error([&] { r.get("junk"); }, {"npz_bad_member.npz:junk", ".npy"});
  EXPECT_EQ(r.get("ok").to_vector(), (std::vector<double>{-2, -1, 0, 1, 2}));
}

TEST(Npz, MemberClaimingOver16GiB) {
  io::NpzReader r(fixture("npz_huge_member.npz"));
  expect_error([&] { r.get("huge"); }, {"npz_huge_member.npz:huge", "21474836480 bytes", "over 16 GiB"});
}

TEST(Npz, DeflatedMemberClaimingMoreThanDeflateCanExpand) {
  io::NpzReader r(fixture("npz_deflate_claim.npz"));
  expect_error([&] { r.get("bomb"); }, {"npz_deflate_claim.npz:bomb", "more than deflate can expand"});
}

TEST(Npz, DeflatedMemberShorterThanItsDirectoryEntry) {
  io::NpzReader r(fixture("npz_short_member.npz"));
  expect_error([&] { r.get("short"); }, {"npz_short_member.npz:short", "truncated member", "168 of 268"});
}

TEST(Npz, SaveRefusesBadKeysAndTensors) {
  TempFolder dir;
  const std::string path = dir.file("x.npz");
  expect_error([&] { io::save_npz(path, {{"", Tensor::ones({1})}}); }, {"x.npz", "empty key"});
  expect_error(
      [&] {
        io::save_npz(path, {{"a", Tensor::ones({1})}, {"a", Tensor::ones({2})}});
      },
      {"x.npz", "'a' appears twice"});
  expect_error([&] { io::save_npz(path, {{"a", Tensor()}}); }, {"undefined"});
  EXPECT_FALSE(fs::exists(path)) << "a refused save writes nothing";
  expect_error([&] { io::save_npz(dir.file("no/such/folder/x.npz"), {{"a", Tensor::ones({1})}}); }, {"folder exists"});
}

// ---- sweeps: every cut and every flipped byte ----------------------------------------------------

// Opens `path` and reads every member; true when all of it worked. Any failure must be lb::Error.
bool read_everything(const std::string& path, std::vector<Tensor>& out) {
  out.clear();
  try {
    io::NpzReader r(path);
    for (const std::string& k : r.keys()) out.push_back(r.get(k));
    return true;
  } catch (const Error&) {
    return false;
  }
}

TEST(Npz, EveryTruncationIsAnError) {
  TempFolder dir;
  for (bool compress : {false, true}) {
    // Small on purpose: every cut is a file written and read back.
    io::save_npz(dir.file("whole.npz"), {{"a", Tensor::arange(4)}, {"b", Tensor::ones({3})}}, compress);
    const std::string whole = io::read_file(dir.file("whole.npz"));
    std::vector<Tensor> got;
    for (size_t cut = 0; cut < whole.size(); ++cut) {
      io::write_file_atomic(dir.file("cut.npz"), whole.substr(0, cut));
      EXPECT_FALSE(read_everything(dir.file("cut.npz"), got)) << "cut at " << cut << " of " << whole.size();
    }
  }
}

TEST(Npz, EveryFlippedByteIsAnErrorOrACorrectRead) {
  TempFolder dir;
  const std::vector<std::pair<std::string, Tensor>> arrays = {{"a", Tensor::arange(4)}, {"b", Tensor::ones({3})}};
  for (bool compress : {false, true}) {
    io::save_npz(dir.file("whole.npz"), arrays, compress);
    const std::string whole = io::read_file(dir.file("whole.npz"));
    std::vector<Tensor> got;
    int errors = 0;
    for (size_t i = 0; i < whole.size(); ++i) {
      std::string bad = whole;
      bad[i] = static_cast<char>(bad[i] ^ 0x10);
      io::write_file_atomic(dir.file("bad.npz"), bad);
      if (!read_everything(dir.file("bad.npz"), got)) {
        ++errors;
        continue;
      }
      // Some bytes carry nothing a reader checks (times, attributes); the arrays must be intact.
      ASSERT_EQ(got.size(), 2u) << "byte " << i;
      expect_same(got[0], arrays[0].second);
      expect_same(got[1], arrays[1].second);
    }
    EXPECT_GT(errors, static_cast<int>(whole.size()) / 2) << "most bytes of an archive matter";
  }
}

}  // namespace
}  // namespace lb
