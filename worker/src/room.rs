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
use confab_shared::close;
use confab_shared::limits::{
    HISTORY_COST, JOIN_DEADLINE_MS, REFUSED_JOINS_MAX, RESUME_MAX, TYPING_RELAY_INTERVAL_MS, WELCOME_MESSAGES,
};
use confab_shared::{
    ClientFrame, ErrorCode, HistoryPage, Limits, MemberKey, ProtocolError, RoomInfo, Seq, ServerFrame, UserName,
};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::collections::{BTreeMap, BTreeSet, HashMap};

/// The room's handle for one socket; the glue keeps it in the socket's tags.
pub type SocketId = u64;

/// WebSocket close code for "message too big".
pub const CLOSE_TOO_BIG: u16 = close::TOO_BIG;

/// Buckets of departed members kept at most (see [`Room`]'s `departed`).
pub const DEPARTED_MAX: usize = 4_096;
/// Client addresses whose HTTP read budget is kept at most (see [`Room::admit_read`]).
pub const HTTP_READERS_MAX: usize = 1_024;

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
    /// Messages the whole room stores in a burst, whoever sends them (`ROOM_RATE_BURST`).
    pub room_rate_burst: u32,
    /// Refill of the room-wide budget per second (`ROOM_RATE_PER_SEC`).
    pub room_rate_per_sec: u32,
    /// Frames of any kind one socket may send in a burst (`SOCKET_RATE_BURST`).
    pub socket_burst: u32,
    /// Refill of a socket's frame budget per second (`SOCKET_RATE_PER_SEC`).
    pub socket_per_sec: u32,
    /// Open sockets the room accepts (`MAX_SOCKETS`).
    pub max_sockets: u32,
    /// Open sockets the room accepts from one client address (`MAX_SOCKETS_PER_IP`).
    pub max_sockets_per_ip: u32,
    /// New sockets one client address may open in a burst (`CONNECT_RATE_BURST`)...
    pub connect_burst: u32,
    /// ...and per second after it (`CONNECT_RATE_PER_SEC`).
    pub connect_per_sec: u32,
    /// A socket with no frame and no `ping` for this long is taken for a vanished peer
    /// (`IDLE_LIMIT_MS`).
    pub idle_limit_ms: u64,
}

impl Default for RoomConfig {
    fn default() -> Self {
        use confab_shared::limits as l;
        let d = Limits::default();
        Self {
            rate_burst: d.rate_burst,
            rate_per_sec: d.rate_per_sec,
            presence_immediate: PRESENCE_IMMEDIATE,
            room_rate_burst: l::DEFAULT_ROOM_RATE_BURST,
            room_rate_per_sec: l::DEFAULT_ROOM_RATE_PER_SEC,
            socket_burst: l::SOCKET_BURST,
            socket_per_sec: l::SOCKET_PER_SEC,
            max_sockets: l::DEFAULT_MAX_SOCKETS,
            max_sockets_per_ip: l::DEFAULT_MAX_SOCKETS_PER_IP,
            connect_burst: l::DEFAULT_CONNECT_BURST,
            connect_per_sec: l::DEFAULT_CONNECT_PER_SEC,
            idle_limit_ms: 60_000,
        }
    }
}

/// A token bucket in thousandths of a token, so refill is exact integer arithmetic
/// (`elapsed_ms * per_sec` thousandths). Used for members' messages, the room's messages and
/// each socket's frames; the caller passes the size and rate.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Bucket {
    /// Thousandths of a message available.
    pub milli: u64,
    /// When `milli` was last brought up to date.
    pub at_ms: u64,
}

impl Bucket {
    fn full_of(burst: u32, now_ms: u64) -> Self {
        Self { milli: u64::from(burst) * 1000, at_ms: now_ms }
    }

    fn full(config: &RoomConfig, now_ms: u64) -> Self {
        Self::full_of(config.rate_burst, now_ms)
    }

    fn refill_of(&mut self, burst: u32, per_sec: u32, now_ms: u64) {
        // Time never goes backwards for the bucket, even if the caller's clock does.
        let elapsed = now_ms.saturating_sub(self.at_ms);
        let cap = u64::from(burst) * 1000;
        self.milli = self.milli.saturating_add(elapsed.saturating_mul(u64::from(per_sec))).min(cap);
        self.at_ms = self.at_ms.max(now_ms);
    }

    /// Whether the bucket will be full by `now_ms` (so forgetting it changes nothing).
    fn is_full_at(&self, burst: u32, per_sec: u32, now_ms: u64) -> bool {
        let mut b = *self;
        b.refill_of(burst, per_sec, now_ms);
        b.milli >= u64::from(burst) * 1000
    }

