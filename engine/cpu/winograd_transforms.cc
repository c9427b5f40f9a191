// cpu/winograd_transforms.cc: the transforms of the Winograd convolution (see
// cpu/winograd_transforms.h for their shapes, cpu/winograd.h for the method): the matrices of
// Lavin and Gray (2016), the same matrices written out as formulas over kLanes tiles, and the SSE
// gather that lays the tiles out for them.
#include "engine/cpu/winograd_transforms.h"

#include <xmmintrin.h>

namespace lb::cpu {

namespace {

using detail::kLanes;

// ---- the transform matrices (Lavin and Gray 2016) ----------------------------------------------

// F(2x2, 3x3): 4x4 input tiles.
constexpr float kBT2[4 * 4] = {1, 0,  -1, 0,  //
                               0, 1,  1,  0,  //
                               0, -1, 1,  0,  //
                               0, 1,  0,  -1};
constexpr float kG2[4 * 3] = {1,    0,     0,     //
                              0.5f, 0.5f,  0.5f,  //
                              0.5f, -0.5f, 0.5f,  //
                              0,    0,     1};
constexpr float kAT2[2 * 4] = {1, 1, 1,  0,  //
                               0, 1, -1, -1};

// F(4x4, 3x3): 6x6 input tiles, interpolation points 0, +-1, +-2 and infinity.
constexpr float kBT4[6 * 6] = {4, 0,  -5, 0,  1, 0,  //
                               0, -4, -4, 1,  1, 0,  //
                               0, 4,  -4, -1, 1, 0,  //
                               0, -2, -1, 2,  1, 0,  //
                               0, 2,  -1, -2, 1, 0,  //
                               0, 4,  0,  -5, 0, 1};
constexpr float kG4[6 * 3] = {1.0f / 4,  0,          0,          //
                              -1.0f / 6, -1.0f / 6,  -1.0f / 6,  //
                              -1.0f / 6, 1.0f / 6,   -1.0f / 6,  //
                              1.0f / 24, 1.0f / 12,  1.0f / 6,   //
                              1.0f / 24, -1.0f / 12, 1.0f / 6,   //
                              0,         0,          1};
constexpr float kAT4[4 * 6] = {1, 1, 1,  1, 1,  0,  //
                               0, 1, -1, 2, -2, 0,  //
                               0, 1, 1,  4, 4,  0,  //
                               0, 1, -1, 8, -8, 1};

// ---- the transforms as formulas --------------------------------------------------------------
//
// Each matrix above, applied to one column (or row) of a tile, is written out below as formulas
// that share their common subexpressions (as Lavin and Gray write out F(2, 3)).
// A 1-D transform reads its inputs at in + k*is and writes its outputs at out + i*os, each a run
// of kLanes floats: kLanes tiles at once, so every statement is a vector operation. The runs of
// one call never overlap, which `omp simd` tells the compiler (it cannot prove it from the strides).

// F(2x2, 3x3) -------------------------------------------------------------------------------------

// B^T (4x4) d: the input tile's column (or row).
void input_1d_f2(const float* in, int64_t is, float* out, int64_t os) {
#pragma omp simd
  for (int l = 0; l < kLanes; ++l) {
    const float d0 = in[l], d1 = in[is + l], d2 = in[2 * is + l], d3 = in[3 * is + l];
    out[l] = d0 - d2;
    out[os + l] = d1 + d2;
    out[2 * os + l] = d2 - d1;
    out[3 * os + l] = d1 - d3;
  }
}

// G (4x3) g: the filter's column (or row).
void filter_1d_f2(const float* in, int64_t is, float* out, int64_t os) {
#pragma omp simd
  for (int l = 0; l < kLanes; ++l) {
    const float g0 = in[l], g1 = in[is + l], g2 = in[2 * is + l], s = g0 + g2;
    out[l] = g0;
    out[os + l] = (s + g1) * 0.5f;
    out[2 * os + l] = (s - g1) * 0.5f;
    out[3 * os + l] = g2;
  }
}

// A^T (2x4) m: the product tile's column (or row) to 2 outputs.
void output_1d_f2(const float* in, int64_t is, float* out, int64_t os) {
#pragma omp simd
  for (int l = 0; l < kLanes; ++l) {
    const float m0 = in[l], m1 = in[is + l], m2 = in[2 * is + l], m3 = in[3 * is + l];
    out[l] = m0 + m1 + m2;
    out[os + l] = m1 - m2 - m3;
  }
}

// A (4x2) e: the adjoint of output_1d_f2, 2 output gradients to the product tile's 4.
void grad_output_1d_f2(const float* in, int64_t is, float* out, int64_t os) {
#pragma omp simd
  for (int l = 0; l < kLanes; ++l) {
    const float e0 = in[l], e1 = in[is + l];
    out[l] = e0;
    out[os + l] = e0 + e1;
    out[2 * os + l] = e0 - e1;
    out[3 * os + l] = -e1;
  }
}

// G^T (3x4) u: the adjoint of filter_1d_f2.
void filter_grad_1d_f2(const float* in, int64_t is, float* out, int64_t os) {
#pragma omp simd
  for (int l = 0; l < kLanes; ++l) {
    const float u0 = in[l], u1 = in[is + l], u2 = in[2 * is + l], u3 = in[3 * is + l];
    const float h = (u1 + u2) * 0.5f;
    out[l] = u0 + h;
    out[os + l] = (u1 - u2) * 0.5f;
    out[2 * os + l] = h + u3;
  }
}

// F(4x4, 3x3) -------------------------------------------------------------------------------------

// B^T (6x6) d.
void input_1d_f4(const float* in, int64_t is, float* out, int64_t os) {
#pragma omp simd
  for (int l = 0; l < kLanes; ++l) {
    const float d0 = in[l], d1 = in[is + l], d2 = in[2 * is + l], d3 = in[3 * is + l], d4 = in[4 * is + l],
                d5 = in[5 * is + l];
    const float a = d4 - 4.0f * d2, b = d3 - 4.0f * d1;  // rows 1, 2: a -+ b
    const float c = d4 - d2, e = 2.0f * (d3 - d1);       // rows 3, 4: c +- e
    out[l] = 4.0f * d0 - 5.0f * d2 + d4;
    out[os + l] = a + b;
    out[2 * os + l] = a - b;
    out[3 * os + l] = c + e;
    out[4 * os + l] = c - e;
    out[5 * os + l] = 4.0f * d1 - 5.0f * d3 + d5;
  }
}

// G (6x3) g.
void filter_1d_f4(const float* in, int64_t is, float* out, int64_t os) {
#pragma omp simd
  for (int l = 0; l < kLanes; ++l) {
    const float g0 = in[l], g1 = in[is + l], g2 = in[2 * is + l], s = g0 + g2;
    const float p = g0 * (1.0f / 24) + g2 * (1.0f / 6), q = g1 * (1.0f / 12);
    out[l] = g0 * 0.25f;
    out[os + l] = -(s + g1) * (1.0f / 6);
    out[2 * os + l] = -(s - g1) * (1.0f / 6);
    out[3 * os + l] = p + q;
    out[4 * os + l] = p - q;
    out[5 * os + l] = g2;
  }
}

// A^T (4x6) m.
void output_1d_f4(const float* in, int64_t is, float* out, int64_t os) {
#pragma omp simd
  for (int l = 0; l < kLanes; ++l) {
    const float m0 = in[l], m1 = in[is + l], m2 = in[2 * is + l], m3 = in[3 * is + l], m4 = in[4 * is + l],
                m5 = in[5 * is + l];
    const float a12 = m1 + m2, s12 = m1 - m2, a34 = m3 + m4, s34 = m3 - m4;
    out[l] = m0 + a12 + a34;
    out[os + l] = s12 + 2.0f * s34;
    out[2 * os + l] = a12 + 4.0f * a34;
    out[3 * os + l] = s12 + 8.0f * s34 + m5;
  }
}

// A (6x4) e: the adjoint of output_1d_f4.
void grad_output_1d_f4(const float* in, int64_t is, float* out, int64_t os) {
#pragma omp simd
  for (int l = 0; l < kLanes; ++l) {
    const float e0 = in[l], e1 = in[is + l], e2 = in[2 * is + l], e3 = in[3 * is + l];
    const float p = e0 + e2, q = e1 + e3, r = e0 + 4.0f * e2, s = 2.0f * e1 + 8.0f * e3;
    out[l] = e0;
    out[os + l] = p + q;
    out[2 * os + l] = p - q;
    out[3 * os + l] = r + s;
    out[4 * os + l] = r - s;
    out[5 * os + l] = e3;
  }
}

// G^T (3x6) u: the adjoint of filter_1d_f4.
void filter_grad_1d_f4(const float* in, int64_t is, float* out, int64_t os) {
#pragma omp simd
  for (int l = 0; l < kLanes; ++l) {
    const float u0 = in[l], u1 = in[is + l], u2 = in[2 * is + l], u3 = in[3 * is + l], u4 = in[4 * is + l],
                u5 = in[5 * is + l];
    const float a12 = u1 + u2, a34 = u3 + u4;
    out[l] = u0 * 0.25f - a12 * (1.0f / 6) + a34 * (1.0f / 24);
    out[os + l] = (u2 - u1) * (1.0f / 6) + (u3 - u4) * (1.0f / 12);
    out[2 * os + l] = (a34 - a12) * (1.0f / 6) + u5;
  }
}

// The 2-D transform X -> T X T^T of a k x k tile into an r x r one, for kLanes tiles: the 1-D
// transform t (T: r x k) on every column, then on every row. Element (i, j) of the input is the
// lane run at in + (i*k + j)*is, of the output at out + (i*r + j)*os.
using Transform1d = void (*)(const float* in, int64_t is, float* out, int64_t os);

template <Transform1d t, int k, int r>
void transform_2d(const float* in, int64_t is, float* out, int64_t os) {
  float tmp[r * k * kLanes];  // tmp: (r, k, kLanes) = T X
  for (int j = 0; j < k; ++j) t(in + j * is, k * is, tmp + j * kLanes, k * kLanes);
  for (int i = 0; i < r; ++i) t(tmp + i * k * kLanes, kLanes, out + i * r * os, os);
}

// The five transforms of each tile size (see winograd_transforms.h):
//   input        d (a, a)  -> B^T d B      (a, a)
//   filter       g (3, 3)  -> G g G^T      (a, a)
//   output       M (a, a)  -> A^T M A      (m, m)
//   grad_output  dy (m, m) -> A dy A^T     (a, a)
//   filter_grad  dU (a, a) -> G^T dU G     (3, 3)
const detail::WinogradTransform kF2 = {2,
                                       4,
                                       16,
                                       transform_2d<input_1d_f2, 4, 4>,
                                       transform_2d<filter_1d_f2, 3, 4>,
                                       transform_2d<output_1d_f2, 4, 2>,
                                       transform_2d<grad_output_1d_f2, 2, 4>,
                                       transform_2d<filter_grad_1d_f2, 4, 3>};
const detail::WinogradTransform kF4 = {4,
                                       6,
                                       36,
                                       transform_2d<input_1d_f4, 6, 6>,
                                       transform_2d<filter_1d_f4, 3, 6>,
                                       transform_2d<output_1d_f4, 6, 4>,
                                       transform_2d<grad_output_1d_f4, 4, 6>,
                                       transform_2d<filter_grad_1d_f4, 6, 3>};

// d (size, size, kLanes): lane l holds the size x size window whose top-left corner is src[l], in
// planes with rows ld apart. The transpose is done 4 lanes x 4 columns at a time with SSE's 4x4
// transpose (SSE is part of every x86-64 CPU): a row of a window is one 4-float load, where a
// scalar copy spent a load and a store per float (measured: the gather went from 19% to 7% of the
// forward's time). A row of 6 is read as 4 + 4 floats and a row of 2 as 4 floats, the extra 2
// dropped: kGatherSlack.
template <int size>
void gather_windows_sse(const float* const* src, int64_t ld, float* d) {
  for (int l = 0; l < kLanes; l += 4)
    for (int i = 0; i < size; ++i)
      for (int j = 0; j < size; j += 4) {
        const int64_t at = i * ld + j;
        __m128 r0 = _mm_loadu_ps(src[l] + at), r1 = _mm_loadu_ps(src[l + 1] + at);
        __m128 r2 = _mm_loadu_ps(src[l + 2] + at), r3 = _mm_loadu_ps(src[l + 3] + at);
        _MM_TRANSPOSE4_PS(r0, r1, r2, r3);  // r_c: column j + c of the 4 lanes
        float* out = d + (i * size + j) * kLanes + l;
        _mm_storeu_ps(out, r0);
        _mm_storeu_ps(out + kLanes, r1);
        if (j + 2 < size) {
          _mm_storeu_ps(out + 2 * kLanes, r2);
          _mm_storeu_ps(out + 3 * kLanes, r3);
        }
      }
}

}  // namespace

namespace detail {

const WinogradTransform& winograd_transform(WinogradTile t) { return t == WinogradTile::F4x4 ? kF4 : kF2; }

GatherWindows gather_windows(int size) {
  return size == 6 ? gather_windows_sse<6> : size == 4 ? gather_windows_sse<4> : gather_windows_sse<2>;
}

}  // namespace detail

WinogradMatrices winograd_matrices(WinogradTile t) {
  if (t == WinogradTile::F4x4) return {4, 6, kBT4, kG4, kAT4};
  return {2, 4, kBT2, kG2, kAT2};
}

}  // namespace lb::cpu
