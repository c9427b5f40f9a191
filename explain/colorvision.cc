// colorvision.cc: see colorvision.h.
#include "explain/colorvision.h"

#include <algorithm>
#include <cmath>

#include "base/common.h"

namespace lb::explain {

Deficiency parse_deficiency(const std::string& s) {
  if (s == "none") return Deficiency::None;
  if (s == "protanopia") return Deficiency::Protanopia;
  if (s == "deuteranopia") return Deficiency::Deuteranopia;
  if (s == "tritanopia") return Deficiency::Tritanopia;
  LB_THROW("colour vision '" << s << "' is not one of: none, protanopia, deuteranopia, tritanopia");
}

const char* to_string(Deficiency d) {
  switch (d) {
    case Deficiency::Protanopia:
      return "protanopia";
    case Deficiency::Deuteranopia:
      return "deuteranopia";
    case Deficiency::Tritanopia:
      return "tritanopia";
    default:
      return "none";
  }
}

double srgb_to_linear(double c) { return c <= 0.04045 ? c / 12.92 : std::pow((c + 0.055) / 1.055, 2.4); }
double linear_to_srgb(double c) { return c <= 0.0031308 ? 12.92 * c : 1.055 * std::pow(c, 1 / 2.4) - 0.055; }

namespace {

Vec3 to_linear(Rgb c) {
  return {srgb_to_linear(c.r / 255.0), srgb_to_linear(c.g / 255.0), srgb_to_linear(c.b / 255.0)};
}

uint8_t encode(double lin) {
  return static_cast<uint8_t>(std::lround(255 * linear_to_srgb(std::clamp(lin, 0.0, 1.0))));
}

double lab_f(double t) {
  const double d = 6.0 / 29.0;
  return t > d * d * d ? std::cbrt(t) : t / (3 * d * d) + 4.0 / 29.0;
}

// Machado et al. 2009, Table 1, severity 1.0 (rows map linear RGB to simulated linear RGB).
using Mat3 = std::array<std::array<double, 3>, 3>;
const Mat3 kProtan = {
    {{0.152286, 1.052583, -0.204868}, {0.114503, 0.786281, 0.099216}, {-0.003882, -0.048116, 1.051998}}};
const Mat3 kDeutan = {
    {{0.367322, 0.860646, -0.227968}, {0.280085, 0.672501, 0.047413}, {-0.011820, 0.042940, 0.968881}}};
const Mat3 kTritan = {
    {{1.255528, -0.076749, -0.178779}, {-0.078411, 0.930809, 0.147602}, {0.004733, 0.691367, 0.303900}}};

}  // namespace

Vec3 srgb_to_lab(Rgb c) {
  const Vec3 l = to_linear(c);
  // linear sRGB -> XYZ (IEC 61966-2-1), normalised by the D65 white
  const double X = (0.4124564 * l[0] + 0.3575761 * l[1] + 0.1804375 * l[2]) / 0.95047;
  const double Y = 0.2126729 * l[0] + 0.7151522 * l[1] + 0.0721750 * l[2];
  const double Z = (0.0193339 * l[0] + 0.1191920 * l[1] + 0.9503041 * l[2]) / 1.08883;
  const double fx = lab_f(X), fy = lab_f(Y), fz = lab_f(Z);
  return {116 * fy - 16, 500 * (fx - fy), 200 * (fy - fz)};
}

double delta_e76(Rgb a, Rgb b) {
  const Vec3 p = srgb_to_lab(a), q = srgb_to_lab(b);
  return std::sqrt((p[0] - q[0]) * (p[0] - q[0]) + (p[1] - q[1]) * (p[1] - q[1]) + (p[2] - q[2]) * (p[2] - q[2]));
}

Rgb simulate(Rgb c, Deficiency d) {
  if (d == Deficiency::None) return c;
  const Mat3& m = d == Deficiency::Protanopia ? kProtan : d == Deficiency::Deuteranopia ? kDeutan : kTritan;
  const Vec3 l = to_linear(c);
  Vec3 s{};
  for (int i = 0; i < 3; ++i) s[i] = m[i][0] * l[0] + m[i][1] * l[1] + m[i][2] * l[2];
  return {encode(s[0]), encode(s[1]), encode(s[2])};
}

Tensor simulate_image(const Tensor& rgb, Deficiency d) {
  LB_CHECK(rgb.dtype() == DType::UInt8 && rgb.dim() == 3 && rgb.size(2) == 3,
           "simulate_image: expected uint8 (H, W, 3), got " << rgb.str());
  Tensor out = rgb.clone();
  uint8_t* p = out.data<uint8_t>();
  for (int64_t i = 0; i < out.size(0) * out.size(1); ++i) {
    const Rgb s = simulate({p[3 * i], p[3 * i + 1], p[3 * i + 2]}, d);
    p[3 * i] = s.r, p[3 * i + 1] = s.g, p[3 * i + 2] = s.b;
  }
  return out;
}

}  // namespace lb::explain