    /// Takes `cost` tokens, or says how long until there are that many (never more than a
    /// minute: a rate of 0 is a misconfiguration, not a reason to make clients wait forever
    /// or hand them a number JavaScript cannot hold).
    fn take_of(&mut self, cost: u32, burst: u32, per_sec: u32, now_ms: u64) -> Result<(), u64> {
        self.refill_of(burst, per_sec, now_ms);
        let need = u64::from(cost) * 1000;
        if self.milli >= need {
            self.milli -= need;
            Ok(())
        } else if per_sec == 0 {
            Err(60_000)
        } else {
            Err((need - self.milli).div_ceil(u64::from(per_sec)).min(60_000))
        }
    }

    /// Takes one message's worth from a member's bucket, or says how long until there is one.
    fn take(&mut self, config: &RoomConfig, now_ms: u64) -> Result<(), u64> {
        self.take_of(1, config.rate_burst, config.rate_per_sec, now_ms)
    }
}

/// Token buckets per client address, bounded: past [`HTTP_READERS_MAX`] addresses, buckets
/// that have refilled are forgotten (they change nothing), then the least recently used.
/// Memory only: an evicted room forgets them, after seconds of quiet that refill them anyway.
#[derive(Debug, Default)]
struct AddressBudgets {
    buckets: HashMap<String, Bucket>,
}

impl AddressBudgets {
    fn take(&mut self, ip: &str, cost: u32, burst: u32, per_sec: u32, now_ms: u64) -> Result<(), u64> {
        if !self.buckets.contains_key(ip) && self.buckets.len() >= HTTP_READERS_MAX {
            self.buckets.retain(|_, b| !b.is_full_at(burst, per_sec, now_ms));
            if self.buckets.len() >= HTTP_READERS_MAX {
                if let Some(oldest) = self.buckets.iter().min_by_key(|(_, b)| b.at_ms).map(|(k, _)| k.clone()) {
                    self.buckets.remove(&oldest);
                }
            }
        }
        let bucket = self.buckets.entry(ip.to_owned()).or_insert_with(|| Bucket::full_of(burst, now_ms));
        bucket.take_of(cost, burst, per_sec, now_ms)
    }

