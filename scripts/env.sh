# Sourced by the other scripts: where the tools are, and the settings that keep wrangler,
# trunk and Chromium offline and quiet.
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
# node_modules/.bin first: wrangler needs the Node 22 that npm installs there.
export PATH="$root/node_modules/.bin:${CARGO_HOME:-$HOME/.cargo}/bin:$PATH"
export WRANGLER_SEND_METRICS=false
export CLOUDFLARE_CF_FETCH_ENABLED=false
# Chromium and wrangler leave temporary files behind: keep them inside the project.
export TMPDIR="$root/.tmp"
mkdir -p "$TMPDIR"
step() { printf '\n\033[1;34m== %s\033[0m\n' "$*"; }
