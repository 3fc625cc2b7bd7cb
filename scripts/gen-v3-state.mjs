// Drives a schema 3 room (protocol 2 before owners) for scripts/gen-v3-state.sh: in room
// "schema3", alice (the first member), bob and carol (who says nothing) talk; alice edits and
// deletes, bob replies and reacts. The keys are the ones itest/tests/owners.rs joins with.
import WebSocket from "ws";

const port = process.argv[2];
const key = (seed) => seed.repeat(40).slice(0, 40);

function open() {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(`ws://127.0.0.1:${port}/api/rooms/schema3/ws`, {
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

async function join(name, seed) {
  const ws = await open();
  ws.send(JSON.stringify({ type: "join", data: { v: 2, name, key: key(seed) } }));
  await until(ws, "welcome");
  return ws;
}

async function op(ws, type, data) {
  ws.send(JSON.stringify({ type, data }));
  return (await until(ws, "ack")).data.seq;
}

const alice = await join("alice", "a");
const bob = await join("bob", "b");
const first = await op(alice, "send", { client_id: "a1", text: "hello from schema 3" }); // 1
await op(alice, "send", { client_id: "a2", text: "a typo" }); // 2
await op(bob, "send", { client_id: "b1", text: "hi alice", reply_to: first }); // 3
await op(alice, "edit", { client_id: "a3", id: first, text: "hello from schema 3, edited" }); // 4
await op(bob, "react", { client_id: "b2", id: first, emoji: "👍", on: true }); // 5
await op(alice, "delete", { client_id: "a4", id: 2 }); // 6
alice.close();
bob.close();
(await join("carol", "c")).close();
console.log("room schema3 written");
