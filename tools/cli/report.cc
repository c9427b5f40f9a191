// report.cc: `lightbox report RUN_DIR`: writes RUN_DIR/report.html, one self-contained page with
// the data, training curves, metrics, comparison and explanations found in RUN_DIR
// (tools/cli/report_html.h lists what it reads).
//
//   lightbox report runs/demo
//   lightbox report runs/seed --data data/pneumoniamnist.npz
#include <iostream>

#include "tools/cli/commands.h"
#include "tools/cli/report_html.h"

namespace lb::cli {

namespace {

struct ReportOptions {
  std::string dir, data;
};

}  // namespace

Command report_command() {
  return {"report", [](CLI::App& app) -> std::function<int()> {
            auto o = std::make_shared<ReportOptions>();
            CLI::App* sub = app.add_subcommand(
                "report", "report.html: data, curves, metrics, comparison and explanations of a run");
            sub->add_option("RUN_DIR", o->dir, "a run folder (lightbox train --out, or lightbox demo's)")->required();
            sub->add_option("--data", o->data, "MedMNIST .npz (default: the one in the run's config.json)");
            return [o] {
              std::cout << "wrote " << write_report(o->dir, o->data) << "\n";
              return 0;
            };
          }};
}

}  // namespace lb::cli
