// phantom.cc: see phantom.h. Coordinates: u (columns, to the right) and v (rows, down) in
// [-1, 1]; pixel (i, j) of an S x S image has its centre at u = 2 (j + 0.5) / S - 1, likewise v.
#include "engine/data/phantom.h"

#include <algorithm>
#include <cmath>

#include "engine/progress.h"

namespace lb::data {

namespace {

constexpr double kPi = 3.14159265358979323846;

uint64_t splitmix64(uint64_t x) {
  x += 0x9e3779b97f4a7c15ull;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
  return x ^ (x >> 31);
}

uint64_t split_salt(const std::string& split) {
  uint64_t h = 1469598103934665603ull;  // FNV-1a of the name
  for (char c : split) h = (h ^ static_cast<uint8_t>(c)) * 1099511628211ull;
  return h;
}

struct Ellipse {
  double cu = 0, cv = 0, a = 1, b = 1, angle = 0;  // centre, half-axes (u, v), rotation
  // Normalised distance: 1 on the border, 0 at the centre.
  double r(double u, double v) const {
    const double du = u - cu, dv = v - cv, c = std::cos(angle), s = std::sin(angle);
    const double x = (c * du + s * dv) / a, y = (-s * du + c * dv) / b;
    return std::sqrt(x * x + y * y);
  }
  // 1 inside, 0 outside, a linear ramp one pixel (px, in u units) wide across the border.
  double soft(double u, double v, double px) const {
    const double d = (1.0 - r(u, v)) * std::min(a, b);
    return std::clamp(0.5 + d / px, 0.0, 1.0);
  }
};

// A bright band of half-thickness th along the segment p0 -> p1 (a clavicle).
double bar(double u, double v, double u0, double v0, double u1, double v1, double th) {
  const double du = u1 - u0, dv = v1 - v0;
  const double t = std::clamp(((u - u0) * du + (v - v0) * dv) / (du * du + dv * dv), 0.0, 1.0);
  const double eu = u - (u0 + t * du), ev = v - (v0 + t * dv);
  return std::exp(-(eu * eu + ev * ev) / (th * th));
}

// Everything random about one image's anatomy.
struct Anatomy {
  double angle, scale, su, sv;  // pose
  double background, tissue, lung_dark, bone;
  Ellipse body, lung[2], heart;
  double rib_v0, rib_step, rib_curve;
  struct Lesion {
    Ellipse shape;  // half-axes = sigma of the Gaussian opacity
    double amplitude;
  };
  std::vector<Lesion> lesions;
};

// Anatomy coordinates of an image point (undo the pose).
void to_anatomy(const Anatomy& an, double u, double v, double& au, double& av) {
  const double x = (u - an.su) / an.scale, y = (v - an.sv) / an.scale;
  const double c = std::cos(an.angle), s = std::sin(an.angle);
  au = c * x + s * y;
  av = -s * x + c * y;
}

bool in_lung_field(const Anatomy& an, double au, double av) {
  return (an.lung[0].r(au, av) < 1.0 || an.lung[1].r(au, av) < 1.0) && an.heart.r(au, av) >= 1.0;
}

Anatomy draw_anatomy(Generator& g, int64_t label) {
  Anatomy an;
  an.angle = g.uniform(-6, 6) * kPi / 180.0;
  an.scale = g.uniform(0.92, 1.04);
  an.su = g.uniform(-0.05, 0.05);
  an.sv = g.uniform(-0.05, 0.05);
  an.background = g.uniform(0.04, 0.12);
  an.tissue = g.uniform(0.45, 0.60);
  an.lung_dark = g.uniform(0.22, 0.34);
  an.bone = g.uniform(0.10, 0.18);
  an.body = {0.0, 0.08, g.uniform(0.82, 0.92), 1.08, 0.0};
  for (int side = 0; side < 2; ++side) {
    const double sgn = side == 0 ? -1.0 : 1.0;
    an.lung[side] = {sgn * g.uniform(0.34, 0.40), g.uniform(-0.10, 0.0), g.uniform(0.22, 0.28), g.uniform(0.50, 0.58),
                     sgn * g.uniform(0.0, 0.08)};
  }
  an.heart = {g.uniform(0.12, 0.20), g.uniform(0.30, 0.38), g.uniform(0.20, 0.27), g.uniform(0.17, 0.22), 0.3};
  an.rib_v0 = g.uniform(-0.52, -0.44);
  an.rib_step = g.uniform(0.16, 0.19);
  an.rib_curve = g.uniform(0.18, 0.28);
  if (label == 1) {
    const int count = 1 + static_cast<int>(g.next() % 3);
    for (int k = 0; k < count; ++k) {
      Anatomy::Lesion l;
      // A centre well inside a lung field: rejection sampling from the lung's bounding box.
      const Ellipse& lung = an.lung[g.next() % 2];
      double cu = lung.cu, cv = lung.cv;
      for (int tries = 0; tries < 100; ++tries) {
        const double u = lung.cu + g.uniform(-lung.a, lung.a), v = lung.cv + g.uniform(-lung.b, lung.b);
        if (lung.r(u, v) < 0.75 && an.heart.r(u, v) > 1.2) {
          cu = u, cv = v;
          break;
        }
      }
      l.shape = {cu, cv, g.uniform(0.07, 0.13), g.uniform(0.07, 0.14), g.uniform(0, kPi)};
      l.amplitude = g.uniform(0.22, 0.40);
      an.lesions.push_back(l);
    }
  }
  return an;
}

// Intensity in [0, 1] (before blur and noise), lung and lesion flags at one image point.
double intensity(const Anatomy& an, double u, double v, double px, bool& lung_out, bool& lesion_out) {
  double au, av;
  to_anatomy(an, u, v, au, av);
  const double pxa = px / an.scale;
  const double body = an.body.soft(au, av, pxa);
  const double lung = std::max(an.lung[0].soft(au, av, pxa), an.lung[1].soft(au, av, pxa));
  const double heart = an.heart.soft(au, av, pxa);
  double I = an.background + (an.tissue - an.background) * body;
  I -= an.lung_dark * lung * (1.0 - 0.85 * heart);
  // Spine and ribs: bone over the body; ribs run across the lungs, sagging to the sides.
  const double spine = std::exp(-std::pow(au / 0.07, 4.0)) * (av > -0.85 ? 1.0 : 0.0);
  double ribs = 0;
  for (int k = 0; k < 6; ++k) {
    const double c = an.rib_v0 + k * an.rib_step + an.rib_curve * au * au;
    ribs = std::max(ribs, std::exp(-std::pow((av - c) / 0.035, 2.0)) * (std::fabs(au) > 0.08 ? 1.0 : 0.0));
  }
  const double clav =
      std::max(bar(au, av, -0.08, -0.62, -0.58, -0.74, 0.04), bar(au, av, 0.08, -0.62, 0.58, -0.74, 0.04));
  I += body * an.bone * (std::max(spine, clav) + 0.6 * ribs);
  // Consolidations: opacities that fade out at the lung border.
  double lesion_r = 1e9;
  for (const auto& l : an.lesions) {
    const double r = l.shape.r(au, av);
    I += l.amplitude * std::exp(-0.5 * r * r) * lung * (1.0 - heart);
    lesion_r = std::min(lesion_r, r);
  }
  lung_out = in_lung_field(an, au, av);
  lesion_out = lung_out && lesion_r <= 1.5;
  return I;
}

// Separable Gaussian blur of an S x S plane, clamped border.
void gaussian_blur(std::vector<double>& img, int64_t S, double sigma) {
  const int64_t R = std::max<int64_t>(1, static_cast<int64_t>(std::ceil(3 * sigma)));
  std::vector<double> k(2 * R + 1), tmp(img.size());
  double sum = 0;
  for (int64_t i = -R; i <= R; ++i) sum += k[i + R] = std::exp(-0.5 * i * i / (sigma * sigma));
  for (double& w : k) w /= sum;
  auto at = [S](int64_t i) { return std::clamp<int64_t>(i, 0, S - 1); };
  for (int64_t r = 0; r < S; ++r)
    for (int64_t c = 0; c < S; ++c) {
      double s = 0;
      for (int64_t i = -R; i <= R; ++i) s += k[i + R] * img[r * S + at(c + i)];
      tmp[r * S + c] = s;
    }
  for (int64_t r = 0; r < S; ++r)
    for (int64_t c = 0; c < S; ++c) {
      double s = 0;
      for (int64_t i = -R; i <= R; ++i) s += k[i + R] * tmp[at(r + i) * S + c];
      img[r * S + c] = s;
    }
}

}  // namespace

uint64_t phantom_image_seed(uint64_t seed, const std::string& split, int64_t index) {
  return splitmix64(splitmix64(seed ^ split_salt(split)) + static_cast<uint64_t>(index));
}

std::vector<int64_t> phantom_labels(int64_t n, double share, uint64_t seed, const std::string& split) {
  LB_CHECK(
      n >= 0 && share >= 0 && share <= 1,
      "phantom: " << split << " needs a count >= 0 and a pneumonia share in [0, 1], got " << n << " and " << share);
  const int64_t ones = std::llround(static_cast<double>(n) * share);
  std::vector<int64_t> labels(n, 0);
  std::fill(labels.begin(), labels.begin() + ones, 1);
  Generator g(splitmix64(seed ^ split_salt(split) ^ 0x6c6162656c73ull));  // "labels"
  for (int64_t i = n - 1; i > 0; --i) std::swap(labels[i], labels[g.next() % static_cast<uint64_t>(i + 1)]);
  return labels;
}

PhantomImage render_phantom(int64_t size, int64_t label, uint64_t image_seed, bool marker) {
  LB_CHECK(size >= 8 && size <= 1024, "phantom: --size must be 8..1024, got " << size);
  LB_CHECK(label == 0 || label == 1, "phantom: label must be 0 or 1, got " << label);
  const int64_t S = size;
  Generator g(image_seed);
  const Anatomy an = draw_anatomy(g, label);
  const double blur_sigma = g.uniform(0.3, 0.8) * static_cast<double>(S) / 28.0;
  const double noise = g.uniform(0.01, 0.035);
  const double px = 2.0 / static_cast<double>(S);

  PhantomImage out;
  out.label = label;
  out.marker = marker;
  out.image = Tensor::zeros({S, S}, DType::UInt8);
  out.mask = Tensor::zeros({S, S}, DType::UInt8);
  out.lungs = Tensor::zeros({S, S}, DType::UInt8);
  std::vector<double> img(S * S);  // (S, S)
  uint8_t* mask = out.mask.data<uint8_t>();
  uint8_t* lungs = out.lungs.data<uint8_t>();
  for (int64_t i = 0; i < S; ++i)
    for (int64_t j = 0; j < S; ++j) {
      bool in_lung = false, in_lesion = false;
      img[i * S + j] = intensity(an, (j + 0.5) * px - 1.0, (i + 0.5) * px - 1.0, px, in_lung, in_lesion);
      lungs[i * S + j] = in_lung;
      mask[i * S + j] = in_lesion;
    }
  gaussian_blur(img, S, blur_sigma);
  if (marker) {
    const int64_t m = std::max<int64_t>(1, std::llround(2.0 * S / 28.0)),
                  k = std::max<int64_t>(2, std::llround(3.0 * S / 28.0));
    for (int64_t i = m; i < m + k; ++i)
      for (int64_t j = m; j < m + k; ++j) img[i * S + j] = 0.95;
  }
  uint8_t* p = out.image.data<uint8_t>();
  for (int64_t e = 0; e < S * S; ++e)
    p[e] = static_cast<uint8_t>(std::clamp(std::lround((img[e] + noise * g.normal()) * 255.0), 0l, 255l));
  return out;
}

std::vector<std::pair<std::string, Tensor>> make_phantom(const PhantomSpec& spec, bool progress) {
  LB_CHECK(spec.train > 0 && spec.val >= 0 && spec.test >= 0,
           "phantom: split sizes must be >= 0 (train > 0), got " << spec.train << "/" << spec.val << "/" << spec.test);
  const int64_t S = spec.size;
  std::vector<std::pair<std::string, Tensor>> arrays;
  struct SplitDef {
    const char* name;
    int64_t n;
    double share;
  };
  const SplitDef splits[] = {{"train", spec.train, spec.train_pneumonia},
                             {"val", spec.val, spec.val_pneumonia},
                             {"test", spec.test, spec.test_pneumonia}};
  ProgressBar bar("phantom", spec.train + spec.val + spec.test, "img", progress);
  for (const SplitDef& sd : splits) {
    const std::vector<int64_t> labels = phantom_labels(sd.n, sd.share, spec.seed, sd.name);
    Tensor images = Tensor::zeros({sd.n, S, S}, DType::UInt8), masks = Tensor::zeros({sd.n, S, S}, DType::UInt8);
    Tensor lab = Tensor::zeros({sd.n, 1}, DType::UInt8), markers = Tensor::zeros({sd.n}, DType::UInt8);
    const bool test_split = std::string(sd.name) == "test";
    for (int64_t n = 0; n < sd.n; ++n) {
      const uint64_t s = phantom_image_seed(spec.seed, sd.name, n);
      // The marker's draw has its own generator, so --shortcut leaves the anatomy unchanged.
      Generator mg(splitmix64(s ^ 0x6d61726b6572ull));  // "marker"
      const double p_marker = test_split ? 0.5 : (labels[n] == 1 ? 0.9 : 0.1);
      const bool marker = spec.shortcut && mg.uniform() < p_marker;
      const PhantomImage im = render_phantom(S, labels[n], s, marker);
      std::copy(im.image.data<uint8_t>(), im.image.data<uint8_t>() + S * S, images.data<uint8_t>() + n * S * S);
      std::copy(im.mask.data<uint8_t>(), im.mask.data<uint8_t>() + S * S, masks.data<uint8_t>() + n * S * S);
      lab.data<uint8_t>()[n] = static_cast<uint8_t>(labels[n]);
      markers.data<uint8_t>()[n] = marker;
      if (n % 64 == 63 || n + 1 == sd.n) bar.update(n % 64 + 1, static_cast<double>(n % 64 + 1));
    }
    arrays.emplace_back(std::string(sd.name) + "_images", images);
    arrays.emplace_back(std::string(sd.name) + "_labels", lab);
    arrays.emplace_back(std::string(sd.name) + "_masks", masks);
    if (spec.shortcut) arrays.emplace_back(std::string(sd.name) + "_markers", markers);
  }
  bar.finish();
  return arrays;
}

}  // namespace lb::data
