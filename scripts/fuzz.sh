#!/usr/bin/env bash
# `make fuzz`: coverage-guided fuzzing of frame parsing + the room (fuzz/), for a bounded time
# (FUZZ_SECONDS, default 600). Not part of `make test`. Needs cargo-fuzz (installed here from
# crates.io) and libFuzzer's nightly-only flags, which the stable toolchain accepts with
# RUSTC_BOOTSTRAP=1. Crashes land in fuzz/artifacts/; the corpus grows in fuzz/corpus/.
set -euo pipefail
source "$(dirname "$0")/env.sh"
cd "$root"
command -v cargo-fuzz >/dev/null || cargo install cargo-fuzz --version 0.13.2 --locked
corpus=fuzz/corpus/frames_and_room
if [ ! -d "$corpus" ]; then
  mkdir -p "$corpus"
  # Seeds: two members join, then each of a sample of the hostile frames.
  python3 - "$corpus" <<'PY'
import json, sys
out = sys.argv[1]
join = b'\x00\xff\x01alice\xff\x00\xff\x09bob\xff'
rows = [json.loads(l) for l in open('shared/tests/data/hostile-frames.jsonl')]
valid = [b'{"type":"send","data":{"client_id":"c1","text":"hi"}}', b'{"type":"typing","data":{}}',
         b'{"type":"history","data":{"before":5,"limit":10}}']
seeds = [join + b'\x02' + v + b'\xff\x0a' + v + b'\xff\x06\xff\x02' + v for v in valid]
seeds += [join + b'\x02' + r['text'].encode()[:4000] for r in rows[::20] if 'text' in r]
for i, s in enumerate(seeds):
    open(f'{out}/seed-{i:03}', 'wb').write(s)
PY
fi
cd fuzz
RUSTC_BOOTSTRAP=1 cargo fuzz run frames_and_room corpus/frames_and_room -- \
  -max_total_time="${FUZZ_SECONDS:-600}" -max_len=8192 -rss_limit_mb=4096
