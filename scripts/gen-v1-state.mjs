// Drives a protocol 1 room for scripts/gen-v1-state.sh: room "legacy" gets messages from
// alice (three, one under the display "Alice") and bob, and a claim by carol, who says
// nothing. The keys are the ones itest/tests/protocol_v2.rs joins with.
import WebSocket from "ws";

const port = process.argv[2];
const key = (seed) => seed.repeat(40).slice(0, 40);

function open() {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(`ws://127.0.0.1:${port}/api/rooms/legacy/ws`, {
      headers: { Origin: `http://127.0.0.1:${port}` },
    });
    const queue = [];
    let waiting = null;
    ws.on("message", (data) => {
      const frame = JSON.parse(String(data));
      if (waiting) {
        const w = waiting;
        waiting = null;
        w(frame);
      } else queue.push(frame);
    });
    ws.next = () => (queue.length ? Promise.resolve(queue.shift()) : new Promise((r) => (waiting = r)));
    ws.on("open", () => resolve(ws));
    ws.on("error", reject);
  });
}

async function until(ws, type) {
  for (;;) {
    const f = await ws.next();
    if (f.type === type) return f;
    if (f.type === "error") throw new Error(JSON.stringify(f));
  }
}

async function member(name, seed, texts) {
  const ws = await open();
  ws.send(JSON.stringify({ type: "join", data: { name, key: key(seed) } }));
  await until(ws, "welcome");
  for (const [i, text] of texts.entries()) {
    ws.send(JSON.stringify({ type: "send", data: { client_id: `${seed}-${name}-${i}`, text } }));
    await until(ws, "ack");
  }
  ws.close();
}

await member("alice", "a", ["hello from protocol 1", "second"]);
await member("bob", "b", ["hi alice"]);
await member("Alice", "a", ["third, as Alice"]);
await member("carol", "c", []);
console.log("room legacy written");
