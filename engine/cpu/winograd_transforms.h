// cpu/winograd_transforms.h: the small transforms inside the Winograd convolution
// (engine/cpu/winograd.cc), internal to engine/cpu/winograd*.cc.
//
// Lavin and Gray (2016) transform every tile with constant matrices: the input tile d (a x a) to
// B^T d B, the filter g (3 x 3) to G g G^T, the product tile M (a x a) back to A^T M A (m x m);
// the weight gradient needs the adjoints, dy (m x m) to A dy A^T and dU (a x a) to G^T dU G. Each
// runs on kLanes tiles at once: a tile "element" (i, j) is a run of kLanes floats, one per tile,
// so every operation of a transform is a vector operation over the lanes.
//
// Shapes (a = m + 2; F(2x2, 3x3): m = 2, a = 4; F(4x4, 3x3): m = 4, a = 6):
//   input        in (a, a, kLanes)  -> out (a, a, kLanes)
//   filter       in (3, 3, kLanes)  -> out (a, a, kLanes)
//   output       in (a, a, kLanes)  -> out (m, m, kLanes)
//   grad_output  in (m, m, kLanes)  -> out (a, a, kLanes)
//   filter_grad  in (a, a, kLanes)  -> out (3, 3, kLanes)
// with element (i, j) of a k x k input at in + (i*k + j)*is and of an r x r output at
// out + (i*r + j)*os: the strides let a transform read or write the GEMM operands (T, rows, width)
// in place, position xi = i*a + j at xi * rows*width.
#pragma once

#include <cstdint>

#include "engine/cpu/winograd.h"

namespace lb::cpu::detail {

// Tiles transformed together: 4 SSE vectors per tile element.
constexpr int kLanes = 16;
// The most positions of an input tile (F(4x4): 6 x 6) and outputs of an output tile (4 x 4).
constexpr int kMaxT = 36;
constexpr int kMaxOut = 16;

using Transform2d = void (*)(const float* in, int64_t is, float* out, int64_t os);

// One tile size: output tile m x m, input tile a x a, T = a*a positions, and its five transforms.
struct WinogradTransform {
  int m, a, T;
  Transform2d input, filter, output, grad_output, filter_grad;
};
const WinogradTransform& winograd_transform(WinogradTile t);

// d (size, size, kLanes) = the size x size windows whose top-left corners are src[0..kLanes), in
// planes whose rows are ld floats apart: a transpose that makes the lanes innermost. size is the
// input tile a (4 or 6) or the output tile m (2 or 4). It reads up to kGatherSlack floats past the
// end of a window's last row, which the planes must hold.
using GatherWindows = void (*)(const float* const* src, int64_t ld, float* d);
GatherWindows gather_windows(int size);
constexpr int64_t kGatherSlack = 4;

}  // namespace lb::cpu::detail
