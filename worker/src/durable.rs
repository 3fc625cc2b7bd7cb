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
//!
//! Requests arrive from the Worker (`http.rs`) already routed, as a canonical internal
//! request: `GET /ws` (an upgrade, Origin already checked), `GET /info`, `GET /messages?…`,
//! `POST /write?op=…` (a bot's or the admin's write, with its `Authorization`),
//! `POST /webhook/set|clear` and `POST /create` (a private room's creator's key). Nothing else
//! is served, so the room name can never be mistaken for a route.

use crate::outbox::Outbox;
use crate::room::{Attachment, Effect, Input, Room, RoomConfig, SocketId, ADMIN};
use crate::routes::{self, history_query, since_query, var_u32, Write};
use crate::sql::{SqlCache, SqlStore};
use crate::store::Delivery;
use crate::store::CLAIM_IDLE_MS;
use crate::webhook;
use confab_shared::api::{IDEMPOTENCY_KEY, SIGNATURE_HEADER};
use confab_shared::limits::FRAME_MAX_BYTES;
use confab_shared::{ErrorCode, HttpError, MemberKey, ProtocolError, PING, PONG};
use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use wasm_bindgen::prelude::wasm_bindgen;
use wasm_bindgen::{JsCast, JsValue};
use worker::*;

const TAG_PREFIX: &str = "s:";
/// `WebSocket.readyState` of an open socket.
const OPEN: u16 = 1;
/// `WebSocket.readyState` of a socket that is closed for good.
const CLOSED: u16 = 3;

/// One chat room. Its name is the Durable Object's name (`idFromName(room)`).
///
/// `#[durable_object(alarm)]` exports the constructor, `fetch` and `alarm`; the socket events
/// are exported by hand below, so a frame's size is read before it is copied into wasm memory.
#[durable_object(alarm)]
pub struct ChatRoom {
    state: State,
    /// For the other objects it calls (its members' inboxes).
    env: Env,
    config: RoomConfig,
    /// How often the liveness sweep runs while sockets are open (`SWEEP_MS`).
    sweep_ms: u64,
    /// Socket frames closer together than this (ms) mean a busy room, whose sends are
    /// coalesced (`COALESCE_WITHIN_MS`, default 5; 0 never coalesces across frames).
    coalesce_within_ms: u64,
    live: RefCell<Option<Live>>,
    /// The alarm time this instance last set (or read), so a join or a message does not read
    /// storage to learn it; `None` on a new instance until it asks once.
    alarm_at: Cell<Option<u64>>,
    /// What this instance knows of its storage (whether the tables exist: reads of a room
    /// that was never written find nothing and create nothing; the first write creates them).
    cache: SqlCache,
    /// The runtime's `DurableObjectStorage`, for `transactionSync`.
    storage: JsValue,
    /// The upgrade of a protocol 1 room failed: the room serves nothing (503) until a retry
    /// succeeds, rather than start a second, empty history beside the old one.
    upgrade_failed: Cell<bool>,
    /// The deployment's admin secret (`ADMIN_TOKEN`, a Wrangler secret), if set: an owner in
    /// every room over HTTP.
    admin_token: Option<String>,
    /// `ALLOW_PRIVATE_WEBHOOKS`: a development setting that lets bots register webhooks on
    /// loopback and private addresses (the examples and tests run their receivers there).
    allow_private_webhooks: bool,
}

/// What exists only while the object is in memory; rebuilt on wake.
struct Live {
    room: Room,
    sockets: HashMap<SocketId, WebSocket>,
    /// The earliest [`Effect::WakeAt`] the room asked for since the caller last looked.
    wake_request: Option<u64>,
    /// When the next liveness sweep is due (0 after a wake: the first alarm sweeps).
    next_sweep_ms: u64,
    /// Frames made by socket events, waiting to be sent (see [`ChatRoom::coalesce`]);
    /// everything else flushes it at once.
    outbox: Outbox,
    /// A socket event is waiting a turn and will flush the outbox.
    flushing: bool,
    /// When the last socket frame was handled: a frame that comes less than
    /// `COALESCE_WITHIN_MS` after it finds the room busy, and its sends are coalesced. (Three
    /// frames within that time was measured too: a saturated room then never sped up enough
    /// to look busy, 1.5 messages per batch and 67,000 deliveries/s against 122,000, and ten
    /// people posting together at 20/s were delayed all the same.)
    last_frame_ms: u64,
}

pub(crate) fn env_u32(env: &Env, name: &str, default: u32) -> u32 {
    var_u32(env.var(name).ok().map(|v| v.to_string()), default)
}

