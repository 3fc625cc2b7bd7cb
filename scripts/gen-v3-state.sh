#!/usr/bin/env bash
# Writes itest/fixtures/v3-state/: the Durable Object storage of a room written by the last
# schema 3 build (commit db1670e: protocol 2 before rooms had owners), for the upgrade test in
# itest/tests/owners.rs. Made like itest/fixtures/v1-state (see scripts/gen-v1-state.sh).
# Not part of any test run: run it again only to regenerate the fixture. It builds that commit
# in a temporary git worktree, serves it with wrangler dev on loopback, drives a room with
# scripts/gen-v1-state.mjs, and keeps the room's SQLite files.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
# The project's own Node (wrangler needs 22+), as every script here uses.
export PATH="$root/node_modules/.bin:$PATH"
rev=db1670eba6ce96ac39786baafa9b2eb53d23e2ac
tmp="$(mktemp -d)"
wt="$tmp/confab-v3"
pid=""
cleanup() {
  if [ -n "$pid" ]; then kill -- "-$pid" 2>/dev/null || true; fi
  git -C "$root" worktree remove --force "$wt" 2>/dev/null || true
  rm -rf "$tmp"
}
trap cleanup EXIT

git -C "$root" worktree add --detach "$wt" "$rev" >/dev/null
ln -s "$root/node_modules" "$wt/node_modules"
mkdir -p "$wt/dist" && echo '<!doctype html><title>v3</title>' > "$wt/dist/index.html"
# A target dir of its own: sharing one between two checkouts of the same crates lets cargo
# take one's artifacts for the other's (workspace members are hashed without their path).
(cd "$wt" && CARGO_TARGET_DIR="$root/target/v3-build" bash scripts/build-worker.sh)

port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
state="$tmp/state"
(
  cd "$wt"
  # Its own process group, stopped by the trap.
  exec setsid env CONFAB_SKIP_WORKER_BUILD=1 WRANGLER_SEND_METRICS=false CI=true \
    "$root/node_modules/.bin/wrangler" dev --ip 127.0.0.1 --port "$port" --persist-to "$state" \
    --inspector-port "$((port + 1))" --show-interactive-dev-session=false
) > "$tmp/wrangler.log" 2>&1 &
pid=$!
up=0
for _ in $(seq 1 300); do
  if curl -sf "http://127.0.0.1:$port/api/rooms/health" >/dev/null 2>&1; then up=1; break; fi
  sleep 0.2
done
[ "$up" = 1 ] || { cat "$tmp/wrangler.log" >&2; exit 1; }
node "$root/scripts/gen-v3-state.mjs" "$port"
kill -- "-$pid"
wait "$pid" 2>/dev/null || true
pid=""

out="$root/itest/fixtures/v3-state"
rm -rf "$out"
mkdir -p "$out"
# Only the Durable Objects' storage: that is what the migration reads.
cp -r "$state/v3/do" "$out/"
# Fold each write-ahead log into its database, and keep only rooms that hold messages (the
# health check's read made an object with no tables).
python3 - "$out" <<'PY'
import glob, os, sqlite3, sys
for f in glob.glob(os.path.join(sys.argv[1], "do", "*", "*.sqlite")):
    if os.path.basename(f) == "metadata.sqlite":
        continue
    c = sqlite3.connect(f)
    c.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    rooms = c.execute("SELECT count(*) FROM sqlite_master WHERE name = 'posts'").fetchone()[0]
    c.close()
    if not rooms:
        os.remove(f)
for f in glob.glob(os.path.join(sys.argv[1], "do", "*", "*-wal")) + glob.glob(os.path.join(sys.argv[1], "do", "*", "*-shm")):
    os.remove(f)
PY
echo "wrote $out:"
find "$out" -type f | sed "s|$root/||"
