// strings.h: reading a list written on one line, "gradient,deep,ig" -> {"gradient", "deep", "ig"}.
//
// Command-line options and spec strings hold short lists: --methods gradient,deep, --select tp,fn,
// --augment shift=2,rotate=10, masker blur(28,28), --schedule step:3:0.1. split() is the one reader
// of all of them, so every list in lightbox follows the same rules, written down here:
//
//   - A separator ends an item, the way a newline ends a line of a text file, so a trailing
//     separator adds no empty item: "a,b" and "a,b," both give {"a", "b"}, and "" gives {}.
//     (This is how std::getline reads a stream item by item, which is what the callers used.)
//   - Two separators in a row, or one at the start, make an empty item: "a,,b" gives
//     {"a", "", "b"} and ",a" gives {"", "a"}. Empty::Keep returns them, so a caller can refuse
//     them with its own message; Empty::Skip leaves them out, so "a,,b" reads as "a,b".
//   - Items are returned exactly as written: no whitespace is trimmed ("a, b" gives {"a", " b"}).
//     A caller that allows spaces after the separator strips them itself.
//
// Header-only, below every layer (base/), so kernels, the engine, the explainers and the CLI can
// all use it.
#pragma once

#include <string>
#include <vector>

namespace lb {

// What split() does with an empty item ("a,,b"): return it, or leave it out.
enum class Empty { Keep, Skip };

// The items of `s` between the separators `sep` (the rules are at the top of this file).
inline std::vector<std::string> split(const std::string& s, char sep, Empty empty = Empty::Keep) {
  std::vector<std::string> items;
  size_t start = 0;  // where the next item begins
  while (start < s.size()) {
    size_t end = s.find(sep, start);
    if (end == std::string::npos) end = s.size();
    if (end > start || empty == Empty::Keep) items.push_back(s.substr(start, end - start));
    start = end + 1;  // past the separator; past the end when this was the last item
  }
  return items;
}

}  // namespace lb
