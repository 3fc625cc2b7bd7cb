#!/usr/bin/env bash
# Builds the production bundle without an account (`wrangler deploy --dry-run`) and reports
# the sizes that matter: the Worker (Cloudflare's free plan caps it at 3 MiB gzip) and the
# page (wasm + js + css), raw, gzip and brotli. Fails if the Worker is over the cap.
set -euo pipefail
source "$(dirname "$0")/env.sh"
cd "$root"
out="$root/target/bundle"
rm -rf "$out"
wrangler deploy --dry-run --outdir "$out" >"$out.log" 2>&1 || { cat "$out.log"; exit 1; }
node - "$out" "$root/dist" <<'JS'
const fs = require('fs'), path = require('path'), zlib = require('zlib');
const [out, dist] = process.argv.slice(2);
const files = (dir) => fs.readdirSync(dir, { recursive: true }).map((f) => path.join(dir, f)).filter((f) => fs.statSync(f).isFile());
const gz = (b) => zlib.gzipSync(b, { level: 9 }).length;
const br = (b) => zlib.brotliCompressSync(b, { params: { [zlib.constants.BROTLI_PARAM_QUALITY]: 11 } }).length;
const kb = (n) => `${(n / 1024).toFixed(1)} KiB`;
let worker = 0, workerGz = 0;
for (const f of files(out)) { const b = fs.readFileSync(f); worker += b.length; workerGz += gz(b); }
console.log(`worker bundle: ${kb(worker)} raw, ${kb(workerGz)} gzip (limit 3072 KiB gzip)`);
let raw = 0, g = 0, r = 0;
for (const f of files(dist).filter((f) => /\.(wasm|js|css)$/.test(f))) {
  const b = fs.readFileSync(f); raw += b.length; g += gz(b); r += br(b);
  console.log(`  page ${path.basename(f)}: ${kb(b.length)} raw, ${kb(gz(b))} gzip, ${kb(br(b))} brotli`);
}
console.log(`page (wasm+js+css): ${kb(raw)} raw, ${kb(g)} gzip, ${kb(r)} brotli`);
if (workerGz > 3 * 1024 * 1024) { console.error('worker bundle is over 3 MiB gzip'); process.exit(1); }
JS
