//! The `ChatRoom` Durable Object: thin glue between workers-rs and [`Room`].
//!
//! Socket callbacks become [`Input`]s; [`Effect`]s become sends, attachment writes and closes,
//! carried out in the order the room gave them. Storage is [`SqlStore`] on the object's
//! SQLite, whose calls are synchronous, so no `RefCell` borrow is ever held across an `.await`
//! (there is none while the room is borrowed).
//!
//! Hibernation: sockets are accepted with `acceptWebSocket`, so the runtime may evict the
//! object between messages while the sockets stay open. Each socket carries its room id in a
//! tag and its member state in its attachment; on wake the room is rebuilt from those, lazily,
//! on the first event. `ping` is answered `pong` by the runtime's auto-response, which does
//! not wake the object at all.

use crate::room::{Attachment, Effect, Input, Room, RoomConfig, SocketId};
use crate::routes::{history_query, var_u32};
use crate::store::{Appended, RoomStore, StoreError};
use confab_shared::{ChatMessage, ErrorCode, HttpError, ProtocolError, Seq, PING, PONG};
use serde::Deserialize;
use std::cell::RefCell;
use std::collections::HashMap;
use wasm_bindgen::JsCast;
use worker::*;

const TAG_PREFIX: &str = "s:";
/// SQLite stores integers as i64 and the JS bridge as f64: keep bounds inside 2^53.
const MAX_SAFE: Seq = (1 << 53) - 1;

/// One chat room. Its name is the Durable Object's name (`idFromName(room)`).
#[durable_object]
pub struct ChatRoom {
    state: State,
    config: RoomConfig,
    liveness: Liveness,
    live: RefCell<Option<Live>>,
    /// The alarm time this instance last set (or read), so a join or a message does not read
    /// storage to learn it; `None` on a new instance until it asks once.
    alarm_at: std::cell::Cell<Option<u64>>,
}

/// How the room finds half-open sockets (see [`Room::stale_sockets`]): an alarm every
/// `sweep_ms` while sockets are open closes those silent for longer than `idle_ms`.
#[derive(Debug, Clone, Copy)]
struct Liveness {
    idle_ms: u64,
    sweep_ms: u64,
}

/// What exists only while the object is in memory; rebuilt on wake.
struct Live {
    room: Room,
    sockets: HashMap<SocketId, WebSocket>,
    /// When each socket last sent a frame that reached the room (pings do not: the runtime
    /// answers them and records the time itself). Lost on hibernation, which is fine: the
    /// runtime's ping timestamps and each socket's `opened_ms` remain.
    last_seen: HashMap<SocketId, u64>,
    /// The earliest [`Effect::WakeAt`] the room asked for since the caller last looked.
    wake_request: Option<u64>,
    /// When the next liveness sweep is due (0 after a wake: the first alarm sweeps).
    next_sweep_ms: u64,
}

impl DurableObject for ChatRoom {
    fn new(state: State, env: Env) -> Self {
        // One line per (re)start: how often a room wakes from hibernation is worth seeing in
        // `wrangler tail`, and the hibernation test reads it.
        console_log!("room {} starting", state.id().name().unwrap_or_default());
        let config = RoomConfig {
            rate_burst: var_u32(env.var("RATE_BURST").ok().map(|v| v.to_string()), RoomConfig::default().rate_burst),
            rate_per_sec: var_u32(
                env.var("RATE_PER_SEC").ok().map(|v| v.to_string()),
                RoomConfig::default().rate_per_sec,
            ),
            ..RoomConfig::default()
        };
        match WebSocketRequestResponsePair::new(PING, PONG) {
            Ok(pair) => state.set_websocket_auto_response(&pair),
            Err(e) => console_error!("could not set the ping auto-response: {e:?}"),
        }
        if let Err(e) = SqlStore::migrate(&state.storage().sql()) {
            console_error!("schema setup failed: {e}");
        }
        let liveness = Liveness {
            idle_ms: var_u32(env.var("IDLE_LIMIT_MS").ok().map(|v| v.to_string()), 60_000).into(),
            sweep_ms: var_u32(env.var("SWEEP_MS").ok().map(|v| v.to_string()), 30_000).into(),
        };
        Self { state, config, liveness, live: RefCell::new(None), alarm_at: std::cell::Cell::new(None) }
    }

