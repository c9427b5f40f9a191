// storage.h: a block of bytes on one device, shared by every tensor that views it.
//
// The storage also owns the version counter. Every view of the same memory (reshape, flatten,
// detach, a batch slice) holds the same Storage, so an in-place write through any of them bumps
// the one counter that autograd checks (see docs/02-autograd.md).
//
// CPU memory is 64-byte aligned (one cache line, and enough for AVX-512 loads). CUDA memory comes
// from cudaMalloc when the build has CUDA; a caching allocator replaces it with the CUDA backend.
//
// A storage can also wrap memory it does not own (Storage::wrap): another library's buffer, such
// as a numpy array the Python binding shares without a copy (python/, docs/12-python.md). The
// storage then holds `owner`, whatever keeps that memory alive, and releases it instead of freeing.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>

#include "base/dtype.h"

namespace lb {

class Storage {
 public:
  Storage(size_t nbytes, Device device);
  ~Storage();
  Storage(const Storage&) = delete;
  Storage& operator=(const Storage&) = delete;

  // Views `nbytes` at `ptr` (CPU memory, any alignment) without copying; `owner` keeps them alive
  // and is released with the storage. Writes through either side are seen by the other.
  static std::shared_ptr<Storage> wrap(void* ptr, size_t nbytes, Device device, std::shared_ptr<void> owner);

  void* data() { return ptr_; }
  const void* data() const { return ptr_; }
  size_t nbytes() const { return nbytes_; }
  Device device() const { return device_; }

  // Bumped by every in-place write; read by autograd when it unpacks a saved tensor.
  uint64_t version() const { return version_; }
  void bump_version() { ++version_; }

 private:
  void* ptr_ = nullptr;
  size_t nbytes_ = 0;
  Device device_;
  uint64_t version_ = 0;
  std::shared_ptr<void> owner_;  // set for wrapped memory: freed by its owner, not here

  Storage() = default;
};

// True when this binary was built with CUDA and a device is present.
bool cuda_available();

// Copies nbytes between two storages' memory (any pair of devices).
void copy_bytes(void* dst, Device dst_dev, const void* src, Device src_dev, size_t nbytes);

}  // namespace lb
