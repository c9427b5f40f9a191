#!/usr/bin/env bash
# check_function_size.sh SOURCE_DIR BUILD_DIR: no production function (base/, engine/, models/,
# explain/, tools/cli/, python/src/; the C++ files) is longer than 80 lines, counted by clang-tidy-14's
# readability-function-size on the build's compile_commands.json (their headers too), so the count is the compiler's
# view of the function and not a guess from braces. A function over the limit is split where its
# steps are (the style guide: one function, one job). The CUDA files (kernels/, lab/) are built by
# nvcc, whose commands clang-tidy cannot replay; they are measured by hand in docs/layout.md.
set -euo pipefail
src=${1:?usage: check_function_size.sh SOURCE_DIR BUILD_DIR}
build=${2:?usage: check_function_size.sh SOURCE_DIR BUILD_DIR}
command -v clang-tidy-14 >/dev/null || { echo "clang-tidy-14 not found; install it (tools/test.sh does: apt-get install clang-tidy-14)" >&2; exit 1; }
[ -f "$build/compile_commands.json" ] || { echo "no $build/compile_commands.json; configure with CMAKE_EXPORT_COMPILE_COMMANDS=ON" >&2; exit 1; }
cd "$src"
mapfile -t files < <(find engine models explain tools/cli -name '*.cc' | sort)
# python/src when the build has the Python module (LB_PYTHON=ON: tools/test.sh's build does).
if grep -q '/python/src/' "$build/compile_commands.json"; then
  mapfile -t -O "${#files[@]}" files < <(find python/src -name '*.cc' | sort)
fi
# Headers of the same folders are checked where a .cc includes them (each warning printed once).
config='{Checks: "-*,readability-function-size", HeaderFilterRegex: "/(base|engine|models|explain|tools/cli|python/src)/.*\\.h$", CheckOptions: [{key: readability-function-size.LineThreshold, value: 80}]}'
out=$(printf '%s\n' "${files[@]}" | xargs -P "$(nproc)" -n 4 clang-tidy-14 -p "$build" --quiet --config="$config" 2>/dev/null || true)
long=$(grep -E 'warning: function .* exceeds|note: [0-9]+ lines' <<<"$out" | awk '!seen[$0]++' || true)
if [ -n "$long" ]; then
  echo "$long"
  echo "check_function_size.sh: functions above are over 80 lines; split them into named steps" >&2
  exit 1
fi
echo "check_function_size.sh: ${#files[@]} files, every function at most 80 lines"
