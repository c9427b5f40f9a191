// io/safetensors.h: reading and writing .safetensors files (weights and checkpoints).
//
// Follows the format spec of huggingface/safetensors (its README, "Format"):
//   bytes 0-7   N, the header length, an unsigned little-endian 64-bit integer
//   bytes 8..   N bytes of UTF-8 JSON, an object that starts with '{' and may end in spaces:
//                 {"conv1.weight": {"dtype": "F32", "shape": [64, 1, 3, 3], "data_offsets": [0, 2304]},
//                  ..., "__metadata__": {"arch": "resnet18", ...}}   (string -> string only)
//   then        the byte buffer: each tensor's little-endian, row-major bytes at
//               [begin, end) relative to the buffer's first byte.
// The spec's rules are enforced on load, each with a one-line error naming the file: no
// duplicate names, every tensor's byte range fits its dtype and shape, ranges neither overlap nor
// leave holes, and the buffer ends exactly at the end of the file. Headers over 100 MB are
// refused, as the reference implementation does.
//
// dtypes: F32, F64, I64, U8 load as they are; BOOL loads as uint8 0/1. F16 and BF16 are converted
// to float32 on load, because timm and Hugging Face publish some weights in half precision and the
// engine computes in float32; saving writes F32/F64/I64/U8 only. Other dtypes (I32, F8, ...) are
// refused with the list of supported ones.
//
// lightbox's checkpoints keep torchvision's parameter names and put arch, classes, normalization
// and the training config in __metadata__ as JSON strings (docs: design.md, "Files and formats").
#pragma once

#include <map>
#include <string>
#include <utility>
#include <vector>

#include "engine/tensor.h"

namespace lb::io {

struct SafeTensors {
  std::vector<std::pair<std::string, Tensor>> tensors;  // in the order of the file's header
  std::map<std::string, std::string> metadata;          // "__metadata__", empty when absent
};

// Reads the whole file once and returns every tensor as a new CPU tensor.
SafeTensors load_safetensors(const std::string& path);

// Writes tensors in the given order (header and data alike), any device (copied to the CPU
// first), with `metadata` as "__metadata__" when it is not empty. The header is padded with spaces
// to a multiple of 8 bytes, as the reference writer does, so the data starts 8-byte aligned.
// Atomic (write_file_atomic). Names must be non-empty, unique, valid UTF-8 and not "__metadata__".
void save_safetensors(const std::string& path, const std::vector<std::pair<std::string, Tensor>>& tensors,
                      const std::map<std::string, std::string>& metadata = {});

}  // namespace lb::io
