//! The `InboxObject` Durable Object: thin glue between workers-rs and [`Inbox`] (issue 11, in
//! progress; design in docs/ARCHITECTURE.md). One per person, named by
//! `confab_shared::inbox::inbox_id` of the browser's key.
//!
//! Served, from the Worker only: `GET /ws` (the person's pages; the first frame must be
//! `hello` with the key whose hash is this object's name), and from rooms: `POST /joined`
//! (the person joined a room) and `POST /summaries` (a watched room's posts; answered `410`
//! when no page of the person is open, and the room stops watching). Counts are asked of a
//! room with its internal `GET /watch`.

use crate::durable::{error_response, RawState};
use crate::inbox::{Inbox, Level, Out};
use confab_shared::inbox::{inbox_id, InboxEvent, InboxFrame, Summaries};
use confab_shared::{ErrorCode, MemberId, MemberKey, ProtocolError, Seq};
use serde::{Deserialize, Serialize};
use std::cell::RefCell;
use worker::*;

/// What a socket is, on its attachment (so it survives hibernation with the socket).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
enum Tag {
    /// Opened at this time, no `hello` yet: closed after [`HELLO_DEADLINE_MS`].
    New(u64),
    /// A page that said `hello` with the right key, and the room its tab is focused on.
    /// Each page says its own focus, so one tab losing focus or closing never clears
    /// another's.
    Page {
        /// When it last said anything (a `ping` answered by the runtime counts too).
        heard: u64,
        /// The room it shows while focused.
        focus: Option<String>,
    },
    /// Closing: counts for nothing any more.
    Closed,
}

/// A socket not greeted yet is closed this long after it opened (it would hold one of the
/// person's 16 places).
const HELLO_DEADLINE_MS: u64 = 10_000;
/// A page pings every 20 s (the runtime answers without waking the inbox); one silent this
/// long is gone without a close frame (asleep, off the network): it is closed, so its focus
/// stops hiding its room's notifications and the person's mentions are kept for the next page
/// instead of sent to nobody. The `INBOX_SILENT_MS` var overrides it (for tests).
const PAGE_SILENT_MS: u32 = 65_000;

fn tag(ws: &WebSocket) -> Option<Tag> {
    ws.deserialize_attachment::<Tag>().ok().flatten()
}

/// Notifications an inbox keeps while no page of its person is open.
const PENDING_MAX: i64 = 100;

/// One person's inbox.
#[durable_object]
pub struct InboxObject {
    state: State,
    env: Env,
    inbox: RefCell<Option<Inbox>>,
    /// A page silent this long is gone ([`PAGE_SILENT_MS`]).
    silent_ms: u64,
    /// The inbox was just read back from storage (its counts unknown): pages open on it get
    /// every room recounted.
    restored: std::cell::Cell<bool>,
}

/// What a room tells an inbox when its person joins.
#[derive(Debug, Serialize, Deserialize)]
pub struct Joined {
    /// The room.
    pub room: String,
    /// The person's member there.
    pub member: MemberId,
    /// A direct message.
    #[serde(default)]
    pub dm: bool,
    /// The room's newest `seq`.
    pub latest: Seq,
}

/// One inbox telling another that a direct message started.
#[derive(Debug, Serialize, Deserialize)]
pub struct DmStarted {
    /// The DM room.
    pub room: String,
    /// Who started it, by the name the other person knows them by.
    pub peer: String,
}

/// A room's answer to `/inbox_of`.
#[derive(Debug, Serialize, Deserialize)]
pub struct InboxOf {
    /// The member's inbox.
    pub inbox: String,
    /// Their name there.
    pub name: String,
    /// The asker's own name there.
    pub me: String,
}

/// A room's answer to `/watch`.
#[derive(Debug, Serialize, Deserialize)]
pub struct Watched {
    /// Posts by others after the read position.
    pub unread: u32,
    /// Of those, mentions.
    pub mentions: u32,
    /// As of this `seq`.
    pub latest: Seq,
}

