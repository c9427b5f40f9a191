// io/npz.h: reading and writing NumPy .npz archives (the MedMNIST dataset format).
//
// An .npz is a plain zip archive whose members are .npy files, one per array: np.savez stores
// them (zip method 0), np.savez_compressed deflates them (method 8), and numpy names each member
// "<key>.npy" (numpy/lib/npyio.py, _savez). The zip container follows PKWARE's APPNOTE.TXT,
// including the zip64 extra fields numpy always writes; libzip does the container work and
// engine/io/npy.h parses each member, so an .npz member passes exactly the checks a .npy file does.
//
// Members are read on demand: opening the reader reads only the zip's central directory, and
// get() inflates one member. Before a byte of tensor memory is allocated, the member's size from
// the central directory is checked against the archive (a deflated member cannot expand more than
// ~1032x, a stored one not at all, and nothing over 16 GiB is believed), so a corrupt download
// is an error message rather than a huge allocation. CRC errors and short members are errors too.
#pragma once

#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "engine/tensor.h"

struct zip;  // libzip's archive handle (zip_t), kept out of this header

namespace lb::io {

// A read-only view of one .npz file. Not thread-safe: libzip reads one member at a time through
// the shared archive handle, so give each thread its own reader. Movable, not copyable.
class NpzReader {
 public:
  // Opens the archive and reads its member list. Errors name the path and what to do.
  explicit NpzReader(const std::string& path);
  ~NpzReader();
  NpzReader(NpzReader&&) noexcept;
  NpzReader& operator=(NpzReader&&) noexcept;
  NpzReader(const NpzReader&) = delete;
  NpzReader& operator=(const NpzReader&) = delete;

  const std::string& path() const { return path_; }
  // Member names without their ".npy" suffix, in archive order ("train_images", ...).
  std::vector<std::string> keys() const;
  bool has(const std::string& key) const;
  // Reads and parses one member into a new CPU tensor. A missing key lists the keys there are.
  Tensor get(const std::string& key) const;

 private:
  struct Member {
    std::string key;  // "train_images"
    uint64_t index;   // libzip's member index
  };
  const Member* find(const std::string& key) const;

  std::string path_;
  std::unique_ptr<struct zip, void (*)(struct zip*)> archive_;
  std::vector<Member> members_;
};

// Writes `arrays` as an .npz that np.load reads: member "<key>.npy" per array, in the given order,
// deflated when `compress` (np.savez_compressed) and stored otherwise (np.savez). Tensors on any
// device are copied to the CPU first. The archive is built in memory and written with
// write_file_atomic, so a reader never sees half a file. Keys must be non-empty and unique.
void save_npz(const std::string& path, const std::vector<std::pair<std::string, Tensor>>& arrays, bool compress = true);

}  // namespace lb::io
