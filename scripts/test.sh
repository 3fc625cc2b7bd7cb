#!/usr/bin/env bash
# `make test`: install what is missing, then every check and test, in the order that fails
# fastest. Every server and browser the tests start is stopped by them, also on failure.
set -euo pipefail
source "$(dirname "$0")/env.sh"
cd "$root"
bash scripts/setup.sh

step "format"
cargo fmt --all --check

step "clippy (native)"
cargo clippy --workspace --all-targets --locked -- -D warnings
step "clippy (wasm32)"
cargo clippy -p confab-shared -p confab-worker -p confab-frontend --target wasm32-unknown-unknown --locked -- -D warnings
# The page's component tests are wasm-only (the other crates' tests use proptest, native only).
cargo clippy -p confab-frontend --target wasm32-unknown-unknown --tests --locked -- -D warnings

step "native tests: protocol, room rules, routes, view state"
cargo test --workspace --exclude confab-itest --locked

step "component tests in headless Chromium (wasm-bindgen-test)"
CHROMEDRIVER=/usr/bin/chromedriver WASM_BINDGEN_TEST_WEBDRIVER_JSON="$root/frontend/webdriver.json" \
  cargo test -p confab-frontend --target wasm32-unknown-unknown --lib --locked

step "build the page (trunk, release)"
bash scripts/build-page.sh
step "build the Worker (worker-build, release)"
bash scripts/build-worker.sh
export CONFAB_SKIP_WORKER_BUILD=1

step "build the programs (confab, the feeder, the mention bot) the integration tests run"
cargo build -p confab-cli -p confab-feeder -p confab-mention-bot --locked

step "integration: protocol 2, owners, bots, webhooks and the programs against wrangler dev"
cargo test -p confab-itest --locked

step "browser: two people chat in headless Chromium"
node e2e/chat.mjs

step "browser: an owner moderates, a bot streams its answer (headless Chromium)"
node e2e/owners.mjs

step "browser: you across rooms: sidebar counts, drafts, a DM notified, a second tab, a phone (headless Chromium)"
node e2e/inbox.mjs

step "benchmark smoke run (the tool works; figures come from make bench)"
cargo run --release --locked -p confab-bench -- --smoke

step "production bundle (wrangler deploy --dry-run)"
bash scripts/size.sh
echo
echo "all checks passed"
