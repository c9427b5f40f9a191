// tiny_dataset.cc: see tiny_dataset.h.
#include "tests/support/tiny_dataset.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <system_error>
#include <vector>

#include "engine/io/npz.h"

namespace lb::test {

namespace {

// n images of size x size x channels: noise in [10, 70), and for class 1 a 4x4 (or smaller on
// tiny images) square of [200, 255] at a random place. Labels cycle 0..num_classes-1.
std::pair<Tensor, Tensor> make_split(int64_t n, const TinySpec& s, Generator& gen) {
  const int64_t h = s.size, w = s.size, c = s.channels;
  Tensor images = s.channels == 1 ? Tensor::empty({n, h, w}, DType::UInt8) : Tensor::empty({n, h, w, c}, DType::UInt8);
  const int64_t width = s.multilabel ? s.num_classes : 1;
  Tensor labels = Tensor::empty({n, width}, DType::UInt8);
  uint8_t* px = images.data<uint8_t>();  // (N, H, W, C) row-major either way
  uint8_t* lb = labels.data<uint8_t>();
  const int64_t blob = std::min<int64_t>(4, std::max<int64_t>(1, s.size / 4));
  for (int64_t i = 0; i < n; ++i) {
    int64_t label = i % s.num_classes;
    if (s.multilabel) {
      for (int64_t k = 0; k < width; ++k) lb[i * width + k] = static_cast<uint8_t>(((i / (1 + k % 3)) + k) % 2);
      label = lb[i * width] == 1 ? 1 : 0;  // the blob marks flag 0
    } else {
      lb[i] = static_cast<uint8_t>(label);
    }
    uint8_t* img = px + i * h * w * c;
    for (int64_t k = 0; k < h * w * c; ++k) img[k] = static_cast<uint8_t>(10 + gen.next() % 60);
    if (label == 1) {
      const int64_t y0 = static_cast<int64_t>(gen.next() % static_cast<uint64_t>(h - blob + 1));
      const int64_t x0 = static_cast<int64_t>(gen.next() % static_cast<uint64_t>(w - blob + 1));
      for (int64_t y = y0; y < y0 + blob; ++y)
        for (int64_t x = x0; x < x0 + blob; ++x)
          for (int64_t ch = 0; ch < c; ++ch) img[(y * w + x) * c + ch] = static_cast<uint8_t>(200 + gen.next() % 56);
    }
  }
  return {images, labels};
}

// Removes the folders fresh_dir() made during a test once that test has passed (a training test
// leaves hundreds of MB of checkpoints); a failed test's folders stay for inspection, named after
// it. gtest owns the listener once appended.
class ScratchCleaner : public ::testing::EmptyTestEventListener {
 public:
  void OnTestEnd(const ::testing::TestInfo& info) override {
    if (info.result() != nullptr && !info.result()->Failed())
      for (const std::string& d : dirs) {
        std::error_code ignored;
        std::filesystem::remove_all(d, ignored);
      }
    dirs.clear();
  }
  std::vector<std::string> dirs;
};

ScratchCleaner& cleaner() {
  static ScratchCleaner* c = [] {
    auto* l = new ScratchCleaner;
    ::testing::UnitTest::GetInstance()->listeners().Append(l);
    return l;
  }();
  return *c;
}

}  // namespace

std::vector<std::pair<std::string, Tensor>> tiny_arrays(const TinySpec& spec) {
  Generator gen(spec.seed);
  std::vector<std::pair<std::string, Tensor>> out;
  for (const auto& [name, n] :
       std::vector<std::pair<std::string, int64_t>>{{"train", spec.train}, {"val", spec.val}, {"test", spec.test}}) {
    auto [images, labels] = make_split(n, spec, gen);
    out.emplace_back(name + "_images", images);
    out.emplace_back(name + "_labels", labels);
  }
  return out;
}

std::string write_tiny_dataset(const std::string& path, const TinySpec& spec) {
  io::save_npz(path, tiny_arrays(spec));
  return path;
}

std::string fresh_dir(const std::string& tag) {
  const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
  std::string name = "lb_";
  if (info != nullptr) name += std::string(info->test_suite_name()) + "." + info->name();
  if (!tag.empty()) name += "." + tag;
  name += "." + std::to_string(::getpid());
  std::replace(name.begin(), name.end(), '/', '_');  // parameterized test names carry slashes
  std::string dir = ::testing::TempDir();
  if (!dir.empty() && dir.back() == '/') dir.pop_back();
  dir += "/" + name;
  std::filesystem::remove_all(dir);
  std::filesystem::create_directories(dir);
  cleaner().dirs.push_back(dir);
  return dir;
}

}  // namespace lb::test
