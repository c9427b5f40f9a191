// tiny_dataset.h: small synthetic MedMNIST-style .npz files and scratch folders for the data,
// training and CLI tests.
//
// The real PneumoniaMNIST train split takes a ResNet18 epoch of several seconds on the CI's two
// cores; the trainer and CLI tests need many short runs, so they train on this instead: uint8
// images (N, H, W) (or (N, H, W, 3)) of dim noise in which every class-1 image carries a bright
// square blob at a random place, labels (N, 1) uint8 alternating 0, 1, 0, 1, ... so every split
// holds both classes (val AUC is defined) in equal numbers. TinySpec also makes multi-class,
// multi-label, colour and larger files (the MedMNIST task and size variants). The blob makes the task learnable in
// an epoch or two, so a run's metrics move; the sizes default to 48/16/16 images of 16x16, where
// a ResNet18 epoch takes well under a second. Everything is drawn from `seed`, so a file is the
// same bytes on every run.
#pragma once

#include <string>
#include <utility>
#include <vector>

#include "engine/tensor.h"

namespace lb::test {

struct TinySpec {
  int64_t train = 48, val = 16, test = 16;
  int64_t size = 16;        // H = W
  int64_t channels = 1;     // 1: images (N, H, W); 3: (N, H, W, 3)
  int64_t num_classes = 2;  // labels cycle 0, 1, ..., num_classes - 1
  // Multi-label (ChestMNIST-like): labels (N, num_classes) of 0/1 flags, flag k of image i being
  // ((i / (1 + k % 3)) + k) % 2, so that every split of 6 or more images holds both sides of every
  // label; the blob marks flag 0.
  bool multilabel = false;
  uint64_t seed = 0;
};

// The six arrays of a MedMNIST .npz in the official key order ({train,val,test}_{images,labels}),
// so a test can change one before writing the file.
std::vector<std::pair<std::string, Tensor>> tiny_arrays(const TinySpec& spec = {});

// Writes tiny_arrays(spec) to `path` with io::save_npz and returns `path`.
std::string write_tiny_dataset(const std::string& path, const TinySpec& spec = {});

// A new empty folder under ::testing::TempDir() named after the running test, `tag` and the
// process id (ctest runs tests as separate processes, possibly in parallel). Ends without a
// slash. It is deleted when the test ends, unless the test failed (then it stays for inspection).
std::string fresh_dir(const std::string& tag = "");

}  // namespace lb::test