    async fn fetch(&self, req: Request) -> Result<Response> {
        let path = req.path();
        if path.ends_with("/ws") {
            let response = self.accept(req)?;
            self.ensure_sweep().await;
            return Ok(response);
        }
        let mut store = SqlStore::new(&self.state);
        let mut live = self.live();
        let live = live.as_mut().expect("live() fills it");
        if path.ends_with("/messages") {
            let query = req.url()?.query().map(str::to_owned);
            let page = history_query(query.as_deref())
                .and_then(|(before, limit)| live.room.history(&mut store, before, limit));
            json_or_error(page)
        } else {
            json_or_error(live.room.info(&mut store))
        }
    }

    /// The room's alarm, for two jobs: sending presence changes the room held back while busy
    /// (due within 100 ms), and the liveness sweep (every `SWEEP_MS` while sockets are open),
    /// which closes sockets that went silent because their peer vanished without a close.
    async fn alarm(&self) -> Result<Response> {
        let now = Date::now().as_millis();
        self.alarm_at.set(None); // this one has fired

        let next = {
            let mut live = self.live();
            let live = live.as_mut().expect("live() fills it");
            let mut store = SqlStore::new(&self.state);
            let effects = live.room.handle(&mut store, Input::Tick, now);
            apply(live, effects);
            if now >= live.next_sweep_ms {
                live.next_sweep_ms = now + self.liveness.sweep_ms;
                let state: &RawState = self.state.as_raw().unchecked_ref();
                let Live { room, sockets, last_seen, .. } = &mut *live;
                let stale = room.stale_sockets(now, self.liveness.idle_ms, |id| {
                    let pinged = sockets.get(&id).and_then(|ws| state.auto_response_ms(ws.as_ref()));
                    last_seen.get(&id).copied().max(pinged)
                });
                for id in stale {
                    if let Some(ws) = live.sockets.remove(&id) {
                        let _ = ws.close(Some(1001), Some("no heartbeat"));
                    }
                    live.last_seen.remove(&id);
                    let effects = live.room.handle(&mut store, Input::Closed(id), now);
                    apply(live, effects);
                }
            }
            live.wake_request = None; // covered by next_wake() below
            let sweep = (!live.sockets.is_empty()).then_some(live.next_sweep_ms);
            [live.room.next_wake(), sweep].into_iter().flatten().min()
        };
        if let Some(at) = next {
            self.set_alarm_at(at, now).await;
        }
        Response::ok("done")
    }

    async fn websocket_message(&self, ws: WebSocket, message: WebSocketIncomingMessage) -> Result<()> {
        let Some(id) = socket_id(&self.state, &ws) else { return Ok(()) };
        let wake = match message {
            WebSocketIncomingMessage::String(text) => self.handle(&Input::Text(id, &text)),
            WebSocketIncomingMessage::Binary(bytes) => self.handle(&Input::Binary(id, bytes.len())),
        };
        self.wake_at(wake).await;
        Ok(())
    }

    async fn websocket_close(&self, ws: WebSocket, _code: usize, _reason: String, _was_clean: bool) -> Result<()> {
        // Complete the closing handshake; the socket may already be gone, which is fine.
        let _ = ws.close(Some(1000), Some("closed"));
        let wake = self.closed(&ws);
        self.wake_at(wake).await;
        Ok(())
    }

    async fn websocket_error(&self, ws: WebSocket, error: Error) -> Result<()> {
        console_warn!("socket error: {error}");
        let wake = self.closed(&ws);
        self.wake_at(wake).await;
        Ok(())
    }
}

