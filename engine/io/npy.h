// io/npy.h: reading and writing NumPy .npy files, so tensors go in and out of numpy unchanged.
//
// Follows the format spec in numpy's `numpy/lib/format.py` (NEP 1):
//   bytes 0-5   magic "\x93NUMPY"
//   bytes 6-7   format version major, minor: 1.0 (uint16 header length), 2.0 and 3.0 (uint32;
//               3.0 only allows a UTF-8 header, which changes nothing for the keys we read)
//   then        the header length, then an ASCII Python dict literal such as
//               {'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }
//               padded with spaces and a final '\n' so the data starts 64-byte aligned
//   then        the raw elements, C order.
// Supported dtypes: '<f4' float32, '<f8' float64, '<i8' int64, '|u1' uint8 and '|b1' bool (read
// into a uint8 tensor of 0/1). Anything else, big-endian data and Fortran order are refused with
// one line that names the file and says how to convert it in numpy.
//
// Every header field is validated against the file size before a byte of tensor memory is
// allocated: a corrupt or truncated download is an error message, never a huge allocation.
#pragma once

#include <cstddef>
#include <functional>
#include <string>

#include "engine/tensor.h"

namespace lb::io {

// Reads a .npy file into a new CPU tensor. Errors start with the path.
Tensor load_npy(const std::string& path);

// Writes `t` (any device; copied to the CPU first) as a version 1.0 .npy file (2.0 if the header
// would not fit). Atomic: writes `path.tmp.<pid>`, then renames it over `path`, so a reader never
// sees half a file.
void save_npy(const std::string& path, const Tensor& t);

// In-memory forms of the same two operations, for containers of .npy members (.npz). `what`
// names the source in error messages (a path, or "archive.npz:train_images.npy").
Tensor parse_npy(const void* data, size_t size, const std::string& what);
std::string encode_npy(const Tensor& t);

// The reader under all of them: `read(dst, n)` must deliver the next n bytes of a .npy that holds
// `total` bytes, or throw. The header (at most 1 MiB, at most 64 dimensions) is checked against
// `total` before the tensor is allocated, and the data is read straight into it.
Tensor read_npy(const std::function<void(char*, size_t)>& read, size_t total, const std::string& what);

}  // namespace lb::io
