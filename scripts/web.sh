#!/usr/bin/env bash
# The web wallet: crates/fog-web compiled to wasm32 + web/ (the page), served by
# `fogd local-network --web ADDR`.
#
#   scripts/web.sh build   check the toolchain, build the wasm, run wasm-bindgen into web/pkg/
#   scripts/web.sh test    install what is missing (Debian packages, wasm-bindgen-cli, npm
#                          packages), build, then run web/tests/e2e.mjs: a real local network,
#                          the page in headless Chromium driven by Playwright
#   scripts/web.sh size    the wasm's size, raw and gzipped (-9)
#
# The wasm is built with Debian's rustc-web (it ships a wasm32 std as source: -Z build-std),
# linked by wasm-ld-19, in its own target directory (FOG_WASM_TARGET_DIR, default
# ~/.cache/fog-wasm-target) so it never mixes with the native toolchain's artifacts.
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
WASM_TARGET_DIR=${FOG_WASM_TARGET_DIR:-$HOME/.cache/fog-wasm-target}
NATIVE_TARGET_DIR=${CARGO_TARGET_DIR:-$ROOT/target}
PKG="$ROOT/web/pkg"
DEB_RUSTC=/usr/bin/rustc
DEB_CARGO=/usr/bin/cargo
RUST_SRC=/usr/lib/rustlib/src/rust/library
LINKER=wasm-ld-19
APT_TOOLCHAIN="rustc-web cargo-web rust-web-src lld-19"

die() { echo "scripts/web.sh: $*" >&2; exit 1; }

# The wasm-bindgen version in Cargo.lock: the CLI must be exactly the same.
bindgen_version() {
  awk '/^name = "wasm-bindgen"$/ { getline; gsub(/version = |"/, ""); print; exit }' "$ROOT/Cargo.lock"
}

bindgen_bin() { echo "${WASM_BINDGEN:-$HOME/.cargo/bin/wasm-bindgen}"; }

check_toolchain() {
  [ -x "$DEB_RUSTC" ] && "$DEB_RUSTC" --version >/dev/null 2>&1 ||
    die "$DEB_RUSTC is missing: apt-get install -y $APT_TOOLCHAIN"
  [ -x "$DEB_CARGO" ] || die "$DEB_CARGO is missing: apt-get install -y $APT_TOOLCHAIN"
  [ -d "$RUST_SRC/std" ] ||
    die "the std sources ($RUST_SRC) are missing: apt-get install -y rust-web-src"
  command -v "$LINKER" >/dev/null || die "$LINKER is missing: apt-get install -y lld-19"
  local want have bin
  want=$(bindgen_version)
  [ -n "$want" ] || die "no wasm-bindgen in Cargo.lock"
  bin=$(bindgen_bin)
  [ -x "$bin" ] || die "wasm-bindgen $want is missing: cargo install wasm-bindgen-cli --version =$want"
  have=$("$bin" --version | awk '{print $2}')
  [ "$have" = "$want" ] ||
    die "wasm-bindgen is $have but Cargo.lock has $want: cargo install wasm-bindgen-cli --version =$want --force"
}

build() {
  check_toolchain
  echo "building fog-web for wasm32-unknown-unknown with $("$DEB_RUSTC" --version)" >&2
  (
    cd "$ROOT"
    # getrandom 0.3 (snow) needs its JavaScript back end chosen by cfg as well as by feature.
    # No debug info and size-minded optimisation: the page downloads this file.
    RUSTFLAGS="-C linker=$LINKER --cfg getrandom_backend=\"wasm_js\"" \
      RUSTC_BOOTSTRAP=1 RUSTC="$DEB_RUSTC" CARGO_TARGET_DIR="$WASM_TARGET_DIR" \
      CARGO_PROFILE_RELEASE_DEBUG=0 CARGO_PROFILE_RELEASE_OPT_LEVEL=s \
      "$DEB_CARGO" build --release -p fog-web --target wasm32-unknown-unknown \
      -Z build-std=std,panic_abort
  )
  rm -rf "$PKG"
  "$(bindgen_bin)" --target web --no-typescript --out-dir "$PKG" \
    "$WASM_TARGET_DIR/wasm32-unknown-unknown/release/fog_web.wasm"
  echo "wrote $PKG:" >&2
  ls -l "$PKG" >&2
}

size() {
  local wasm="$PKG/fog_web_bg.wasm"
  [ -f "$wasm" ] || die "$wasm is missing: run scripts/web.sh build first"
  echo "fog_web_bg.wasm: $(stat -c %s "$wasm") bytes, $(gzip -9 -c "$wasm" | wc -c) bytes gzipped (-9)"
  echo "fog_web.js:      $(stat -c %s "$PKG/fog_web.js") bytes, $(gzip -9 -c "$PKG/fog_web.js" | wc -c) bytes gzipped (-9)"
}

install_missing() {
  local missing=()
  for p in $APT_TOOLCHAIN; do
    dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p")
  done
  # By command, not package: node may come from elsewhere (NodeSource's nodejs bundles npm
  # and conflicts with Debian's npm package).
  [ -x /usr/bin/chromium ] || missing+=(chromium)
  command -v node >/dev/null || missing+=(nodejs)
  command -v npm >/dev/null || missing+=(npm)
  if [ ${#missing[@]} -gt 0 ]; then
    echo "installing ${missing[*]}" >&2
    [ "$(id -u)" = 0 ] || die "missing Debian packages (${missing[*]}) and not root"
    apt-get update
    DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends "${missing[@]}"
  fi
  local want bin
  want=$(bindgen_version)
  bin=$(bindgen_bin)
  if ! [ -x "$bin" ] || [ "$("$bin" --version | awk '{print $2}')" != "$want" ]; then
    echo "installing wasm-bindgen-cli $want" >&2
    # --locked first; its lock file may name crate versions the registry mirror lacks.
    cargo install wasm-bindgen-cli --version "=$want" --locked --force ||
      cargo install wasm-bindgen-cli --version "=$want" --force
  fi
}

test_e2e() {
  install_missing
  build
  size
  echo "building fogd and fog-wallet (native)" >&2
  (cd "$ROOT" && CARGO_TARGET_DIR="$NATIVE_TARGET_DIR" cargo build -p fogd -p fog-wallet)
  command -v node >/dev/null || die "node is missing: apt-get install -y nodejs npm"
  [ -x "${CHROMIUM:-/usr/bin/chromium}" ] || die "chromium is missing: apt-get install -y chromium"
  # Copies of the binaries just built: a shared target directory may be rebuilt meanwhile.
  BIN_DIR=$(mktemp -d)
  trap 'rm -rf "$BIN_DIR"' EXIT
  cp "$NATIVE_TARGET_DIR/debug/fogd" "$NATIVE_TARGET_DIR/debug/fog-wallet" "$BIN_DIR/"
  (cd "$ROOT/web/tests" && PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 npm ci --no-audit --no-fund)
  FOGD="$BIN_DIR/fogd" FOG_WALLET="$BIN_DIR/fog-wallet" node "$ROOT/web/tests/e2e.mjs"
}

case "${1:-}" in
  build) build ;;
  test) test_e2e ;;
  size) size ;;
  *) die "usage: scripts/web.sh build|test|size" ;;
esac