impl DurableObject for ChatRoom {
    fn new(state: State, env: Env) -> Self {
        // One line per (re)start: how often a room wakes from hibernation is worth seeing in
        // `wrangler tail`, and the hibernation test reads it.
        console_log!("room {} starting", state.id().name().unwrap_or_default());
        let d = RoomConfig::default();
        let config = RoomConfig {
            rate_burst: env_u32(&env, "RATE_BURST", d.rate_burst),
            rate_per_sec: env_u32(&env, "RATE_PER_SEC", d.rate_per_sec),
            room_rate_burst: env_u32(&env, "ROOM_RATE_BURST", d.room_rate_burst),
            room_rate_per_sec: env_u32(&env, "ROOM_RATE_PER_SEC", d.room_rate_per_sec),
            socket_burst: env_u32(&env, "SOCKET_RATE_BURST", d.socket_burst),
            socket_per_sec: env_u32(&env, "SOCKET_RATE_PER_SEC", d.socket_per_sec),
            max_sockets: env_u32(&env, "MAX_SOCKETS", d.max_sockets),
            max_sockets_per_ip: env_u32(&env, "MAX_SOCKETS_PER_IP", d.max_sockets_per_ip),
            connect_burst: env_u32(&env, "CONNECT_RATE_BURST", d.connect_burst),
            connect_per_sec: env_u32(&env, "CONNECT_RATE_PER_SEC", d.connect_per_sec),
            idle_limit_ms: env_u32(&env, "IDLE_LIMIT_MS", 60_000).into(),
            ..d
        };
        match WebSocketRequestResponsePair::new(PING, PONG) {
            Ok(pair) => state.set_websocket_auto_response(&pair),
            Err(e) => console_error!("could not set the ping auto-response: {e:?}"),
        }
        let sql = state.storage().sql();
        let storage = js_sys::Reflect::get(state.as_raw(), &JsValue::from_str("storage")).unwrap_or(JsValue::NULL);
        let upgrade_failed = match SqlStore::upgrade(&sql, &storage) {
            Ok(_) => false,
            Err(e) => {
                console_error!("upgrading the room's storage failed: {e}");
                true
            }
        };
        // Milliseconds past u32: read as u64.
        let claim_idle_ms = env.var("CLAIM_IDLE_MS").ok().and_then(|v| v.to_string().trim().parse::<u64>().ok());
        let cache = SqlCache::new(claim_idle_ms.unwrap_or(CLAIM_IDLE_MS));
        let upgrade_failed = match SqlStore::exists(&sql) {
            Ok(exists) => {
                cache.schema.set(exists);
                upgrade_failed
            }
            Err(e) => {
                console_error!("reading the room's tables failed: {e}");
                true
            }
        };
        let sweep_ms = env_u32(&env, "SWEEP_MS", 30_000).into();
        let coalesce_within_ms = env_u32(&env, "COALESCE_WITHIN_MS", 5).into();
        // A Wrangler secret in production; a plain var works too, for `wrangler dev` and the
        // tests (never put a real one in wrangler.toml).
        let admin_token = env
            .secret("ADMIN_TOKEN")
            .map(|v| v.to_string())
            .or_else(|_| env.var("ADMIN_TOKEN").map(|v| v.to_string()))
            .ok()
            .filter(|t| t.len() >= 16);
        let allow_private_webhooks =
            env.var("ALLOW_PRIVATE_WEBHOOKS").is_ok_and(|v| matches!(v.to_string().trim(), "1" | "true"));
        Self {
            state,
            env,
            config,
            sweep_ms,
            coalesce_within_ms,
            live: RefCell::new(None),
            alarm_at: Cell::new(None),
            cache,
            storage,
            upgrade_failed: Cell::new(upgrade_failed),
            admin_token,
            allow_private_webhooks,
        }
    }

