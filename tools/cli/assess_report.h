// assess_report.h: the printed table and the curve figure of `lightbox assess` (assess.cc makes
// the numbers; this file only lays them out).
#pragma once

#include <ostream>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace lb::cli {

// Two tables: localisation + faithfulness + seconds per image, one row per method; then, when
// sanity checks ran, the Spearman rho (and SSIM) after each randomisation step.
void print_assessment(const nlohmann::json& result, const std::vector<std::string>& methods, std::ostream& os);

// An SVG of the mean deletion (left) and insertion (right) curves of every method, with the
// random orderings dashed.
std::string curves_svg(const nlohmann::json& result, const std::vector<std::string>& methods);

}  // namespace lb::cli
