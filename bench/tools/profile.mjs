// Samples workerd's CPU through wrangler dev's inspector while something else drives load,
// then prints where the time went, by function (self time). For finding the room's hot spots
// (docs/BENCHMARKS.md, "A leaner message path"):
//
//   make dev                                        # a server to profile, on :8787
//   node bench/tools/profile.mjs 15 &               # sample for 15 s (args: secs top worker url)
//   cargo run --release -p confab-bench -- --url http://127.0.0.1:8787 --only throughput
//
// It finds workerd's own inspector (not wrangler's proxy, which refuses Node's socket) among
// the ports a workerd process listens on, and the Worker "confab" in it. Node 22's built-in
// WebSocket speaks to it; nothing else is needed. Sampling costs the runtime a few percent.
import { execSync } from "node:child_process";
const [secs = "10", top = "40", worker = "confab", poke = "http://127.0.0.1:8787/api/rooms/profile-poke"] =
  process.argv.slice(2);
const ports = execSync("ss -ltnpH", { encoding: "utf8" })
  .split("\n")
  .filter((l) => l.includes('"workerd"'))
  .map((l) => l.split(/\s+/)[3]?.split(":").pop());
let url;
for (const port of ports) {
  try {
    const targets = await (await fetch(`http://127.0.0.1:${port}/json`, { signal: AbortSignal.timeout(1000) })).json();
    url = targets.find((t) => t.id === `core:user:${worker}`)?.webSocketDebuggerUrl ?? url;
  } catch {}
}
if (!url) throw new Error(`no workerd inspector with the Worker ${worker} (is wrangler dev running?)`);
const ws = new WebSocket(url);
let next = 1;
const waiting = new Map();
const call = (method, params = {}) =>
  new Promise((resolve, reject) => {
    const id = next++;
    waiting.set(id, { resolve, reject });
    ws.send(JSON.stringify({ id, method, params }));
  });
ws.onmessage = async (e) => {
  const m = JSON.parse(typeof e.data === "string" ? e.data : await e.data.text());
  const w = waiting.get(m.id);
  if (!w) return;
  waiting.delete(m.id);
  m.error ? w.reject(new Error(JSON.stringify(m.error))) : w.resolve(m.result);
};
await new Promise((ok, fail) => {
  ws.onopen = ok;
  ws.onerror = fail;
});
// workerd reads the inspector's messages only while the isolate runs something: requests
// to the Worker until it has answered.
let answered = false;
const poking = (async () => {
  while (!answered) {
    await fetch(poke).catch(() => {});
    await new Promise((r) => setTimeout(r, 100));
  }
})();
await call("Profiler.enable");
answered = true;
await poking;
await call("Profiler.setSamplingInterval", { interval: 50 });
await call("Profiler.start");
await new Promise((r) => setTimeout(r, Number(secs) * 1000));
const { profile } = await call("Profiler.stop");
ws.close();
const byId = new Map(profile.nodes.map((n) => [n.id, n]));
const dt = profile.timeDeltas;
const self = new Map();
let total = 0;
profile.samples.forEach((id, i) => {
  const n = byId.get(id);
  const f = n.callFrame;
  const name = `${f.functionName || "(anonymous)"} ${f.url ? f.url.split("/").pop() + ":" + f.lineNumber : ""}`;
  const us = dt[i] ?? 0;
  total += us;
  self.set(name, (self.get(name) ?? 0) + us);
});
const rows = [...self.entries()].sort((a, b) => b[1] - a[1]).slice(0, Number(top));
console.log(`sampled ${(total / 1000).toFixed(0)} ms over ${secs} s`);
for (const [name, us] of rows) {
  console.log(`${((100 * us) / total).toFixed(1).padStart(5)}%  ${(us / 1000).toFixed(1).padStart(8)} ms  ${name}`);
}
