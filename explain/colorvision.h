// colorvision.h: how a colour looks to a reader with a colour-vision deficiency, and how far
// apart two colours look. Used to check that lightbox's attribution colormaps stay readable for
// the ~8% of men and ~0.5% of women with a deficiency (red-green, the protan and deutan types,
// is by far the commonest; blue-yellow, tritan, is rare).
//
// Simulation: Machado, Oliveira & Fernandes, "A Physiologically-based Model for Simulation of
// Color Vision Deficiency", IEEE TVCG 15(6), 2009, the severity-1.0 matrices (dichromacy: the
// cone type is missing), applied to LINEAR RGB (sRGB decoded with the IEC 61966-2-1 curve), then
// clipped to [0, 1] and encoded back. Applying them to gamma-encoded values, a common mistake,
// exaggerates dark colours' shifts.
//
// Colour difference: CIELAB (D65 white) and CIE76 dE*ab = Euclidean distance in L*a*b*. A dE of
// about 2.3 is a "just noticeable difference" (Sharma 2003); lightbox asks for far more between
// the two ends of a diverging map (see tests/explain/test_colorvision.cc for the thresholds).
#pragma once

#include <array>
#include <string>

#include "explain/render.h"

namespace lb::explain {

enum class Deficiency { None, Protanopia, Deuteranopia, Tritanopia };
Deficiency parse_deficiency(const std::string& s);  // "none" | "protanopia" | "deuteranopia" | "tritanopia"
const char* to_string(Deficiency d);

using Vec3 = std::array<double, 3>;

double srgb_to_linear(double c);  // c in [0, 1]
double linear_to_srgb(double c);
Vec3 srgb_to_lab(Rgb c);         // (L* in [0, 100], a*, b*), D65
double delta_e76(Rgb a, Rgb b);  // CIE76 colour difference

// The colour a dichromat of type d sees (severity 1.0), as sRGB.
Rgb simulate(Rgb c, Deficiency d);

// A whole uint8 (H, W, 3) image through simulate().
Tensor simulate_image(const Tensor& rgb, Deficiency d);

}  // namespace lb::explain
