// test_cli_explain_grid.cc: `lightbox explain` writes grid.png with its own labels (issue 19,
// point 5): the PNG is exactly the library's labelled grid (explain/render.h GridLabels) of the
// run's inputs and values at the run's shared scale, titled "<method> at the input", with "image"
// and the checkpoint's class names over the columns and "TP #12" (or "#n" for --input images)
// left of the rows; the colour-vision variants carry the same labels.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "engine/io/file.h"
#include "engine/io/npy.h"
#include "engine/io/png.h"
#include "explain/explain.h"
#include "explain/render.h"
#include "tests/support/check.h"
#include "tests/support/cli.h"
#include "tests/support/tiny_dataset.h"

namespace lb {
namespace {

using nlohmann::json;
using test::quoted;

const std::string kFix = std::string(LB_FIXTURES_DIR) + "/explain";

// The grid the run should have drawn, from its own inputs.npy, values.npy and meta.json.
explain::Grid expected_grid(const std::string& out, const std::vector<std::string>& rows) {
  const json meta = json::parse(io::read_file(out + "/meta.json"));
  const Tensor x = io::load_npy(out + "/inputs.npy");
  const Tensor maps = explain::channel_sum_upsampled(io::load_npy(out + "/values.npy"), x.size(2), x.size(3));
  explain::GridOptions opt;
  opt.vmax = meta["grid"]["vmax"].get<double>();
  explain::GridLabels labels;
  labels.title = meta["method"].get<std::string>() + " at the input";
  labels.row_labels = rows;
  labels.column_titles = {"image"};
  for (const auto& name : meta["output_names"]) labels.column_titles.push_back(name.get<std::string>());
  return explain::attribution_grid(x, maps, opt, labels);
}

void expect_same_pixels(const Tensor& got, const Tensor& want) {
  ASSERT_EQ(got.shape(), want.shape());
  int64_t differ = 0;
  for (int64_t i = 0; i < got.numel(); ++i) differ += got.data<uint8_t>()[i] != want.data<uint8_t>()[i];
  EXPECT_EQ(differ, 0);
}

TEST(CliExplainGrid, SelectedCellsAreLabelled) {
  const std::string dir = test::fresh_dir(), out = dir + "/out";
  const std::string data = std::string(LB_SOURCE_DIR) + "/data/pneumoniamnist.npz";
  const auto r =
      test::run_cli(dir, "explain --method ig --steps 4 --data " + quoted(data) +
                             " --select tp,fn --per-cell 1 --simulate protanopia --weights " +
                             quoted(kFix + "/model.safetensors") + " --out " + quoted(out) + " --quiet --threads 2");
  ASSERT_EQ(r.code, 0) << r.err;
  const json samples = json::parse(io::read_file(out + "/meta.json"))["samples"];
  ASSERT_EQ(samples.size(), 2u);
  const std::vector<std::string> rows = {"TP #" + std::to_string(samples[0]["index"].get<int64_t>()),
                                         "FN #" + std::to_string(samples[1]["index"].get<int64_t>())};
  const explain::Grid want = expected_grid(out, rows);
  EXPECT_GT(want.x0, 0);
  EXPECT_GT(want.y0, 0);
  expect_same_pixels(io::load_png(out + "/grid.png", 3), want.rgb);
  EXPECT_EQ(io::load_png(out + "/grid-protanopia.png", 3).shape(), want.rgb.shape());
}

TEST(CliExplainGrid, InputImagesAreLabelledByIndex) {
  const std::string dir = test::fresh_dir(), out = dir + "/out";
  const auto r =
      test::run_cli(dir, "explain --method ig --steps 4 --input " + quoted(kFix + "/x.npy") + " --weights " +
                             quoted(kFix + "/model.safetensors") + " --out " + quoted(out) + " --quiet --threads 2");
  ASSERT_EQ(r.code, 0) << r.err;
  const int64_t n = io::load_npy(out + "/inputs.npy").size(0);
  std::vector<std::string> rows;
  for (int64_t i = 0; i < n; ++i) rows.push_back("#" + std::to_string(i));
  expect_same_pixels(io::load_png(out + "/grid.png", 3), expected_grid(out, rows).rgb);
}

}  // namespace
}  // namespace lb