    async fn fetch(&self, req: Request) -> Result<Response> {
        if self.upgrade_failed.get() {
            let sql = self.state.storage().sql();
            match SqlStore::upgrade(&sql, &self.storage) {
                Ok(_) => match SqlStore::exists(&sql) {
                    Ok(exists) => {
                        self.upgrade_failed.set(false);
                        self.cache.schema.set(exists);
                    }
                    Err(e) => {
                        console_error!("reading the room's tables failed again: {e}");
                        let e =
                            ProtocolError::new(ErrorCode::Internal, "this room's storage is unavailable; try again");
                        return error_response(e, 503);
                    }
                },
                Err(e) => {
                    console_error!("upgrading the room's storage failed again: {e}");
                    let e = ProtocolError::new(ErrorCode::Internal, "this room's storage is being upgraded; try again");
                    return error_response(e, 503);
                }
            }
        }
        let url = req.url()?;
        match url.path() {
            "/ws" => {
                let response = self.accept(&req)?;
                self.after_event(None).await;
                Ok(response)
            }
            "/info" | "/messages" => {
                let ip = req.headers().get("CF-Connecting-IP")?;
                let mut store = self.store();
                let mut live = self.live();
                let live = live.as_mut().expect("live() fills it");
                let cost = if url.path() == "/info" { 1 } else { confab_shared::limits::HISTORY_COST };
                if let Err(wait) = live.room.admit_read(ip.as_deref(), cost, Date::now().as_millis()) {
                    return too_many(wait);
                }
                // An invite-only room is read only by its own bots: its members read on their
                // sockets, which joined with a name the room knows or an invite.
                let mut viewer = ADMIN;
                match live.room.invite_only(&mut store) {
                    Ok(false) => {}
                    Ok(true) => {
                        let bearer = req
                            .headers()
                            .get("Authorization")?
                            .and_then(|h| h.strip_prefix("Bearer ").map(|t| t.trim().to_owned()));
                        match bearer.map(|b| live.room.authenticate(&mut store, &b)) {
                            Some(Ok(Some(bot))) => viewer = bot.id,
                            Some(Err(e)) => return error_response(e, 500),
                            _ => {
                                let e = ProtocolError::new(
                                    ErrorCode::InviteRequired,
                                    "this room is invite-only: read it as a member, or with one of its bots' tokens",
                                );
                                return error_response(e, 403);
                            }
                        }
                    }
                    Err(e) => return error_response(e, 500),
                }
                if url.path() == "/info" {
                    json_or_error(live.room.info(&mut store))
                } else {
                    match since_query(url.query()) {
                        Ok(Some(since)) => json_or_error(live.room.changes(&mut store, since, viewer)),
                        Ok(None) => json_or_error(
                            history_query(url.query())
                                .and_then(|(before, limit)| live.room.history(&mut store, before, limit)),
                        ),
                        Err(e) => error_response(e, 400),
                    }
                }
            }
            "/webhook/set" | "/webhook/clear" => {
                let response = self.webhook(req, url.path() == "/webhook/set").await;
                self.after_event(None).await;
                response
            }
            "/write" => {
                let response = self.write(req, url.query()).await;
                self.after_event(None).await;
                response
            }
            "/inbox_of" => {
                // From an inbox starting a direct message (never forwarded by the Worker).
                let param = |k: &str| url.query_pairs().find(|(n, _)| n == k).and_then(|(_, v)| v.parse::<u64>().ok());
                let (Some(member), Some(me)) = (param("member"), param("me")) else {
                    return error_response(ProtocolError::new(ErrorCode::BadRequest, "member, me"), 400);
                };
                let mut store = self.store();
                let mut live = self.live();
                let live = live.as_mut().expect("live() fills it");
                let mine = live.room.inbox_of(&mut store, me);
                match (live.room.inbox_of(&mut store, member), mine) {
                    (Some((inbox, name)), Some((_, me))) => {
                        Response::from_json(&crate::inbox_object::InboxOf { inbox, name, me })
                    }
                    _ => error_response(ProtocolError::new(ErrorCode::NotFound, "no such person here"), 404),
                }
            }
            "/dm" => {
                #[derive(serde::Deserialize)]
                struct Pair {
                    a: String,
                    b: String,
                }
                let mut req = req;
                let pair: Pair = req.json().await?;
                let mut store = self.store();
                let mut live = self.live();
                let live = live.as_mut().expect("live() fills it");
                match live.room.make_dm(&mut store, &pair.a, &pair.b) {
                    Ok(true) => Response::ok("dm"),
                    Ok(false) => error_response(ProtocolError::new(ErrorCode::Forbidden, "not this pair's room"), 409),
                    Err(e) => error_response(e, 500),
                }
            }
            "/watch" => {
                // From a person's inbox (the Worker never forwards this path): watch for it,
                // and answer the exact counts.
                let param = |k: &str| url.query_pairs().find(|(n, _)| n == k).map(|(_, v)| v.into_owned());
                let (Some(member), Some(after), Some(inbox)) = (
                    param("member").and_then(|m| m.parse().ok()),
                    param("after").and_then(|a| a.parse().ok()),
                    param("inbox"),
                ) else {
                    return error_response(ProtocolError::new(ErrorCode::BadRequest, "member, after, inbox"), 400);
                };
                let mut store = self.store();
                let mut live = self.live();
                let live = live.as_mut().expect("live() fills it");
                match live.room.watch(&mut store, member, &inbox, after) {
                    Ok((unread, mentions, latest)) => {
                        Response::from_json(&crate::inbox_object::Watched { unread, mentions, latest })
                    }
                    Err(e) => error_response(e, 500),
                }
            }
            "/create" => {
                let mut req = req;
                let key = match MemberKey::parse(req.text().await?.trim()) {
                    Ok(k) => k,
                    Err(e) => return error_response(e, 400),
                };
                let mut store = self.store();
                let mut live = self.live();
                let live = live.as_mut().expect("live() fills it");
                match live.room.set_owner_key(&mut store, &key) {
                    Ok(()) => Response::ok("created"),
                    Err(e) => error_response(e, 500),
                }
            }
            other => error_response(ProtocolError::new(ErrorCode::NotFound, format!("nothing at {other}")), 404),
        }
    }

