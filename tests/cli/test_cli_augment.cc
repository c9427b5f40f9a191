// test_cli_augment.cc: `lightbox augment` (tools/cli/augment.cc): the sheet's layout, that every
// view of --augment none is the stored image, that a real spec changes the views and that column v
// is the loader's own epoch v - 1 (to_model_space with the same seed), the same seed gives the same
// sheet, and a bad spec is one line.
#include <gtest/gtest.h>

#include <cmath>

#include "engine/data/augment.h"
#include "engine/data/medmnist.h"
#include "engine/io/file.h"
#include "engine/io/png.h"
#include "tests/support/cli.h"
#include "tests/support/tiny_dataset.h"

namespace lb {
namespace {

// The (H, W) grey block of row r, column v of a sheet of 16x16 images at zoom 1 (gap 2).
std::vector<int> cell(const Tensor& sheet, int64_t r, int64_t v) {
  std::vector<int> out;
  const int64_t w = sheet.size(1), r0 = 2 + r * 18, c0 = 2 + v * 18;
  for (int64_t i = 0; i < 16; ++i)
    for (int64_t j = 0; j < 16; ++j) out.push_back(sheet.data<uint8_t>()[((r0 + i) * w + c0 + j) * 3]);
  return out;
}

test::CliResult augment(const std::string& dir, const std::string& data, const std::string& spec,
                        const std::string& out, const std::string& seed = "0") {
  return test::run_cli(dir, "augment --data " + test::quoted(data) + " --augment " + spec + " --count 3 --views 4" +
                                " --zoom 1 --seed " + seed + " --out " + test::quoted(out));
}

TEST(CliAugment, ViewsAreTheLoadersEpochsAndNoneChangesNothing) {
  const std::string dir = test::fresh_dir();
  const std::string data = test::write_tiny_dataset(dir + "/tiny.npz");
  ASSERT_EQ(augment(dir, data, "none", dir + "/none.png").code, 0);
  const Tensor none = io::load_png(dir + "/none.png", 3);
  ASSERT_EQ(none.size(0), 3 * 18 + 2);
  ASSERT_EQ(none.size(1), 5 * 18 + 2);
  for (int64_t r = 0; r < 3; ++r)
    for (int64_t v = 1; v <= 4; ++v) EXPECT_EQ(cell(none, r, v), cell(none, r, 0)) << r << "," << v;

  const std::string spec = "translate=2,rotate=20,fill=border,gamma=0.3";
  const test::CliResult made = augment(dir, data, spec, dir + "/a.png", "5");
  ASSERT_EQ(made.code, 0) << made.err;
  const Tensor a = io::load_png(dir + "/a.png", 3);
  const data::Dataset ds = data::load_medmnist(data);
  const data::AugmentConfig cfg = data::parse_augment(spec);
  for (int64_t v = 1; v <= 4; ++v) {
    const Tensor x = data::to_model_space(ds.train, {0, 1, 2}, data::Normalization{0.0, 1.0}, &cfg, 5, v - 1);
    for (int64_t r = 0; r < 3; ++r) {
      const std::vector<int> got = cell(a, r, v);
      for (int64_t k = 0; k < 256; ++k)
        ASSERT_EQ(got[k], static_cast<int>(std::lround(255.0f * x.data<float>()[r * 256 + k]))) << r << "," << v;
    }
  }
  EXPECT_NE(cell(a, 0, 1), cell(a, 0, 0));
  EXPECT_NE(cell(a, 0, 1), cell(a, 0, 2));  // another epoch, another draw
  ASSERT_EQ(augment(dir, data, spec, dir + "/b.png", "5").code, 0);
  EXPECT_EQ(io::read_file(dir + "/a.png"), io::read_file(dir + "/b.png"));
}

TEST(CliAugment, BadSpecIsOneLine) {
  const std::string dir = test::fresh_dir();
  const std::string data = test::write_tiny_dataset(dir + "/tiny.npz");
  EXPECT_TRUE(test::one_error_line(augment(dir, data, "zoom=2", dir + "/x.png"), {"--augment", "zoom"}));
}

}  // namespace
}  // namespace lb
