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
    '--persist-to', state, '--show-interactive-dev-session=false', '--log-level', process.env.E2E_LOG_LEVEL || 'warn'];
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
/** Steps that failed, when E2E_KEEP_GOING=1 runs every step whatever happens before it. */
export const failures = [];
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
    failures.push(name);
    // To see which steps a change breaks, not just the first.
    if (process.env.E2E_KEEP_GOING === '1') return;
    throw Object.assign(e instanceof Error ? e : new Error(String(e)), { reported: true });
  }
}

export function assert(cond, msg) {
  if (!cond) throw new Error(msg);
}

/**
 * Browser contexts whose every page is watched for browser dialogs, CSP violations and
 * uncaught errors (a panic): `newContext(options)` makes one (running `init` in each page
 * before the page's own scripts, if given); `trouble` lists what was seen.
 */
export function watchedContexts(browser, init) {
  const trouble = [];
  const newContext = async (options) => {
    const c = await browser.newContext(options);
    if (init) await c.addInitScript(init);
    c.on('page', (p) => {
      p.on('dialog', (d) => { trouble.push(`dialog: ${d.message()}`); d.dismiss(); });
      p.on('pageerror', (e) => trouble.push(`page error: ${e.message}`));
      p.on('console', (m) => {
        if (/Content Security Policy|panicked/i.test(m.text())) trouble.push(`console: ${m.text()}`);
      });
    });
    return c;
  };
  return { newContext, trouble };
}



/** One server→client WebSocket text frame (unmasked), as the room would send it. */
function serverFrame(text) {
  const payload = Buffer.from(text, 'utf8');
  const n = payload.length;
  const head = n < 126 ? Buffer.from([0x81, n])
    : n < 65536 ? Buffer.from([0x81, 126, n >> 8, n & 255])
      : (() => { const h = Buffer.alloc(10); h[0] = 0x81; h[1] = 127; h.writeBigUInt64BE(BigInt(n), 2); return h; })();
  return Buffer.concat([head, payload]);
}

/**
 * Reads client→server WebSocket frames (masked) from `chunks` and calls `onFrame(raw, text)`
 * for each whole one; `text` is the payload of a text frame, else null.
 */
function frameReader(onFrame) {
  let buf = Buffer.alloc(0);
  return (chunk) => {
    buf = Buffer.concat([buf, chunk]);
    for (;;) {
      if (buf.length < 2) return;
      const opcode = buf[0] & 0x0f;
      let len = buf[1] & 0x7f;
      let off = 2;
      if (len === 126) { if (buf.length < 4) return; len = buf.readUInt16BE(2); off = 4; }
      else if (len === 127) { if (buf.length < 10) return; len = Number(buf.readBigUInt64BE(2)); off = 10; }
      const masked = (buf[1] & 0x80) !== 0;
      const total = off + (masked ? 4 : 0) + len;
      if (buf.length < total) return;
      const raw = buf.subarray(0, total);
      let text = null;
      if (opcode === 1) {
        const mask = masked ? buf.subarray(off, off + 4) : null;
        const data = Buffer.from(buf.subarray(total - len, total));
        if (mask) for (let i = 0; i < data.length; i++) data[i] ^= mask[i & 3];
        text = data.toString('utf8');
      }
      buf = buf.subarray(total);
      onFrame(Buffer.from(raw), text);
    }
  };
}

/**
 * A TCP proxy in front of the server, for one browser: `cut()` drops every connection
 * without a close frame and refuses new ones (the network is gone), `restore()` lets them
 * through again. The page is loaded through it, so its origin is the proxy's. It can also
 * play a broken network or a newer room: hang handshakes, refuse one `send` as the room
 * would, or inject frames.
 */
