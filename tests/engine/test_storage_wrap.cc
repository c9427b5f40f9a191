// test_storage_wrap.cc: memory lightbox does not own (Storage::wrap, Tensor::from_storage), as the
// Python binding shares numpy arrays, and the cooperative cancellation of long loops
// (engine/progress.h: request_cancel makes the next ProgressBar::update throw lb::Cancelled).
#include <gtest/gtest.h>

#include <memory>
#include <vector>

#include "engine/progress.h"
#include "engine/storage.h"
#include "engine/tensor.h"

namespace lb {
namespace {

TEST(StorageWrap, SharesMemoryBothWays) {
  auto buf = std::make_shared<std::vector<float>>(6, 1.0f);
  Tensor t = Tensor::from_storage(Storage::wrap(buf->data(), 6 * sizeof(float), Device::cpu(), buf), {2, 3});
  EXPECT_EQ(t.data<float>(), buf->data());
  (*buf)[4] = 7.0f;
  EXPECT_EQ(t.at(4), 7.0);
  t.data<float>()[0] = -2.0f;
  EXPECT_EQ((*buf)[0], -2.0f);
}

TEST(StorageWrap, OwnerLivesAsLongAsTheTensor) {
  auto buf = std::make_shared<std::vector<float>>(4, 3.0f);
  std::weak_ptr<std::vector<float>> watch = buf;
  Tensor t = Tensor::from_storage(Storage::wrap(buf->data(), 4 * sizeof(float), Device::cpu(), buf), {4});
  Tensor view = t.view({2, 2});
  buf.reset();
  EXPECT_FALSE(watch.expired());  // the tensor keeps the owner alive
  EXPECT_EQ(view.at(3), 3.0);
  t = Tensor();
  EXPECT_FALSE(watch.expired());  // so does a view
  view = Tensor();
  EXPECT_TRUE(watch.expired());  // released, not freed by the storage
}

TEST(StorageWrap, RefusesTooSmallStorageAndMissingOwner) {
  auto buf = std::make_shared<std::vector<float>>(3);
  EXPECT_THROW(Tensor::from_storage(Storage::wrap(buf->data(), 3 * sizeof(float), Device::cpu(), buf), {2, 2}), Error);
  EXPECT_THROW(Storage::wrap(buf->data(), 12, Device::cpu(), nullptr), Error);
  EXPECT_THROW(Storage::wrap(buf->data(), 12, Device::cuda(0), buf), Error);
}

TEST(Cancel, NextProgressUpdateThrowsUntilCleared) {
  clear_cancel();
  ProgressBar bar("loop", 3, "it", false);
  bar.update(1, 1.0);  // no request: nothing happens
  request_cancel();
  EXPECT_TRUE(cancel_requested());
  EXPECT_THROW(bar.update(1, 1.0), Cancelled);
  try {
    bar.update(1, 1.0);
    FAIL() << "expected lb::Cancelled";
  } catch (const Error& e) {  // one error type: callers that catch lb::Error see it too
    EXPECT_NE(std::string(e.what()).find("interrupted"), std::string::npos);
  }
  clear_cancel();
  EXPECT_FALSE(cancel_requested());
  bar.update(1, 1.0);
}

}  // namespace
}  // namespace lb