impl ChatRoom {
    /// The live state, rebuilt from the open sockets if the object just woke up.
    fn live(&self) -> std::cell::RefMut<'_, Option<Live>> {
        let mut live = self.live.borrow_mut();
        if live.is_none() {
            let mut sockets = HashMap::new();
            let mut attachments = Vec::new();
            for ws in self.state.get_websockets() {
                match ws.deserialize_attachment::<Attachment>() {
                    Ok(Some(a)) => {
                        sockets.insert(a.id, ws);
                        attachments.push(a);
                    }
                    // A socket we cannot account for is closed rather than left as a ghost.
                    other => {
                        console_error!("socket without a readable attachment: {:?}", other.err());
                        let _ = ws.close(Some(1011), Some("internal error"));
                    }
                }
            }
            let name = self.state.id().name().unwrap_or_default();
            *live = Some(Live {
                room: Room::restore(name, self.config, attachments),
                sockets,
                last_seen: HashMap::new(),
                wake_request: None,
                next_sweep_ms: 0,
            });
        }
        live
    }

    fn accept(&self, req: Request) -> Result<Response> {
        // The Worker checked the upgrade header; this is a second line of defence.
        if !req.headers().get("Upgrade")?.is_some_and(|u| u.eq_ignore_ascii_case("websocket")) {
            return error_response(ProtocolError::new(ErrorCode::UpgradeRequired, "expected a WebSocket upgrade"), 426);
        }
        let pair = WebSocketPair::new()?;
        let mut live = self.live();
        let live = live.as_mut().expect("live() fills it");
        let attachment = live.room.open(Date::now().as_millis());
        let id = attachment.id;
        self.state.accept_websocket_with_tags(&pair.server, &[&format!("{TAG_PREFIX}{id}")]);
        pair.server.serialize_attachment(&attachment)?;
        live.sockets.insert(id, pair.server);
        Response::from_websocket(pair.client)
    }

    /// Feeds one socket event to the room and carries out its effects; returns the wake-up
    /// the room asked for, to be set as an alarm once the borrow is over.
    fn handle(&self, input: &Input<'_>) -> Option<u64> {
        let mut store = SqlStore::new(&self.state);
        let mut live = self.live();
        let live = live.as_mut().expect("live() fills it");
        let now = Date::now().as_millis();
        if let Input::Text(id, _) | Input::Binary(id, _) = input {
            live.last_seen.insert(*id, now);
        }
        let effects = live.room.handle(&mut store, *input, now);
        apply(live, effects);
        live.wake_request.take()
    }

    /// When the alarm is set for, asking storage only if this instance does not know yet.
    async fn known_alarm(&self) -> Option<u64> {
        if let Some(at) = self.alarm_at.get() {
            return Some(at);
        }
        match self.state.storage().get_alarm().await {
            Ok(set) => {
                let at = set.and_then(|t| u64::try_from(t).ok());
                self.alarm_at.set(at);
                at
            }
            Err(e) => {
                console_error!("reading the alarm failed: {e}");
                None
            }
        }
    }

    /// Brings the alarm forward to `at` if the room needs it sooner than it is set.
    async fn wake_at(&self, at: Option<u64>) {
        let Some(at) = at else { return };
        if self.known_alarm().await.is_none_or(|set| set > at) {
            self.set_alarm_at(at, Date::now().as_millis()).await;
        }
    }

    async fn set_alarm_at(&self, at: u64, now: u64) {
        // workers-rs 0.8.7 takes an offset from now.
        let delay = i64::try_from(at.saturating_sub(now)).unwrap_or(i64::MAX);
        match self.state.storage().set_alarm(delay).await {
            Ok(()) => self.alarm_at.set(Some(at)),
            Err(e) => console_error!("setting the alarm failed: {e}"),
        }
    }

    /// Makes sure a liveness sweep is scheduled (one alarm per room, not one per socket).
    async fn ensure_sweep(&self) {
        if self.known_alarm().await.is_none() {
            self.schedule_sweep().await;
        }
    }

    async fn schedule_sweep(&self) {
        let now = Date::now().as_millis();
        self.set_alarm_at(now + self.liveness.sweep_ms, now).await;
    }

    fn closed(&self, ws: &WebSocket) -> Option<u64> {
        let id = socket_id(&self.state, ws)?;
        let mut live = self.live();
        let live = live.as_mut().expect("live() fills it");
        live.sockets.remove(&id);
        live.last_seen.remove(&id);
        let mut store = SqlStore::new(&self.state);
        let effects = live.room.handle(&mut store, Input::Closed(id), Date::now().as_millis());
        apply(live, effects);
        live.wake_request.take()
    }
}

fn socket_id(state: &State, ws: &WebSocket) -> Option<SocketId> {
    state.get_tags(ws).iter().find_map(|t| t.strip_prefix(TAG_PREFIX)?.parse().ok())
}

#[wasm_bindgen::prelude::wasm_bindgen]
extern "C" {
    /// A WebSocket seen only for its `send`, so it can take a string that is already a JS
    /// value: workers-rs's `send_with_str` copies and decodes the Rust string on every call,
    /// while a broadcast converts it once and hands the same JS string to every socket.
    #[wasm_bindgen(extends = js_sys::Object)]
    type RawSocket;
    #[wasm_bindgen(method, js_name = send, catch)]
    fn send(this: &RawSocket, data: &wasm_bindgen::JsValue) -> std::result::Result<(), wasm_bindgen::JsValue>;
}