#[derive(Deserialize)]
struct RoomRow {
    room: String,
    member: f64,
    dm: f64,
    last_read: f64,
    level: String,
    peer: Option<String>,
}

#[derive(Deserialize)]
struct DmTime {
    kind: String,
    at: f64,
}

fn level_text(l: Level) -> &'static str {
    match l {
        Level::All => "all",
        Level::Mentions => "mentions",
        Level::Nothing => "nothing",
    }
}

fn level_of(s: &str) -> Level {
    match s {
        "all" => Level::All,
        "nothing" => Level::Nothing,
        _ => Level::Mentions,
    }
}

impl DurableObject for InboxObject {
    fn new(state: State, env: Env) -> Self {
        // One line per start: a second one means the inbox hibernated or was evicted and woke.
        console_log!("inbox {} starting", state.id().name().unwrap_or_default());
        // A page's keepalive is answered by the runtime, without waking the inbox.
        match WebSocketRequestResponsePair::new(confab_shared::PING, confab_shared::PONG) {
            Ok(pair) => state.set_websocket_auto_response(&pair),
            Err(e) => console_error!("could not set the ping auto-response: {e:?}"),
        }
        let silent_ms = crate::durable::env_u32(&env, "INBOX_SILENT_MS", PAGE_SILENT_MS).into();
        Self { state, env, inbox: RefCell::new(None), restored: std::cell::Cell::new(false), silent_ms }
    }

    async fn fetch(&self, mut req: Request) -> Result<Response> {
        let url = req.url()?;
        match url.path() {
            "/ws" => {
                if self.state.get_websockets().len() >= crate::inbox::SOCKETS_MAX {
                    let e = ProtocolError::new(ErrorCode::TooManyConnections, "too many pages open on this inbox");
                    return error_response(e, 429);
                }
                let pair = WebSocketPair::new()?;
                self.state.accept_web_socket(&pair.server);
                let now = Date::now().as_millis();
                pair.server.serialize_attachment(Tag::New(now))?;
                self.wake_at(now + HELLO_DEADLINE_MS).await;
                Response::from_websocket(pair.client)
            }
            "/joined" => {
                let j: Joined = req.json().await?;
                let outs = {
                    let mut inbox = self.inbox()?;
                    match inbox.joined(&j.room, j.member, j.dm, j.latest) {
                        // A page is open: the room starts sending its counts now.
                        Ok(mut outs) if !self.greeted().is_empty() => {
                            outs.extend(inbox.watch(&j.room));
                            outs
                        }
                        Ok(outs) => outs,
                        Err(_) => {
                            let e = ProtocolError::new(ErrorCode::BadRequest, "this person is in too many rooms");
                            return error_response(e, 409);
                        }
                    }
                };
                self.save_room(&j.room)?;
                self.carry_out(outs).await;
                Response::ok("ok")
            }
            "/dm_started" => {
                // The other side started a direct message with this person.
                let d: DmStarted = req.json().await?;
                // A new one counts against what others may start with this person per hour.
                let listed = self.inbox()?.rooms().contains_key(&d.room);
                if !listed {
                    let now = Date::now().as_millis();
                    if !self.inbox()?.may_receive_dm(now) {
                        return Ok(Response::empty()?.with_status(429));
                    }
                    self.note_dm_time("received", now)?;
                }
                let outs = match self.inbox()?.dm_started(&d.room, &d.peer) {
                    Ok(outs) => outs,
                    Err(_) => return Ok(Response::empty()?.with_status(409)),
                };
                self.save_room(&d.room)?;
                let note = InboxEvent::Notify {
                    room: d.room.clone(),
                    id: 0,
                    author: d.peer.clone(),
                    excerpt: format!("{} started a conversation with you", d.peer),
                    count: 1,
                };
                for ws in self.greeted() {
                    let _ = ws.send(&note);
                }
                self.carry_out(outs).await;
                Response::ok("ok")
            }
            "/summaries" => {
                let s: Summaries = req.json().await?;
                // The live pages (a silent one is closed here) and what they are focused on.
                let pages = self.pages();
                let focus: Vec<String> = pages.iter().filter_map(|(_, f)| f.clone()).collect();
                self.inbox()?.focus(focus);
                if pages.is_empty() {
                    // Nobody to tell: a mention waits as a notification for the next page; the
                    // room stops watching until a page opens again.
                    // Kept only where the room's level wants them.
                    let level = self.inbox()?.rooms().get(&s.room).map(|e| e.level);
                    let wanted = level != Some(Level::Nothing);
                    let mentions: Vec<_> = s.posts.iter().filter(|p| wanted && p.mentions_me && !p.deleted).collect();
                    for p in &mentions {
                        self.keep_pending(&s.room, p)?;
                    }
                    return Ok(Response::empty()?.with_status(if mentions.is_empty() { 410 } else { 202 }));
                }
                let read_before = self.inbox()?.rooms().get(&s.room).map(|e| e.last_read);
                let outs = self.inbox()?.summaries(&s.room, s.from, s.to, &s.posts, Date::now().as_millis());
                // The person's own post moves their read position: kept, as a `read` is.
                if self.inbox()?.rooms().get(&s.room).map(|e| e.last_read) != read_before {
                    self.save_room(&s.room)?;
                }
                self.carry_out(outs).await;
                // What a noisy room holds back goes out when its window ends.
                let next = self.inbox()?.flush_due(&s.room);
                if let Some(at) = next {
                    self.wake_at(at).await;
                }
                Response::ok("ok")
            }
            other => error_response(ProtocolError::new(ErrorCode::NotFound, format!("nothing at {other}")), 404),
        }
    }

