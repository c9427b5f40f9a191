#!/usr/bin/env bash
# check_format.sh SOURCE_DIR: every C++ and CUDA file of the tree follows .clang-format.
# clang-format-14 --dry-run -Werror prints each place that differs and fails; fix with
#   clang-format-14 -i --style=file FILE...
set -euo pipefail
src=${1:?usage: check_format.sh SOURCE_DIR}
cd "$src"
command -v clang-format-14 >/dev/null || { echo "clang-format-14 not found; install it (tools/test.sh does: apt-get install clang-format-14)" >&2; exit 1; }
mapfile -t files < <(find base kernels engine models explain lab tools tests python \
  \( -name '*.cc' -o -name '*.h' -o -name '*.cu' -o -name '*.cuh' \) -not -path 'tests/fixtures/*' | sort)
[ ${#files[@]} -gt 100 ] || { echo "check_format.sh: found only ${#files[@]} files under $src; wrong directory?" >&2; exit 1; }
clang-format-14 --style=file --dry-run -Werror "${files[@]}"
echo "check_format.sh: ${#files[@]} files follow .clang-format"
