#!/usr/bin/env bash
# Builds the page for production: trunk (release, wasm-opt -Oz), then finish-page.mjs (boot
# script out of index.html, security headers in dist/_headers).
set -euo pipefail
source "$(dirname "$0")/env.sh"
cd "$root"
trunk build --release
node scripts/finish-page.mjs dist
