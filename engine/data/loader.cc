// loader.cc: see loader.h.
#include "engine/data/loader.h"

#include <algorithm>
#include <numeric>

#include <omp.h>

namespace lb::data {

Loader::Loader(const Split& split, LoaderConfig cfg) : split_(split), cfg_(cfg) {
  LB_CHECK(cfg_.batch_size > 0, "loader: batch size must be positive, got " << cfg_.batch_size);
  LB_CHECK(split_.size() > 0, "loader: the " << split_.name << " split is empty");
  cfg_.prefetch = std::max<int64_t>(1, cfg_.prefetch);
}

Loader::~Loader() { stop(); }

int64_t Loader::num_batches() const {
  const int64_t n = split_.size(), b = cfg_.batch_size;
  return cfg_.drop_last ? n / b : (n + b - 1) / b;
}

void Loader::stop() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stop_ = true;
  }
  cv_.notify_all();
  if (worker_.joinable()) worker_.join();
  ready_.clear();
  stop_ = false;
  error_ = nullptr;
}

void Loader::start_epoch(int64_t epoch, int64_t first_batch) {
  LB_CHECK(first_batch >= 0, "Loader: first_batch must be non-negative, got " << first_batch);
  stop();
  std::vector<int64_t> order(split_.size());
  std::iota(order.begin(), order.end(), 0);
  if (cfg_.shuffle) {
    Generator gen(cfg_.seed + static_cast<uint64_t>(epoch) * 1000003ULL);
    // Fisher-Yates with our own draws: std::shuffle's use of the engine is implementation-defined.
    for (int64_t i = static_cast<int64_t>(order.size()) - 1; i > 0; --i)
      std::swap(order[i], order[gen.next() % static_cast<uint64_t>(i + 1)]);
  }
  std::vector<std::vector<int64_t>> batches;
  for (int64_t start = 0; start < static_cast<int64_t>(order.size()); start += cfg_.batch_size) {
    const int64_t end = std::min<int64_t>(start + cfg_.batch_size, order.size());
    if (cfg_.drop_last && end - start < cfg_.batch_size) break;
    batches.emplace_back(order.begin() + start, order.begin() + end);
  }
  // A run resumed in the middle of an epoch skips the batches it already trained on; the order
  // of the rest is unchanged because it comes from (seed, epoch) alone.
  batches.erase(batches.begin(), batches.begin() + std::min<int64_t>(first_batch, batches.size()));
  remaining_ = static_cast<int64_t>(batches.size());
  worker_ = std::thread([this, b = std::move(batches), epoch]() mutable { work(std::move(b), epoch); });
}

void Loader::work(std::vector<std::vector<int64_t>> batches, int64_t epoch) {
  // One thread is plenty to stay ahead of training, and a team here would fight the training
  // thread's OpenMP team for the same cores.
  omp_set_num_threads(1);
  try {
    for (auto& idx : batches) {
      Batch b;
      b.x = to_model_space(split_, idx, cfg_.norm, &cfg_.augment, cfg_.seed, epoch);
      b.y = gather_labels(split_, idx);
      b.idx = std::move(idx);
      std::unique_lock<std::mutex> lock(mu_);
      cv_.wait(lock, [&] { return stop_ || static_cast<int64_t>(ready_.size()) < cfg_.prefetch; });
      if (stop_) return;
      ready_.push_back(std::move(b));
      cv_.notify_all();
    }
  } catch (...) {
    std::lock_guard<std::mutex> lock(mu_);
    error_ = std::current_exception();
    cv_.notify_all();
  }
}

bool Loader::next(Batch& out) {
  std::unique_lock<std::mutex> lock(mu_);
  if (remaining_ == 0) return false;
  cv_.wait(lock, [&] { return !ready_.empty() || error_; });
  if (error_) std::rethrow_exception(error_);
  out = std::move(ready_.front());
  ready_.pop_front();
  --remaining_;
  cv_.notify_all();
  return true;
}

}  // namespace lb::data
