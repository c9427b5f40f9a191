// test_checkpoint_task.cc: what a checkpoint says its outputs mean (models/checkpoint.h): the
// `task` entry round-trips, a file without one is binary or multi-class by its output count (and
// says it did not store one, so the data can decide for multi-label), another tool's `task` text
// is a note, and MedMNIST's own label names are used for its sets' files.
#include <gtest/gtest.h>

#include <map>

#include "base/notes.h"
#include "engine/io/safetensors.h"
#include "models/checkpoint.h"
#include "tests/support/tiny_dataset.h"

namespace lb::models {
namespace {

// A narrow ResNet18 (width 8) saved with `meta`, then its safetensors metadata rewritten by `edit`.
std::string save_narrow(const std::string& path, ModelMeta meta,
                        const std::function<void(std::map<std::string, std::string>&)>& edit = nullptr) {
  Generator gen(3);
  ResNet18 model(meta.in_channels, meta.num_classes, gen, 8);
  save_checkpoint(path, model, meta);
  if (edit) {
    io::SafeTensors st = io::load_safetensors(path);
    edit(st.metadata);
    io::save_safetensors(path, st.tensors, st.metadata);
  }
  return path;
}

TEST(CheckpointTask, MultiLabelRoundTrips) {
  ModelMeta meta;
  meta.num_classes = 14;
  meta.task = data::Task::MultiLabel;
  meta.class_names = default_class_names("chestmnist.npz", 14);
  const Checkpoint ck = load_checkpoint(save_narrow(test::fresh_dir() + "/ml.safetensors", meta));
  EXPECT_EQ(ck.meta.task, data::Task::MultiLabel);
  EXPECT_TRUE(ck.meta.task_stored);
  EXPECT_EQ(ck.meta.num_classes, 14);
  EXPECT_EQ(ck.meta.class_names.at(13), "hernia");
}

TEST(CheckpointTask, WithoutAnEntryTheOutputCountDecides) {
  const std::string dir = test::fresh_dir();
  for (int64_t k : {2, 5}) {
    ModelMeta meta;
    meta.num_classes = k;
    meta.class_names = default_class_names("", k);
    const Checkpoint ck = load_checkpoint(
        save_narrow(dir + "/k" + std::to_string(k) + ".safetensors", meta, [](auto& md) { md.erase("task"); }));
    EXPECT_EQ(ck.meta.task, k == 2 ? data::Task::Binary : data::Task::MultiClass);
    EXPECT_FALSE(ck.meta.task_stored);
  }
}

TEST(CheckpointTask, ForeignTaskTextIsANote) {
  std::vector<std::string> notes;
  const NoteHandler old = set_note_handler([&](const std::string& n) { notes.push_back(n); });
  ModelMeta meta;
  meta.num_classes = 3;
  meta.class_names = default_class_names("", 3);
  const Checkpoint ck = load_checkpoint(
      save_narrow(test::fresh_dir() + "/f.safetensors", meta, [](auto& md) { md["task"] = "ordinal regression"; }));
  set_note_handler(old);
  EXPECT_EQ(ck.meta.task, data::Task::MultiClass);
  EXPECT_FALSE(ck.meta.task_stored);
  ASSERT_EQ(notes.size(), 1u);
  EXPECT_NE(notes[0].find("metadata task 'ordinal regression' is not lightbox's"), std::string::npos) << notes[0];
}

TEST(CheckpointTask, MedMnistLabelNamesByFileName) {
  EXPECT_EQ(default_class_names("data/pneumoniamnist.npz", 2), (std::vector<std::string>{"normal", "pneumonia"}));
  EXPECT_EQ(default_class_names("/x/chestmnist_224.npz", 14).at(0), "atelectasis");
  EXPECT_EQ(default_class_names("OrganSMNIST_64.npz", 11).at(10), "spleen");
  EXPECT_EQ(default_class_names("octmnist.npz", 4).at(3), "normal");
  EXPECT_EQ(default_class_names("dermamnist_128.npz", 7).at(4), "melanoma");
  EXPECT_EQ(default_class_names("pathmnist.npz", 9).at(8), "colorectal adenocarcinoma epithelium");
  EXPECT_EQ(default_class_names("retinamnist_224.npz", 5).at(4), "class 4");
  // A count that does not match the set's is not that set: numbered classes.
  EXPECT_EQ(default_class_names("chestmnist.npz", 3), (std::vector<std::string>{"class 0", "class 1", "class 2"}));
  EXPECT_EQ(default_class_names("mine.npz", 2), (std::vector<std::string>{"class 0", "class 1"}));
}

}  // namespace
}  // namespace lb::models
