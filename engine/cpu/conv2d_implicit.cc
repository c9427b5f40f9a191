// cpu/conv2d_implicit.cc: float32 convolution on lightbox's own GEMM, with the im2col matrix never
// written (implicit GEMM on the CPU) and no multiply-add spent on padding, except where padding a
// copy of the input costs less than the classes below (few input channels: the stem; see
// pad_a_copy). cpu/conv2d.h has the shapes.
//
// Position classes. An output position near the border reads some filter taps from the zero
// padding; which ones depends only on its row p and column q. Positions whose rows share a range
// of live taps r in [r_lo, r_hi) and whose columns share [s_lo, s_hi) form a class, and each class
// is one GEMM over exactly its live taps. On a 7x7 map with a 3x3 filter there are 9 classes (the
// interior 5x5 reads all 9 taps, a corner 4); on the 2x2 maps of layer3 (28x28 input) every
// position is a class of its own with 4 live taps, so 5/9 of the multiply-adds im2col would do
// (against zeros) are not done; at 1x1 (layer4) one tap of 9 is live. The whole-filter dead-tap
// pruning of the im2col path is the special case of one class.
//
// Implicit packing. Inside a class every tap reads the image, so element (c*T + t, j) of the
// class's column matrix is one load at a fixed offset, with no bounds check:
//   cols[c*T + t][j] = x_g[ tap_off[c*T + t] + win_off[j] ]
//     tap_off[c*T + t] = c*H*W + r*W + s                              (tap t = (r, s), channel c)
//     win_off[j]       = i*C*H*W + (p*stride - pad)*W + (q*stride - pad)   (position j = image i, (p, q))
// x_g is the group's first image. The GEMM's B packer reads that directly (IndexedView), so the
// column matrix exists only a cache-sized block at a time, inside the GEMM's packed panels.
//
// The three directions, per class, as products (T = the class's live taps, cols = its positions
// in the group's images):
//   forward          y_cls  (K, cols)   = W_cls (K, C*T)    x  cols (C*T, cols)       scattered to y
//   backward input   dcols (C*T, cols)  = W_cls^T (C*T, K)  x  dy_cls (K, cols)       added to dx
//   backward weight  dW_cls (K, C*T)   += dy_cls (K, cols)  x  cols^T (cols, C*T)     added to dW
// Stride-1 backward input is instead a forward convolution of dy with the turned filter (below).
// Each class's weight is packed once per call and shared by the threads (PackedA), or kept
// across calls while the weight needs no gradient (cpu/conv2d_weight_cache.h).
#include <omp.h>

#include <algorithm>
#include <map>
#include <utility>
#include <vector>

#include "engine/cpu/conv2d_parts.h"
#include "engine/cpu/conv2d_weight_cache.h"
#include "engine/cpu/gemm.h"

