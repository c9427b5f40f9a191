# tools/lib/common.sh: shared by tools/demo.sh and tools/test.sh.
#   lb_ensure_packages PKG...   installs the Debian packages that are missing (apt-get, as root)
#   lb_build [cmake args...]    configures and builds into ./build (Release), all cores; everything,
#                               or only $LB_BUILD_TARGET when set (tools/demo.sh: the CLI alone)
#   lb_build_asan               configures and builds ./build-asan: clang, ASan + UBSan, the
#                               libFuzzer targets, no CUDA (tools/test.sh, tools/fuzz.sh)

LB_PACKAGES_BUILD=(build-essential cmake pkg-config libopenblas-dev libomp-dev libgtest-dev
  nlohmann-json3-dev libzip-dev libcli11-dev libstb-dev libdnnl-dev)
# tools/test.sh only: the sanitizer build and the fuzzers (docs/reliability.md); chromium for the
# report.html browser test (tests/cli/test_cli_report.cc); clang-format-14 and clang-tidy-14 for the
# lint tests (tests/lint: the layout of every file, the length of every function).
LB_PACKAGES_TEST=(clang-14 libclang-rt-14-dev chromium clang-format-14 clang-tidy-14)

lb_ensure_packages() {
  local missing=()
  for p in "$@"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
  done
  [ ${#missing[@]} -eq 0 ] && return 0
  echo "lightbox: installing missing Debian packages: ${missing[*]}"
  if [ "$(id -u)" -ne 0 ]; then
    echo "lightbox: not root; run: sudo apt-get install -y ${missing[*]}" >&2
    return 1
  fi
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
}

lb_build() {
  cmake -S . -B build -DCMAKE_BUILD_TYPE=Release "$@" >/dev/null
  cmake --build build -j"$(nproc)" ${LB_BUILD_TARGET:+--target "$LB_BUILD_TARGET"}
}

lb_build_asan() {
  # -O1 with line tables: reports name file and line, and the build stays quick on two cores.
  cmake -S . -B build-asan -DCMAKE_BUILD_TYPE=Release -DCMAKE_CXX_COMPILER=clang++-14 \
    -DCMAKE_CXX_FLAGS_RELEASE="-O1 -gline-tables-only" -DLB_CUDA=OFF -DLB_SANITIZE=address,undefined \
    -DLB_FUZZ=ON "$@" >/dev/null
  cmake --build build-asan -j"$(nproc)"
}