    /// The room's alarm, for its timed jobs: sending presence changes the room held back while
    /// busy (due within 100 ms), closing sockets that did not join in time, finishing streams
    /// their bots abandoned, the liveness sweep (every `SWEEP_MS` while sockets are open),
    /// which closes sockets that went silent because their peer vanished without a close, and
    /// sending the webhook deliveries that are due.
    async fn alarm(&self) -> Result<Response> {
        let now = Date::now().as_millis();
        self.alarm_at.set(None); // this one has fired
        {
            let mut live = self.live();
            let live = live.as_mut().expect("live() fills it");
            let mut store = self.store();
            let effects = live.room.handle(&mut store, Input::Tick, now);
            apply(live, effects);
            if now >= live.next_sweep_ms {
                live.next_sweep_ms = now + self.sweep_ms;
                let state: &RawState = self.state.as_raw().unchecked_ref();
                let sockets = &live.sockets;
                let effects = live
                    .room
                    .sweep(&mut store, now, |id| sockets.get(&id).and_then(|ws| state.auto_response_ms(ws.as_ref())));
                let closed = effects.iter().filter(|e| matches!(e, Effect::Close { .. })).count();
                if closed > 0 {
                    console_log!("sweep closed {closed} silent socket(s)");
                }
                apply(live, effects);
            }
            live.wake_request = None; // covered by next_wake() in after_event
        }
        self.deliver_webhooks(now).await;
        self.alarm_at.set(None);
        self.after_event(None).await;
        Response::ok("done")
    }
}

/// The socket events, exported by hand (see [`ChatRoom`]): the runtime calls these names.
#[wasm_bindgen]
impl ChatRoom {
    /// A message arrived. Its size is read from the JS value first: a frame over the limit
    /// (the runtime accepts up to 32 MiB) is refused without ever being copied into wasm
    /// memory, which only grows.
    #[wasm_bindgen(js_name = webSocketMessage)]
    pub async fn web_socket_message(
        &self,
        ws: web_sys::WebSocket,
        message: JsValue,
    ) -> std::result::Result<JsValue, JsValue> {
        // A socket the room has closed may still deliver what its peer keeps writing (a
        // flooder ignores the close): drop it at the cost of one property read, before any
        // tag lookup, storage handle or copy.
        if ws.ready_state() != OPEN {
            return Ok(JsValue::NULL);
        }
        let ws = WebSocket::from(ws);
        let Some(id) = socket_id(&self.state, &ws) else { return Ok(JsValue::NULL) };
        let input_len = match message.dyn_ref::<js_sys::JsString>() {
            // UTF-16 units: a frame of more units than the byte limit has more bytes too.
            Some(text) => (text.length() as usize, true),
            None => (js_sys::Uint8Array::new(&message).length() as usize, false),
        };
        let wake = match input_len {
            (len, _) if len > FRAME_MAX_BYTES => {
                console_warn!("refused a frame of {len} units; wasm memory {} bytes", wasm_memory_bytes());
                self.handle(&Input::TooLarge(id, len))
            }
            (_, true) => {
                let text = message.as_string().unwrap_or_default();
                self.handle(&Input::Text(id, &text))
            }
            (len, false) => self.handle(&Input::Binary(id, len)),
        };
        self.coalesce().await;
        self.after_event(wake).await;
        Ok(JsValue::NULL)
    }

    /// The peer closed the socket.
    #[wasm_bindgen(js_name = webSocketClose)]
    pub async fn web_socket_close(
        &self,
        ws: web_sys::WebSocket,
        _code: u16,
        _reason: String,
        _was_clean: bool,
    ) -> std::result::Result<JsValue, JsValue> {
        let ws = WebSocket::from(ws);
        let wake = self.closed(&ws);
        // Complete the closing handshake; the socket may already be gone, which is fine.
        let _ = ws.close(Some(1000), Some("closed"));
        self.after_event(wake).await;
        Ok(JsValue::NULL)
    }

    /// The socket failed.
    #[wasm_bindgen(js_name = webSocketError)]
    pub async fn web_socket_error(
        &self,
        ws: web_sys::WebSocket,
        error: JsValue,
    ) -> std::result::Result<JsValue, JsValue> {
        console_warn!("socket error: {error:?}");
        let wake = self.closed(&WebSocket::from(ws));
        self.after_event(wake).await;
        Ok(JsValue::NULL)
    }
}

/// Bytes of wasm linear memory (it never shrinks: a large copy would show here for good).
fn wasm_memory_bytes() -> u32 {
    wasm_bindgen::memory()
        .unchecked_into::<js_sys::WebAssembly::Memory>()
        .buffer()
        .unchecked_into::<js_sys::ArrayBuffer>()
        .byte_length()
}