namespace lb::cpu::conv_detail {

namespace {

// A group holds enough images that its smallest class (a corner: one position per image) still
// fills a few of the micro-kernel's NR-wide panels, and at most this many columns in its largest.
constexpr int64_t kMinClassCols = 64;
constexpr int64_t kMaxGroupCols = 16384;

// Output positions that read the same range of filter taps.
struct PosClass {
  int64_t r_lo, r_hi, s_lo, s_hi;  // live taps: r in [r_lo, r_hi), s in [s_lo, s_hi)
  std::vector<int64_t> pq;         // (n): its positions p*Q + q
  std::vector<int64_t> win;        // (n): their window origins (p*stride - pad)*W + (q*stride - pad)
  int64_t taps() const { return (r_hi - r_lo) * (s_hi - s_lo); }
  int64_t size() const { return static_cast<int64_t>(pq.size()); }
};

// For each output index o in [0, n_out): the live filter range [lo, hi) along one axis.
std::vector<std::pair<int64_t, int64_t>> live_ranges(int64_t n_out, int64_t n_in, int64_t k, int64_t stride,
                                                     int64_t pad) {
  std::vector<std::pair<int64_t, int64_t>> out(static_cast<size_t>(n_out));
  for (int64_t o = 0; o < n_out; ++o) {
    const int64_t origin = o * stride - pad;  // input index tap 0 reads
    out[o] = {std::max<int64_t>(0, -origin), std::min<int64_t>(k, n_in - origin)};
  }
  return out;
}

std::vector<PosClass> position_classes(const Conv2dArgs& a) {
  const auto rows = live_ranges(a.P, a.H, a.R, a.stride, a.pad), cols = live_ranges(a.Q, a.W, a.S, a.stride, a.pad);
  std::map<std::pair<std::pair<int64_t, int64_t>, std::pair<int64_t, int64_t>>, PosClass> by_range;
  for (int64_t p = 0; p < a.P; ++p)
    for (int64_t q = 0; q < a.Q; ++q) {
      if (rows[p].first >= rows[p].second || cols[q].first >= cols[q].second) continue;  // reads only padding
      PosClass& c = by_range[{rows[p], cols[q]}];
      c.r_lo = rows[p].first, c.r_hi = rows[p].second, c.s_lo = cols[q].first, c.s_hi = cols[q].second;
      c.pq.push_back(p * a.Q + q);
      c.win.push_back((p * a.stride - a.pad) * a.W + (q * a.stride - a.pad));
    }
  std::vector<PosClass> out;
  for (auto& [key, c] : by_range) out.push_back(std::move(c));
  return out;
}

// The class's taps as offsets in one image: (C*T), c*H*W + r*W + s.
std::vector<int64_t> tap_offsets(const Conv2dArgs& a, const PosClass& cls) {
  std::vector<int64_t> off;
  off.reserve(static_cast<size_t>(a.C * cls.taps()));
  for (int64_t c = 0; c < a.C; ++c)
    for (int64_t r = cls.r_lo; r < cls.r_hi; ++r)
      for (int64_t s = cls.s_lo; s < cls.s_hi; ++s) off.push_back(c * a.H * a.W + r * a.W + s);
  return off;
}

// Where the weight element (k, c, r, s) of the convolution being computed lives:
// w[base + k*k_step + c*c_step + r*r_step + s*s_step]. The plain (K, C, R, S) tensor, or the
// turned filter of a stride-1 input gradient read in place (backward_input_as_forward).
struct WeightLayout {
  const float* w;
  int64_t base, k_step, c_step, r_step, s_step;
  int kind = 0;  // 0 the plain tensor, 1 the turned filter (the packed-weight cache keeps both)
};

WeightLayout plain_layout(const Conv2dArgs& a, const float* w) { return {w, 0, a.C * a.R * a.S, a.R * a.S, a.S, 1, 0}; }

// Everything about one class that does not depend on the images: its tap offsets and its weight
// packed for the GEMM, W_cls (K, C*T) for the forward or W_cls^T (C*T, K) for the input gradient,
// read from the weight in place through offset tables.
struct ClassPlan {
  PosClass cls;
  std::vector<int64_t> tap_off;  // (C*T)
  PackedA w;
};

PackedA class_weight(const Conv2dArgs& a, const PosClass& cls, const WeightLayout& wl, bool transposed) {
  std::vector<int64_t> k_off(static_cast<size_t>(a.K)), tap_off;  // (K), (C*T)
  for (int64_t k = 0; k < a.K; ++k) k_off[k] = k * wl.k_step;
  for (int64_t c = 0; c < a.C; ++c)
    for (int64_t r = cls.r_lo; r < cls.r_hi; ++r)
      for (int64_t s = cls.s_lo; s < cls.s_hi; ++s)
        tap_off.push_back(wl.base + c * wl.c_step + r * wl.r_step + s * wl.s_step);
  const int64_t ct = static_cast<int64_t>(tap_off.size());
  if (transposed) return PackedA(IndexedView{wl.w, tap_off.data(), k_off.data(), a.bf16}, ct, a.K);
  return PackedA(IndexedView{wl.w, k_off.data(), tap_off.data(), a.bf16}, a.K, ct);
}

// wl.w null: no weight (the weight gradient needs only the tap offsets).
std::vector<ClassPlan> class_plans(const Conv2dArgs& a, const std::vector<PosClass>& classes, const WeightLayout& wl,
                                   bool transposed) {
  std::vector<ClassPlan> out;
  for (const PosClass& c : classes)
    out.push_back({c, tap_offsets(a, c), wl.w ? class_weight(a, c, wl, transposed) : PackedA()});
  return out;
}

// class_plans through the packed-weight cache when the op named the weight's owner
// (Conv2dArgs::weight_owner: its values are fixed for now); computed per call otherwise. `g` is
// the geometry the GEMMs see (the padded copy's, or a itself), `classes` its position classes.
std::shared_ptr<const std::vector<ClassPlan>> packed_plans(const Conv2dArgs& g, const std::vector<PosClass>& classes,
                                                           const WeightLayout& wl, bool transposed) {
  auto make = [&] { return std::make_shared<const std::vector<ClassPlan>>(class_plans(g, classes, wl, transposed)); };
  if (g.weight_owner.expired() || wl.w == nullptr) return make();
  WeightKey key;
  key.owner = g.weight_owner;
  key.offset = g.weight_offset;
  key.version = g.weight_version;
  key.kind = wl.kind * 2 + (transposed ? 1 : 0);
  key.shape = {g.C, g.H, g.W, g.K, g.R, g.S, g.stride, g.pad, g.bf16 ? 1 : 0, static_cast<int64_t>(active_isa())};
  if (auto hit = find_packed_weights(key)) return std::static_pointer_cast<const std::vector<ClassPlan>>(hit);
  auto plans = make();
  int64_t bytes = 0;
  for (const ClassPlan& p : *plans) bytes += 4 * p.w.rows() * p.w.depth();
  keep_packed_weights(key, plans, bytes);
  return plans;
}

// How the batch is cut into image groups (see kMinClassCols), and over how many threads.
Plan class_group_plan(const Conv2dArgs& a, const std::vector<PosClass>& classes) {
  Plan plan = make_plan(a);
  int64_t smallest = a.P * a.Q;
  for (const PosClass& c : classes) smallest = std::min(smallest, c.size());
  const int64_t per_thread = (a.N + plan.threads - 1) / plan.threads;
  const int64_t wanted = (kMinClassCols + smallest - 1) / smallest;
  const int64_t fits = std::max<int64_t>(1, kMaxGroupCols / (a.P * a.Q));
  plan.group = std::max<int64_t>(1, std::min({per_thread, wanted, fits}));
  plan.groups = (a.N + plan.group - 1) / plan.group;
  plan.threads = static_cast<int>(std::max<int64_t>(1, std::min<int64_t>(plan.threads, plan.groups)));
  return plan;
}

// win: (count*n), the class's window origins in images 0..count-1 of a group (image stride C*H*W).
void class_windows(const Conv2dArgs& a, const PosClass& cls, int64_t count, int64_t* win) {
  for (int64_t i = 0; i < count; ++i)
    for (int64_t j = 0; j < cls.size(); ++j) *win++ = i * a.C * a.H * a.W + cls.win[j];
}

// map: (count*n), the class's positions in images 0..count-1 of a (N, K, P, Q) tensor at channel 0.
void class_maps(const Conv2dArgs& a, const PosClass& cls, int64_t count, int64_t* map) {
  for (int64_t i = 0; i < count; ++i)
    for (int64_t j = 0; j < cls.size(); ++j) *map++ = i * a.K * a.P * a.Q + cls.pq[j];
}

std::vector<int64_t> channel_offsets(int64_t K, int64_t pq) {
  std::vector<int64_t> off(static_cast<size_t>(K));
  for (int64_t k = 0; k < K; ++k) off[k] = k * pq;
  return off;
}

int64_t largest_class(const std::vector<PosClass>& classes) {
  int64_t n = 0;
  for (const PosClass& c : classes) n = std::max(n, c.size());
  return n;
}

// Stride 1: the input gradient is itself a convolution, of dy with the filter turned 180 degrees
// and its channel axes swapped, padded by R - 1 - pad:
//   dx[n, c, h, v] = sum over k, r, s of dy[n, k, h + pad - r, v + pad - s] * w[k, c, r, s]
//                  = conv(dy, w')[n, c, h, v],   w'[c, k, r', s'] = w[k, c, R-1-r', S-1-s']
// so it runs as a forward convolution (with its own position classes), and nothing is scattered.
bool transposed_is_forward(const Conv2dArgs& a) { return a.stride == 1 && a.R == a.S && a.pad <= a.R - 1; }

void forward_with_layout(const Conv2dArgs& a, const float* x, const WeightLayout& wl, const float* bias, float* y);

void backward_input_as_forward(const Conv2dArgs& a, const float* dy, const float* w, float* dx) {
  Conv2dArgs t = a;
  t.C = a.K, t.H = a.P, t.W = a.Q;
  t.K = a.C, t.P = a.H, t.Q = a.W;
  t.pad = a.R - 1 - a.pad;
  // w'[k', c', r', s'] = w[c', k', R-1-r', S-1-s'], read in place.
  const WeightLayout turned{w, (a.R - 1) * a.S + (a.S - 1), a.R * a.S, a.C * a.R * a.S, -a.S, -1, 1};
  forward_with_layout(t, dy, turned, nullptr, dx);
}

// Padding a copy of the input with real zeros (one class, all taps, no scatter of the output)
// beats the classes where their scatter costs more than the multiply-adds they save: few input
// channels, as the stem (C*R*S = 49 multiply-adds per output, 16 classes). Costs in multiply-add
// equivalents, measured on the machines of docs/benchmarks.md: ~64 to scatter one output, ~4 to
// copy one input value.
constexpr int64_t kScatterCost = 64, kCopyCost = 4;

bool pad_a_copy(const Conv2dArgs& a, const std::vector<PosClass>& classes) {
  if (a.pad == 0 || classes.size() <= 1) return false;
  int64_t class_macs = 0;
  for (const PosClass& c : classes) class_macs += a.C * c.taps() * c.size();
  const int64_t pq = a.P * a.Q, padded_plane = (a.H + 2 * a.pad) * (a.W + 2 * a.pad);
  return a.C * a.R * a.S * pq + kCopyCost * a.C * padded_plane < class_macs + kScatterCost * pq;
}

// Images [n0, n0 + count) of x (N, C, H, W) with their zero border made real: xp (count, C, Hp, Wp).
const float* padded_images(const Conv2dArgs& a, const float* x, int64_t n0, int64_t count, float* xp) {
  const int64_t Wp = a.W + 2 * a.pad, plane = (a.H + 2 * a.pad) * Wp;
  for (int64_t ic = 0; ic < count * a.C; ++ic) {
    const float* src = x + n0 * a.C * a.H * a.W + ic * a.H * a.W;  // src: (H, W) one channel
    float* dst = xp + ic * plane;                                  // dst: (Hp, Wp)
    std::fill(dst, dst + plane, 0.0f);
    for (int64_t h = 0; h < a.H; ++h) std::copy(src + h * a.W, src + (h + 1) * a.W, dst + (h + a.pad) * Wp + a.pad);
  }
  return xp;
}

void forward_with_layout(const Conv2dArgs& a, const float* x, const WeightLayout& wl, const float* bias, float* y) {
  const int64_t pq = a.P * a.Q;
  const std::vector<PosClass> natural = position_classes(a);
  // g: the geometry the GEMMs see, the padded copy's (pad 0, one class) when that is cheaper.
  const bool padded = pad_a_copy(a, natural);
  Conv2dArgs g = a;
  if (padded) g.H += 2 * a.pad, g.W += 2 * a.pad, g.pad = 0;
  const std::vector<PosClass> classes = padded ? position_classes(g) : natural;
  const int64_t chw = g.C * g.H * g.W;
  int64_t covered = 0;
  for (const PosClass& c : classes) covered += c.size();
  const bool fill = covered < pq;  // some positions read only padding: they keep the bias
  if (fill)
    for (int64_t i = 0; i < a.N * a.K; ++i) std::fill(y + i * pq, y + (i + 1) * pq, bias ? bias[i % a.K] : 0.0f);
  const auto shared_plans = packed_plans(g, classes, wl, /*transposed=*/false);
  const std::vector<ClassPlan>& plans = *shared_plans;
  const Plan plan = class_group_plan(g, classes);
  const int64_t most = plan.group * largest_class(classes);
  // One class over every position, one image per group: the product is y's own (K, P*Q) block.
  const bool in_place = classes.size() == 1 && !fill && plan.group == 1;
#pragma omp parallel num_threads(plan.threads)
  {
    auto win = scratch<int64_t>(most);                        // (count*n) window origins of one class
    auto out = scratch<float>(in_place ? 0 : a.K * most);     // (K, count*n) one class's product
    auto xp = scratch<float>(padded ? plan.group * chw : 0);  // (group, C, Hp, Wp)
#pragma omp for schedule(static)
    for (int64_t gi = 0; gi < plan.groups; ++gi) {
      const int64_t n0 = gi * plan.group, count = std::min(plan.group, a.N - n0);
      const float* xg = padded ? padded_images(a, x, n0, count, xp.get()) : x + n0 * chw;  // (count, C, H, W) of g
      for (const ClassPlan& cp : plans) {
        const PosClass& cls = cp.cls;
        const int64_t cols = count * cls.size();
        class_windows(g, cls, count, win.get());
        float* prod = in_place ? y + n0 * a.K * pq : out.get();  // prod: (K, count*n)
        sgemm(cp.w, cols, pack_b_indexed({xg, cp.tap_off.data(), win.get(), a.bf16}), 1.0f, 0.0f, prod, cols);
        for (int64_t i = 0; i < count; ++i)
          for (int64_t k = 0; k < a.K; ++k) {
            const float* src = prod + k * cols + i * cls.size();  // src: (n)
            float* dst = y + ((n0 + i) * a.K + k) * pq;           // dst: (P*Q)
            const float b = bias ? bias[k] : 0.0f;
            if (in_place) {
              if (bias)
                for (int64_t j = 0; j < pq; ++j) dst[j] += b;
            } else if (fill) {
              for (int64_t j = 0; j < cls.size(); ++j) dst[cls.pq[j]] += src[j];
            } else {
              for (int64_t j = 0; j < cls.size(); ++j) dst[cls.pq[j]] = src[j] + b;
            }
          }
      }
    }
  }
}

}  // namespace

void implicit_conv2d_forward(const Conv2dArgs& a, const float* x, const float* w, const float* bias, float* y) {
  forward_with_layout(a, x, plain_layout(a, w), bias, y);
}

void implicit_conv2d_backward_input(const Conv2dArgs& a, const float* dy, const float* w, float* dx) {
  if (transposed_is_forward(a)) return backward_input_as_forward(a, dy, w, dx);
  const int64_t chw = a.C * a.H * a.W, kpq = a.K * a.P * a.Q;
  std::fill(dx, dx + a.N * chw, 0.0f);
  const std::vector<PosClass> classes = position_classes(a);
  const auto shared_plans = packed_plans(a, classes, plain_layout(a, w), /*transposed=*/true);
  const std::vector<ClassPlan>& plans = *shared_plans;
  const std::vector<int64_t> chan_off = channel_offsets(a.K, a.P * a.Q);
  const Plan plan = class_group_plan(a, classes);
  const int64_t most = plan.group * largest_class(classes);
  int64_t most_ct = 0;
  for (const PosClass& c : classes) most_ct = std::max(most_ct, a.C * c.taps());
#pragma omp parallel num_threads(plan.threads)
  {
    auto win = scratch<int64_t>(most);            // (count*n) window origins in x's layout
    auto map = scratch<int64_t>(most);            // (count*n) positions in dy's layout
    auto dcols = scratch<float>(most_ct * most);  // (C*T, count*n)
#pragma omp for schedule(static)
    for (int64_t g = 0; g < plan.groups; ++g) {
      const int64_t n0 = g * plan.group, count = std::min(plan.group, a.N - n0);
      float* dxg = dx + n0 * chw;  // dxg: (count, C, H, W)
      for (const ClassPlan& cp : plans) {
        const PosClass& cls = cp.cls;
        const int64_t cols = count * cls.size(), ct = static_cast<int64_t>(cp.tap_off.size());
        class_windows(a, cls, count, win.get());
        class_maps(a, cls, count, map.get());
        sgemm(cp.w, cols, pack_b_indexed({dy + n0 * kpq, chan_off.data(), map.get(), a.bf16}), 1.0f, 0.0f, dcols.get(),
              cols);
        // col2im of the class: every tap of the class is inside the image, so no bounds checks.
        for (int64_t t = 0; t < ct; ++t) {
          const float* src = dcols.get() + t * cols;  // src: (cols)
          float* dst = dxg + cp.tap_off[t];
          for (int64_t j = 0; j < cols; ++j) dst[win[j]] += src[j];
        }
      }
    }
  }
}

// The weight gradient sums over every image and position, so its GEMMs are split across threads
// by output columns (the taps (c, t)), not by images: each thread owns a slice of dW_cls and runs
// the whole reduction for it, in as few image chunks as kMaxGroupCols allows. No per-thread partial
// sums, and every element is summed in the same order whatever the thread count.
void implicit_conv2d_backward_weight(const Conv2dArgs& a, const float* x, const float* dy, float* dw) {
  const int64_t chw = a.C * a.H * a.W, kpq = a.K * a.P * a.Q, crs = a.C * a.R * a.S;
  const std::vector<PosClass> classes = position_classes(a);
  const std::vector<ClassPlan> plans = class_plans(a, classes, plain_layout(a, nullptr), false);
  const std::vector<int64_t> chan_off = channel_offsets(a.K, a.P * a.Q);
  const int threads = make_plan(a).threads, nr = gemm_blocking().nr;
  std::vector<std::vector<float>> dwc(plans.size());  // dwc[cls]: (K, C*T_cls)
  for (size_t c = 0; c < plans.size(); ++c) dwc[c].resize(static_cast<size_t>(a.K) * plans[c].tap_off.size());
#pragma omp parallel num_threads(threads)
  {
    const int t = omp_get_thread_num(), nt = omp_get_num_threads();
    std::vector<int64_t> win, map;  // (count*n) window origins in x's layout, positions in dy's
    for (size_t c = 0; c < plans.size(); ++c) {
      const PosClass& cls = plans[c].cls;
      const int64_t ct = static_cast<int64_t>(plans[c].tap_off.size());
      // This thread's columns [j0, j1) of dW_cls, cut at multiples of the micro-kernel's NR.
      const int64_t panels = (ct + nr - 1) / nr;
      const int64_t j0 = std::min(ct, panels * t / nt * nr), j1 = std::min(ct, panels * (t + 1) / nt * nr);
      if (j0 >= j1) continue;
      const int64_t chunk = std::max<int64_t>(1, std::min(a.N, kMaxGroupCols / cls.size()));
      for (int64_t n0 = 0; n0 < a.N; n0 += chunk) {
        const int64_t count = std::min(chunk, a.N - n0), cols = count * cls.size();
        win.resize(static_cast<size_t>(cols));
        map.resize(static_cast<size_t>(cols));
        class_windows(a, cls, count, win.data());
        class_maps(a, cls, count, map.data());
        const PackedA dyc({dy + n0 * kpq, chan_off.data(), map.data(), a.bf16}, a.K, cols);  // dy_cls: (K, cols)
        // cols^T (cols, C*T) restricted to columns [j0, j1): row j is position j, column (c, t) its tap.
        sgemm(dyc, j1 - j0, pack_b_indexed({x + n0 * chw, win.data(), plans[c].tap_off.data() + j0, a.bf16}), 1.0f,
              n0 == 0 ? 0.0f : 1.0f, dwc[c].data() + j0, ct);
      }
    }
  }
  // Put each class's taps back at (r, s), classes in a fixed order; taps no position reads keep 0.
  // Each class's taps back at (r, s), classes in a fixed order; taps no position reads keep 0.
  // Parallel over the filters (k, c): each is written by one thread.
  std::vector<std::vector<int64_t>> rs_off(plans.size());  // rs_off[cls]: (T_cls), r*S + s
  for (size_t c = 0; c < plans.size(); ++c)
    for (int64_t r = plans[c].cls.r_lo; r < plans[c].cls.r_hi; ++r)
      for (int64_t s = plans[c].cls.s_lo; s < plans[c].cls.s_hi; ++s) rs_off[c].push_back(r * a.S + s);
  std::fill(dw, dw + a.K * crs, 0.0f);
#pragma omp parallel for schedule(static) num_threads(threads) if (a.K * crs > (1 << 16))
  for (int64_t kc = 0; kc < a.K * a.C; ++kc) {
    float* dst = dw + kc * a.R * a.S;  // dst: (R, S), one filter
    for (size_t c = 0; c < plans.size(); ++c) {
      const int64_t nt = static_cast<int64_t>(rs_off[c].size());
      const float* src = dwc[c].data() + kc * nt;  // src: (T_cls), this filter's taps in the class
      const int64_t* off = rs_off[c].data();
      for (int64_t t = 0; t < nt; ++t) dst[off[t]] += src[t];
    }
  }
}

}  // namespace lb::cpu::conv_detail
