# tools/lib/common.sh: shared by tools/demo.sh and tools/test.sh.
#   lb_ensure_packages PKG...   installs the Debian packages that are missing (apt-get, as root)
#   lb_build [cmake args...]    configures and builds into ./build (Release), all cores; everything,
#                               or only $LB_BUILD_TARGET when set (tools/demo.sh: the CLI alone)
#   lb_python_venv DIR          makes DIR a Python venv with what the Python package needs to build
#                               and test (nanobind, numpy, pytest), from PyPI the first time only
#   lb_build_asan               configures and builds ./build-asan: clang, ASan + UBSan, the
#                               libFuzzer targets, no CUDA (tools/test.sh, tools/fuzz.sh)

LB_PACKAGES_BUILD=(build-essential cmake pkg-config libopenblas-dev libomp-dev libgtest-dev
  nlohmann-json3-dev libzip-dev libcli11-dev libstb-dev libdnnl-dev)
# tools/test.sh only: the sanitizer build and the fuzzers (docs/reliability.md); chromium for the
# report.html browser test (tests/cli/test_cli_report.cc); clang-format-14 and clang-tidy-14 for the
# lint tests (tests/lint: the layout of every file, the length of every function).
# python3-dev and python3-venv: the Python package (python/, docs/12-python.md), built and tested in a venv.
LB_PACKAGES_TEST=(clang-14 libclang-rt-14-dev chromium clang-format-14 clang-tidy-14 python3-dev python3-venv)
# nanobind pinned: the committed type stubs are its stubgen's output (tests/python/test_stubs.py).
LB_PYTHON_REQUIREMENTS=(nanobind==3.1.0 numpy pytest)

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

lb_python_venv() {
  local venv=${1:?usage: lb_python_venv DIR} py=python3
  [ -x /usr/bin/python3 ] && py=/usr/bin/python3  # Debian's, whose headers python3-dev installs
  [ -x "$venv/bin/python" ] || "$py" -m venv "$venv"
  "$venv/bin/python" -c "import nanobind, numpy, pytest" 2>/dev/null && return 0
  echo "lightbox: installing ${LB_PYTHON_REQUIREMENTS[*]} into $venv (PyPI)"
  if ! "$venv/bin/python" -m pip install -q --disable-pip-version-check --timeout 30 --retries 2 \
    "${LB_PYTHON_REQUIREMENTS[@]}"; then
    echo "lightbox: error: could not install ${LB_PYTHON_REQUIREMENTS[*]} from PyPI (offline?); install them" \
      "into $venv by hand, or skip the Python package: LB_PYTHON=0 tools/test.sh" >&2
    return 1
  fi
}

lb_build_asan() {
  # -O1 with line tables: reports name file and line, and the build stays quick on two cores.
  cmake -S . -B build-asan -DCMAKE_BUILD_TYPE=Release -DCMAKE_CXX_COMPILER=clang++-14 \
    -DCMAKE_CXX_FLAGS_RELEASE="-O1 -gline-tables-only" -DLB_CUDA=OFF -DLB_SANITIZE=address,undefined \
    -DLB_FUZZ=ON "$@" >/dev/null
  cmake --build build-asan -j"$(nproc)"
}