impl ChatRoom {
    /// `PUT`/`DELETE /api/rooms/{room}/webhook` by a bot.
    async fn webhook(&self, mut req: Request, set: bool) -> Result<Response> {
        let bearer =
            req.headers().get("Authorization")?.and_then(|h| h.strip_prefix("Bearer ").map(|t| t.trim().to_owned()));
        let ip = req.headers().get("CF-Connecting-IP")?;
        let body = req.text().await?;
        let url = if set {
            match serde_json::from_str::<confab_shared::api::SetWebhook>(&body) {
                Ok(w) => Some(w.url),
                Err(_) => {
                    let e = ProtocolError::new(ErrorCode::BadRequest, "the body is {\"url\": \"https://…\"}");
                    return error_response(e, 400);
                }
            }
        } else {
            None
        };
        let mut store = self.store();
        let mut live = self.live();
        let live = live.as_mut().expect("live() fills it");
        if let Err(wait) = live.room.admit_read(ip.as_deref(), 1, Date::now().as_millis()) {
            return too_many(wait);
        }
        let bot = match bearer.map(|b| live.room.authenticate(&mut store, &b)) {
            Some(Ok(Some(bot))) => bot,
            Some(Err(e)) => return error_response(e, 500),
            _ => {
                let e = ProtocolError::new(ErrorCode::Unauthorized, "this needs a bot's Authorization: Bearer <token>");
                return error_response(e, 401);
            }
        };
        match live.room.set_webhook(&mut store, &bot, url.as_deref(), self.allow_private_webhooks) {
            Ok(Some(hook)) => Response::from_json(&hook),
            Ok(None) => Ok(Response::empty()?.with_status(204)),
            Err(e) => {
                let status = routes::status_of(e.code);
                error_response(e, status)
            }
        }
    }

    /// Sends the webhook deliveries that are due, all at once, each with its own timeout, and
    /// hands every answer back to the room. Runs from the alarm: a slow receiver delays
    /// nothing else (the object serves other events while these wait on the network).
    async fn deliver_webhooks(&self, now: u64) {
        let due = {
            let mut live = self.live();
            let live = live.as_mut().expect("live() fills it");
            live.room.due_deliveries(&mut self.store(), now)
        };
        if due.is_empty() {
            return;
        }
        let answers = futures::future::join_all(due.iter().map(deliver)).await;
        let mut live = self.live();
        let live = live.as_mut().expect("live() fills it");
        let mut store = self.store();
        let now = Date::now().as_millis();
        for (delivery, answer) in due.iter().zip(answers) {
            let effects = live.room.delivered(&mut store, delivery, answer, now);
            apply(live, effects);
        }
        live.room.deliveries_settled(&mut store);
    }

    /// A write over HTTP: a bot's message operation (its token in `Authorization: Bearer`),
    /// or a moderation action by the admin secret. The same rules and budgets as a socket's
    /// frame; the broadcast goes to the room's sockets before the answer.
    async fn write(&self, mut req: Request, query: Option<&str>) -> Result<Response> {
        let Some(write) = Write::from_query(query) else {
            return error_response(ProtocolError::new(ErrorCode::NotFound, "no such write"), 404);
        };
        let bearer =
            req.headers().get("Authorization")?.and_then(|h| h.strip_prefix("Bearer ").map(|t| t.trim().to_owned()));
        let idempotency = req.headers().get(IDEMPOTENCY_KEY)?;
        let ip = req.headers().get("CF-Connecting-IP")?;
        // Read before the room is borrowed: nothing may hold it across an `.await`.
        let body = req.text().await?;
        let now = Date::now().as_millis();
        let unauthorized = || {
            let e = ProtocolError::new(ErrorCode::Unauthorized, "this needs Authorization: Bearer <token>");
            error_response(e, 401)
        };
        let Some(bearer) = bearer else { return unauthorized() };
        let mut store = self.store();
        let mut live = self.live();
        let live = live.as_mut().expect("live() fills it");
        // Every write costs its address what a read does, before its token is even looked at:
        // a flood of bad tokens cannot keep the room busy hashing them.
        if let Err(wait) = live.room.admit_read(ip.as_deref(), 1, now) {
            return too_many(wait);
        }
        // Who asks comes first: a request without the right gets 401 whatever its body.
        let bot = if write == Write::Moderate {
            if !self.admin_token.as_deref().is_some_and(|t| constant_time_eq(t, &bearer)) {
                return unauthorized();
            }
            None
        } else {
            match live.room.authenticate(&mut store, &bearer) {
                Ok(Some(bot)) => Some(bot),
                Ok(None) => return unauthorized(),
                Err(e) => return error_response(e, 500),
            }
        };
        let fresh = format!("h{}-{}", now, js_sys::Math::random().to_bits() % 1_000_000_007);
        let frame = match write.frame(&body, idempotency.as_deref(), &fresh) {
            Ok(f) => f,
            Err(e) => {
                let status = routes::status_of(e.code);
                return error_response(e, status);
            }
        };
        let (result, effects) = match &bot {
            None => live.room.admin_op(&mut store, frame, now),
            Some(bot) => live.room.bot_op(&mut store, bot, frame, now),
        };
        apply(live, effects);
        match result {
            Ok(done) => {
                let status = if done.duplicate { 200 } else { 201 };
                let (bot, token) = done.bot.map_or((None, None), |(b, t)| (Some(b), Some(t)));
                let body = confab_shared::api::Done {
                    seq: done.seq,
                    ts: done.ts,
                    duplicate: done.duplicate,
                    bot,
                    token,
                    invite: done.invite,
                };
                Ok(Response::from_json(&body)?.with_status(status))
            }
            Err((e, wait)) => {
                let status = routes::status_of(e.code);
                let mut response = error_response(e, status)?;
                if let Some(wait) = wait {
                    response.headers_mut().set("Retry-After", &wait.div_ceil(1000).to_string())?;
                }
                Ok(response)
            }
        }
    }

