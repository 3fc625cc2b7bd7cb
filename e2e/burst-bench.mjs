// The busy-room page benchmark: headless Chromium holds a room with 2,000 messages loaded
// (paged back by the page itself), then 200 reactions arrive as fast as four other members
// can send them. The page's own requestAnimationFrame clock measures every frame while they
// land: a reaction must redraw one message, not the list, so frames stay short.
// Run by `make bench` (scripts/bench.sh); figures go in docs/BENCHMARKS.md.
import { startServer, launchBrowser, seed } from './lib.mjs';

const MESSAGES = 2000;
const REACTIONS = 200;
// Every budget out of the way: this measures the page, not the room's limits.
const vars = {
  RATE_BURST: 100000, RATE_PER_SEC: 100000, ROOM_RATE_BURST: 100000, ROOM_RATE_PER_SEC: 100000,
  SOCKET_RATE_BURST: 100000, SOCKET_RATE_PER_SEC: 100000, MAX_SOCKETS_PER_IP: 10000,
  CONNECT_RATE_BURST: 10000, CONNECT_RATE_PER_SEC: 10000,
};

function member(url, room, name) {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(`${url.replace('http', 'ws')}/api/rooms/${room}/ws`);
    ws.onopen = () => ws.send(JSON.stringify({ type: 'join', data: { v: 2, name, key: name.padEnd(40, '_') } }));
    ws.onmessage = (ev) => {
      const f = JSON.parse(ev.data);
      if (f.type === 'welcome') resolve({ ws, messages: f.data.messages.map((m) => m.id) });
    };
    ws.onerror = () => reject(new Error(`${name}'s socket failed`));
  });
}

const server = await startServer(vars);
const browser = await launchBrowser();
let code = 0;
try {
  const room = `burst-bench-${Date.now()}`;
  const seeded = Date.now();
  await seed(server.url, room, MESSAGES);
  console.log(`seeded ${MESSAGES} messages in ${((Date.now() - seeded) / 1000).toFixed(1)} s`);
  const ctx = await browser.newContext({ viewport: { width: 1280, height: 900 } });
  const page = await ctx.newPage();
  await page.goto(server.url);
  await page.evaluate(() => localStorage.setItem('confab.name', JSON.stringify('reader')));
  await page.goto(`${server.url}/r/${room}`);
  const count = () => page.evaluate(() => document.querySelectorAll('[data-testid=message]').length);
  await page.waitForFunction(() => document.querySelectorAll('[data-testid=message]').length >= 50, null, { timeout: 20_000 });
  // Page back the way a reader does: scroll to the top until everything is loaded.
  const loading = Date.now();
  for (let last = 0, still = 0; (await count()) < MESSAGES;) {
    await page.evaluate(() => {
      const list = document.querySelector('[data-testid=message]')?.closest('[role=log], ol, ul, section, div');
      for (let el = list; el; el = el.parentElement) if (el.scrollHeight > el.clientHeight) el.scrollTop = 0;
    });
    await page.waitForTimeout(150);
    const n = await count();
    still = n === last ? still + 1 : 0;
    last = n;
    if (still > 100) throw new Error(`paging stopped at ${n} messages`);
  }
  console.log(`loaded ${await count()} messages in the page in ${((Date.now() - loading) / 1000).toFixed(1)} s`);
  // Back to the bottom, where the newest messages (the ones reacted to) are on screen.
  await page.evaluate(() => {
    const last = [...document.querySelectorAll('[data-testid=message]')].pop();
    last?.scrollIntoView({ block: 'end' });
  });
  await page.waitForTimeout(500);
  const reactors = await Promise.all([0, 1, 2, 3].map((i) => member(server.url, room, `reactor${i}`)));
  const targets = reactors[0].messages.slice(-20);
  const emoji = ['👍', '❤️', '😂', '🎉', '😮', '😢', '🙏', '👀', '🔥', '✅'];
  // Start the page's frame clock, then fire: 4 members × 50 reactions, all at once.
  await page.evaluate(() => {
    window.__frames = [];
    let prev = performance.now();
    const tick = (t) => { window.__frames.push(t - prev); prev = t; if (window.__frames.length < 100000) requestAnimationFrame(tick); };
    requestAnimationFrame(tick);
  });
  await page.waitForTimeout(300);
  await page.evaluate(() => { window.__frames = []; });
  const fired = Date.now();
  const acked = reactors.map(({ ws }, r) => new Promise((resolve, reject) => {
    let n = 0;
    ws.onmessage = (ev) => {
      const f = JSON.parse(ev.data);
      if (f.type === 'ack' && ++n === REACTIONS / 4) resolve();
      if (f.type === 'error') reject(new Error(ev.data));
    };
    for (let i = 0; i < REACTIONS / 4; i++) {
      const id = targets[i % targets.length];
      const e = emoji[(Math.floor(i / targets.length) + r * 3) % emoji.length];
      ws.send(JSON.stringify({ type: 'react', data: { client_id: `r${r}-${i}`, id, emoji: e, on: true } }));
    }
  }));
  await Promise.all(acked);
  const sentMs = Date.now() - fired;
  await page.waitForTimeout(1500); // the last frames land and draw
  const frames = await page.evaluate(() => window.__frames);
  const chips = await page.evaluate(() => document.querySelectorAll('[data-testid=chip]').length);
  frames.sort((a, b) => a - b);
  const q = (p) => Math.round(frames[Math.min(frames.length - 1, Math.floor(p * frames.length))] * 10) / 10;
  const long = frames.filter((f) => f > 50).length;
  console.log(`burst: ${REACTIONS} reactions acked in ${sentMs} ms on a page holding ${MESSAGES} messages; ` +
    `${frames.length} frames: p50 ${q(0.5)} ms, p95 ${q(0.95)} ms, max ${q(1)} ms, ${long} over 50 ms; ${chips} reaction chips shown`);
  console.log(`json: ${JSON.stringify({ scenario: 'reaction-burst', messages: MESSAGES, reactions: REACTIONS, acked_ms: sentMs,
    frames: frames.length, p50_ms: q(0.5), p95_ms: q(0.95), max_ms: q(1), over_50ms: long, chips })}`);
  for (const { ws } of reactors) ws.close();
  await ctx.close();
} catch (e) {
  console.error(e);
  code = 1;
} finally {
  await browser.close().catch(() => {});
  server.stop();
}
process.exit(code);