#[wasm_bindgen::prelude::wasm_bindgen]
extern "C" {
    /// The runtime's `DurableObjectState`, for the one method workers-rs does not wrap.
    #[wasm_bindgen(extends = js_sys::Object)]
    type RawState;
    /// When the runtime last answered this socket's `ping` by auto-response (null if never).
    #[wasm_bindgen(method, catch, js_name = getWebSocketAutoResponseTimestamp)]
    fn auto_response_timestamp(
        this: &RawState,
        ws: &web_sys::WebSocket,
    ) -> std::result::Result<Option<js_sys::Date>, wasm_bindgen::JsValue>;
}

impl RawState {
    fn auto_response_ms(&self, ws: &web_sys::WebSocket) -> Option<u64> {
        self.auto_response_timestamp(ws).ok().flatten().map(|d| d.get_time() as u64)
    }
}

fn raw(ws: &WebSocket) -> &RawSocket {
    let sys: &web_sys::WebSocket = ws.as_ref();
    sys.unchecked_ref::<RawSocket>()
}

/// Carries out the room's effects in order. A send that fails means the socket is closing;
/// its close event will tell the room, so the failure is only logged.
fn apply(live: &mut Live, effects: Vec<Effect>) {
    for effect in effects {
        match effect {
            Effect::Send { to, text } => {
                let js = wasm_bindgen::JsValue::from_str(&text);
                for id in to {
                    if let Some(ws) = live.sockets.get(&id) {
                        if let Err(e) = raw(ws).send(&js) {
                            console_warn!("send to socket {id} failed: {e:?}");
                        }
                    }
                }
            }
            Effect::Save(id, attachment) => {
                if let Some(ws) = live.sockets.get(&id) {
                    if let Err(e) = ws.serialize_attachment(&attachment) {
                        // Without its attachment the socket would come back wrong after
                        // hibernation: better to drop it and let the client reconnect.
                        console_error!("attachment write failed: {e}");
                        let _ = ws.close(Some(1011), Some("internal error"));
                    }
                }
            }
            Effect::Close { socket, code, reason } => {
                if let Some(ws) = live.sockets.get(&socket) {
                    let _ = ws.close(Some(code), Some(reason));
                }
            }
            Effect::WakeAt(at) => live.wake_request = Some(live.wake_request.map_or(at, |w| w.min(at))),
        }
    }
}

fn json_or_error<T: serde::Serialize>(result: std::result::Result<T, ProtocolError>) -> Result<Response> {
    match result {
        Ok(v) => Response::from_json(&v),
        Err(e) => {
            let status = if e.code == ErrorCode::Internal { 500 } else { 400 };
            error_response(e, status)
        }
    }
}

/// A JSON error body with `status`.
pub fn error_response(e: ProtocolError, status: u16) -> Result<Response> {
    Ok(Response::from_json(&HttpError::from(e))?.with_status(status))
}

/// [`RoomStore`] on the Durable Object's SQLite.
pub struct SqlStore {
    sql: SqlStorage,
}

#[derive(Deserialize)]
struct SeqTs {
    seq: f64,
    ts: f64,
}

#[derive(Deserialize)]
struct MessageRow {
    seq: f64,
    client_id: String,
    author: String,
    text: String,
    ts: f64,
}

impl From<MessageRow> for ChatMessage {
    fn from(r: MessageRow) -> Self {
        Self { seq: r.seq as Seq, client_id: r.client_id, author: r.author, text: r.text, ts: r.ts as u64 }
    }
}

fn store_err(e: Error) -> StoreError {
    StoreError(e.to_string())
}

fn int(v: u64) -> SqlStorageValue {
    SqlStorageValue::Integer(v.min(MAX_SAFE) as i64)
}

impl SqlStore {
    fn new(state: &State) -> Self {
        Self { sql: state.storage().sql() }
    }

