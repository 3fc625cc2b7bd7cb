// The room a user would otherwise write: a plain JavaScript Durable Object that stores each
// message in its SQLite and broadcasts it to every socket, durable before visible (the
// runtime's output gate holds every send until the INSERT has committed, as it does for
// Confab's room). The same tables and INSERT as Confab's (dedup index included; Confab also
// saves the sender's rate budget per post), and nothing else: no validation beyond JSON, no
// rate limits, no presence, no mentions, no inboxes. The floor Confab's message path is
// measured against. It speaks just enough of Confab's protocol 2 (`join` → `welcome`,
// `send` → `ack` + `message`) for confab-bench's clients.
//
// Started by confab-bench with `wrangler dev -c bench/js-baseline/wrangler.toml` beside
// Confab's own server, in the same run (docs/BENCHMARKS.md, "Busy rooms and a lean path").
import { DurableObject } from "cloudflare:workers";

export class BaselineRoom extends DurableObject {
  constructor(ctx, env) {
    super(ctx, env);
    this.sql = ctx.storage.sql;
    // Confab's own tables and INSERT (worker/src/sql.rs): the same insert per message (Confab
    // also saves the sender's rate budget, one UPDATE), so what differs is everything else.
    this.sql.exec(`CREATE TABLE IF NOT EXISTS events (seq INTEGER PRIMARY KEY, id INTEGER NOT NULL,
      member INTEGER NOT NULL, client_id TEXT NOT NULL, ts INTEGER NOT NULL, action TEXT,
      UNIQUE (member, client_id))`);
    this.sql.exec(`CREATE TABLE IF NOT EXISTS posts (id INTEGER PRIMARY KEY, version INTEGER NOT NULL,
      member INTEGER NOT NULL, author TEXT NOT NULL, client_id TEXT NOT NULL, text TEXT NOT NULL,
      ts INTEGER NOT NULL, edited_ts INTEGER, deleted INTEGER NOT NULL DEFAULT 0, reply_to INTEGER,
      mentions TEXT NOT NULL DEFAULT '', removed INTEGER NOT NULL DEFAULT 0, bot INTEGER NOT NULL DEFAULT 0,
      streaming INTEGER NOT NULL DEFAULT 0, UNIQUE (member, client_id))`);
    this.sql.exec("CREATE INDEX IF NOT EXISTS streaming_posts ON posts (id) WHERE streaming = 1");
    // Member ids, one per join (Confab's members table holds more; this is only ids).
    this.sql.exec("CREATE TABLE IF NOT EXISTS joins (id INTEGER PRIMARY KEY AUTOINCREMENT, name TEXT NOT NULL)");
    this.seq = this.sql.exec("SELECT COALESCE(MAX(id), 0) AS seq FROM posts").one().seq;
  }

  async fetch(request) {
    const pair = new WebSocketPair();
    this.ctx.acceptWebSocket(pair[1]);
    return new Response(null, { status: 101, webSocket: pair[0] });
  }

  async webSocketMessage(ws, raw) {
    const frame = JSON.parse(raw);
    if (frame.type === "join") {
      const name = String(frame.data.name);
      const id = this.sql.exec("INSERT INTO joins (name) VALUES (?) RETURNING id", name).one().id;
      ws.serializeAttachment({ id, name });
      const you = { id, name };
      ws.send(JSON.stringify({
        type: "welcome",
        data: {
          protocol: 2, epoch: "baseline", you, room: "baseline", members: [you], messages: [],
          older: false, latest_seq: 0,
          limits: { name_max_chars: 32, text_max_chars: 2000, frame_max_bytes: 16384, history_page_max: 100, rate_burst: 1000000, rate_per_sec: 1000000 },
        },
      }));
    } else if (frame.type === "send") {
      const me = ws.deserializeAttachment();
      const ts = Date.now();
      const { client_id, text } = frame.data;
      const rows = this.sql
        .exec(
          `INSERT INTO posts (id, version, member, author, client_id, text, ts, reply_to, mentions, bot, streaming)
             SELECT ?8, ?8, ?1, ?2, ?3, ?4, ?5, ?6, ?7, ?9, ?10
             WHERE NOT EXISTS (SELECT 1 FROM events WHERE member = ?1 AND client_id = ?3)
             ON CONFLICT (member, client_id) DO NOTHING RETURNING id`,
          me.id, me.name, client_id, text, ts, null, "", this.seq + 1, 0, 0,
        )
        .toArray();
      if (rows.length === 0) return; // a resend: Confab acks it again; the floor drops it
      const id = rows[0].id;
      this.seq = id;
      ws.send(JSON.stringify({ type: "ack", data: { client_id, seq: id, ts } }));
      const out = JSON.stringify({
        type: "message",
        data: { id, version: id, member: me.id, author: me.name, client_id, text, ts },
      });
      for (const peer of this.ctx.getWebSockets()) {
        try {
          peer.send(out);
        } catch {}
      }
    }
  }

  async webSocketClose(ws, code) {
    try {
      ws.close(code, "closed");
    } catch {}
  }
}

export default {
  async fetch(request, env) {
    const url = new URL(request.url);
    const m = url.pathname.match(/^\/api\/rooms\/([^/]+)(\/ws)?$/);
    if (!m) return new Response("not found", { status: 404 });
    if (!m[2]) return new Response("{}", { headers: { "content-type": "application/json" } });
    return env.ROOMS.get(env.ROOMS.idFromName(m[1])).fetch(request);
  },
};