export async function startProxy(targetPort) {
  const net = await import('node:net');
  const sockets = new Set();
  const webSockets = new Set(); // client side of each joined WebSocket
  const roomSockets = new Set(); // of those, the room's (the page also keeps one to its inbox)
  const hung = new Set();
  let up = true;
  let socketsUp = true;
  let hang = false;
  let refuse = null; // { code, message }: the next `send` is answered with this error
  let upgrades = 0;
  const server = net.createServer((client) => {
    if (!up) { client.destroy(); return; }
    client.on('error', () => {});
    client.once('data', (first) => {
      const isWebSocket = /^upgrade:\s*websocket/im.test(first.toString('latin1'));
      if (!up || (isWebSocket && !socketsUp)) { client.destroy(); return; }
      if (isWebSocket && hang) {
        // Accepted, never answered: the browser's socket stays CONNECTING (240 s in Chromium).
        hung.add(client);
        client.on('close', () => hung.delete(client));
        return;
      }
      // The page's socket to a room, not to its person's inbox (`/api/me/…`).
      const toRoom = isWebSocket && /^GET \/api\/rooms\//.test(first.toString('latin1'));
      if (isWebSocket) {
        if (toRoom) upgrades++;
        // No permessage-deflate, so the proxy can read the page's frames and add its own.
        first = Buffer.from(first.toString('latin1').replace(/^sec-websocket-extensions:.*\r\n/gim, ''), 'latin1');
      }
      const upstream = net.connect(targetPort, '127.0.0.1');
      for (const s of [client, upstream]) {
        sockets.add(s);
        s.on('close', () => { sockets.delete(s); webSockets.delete(s); roomSockets.delete(s); });
        s.on('error', () => {});
      }
      if (isWebSocket) webSockets.add(client);
      if (toRoom) roomSockets.add(client);
      upstream.write(first);
      if (isWebSocket) {
        client.on('data', frameReader((raw, text) => {
          if (refuse && text && text.includes('"type":"send"')) {
            const { data } = JSON.parse(text);
            const error = { type: 'error', data: { ...refuse, client_id: data.client_id } };
            refuse = null;
            client.write(serverFrame(JSON.stringify(error)));
            return; // never reaches the room
          }
          upstream.write(raw);
        }));
      } else {
        client.pipe(upstream);
      }
      upstream.pipe(client);
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
    /** Open sockets drop; new handshakes are accepted and never answered (a dead network). */
    hangSockets() { hang = true; for (const s of webSockets) s.destroy(); },
    restore() { up = true; socketsUp = true; hang = false; for (const s of hung) s.destroy(); },
    /** The next `send` is refused with this error (naming its client_id) and never stored. */
    refuseNextSend(code, message = 'the room could not store it') { refuse = { code, message }; },
    /** Sends `text` to every open room socket of the page, as if the room had. */
    inject(text) { for (const s of roomSockets) s.write(serverFrame(text)); },
    /** Room WebSocket handshakes passed through so far (the inbox's are not counted). */
    upgrades() { return upgrades; },
    close() { up = false; for (const s of [...sockets, ...hung]) s.destroy(); server.close(); },
  };
}

/**
 * Puts `n` messages into `room` over protocol v2 (20 per member, within the rate limit).
 * `tag` keeps a second batch's client ids (and texts) apart from the first's.
 */
export async function seed(serverUrl, room, n, tag = '') {
  const wsUrl = `${serverUrl.replace('http', 'ws')}/api/rooms/${room}/ws`;
  for (let sent = 0, member = 0; sent < n; member++) {
    const ws = new WebSocket(wsUrl);
    const batch = Math.min(20, n - sent);
    await new Promise((resolve, reject) => {
      let acked = 0;
      const timer = setTimeout(() => reject(new Error(`seeding ${room} timed out`)), 20_000);
      ws.onopen = () => {
        const name = `seeder${member}`;
        ws.send(JSON.stringify({ type: 'join', data: { v: 2, name, key: `${name}`.padEnd(40, '_') } }));
      };
      ws.onmessage = (ev) => {
        const f = JSON.parse(ev.data);
        if (f.type === 'welcome') {
          for (let i = 0; i < batch; i++) {
            ws.send(JSON.stringify({ type: 'send', data: { client_id: `${tag}s${sent + i}`, text: `${tag || 'seeded'} message ${sent + i + 1}` } }));
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
