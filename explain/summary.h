// summary.h: the numbers printed under every attribution picture, and the lung-field mask.
//
// For each explained image n and model output k:
//   positive  sum of the positive attributions   (evidence FOR output k)
//   negative  sum of the negative attributions   (evidence AGAINST; <= 0)
//   net       positive + negative = sum(values), which completeness says is f(x) - E f
//   gap       f(x) - expected - net: how far an estimate is from completeness (NaN if undefined)
//   lung_share  sum of |map| inside the lung fields / sum of |map| everywhere, on the picture's
//             map (channels summed; a layer's map upsampled to the image)
//   lung_area   the share of the picture the mask covers: what lung_share would be if the
//             attribution were spread evenly, so lung_share > lung_area means "looks at the lungs"
// positive/negative/net are taken over the raw values (every channel of a layer), where
// completeness holds; lung_share over the drawn picture, so the number describes what you see.
//
// The lung-field mask: a FIXED pair of ellipses in normalised image coordinates, not a mask fitted
// to the data. Why: PneumoniaMNIST is Kermany's pediatric chest X-rays, centre-cropped and resized
// to 28x28, so the lungs sit in the same two regions of every image; a fixed shape is the same for
// every model, run and image (so shares compare), needs no segmentation model, and can be drawn
// exactly as an outline on the figure. A threshold of the mean image was the alternative: it picks
// out the bright mediastinum and shoulders as well as the dark lungs, and changes with the data.
// The ellipses (x right, y down, both in [0, 1] of width and height; the patient's right lung on
// the image's left): centres (0.30, 0.52) and (0.70, 0.52), semi-axes 0.18 wide and 0.34 high.
// They are a coarse prior, not anatomy: docs/09-pictures-and-report.md shows them on the mean image.
#pragma once

#include <cstdint>
#include <vector>

#include <nlohmann/json.hpp>

#include "engine/tensor.h"
#include "explain/explain.h"

namespace lb::explain {

struct Ellipse {
  double cx, cy, rx, ry;  // normalised [0, 1] coordinates
};
// The two lung-field ellipses described above.
std::vector<Ellipse> lung_ellipses();
// (H, W) uint8 mask, 1 inside either ellipse (pixel centres at ((j + 0.5) / W, (i + 0.5) / H)).
Tensor lung_mask(int64_t H, int64_t W);

struct CellNumbers {
  double positive = 0, negative = 0, net = 0, gap = 0, lung_share = 0, lung_area = 0;
  double output = 0, expected = 0;  // f(x)_k and the reference it is compared with (NaN if none)
};

// values (N, K, C, h, w) (raw attribution), maps (N, K, 1, H, W) (the pictures), the attribution
// for its outputs/expected/gaps. Returns [n][k].
std::vector<std::vector<CellNumbers>> summarise(const Attribution& a, const Tensor& maps);

nlohmann::json to_json(const CellNumbers& c);

}  // namespace lb::explain