    async fn websocket_message(&self, ws: WebSocket, message: WebSocketIncomingMessage) -> Result<()> {
        let WebSocketIncomingMessage::String(text) = message else { return Ok(()) };
        let Ok(frame) = serde_json::from_str::<InboxFrame>(&text) else {
            let _ = ws.close(Some(1008), Some("not an inbox frame"));
            return Ok(());
        };
        let greeted = match tag(&ws) {
            Some(Tag::Page { focus, .. }) => {
                ws.serialize_attachment(Tag::Page { heard: Date::now().as_millis(), focus })?;
                true
            }
            _ => false,
        };
        // What changed, to save: one room, not all of them.
        let mut changed: Option<String> = None;
        let outs = match frame {
            InboxFrame::Hello { key } => {
                let mine = MemberKey::parse(&key).is_ok_and(|k| Some(inbox_id(&k)) == self.state.id().name());
                if !mine {
                    let _ = ws.close(Some(4003), Some("not this inbox's key"));
                    return Ok(());
                }
                let first = self.greeted().is_empty();
                ws.serialize_attachment(Tag::Page { heard: Date::now().as_millis(), focus: None })?;
                let inbox = self.inbox()?;
                let _ = ws.send(&InboxEvent::Rooms { rooms: inbox.listing() });
                // What was said to the person while no page was open.
                for event in self.take_pending()? {
                    let _ = ws.send(&event);
                }
                // The person's first page, or an inbox just read back: every room recounts (and
                // watches again).
                let restored = self.restored.replace(false);
                if first || restored {
                    inbox.recount_all()
                } else {
                    Vec::new()
                }
            }
            _ if !greeted => {
                let _ = ws.close(Some(4000), Some("hello first"));
                return Ok(());
            }
            InboxFrame::Read { room, seq } => {
                let outs = self.inbox()?.read(&room, seq);
                changed = Some(room);
                outs.unwrap_or_else(|_| refuse(&ws, ErrorCode::NotFound, "not a room of yours"))
            }
            InboxFrame::MarkUnread { room, id } => {
                let outs = self.inbox()?.mark_unread(&room, id);
                changed = Some(room);
                outs.unwrap_or_else(|_| refuse(&ws, ErrorCode::NotFound, "not a room of yours"))
            }
            InboxFrame::Level { room, level } => {
                // Every page shows the room's new level (and what it asks for) at once.
                let outs = self.inbox()?.set_level(&room, level);
                changed = Some(room);
                outs.unwrap_or_else(|_| refuse(&ws, ErrorCode::NotFound, "not a room of yours"))
            }
            InboxFrame::Focus { room } => {
                if let Some(Tag::Page { heard, .. }) = tag(&ws) {
                    ws.serialize_attachment(Tag::Page { heard, focus: room })?;
                }
                let rooms = self.focused_rooms();
                self.inbox()?.focus(rooms);
                Vec::new()
            }
            InboxFrame::Dm { room, member } => match self.start_dm(&room, member).await {
                Ok((dm, outs)) => {
                    // Listed everywhere first (the counts), then this page opens it.
                    self.carry_out(outs).await;
                    let _ = ws.send(&InboxEvent::DmOpened { room: dm });
                    Vec::new()
                }
                Err(e) => refuse(&ws, ErrorCode::BadRequest, &e.to_string()),
            },
        };
        if let Some(room) = changed {
            self.save_room(&room)?;
        }
        self.carry_out(outs).await;
        Ok(())
    }

