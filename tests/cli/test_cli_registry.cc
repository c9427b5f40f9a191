// test_cli_registry.cc: the command line lists exactly the registered explainers
// (explain/registry.h): `lightbox explain --help` offers every name for --method, a flag for every
// explainer option and a line per method; `assess --help` defaults --methods to all of them; an
// unknown method gets the registered names back.
#include <gtest/gtest.h>

#include <sstream>

#include "explain/registry.h"
#include "tests/support/check.h"
#include "tests/support/cli.h"
#include "tests/support/tiny_dataset.h"

namespace lb {
namespace {

// The set CLI11 prints after "--method TEXT:{", split at commas.
std::vector<std::string> method_choices(const std::string& help) {
  const std::string start = "--method TEXT:{";
  const size_t a = help.find(start);
  if (a == std::string::npos) return {};
  const size_t b = help.find('}', a);
  std::vector<std::string> out;
  std::stringstream ss(help.substr(a + start.size(), b - a - start.size()));
  for (std::string item; std::getline(ss, item, ',');) out.push_back(item);
  return out;
}

TEST(CliRegistry, ExplainHelpShowsTheRegisteredNamesAndOptions) {
  const std::string dir = test::fresh_dir();
  const auto r = test::run_cli(dir, "explain --help");
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_EQ(method_choices(r.out), explain::explainer_names()) << r.out;
  for (const explain::ExplainerOption& o : explain::explainer_options())
    EXPECT_NE(r.out.find("--" + o.name + " "), std::string::npos) << o.name;
  for (const explain::Explainer& e : explain::explainers())
    EXPECT_NE(r.out.find("  " + e.name + " "), std::string::npos) << e.name << " in the list of methods";
}

TEST(CliRegistry, AssessDefaultsToEveryExplainer) {
  const std::string dir = test::fresh_dir();
  const auto r = test::run_cli(dir, "assess --help");
  ASSERT_EQ(r.code, 0) << r.err;
  const std::string all = explain::join_names(explain::explainer_names(), ",", ",");
  EXPECT_NE(r.out.find("--methods TEXT=" + all), std::string::npos) << r.out;
}

TEST(CliRegistry, UnknownMethodGetsTheRegisteredNames) {
  const std::string dir = test::fresh_dir();
  const auto r = test::run_cli(dir, "explain --method lime --weights w --out o");
  EXPECT_NE(r.code, 0);
  const std::string listed = "{" + explain::join_names(explain::explainer_names(), ",", ",") + "}";
  EXPECT_NE((r.out + r.err).find(listed), std::string::npos) << r.err;
}

}  // namespace
}  // namespace lb
