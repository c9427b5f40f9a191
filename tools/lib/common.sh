# tools/lib/common.sh: shared by tools/demo.sh and tools/test.sh.
#   lb_ensure_packages PKG...   installs the Debian packages that are missing (apt-get, as root)
#   lb_build [cmake args...]    configures and builds into ./build (Release), all cores

LB_PACKAGES_BUILD=(build-essential cmake pkg-config libopenblas-dev libomp-dev libgtest-dev
  nlohmann-json3-dev libzip-dev libcli11-dev libstb-dev)

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
  cmake --build build -j"$(nproc)"
}
