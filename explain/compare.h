// compare.h: how alike two explanations of the same images are (model A vs model B, or method
// vs method): the seed report's "tuned vs untuned" question, answered with numbers.
//
// For each image n and output k, on the pictures (N, K, 1, H, W) (channels summed; layers
// upsampled):
//   spearman   Spearman's rank correlation of the two maps over the H*W pixels (Pearson's r of
//              the ranks, ties given their average rank): 1 = same ordering of pixels, 0 =
//              unrelated, -1 = reversed. Signed values, so "same pixels, opposite sign" is -1.
//   top_k      |top-k(|A|) & top-k(|B|)| / k with k = top_fraction * H * W (10% by default): do
//              the two explanations point at the same most important pixels, whatever the sign?
//              Ties at the k-th value are broken by pixel index. Chance level is about top_fraction.
//   difference B - A, drawn with the same colormap on one symmetric scale.
#pragma once

#include <cstdint>
#include <vector>

#include <nlohmann/json.hpp>

#include "engine/tensor.h"

namespace lb::explain {

double spearman(const std::vector<double>& a, const std::vector<double>& b);
double top_k_overlap(const std::vector<double>& a, const std::vector<double>& b, int64_t k);

struct MapAgreement {
  double spearman = 0, top_k = 0;
  int64_t k = 0;
};

// a, b (N, K, 1, H, W) of the same shape; returns [n][k].
std::vector<std::vector<MapAgreement>> compare_maps(const Tensor& a, const Tensor& b, double top_fraction = 0.1);
// b - a as float64.
Tensor difference_maps(const Tensor& a, const Tensor& b);

nlohmann::json to_json(const MapAgreement& m);

}  // namespace lb::explain
