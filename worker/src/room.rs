//! The room's rules, as a state machine with no I/O: socket events in, effects out.
//!
//! The caller (the Durable Object glue in `durable.rs`, or a test) passes the time as
//! `now_ms`, carries out the returned [`Effect`]s in order, and hands the room a
//! [`RoomStore`]. Nothing here knows about workers-rs, clocks or timers, so `cargo test`
//! exercises every rule natively with synthetic time.
//!
//! What must survive hibernation lives in storage (messages, name claims) or in each socket's
//! [`Attachment`] (its member name, the member's rate bucket and typing throttle); everything
//! else in [`Room`] is rebuilt from those by [`Room::restore`] when the object wakes.

use crate::store::{Appended, RoomStore};
use confab_shared::limits::{RESUME_MAX, TYPING_RELAY_INTERVAL_MS, WELCOME_MESSAGES};
use confab_shared::{
    ClientFrame, ErrorCode, HistoryPage, Limits, MemberKey, ProtocolError, RoomInfo, Seq, ServerFrame, UserName,
};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::collections::{BTreeMap, BTreeSet, HashMap};

/// The room's handle for one socket; the glue keeps it in the socket's tags.
pub type SocketId = u64;

/// WebSocket close code for "message too big".
pub const CLOSE_TOO_BIG: u16 = 1009;

/// Tunables read from the environment (`wrangler.toml` vars).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RoomConfig {
    /// Token-bucket size per member.
    pub rate_burst: u32,
    /// Refill per second.
    pub rate_per_sec: u32,
    /// Presence changes announced at once per [`PRESENCE_WINDOW_MS`] before batching starts
    /// ([`PRESENCE_IMMEDIATE`] by default).
    pub presence_immediate: usize,
}

impl Default for RoomConfig {
    fn default() -> Self {
        let l = Limits::default();
        Self { rate_burst: l.rate_burst, rate_per_sec: l.rate_per_sec, presence_immediate: PRESENCE_IMMEDIATE }
    }
}

/// A member's rate limit: a token bucket in thousandths of a message, so refill is exact
/// integer arithmetic (`elapsed_ms * rate_per_sec` thousandths).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Bucket {
    /// Thousandths of a message available.
    pub milli: u64,
    /// When `milli` was last brought up to date.
    pub at_ms: u64,
}

impl Bucket {
    fn full(config: &RoomConfig, now_ms: u64) -> Self {
        Self { milli: u64::from(config.rate_burst) * 1000, at_ms: now_ms }
    }

    fn refill(&mut self, config: &RoomConfig, now_ms: u64) {
        // Time never goes backwards for the bucket, even if the caller's clock does.
        let elapsed = now_ms.saturating_sub(self.at_ms);
        let cap = u64::from(config.rate_burst) * 1000;
        self.milli = self.milli.saturating_add(elapsed.saturating_mul(u64::from(config.rate_per_sec))).min(cap);
        self.at_ms = self.at_ms.max(now_ms);
    }

    /// Takes one message's worth, or says how long until there is one.
    fn take(&mut self, config: &RoomConfig, now_ms: u64) -> Result<(), u64> {
        self.refill(config, now_ms);
        if self.milli >= 1000 {
            self.milli -= 1000;
            Ok(())
        } else if config.rate_per_sec == 0 {
            Err(u64::MAX)
        } else {
            Err((1000 - self.milli).div_ceil(u64::from(config.rate_per_sec)))
        }
    }
}

/// What the room keeps on each socket (`serializeAttachment`): small, and enough to rebuild
/// the room after hibernation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Attachment {
    /// The socket's id in the room.
    pub id: SocketId,
    /// The member's display name once joined.
    #[serde(default)]
    pub name: Option<String>,
    /// The member's bucket as of the last message from this socket.
    #[serde(default)]
    pub bucket: Option<Bucket>,
    /// When the member's typing was last relayed from this socket.
    #[serde(default)]
    pub typing_ms: Option<u64>,
    /// When the socket was accepted: its liveness until it first pings.
    #[serde(default)]
    pub opened_ms: u64,
}

/// A socket event, as the glue reports it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Input<'a> {
    /// A text message arrived.
    Text(SocketId, &'a str),
    /// A binary message of this many bytes arrived.
    Binary(SocketId, usize),
    /// The socket closed or failed.
    Closed(SocketId),
    /// Time passed (the glue's alarm fired): send what was held back for batching.
    Tick,
}