    fn store(&self) -> SqlStore<'_> {
        SqlStore { sql: self.state.storage().sql(), storage: &self.storage, cache: &self.cache }
    }

    /// The live state, rebuilt from the open sockets if the object just woke up.
    fn live(&self) -> std::cell::RefMut<'_, Option<Live>> {
        let mut live = self.live.borrow_mut();
        if live.is_none() {
            let mut sockets = HashMap::new();
            let mut attachments = Vec::new();
            for ws in self.state.get_websockets() {
                // Every listed socket goes to the room, the ones it closed included: their
                // tombstones keep them out of the members (a peer that never answered the
                // close is no ghost) but still count for socket ids, so a new socket never
                // takes the id of an old one whose late close event may yet arrive. A socket
                // its *peer* is closing (CLOSING without a tombstone) is still a member: its
                // close event is on its way and will announce the leave.
                // A socket already CLOSED (failed without a close from the room) counts for ids
                // only, like a tombstone: it cannot be a member any more.
                let sys: &web_sys::WebSocket = ws.as_ref();
                let gone = sys.ready_state() == CLOSED;
                match ws.deserialize_attachment::<Attachment>() {
                    Ok(Some(a)) if a.closed || gone => attachments.push(Attachment { closed: true, ..a }),
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
                room: Room::restore(name, self.config, attachments, &mut self.store()),
                sockets,
                wake_request: None,
                next_sweep_ms: 0,
                outbox: Outbox::default(),
                flushing: false,
                last_frame_ms: 0,
            });
        }
        live
    }

    fn accept(&self, req: &Request) -> Result<Response> {
        // The Worker checked the upgrade header; this is a second line of defence.
        if !req.headers().get("Upgrade")?.is_some_and(|u| u.eq_ignore_ascii_case("websocket")) {
            return error_response(ProtocolError::new(ErrorCode::UpgradeRequired, "expected a WebSocket upgrade"), 426);
        }
        let ip = req.headers().get("CF-Connecting-IP")?;
        let mut live = self.live();
        let live = live.as_mut().expect("live() fills it");
        let (attachment, effects) = match live.room.open(Date::now().as_millis(), ip.as_deref()) {
            Ok(opened) => opened,
            Err(e) => return error_response(e, 429),
        };
        let pair = WebSocketPair::new()?;
        let id = attachment.id;
        self.state.accept_websocket_with_tags(&pair.server, &[&format!("{TAG_PREFIX}{id}")]);
        pair.server.serialize_attachment(&attachment)?;
        live.sockets.insert(id, pair.server);
        apply(live, effects);
        Response::from_websocket(pair.client)
    }

    /// Feeds one socket frame to the room and carries out its effects, its sends queued for
    /// [`ChatRoom::coalesce`]; returns the wake-up the room asked for, to be set as an alarm
    /// once the borrow is over.
    fn handle(&self, input: &Input<'_>) -> Option<u64> {
        let mut store = self.store();
        let mut live = self.live();
        let live = live.as_mut().expect("live() fills it");
        let effects = live.room.handle(&mut store, *input, Date::now().as_millis());
        queue(live, effects);
        live.wake_request.take()
    }

    /// Sends what a socket frame queued (issue 13). In a quiet room, at once. In a busy one
    /// (the previous frame came less than `COALESCE_WITHIN_MS` before), one turn of the
    /// event loop later (`setTimeout(0)`): the frames already waiting on other sockets are
    /// handled first and their sends join the same outbox, so each socket gets one `batch`
    /// for the lot instead of one write per frame. So the window opens only under load, and
    /// a lone message is never delayed. Either way the room's writes are never visible
    /// before they are durable: the runtime's output gate holds every send until the writes
    /// made before it have committed. (Waiting for the commit itself, `storage.sync()`, was
    /// tried: it coalesced less, and cost clients without batches a quarter of their
    /// throughput.) The first event to find the outbox unflushed flushes it; the others
    /// only add to it.
    async fn coalesce(&self) {
        {
            let mut live = self.live.borrow_mut();
            let Some(live) = live.as_mut() else { return };
            let now = Date::now().as_millis();
            let busy = now.saturating_sub(live.last_frame_ms) < self.coalesce_within_ms;
            live.last_frame_ms = now;
            if live.flushing || live.outbox.is_empty() {
                return;
            }
            if !busy {
                flush(live);
                return;
            }
            live.flushing = true;
        }
        Delay::from(std::time::Duration::ZERO).await;
        let mut live = self.live.borrow_mut();
        if let Some(live) = live.as_mut() {
            live.flushing = false;
            flush(live);
        }
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

    /// After an event: makes sure the alarm is set for the earliest of what the room asked
    /// for (`wake`, or its standing `next_wake`) and, while sockets are open, the next sweep.
    async fn after_event(&self, wake: Option<u64>) {
        self.tell_inboxes().await;
        let now = Date::now().as_millis();
        let wanted = {
            let live = self.live.borrow();
            let Some(live) = live.as_ref() else { return };
            let sweep =
                (live.room.socket_count() > 0).then(|| live.next_sweep_ms.max(now + 1).min(now + self.sweep_ms));
            [wake, live.room.next_wake(), sweep].into_iter().flatten().min()
        };
        let Some(at) = wanted else { return };
        if self.known_alarm().await.is_none_or(|set| set > at) {
            self.set_alarm_at(at, now).await;
        }
    }

    /// Sends the watching inboxes their batches, and the members' inboxes their joins. An
    /// inbox with no page open answers `410`: the room stops watching for it.
    async fn tell_inboxes(&self) {
        let (batches, joins, room) = {
            let mut live = self.live.borrow_mut();
            let Some(live) = live.as_mut() else { return };
            let (batches, joins) = (live.room.take_inbox_batches(), live.room.take_joins_to_tell());
            // Most events tell no inbox: no copy of the name, no binding lookup for them.
            if batches.is_empty() && joins.is_empty() {
                return;
            }
            (batches, joins, live.room.name().to_owned())
        };
        let Ok(inboxes) = self.env.durable_object("INBOXES") else { return };
        use crate::inbox_object::post;
        for (inbox, member, latest, dm) in joins {
            let body = serde_json::json!({"room": room, "member": member, "latest": latest, "dm": dm}).to_string();
            let sent = async {
                let stub = inboxes.id_from_name(&inbox)?.get_stub()?;
                stub.fetch_with_request(post("https://inbox/joined", body)?).await
            };
            if let Err(e) = sent.await {
                console_warn!("telling an inbox of a join failed: {e}");
            }
        }
        for batch in batches {
            let Ok(body) = serde_json::to_string(&batch.body) else { continue };
            let sent = async {
                let stub = inboxes.id_from_name(&batch.inbox)?.get_stub()?;
                stub.fetch_with_request(post("https://inbox/summaries", body)?).await
            };
            match sent.await {
                Ok(r) if r.status_code() == 410 => {
                    let mut store = self.store();
                    if let Some(live) = self.live.borrow_mut().as_mut() {
                        live.room.unwatch(&mut store, batch.body.member);
                    }
                }
                Ok(_) => {}
                Err(e) => console_warn!("a batch to an inbox failed: {e}"),
            }
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

    fn closed(&self, ws: &WebSocket) -> Option<u64> {
        let id = socket_id(&self.state, ws)?;
        let mut live = self.live();
        let live = live.as_mut().expect("live() fills it");
        live.sockets.remove(&id);
        let mut store = self.store();
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
    pub(crate) type RawState;
    /// When the runtime last answered this socket's `ping` by auto-response (null if never).
    #[wasm_bindgen(method, catch, js_name = getWebSocketAutoResponseTimestamp)]
    fn auto_response_timestamp(
        this: &RawState,
        ws: &web_sys::WebSocket,
    ) -> std::result::Result<Option<js_sys::Date>, wasm_bindgen::JsValue>;
}

impl RawState {
    pub(crate) fn auto_response_ms(&self, ws: &web_sys::WebSocket) -> Option<u64> {
        self.auto_response_timestamp(ws).ok().flatten().map(|d| d.get_time() as u64)
    }
}

fn raw(ws: &WebSocket) -> &RawSocket {
    let sys: &web_sys::WebSocket = ws.as_ref();
    sys.unchecked_ref::<RawSocket>()
}

/// Carries out the room's effects in order, sends included.
fn apply(live: &mut Live, effects: Vec<Effect>) {
    queue(live, effects);
    flush(live);
}

/// Carries out the room's effects in order, but queues its sends (with their audience as it
/// is now) for the next [`flush`]. A socket about to be closed is sent what was queued first.
fn queue(live: &mut Live, effects: Vec<Effect>) {
    for effect in effects {
        match effect {
            Effect::Send { to, text } => {
                let to = live.room.audience(&to);
                live.outbox.push(to, text);
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
                // What it was sent (the refusal that explains the close) goes first.
                flush(live);
                // The room has forgotten the socket; mark it so that, if its peer never
                // answers the close, it does not come back as a member after hibernation.
                if let Some(ws) = live.sockets.remove(&socket) {
                    if let Err(e) = ws.serialize_attachment(Attachment::tombstone(socket)) {
                        console_error!("tombstone write failed: {e}");
                    }
                    let _ = ws.close(Some(code), Some(reason));
                }
            }
            Effect::WakeAt(at) => live.wake_request = Some(live.wake_request.map_or(at, |w| w.min(at))),
        }
    }
}

/// Sends everything queued, coalesced per socket (see [`Outbox::drain`]), each text
/// converted to a JS string once for all its sockets. A send that fails means the socket is
/// closing; its close event will tell the room, so the failure is only logged.
fn flush(live: &mut Live) {
    if live.outbox.is_empty() {
        return;
    }
    let Live { outbox, room, sockets, .. } = live;
    for write in outbox.drain(|s| room.batches(s)) {
        let js = wasm_bindgen::JsValue::from_str(&write.text);
        for id in write.to {
            if let Some(ws) = sockets.get(&id) {
                if let Err(e) = raw(ws).send(&js) {
                    console_warn!("send to socket {id} failed: {e:?}");
                }
            }
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

/// Compares two secrets in time that does not depend on where they differ.
fn constant_time_eq(a: &str, b: &str) -> bool {
    a.len() == b.len() && a.bytes().zip(b.bytes()).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// One webhook delivery: a signed `POST`, redirects not followed, answered within
/// [`webhook::TIMEOUT_MS`] or taken as failed.
async fn deliver(d: &Delivery) -> webhook::Answer {
    let controller = AbortController::default();
    let signal = controller.signal();
    let attempt = async move {
        let headers = Headers::new();
        headers.set("Content-Type", "application/json")?;
        headers.set("User-Agent", "Confab-Webhook/1")?;
        headers.set(SIGNATURE_HEADER, &webhook::sign(&d.hook.secret, d.body.as_bytes()))?;
        // One id per mention and bot: the same on every retry of a delivery, so a receiver can
        // tell a retry from a new mention.
        headers.set("X-Confab-Delivery", &format!("{}-{}", d.message, d.hook.bot.id))?;
        let mut init = RequestInit::new();
        init.with_method(Method::Post)
            .with_headers(headers)
            .with_body(Some(d.body.clone().into()))
            .with_redirect(RequestRedirect::Manual);
        let req = Request::new_with_init(&d.hook.url, &init)?;
        let mut resp = Fetch::Request(req).send_with_signal(&signal).await?;
        let status = resp.status_code();
        let content_type = resp.headers().get("Content-Type")?;
        // At most what a reply could use is read, whatever the answer says its length is (a
        // chunked answer says nothing): the rest is left unread.
        let (body, _) = read_at_most(resp.stream(), webhook::REPLY_MAX_BYTES).await?;
        Ok::<_, worker::Error>((status, content_type, body))
    };
    let timeout = Delay::from(std::time::Duration::from_millis(webhook::TIMEOUT_MS));
    match futures::future::select(Box::pin(attempt), timeout).await {
        futures::future::Either::Left((Ok((status, content_type, body)), _)) => {
            webhook::answer(Some(status), content_type.as_deref(), &body)
        }
        futures::future::Either::Left((Err(e), _)) => {
            console_warn!("webhook delivery {} failed: {e}", d.id);
            webhook::Answer::Retry
        }
        futures::future::Either::Right(_) => {
            controller.abort();
            console_warn!("webhook delivery {} timed out", d.id);
            webhook::Answer::Retry
        }
    }
}

/// Reads at most `max` bytes of a body, leaving the rest unread: `(text, whether it was cut)`.
/// No body (a `204`) reads as empty.
pub(crate) async fn read_at_most(stream: Result<ByteStream>, max: usize) -> Result<(String, bool)> {
    use futures::StreamExt;
    let Ok(mut stream) = stream else { return Ok((String::new(), false)) };
    let mut bytes: Vec<u8> = Vec::new();
    while let Some(chunk) = stream.next().await {
        let chunk = chunk?;
        let room = max.saturating_sub(bytes.len());
        if chunk.len() > room {
            bytes.extend_from_slice(chunk.get(..room).unwrap_or_default());
            return Ok((String::from_utf8_lossy(&bytes).into_owned(), true));
        }
        bytes.extend_from_slice(&chunk);
    }
    Ok((String::from_utf8_lossy(&bytes).into_owned(), false))
}

/// `429 rate_limited` with `Retry-After`: this address asks too often.
fn too_many(wait_ms: u64) -> Result<Response> {
    let e = ProtocolError::new(ErrorCode::RateLimited, "too many requests from your address; slow down");
    let mut response = error_response(e, 429)?;
    response.headers_mut().set("Retry-After", &wait_ms.div_ceil(1000).to_string())?;
    Ok(response)
}
