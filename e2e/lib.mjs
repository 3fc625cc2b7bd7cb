// Shared helpers for the browser tests: a `wrangler dev` of our own on a free loopback port
// (stopped by its process-group PID, also on failure or Ctrl-C) and a headless Chromium.
import { spawn } from 'node:child_process';
import { mkdtempSync, openSync, readFileSync, mkdirSync } from 'node:fs';
import { createServer } from 'node:net';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';

export const root = join(dirname(fileURLToPath(import.meta.url)), '..');
export const outDir = join(root, 'target', 'e2e');
mkdirSync(outDir, { recursive: true });

export function freePort() {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
  });
}

const started = [];
function stopAll() {
  for (const child of started.splice(0)) {
    try { process.kill(-child.pid, 'SIGKILL'); } catch { /* already gone */ }
  }
}
process.on('exit', stopAll);
for (const sig of ['SIGINT', 'SIGTERM']) process.on(sig, () => { stopAll(); process.exit(130); });

/** Starts `wrangler dev` with a fresh state dir; resolves to { url, stop }. */
export async function startServer(vars = {}) {
  const port = await freePort();
  const inspector = await freePort();
  const state = mkdtempSync(join(outDir, 'state-'));
  const logPath = join(state, 'wrangler.log');
  const log = openSync(logPath, 'a');
  const args = ['dev', '--ip', '127.0.0.1', '--port', String(port), '--inspector-port', String(inspector),
    '--persist-to', state, '--show-interactive-dev-session=false', '--log-level', 'warn'];
  for (const [k, v] of Object.entries(vars)) args.push('--var', `${k}:${v}`);
  const child = spawn(join(root, 'node_modules/.bin/wrangler'), args, {
    cwd: root,
    detached: true, // own process group: wrangler and its workerd stop together
    stdio: ['ignore', log, log],
    env: { ...process.env, CONFAB_SKIP_WORKER_BUILD: '1', WRANGLER_SEND_METRICS: 'false', CLOUDFLARE_CF_FETCH_ENABLED: 'false' },
  });
  started.push(child);
  const url = `http://127.0.0.1:${port}`;
  const deadline = Date.now() + 60_000;
  while (Date.now() < deadline) {
    if (child.exitCode !== null) throw new Error(`wrangler exited: ${readFileSync(logPath, 'utf8')}`);
    try {
      const r = await fetch(`${url}/api/rooms/health-check`);
      if (r.ok) break;
    } catch { /* not up yet */ }
    await new Promise((r) => setTimeout(r, 200));
  }
  if (Date.now() >= deadline) throw new Error(`wrangler did not start: ${readFileSync(logPath, 'utf8')}`);
  return {
    url,
    stop() {
      try { process.kill(-child.pid, 'SIGKILL'); } catch { /* already gone */ }
      const i = started.indexOf(child);
      if (i >= 0) started.splice(i, 1);
    },
  };
}

/** Headless Debian Chromium with the flags these machines need (see README). */
export function launchBrowser() {
  return chromium.launch({
    executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
    args: ['--no-sandbox', '--disable-gpu', '--disable-dev-shm-usage', '--disable-quic', '--no-first-run',
      '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  });
}

const results = [];
/** Runs one named step; a failure is recorded (with a screenshot of `page` if given). */
export async function step(name, fn, page) {
  const t0 = Date.now();
  try {
    await fn();
    results.push(`step ${name} ... ok (${((Date.now() - t0) / 1000).toFixed(1)} s)`);
    console.log(results.at(-1));
  } catch (e) {
    console.log(`step ${name} ... FAILED\n    ${String(e?.stack || e).split('\n').slice(0, 6).join('\n    ')}`);
    if (page) await page.screenshot({ path: join(outDir, `failed-${name}.png`) }).catch(() => {});
    throw e;
  }
}

export function assert(cond, msg) {
  if (!cond) throw new Error(msg);
}



/**
 * A TCP proxy in front of the server, for one browser: `cut()` drops every connection
 * without a close frame and refuses new ones (the network is gone), `restore()` lets them
 * through again. The page is loaded through it, so its origin is the proxy's.
 */
export async function startProxy(targetPort) {
  const net = await import('node:net');
  const sockets = new Set();
  const webSockets = new Set();
  let up = true;
  let socketsUp = true;
  const server = net.createServer((client) => {
    if (!up) { client.destroy(); return; }
    client.on('error', () => {});
    client.once('data', (first) => {
      const isWebSocket = /^upgrade:\s*websocket/im.test(first.toString('latin1'));
      if (!up || (isWebSocket && !socketsUp)) { client.destroy(); return; }
      const upstream = net.connect(targetPort, '127.0.0.1');
      for (const s of [client, upstream]) {
        sockets.add(s);
        if (isWebSocket) webSockets.add(s);
        s.on('close', () => { sockets.delete(s); webSockets.delete(s); });
        s.on('error', () => {});
      }
      upstream.write(first);
      client.pipe(upstream).pipe(client);
      client.on('close', () => upstream.destroy());
      upstream.on('close', () => client.destroy());
    });
  });
  const port = await new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve(server.address().port)));
  return {
    url: `http://127.0.0.1:${port}`,
    /** The network is gone: every connection dropped, new ones refused. */
    cut() { up = false; for (const s of sockets) s.destroy(); },
    /** Only WebSockets fail (pages still load): a flaky network or a blocking proxy. */
    cutSockets() { socketsUp = false; for (const s of webSockets) s.destroy(); },
    restore() { up = true; socketsUp = true; },
    close() { up = false; for (const s of sockets) s.destroy(); server.close(); },
  };
}

/** Puts `n` messages into `room` over protocol v1 (20 per member, within the rate limit). */
export async function seed(serverUrl, room, n) {
  const wsUrl = `${serverUrl.replace('http', 'ws')}/api/rooms/${room}/ws`;
  for (let sent = 0, member = 0; sent < n; member++) {
    const ws = new WebSocket(wsUrl);
    const batch = Math.min(20, n - sent);
    await new Promise((resolve, reject) => {
      let acked = 0;
      const timer = setTimeout(() => reject(new Error(`seeding ${room} timed out`)), 20_000);
      ws.onopen = () => {
        const name = `seeder${member}`;
        ws.send(JSON.stringify({ type: 'join', data: { name, key: `${name}`.padEnd(40, '_') } }));
      };
      ws.onmessage = (ev) => {
        const f = JSON.parse(ev.data);
        if (f.type === 'welcome') {
          for (let i = 0; i < batch; i++) {
            ws.send(JSON.stringify({ type: 'send', data: { client_id: `s${sent + i}`, text: `seeded message ${sent + i + 1}` } }));
          }
        } else if (f.type === 'ack' && ++acked === batch) {
          clearTimeout(timer);
          resolve();
        } else if (f.type === 'error') {
          reject(new Error(`seeding: ${ev.data}`));
        }
      };
      ws.onerror = () => reject(new Error('seeding socket failed'));
    });
    ws.close();
    sent += batch;
  }
}
