// loader.h: batches of a split, shuffled with a seed, prepared on a background thread.
//
// Epoch e visits the samples in the order of a permutation drawn from Generator(seed + e * 1000003), so
// every epoch is reproducible on its own (a resumed run replays epoch e exactly). While the
// caller trains on batch k, a worker thread builds batch k+1 (and at most `prefetch` batches
// ahead): decoding and augmentation stay off the critical path. An exception in the worker is
// rethrown by next().
#pragma once

#include <condition_variable>
#include <deque>
#include <exception>
#include <mutex>
#include <thread>

#include "engine/data/medmnist.h"

namespace lb::data {

struct LoaderConfig {
  int64_t batch_size = 128;
  bool shuffle = true;
  bool drop_last = false;
  uint64_t seed = 0;
  Normalization norm;
  AugmentConfig augment;  // applied only when enabled()
  int64_t prefetch = 2;
};

struct Batch {
  Tensor x;                  // float32 (B, C, H, W), model space
  Tensor y;                  // int64 (B)
  std::vector<int64_t> idx;  // positions in the split
};

class Loader {
 public:
  Loader(const Split& split, LoaderConfig cfg);
  ~Loader();
  Loader(const Loader&) = delete;
  Loader& operator=(const Loader&) = delete;

  int64_t num_batches() const;
  // Starts epoch `epoch` (stopping any epoch in flight) at its batch `first_batch` (0: the
  // whole epoch; a resumed run skips the batches it trained on before it was stopped).
  void start_epoch(int64_t epoch, int64_t first_batch = 0);
  // The next batch of the epoch; false at its end.
  bool next(Batch& out);

 private:
  void stop();
  void work(std::vector<std::vector<int64_t>> batches, int64_t epoch);

  const Split& split_;
  LoaderConfig cfg_;
  std::thread worker_;
  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<Batch> ready_;
  int64_t remaining_ = 0;  // batches of this epoch not yet handed out
  bool stop_ = false;
  std::exception_ptr error_;
};

}  // namespace lb::data