/// What the glue must do, in order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Effect {
    /// Send `text` to each socket in `to`. A broadcast is serialized once, here.
    Send {
        /// Recipients.
        to: Vec<SocketId>,
        /// One frame's JSON.
        text: String,
    },
    /// Store this attachment on the socket.
    Save(SocketId, Attachment),
    /// Close the socket.
    Close {
        /// Which.
        socket: SocketId,
        /// WebSocket close code.
        code: u16,
        /// Close reason.
        reason: &'static str,
    },
    /// Call back with [`Input::Tick`] at this time (ms since the epoch); the glue sets an alarm.
    WakeAt(u64),
}

/// Presence announcements sent at once within [`PRESENCE_WINDOW_MS`]; past that, joins and
/// leaves are batched into one `presence` frame every [`PRESENCE_BATCH_MS`]. A room of people
/// coming and going one by one sees `member_joined`/`member_left` as they happen; a crowd
/// arriving at once (a link shared in a big channel, everyone reconnecting after an outage)
/// costs one frame per batch per member instead of one per arrival per member.
pub const PRESENCE_IMMEDIATE: usize = 8;
/// See [`PRESENCE_IMMEDIATE`].
pub const PRESENCE_WINDOW_MS: u64 = 1_000;
/// See [`PRESENCE_IMMEDIATE`].
pub const PRESENCE_BATCH_MS: u64 = 100;

/// Presence changes held back while the room is busy.
#[derive(Debug, Default)]
struct PresenceBatch {
    /// When recent announcements went out at once (within the last window).
    recent: std::collections::VecDeque<u64>,
    joined: Vec<String>,
    left: Vec<String>,
    /// When the held-back changes go out.
    flush_at: Option<u64>,
}

#[derive(Debug, Default)]
struct Conn {
    /// Canonical name of the member, once joined.
    member: Option<String>,
    /// When the socket was accepted.
    opened_ms: u64,
}

#[derive(Debug)]
struct Member {
    display: String,
    sockets: BTreeSet<SocketId>,
    bucket: Bucket,
    typing_ms: Option<u64>,
}

impl Member {
    /// What `socket`, one of this member's, keeps for hibernation.
    fn attachment(&self, socket: SocketId, opened_ms: u64) -> Attachment {
        Attachment {
            id: socket,
            name: Some(self.display.clone()),
            bucket: Some(self.bucket),
            typing_ms: self.typing_ms,
            opened_ms,
        }
    }
}

/// One chat room's live state.
#[derive(Debug)]
pub struct Room {
    name: String,
    config: RoomConfig,
    conns: HashMap<SocketId, Conn>,
    /// By canonical name; one entry per name with at least one joined socket.
    members: BTreeMap<String, Member>,
    /// Buckets of members whose last socket closed, so leaving and rejoining does not reset a
    /// rate limit. Memory only: the object hibernates only after seconds of silence, long
    /// enough for any bucket to refill, so losing these then changes nothing.
    departed: HashMap<String, Bucket>,
    next_socket: SocketId,
    /// `(seq, ts)` of the newest message, read from storage once.
    latest: Option<(Seq, u64)>,
    /// Memory only: if the object is evicted before a batch goes out (it is due within
    /// 100 ms; eviction needs seconds of silence), members who rejoin get a fresh `welcome`.
    presence: PresenceBatch,
}

/// The hash of a member key that the room stores. Keys are random 32+ character secrets, so
/// one SHA-256 is enough: there is nothing to brute-force.
pub fn key_hash(key: &MemberKey) -> String {
    let digest = Sha256::digest(format!("confab-member-key:v1:{}", key.as_str()));
    digest.iter().map(|b| format!("{b:02x}")).collect()
}

fn err(code: ErrorCode, message: impl Into<String>) -> ServerFrame {
    ServerFrame::error(ProtocolError::new(code, message))
}

fn internal() -> ServerFrame {
    err(ErrorCode::Internal, "the room could not do that; try again")
}

impl Room {
    /// A room with no sockets.
    pub fn new(name: impl Into<String>, config: RoomConfig) -> Self {
        Self::restore(name, config, std::iter::empty())
    }

