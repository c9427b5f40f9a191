// cpu/winograd.cc: Winograd convolution F(2x2, 3x3) and F(4x4, 3x3) on the CPU: the tiling of the
// batch, the GEMMs and the three directions (cpu/winograd.h has the shapes and the method, Lavin
// and Gray 2016; cpu/winograd_transforms.cc the small per-tile transforms).
//
// Work is cut into chunks of `width` consecutive tiles of the batch (tile t of image n is number
// n*tiles_per_image + t; a chunk may span several images, which is what keeps the GEMMs wide on
// the 7x7 and 4x4 maps of a 28x28 input). For one chunk of the forward:
//   copy one channel of the chunk's images into zero-padded planes, so no window needs a bounds
//   check; gather kLanes tiles' windows at a time and transform them straight into
//   V  (T, C, width)  V[xi] is the B operand of GEMM xi, (C, width)
//   M  (T, K, width)  M[xi] = U[xi] (K, C) x V[xi], then the output transform writes y.
// V and M of a 64-tile chunk stay in the L2 cache between the transforms and the GEMMs.
// The weight gradient runs the same loop with dM (T, K, width), the transformed dy, in place of M,
// and sums dM[xi] x V[xi]^T over the chunks.
//
// Measured against the direct path of main at 1543b04 (cpu::conv2d_*: implicit GEMM on our own
// GEMM, output positions split into classes so no multiply-add reads padding), batch 128, C = K:
// time ratio Winograd / direct, one thread, minimum process CPU time, both timed alternately in
// one run on a 2-core Emerald Rapids Xeon (AVX-512 GEMM) shared with other builds (two-thread
// wall-clock medians agreed within their larger noise):
//                                  forward        backward input   backward weight
//   map     channels  (ResNet18)   F(2x2) F(4x4)  F(2x2) F(4x4)    F(2x2) F(4x4)
//   1x1     512       28: layer4   15     52      16     54        10     34
//   2x2     256       28: layer3   1.5    3.5     1.6    3.4       1.3    2.8
//   4x4     128       28: layer2   0.89   0.74    1.03   0.77      0.95   0.69
//   7x7     64        28: layer1   1.10   0.79    1.21   0.82      1.72   1.20
//   7x7     512       224: layer4  0.74   0.72    0.76   0.67      0.82   0.61
//   14x14   256       224: layer3  0.51   0.40    0.50   0.39      0.68   0.52
//   28x28   128       224: layer2  0.61   0.36    0.62   0.38      1.00   0.56
//   56x56   64        224: layer1  0.98   0.56    1.00   0.56      1.70   0.97
// (Against the older im2col + GEMM path, which also multiplied padding, the 28x28-input ratios
// were 2-4x lower: F(4x4) 0.31-0.45 at 7x7 and 4x4, F(2x2) 0.40 at 2x2.) The direct path skips padding, so 1x1 maps
// (one live tap of nine) and 2x2 maps (four of nine per output) leave Winograd nothing to gain.
// The weight gradient gains least, and loses at 64 channels: its GEMM operands change with every
// chunk, so both are repacked each time (PackedA, PackB), a cost that shrinks against the GEMM's
// as 1/C.
#include "engine/cpu/winograd.h"

#include <omp.h>
#include <xmmintrin.h>

#include <algorithm>
#include <memory>
#include <vector>

#include "base/common.h"
#include "engine/cpu/gemm.h"
#include "engine/cpu/winograd_transforms.h"

