// io/png.h: reading and writing 8-bit images (PNG out; PNG, JPEG and BMP in).
//
// PNG is the format of the figures, overlays and attribution maps lightbox writes, and a way to
// explain a single image that is not part of a dataset. Decoding and encoding use Sean Barrett's
// stb_image / stb_image_write (public domain, the libstb-dev headers), which follow the PNG spec
// (ISO/IEC 15948, W3C "Portable Network Graphics"); this file adds the tensor shapes and the
// one-line errors.
//
// Images are uint8 tensors, row-major: (H, W) for grey, (H, W, C) for C = 2 (grey + alpha),
// 3 (RGB) or 4 (RGBA). 16-bit PNGs are reduced to 8 bits on load. Because the decoder is stb's,
// load_png also reads JPEG and BMP files (other stb formats are compiled out to keep the attack
// surface of a file parser small).
#pragma once

#include <string>

#include "engine/tensor.h"

namespace lb::io {

// Decodes an image file. channels = 0 keeps the file's channels; 1 converts to grey (H, W);
// 2, 3 or 4 convert to grey+alpha, RGB or RGBA (H, W, C). Errors name the file and stb's reason.
Tensor load_png(const std::string& path, int channels = 0);

// Encodes a uint8 (H, W), (H, W, 1), (H, W, 2), (H, W, 3) or (H, W, 4) tensor (any device) as a
// PNG and writes it atomically (write_file_atomic).
void save_png(const std::string& path, const Tensor& img);

// The same PNG as save_png writes, as bytes in memory (for a "data:image/png;base64,..." URI, say).
std::string encode_png(const Tensor& img);

}  // namespace lb::io