    /// Rebuilds a room after hibernation from the attachments of its open sockets.
    pub fn restore(name: impl Into<String>, config: RoomConfig, sockets: impl IntoIterator<Item = Attachment>) -> Self {
        let mut room = Self {
            name: name.into(),
            config,
            conns: HashMap::new(),
            members: BTreeMap::new(),
            departed: HashMap::new(),
            next_socket: 1,
            latest: None,
            presence: PresenceBatch::default(),
        };
        for a in sockets {
            room.next_socket = room.next_socket.max(a.id + 1);
            let member = a.name.as_deref().and_then(|n| UserName::parse(n).ok()).map(|n| {
                let canonical = n.canonical();
                let m = room.members.entry(canonical.clone()).or_insert_with(|| Member {
                    display: n.into_string(),
                    sockets: BTreeSet::new(),
                    bucket: Bucket::full(&config, 0),
                    typing_ms: None,
                });
                m.sockets.insert(a.id);
                // Each socket holds the bucket as of its member's last message from it: the
                // newest one is the member's.
                if let Some(b) = a.bucket {
                    if b.at_ms >= m.bucket.at_ms {
                        m.bucket = b;
                    }
                }
                m.typing_ms = m.typing_ms.max(a.typing_ms);
                canonical
            });
            room.conns.insert(a.id, Conn { member, opened_ms: a.opened_ms });
        }
        room
    }

    /// The room's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Registers a new socket; the glue stores the attachment and tags the socket with the id.
    pub fn open(&mut self, now_ms: u64) -> Attachment {
        let id = self.next_socket;
        self.next_socket += 1;
        self.conns.insert(id, Conn { member: None, opened_ms: now_ms });
        Attachment { id, name: None, bucket: None, typing_ms: None, opened_ms: now_ms }
    }

    /// Sockets that have shown no sign of life for longer than `idle_limit_ms`: no frame and
    /// no keepalive `ping` (`last_activity` reports the newest of those the glue knows of).
    /// A peer that vanished without closing (a laptop lid shut, a network gone) leaves a
    /// half-open socket the runtime never reports; the glue closes these, so presence
    /// converges. Clients ping every 20 s; the limit allows for missed pings.
    pub fn stale_sockets(
        &self,
        now_ms: u64,
        idle_limit_ms: u64,
        last_activity: impl Fn(SocketId) -> Option<u64>,
    ) -> Vec<SocketId> {
        let mut stale: Vec<SocketId> = self
            .conns
            .iter()
            .filter(|(id, c)| {
                let seen = last_activity(**id).unwrap_or(0).max(c.opened_ms);
                now_ms.saturating_sub(seen) > idle_limit_ms
            })
            .map(|(id, _)| *id)
            .collect();
        stale.sort_unstable();
        stale
    }

    /// Whether a socket is known (open) to the room.
    pub fn has_socket(&self, id: SocketId) -> bool {
        self.conns.contains_key(&id)
    }

    /// Display names of the members online, sorted.
    pub fn member_names(&self) -> Vec<String> {
        let mut names: Vec<_> = self.members.values().map(|m| m.display.clone()).collect();
        names.sort();
        names
    }

    /// Handles one socket event.
    pub fn handle(&mut self, store: &mut impl RoomStore, input: Input<'_>, now_ms: u64) -> Vec<Effect> {
        let mut out = Vec::new();
        match input {
            Input::Text(socket, text) => {
                if !self.conns.contains_key(&socket) {
                    return out;
                }
                match ClientFrame::parse(text) {
                    Ok(frame) => self.on_frame(store, socket, frame, now_ms, &mut out),
                    Err(e) => {
                        let too_big = e.code == ErrorCode::FrameTooLarge;
                        Self::reply(&mut out, socket, ServerFrame::error(e));
                        if too_big {
                            out.push(Effect::Close { socket, code: CLOSE_TOO_BIG, reason: "frame too large" });
                        }
                    }
                }
            }
            Input::Binary(socket, len) => {
                if !self.conns.contains_key(&socket) {
                    return out;
                }
                if len > confab_shared::limits::FRAME_MAX_BYTES {
                    Self::reply(&mut out, socket, err(ErrorCode::FrameTooLarge, "frame too large"));
                    out.push(Effect::Close { socket, code: CLOSE_TOO_BIG, reason: "frame too large" });
                } else {
                    Self::reply(
                        &mut out,
                        socket,
                        err(ErrorCode::BadFrame, "frames are JSON text; binary frames are not accepted"),
                    );
                }
            }
            Input::Closed(socket) => self.on_close(socket, now_ms, &mut out),
            Input::Tick => self.on_tick(now_ms, &mut out),
        }
        out
    }

