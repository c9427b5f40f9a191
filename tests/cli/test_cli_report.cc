// test_cli_report.cc: `compare --explain` and `lightbox report` as a user runs them, and the
// report opened in headless Chromium.
//
// One small study (built once, in the test that reads it): a ResNet18 trained for an epoch on a tiny 28x28 dataset (its curves and
// metrics), the explain fixture model compared with itself under --explain (so the agreement
// must be perfect: Spearman 1, top-k overlap 1), then report.html. Chromium loads the page; the
// page's inline script marks <body data-status="ok"> only if every <img> decoded
// (complete && naturalWidth > 0), and counts script errors in data-errors. A screenshot is kept
// at $TMPDIR/lightbox_report_screenshot.png (gtest's TempDir) for a person to look at.
// Without Chromium (Debian package `chromium`, which tools/test.sh installs) the browser test
// skips with a message.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <regex>

#include <nlohmann/json.hpp>

#include "engine/io/file.h"
#include "tests/support/check.h"
#include "tests/support/cli.h"
#include "tests/support/tiny_dataset.h"

namespace lb {
namespace {

using nlohmann::json;
using test::one_error_line;
using test::quoted;
namespace fs = std::filesystem;

const std::string kFixModel = std::string(LB_FIXTURES_DIR) + "/explain/model.safetensors";

int count(const std::string& s, const std::string& what) {
  int n = 0;
  for (size_t p = s.find(what); p != std::string::npos; p = s.find(what, p + 1)) ++n;
  return n;
}

std::string find_chromium() {
  for (const char* name : {"chromium", "chromium-browser", "google-chrome"})
    if (std::system(("command -v " + std::string(name) + " >/dev/null 2>&1").c_str()) == 0) return name;
  return "";
}

// The small study, built in `d` (ctest runs every test in its own process, so the study is made
// once, inside the one test that reads it).
void build_study(const std::string& d) {
  test::TinySpec spec;
  spec.size = 28;  // the fixture model's input size
  test::write_tiny_dataset(d + "/tiny.npz", spec);
  const std::string data = " --data " + quoted(d + "/tiny.npz");
  for (const std::string& args :
       {"train --quiet --threads 2 --epochs 1" + data + " --out " + quoted(d + "/run/model"),
        "eval --quiet --threads 2 --bootstrap 50 --run " + quoted(d + "/run/model"),
        "compare " + quoted(kFixModel) + " " + quoted(kFixModel) + data + " --out " + quoted(d + "/run/compare") +
            " --explain deep,gradient@layer4 --names a,b --explain-dir " + quoted(d + "/run/explain") +
            " --background 8 --nsamples 8 --quiet --threads 2",
        "report " + quoted(d + "/run") + data}) {
    const test::CliResult r = test::run_cli(d, args);
    ASSERT_EQ(r.code, 0) << args << "\n" << r.out << r.err;
  }
}

// The same model explained twice must agree perfectly, and the numbers must add up.
void check_agreement_and_summaries(const std::string& d) {
  const std::string run = d + "/run";
  for (const char* name : {"deep-input", "gradient-layer4"}) {
    const json a = json::parse(io::read_file(run + "/compare/explain/" + std::string(name) + "/agreement.json"));
    EXPECT_NEAR(a["mean_spearman"].get<double>(), 1.0, 1e-12) << name;
    EXPECT_DOUBLE_EQ(a["mean_top_k_overlap"].get<double>(), 1.0) << name;
    ASSERT_FALSE(a["samples"].empty());
    EXPECT_TRUE(a["samples"][0].contains("cell")) << "B's explanations carry A's cells";
    EXPECT_TRUE(fs::exists(run + "/compare/explain/" + std::string(name) + "/difference.svg"));
  }
  const json s = json::parse(io::read_file(run + "/explain/b/deep-input/summary.json"));
  ASSERT_FALSE(s["samples"].empty());
  for (const auto& smp : s["samples"]) {
    EXPECT_TRUE(smp.contains("cell"));
    for (const auto& c : smp["numbers"]) {
      EXPECT_NEAR(c["net"].get<double>(), c["positive"].get<double>() + c["negative"].get<double>(), 1e-9);
      // DeepSHAP is exact on this model: net = f(x) - E f(background) up to float32 rounding
      EXPECT_NEAR(c["net"].get<double>(), c["output"].get<double>() - c["expected"].get<double>(), 1e-4);
      EXPECT_GT(c["lung_share"].get<double>(), 0.0);
      EXPECT_LT(c["lung_share"].get<double>(), 1.0);
    }
  }
  const std::string svg = io::read_file(run + "/explain/a/gradient-layer4/figure.svg");
  EXPECT_NE(svg.find("upsampled 2x2 -&gt; 28x28, nearest"), std::string::npos);  // layer4's input (layer3's output)
}

// Every section is there, every image is inline, and the numbers come from the run's files.
void check_html(const std::string& d) {
  const std::string html = io::read_file(d + "/run/report.html");
  for (const char* id :
       {"id=\"data\"", "id=\"training\"", "id=\"metrics\"", "id=\"comparison\"", "id=\"explanations\""})
    EXPECT_NE(html.find(id), std::string::npos) << id;
  EXPECT_EQ(html.find("src=\"http"), std::string::npos);
  EXPECT_EQ(html.find("href=\"http"), std::string::npos);
  EXPECT_EQ(count(html, "<img "), count(html, "src=\"data:image/"));
  EXPECT_GE(count(html, "<img "), 8 + 4 + 4 + 2 + 4);  // samples, curves + ROC/confusion, strips, differences, figures
  const json m = json::parse(io::read_file(d + "/run/model/eval-test/metrics.json"));
  char auc[32];
  std::snprintf(auc, sizeof auc, "%.3f", m["at_val_threshold"]["auc"].get<double>());
  EXPECT_NE(html.find(std::string("<td>") + auc), std::string::npos) << "the AUC in metrics.json, " << auc;
  EXPECT_NE(html.find("<td>train</td><td>24 (50%)</td><td>24 (50%)</td>"), std::string::npos);  // the class balance
}

// The study end to end: compare --explain, the report, then the report in headless Chromium.
TEST(Report, StudyReportOpensInHeadlessChromiumWithEveryImageLoaded) {
  const std::string d = test::fresh_dir("study");
  build_study(d);
  if (HasFatalFailure()) return;
  check_agreement_and_summaries(d);
  check_html(d);
  const std::string chromium = find_chromium();
  if (chromium.empty()) GTEST_SKIP() << "chromium is not installed (apt-get install chromium; tools/test.sh does it)";
  const std::string url = "file://" + fs::absolute(d + "/run/report.html").string();
  const std::string flags =
      " --headless --disable-gpu --no-sandbox --hide-scrollbars --enable-logging=stderr --v=0"
      " --user-data-dir=" +
      quoted(d + "/chromium-profile") + " --virtual-time-budget=10000 ";
  ASSERT_EQ(std::system((chromium + flags + "--dump-dom " + quoted(url) + " > " + quoted(d + "/dom.html") + " 2> " +
                         quoted(d + "/chromium.err"))
                            .c_str()),
            0);
  const std::string dom = io::read_file(d + "/dom.html"), err = io::read_file(d + "/chromium.err");
  const std::string html = io::read_file(d + "/run/report.html");
  std::smatch m;
  ASSERT_TRUE(std::regex_search(dom, m, std::regex("<body[^>]*>"))) << dom.substr(0, 500);
  const std::string body = m.str();
  EXPECT_NE(body.find("data-status=\"ok\""), std::string::npos) << body;
  EXPECT_NE(body.find("data-errors=\"0\""), std::string::npos) << body;
  EXPECT_NE(body.find("data-images=\"" + std::to_string(count(html, "<img ")) + "\""), std::string::npos) << body;
  EXPECT_EQ(err.find("Uncaught"), std::string::npos) << err;
  EXPECT_FALSE(std::regex_search(err, std::regex("CONSOLE.*(rror|Failed)"))) << err;
  const std::string shot = d + "/report.png";
  ASSERT_EQ(std::system((chromium + flags + "--window-size=1400,3000 --screenshot=" + quoted(shot) + " " + quoted(url) +
                         " > /dev/null 2>&1")
                            .c_str()),
            0);
  ASSERT_TRUE(fs::exists(shot));
  EXPECT_EQ(io::read_file(shot).substr(1, 3), "PNG");
  fs::copy_file(shot, ::testing::TempDir() + "lightbox_report_screenshot.png", fs::copy_options::overwrite_existing);
}

// explain --simulate writes the grid as dichromats see it; --opacity changes the overlay.
TEST(Report, ExplainSimulatesColourVisionAndTakesOpacity) {
  const std::string d = test::fresh_dir("sim"), out = d + "/sim";
  test::TinySpec spec;
  spec.size = 28;
  test::write_tiny_dataset(d + "/tiny.npz", spec);
  const std::string base = "explain --method deep --weights " + quoted(kFixModel) + " --data " +
                           quoted(d + "/tiny.npz") + " --select tp,fp,fn,tn --background 4 --quiet --threads 2";
  const std::string common = base + " --simulate protanopia,deuteranopia,tritanopia";
  ASSERT_EQ(test::run_cli(d, common + " --out " + quoted(out)).code, 0);
  ASSERT_EQ(test::run_cli(d, common + " --opacity 0.3 --out " + quoted(out + "-faint")).code, 0);
  const std::string grid = io::read_file(out + "/grid.png");
  for (const char* kind : {"protanopia", "deuteranopia", "tritanopia"}) {
    const std::string sim = io::read_file(out + "/grid-" + std::string(kind) + ".png");
    EXPECT_EQ(sim.substr(1, 3), "PNG");
    EXPECT_NE(sim, grid) << kind;
  }
  EXPECT_NE(io::read_file(out + "-faint/grid.png"), grid);
  EXPECT_TRUE(one_error_line(test::run_cli(d, base + " --simulate achromatopsia --out " + quoted(out + "-bad")),
                             {"achromatopsia"}));
}

TEST(ReportCli, BadInput) {
  const std::string dir = test::fresh_dir("report-bad");
  EXPECT_TRUE(one_error_line(test::run_cli(dir, "report " + quoted(dir + "/nope")), {"is not a folder"}));
  fs::create_directories(dir + "/empty");
  EXPECT_TRUE(one_error_line(test::run_cli(dir, "report " + quoted(dir + "/empty")), {"no history.json"}));
  EXPECT_TRUE(
      one_error_line(test::run_cli(dir, "compare " + quoted(kFixModel) + " " + quoted(kFixModel) +
                                            " --explain deep --out " + quoted(dir + "/c") + " --names x,x --quiet"),
                     {"--names"}));
}

}  // namespace
}  // namespace lb