    /// Held-back notifications whose window ended, and sockets that never said `hello`.
    async fn alarm(&self) -> Result<Response> {
        let now = Date::now().as_millis();
        // Held-back notifications live in memory: an inbox woken just for this alarm (a
        // `hello` deadline, set when a page connected) holds none, and reading it back from
        // storage would make the next `hello` recount every room for nothing.
        let mut next = None;
        if self.inbox.borrow().is_some() {
            let outs = self.inbox()?.flush_held(now);
            self.carry_out(outs).await;
            next = self.inbox()?.next_flush();
        }
        for ws in self.state.get_websockets() {
            let Some(Tag::New(opened)) = tag(&ws) else { continue };
            if now >= opened + HELLO_DEADLINE_MS {
                let _ = ws.close(Some(4000), Some("no hello in time"));
            } else {
                next = Some(next.map_or(opened + HELLO_DEADLINE_MS, |n| n.min(opened + HELLO_DEADLINE_MS)));
            }
        }
        if let Some(at) = next {
            self.wake_at(at).await;
        }
        Response::ok("done")
    }

    async fn websocket_close(&self, ws: WebSocket, _code: usize, _reason: String, _clean: bool) -> Result<()> {
        // A tab closed while focused (its last `focus` never came): its room notifies again.
        let _ = ws.serialize_attachment(Tag::Closed);
        let rooms = self.focused_rooms();
        self.inbox()?.focus(rooms);
        let _ = ws.close(Some(1000), Some("closed"));
        Ok(())
    }

    async fn websocket_error(&self, _ws: WebSocket, _error: Error) -> Result<()> {
        Ok(())
    }
}

impl InboxObject {
    /// Sets the alarm for `at` unless one is due sooner.
    async fn wake_at(&self, at: u64) {
        let now = Date::now().as_millis();
        let storage = self.state.storage();
        let sooner = storage.get_alarm().await.ok().flatten().is_some_and(|t| u64::try_from(t).is_ok_and(|t| t <= at));
        if !sooner {
            // workers-rs 0.8.7 takes an offset from now.
            let _ = storage.set_alarm(i64::try_from(at.saturating_sub(now)).unwrap_or(i64::MAX)).await;
        }
    }

    fn sql(&self) -> SqlStorage {
        self.state.storage().sql()
    }