    /// Creates the tables. Idempotent; runs in the constructor, which the runtime finishes
    /// before delivering any event.
    fn migrate(sql: &SqlStorage) -> Result<()> {
        // `seq` is SQLite's rowid: assigned in order, never reused as rows are never deleted.
        // `(member, client_id)` is unique, which makes a resent message a no-op.
        sql.exec(
            "CREATE TABLE IF NOT EXISTS messages (
                seq INTEGER PRIMARY KEY,
                member TEXT NOT NULL,
                client_id TEXT NOT NULL,
                author TEXT NOT NULL,
                text TEXT NOT NULL,
                ts INTEGER NOT NULL,
                UNIQUE (member, client_id)
            )",
            None,
        )?;
        sql.exec(
            "CREATE TABLE IF NOT EXISTS claims (
                name TEXT PRIMARY KEY,
                key_hash TEXT NOT NULL,
                claimed_ms INTEGER NOT NULL
            )",
            None,
        )?;
        Ok(())
    }

    fn messages(
        &self,
        query: &str,
        bindings: Vec<SqlStorageValue>,
    ) -> std::result::Result<Vec<ChatMessage>, StoreError> {
        let rows: Vec<MessageRow> = self.sql.exec(query, bindings).and_then(|c| c.to_array()).map_err(store_err)?;
        let mut messages: Vec<ChatMessage> = rows.into_iter().map(Into::into).collect();
        messages.reverse();
        Ok(messages)
    }
}

impl RoomStore for SqlStore {
    fn latest(&mut self) -> std::result::Result<Option<(Seq, u64)>, StoreError> {
        let rows: Vec<SeqTs> = self
            .sql
            .exec("SELECT seq, ts FROM messages ORDER BY seq DESC LIMIT 1", None)
            .and_then(|c| c.to_array())
            .map_err(store_err)?;
        Ok(rows.first().map(|r| (r.seq as Seq, r.ts as u64)))
    }

    fn claim(&mut self, canonical_name: &str, key_hash: &str, now_ms: u64) -> std::result::Result<bool, StoreError> {
        #[derive(Deserialize)]
        struct Owner {
            key_hash: String,
        }
        self.sql
            .exec(
                "INSERT INTO claims (name, key_hash, claimed_ms) VALUES (?, ?, ?) ON CONFLICT (name) DO NOTHING",
                vec![canonical_name.into(), key_hash.into(), int(now_ms)],
            )
            .map_err(store_err)?;
        let owners: Vec<Owner> = self
            .sql
            .exec("SELECT key_hash FROM claims WHERE name = ?", vec![canonical_name.into()])
            .and_then(|c| c.to_array())
            .map_err(store_err)?;
        Ok(owners.first().is_some_and(|o| o.key_hash == key_hash))
    }

    fn append(
        &mut self,
        member: &str,
        client_id: &str,
        author: &str,
        text: &str,
        ts: u64,
    ) -> std::result::Result<Appended, StoreError> {
        // One statement in the common case: the unique index rejects a resend atomically.
        let inserted: Vec<SeqTs> = self
            .sql
            .exec(
                "INSERT INTO messages (member, client_id, author, text, ts) VALUES (?, ?, ?, ?, ?)
                 ON CONFLICT (member, client_id) DO NOTHING RETURNING seq, ts",
                vec![member.into(), client_id.into(), author.into(), text.into(), int(ts)],
            )
            .and_then(|c| c.to_array())
            .map_err(store_err)?;
        if let Some(row) = inserted.first() {
            return Ok(Appended::Stored(ChatMessage {
                seq: row.seq as Seq,
                client_id: client_id.into(),
                author: author.into(),
                text: text.into(),
                ts,
            }));
        }
        let first: Vec<SeqTs> = self
            .sql
            .exec(
                "SELECT seq, ts FROM messages WHERE member = ? AND client_id = ?",
                vec![member.into(), client_id.into()],
            )
            .and_then(|c| c.to_array())
            .map_err(store_err)?;
        let row = first.first().ok_or_else(|| StoreError("insert conflicted but no row matches".into()))?;
        Ok(Appended::Duplicate { seq: row.seq as Seq, ts: row.ts as u64 })
    }

    fn before(&mut self, before: Seq, limit: u32) -> std::result::Result<Vec<ChatMessage>, StoreError> {
        self.messages(
            "SELECT seq, client_id, author, text, ts FROM messages WHERE seq < ? ORDER BY seq DESC LIMIT ?",
            vec![int(before), int(limit.into())],
        )
    }

    fn after(&mut self, after: Seq, limit: u32) -> std::result::Result<Vec<ChatMessage>, StoreError> {
        self.messages(
            "SELECT seq, client_id, author, text, ts FROM messages WHERE seq > ? ORDER BY seq DESC LIMIT ?",
            vec![int(after), int(limit.into())],
        )
    }
}