    fn reply(out: &mut Vec<Effect>, socket: SocketId, frame: ServerFrame) {
        out.push(Effect::Send { to: vec![socket], text: frame.to_json() });
    }

    /// Every joined socket, optionally leaving out one member's.
    fn joined_sockets(&self, except_member: Option<&str>) -> Vec<SocketId> {
        self.members
            .iter()
            .filter(|(k, _)| Some(k.as_str()) != except_member)
            .flat_map(|(_, m)| m.sockets.iter().copied())
            .collect()
    }

    fn on_frame(
        &mut self,
        store: &mut impl RoomStore,
        socket: SocketId,
        frame: ClientFrame,
        now_ms: u64,
        out: &mut Vec<Effect>,
    ) {
        let member = self.conns.get(&socket).and_then(|c| c.member.clone());
        match (frame, member) {
            (ClientFrame::Join { name, key, since }, None) => {
                self.on_join(store, socket, name, &key, since, now_ms, out)
            }
            (ClientFrame::Join { .. }, Some(_)) => {
                Self::reply(out, socket, err(ErrorCode::BadRequest, "this socket has already joined"))
            }
            (_, None) => Self::reply(out, socket, err(ErrorCode::NotJoined, "send join first")),
            (ClientFrame::Send { client_id, text }, Some(member)) => {
                self.on_send(store, socket, &member, client_id.as_str(), text.as_str(), now_ms, out)
            }
            (ClientFrame::Typing {}, Some(member)) => self.on_typing(socket, &member, now_ms, out),
            (ClientFrame::History { before, limit }, Some(_)) => match Self::page(store, before, limit) {
                Ok(page) => {
                    Self::reply(out, socket, ServerFrame::History { messages: page.messages, has_more: page.has_more })
                }
                Err(()) => Self::reply(out, socket, internal()),
            },
        }
    }

    #[allow(clippy::too_many_arguments)] // one rule's inputs, kept explicit on purpose
    fn on_join(
        &mut self,
        store: &mut impl RoomStore,
        socket: SocketId,
        name: UserName,
        key: &MemberKey,
        since: Option<Seq>,
        now_ms: u64,
        out: &mut Vec<Effect>,
    ) {
        let canonical = name.canonical();
        match store.claim(&canonical, &key_hash(key), now_ms) {
            Ok(true) => {}
            Ok(false) => {
                return Self::reply(
                    out,
                    socket,
                    err(ErrorCode::NameTaken, format!("“{name}” belongs to someone else in this room")),
                )
            }
            Err(_) => return Self::reply(out, socket, internal()),
        }
        let Ok((latest_seq, _)) = self.latest(store) else {
            return Self::reply(out, socket, internal());
        };
        let recent = match since {
            // Resuming: what came after `since`, newest RESUME_MAX of it; `has_more` tells the
            // client to page back for the rest of the gap.
            Some(since) => store.after(since, RESUME_MAX + 1),
            None => store.before(Seq::MAX, WELCOME_MESSAGES + 1),
        };
        let Ok(mut messages) = recent else {
            return Self::reply(out, socket, internal());
        };
        let cap = if since.is_some() { RESUME_MAX } else { WELCOME_MESSAGES } as usize;
        let has_more = messages.len() > cap;
        if has_more {
            messages.remove(0);
        }

        let is_new_member = !self.members.contains_key(&canonical);
        let config = self.config;
        let departed = self.departed.remove(&canonical);
        let m = self.members.entry(canonical.clone()).or_insert_with(|| Member {
            display: name.as_str().to_owned(),
            sockets: BTreeSet::new(),
            bucket: departed.unwrap_or_else(|| Bucket::full(&config, now_ms)),
            typing_ms: None,
        });
        m.sockets.insert(socket);
        let attachment = m.attachment(socket, self.conns.get(&socket).map_or(0, |c| c.opened_ms));
        let you = m.display.clone();
        if let Some(c) = self.conns.get_mut(&socket) {
            c.member = Some(canonical.clone());
        }
        out.push(Effect::Save(socket, attachment));
        let welcome = ServerFrame::Welcome {
            you: you.clone(),
            room: self.name.clone(),
            members: self.member_names(),
            messages,
            has_more,
            latest_seq,
            limits: Limits::with_rate(self.config.rate_burst, self.config.rate_per_sec),
            reset: false,
        };
        Self::reply(out, socket, welcome);
        if is_new_member {
            self.announce(Some(you), None, Some(&canonical), now_ms, out);
        }
    }

