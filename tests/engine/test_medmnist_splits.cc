// test_medmnist_splits.cc: splits of different sizes load (the real PneumoniaMNIST has 4708 / 524
// / 624 images): the label-layout check compares the label columns of a multi-label file, never
// the sample counts, which differ from split to split by design.
#include <gtest/gtest.h>

#include "engine/data/medmnist.h"
#include "engine/io/npz.h"

#include "tests/support/tiny_dataset.h"

namespace lb {
namespace {

TEST(MedMnistSplits, DifferentSizesLoad) {
  test::TinySpec spec;
  spec.train = 24, spec.val = 10, spec.test = 6;
  const std::string path = test::write_tiny_dataset(test::fresh_dir() + "/d.npz", spec);
  const data::Dataset ds = data::load_medmnist(path);
  EXPECT_EQ(ds.train.size(), 24);
  EXPECT_EQ(ds.val.size(), 10);
  EXPECT_EQ(ds.test.size(), 6);
}

TEST(MedMnistSplits, MultiLabelSplitsOfDifferentSizesLoadAndColumnsMustAgree) {
  test::TinySpec spec;
  spec.train = 24, spec.val = 12, spec.test = 6;
  spec.multilabel = true;
  spec.num_classes = 4;
  const std::string dir = test::fresh_dir();
  EXPECT_EQ(data::load_medmnist(test::write_tiny_dataset(dir + "/ok.npz", spec)).val.size(), 12);
  auto arrays = test::tiny_arrays(spec);
  for (auto& [name, t] : arrays)
    if (name == "val_labels") t = Tensor::zeros({12, 3}, DType::UInt8);  // 3 label columns, train has 4
  io::save_npz(dir + "/bad.npz", arrays);
  EXPECT_THROW(data::load_medmnist(dir + "/bad.npz"), Error);
}

}  // namespace
}  // namespace lb
