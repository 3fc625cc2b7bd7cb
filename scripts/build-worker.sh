#!/usr/bin/env bash
# Builds the Rust Worker into worker/build/ with local tools only: worker-build would
# otherwise download wasm-bindgen, wasm-opt and esbuild from outside the registries.
# wrangler runs this as its [build] command, on every `wrangler dev` start and reload.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"

# Tests start many `wrangler dev`s against one build: they build once and set this.
if [ "${CONFAB_SKIP_WORKER_BUILD:-}" = 1 ] && [ -f "$root/worker/build/index.js" ]; then
  exit 0
fi

export WASM_BINDGEN_BIN="${WASM_BINDGEN_BIN:-$(command -v wasm-bindgen)}"
export WASM_OPT_BIN="${WASM_OPT_BIN:-$root/node_modules/.bin/wasm-opt}"
# wrangler's esbuild ships one native package per platform (npm installs only this one's).
case "$(uname -m)" in x86_64 | amd64) arch=x64 ;; aarch64 | arm64) arch=arm64 ;; *) arch="$(uname -m)" ;; esac
platform="$(uname -s | tr '[:upper:]' '[:lower:]')-$arch"
export ESBUILD_BIN="${ESBUILD_BIN:-$root/node_modules/@esbuild/$platform/bin/esbuild}"
for bin in "$WASM_BINDGEN_BIN" "$WASM_OPT_BIN" "$ESBUILD_BIN"; do
  # A missing *_BIN only warns inside worker-build, then it tries to download: fail here.
  [ -x "$bin" ] || { echo "build-worker: missing $bin; run scripts/setup.sh" >&2; exit 1; }
done

cd "$root/worker"
exec worker-build --release