namespace lb::cpu {

namespace {

using detail::GatherWindows;
using detail::kLanes;
using detail::kMaxOut;
using detail::kMaxT;
using Transform = detail::WinogradTransform;

int64_t round_up(int64_t v, int64_t m) { return (v + m - 1) / m * m; }

// A per-thread buffer, left uninitialised: every element is written before it is read.
std::unique_ptr<float[]> scratch(int64_t n) { return std::unique_ptr<float[]>(new float[std::max<int64_t>(n, 1)]); }

// dst[0, n) = src[0, n). The copies here are short (a row of a 2x2 to 56x56 map, a panel row of
// the GEMM's B, a run of kLanes), where a call to memcpy costs more than the copy: 4 floats per
// SSE move, then the rest one by one.
void copy_floats(const float* src, int64_t n, float* dst) {
  int64_t i = 0;
  for (; i + 4 <= n; i += 4) _mm_storeu_ps(dst + i, _mm_loadu_ps(src + i));
  for (; i < n; ++i) dst[i] = src[i];
}

// ---- tiles and chunks ---------------------------------------------------------------------------

// How the batch is tiled.
struct Geometry {
  int64_t th, tw;     // tiles down and across one image: ceil(P/m), ceil(Q/m)
  int64_t per_image;  // th * tw
  int64_t tiles;      // N * per_image
};

Geometry geometry(const Conv2dArgs& a, const Transform& tf) {
  Geometry g;
  g.th = (a.P + tf.m - 1) / tf.m;
  g.tw = (a.Q + tf.m - 1) / tf.m;
  g.per_image = g.th * g.tw;
  g.tiles = a.N * g.per_image;
  return g;
}

// Where one lane's tile lies: image n, top-left output pixel (p0, q0). Empty lanes (past the last
// tile of a chunk) read a block of zeros.
struct TileAt {
  int64_t n = 0, p0 = 0, q0 = 0;
  bool valid = false;
};

// tiles (width): the tiles [t0, t0 + count) of the batch, then empty lanes up to width.
void locate_tiles(const Geometry& g, int m, int64_t t0, int64_t count, int64_t width, TileAt* tiles) {
  for (int64_t j = 0; j < width; ++j) {
    TileAt& at = tiles[j];
    at = TileAt{};
    if (j >= count) continue;
    const int64_t t = t0 + j, in_image = t % g.per_image;
    at.n = t / g.per_image;
    at.p0 = in_image / g.tw * m;
    at.q0 = in_image % g.tw * m;
    at.valid = true;
  }
}

// One channel of the images a chunk's tiles lie in, copied into zero-padded planes so that every
// tile's window lies inside them and can be read without bounds checks:
//   planes (images, hp, wp), pixel (h, w) of image n_lo + i at [(i*hp + h + off)*wp + w + off],
//   then hp*wp zeros that the empty lanes read.
// For the input x: off = 1 (the conv's padding) and hp = th*m + 2, wp = tw*m + 2 hold the a x a
// windows. For dy: off = 0 and hp = th*m, wp = tw*m hold the m x m tiles, zero past P, Q.
// Only the image pixels are ever written, so the borders stay zero from the allocation on.
struct Padded {
  int64_t hp = 0, wp = 0, off = 0, images = 0, n_lo = 0;
  std::vector<float> planes;  // (images + 1, hp, wp)

