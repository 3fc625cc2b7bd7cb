#!/usr/bin/env bash
# `make dev`: install what is missing, build the page and the Worker, and serve both on
# http://127.0.0.1:8787 with Durable Object state on disk (.wrangler/state), so history
# survives a restart. Ctrl-C stops it.
set -euo pipefail
source "$(dirname "$0")/env.sh"
cd "$root"
# A dev server needs no browser: Chromium is installed for `make test` only.
CONFAB_NEED_BROWSER=0 bash scripts/setup.sh
step "building the page (trunk)"
bash scripts/build-page.sh
step "starting wrangler dev"
echo "Open http://127.0.0.1:8787 — two windows, one room, and chat."
# ALLOW_PRIVATE_WEBHOOKS: bots here run on this machine (examples/), so the room may call
# loopback addresses. A deployment leaves it unset: webhooks must be public URLs there.
exec wrangler dev --ip 127.0.0.1 --port 8787 --show-interactive-dev-session=false \
  --var ALLOW_PRIVATE_WEBHOOKS:1 "$@"