    #[allow(clippy::too_many_arguments)] // one rule's inputs, kept explicit on purpose
    fn on_send(
        &mut self,
        store: &mut impl RoomStore,
        socket: SocketId,
        member: &str,
        client_id: &str,
        text: &str,
        now_ms: u64,
        out: &mut Vec<Effect>,
    ) {
        let Ok((_, last_ts)) = self.latest(store) else {
            return Self::reply(out, socket, internal());
        };
        let config = self.config;
        let m = self
            .members
            .get_mut(member)
            .expect("a joined socket's member is in `members` until its last socket closes");
        if let Err(wait) = m.bucket.take(&config, now_ms) {
            let frame = ServerFrame::refused_send(
                client_id,
                ProtocolError::new(ErrorCode::RateLimited, "you are sending too fast"),
                Some(wait),
            );
            return Self::reply(out, socket, frame);
        }
        // A message from this member ends its "typing", so the next keystroke relays at once.
        m.typing_ms = None;
        let attachment = m.attachment(socket, self.conns.get(&socket).map_or(0, |c| c.opened_ms));
        let author = m.display.clone();
        out.push(Effect::Save(socket, attachment));
        // Timestamps never go backwards within a room, whatever the clock does.
        let ts = now_ms.max(last_ts);
        match store.append(member, client_id, &author, text, ts) {
            Ok(Appended::Stored(msg)) => {
                self.latest = Some((msg.seq, msg.ts));
                Self::reply(
                    out,
                    socket,
                    ServerFrame::Ack { client_id: msg.client_id.clone(), seq: msg.seq, ts: msg.ts },
                );
                out.push(Effect::Send { to: self.joined_sockets(None), text: ServerFrame::Message(msg).to_json() });
            }
            Ok(Appended::Duplicate { seq, ts }) => {
                Self::reply(out, socket, ServerFrame::Ack { client_id: client_id.to_owned(), seq, ts })
            }
            Err(_) => Self::reply(out, socket, internal()),
        }
    }

    fn on_typing(&mut self, socket: SocketId, member: &str, now_ms: u64, out: &mut Vec<Effect>) {
        let m = self
            .members
            .get_mut(member)
            .expect("a joined socket's member is in `members` until its last socket closes");
        if m.typing_ms.is_some_and(|t| now_ms < t.saturating_add(TYPING_RELAY_INTERVAL_MS)) {
            return;
        }
        m.typing_ms = Some(now_ms);
        let attachment = m.attachment(socket, self.conns.get(&socket).map_or(0, |c| c.opened_ms));
        let frame = ServerFrame::Typing { name: m.display.clone() };
        out.push(Effect::Save(socket, attachment));
        let to = self.joined_sockets(Some(member));
        if !to.is_empty() {
            out.push(Effect::Send { to, text: frame.to_json() });
        }
    }

    /// Tells the others that `joined` arrived or `left` went: at once while the room is quiet,
    /// batched while it is busy (see [`PRESENCE_IMMEDIATE`]).
    fn announce(
        &mut self,
        joined: Option<String>,
        left: Option<String>,
        except: Option<&str>,
        now_ms: u64,
        out: &mut Vec<Effect>,
    ) {
        let p = &mut self.presence;
        while p.recent.front().is_some_and(|t| now_ms.saturating_sub(*t) >= PRESENCE_WINDOW_MS) {
            p.recent.pop_front();
        }
        if p.flush_at.is_none() && p.recent.len() < self.config.presence_immediate {
            p.recent.push_back(now_ms);
            let frame = match (joined, left) {
                (Some(name), _) => ServerFrame::MemberJoined { name },
                (None, Some(name)) => ServerFrame::MemberLeft { name },
                (None, None) => return,
            };
            let to = self.joined_sockets(except);
            if !to.is_empty() {
                out.push(Effect::Send { to, text: frame.to_json() });
            }
            return;
        }
        // A name ends up in one list only, as of the latest change. Someone who came and went
        // within one batch is still announced as gone: members who joined meanwhile saw them
        // in their `welcome`. (Announcing a departure to someone who never saw the arrival,
        // or an arrival to someone who knew, changes nothing for them.)
        let same = |a: &String, b: &String| a.to_lowercase() == b.to_lowercase();
        if let Some(name) = joined {
            p.left.retain(|n| !same(n, &name));
            if !p.joined.iter().any(|n| same(n, &name)) {
                p.joined.push(name);
            }
        }
        if let Some(name) = left {
            p.joined.retain(|n| !same(n, &name));
            if !p.left.iter().any(|n| same(n, &name)) {
                p.left.push(name);
            }
        }
        if p.flush_at.is_none() {
            let at = now_ms + PRESENCE_BATCH_MS;
            p.flush_at = Some(at);
            out.push(Effect::WakeAt(at));
        }
    }

