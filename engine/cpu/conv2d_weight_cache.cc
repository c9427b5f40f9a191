// cpu/conv2d_weight_cache.cc: see conv2d_weight_cache.h. A short list under one mutex: a model has
// a few dozen convolutions, and a lookup is one pass over it per conv call.
#include "engine/cpu/conv2d_weight_cache.h"

#include <iterator>
#include <list>
#include <mutex>

namespace lb::cpu::conv_detail {

namespace {

struct Entry {
  WeightKey key;
  std::shared_ptr<const void> value;
  int64_t bytes;
};

struct Cache {
  std::mutex mu;
  std::list<Entry> entries;  // most recently used first
  int64_t bytes = 0;
};

Cache& cache() {
  static Cache c;
  return c;
}

bool same(const WeightKey& a, const WeightKey& b) {
  if (a.offset != b.offset || a.version != b.version || a.kind != b.kind || a.shape != b.shape) return false;
  const std::shared_ptr<const void> pa = a.owner.lock();
  return pa != nullptr && pa == b.owner.lock();
}

}  // namespace

std::shared_ptr<const void> find_packed_weights(const WeightKey& k) {
  if (k.owner.expired()) return nullptr;
  Cache& c = cache();
  std::lock_guard<std::mutex> lock(c.mu);
  for (auto it = c.entries.begin(); it != c.entries.end(); ++it)
    if (same(it->key, k)) {
      c.entries.splice(c.entries.begin(), c.entries, it);
      return it->value;
    }
  return nullptr;
}

void keep_packed_weights(const WeightKey& k, std::shared_ptr<const void> v, int64_t bytes) {
  if (k.owner.expired() || bytes > kCapacityBytes) return;
  Cache& c = cache();
  std::lock_guard<std::mutex> lock(c.mu);
  // Entries of freed owners, or of this owner at another version, can never match again.
  for (auto it = c.entries.begin(); it != c.entries.end();) {
    const bool stale =
        it->key.owner.expired() || (it->key.kind == k.kind && it->key.shape == k.shape && it->key.offset == k.offset &&
                                    it->key.owner.lock() == k.owner.lock());
    if (stale) {
      c.bytes -= it->bytes;
      it = c.entries.erase(it);
    } else {
      ++it;
    }
  }
  c.entries.push_front({k, std::move(v), bytes});
  c.bytes += bytes;
  while (c.bytes > kCapacityBytes && !c.entries.empty()) {
    c.bytes -= c.entries.back().bytes;
    c.entries.pop_back();
  }
}

}  // namespace lb::cpu::conv_detail