    /// The inbox, loaded from storage on the first event after a wake.
    fn inbox(&self) -> Result<std::cell::RefMut<'_, Inbox>> {
        let mut slot = self.inbox.borrow_mut();
        if slot.is_none() {
            let sql = self.sql();
            sql.exec(
                "CREATE TABLE IF NOT EXISTS rooms (room TEXT PRIMARY KEY, member INTEGER NOT NULL, dm INTEGER NOT NULL,
                 last_read INTEGER NOT NULL, level TEXT NOT NULL, peer TEXT)",
                None,
            )?;
            let rows: Vec<RoomRow> =
                sql.exec("SELECT room, member, dm, last_read, level, peer FROM rooms", None)?.to_array()?;
            self.restored.set(true);
            let mut inbox =
                Inbox::restore(rows.into_iter().map(|r| {
                    (r.room, r.member as MemberId, r.dm != 0.0, r.last_read as Seq, level_of(&r.level), r.peer)
                }));
            // Woken from hibernation: the focus is on the sockets, which hibernated too; the
            // hour's direct messages are in storage.
            inbox.focus(self.focused_rooms());
            sql.exec("CREATE TABLE IF NOT EXISTS dm_times (kind TEXT NOT NULL, at INTEGER NOT NULL)", None)?;
            let times: Vec<DmTime> = sql.exec("SELECT kind, at FROM dm_times", None)?.to_array()?;
            let of = |k: &str| times.iter().filter(|t| t.kind == k).map(|t| t.at as u64).collect::<Vec<_>>();
            inbox.restore_dm_times(of("started"), of("received"));
            *slot = Some(inbox);
        }
        Ok(std::cell::RefMut::map(slot, |s| s.as_mut().expect("filled just above")))
    }

    /// Notifications kept while no page is open: the newest [`PENDING_MAX`].
    fn keep_pending(&self, room: &str, p: &confab_shared::inbox::PostSummary) -> Result<()> {
        let sql = self.sql();
        sql.exec(
            "CREATE TABLE IF NOT EXISTS pending (n INTEGER PRIMARY KEY, room TEXT NOT NULL, id INTEGER NOT NULL,
             author TEXT NOT NULL, excerpt TEXT NOT NULL)",
            None,
        )?;
        sql.exec(
            "INSERT INTO pending (room, id, author, excerpt) VALUES (?, ?, ?, ?)",
            vec![
                room.into(),
                SqlStorageValue::Integer(p.id as i64),
                p.author.as_str().into(),
                p.excerpt.as_str().into(),
            ],
        )?;
        sql.exec(
            "DELETE FROM pending WHERE n <= (SELECT max(n) FROM pending) - ?",
            vec![SqlStorageValue::Integer(PENDING_MAX)],
        )?;
        Ok(())
    }

    /// The notifications kept while no page was open, oldest first, taken.
    fn take_pending(&self) -> Result<Vec<InboxEvent>> {
        #[derive(Deserialize)]
        struct Row {
            room: String,
            id: f64,
            author: String,
            excerpt: String,
        }
        let sql = self.sql();
        let exists: Vec<serde_json::Value> =
            sql.exec("SELECT name FROM sqlite_master WHERE type = 'table' AND name = 'pending'", None)?.to_array()?;
        if exists.is_empty() {
            return Ok(Vec::new());
        }
        let rows: Vec<Row> = sql.exec("SELECT room, id, author, excerpt FROM pending ORDER BY n", None)?.to_array()?;
        sql.exec("DELETE FROM pending", None)?;
        Ok(rows
            .into_iter()
            .map(|r| InboxEvent::Notify {
                room: r.room,
                id: r.id as Seq,
                author: r.author,
                excerpt: r.excerpt,
                count: 1,
            })
            .collect())
    }

    fn save_room(&self, room: &str) -> Result<()> {
        let inbox = self.inbox()?;
        let Some(e) = inbox.rooms().get(room) else { return Ok(()) };
        self.sql().exec(
            "INSERT OR REPLACE INTO rooms (room, member, dm, last_read, level, peer) VALUES (?, ?, ?, ?, ?, ?)",
            vec![
                room.into(),
                SqlStorageValue::Integer(e.member as i64),
                SqlStorageValue::Integer(i64::from(e.dm)),
                SqlStorageValue::Integer(e.last_read as i64),
                level_text(e.level).into(),
                e.peer.clone().map_or(SqlStorageValue::Null, Into::into),
            ],
        )?;
        Ok(())
    }

    /// The person's pages that said `hello` and are alive, with their focus. A page silent
    /// for [`PAGE_SILENT_MS`] (no `ping` answered by the runtime, nothing said) is closed here,
    /// when it would next be counted: no timer needed.
    fn pages(&self) -> Vec<(WebSocket, Option<String>)> {
        let now = Date::now().as_millis();
        let raw: &RawState = wasm_bindgen::JsCast::unchecked_ref(self.state.as_raw());
        let mut live = Vec::new();
        for ws in self.state.get_websockets() {
            let Some(Tag::Page { heard, focus }) = tag(&ws) else { continue };
            let heard = raw.auto_response_ms(ws.as_ref()).map_or(heard, |t| t.max(heard));
            if now.saturating_sub(heard) >= self.silent_ms {
                let _ = ws.serialize_attachment(Tag::Closed);
                let _ = ws.close(Some(4000), Some("silent"));
                continue;
            }
            live.push((ws, focus));
        }
        live
    }

    /// The person's live pages.
    fn greeted(&self) -> Vec<WebSocket> {
        self.pages().into_iter().map(|(ws, _)| ws).collect()
    }

    /// The rooms the person's live pages are focused on.
    fn focused_rooms(&self) -> Vec<String> {
        self.pages().into_iter().filter_map(|(_, f)| f).collect()
    }

    /// Sends counts and notifications to the person's pages, and asks rooms to recount.
    async fn carry_out(&self, outs: Vec<Out>) {
        let mut recounts = Vec::new();
        // The live pages, looked up once for everything this carries out (not once per event).
        let pages = if outs.iter().any(|o| !matches!(o, Out::Recount { .. })) { self.greeted() } else { Vec::new() };
        for out in outs {
            let event = match out {
                Out::Counts { room, .. } => match self.inbox().ok().and_then(|i| i.room_counts(&room)) {
                    Some(r) => InboxEvent::Counts(r),
                    None => continue,
                },
                Out::Notify { room, id, author, excerpt, count } => {
                    InboxEvent::Notify { room, id, author, excerpt, count }
                }
                Out::Recount { room, member, after } => {
                    recounts.push((room, member, after));
                    continue;
                }
            };
            for ws in &pages {
                let _ = ws.send(&event);
            }
        }
        for (room, member, after) in recounts {
            if let Err(e) = self.recount(&room, member, after).await {
                console_warn!("recounting {room} failed: {e}");
            }
        }
    }

    /// Starts (or opens) a direct message with `member` of `room`: asks that room for their
    /// inbox (clients never name one), makes the DM room theirs and ours, lists it here and
    /// tells their inbox.
    async fn start_dm(&self, room: &str, member: MemberId) -> Result<(String, Vec<Out>)> {
        let mine = self.state.id().name().unwrap_or_default();
        let me = self.inbox()?.rooms().get(room).map(|e| e.member).ok_or("that is not a room of yours")?;
        let rooms = self.env.durable_object("ROOMS")?;
        let url = format!("https://room/inbox_of?member={member}&me={me}");
        let mut answer = rooms.id_from_name(room)?.get_stub()?.fetch_with_str(&url).await?;
        if answer.status_code() != 200 {
            return Err("that member cannot be messaged".into());
        }
        let of: InboxOf = answer.json().await?;
        if of.inbox == mine {
            return Err("a DM with yourself".into());
        }
        let dm = confab_shared::inbox::dm_room(&mine, &of.inbox);
        // Opening one that exists costs nothing and tells nobody again.
        if self.inbox()?.rooms().contains_key(&dm) {
            let outs = self.inbox()?.dm_started(&dm, &of.name).unwrap_or_default();
            self.save_room(&dm)?;
            return Ok((dm, outs));
        }
        let now = Date::now().as_millis();
        if !self.inbox()?.may_start_dm(now) {
            return Err("too many direct messages started this hour; try again later".into());
        }
        self.note_dm_time("started", now)?;
        if self.inbox()?.rooms().len() >= crate::inbox::ROOMS_MAX {
            return Err("too many rooms".into());
        }
        let body = serde_json::json!({"a": mine, "b": of.inbox}).to_string();
        let made = rooms.id_from_name(&dm)?.get_stub()?.fetch_with_request(post("https://room/dm", body)?).await?;
        if made.status_code() != 200 {
            return Err("that DM room is not ours".into());
        }
        // Their side first: if they cannot take it, nothing is listed here either.
        let told = serde_json::to_string(&DmStarted { room: dm.clone(), peer: of.me }).map_err(|e| e.to_string())?;
        let inboxes = self.env.durable_object("INBOXES")?;
        let answer = inboxes
            .id_from_name(&of.inbox)?
            .get_stub()?
            .fetch_with_request(post("https://inbox/dm_started", told)?)
            .await?;
        match answer.status_code() {
            200 => {}
            429 => return Err("they have been sent too many new conversations this hour; try again later".into()),
            409 => return Err("they are in too many rooms to take another".into()),
            _ => return Err("their inbox did not answer; try again".into()),
        }
        let outs = self.inbox()?.dm_started(&dm, &of.name).map_err(|_| "too many rooms")?;
        self.save_room(&dm)?;
        Ok((dm, outs))
    }

    /// Stores when a direct message was started (`kind`: by the person, `started`; by someone
    /// else, `received`), for the hourly bounds to survive hibernation; older than an hour goes.
    fn note_dm_time(&self, kind: &str, now: u64) -> Result<()> {
        let sql = self.sql();
        sql.exec("CREATE TABLE IF NOT EXISTS dm_times (kind TEXT NOT NULL, at INTEGER NOT NULL)", None)?;
        let hour_ago = now.saturating_sub(3_600_000) as i64;
        sql.exec("DELETE FROM dm_times WHERE at < ?", vec![SqlStorageValue::Integer(hour_ago)])?;
        sql.exec(
            "INSERT INTO dm_times (kind, at) VALUES (?, ?)",
            vec![kind.into(), SqlStorageValue::Integer(now as i64)],
        )?;
        Ok(())
    }

    /// Asks `room` for the exact counts after `after` (and to watch for this inbox).
    async fn recount(&self, room: &str, member: MemberId, after: Seq) -> Result<()> {
        let name = self.state.id().name().unwrap_or_default();
        let url = format!("https://room/watch?member={member}&after={after}&inbox={name}");
        let stub = self.env.durable_object("ROOMS")?.id_from_name(room)?.get_stub()?;
        let mut answer = stub.fetch_with_str(&url).await?;
        let w: Watched = answer.json().await?;
        let outs = self.inbox()?.recounted(room, after, w.latest, w.unread, w.mentions);
        for out in outs {
            if let Out::Counts { room, .. } = out {
                if let Some(r) = self.inbox().ok().and_then(|i| i.room_counts(&room)) {
                    for ws in self.greeted() {
                        let _ = ws.send(&InboxEvent::Counts(r.clone()));
                    }
                }
            }
        }
        Ok(())
    }
}

/// A JSON `POST` to another object.
pub(crate) fn post(url: &str, body: String) -> Result<Request> {
    let headers = Headers::new();
    headers.set("Content-Type", "application/json")?;
    let mut init = RequestInit::new();
    init.with_method(Method::Post).with_headers(headers).with_body(Some(body.into()));
    Request::new_with_init(url, &init)
}

/// Tells one page its frame was refused; nothing else follows from it.
fn refuse(ws: &WebSocket, code: ErrorCode, message: &str) -> Vec<Out> {
    let _ = ws.send(&InboxEvent::Refused { code, message: message.to_owned() });
    Vec::new()
}