    /// Sends the held-back presence changes, if they are due.
    fn on_tick(&mut self, now_ms: u64, out: &mut Vec<Effect>) {
        let Some(at) = self.presence.flush_at else { return };
        if now_ms < at {
            return out.push(Effect::WakeAt(at));
        }
        self.presence.flush_at = None;
        let joined = std::mem::take(&mut self.presence.joined);
        let left = std::mem::take(&mut self.presence.left);
        if joined.is_empty() && left.is_empty() {
            return;
        }
        let to = self.joined_sockets(None);
        if !to.is_empty() {
            out.push(Effect::Send { to, text: ServerFrame::Presence { joined, left }.to_json() });
        }
    }

    /// When the room next needs an [`Input::Tick`], if it does.
    pub fn next_wake(&self) -> Option<u64> {
        self.presence.flush_at
    }

    fn on_close(&mut self, socket: SocketId, now_ms: u64, out: &mut Vec<Effect>) {
        let Some(conn) = self.conns.remove(&socket) else { return };
        let Some(canonical) = conn.member else { return };
        let Some(m) = self.members.get_mut(&canonical) else { return };
        m.sockets.remove(&socket);
        if m.sockets.is_empty() {
            let m = self.members.remove(&canonical).expect("looked up just above");
            self.departed.insert(canonical, m.bucket);
            self.announce(None, Some(m.display), None, now_ms, out);
        }
    }

    fn latest(&mut self, store: &mut impl RoomStore) -> Result<(Seq, u64), ()> {
        if let Some(l) = self.latest {
            return Ok(l);
        }
        let l = store.latest().map_err(|_| ())?.unwrap_or((0, 0));
        self.latest = Some(l);
        Ok(l)
    }

    fn page(store: &mut impl RoomStore, before: Seq, limit: u32) -> Result<HistoryPage, ()> {
        let mut messages = store.before(before, limit + 1).map_err(|_| ())?;
        let has_more = messages.len() > limit as usize;
        if has_more {
            messages.remove(0);
        }
        Ok(HistoryPage { messages, has_more })
    }

    /// `GET /api/rooms/{room}/messages`: the same page as the `history` frame.
    pub fn history(
        &self,
        store: &mut impl RoomStore,
        before: Option<Seq>,
        limit: u32,
    ) -> Result<HistoryPage, ProtocolError> {
        let limit = limit.clamp(1, confab_shared::limits::HISTORY_PAGE_MAX);
        Self::page(store, before.unwrap_or(Seq::MAX), limit)
            .map_err(|()| ProtocolError::new(ErrorCode::Internal, "storage failed"))
    }

    /// `GET /api/rooms/{room}`.
    pub fn info(&mut self, store: &mut impl RoomStore) -> Result<RoomInfo, ProtocolError> {
        let (latest_seq, _) =
            self.latest(store).map_err(|()| ProtocolError::new(ErrorCode::Internal, "storage failed"))?;
        Ok(RoomInfo { room: self.name.clone(), members_online: self.members.len() as u32, latest_seq })
    }

    /// Checks the room's invariants; used by tests and fuzzing. Members are exactly the names
    /// with an open, joined socket, and every member socket points back at its member.
    pub fn check_invariants(&self) -> Result<(), String> {
        for (canonical, m) in &self.members {
            if m.sockets.is_empty() {
                return Err(format!("member {canonical} has no sockets (a ghost)"));
            }
            for s in &m.sockets {
                match self.conns.get(s) {
                    Some(Conn { member: Some(c), .. }) if c == canonical => {}
                    other => return Err(format!("socket {s} of {canonical} is {other:?}")),
                }
            }
        }
        for (id, c) in &self.conns {
            if let Some(canonical) = &c.member {
                if !self.members.get(canonical).is_some_and(|m| m.sockets.contains(id)) {
                    return Err(format!("socket {id} claims member {canonical} which does not list it"));
                }
            }
        }
        Ok(())
    }
}
