// test_strings.cc (label cpu): split() (base/strings.h), the one reader of the comma and colon
// lists in options and specs: every rule its header states, each on the smallest input that shows
// it, and the agreement with std::getline, the reader it replaced, on every short list.
#include <gtest/gtest.h>

#include <sstream>
#include <string>
#include <vector>

#include "base/strings.h"

namespace lb {
namespace {

using Items = std::vector<std::string>;

TEST(Split, ItemsBetweenSeparators) {
  EXPECT_EQ(split("gradient,deep,ig", ','), (Items{"gradient", "deep", "ig"}));
  EXPECT_EQ(split("step:3:0.1", ':'), (Items{"step", "3", "0.1"}));
  EXPECT_EQ(split("one", ','), (Items{"one"}));
  EXPECT_EQ(split("a:b,c", ','), (Items{"a:b", "c"})) << "only the separator given splits";
}

TEST(Split, ATrailingSeparatorEndsTheLastItem) {
  EXPECT_EQ(split("a,b,", ','), (Items{"a", "b"}));
  EXPECT_EQ(split("", ','), Items{});
  EXPECT_EQ(split(",", ','), (Items{""}));
}

TEST(Split, EmptyItemsAreKeptOrSkipped) {
  EXPECT_EQ(split("a,,b", ','), (Items{"a", "", "b"}));
  EXPECT_EQ(split(",a", ','), (Items{"", "a"}));
  EXPECT_EQ(split("a,,b", ',', Empty::Skip), (Items{"a", "b"}));
  EXPECT_EQ(split(",a,,", ',', Empty::Skip), (Items{"a"}));
  EXPECT_EQ(split(",,,", ',', Empty::Skip), Items{});
}

TEST(Split, WhitespaceIsKeptAsWritten) {
  EXPECT_EQ(split("a, b ,c", ','), (Items{"a", " b ", "c"}));
  EXPECT_EQ(split(" ", ','), (Items{" "}));
}

// Every list of up to 5 characters from {a, ',', ' '}: the same items as reading the string with
// std::getline, item by item (what each caller did before split() existed).
TEST(Split, AgreesWithGetlineOnEveryShortList) {
  const std::string alphabet = "a, ";
  std::vector<std::string> inputs = {""};
  for (size_t len = 1, first = 0; len <= 5; ++len) {
    const size_t last = inputs.size();
    for (size_t i = first; i < last; ++i)
      for (char ch : alphabet) inputs.push_back(inputs[i] + ch);
    first = last;
  }
  for (const std::string& s : inputs) {
    Items want;
    std::stringstream ss(s);
    for (std::string item; std::getline(ss, item, ',');) want.push_back(item);
    EXPECT_EQ(split(s, ','), want) << "'" << s << "'";
  }
}

}  // namespace
}  // namespace lb
