// cpu/conv2d_weight_cache.h: packed convolution weights kept across calls while the weight's
// values cannot change. Internal to engine/cpu/conv2d_implicit.cc.
//
// Packing a conv's weight for the GEMMs (one PackedA per position class) reads and writes the
// whole weight per call, several times on small maps (every class has its own). In training the
// weights change every step, so that is the price; but inference and the explainers run hundreds
// of passes over the same weights, where it was a third of the GEMM time. The op
// (engine/ops/conv2d.cc) names the weight's owner, offset and version only when the weight needs
// no gradient; an entry is found again only while the owner is alive (a weak pointer: a new
// storage at a recycled address never matches) and its version has not moved. Least recently used
// entries go first past kCapacityBytes.
#pragma once

#include <array>
#include <cstdint>
#include <memory>

namespace lb::cpu::conv_detail {

struct WeightKey {
  std::weak_ptr<const void> owner;
  int64_t offset = 0;
  uint64_t version = 0;
  int kind = 0;                   // which packed form (forward, turned filter, transposed, ...)
  std::array<int64_t, 10> shape;  // the convolution's C, H, W, K, R, S, stride, pad, bf16, ISA
};

constexpr int64_t kCapacityBytes = int64_t(256) << 20;

// The entry for k, or null. Thread-safe.
std::shared_ptr<const void> find_packed_weights(const WeightKey& k);
// Keeps v (about `bytes` of memory) under k, evicting the least recently used past the capacity.
void keep_packed_weights(const WeightKey& k, std::shared_ptr<const void> v, int64_t bytes);

}  // namespace lb::cpu::conv_detail
