// cpu/winograd.h: Winograd convolution on the CPU for the 3x3, stride-1, pad-1 convolutions of
// ResNet's residual blocks, float32, forward and both backward directions. A standalone path the
// conv dispatch (engine/cpu/conv2d.cc) can route a shape to where it measures faster than
// im2col + GEMM; it shares the conv's argument struct and semantics (PyTorch's cross-correlation).
//
// Shapes, defined once for this file and winograd.cc:
//   x  (N, C, H, W)    weight (K, C, 3, 3)    bias (K)    y (N, K, P, Q), P = H, Q = W
//   F(m x m, 3 x 3): an output tile of m x m pixels is computed from an input tile of a x a pixels,
//   a = m + 2 (the tiles overlap by 2); T = a*a transformed positions ("xi") per tile.
//   Tiles per image: ceil(P/m) * ceil(Q/m); "tiles" below counts them over a run of images.
//
// Method: Lavin and Gray, "Fast Algorithms for Convolutional Neural Networks" (CVPR 2016), from
// Winograd's minimal filtering algorithms (Winograd, "Arithmetic Complexity of Computations", 1980).
// With the tile's input d (a x a) and the filter g (3 x 3):
//   y = A^T [ (G g G^T) (.) (B^T d B) ] A              (.) the elementwise product
// Summed over input channels, the elementwise products become one matrix product per position xi:
//   U_xi (K, C)     = (G g_kc G^T)[xi]        the transformed filters, once per call
//   V_xi (C, tiles) = (B^T d_c,t B)[xi]       the transformed input tiles
//   M_xi (K, tiles) = U_xi x V_xi             T independent GEMMs (engine/cpu/gemm.h)
//   y_k,t           = A^T M_k,t A             the output transform, cropped at P, Q
// F(2x2, 3x3) spends 16 multiplies per 4 outputs where the direct method spends 36 (2.25x fewer);
// F(4x4, 3x3) spends 36 per 16 outputs, 144 direct (4x fewer). The price is the transforms, and
// accuracy: F(4x4)'s matrices hold coefficients up to 8 (A), 5 (B) and 1/24 (G), so its float32
// error is about an order of magnitude above F(2x2)'s (measured in tests/engine/test_winograd.cc).
//
// The two backward directions, both derived from the forward:
//   backward input   dx = the forward convolution of dy with the weight transposed to (C, K) and
//                    rotated by 180 degrees, still 3x3 stride 1 pad 1: the same code.
//   backward weight  the adjoint of the forward's map from the filters: dM_k,t = A dy_k,t A^T (the
//                    transpose of the output transform), dU_xi (K, C) = sum over tiles of
//                    dM_xi x V_xi^T, and dW_kc = G^T dU_kc G.
//
// Threads: OpenMP splits the tiles of the batch into fixed chunks of 64 (engine/cpu/winograd.cc);
// each thread transforms its chunks and runs their T GEMMs single-threaded. The weight gradient
// sums per-thread partials in thread order, so it is deterministic for a given thread count.
// Every function overwrites its output (dx, dw are not accumulated into).
//
// Where it pays (measured against main's padding-free implicit-GEMM conv, table in
// engine/cpu/winograd.cc): F(4x4) for the forward and backward input on maps of 4x4 and larger
// (0.36-0.8x the direct path's time), and for the weight gradient from 128 channels up (0.5-0.7x;
// at 64 channels it is 1.0-1.2x). F(2x2) is slower than F(4x4) everywhere, but its rounding error
// is 5-10x smaller. Never on 2x2 and 1x1 maps, where the direct path multiplies only the taps that
// read the image (4 and 1 of 9) and Winograd is 1.3-50x slower.
#pragma once

#include "engine/cpu/conv2d.h"

namespace lb::cpu {

// The output tile: F(2x2, 3x3) (4x4 input tiles, 16 GEMMs) or F(4x4, 3x3) (6x6 tiles, 36 GEMMs).
enum class WinogradTile { F2x2, F4x4 };
const char* winograd_tile_name(WinogradTile t);  // "F(2x2,3x3)", "F(4x4,3x3)"

// Whether a convolution can run here: 3x3 filter, stride 1, pad 1, P == H, Q == W, and not bf16
// mode (MathMode::Bf16 rounds the direct GEMM's operands to bfloat16; Winograd's operands are the
// transformed tiles, so it could not reproduce that rounding). Says nothing about speed.
bool winograd_supported(const Conv2dArgs& a);

// y = conv(x, W) + b. bias may be null. All three throw lb::Error when !winograd_supported(a).
void winograd_conv2d_forward(const Conv2dArgs& a, const float* x, const float* w, const float* bias, float* y,
                             WinogradTile tile = WinogradTile::F2x2);

// dx (N, C, H, W) = d(loss)/dx given dy (N, K, P, Q).
void winograd_conv2d_backward_input(const Conv2dArgs& a, const float* dy, const float* w, float* dx,
                                    WinogradTile tile = WinogradTile::F2x2);

// dw (K, C, 3, 3) = d(loss)/dW given x and dy; deterministic for a given thread count.
void winograd_conv2d_backward_weight(const Conv2dArgs& a, const float* x, const float* dy, float* dw,
                                     WinogradTile tile = WinogradTile::F2x2);

// The transform matrices B^T (a, a), G (a, 3) and A^T (m, a), row-major, for the docs and the
// tests' error bounds (the transforms themselves run them written out as formulas,
// engine/cpu/winograd_transforms.cc).
struct WinogradMatrices {
  int m, a;
  const float *BT, *G, *AT;
};
WinogradMatrices winograd_matrices(WinogradTile t);

}  // namespace lb::cpu