  Padded(const Geometry& g, int m, int64_t off_, int64_t width, int64_t N) : off(off_) {
    hp = g.th * m + 2 * off;
    wp = g.tw * m + 2 * off;
    // A run of width tiles touches at most ceil(width / per_image) + 1 images.
    images = std::min<int64_t>((width + g.per_image - 1) / g.per_image + 1, std::max<int64_t>(N, 1));
    planes.assign((images + 1) * hp * wp + detail::kGatherSlack, 0.0f);
  }
  // Copies channel c of images [n_lo, n_lo + count) of src (N, Ctot, H, W).
  void fill(const float* src, int64_t Ctot, int64_t c, int64_t H, int64_t W, int64_t n0, int64_t count) {
    n_lo = n0;
    for (int64_t i = 0; i < count; ++i)
      for (int64_t h = 0; h < H; ++h)
        copy_floats(src + (((n0 + i) * Ctot + c) * H + h) * W, W, planes.data() + (i * hp + h + off) * wp + off);
  }
  // The window of a tile: its top-left corner in the planes (the zero block for an empty lane).
  const float* window(const TileAt& t) const {
    if (!t.valid) return planes.data() + images * hp * wp;
    return planes.data() + ((t.n - n_lo) * hp + t.p0) * wp + t.q0;
  }
};

// The images [n_lo, n_hi] that the chunk's valid tiles lie in.
void chunk_images(const TileAt* tiles, int64_t count, int64_t* n_lo, int64_t* images) {
  *n_lo = count > 0 ? tiles[0].n : 0;
  *images = count > 0 ? tiles[count - 1].n - *n_lo + 1 : 0;
}

// Chunks of tiles per GEMM round, and the threads that share them.
struct Plan {
  int64_t width = kLanes;  // tiles per chunk, a multiple of kLanes
  int64_t chunks = 0;
  int threads = 1;
};

// Tiles per chunk, a multiple of every micro-kernel's NR (8, 16, 32) so the GEMMs run whole
// panels. Measured on ResNet18's shapes (one thread, CPU time, widths 32 to 256): 64 was within 5%
// of the best everywhere; wider chunks push V and M out of the L1 and L2 caches between the
// transforms and the GEMMs.
constexpr int64_t kWidth = 64;
// The weight gradient's GEMMs add into all of dU (T, K, C) once per chunk, so on wide layers the
// chunk grows with K*C to keep that traffic small against the flops: 64 tiles up to 256 x 256
// channels, 256 at 512 x 512 (measured 1.2-1.4x faster there than 64; no difference below).
int64_t weight_grad_width(const Conv2dArgs& a) { return std::clamp<int64_t>(a.K * a.C / 1024, kWidth, 256) / 32 * 32; }
// Below this many multiply-adds (of the direct method) one core finishes before a team of threads
// would have started (the same threshold as engine/cpu/conv2d.cc).
constexpr int64_t kParallelMacs = int64_t(1) << 20;

Plan make_plan(const Conv2dArgs& a, const Geometry& g, int64_t width) {
  const int64_t macs = a.N * a.K * a.P * a.Q * a.C * 9;
  const int64_t max_threads = macs < kParallelMacs ? 1 : omp_get_max_threads();
  // Every thread gets a chunk before any chunk grows past an even share of the tiles.
  width = std::min(width, (g.tiles + max_threads - 1) / max_threads);
  Plan plan;
  plan.width = round_up(std::max<int64_t>(width, 1), kLanes);
  plan.chunks = (g.tiles + plan.width - 1) / plan.width;
  plan.threads = static_cast<int>(std::clamp<int64_t>(plan.chunks, 1, max_threads));
  return plan;
}

// ---- the transforms of a chunk --------------------------------------------------------------

// V (T, C, width): V[xi][c][j] = (B^T d B)[xi] for the chunk's tiles j < cols in channel c of
// x (N, C, H, W); lanes past count hold zero tiles.
void transform_input(const Conv2dArgs& a, const Transform& tf, const float* x, const TileAt* tiles, int64_t count,
                     int64_t cols, int64_t width, Padded& pad, float* V) {
  const GatherWindows gather = detail::gather_windows(tf.a);
  int64_t n_lo, images;
  chunk_images(tiles, count, &n_lo, &images);
  float d[kMaxT * kLanes];  // d: (a, a, kLanes)
  const float* src[kLanes];
  for (int64_t c = 0; c < a.C; ++c) {
    pad.fill(x, a.C, c, a.H, a.W, n_lo, images);
    for (int64_t j0 = 0; j0 < cols; j0 += kLanes) {
      for (int l = 0; l < kLanes; ++l) src[l] = pad.window(tiles[j0 + l]);
      gather(src, pad.wp, d);
      tf.input(d, kLanes, V + c * width + j0, a.C * width);
    }
  }
}

// y (N, K, P, Q) at the chunk's tiles: y_k,t = A^T M_k,t A (+ bias[k]), cropped at P, Q.
// M: (T, K, width).
void transform_output(const Conv2dArgs& a, const Transform& tf, const float* M, const TileAt* tiles, int64_t cols,
                      int64_t width, const float* bias, float* y) {
  float out[kMaxOut * kLanes];  // out: (m, m, kLanes)
  const int m = tf.m;
  for (int64_t k = 0; k < a.K; ++k)
    for (int64_t j0 = 0; j0 < cols; j0 += kLanes) {
      tf.output(M + k * width + j0, a.K * width, out, kLanes);
      const float b = bias ? bias[k] : 0.0f;
      for (int l = 0; l < kLanes && tiles[j0 + l].valid; ++l) {
        const TileAt& t = tiles[j0 + l];
        float* yk = y + ((t.n * a.K + k) * a.P + t.p0) * a.Q + t.q0;  // yk: the tile's corner in (P, Q)
        const int64_t rows = std::min<int64_t>(m, a.P - t.p0), cols_in = std::min<int64_t>(m, a.Q - t.q0);
        if (rows == m && cols_in == m) {  // a whole tile: fixed trip counts, unrolled
          for (int i = 0; i < m; ++i)
            for (int j = 0; j < m; ++j) yk[i * a.Q + j] = out[(i * m + j) * kLanes + l] + b;
          continue;
        }
        for (int64_t i = 0; i < rows; ++i)
          for (int64_t j = 0; j < cols_in; ++j) yk[i * a.Q + j] = out[(i * m + j) * kLanes + l] + b;
      }
    }
}

// dM (T, K, width): dM[xi][k][j] = (A dy_k,j A^T)[xi], the adjoint of the output transform, for
// the chunk's tiles j < cols; dy (N, K, P, Q) reads as zero past P, Q (outputs the forward dropped).
void transform_grad_output(const Conv2dArgs& a, const Transform& tf, const float* dy, const TileAt* tiles,
                           int64_t count, int64_t cols, int64_t width, Padded& pad, float* dM) {
  const GatherWindows gather = detail::gather_windows(tf.m);
  int64_t n_lo, images;
  chunk_images(tiles, count, &n_lo, &images);
  float g[kMaxOut * kLanes];  // g: (m, m, kLanes)
  const float* src[kLanes];
  for (int64_t k = 0; k < a.K; ++k) {
    pad.fill(dy, a.K, k, a.P, a.Q, n_lo, images);
    for (int64_t j0 = 0; j0 < cols; j0 += kLanes) {
      for (int l = 0; l < kLanes; ++l) src[l] = pad.window(tiles[j0 + l]);
      gather(src, pad.wp, g);
      tf.grad_output(g, kLanes, dM + k * width + j0, a.K * width);
    }
  }
}

// U (T, K, C): U[xi][k][c] = (G g_kc G^T)[xi] for the filters w (K, C, 3, 3), kLanes (k, c) pairs
// at a time.
std::vector<float> transform_filters(const Conv2dArgs& a, const Transform& tf, const float* w) {
  const int64_t pairs = a.K * a.C;
  std::vector<float> U(tf.T * pairs);
#pragma omp parallel for schedule(static) if (pairs > 4096)
  for (int64_t p0 = 0; p0 < pairs; p0 += kLanes) {
    float g[9 * kLanes], u[kMaxT * kLanes];  // (3, 3, kLanes), (a, a, kLanes)
    const int64_t n = std::min<int64_t>(kLanes, pairs - p0);
    std::fill(g, g + 9 * kLanes, 0.0f);
    for (int l = 0; l < n; ++l)
      for (int rs = 0; rs < 9; ++rs) g[rs * kLanes + l] = w[(p0 + l) * 9 + rs];
    tf.filter(g, kLanes, u, kLanes);
    for (int xi = 0; xi < tf.T; ++xi) copy_floats(u + xi * kLanes, n, U.data() + xi * pairs + p0);
  }
  return U;
}

// dw (K, C, 3, 3): dw_kc = G^T dU_kc G, the adjoint of transform_filters. dU: (T, K, C).
void transform_filter_grads(const Conv2dArgs& a, const Transform& tf, const float* dU, float* dw) {
  const int64_t pairs = a.K * a.C;
#pragma omp parallel for schedule(static) if (pairs > 4096)
  for (int64_t p0 = 0; p0 < pairs; p0 += kLanes) {
    float u[kMaxT * kLanes], g[9 * kLanes];  // (a, a, kLanes), (3, 3, kLanes)
    const int64_t n = std::min<int64_t>(kLanes, pairs - p0);
    std::fill(u, u + tf.T * kLanes, 0.0f);
    for (int xi = 0; xi < tf.T; ++xi) copy_floats(dU + xi * pairs + p0, n, u + xi * kLanes);
    tf.filter_grad(u, kLanes, g, kLanes);
    for (int l = 0; l < n; ++l)
      for (int rs = 0; rs < 9; ++rs) dw[(p0 + l) * 9 + rs] = g[rs * kLanes + l];
  }
}

// U[xi] (K, C) packed once for the GEMMs: every chunk of every thread reuses it.
std::vector<PackedA> pack_filters(const Conv2dArgs& a, const Transform& tf, const float* w) {
  const std::vector<float> U = transform_filters(a, tf, w);  // U: (T, K, C)
  std::vector<PackedA> packed(tf.T);
#pragma omp parallel for schedule(static) if (a.K * a.C > 4096)
  for (int xi = 0; xi < tf.T; ++xi) packed[xi] = PackedA(row_major(U.data() + xi * a.K * a.C, a.C), a.K, a.C);
  return packed;
}

void check_supported(const Conv2dArgs& a, const char* fn) {
  LB_CHECK(winograd_supported(a), fn << ": needs a float32 3x3 convolution with stride 1 and pad 1 (P = H, Q = W), got "
                                     << "x (" << a.N << ", " << a.C << ", " << a.H << ", " << a.W << "), w (" << a.K
                                     << ", " << a.C << ", " << a.R << ", " << a.S << "), stride " << a.stride
                                     << ", pad " << a.pad << ", y (" << a.P << ", " << a.Q << ")"
                                     << (a.bf16 ? ", bf16 mode" : ""));
}

// ---- the GEMMs' B operands ---------------------------------------------------------------------

// The packer of B = v (rows, ld) row-major for the GEMM (gemm.h's PackB): pack_b_view's, with
// copy_floats for its memcpy of each NR-float panel row. Columns past nc are zero-filled.
PackB pack_rows(const float* v, int64_t ld) {
  return [v, ld](int64_t k0, int64_t kc, int64_t j0, int64_t nc, int nr, float* dst) {
    for (int64_t jp = 0; jp < nc; jp += nr, dst += kc * nr) {
      const int64_t w = std::min<int64_t>(nr, nc - jp);  // columns of this panel inside B
      for (int64_t k = 0; k < kc; ++k) {
        float* row = dst + k * nr;  // row: (NR)
        copy_floats(v + (k0 + k) * ld + j0 + jp, w, row);
        std::fill(row + w, row + nr, 0.0f);
      }
    }
  };
}

// The packer of B = v^T for the GEMM (gemm.h's PackB), v (C, ld) row-major: B (tiles, C) has
// element (k, j) at v[j*ld + k]. pack_b_view would copy it one strided float at a time; this
// transposes 4 x 4 blocks with SSE (k0 and kc are multiples of 4 here: the GEMM's depth is a
// multiple of kLanes and its K blocks multiples of 8). Columns past C are zero-filled.
PackB pack_transposed(const float* v, int64_t ld) {
  return [v, ld](int64_t k0, int64_t kc, int64_t j0, int64_t nc, int nr, float* dst) {
    for (int64_t jp = 0; jp < nc; jp += nr, dst += kc * nr) {
      const int64_t w = std::min<int64_t>(nr, nc - jp);  // columns of this panel inside B
      for (int64_t k = 0; k < kc; k += 4) {
        float* row = dst + k * nr;  // row: 4 rows of (NR)
        int64_t jj = 0;
        for (; jj + 4 <= w; jj += 4) {
          const float* src = v + (j0 + jp + jj) * ld + k0 + k;  // 4 channels x 4 tiles
          __m128 r0 = _mm_loadu_ps(src), r1 = _mm_loadu_ps(src + ld);
          __m128 r2 = _mm_loadu_ps(src + 2 * ld), r3 = _mm_loadu_ps(src + 3 * ld);
          _MM_TRANSPOSE4_PS(r0, r1, r2, r3);  // r_i: tile k + i of the 4 channels
          _mm_storeu_ps(row + jj, r0);
          _mm_storeu_ps(row + nr + jj, r1);
          _mm_storeu_ps(row + 2 * nr + jj, r2);
          _mm_storeu_ps(row + 3 * nr + jj, r3);
        }
        for (int i = 0; i < 4; ++i)
          for (int64_t j = jj; j < nr; ++j) row[i * nr + j] = j < w ? v[(j0 + jp + j) * ld + k0 + k + i] : 0.0f;
      }
    }
  };
}

// ---- the three directions -----------------------------------------------------------------------

void forward(const Conv2dArgs& a, const Transform& tf, const float* x, const float* w, const float* bias, float* y) {
  const Geometry g = geometry(a, tf);
  const Plan plan = make_plan(a, g, kWidth);
  const std::vector<PackedA> U = pack_filters(a, tf, w);  // T of (K, C)
#pragma omp parallel num_threads(plan.threads)
  {
    auto V = scratch(tf.T * a.C * plan.width);  // V: (T, C, width)
    auto M = scratch(tf.T * a.K * plan.width);  // M: (T, K, width)
    std::vector<TileAt> tiles(plan.width);      // tiles: (width)
    Padded xpad(g, tf.m, 1, plan.width, a.N);   // one channel of the chunk's images, padded
#pragma omp for schedule(static)
    for (int64_t ch = 0; ch < plan.chunks; ++ch) {
      const int64_t t0 = ch * plan.width, count = std::min(plan.width, g.tiles - t0);
      const int64_t cols = round_up(count, kLanes);  // lanes past count hold zero tiles
      locate_tiles(g, tf.m, t0, count, plan.width, tiles.data());
      transform_input(a, tf, x, tiles.data(), count, cols, plan.width, xpad, V.get());
      for (int xi = 0; xi < tf.T; ++xi) {
        // M[xi] (K, cols) = U[xi] (K, C) x V[xi] (C, cols)
        sgemm(U[xi], cols, pack_rows(V.get() + xi * a.C * plan.width, plan.width), 1.0f, 0.0f,
              M.get() + xi * a.K * plan.width, plan.width);
      }
      transform_output(a, tf, M.get(), tiles.data(), cols, plan.width, bias, y);
    }
  }
}

// dU (T, K, C) = sum over the batch's tiles of dM[xi] x V[xi]^T. Thread t sums its fixed slice of
// the chunks into partial t; the partials are then added in thread order.
std::vector<float> filter_grads(const Conv2dArgs& a, const Transform& tf, const float* x, const float* dy) {
  const Geometry g = geometry(a, tf);
  const Plan plan = make_plan(a, g, weight_grad_width(a));
  const int64_t tkc = tf.T * a.K * a.C;
  // partial: (threads, T, K, C), zero so that a slot stays harmless if OpenMP grants fewer threads.
  std::vector<float> partial(plan.threads * tkc, 0.0f);
#pragma omp parallel num_threads(plan.threads)
  {
    float* dUt = partial.data() + omp_get_thread_num() * tkc;  // dUt: (T, K, C)
    auto V = scratch(tf.T * a.C * plan.width);                 // V: (T, C, width)
    auto dM = scratch(tf.T * a.K * plan.width);                // dM: (T, K, width)
    std::vector<TileAt> tiles(plan.width);                     // tiles: (width)
    Padded xpad(g, tf.m, 1, plan.width, a.N), dypad(g, tf.m, 0, plan.width, a.N);
    // schedule(static) hands each thread one contiguous, fixed slice of the chunks.
#pragma omp for schedule(static)
    for (int64_t ch = 0; ch < plan.chunks; ++ch) {
      const int64_t t0 = ch * plan.width, count = std::min(plan.width, g.tiles - t0);
      const int64_t cols = round_up(count, kLanes);
      locate_tiles(g, tf.m, t0, count, plan.width, tiles.data());
      transform_input(a, tf, x, tiles.data(), count, cols, plan.width, xpad, V.get());
      transform_grad_output(a, tf, dy, tiles.data(), count, cols, plan.width, dypad, dM.get());
      for (int xi = 0; xi < tf.T; ++xi) {
        // dUt[xi] (K, C) += dM[xi] (K, cols) x V[xi]^T (cols, C)
        const float* dMx = dM.get() + xi * a.K * plan.width;
        const float* Vx = V.get() + xi * a.C * plan.width;
        sgemm(PackedA(row_major(dMx, plan.width), a.K, cols), a.C, pack_transposed(Vx, plan.width), 1.0f, 1.0f,
              dUt + xi * a.K * a.C, a.C);
      }
    }
  }
  // Each element sums its partials in thread order, whichever thread does the adding.
#pragma omp parallel for schedule(static) if (plan.threads > 1 && tkc > (1 << 15))
  for (int64_t i = 0; i < tkc; ++i)
    for (int t = 1; t < plan.threads; ++t) partial[i] += partial[t * tkc + i];
  partial.resize(tkc);
  return partial;
}

}  // namespace

const char* winograd_tile_name(WinogradTile t) { return t == WinogradTile::F4x4 ? "F(4x4,3x3)" : "F(2x2,3x3)"; }

bool winograd_supported(const Conv2dArgs& a) {
  return a.R == 3 && a.S == 3 && a.stride == 1 && a.pad == 1 && a.P == a.H && a.Q == a.W && !a.bf16;
}

void winograd_conv2d_forward(const Conv2dArgs& a, const float* x, const float* w, const float* bias, float* y,
                             WinogradTile tile) {
  check_supported(a, "winograd_conv2d_forward");
  forward(a, detail::winograd_transform(tile), x, w, bias, y);
}

void winograd_conv2d_backward_input(const Conv2dArgs& a, const float* dy, const float* w, float* dx,
                                    WinogradTile tile) {
  check_supported(a, "winograd_conv2d_backward_input");
  // dx = conv(dy, w'), w' (C, K, 3, 3) with w'[c][k][r][s] = w[k][c][2 - r][2 - s]: every input
  // pixel collects the taps that read it, which is the filter flipped, with the roles of the
  // channels swapped. Still 3x3, stride 1, pad 1, and (P, Q) = (H, W).
  std::vector<float> wt(a.K * a.C * 9);  // wt: (C, K, 3, 3)
  for (int64_t k = 0; k < a.K; ++k)
    for (int64_t c = 0; c < a.C; ++c)
      for (int rs = 0; rs < 9; ++rs) wt[(c * a.K + k) * 9 + rs] = w[(k * a.C + c) * 9 + 8 - rs];
  Conv2dArgs t = a;
  t.C = a.K;
  t.K = a.C;
  forward(t, detail::winograd_transform(tile), dy, wt.data(), nullptr, dx);
}

void winograd_conv2d_backward_weight(const Conv2dArgs& a, const float* x, const float* dy, float* dw,
                                     WinogradTile tile) {
  check_supported(a, "winograd_conv2d_backward_weight");
  const Transform& tf = detail::winograd_transform(tile);
  const std::vector<float> dU = filter_grads(a, tf, x, dy);  // dU: (T, K, C)
  transform_filter_grads(a, tf, dU.data(), dw);
}

}  // namespace lb::cpu
