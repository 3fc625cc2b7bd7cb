#!/usr/bin/env bash
# `make ui`: the page from `trunk serve` (http://127.0.0.1:8080, rebuilt on save) against
# the API of a `wrangler dev` on :8787, started here and stopped on exit.
set -euo pipefail
source "$(dirname "$0")/env.sh"
cd "$root"
CONFAB_NEED_BROWSER=0 bash scripts/setup.sh
[ -f dist/index.html ] || trunk build
wrangler dev --ip 127.0.0.1 --port 8787 --show-interactive-dev-session=false \
  --var "ALLOWED_ORIGINS:http://127.0.0.1:8080,http://localhost:8080" &
wrangler_pid=$!
trap 'kill -- -$wrangler_pid 2>/dev/null || kill $wrangler_pid 2>/dev/null || true' EXIT
# The page opens its socket straight to :8787 (see Trunk.toml for why).
CONFAB_WS_ORIGIN=ws://127.0.0.1:8787 trunk serve
