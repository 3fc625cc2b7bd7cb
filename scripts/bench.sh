#!/usr/bin/env bash
# `make bench`: builds the page and the Worker, then runs the room benchmarks (confab-bench,
# against its own wrangler dev with the rate limit raised) and the page benchmark (headless
# Chromium), and prints the bundle sizes. Extra arguments go to confab-bench, e.g.
# `make bench ARGS="--only fanout --reps 1"`.
set -euo pipefail
source "$(dirname "$0")/env.sh"
cd "$root"
bash scripts/setup.sh
bash scripts/build-page.sh
bash scripts/build-worker.sh
export CONFAB_SKIP_WORKER_BUILD=1
step "room benchmarks"
cargo run --release --locked -p confab-bench -- ${ARGS:-} "$@"
step "page benchmark"
node e2e/page-bench.mjs
step "page benchmark: 200 reactions arriving on a page holding 2,000 messages"
node e2e/burst-bench.mjs
step "sizes"
bash scripts/size.sh