    fn len(&self) -> usize {
        self.buckets.len()
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
    /// When the socket was accepted.
    #[serde(default)]
    pub opened_ms: u64,
    /// When the socket last sent a frame, as of the last save (saved at most every quarter
    /// of the idle limit, so liveness survives hibernation without a write per frame).
    #[serde(default)]
    pub seen_ms: u64,
    /// The client's address (`CF-Connecting-IP`), for the per-address socket cap.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ip: Option<String>,
    /// Joins refused on this socket so far.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub refused: u32,
    /// The room closed this socket. The runtime may still list a closed socket whose peer
    /// never answered the close (it stays CLOSING); this mark keeps it from coming back as a
    /// member when the room is rebuilt after hibernation.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub closed: bool,
}

fn is_zero(n: &u32) -> bool {
    *n == 0
}

impl Attachment {
    /// The mark the glue writes on a socket before the room closes it.
    pub fn tombstone(id: SocketId) -> Self {
        Self {
            id,
            name: None,
            bucket: None,
            typing_ms: None,
            opened_ms: 0,
            seen_ms: 0,
            ip: None,
            refused: 0,
            closed: true,
        }
    }
}

/// A socket event, as the glue reports it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Input<'a> {
    /// A text message arrived.
    Text(SocketId, &'a str),
    /// A binary message of this many bytes arrived.
    Binary(SocketId, usize),
    /// A message over the frame limit arrived; the glue measured it (this many bytes, or
    /// UTF-16 units for text) without copying it.
    TooLarge(SocketId, usize),
    /// The socket closed or failed.
    Closed(SocketId),
    /// Time passed (the glue's alarm fired): send what was held back for batching, close
    /// sockets that did not join in time.
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
    /// Close the socket. The room has already forgotten it (its member left, if this was
    /// the member's last socket): the glue marks it with [`Attachment::tombstone`] first, so
    /// a peer that never answers the close cannot come back as a ghost after hibernation.
    Close {
        /// Which.
        socket: SocketId,
        /// WebSocket close code (see `confab_shared::close`).
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

/// Presence changes held back while the room is busy, by claim key.
#[derive(Debug, Default)]
struct PresenceBatch {
    /// When recent announcements went out at once (within the last window).
    recent: std::collections::VecDeque<u64>,
    changes: BTreeMap<String, PresenceChange>,
    /// When the held-back changes go out.
    flush_at: Option<u64>,
}

/// What happened to one name within a batch.
#[derive(Debug, Default)]
struct PresenceChange {
    /// Every display string the name had while the batch was open: some client may hold any
    /// of them (from before the batch, or from a `welcome` sent meanwhile).
    shown: Vec<String>,
    /// The display it has now, if it is present.
    now: Option<String>,
}

#[derive(Debug)]
struct Conn {
    /// Claim key of the member (`UserName::claim_key`), once joined.
    member: Option<String>,
    /// When the socket was accepted.
    opened_ms: u64,
    /// When it last sent a frame (or was accepted).
    seen_ms: u64,
    /// `seen_ms` as last saved in the attachment.
    saved_seen_ms: u64,
    /// `CF-Connecting-IP`, if the runtime gave one.
    ip: Option<String>,
    /// Joins refused on this socket.
    refused: u32,
    /// This socket's frame budget (memory only: after hibernation it starts full, which
    /// needs seconds of silence first, by which time it would have refilled anyway).
    budget: Bucket,
    /// Frames refused for an empty budget since the budget was last at least half full.
    strikes: u32,
}

#[derive(Debug)]
struct Member {
    display: String,
    sockets: BTreeSet<SocketId>,
    bucket: Bucket,
    typing_ms: Option<u64>,
}

/// One chat room's live state.
#[derive(Debug)]
pub struct Room {
    name: String,
    config: RoomConfig,
    conns: HashMap<SocketId, Conn>,
    /// By claim key; one entry per name with at least one joined socket.
    members: BTreeMap<String, Member>,
    /// Buckets of members whose last socket closed, so leaving and rejoining does not reset a
    /// rate limit. Bounded: a bucket that has refilled is forgotten (it changes nothing), and
    /// at most [`DEPARTED_MAX`] are kept. Memory only: lost on hibernation, and the room-wide
    /// budget bounds what a reset bucket could buy.
    departed: HashMap<String, Bucket>,
    /// The room-wide message budget: minting names cannot multiply the rate past it.
    room_bucket: Bucket,
    /// Unjoined sockets by the time they must have joined.
    join_deadlines: BTreeSet<(u64, SocketId)>,
    /// Open sockets per client address.
    per_ip: HashMap<String, u32>,
    /// HTTP read budgets per client address.
    http_reads: AddressBudgets,
    /// New-socket budgets per client address: a client the room keeps closing cannot come
    /// straight back for another socket's worth of budget.
    connects: AddressBudgets,
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

/// The unit the per-address limits count by: an IPv4 address as is, an IPv6 address by its
/// /64 (one subscriber's network: a host can hold billions of addresses inside it), anything
/// else as given, cut to 64 bytes so a forged header cannot grow memory.
pub fn address_key(ip: &str) -> String {
    let ip = ip.trim();
    match ip.parse::<std::net::IpAddr>() {
        Ok(std::net::IpAddr::V4(v4)) => v4.to_string(),
        Ok(std::net::IpAddr::V6(v6)) => {
            let s = v6.segments();
            format!("{:x}:{:x}:{:x}:{:x}::/64", s[0], s[1], s[2], s[3])
        }
        Err(_) => ip.chars().take(64).collect(),
    }
}

fn err(code: ErrorCode, message: impl Into<String>) -> ServerFrame {
    ServerFrame::error(ProtocolError::new(code, message))
}

fn internal() -> ProtocolError {
    ProtocolError::new(ErrorCode::Internal, "the room could not do that; try again")
}

impl Room {
    /// A room with no sockets.
    pub fn new(name: impl Into<String>, config: RoomConfig) -> Self {
        Self::restore(name, config, std::iter::empty())
    }

    /// Rebuilds a room after hibernation from the attachments of its open sockets. Sockets
    /// the room closed itself ([`Attachment::closed`]) are left out: they are gone, whatever
    /// the runtime still lists.
    pub fn restore(name: impl Into<String>, config: RoomConfig, sockets: impl IntoIterator<Item = Attachment>) -> Self {
        let mut room = Self {
            name: name.into(),
            config,
            conns: HashMap::new(),
            members: BTreeMap::new(),
            departed: HashMap::new(),
            room_bucket: Bucket::full_of(config.room_rate_burst, 0),
            join_deadlines: BTreeSet::new(),
            per_ip: HashMap::new(),
            http_reads: AddressBudgets::default(),
            connects: AddressBudgets::default(),
            next_socket: 1,
            latest: None,
            presence: PresenceBatch::default(),
        };
        for a in sockets {
            room.next_socket = room.next_socket.max(a.id.saturating_add(1));
            if a.closed {
                continue;
            }
            let member = a.name.as_deref().and_then(|n| UserName::parse(n).ok()).map(|n| {
                let canonical = n.claim_key();
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
            if member.is_none() {
                room.join_deadlines.insert((a.opened_ms.saturating_add(JOIN_DEADLINE_MS), a.id));
            }
            if let Some(ip) = &a.ip {
                *room.per_ip.entry(ip.clone()).or_default() += 1;
            }
            let seen = a.seen_ms.max(a.opened_ms);
            room.conns.insert(
                a.id,
                Conn {
                    member,
                    opened_ms: a.opened_ms,
                    seen_ms: seen,
                    saved_seen_ms: seen,
                    ip: a.ip,
                    refused: a.refused,
                    budget: Bucket::full_of(config.socket_burst, 0),
                    strikes: 0,
                },
            );
        }
        room
    }

    /// The room's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Registers a new socket from `ip`, or refuses it (`too_many_connections`) when the room
    /// or that address has as many as it may. The glue stores the attachment, tags the
    /// socket with the id and carries out the effects (the join deadline's wake-up).
    pub fn open(&mut self, now_ms: u64, ip: Option<&str>) -> Result<(Attachment, Vec<Effect>), ProtocolError> {
        if self.conns.len() >= self.config.max_sockets as usize {
            return Err(ProtocolError::new(ErrorCode::TooManyConnections, "this room is full; try again later"));
        }
        let ip = ip.map(address_key);
        let ip = ip.as_deref();
        if let Some(ip) = ip {
            if self.per_ip.get(ip).copied().unwrap_or(0) >= self.config.max_sockets_per_ip {
                return Err(ProtocolError::new(
                    ErrorCode::TooManyConnections,
                    "too many connections to this room from your address",
                ));
            }
            let (burst, per_sec) = (self.config.connect_burst, self.config.connect_per_sec);
            if self.connects.take(ip, 1, burst, per_sec, now_ms).is_err() {
                return Err(ProtocolError::new(
                    ErrorCode::TooManyConnections,
                    "too many new connections to this room from your address; wait a moment",
                ));
            }
            *self.per_ip.entry(ip.to_owned()).or_default() += 1;
        }
        let id = self.next_socket;
        self.next_socket += 1;
        let conn = Conn {
            member: None,
            opened_ms: now_ms,
            seen_ms: now_ms,
            saved_seen_ms: now_ms,
            ip: ip.map(str::to_owned),
            refused: 0,
            budget: Bucket::full_of(self.config.socket_burst, now_ms),
            strikes: 0,
        };
        self.conns.insert(id, conn);
        let deadline = now_ms.saturating_add(JOIN_DEADLINE_MS);
        self.join_deadlines.insert((deadline, id));
        let attachment = self.attachment(id).expect("inserted just above");
        Ok((attachment, vec![Effect::WakeAt(deadline)]))
    }

    /// Charges an HTTP read (`GET` info: 1, a messages page: [`HISTORY_COST`]) to the client
    /// address's budget, the same as a socket's frame budget: reading history over HTTP is no
    /// cheaper a way to make the room work. Requests without an address (none in production,
    /// where the runtime always sets `CF-Connecting-IP`) are not counted. `Err` says how long
    /// to wait.
    pub fn admit_read(&mut self, ip: Option<&str>, cost: u32, now_ms: u64) -> Result<(), u64> {
        let Some(ip) = ip.map(address_key) else { return Ok(()) };
        self.http_reads.take(&ip, cost, self.config.socket_burst, self.config.socket_per_sec, now_ms)
    }

    /// Addresses whose HTTP read and connect budgets are held (each bounded).
    pub fn address_budgets(&self) -> (usize, usize) {
        (self.http_reads.len(), self.connects.len())
    }

    /// What `socket` keeps for hibernation: its own state and, once joined, its member's.
    fn attachment(&self, socket: SocketId) -> Option<Attachment> {
        let c = self.conns.get(&socket)?;
        let m = c.member.as_ref().and_then(|k| self.members.get(k));
        Some(Attachment {
            id: socket,
            name: m.map(|m| m.display.clone()),
            bucket: m.map(|m| m.bucket),
            typing_ms: m.and_then(|m| m.typing_ms),
            opened_ms: c.opened_ms,
            seen_ms: c.seen_ms,
            ip: c.ip.clone(),
            refused: c.refused,
            closed: false,
        })
    }

    fn save(&mut self, socket: SocketId, out: &mut Vec<Effect>) {
        if let Some(a) = self.attachment(socket) {
            if let Some(c) = self.conns.get_mut(&socket) {
                c.saved_seen_ms = c.seen_ms;
            }
            out.push(Effect::Save(socket, a));
        }
    }

    /// Closes sockets that have shown no sign of life for longer than the idle limit: no
    /// frame (any kind counts, remembered across hibernation) and no keepalive `ping`
    /// (`pinged` reports the runtime's auto-response time). A peer that vanished without
    /// closing (a laptop lid shut, a network gone) leaves a half-open socket the runtime
    /// never reports; closing it makes presence converge. The glue calls this from its alarm.
    pub fn sweep(&mut self, now_ms: u64, pinged: impl Fn(SocketId) -> Option<u64>) -> Vec<Effect> {
        let mut out = Vec::new();
        for id in self.stale_sockets(now_ms, pinged) {
            self.close_socket(id, close::GOING_AWAY, "no heartbeat", now_ms, &mut out);
        }
        out
    }

    /// The sockets [`Room::sweep`] would close, sorted.
    pub fn stale_sockets(&self, now_ms: u64, pinged: impl Fn(SocketId) -> Option<u64>) -> Vec<SocketId> {
        let mut stale: Vec<SocketId> = self
            .conns
            .iter()
            .filter(|(id, c)| {
                let seen = pinged(**id).unwrap_or(0).max(c.seen_ms);
                now_ms.saturating_sub(seen) > self.config.idle_limit_ms
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

    /// How many sockets are open.
    pub fn socket_count(&self) -> usize {
        self.conns.len()
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
                if !self.touch(socket, now_ms, &mut out) {
                    return out;
                }
                match ClientFrame::parse(text) {
                    Ok(frame) => {
                        let cost = if matches!(frame, ClientFrame::History { .. }) { HISTORY_COST } else { 1 };
                        let client_id = match &frame {
                            ClientFrame::Send { client_id, .. } => Some(client_id.as_str().to_owned()),
                            _ => None,
                        };
                        if self.charge(socket, cost, client_id.as_deref(), now_ms, &mut out) {
                            self.on_frame(store, socket, frame, now_ms, &mut out);
                        }
                    }
                    Err(e) if e.code == ErrorCode::FrameTooLarge => self.too_large(socket, now_ms, &mut out),
                    // A join refused for its name counts towards the refused-join cap like
                    // a taken name: both are ways to probe.
                    Err(e)
                        if e.code == ErrorCode::InvalidName
                            && self.conns.get(&socket).is_some_and(|c| c.member.is_none()) =>
                    {
                        if self.charge(socket, 1, None, now_ms, &mut out) {
                            self.refuse_join(socket, ServerFrame::error(e), now_ms, &mut out);
                        }
                    }
                    Err(e) => {
                        if self.charge(socket, 1, None, now_ms, &mut out) {
                            Self::reply(&mut out, socket, ServerFrame::error(e));
                        }
                    }
                }
            }
            Input::Binary(socket, len) => {
                if !self.touch(socket, now_ms, &mut out) {
                    return out;
                }
                if len > confab_shared::limits::FRAME_MAX_BYTES {
                    self.too_large(socket, now_ms, &mut out);
                } else if self.charge(socket, 1, None, now_ms, &mut out) {
                    Self::reply(
                        &mut out,
                        socket,
                        err(ErrorCode::BadFrame, "frames are JSON text; binary frames are not accepted"),
                    );
                }
            }
            Input::TooLarge(socket, _) => {
                if self.touch(socket, now_ms, &mut out) {
                    self.too_large(socket, now_ms, &mut out);
                }
            }
            Input::Closed(socket) => self.on_close(socket, now_ms, &mut out),
            Input::Tick => self.on_tick(now_ms, &mut out),
        }
        out
    }

    /// A frame arrived on `socket`: it is alive. Saves the time now and then, so the sweep
    /// still knows after hibernation. False if the room does not know the socket.
    fn touch(&mut self, socket: SocketId, now_ms: u64, out: &mut Vec<Effect>) -> bool {
        let every = self.config.idle_limit_ms / 4;
        let Some(c) = self.conns.get_mut(&socket) else { return false };
        c.seen_ms = c.seen_ms.max(now_ms);
        if c.seen_ms.saturating_sub(c.saved_seen_ms) >= every {
            self.save(socket, out);
        }
        true
    }

    /// Takes `cost` from the socket's frame budget. When it is empty the frame is refused
    /// with `rate_limited`; a socket that keeps going far past it is closed.
    fn charge(
        &mut self,
        socket: SocketId,
        cost: u32,
        client_id: Option<&str>,
        now_ms: u64,
        out: &mut Vec<Effect>,
    ) -> bool {
        let (burst, per_sec) = (self.config.socket_burst, self.config.socket_per_sec);
        let Some(c) = self.conns.get_mut(&socket) else { return false };
        match c.budget.take_of(cost, burst, per_sec, now_ms) {
            Ok(()) => {
                // Forgiven once the socket has let its budget refill to half: a steady flood
                // that squeezes a frame through now and then keeps its strikes.
                if c.budget.milli >= u64::from(burst) * 500 {
                    c.strikes = 0;
                }
                true
            }
            Err(wait) => {
                c.strikes += 1;
                if c.strikes > burst {
                    self.close_socket(socket, close::POLICY, "too many frames", now_ms, out);
                } else {
                    let e = ProtocolError::new(ErrorCode::RateLimited, "this connection sends too fast");
                    let frame = match client_id {
                        Some(id) => ServerFrame::refused_send(id, e, Some(wait)),
                        None => ServerFrame::Error {
                            code: e.code,
                            message: e.message,
                            retry_after_ms: Some(wait),
                            client_id: None,
                        },
                    };
                    Self::reply(out, socket, frame);
                }
                false
            }
        }
    }

    fn too_large(&mut self, socket: SocketId, now_ms: u64, out: &mut Vec<Effect>) {
        let limit = confab_shared::limits::FRAME_MAX_BYTES;
        Self::reply(out, socket, err(ErrorCode::FrameTooLarge, format!("a frame has at most {limit} bytes")));
        self.close_socket(socket, CLOSE_TOO_BIG, "frame too large", now_ms, out);
    }

    /// Closes a socket from the room's side: the close effect, then the socket leaves at once
    /// (its peer may never answer the close; the runtime's later close event finds nothing).
    fn close_socket(&mut self, socket: SocketId, code: u16, reason: &'static str, now_ms: u64, out: &mut Vec<Effect>) {
        out.push(Effect::Close { socket, code, reason });
        self.on_close(socket, now_ms, out);
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
            (ClientFrame::Send { client_id, .. }, None) => Self::reply(
                out,
                socket,
                ServerFrame::refused_send(
                    client_id.as_str(),
                    ProtocolError::new(ErrorCode::NotJoined, "send join first"),
                    None,
                ),
            ),
            (_, None) => Self::reply(out, socket, err(ErrorCode::NotJoined, "send join first")),
            (ClientFrame::Send { client_id, text }, Some(member)) => {
                self.on_send(store, socket, &member, client_id.as_str(), text.as_str(), now_ms, out)
            }
            (ClientFrame::Typing {}, Some(member)) => self.on_typing(socket, &member, now_ms, out),
            (ClientFrame::History { before, limit }, Some(_)) => match Self::page(store, before, limit) {
                Ok(page) => {
                    Self::reply(out, socket, ServerFrame::History { messages: page.messages, has_more: page.has_more })
                }
                Err(()) => Self::reply(out, socket, ServerFrame::error(internal())),
            },
        }
    }

    /// A join was refused: say why, and close the socket once it has been refused too often
    /// (guessing keys or squatting names then costs a connection per few tries).
    fn refuse_join(&mut self, socket: SocketId, frame: ServerFrame, now_ms: u64, out: &mut Vec<Effect>) {
        Self::reply(out, socket, frame);
        let Some(c) = self.conns.get_mut(&socket) else { return };
        c.refused += 1;
        if c.refused >= REFUSED_JOINS_MAX {
            self.close_socket(socket, close::POLICY, "too many refused joins", now_ms, out);
        } else {
            self.save(socket, out);
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
        let canonical = name.claim_key();
        match store.claim(&canonical, &key_hash(key), now_ms) {
            Ok(true) => {}
            Ok(false) => {
                let taken = err(ErrorCode::NameTaken, format!("“{name}” belongs to someone else in this room"));
                return self.refuse_join(socket, taken, now_ms, out);
            }
            Err(_) => return Self::reply(out, socket, ServerFrame::error(internal())),
        }
        let Ok((latest_seq, _)) = self.latest(store) else {
            return Self::reply(out, socket, ServerFrame::error(internal()));
        };
        // A `since` past the newest seq cannot be a resume of this room's history: its storage
        // was reset or recreated. Say so, and send what a fresh join gets.
        let reset = since.is_some_and(|s| s > latest_seq);
        let since = since.filter(|_| !reset);
        let recent = match since {
            // Resuming: what came after `since`, newest RESUME_MAX of it; `has_more` tells the
            // client to page back for the rest of the gap.
            Some(since) => store.after(since, RESUME_MAX + 1),
            None => store.before(Seq::MAX, WELCOME_MESSAGES + 1),
        };
        let Ok(mut messages) = recent else {
            return Self::reply(out, socket, ServerFrame::error(internal()));
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
        let you = m.display.clone();
        if let Some(c) = self.conns.get_mut(&socket) {
            c.member = Some(canonical.clone());
            self.join_deadlines.remove(&(c.opened_ms.saturating_add(JOIN_DEADLINE_MS), socket));
        }
        self.save(socket, out);
        let welcome = ServerFrame::Welcome {
            you: you.clone(),
            room: self.name.clone(),
            members: self.member_names(),
            messages,
            has_more,
            latest_seq,
            limits: Limits::with_rate(self.config.rate_burst, self.config.rate_per_sec),
            reset,
        };
        Self::reply(out, socket, welcome);
        if is_new_member {
            self.announce(&canonical, Some(you), None, now_ms, out);
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
        let refused = |e: ProtocolError, wait: Option<u64>| ServerFrame::refused_send(client_id, e, wait);
        let ack = |seq, ts| ServerFrame::Ack { client_id: client_id.to_owned(), seq, ts };
        let Ok((_, last_ts)) = self.latest(store) else {
            return Self::reply(out, socket, refused(internal(), None));
        };
        let config = self.config;
        let m = self
            .members
            .get_mut(member)
            .expect("a joined socket's member is in `members` until its last socket closes");
        // The member's budget, then the room's. A resend of a stored message costs nothing (an
        // outbox flushed after a reconnect must not run into the limit it already paid): when
        // a budget is empty the store is asked whether this one is a resend, and when the
        // insert finds it was, the tokens go back. The common path stays one statement.
        let budget = m.bucket.take(&config, now_ms).map_err(|wait| (wait, "you are sending too fast")).and_then(|()| {
            self.room_bucket.take_of(1, config.room_rate_burst, config.room_rate_per_sec, now_ms).map_err(|wait| {
                // Not this member's fault: its token goes back.
                m.bucket.milli += 1000;
                (wait, "the room is busy; your message waits a moment")
            })
        });
        if let Err((wait, why)) = budget {
            return match store.find(member, client_id) {
                Ok(Some((seq, ts))) => Self::reply(out, socket, ack(seq, ts)),
                Ok(None) => {
                    Self::reply(out, socket, refused(ProtocolError::new(ErrorCode::RateLimited, why), Some(wait)))
                }
                Err(_) => Self::reply(out, socket, refused(internal(), None)),
            };
        }
        // A message from this member ends its "typing", so the next keystroke relays at once.
        m.typing_ms = None;
        let author = m.display.clone();
        // Timestamps never go backwards within a room, whatever the clock does.
        let ts = now_ms.max(last_ts);
        let appended = store.append(member, client_id, &author, text, ts);
        if !matches!(appended, Ok(Appended::Stored(_))) {
            self.refund(member);
        }
        // Saved after any refund, so the bucket that survives hibernation is the true one.
        self.save(socket, out);
        match appended {
            Ok(Appended::Stored(msg)) => {
                self.latest = Some((msg.seq, msg.ts));
                Self::reply(out, socket, ack(msg.seq, msg.ts));
                out.push(Effect::Send { to: self.joined_sockets(None), text: ServerFrame::Message(msg).to_json() });
            }
            Ok(Appended::Duplicate { seq, ts }) => Self::reply(out, socket, ack(seq, ts)),
            Err(_) => Self::reply(out, socket, refused(internal(), None)),
        }
    }

    /// Gives back the tokens a send took that stored nothing.
    fn refund(&mut self, member: &str) {
        let (member_cap, room_cap) =
            (u64::from(self.config.rate_burst) * 1000, u64::from(self.config.room_rate_burst) * 1000);
        if let Some(m) = self.members.get_mut(member) {
            m.bucket.milli = (m.bucket.milli + 1000).min(member_cap);
        }
        self.room_bucket.milli = (self.room_bucket.milli + 1000).min(room_cap);
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
        let frame = ServerFrame::Typing { name: m.display.clone() };
        self.save(socket, out);
        let to = self.joined_sockets(Some(member));
        if !to.is_empty() {
            out.push(Effect::Send { to, text: frame.to_json() });
        }
    }

    /// Tells the others that `canonical` arrived (`joined`, its display) or went (`left`):
    /// at once while the room is quiet, batched while it is busy (see [`PRESENCE_IMMEDIATE`]).
    fn announce(
        &mut self,
        canonical: &str,
        joined: Option<String>,
        left: Option<String>,
        now_ms: u64,
        out: &mut Vec<Effect>,
    ) {
        let p = &mut self.presence;
        while p.recent.front().is_some_and(|t| now_ms.saturating_sub(*t) >= PRESENCE_WINDOW_MS) {
            p.recent.pop_front();
        }
        if p.flush_at.is_none() && p.recent.len() < self.config.presence_immediate {
            p.recent.push_back(now_ms);
            let (frame, except) = match (joined, left) {
                (Some(name), _) => (ServerFrame::MemberJoined { name }, Some(canonical)),
                (None, Some(name)) => (ServerFrame::MemberLeft { name }, None),
                (None, None) => return,
            };
            let to = self.joined_sockets(except);
            if !to.is_empty() {
                out.push(Effect::Send { to, text: frame.to_json() });
            }
            return;
        }
        // Per name, remember every display clients may hold and the one it has now; the flush
        // turns that into `joined` (the current display) and `left` (every other), which
        // converges every client whatever it saw: clients compare display strings exactly,
        // and a member may leave as "alice" and come back as "Alice" within one batch.
        let change = p.changes.entry(canonical.to_owned()).or_default();
        for shown in joined.iter().chain(left.iter()) {
            if !change.shown.contains(shown) {
                change.shown.push(shown.clone());
            }
        }
        change.now = joined;
        if p.flush_at.is_none() {
            let at = now_ms + PRESENCE_BATCH_MS;
            p.flush_at = Some(at);
            out.push(Effect::WakeAt(at));
        }
    }

    /// Sends the held-back presence changes and closes sockets that did not join in time.
    fn on_tick(&mut self, now_ms: u64, out: &mut Vec<Effect>) {
        while let Some(&(at, socket)) = self.join_deadlines.first() {
            if at > now_ms {
                break;
            }
            self.join_deadlines.remove(&(at, socket));
            if self.conns.get(&socket).is_some_and(|c| c.member.is_none()) {
                self.close_socket(socket, close::JOIN_TIMEOUT, "no join in time", now_ms, out);
            }
        }
        if let Some(at) = self.presence.flush_at {
            if now_ms < at {
                out.push(Effect::WakeAt(at));
            } else {
                self.flush_presence(out);
            }
        }
        if let Some(&(at, _)) = self.join_deadlines.first() {
            out.push(Effect::WakeAt(at));
        }
    }

    fn flush_presence(&mut self, out: &mut Vec<Effect>) {
        self.presence.flush_at = None;
        let (mut joined, mut left) = (Vec::new(), Vec::new());
        for (_, change) in std::mem::take(&mut self.presence.changes) {
            left.extend(change.shown.into_iter().filter(|s| Some(s) != change.now.as_ref()));
            joined.extend(change.now);
        }
        if joined.is_empty() && left.is_empty() {
            return;
        }
        let to = self.joined_sockets(None);
        if !to.is_empty() {
            out.push(Effect::Send { to, text: ServerFrame::Presence { joined, left }.to_json() });
        }
    }

    /// Whether presence changes are held back, waiting for a tick.
    pub fn presence_pending(&self) -> bool {
        self.presence.flush_at.is_some()
    }

    /// When the room next needs an [`Input::Tick`], if it does.
    pub fn next_wake(&self) -> Option<u64> {
        let deadline = self.join_deadlines.first().map(|(at, _)| *at);
        [self.presence.flush_at, deadline].into_iter().flatten().min()
    }

    fn on_close(&mut self, socket: SocketId, now_ms: u64, out: &mut Vec<Effect>) {
        let Some(conn) = self.conns.remove(&socket) else { return };
        self.join_deadlines.remove(&(conn.opened_ms.saturating_add(JOIN_DEADLINE_MS), socket));
        if let Some(ip) = &conn.ip {
            if let Some(n) = self.per_ip.get_mut(ip) {
                *n = n.saturating_sub(1);
                if *n == 0 {
                    self.per_ip.remove(ip);
                }
            }
        }
        let Some(canonical) = conn.member else { return };
        let Some(m) = self.members.get_mut(&canonical) else { return };
        m.sockets.remove(&socket);
        if m.sockets.is_empty() {
            let m = self.members.remove(&canonical).expect("looked up just above");
            self.remember_departed(canonical.clone(), m.bucket, now_ms);
            self.announce(&canonical, None, Some(m.display), now_ms, out);
        }
    }

    /// Keeps a departed member's bucket, forgetting those that have refilled (they change
    /// nothing) and, past [`DEPARTED_MAX`], the oldest.
    fn remember_departed(&mut self, canonical: String, bucket: Bucket, now_ms: u64) {
        let (burst, per_sec) = (self.config.rate_burst, self.config.rate_per_sec);
        if bucket.is_full_at(burst, per_sec, now_ms) {
            return;
        }
        if self.departed.len() >= DEPARTED_MAX {
            self.departed.retain(|_, b| !b.is_full_at(burst, per_sec, now_ms));
        }
        if self.departed.len() >= DEPARTED_MAX {
            if let Some(oldest) = self.departed.iter().min_by_key(|(_, b)| b.at_ms).map(|(k, _)| k.clone()) {
                self.departed.remove(&oldest);
            }
        }
        self.departed.insert(canonical, bucket);
    }

    /// Departed members' buckets held in memory (bounded by [`DEPARTED_MAX`]).
    pub fn departed_len(&self) -> usize {
        self.departed.len()
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
    /// with an open, joined socket, every member socket points back at its member, and only
    /// unjoined sockets wait for a join deadline.
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
        for (_, id) in &self.join_deadlines {
            if self.conns.get(id).is_none_or(|c| c.member.is_some()) {
                return Err(format!("socket {id} has a join deadline but is joined or gone"));
            }
        }
        let ips: u32 = self.per_ip.values().sum();
        let with_ip = self.conns.values().filter(|c| c.ip.is_some()).count() as u32;
        if ips != with_ip {
            return Err(format!("{ips} sockets counted per address, {with_ip} have one"));
        }
        Ok(())
    }
}
