# scripts/lib/common.sh: shared by the README's commands.  Installs what is
# missing (Debian 12 with apt, or macOS with Homebrew), and builds.
# Sourced, not run.

CUMULUS_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)

say() { printf '\033[1m==> %s\033[0m\n' "$*" >&2; }
die() { printf 'error: %s\n' "$*" >&2; exit 1; }

as_root() {
  if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi
}

# Debian package names for each need; `deps_install build test` installs the union.
DEB_build="build-essential cmake pkg-config libmicrohttpd-dev libjansson-dev libsqlite3-dev libssl-dev libyaml-dev libcurl4-openssl-dev libisofs-dev libwebsockets-dev libvncserver-dev libpng-dev libsystemd-dev curl"
DEB_run="qemu-utils qemu-system-x86 qemu-system-arm ovmf qemu-efi-aarch64 jq openssh-client"
# chromium: the browser tier drives Debian's /usr/bin/chromium (never a browser download).
# systemd: systemd-analyze and systemd-sysusers check the units (tests/dist/).
# valgrind: integration.leak_check runs a build of the webui without sanitizers under memcheck.
DEB_test="libcmocka-dev cloud-init openssh-client sqlite3 genisoimage util-linux iproute2 cpio chromium systemd valgrind"
DEB_bench="wrk jq cloud-image-utils websockify"
# fuzz: clang with libFuzzer for fuzz/run (the fuzz pass of scripts/test).
DEB_fuzz="clang-14 libclang-rt-14-dev"
BREW_build="cmake pkg-config libmicrohttpd jansson sqlite openssl@3 libyaml curl libisofs libwebsockets libvncserver libpng node"
BREW_run="qemu jq"
BREW_test="cmocka cdrtools"
BREW_bench="wrk"
# Apple's clang has no libFuzzer: `brew install llvm` and CC=$(brew --prefix llvm)/bin/clang
# for fuzz/run; scripts/test skips the fuzz pass without it.
BREW_fuzz=""

deps_install() {
  case "$(uname -s)" in
    Linux) deps_install_debian "$@" ;;
    Darwin) deps_install_brew "$@" ;;
    *) die "unsupported system $(uname -s): Cumulus runs on Debian/Ubuntu Linux and macOS" ;;
  esac
}

deps_install_debian() {
  command -v dpkg >/dev/null || die "this script needs a Debian-based system (dpkg/apt-get)"
  local want="" missing="" group var pkg
  for group in "$@"; do var="DEB_$group"; want="$want ${!var}"; done
  for pkg in $want; do
    dpkg -s "$pkg" >/dev/null 2>&1 || missing="$missing $pkg"
  done
  # Node.js and npm: the build fetches the dashboard's noVNC and xterm.js
  # with npm (webui/package-lock.json), the tests run on node.  Any node >=
  # 18 will do, from wherever: so by command, not by Debian package
  # (NodeSource's nodejs bundles npm and conflicts with Debian's npm).
  if [[ " $* " == *" build "* || " $* " == *" test "* ]]; then
    command -v node >/dev/null || missing="$missing nodejs"
    command -v npm >/dev/null || missing="$missing npm"
  fi
  if [ -n "$missing" ]; then
    say "installing:$missing"
    as_root apt-get update -qq
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $missing >/dev/null
  fi
}

deps_install_brew() {
  command -v brew >/dev/null || die "install Homebrew first: https://brew.sh"
  local want="" group var f
  for group in "$@"; do var="BREW_$group"; want="$want ${!var}"; done
  for f in $want; do
    brew list --formula "$f" >/dev/null 2>&1 || brew install "$f"
  done
  # cloud-init is not in Homebrew; the schema check of rendered user-data uses its CLI.
  if [[ " $* " == *" test "* ]] && ! command -v cloud-init >/dev/null; then
    python3 -m pip install --user --quiet cloud-init jsonschema
  fi
  export PKG_CONFIG_PATH="$(brew --prefix openssl@3)/lib/pkgconfig:$(brew --prefix libyaml)/lib/pkgconfig:${PKG_CONFIG_PATH:-}"
}

ncpu() { getconf _NPROCESSORS_ONLN 2>/dev/null || sysctl -n hw.ncpu; }

# build DIR [cmake args...]
build() {
  local dir=$1; shift
  say "building in $dir"
  cmake -S "$CUMULUS_ROOT" -B "$dir" "$@" >/dev/null
  cmake --build "$dir" -j "$(ncpu)" >/dev/null || cmake --build "$dir" -j 1
}
