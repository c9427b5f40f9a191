// test_fuzz_replay.cc: every input kept under tests/fuzz/corpus/<target>/ (seeds, and each input
// that once crashed a parser, named crash-*) goes through its fuzz target again in every build,
// the ASan + UBSan one included. Passing means: parsed, or refused with an lb::Error; nothing else.
// Seeds (seed-*) must parse.
#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <iterator>

#include "tests/fuzz/fuzz_targets.h"

namespace lb::fuzz {
namespace {

namespace fs = std::filesystem;

std::vector<fs::path> corpus_of(const std::string& target) {
  std::vector<fs::path> files;
  for (const auto& e : fs::directory_iterator(fs::path(LB_FUZZ_CORPUS_DIR) / target))
    if (e.is_regular_file()) files.push_back(e.path());
  std::sort(files.begin(), files.end());
  return files;
}

class FuzzReplay : public ::testing::TestWithParam<Target> {};

TEST_P(FuzzReplay, EveryKeptInputParsesOrIsRefusedWithAnLbError) {
  const Target t = GetParam();
  const std::vector<fs::path> files = corpus_of(t.name);
  // Seeds (valid files) and regression inputs: a target with nothing kept checks nothing.
  ASSERT_GE(files.size(), 2u) << "tests/fuzz/corpus/" << t.name << " holds too few inputs";
  for (const fs::path& p : files) {
    std::ifstream f(p, std::ios::binary);
    const std::string bytes((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
    bool parsed = false;
    EXPECT_NO_THROW(parsed = t.fn(reinterpret_cast<const uint8_t*>(bytes.data()), bytes.size())) << p;
    // Seeds are valid files: a target that refused them would fuzz nothing but its error paths.
    if (p.filename().string().rfind("seed-", 0) == 0) {
      EXPECT_TRUE(parsed) << p << " is a seed but was refused";
    }
  }
}

INSTANTIATE_TEST_SUITE_P(Targets, FuzzReplay, ::testing::ValuesIn(targets()),
                         [](const ::testing::TestParamInfo<Target>& i) { return std::string(i.param.name); });

}  // namespace
}  // namespace lb::fuzz
