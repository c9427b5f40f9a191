// report_html.h: report.html, one self-contained page (every image inline as a data URI, no
// script or style from elsewhere) that tells a run's whole story: the data, the training curves,
// the metrics with their CIs, ROC and confusion matrix, the statistical comparison of two models,
// and the explanations per method and confusion cell with their numbers.
//
// It reads what the other commands wrote into RUN_DIR; every number on the page comes from
// those files:
//   RUN_DIR/history.json ...           a single training run, or
//   RUN_DIR/<model>/history.json       several (`lightbox demo` writes baseline/ and tuned/)
//   <run>/config.json, figures/*.svg, eval-test/{metrics.json, roc.svg, confusion.svg}
//   RUN_DIR/compare/compare.json       `lightbox compare A B --out RUN_DIR/compare`
//   RUN_DIR/compare/explain/<name>/agreement.json, difference.svg   (`compare --explain`)
//   RUN_DIR/explain/**/summary.json, figure.svg                     (`lightbox explain`)
// Missing parts are left out with a line saying which command makes them.
//
// A small inline script marks <body data-status="ok"> once every image has loaded
// (img.complete && naturalWidth > 0), or "broken:N"; data-errors counts script errors. The
// browser test (tests/cli/test_cli_report.cc) reads these from headless Chromium.
#pragma once

#include <string>

namespace lb::cli {

// Builds the page for RUN_DIR; `data_override` replaces the dataset path found in config.json.
std::string build_report_html(const std::string& run_dir, const std::string& data_override = "");
// Writes RUN_DIR/report.html atomically and returns its path.
std::string write_report(const std::string& run_dir, const std::string& data_override = "");

}  // namespace lb::cli
