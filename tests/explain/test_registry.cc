// test_registry.cc: the table of explainers (explain/registry.h). Every registered name runs on a
// tiny model through the one runner signature and returns maps of the documented shape (at the
// input, and at a layer where the entry says it can); the entries are well formed (unique names,
// a description, options whose names are flags); an unknown name, a layer the method cannot
// explain, an option nobody declares or one of the wrong type each get one clear error that
// names what is registered. The CLI's side (its --help lists exactly these names) is in
// tests/cli/test_cli_registry.cc.
#include <gtest/gtest.h>

#include <set>

#include "explain/registry.h"
#include "models/resnet.h"
#include "tests/support/check.h"

namespace lb::explain {
namespace {

using test::expect_error;

// A width-4 ResNet18 on 1 x 28 x 28 images with 2 logits, in eval mode: big enough for every
// layer to exist, small enough that every explainer finishes in a moment.
struct TinyModel {
  Generator gen{7};
  models::ResNet18 model{1, 2, gen, 4};
  TinyModel() { model.eval(); }
};

// The cheapest settings every explainer accepts.
ExplainerSettings cheap(const std::string& layer = "input") {
  ExplainerSettings s;
  s.layer = layer;
  s.options = {{"nsamples", int64_t{4}}, {"max-evals", int64_t{20}}, {"steps", int64_t{4}}};
  return s;
}

TEST(ExplainerRegistry, EntriesAreWellFormed) {
  ASSERT_FALSE(explainers().empty());
  std::set<std::string> names;
  for (const Explainer& e : explainers()) {
    EXPECT_TRUE(names.insert(e.name).second) << "registered twice: " << e.name;
    EXPECT_FALSE(e.title.empty()) << e.name;
    EXPECT_FALSE(e.description.empty()) << e.name;
    EXPECT_EQ(e.description.find('\n'), std::string::npos) << e.name << ": one line";
    EXPECT_TRUE(static_cast<bool>(e.run)) << e.name;
    EXPECT_EQ(find_explainer(e.name), &e);
    for (const ExplainerOption& o : e.options) {
      EXPECT_FALSE(o.name.empty()) << e.name;
      EXPECT_EQ(o.name.find_first_not_of("abcdefghijklmnopqrstuvwxyz-"), std::string::npos) << o.name;
      EXPECT_FALSE(o.help.empty()) << o.name;
    }
  }
  std::vector<std::string> in_order;
  for (const Explainer& e : explainers()) in_order.push_back(e.name);
  EXPECT_EQ(explainer_names(), in_order);
  EXPECT_EQ(find_explainer("lime"), nullptr);
}

TEST(ExplainerRegistry, SharedOptionNamesHaveOneType) {
  // explainer_options() keeps the first declaration of a name: every other one must agree on it.
  const std::vector<ExplainerOption> all = explainer_options();
  for (const Explainer& e : explainers())
    for (const ExplainerOption& o : e.options) {
      int found = 0;
      for (const ExplainerOption& a : all)
        if (a.name == o.name) {
          ++found;
          EXPECT_EQ(a.default_value.index(), o.default_value.index()) << o.name;
        }
      EXPECT_EQ(found, 1) << o.name;
    }
}

TEST(ExplainerRegistry, EveryExplainerRunsAndReturnsMapsOfTheRightShape) {
  TinyModel tm;
  const Explained f{tm.model, ModelOutput::Logits};
  const Tensor x = test::random_tensor({2, 1, 28, 28}, 1, DType::Float32);
  const Tensor bg = test::random_tensor({3, 1, 28, 28}, 2, DType::Float32);
  for (const Explainer& e : explainers()) {
    SCOPED_TRACE(e.name);
    const Attribution a = run_explainer(e.name, f, x, e.needs_background ? bg : Tensor(), cheap());
    EXPECT_EQ(a.method, e.name);
    EXPECT_EQ(a.layer, "input");
    EXPECT_EQ(a.values.shape(), (Shape{2, 2, 1, 28, 28}));
    EXPECT_EQ(a.values.dtype(), DType::Float64);
    EXPECT_EQ(a.outputs.shape(), (Shape{2, 2}));
    if (!e.layers) continue;
    // layer1's input: the stem's 4 channels at 7x7 for width 4 at 28x28
    const Attribution l = run_explainer(e.name, f, x, bg, cheap("layer1"));
    EXPECT_EQ(l.layer, "layer1");
    EXPECT_EQ(l.values.shape(), (Shape{2, 2, 4, 7, 7}));
  }
}

TEST(ExplainerRegistry, UnknownNameListsTheRegisteredOnes) {
  TinyModel tm;
  const Explained f{tm.model, ModelOutput::Logits};
  const Tensor x = test::random_tensor({1, 1, 28, 28}, 1, DType::Float32);
  std::vector<std::string> want = {"unknown method", "lime"};
  for (const std::string& n : explainer_names()) want.push_back(n);
  const std::string err = test::error_of([&] { run_explainer("lime", f, x, x, cheap()); });
  for (const std::string& p : want) EXPECT_NE(err.find(p), std::string::npos) << p << " in: " << err;
  EXPECT_EQ(join_names({"a", "b", "c"}, ", ", " or "), "a, b or c");
  EXPECT_EQ(join_names({"a"}, ", ", " or "), "a");
}

TEST(ExplainerRegistry, RefusesLayersAndOptionsItDoesNotKnow) {
  TinyModel tm;
  const Explained f{tm.model, ModelOutput::Logits};
  const Tensor x = test::random_tensor({1, 1, 28, 28}, 1, DType::Float32);
  for (const Explainer& e : explainers())
    if (!e.layers) expect_error([&] { run_explainer(e.name, f, x, x, cheap("layer1")); }, {e.name, "input only"});
  const std::string any = explainers().front().name;
  ExplainerSettings s = cheap();
  s.options["nsample"] = int64_t{4};
  expect_error([&] { run_explainer(any, f, x, x, s); }, {"no explainer", "nsample"});
  s = cheap();
  s.options["nsamples"] = 4.0;
  expect_error([&] { run_explainer(any, f, x, x, s); }, {"nsamples", "must be an integer"});
}

}  // namespace
}  // namespace lb::explain
