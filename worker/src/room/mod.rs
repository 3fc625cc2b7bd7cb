//! The room's rules, as a state machine with no I/O: commands in, effects out.
//!
//! The caller (the Durable Object glue in `durable.rs`, or a test) passes the time as
//! `now_ms`, carries out the returned [`Effect`]s in order, and hands the room a
//! [`RoomStore`]. Nothing here knows about workers-rs, clocks or timers, so `cargo test`
//! exercises every rule natively with synthetic time.
//!
//! Every command goes through [`Room::handle`] (a socket's frames today; HTTP and bots next),
//! and every frame the room sends names an [`Audience`] (the room, a member, a socket), not a
//! socket list: the glue resolves it with [`Room::audience`] as it sends.
//!
//! What must survive hibernation lives in storage (the event log, members and their rate
//! budgets, name claims) or in each socket's small [`Attachment`] (its id, its member id and
//! its liveness); everything else in [`Room`] is rebuilt from those by [`Room::restore`].
//!
//! Layout: this file holds sockets, joins and the room's lifecycle; `ops.rs` the operations
//! on messages (send, edit, delete, react); `presence.rs` who is here; `view.rs` how stored
//! messages become what a member sees.

mod hooks;
mod moderation;
mod ops;
mod presence;
mod streams;
mod view;
pub mod watchers;

use crate::budget::AddressBudgets;
pub use crate::budget::{Bucket, HTTP_READERS_MAX};
use crate::store::{MemberInfo, RoomRecord, RoomStore, StoreError};
use confab_shared::limits::{
    HISTORY_COST, JOIN_DEADLINE_MS, PROTOCOL_VERSION, REFUSED_JOINS_MAX, RESUME_EVENTS_MAX, RESUME_MAX,
    WELCOME_MESSAGES,
};
use confab_shared::{
    close, ClientFrame, ErrorCode, HistoryPage, Limits, Member as MemberView, MemberId, MemberKey, ProtocolError, Role,
    RoomInfo, Seq, ServerFrame, UserName,
};
pub use moderation::{allowed, bot_token, token_bot};
pub use ops::{Done, Refusal};
use presence::PresenceBatch;
pub use presence::{PRESENCE_BATCH_MS, PRESENCE_IMMEDIATE, PRESENCE_WINDOW_MS};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet, HashMap};

/// The room's handle for one socket; the glue keeps it in the socket's tags.
pub type SocketId = u64;

/// The member id the deployment's admin secret acts as (no member has it: ids start at 1).
pub const ADMIN: MemberId = 0;

/// Who performs an operation: a joined member, a bot over HTTP, or the admin secret.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Actor {
    /// Member id ([`ADMIN`] for the admin secret).
    pub id: MemberId,
    /// Display name.
    pub name: String,
    /// Role now.
    pub role: Role,
    /// Muted until then.
    pub muted_until: Option<u64>,
}

impl Actor {
    /// The deployment's admin secret: an owner in every room.
    pub fn admin() -> Self {
        Self { id: ADMIN, name: "admin".into(), role: Role::Owner, muted_until: None }
    }

    fn view(&self) -> MemberView {
        MemberView { id: self.id, name: self.name.clone(), role: self.role }
    }
}

/// The runtime evicts a hibernatable object only after this long without an event (it
/// documents about 10 s). A member's rate budget that will be full again by then needs no
/// saving: whenever the room next wakes, it starts full, which is the truth.
pub const HIBERNATION_IDLE_MS: u64 = 10_000;

/// WebSocket close code for "message too big".
pub const CLOSE_TOO_BIG: u16 = close::TOO_BIG;

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

/// What the room keeps on each socket (`serializeAttachment`): small, and enough to rebuild
/// the room after hibernation. The member's own state (its name, its rate budget) lives in
/// storage, once, however many sockets it has.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Attachment {
    /// The socket's id in the room.
    pub id: SocketId,
    /// The member it joined as.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub member: Option<MemberId>,
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
    /// The client reads `batch` frames (it said so in its `join`).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub batch: bool,
}

fn is_zero(n: &u32) -> bool {
    *n == 0
}

impl Attachment {
    /// The mark the glue writes on a socket before the room closes it.
    pub fn tombstone(id: SocketId) -> Self {
        Self { id, member: None, opened_ms: 0, seen_ms: 0, ip: None, refused: 0, closed: true, batch: false }
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

/// Who a frame goes to. Resolved to sockets by [`Room::audience`] when the glue sends it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Audience {
    /// Every joined socket.
    Room,
    /// Every joined socket but this member's.
    Others(MemberId),
    /// Every socket of these members (one frame that reads differently per member, such as a
    /// reaction summary's `mine`, goes out once per group of members it reads the same to).
    Members(Vec<MemberId>),
    /// One socket (a reply).
    Socket(SocketId),
}

/// What the glue must do, in order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Effect {
    /// Send `text` to `to`. A broadcast is serialized once, here.
    Send {
        /// Recipients.
        to: Audience,
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

#[derive(Debug)]
struct Conn {
    /// The member, once joined.
    member: Option<MemberId>,
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
    /// The client joined saying it reads `batch` frames.
    batch: bool,
}

/// A member with at least one joined socket.
#[derive(Debug)]
struct Member {
    /// The display name it joined with last.
    display: String,
    sockets: BTreeSet<SocketId>,
    /// Its message budget (saved to storage with each of its events).
    bucket: Bucket,
    /// When its typing was last relayed (memory only: losing it costs one early relay).
    typing_ms: Option<u64>,
    /// What it may do (the owner's is the room's record).
    role: Role,
    /// Muted until then.
    muted_until: Option<u64>,
    /// When it last posted, once known (slow mode reads storage the first time).
    last_post_ms: Option<u64>,
    /// A bot's budget for a stream's chunks (memory only: it refills in seconds).
    stream_bucket: Bucket,
}

impl Member {
    fn new(info: &MemberInfo, role: Role, config: &RoomConfig, now_ms: u64) -> Self {
        Self {
            display: info.name.clone(),
            sockets: BTreeSet::new(),
            bucket: info.bucket.unwrap_or_else(|| Bucket::full(config, now_ms)),
            typing_ms: None,
            role,
            muted_until: info.muted_until,
            last_post_ms: None,
            stream_bucket: Bucket::full_of(confab_shared::limits::STREAM_CHUNK_BURST, now_ms),
        }
    }
}

/// What a `join` brings beside its name and key.
#[derive(Debug, Clone, Copy)]
struct Resume<'a> {
    since: Option<Seq>,
    epoch: Option<&'a str>,
    invite: Option<&'a str>,
}

/// One chat room's live state.
#[derive(Debug)]
pub struct Room {
    name: String,
    config: RoomConfig,
    conns: HashMap<SocketId, Conn>,
    /// One entry per member with at least one joined socket.
    members: BTreeMap<MemberId, Member>,
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
    /// `(seq, ts)` of the newest event, read from storage once.
    latest: Option<(Seq, u64)>,
    /// Memory only: if the object is evicted before a batch goes out (it is due within
    /// 100 ms; eviction needs seconds of silence), members who rejoin get a fresh `welcome`.
    presence: PresenceBatch,
    /// Budgets of members who just left, saved to storage when the event ends.
    unsaved: Vec<(MemberId, Bucket)>,
    /// The room's owner and settings, read from storage once.
    record: Option<RoomRecord>,
    /// Bots acting over HTTP without a socket (at most `BOTS_MAX`): their budgets and mutes.
    remote: BTreeMap<MemberId, Member>,
    /// The bot the last `create_bot` made, with its token, for the reply to whoever asked.
    created_bot: Option<(MemberView, String)>,
    /// The invite the last `create_invite` made, for whoever asked over HTTP.
    created_invite: Option<String>,
    /// When the next webhook delivery is due, if one is queued.
    next_delivery: Option<u64>,
    /// Streams under way: message id → (author, when it last grew).
    streams: BTreeMap<Seq, (MemberId, u64)>,
    /// The inboxes that watch the room (issue 11, in progress), and the batches made for them
    /// that the glue has not taken yet ([`Room::take_inbox_batches`]).
    watchers: watchers::Watchers,
    to_inboxes: Vec<watchers::Batch>,
    /// Joins the members' inboxes have not been told of yet: (inbox, member, latest seq, DM).
    joins_to_tell: Vec<(String, MemberId, Seq, bool)>,
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

fn storage(_: StoreError) -> ProtocolError {
    ProtocolError::new(ErrorCode::Internal, "storage failed")
}

impl Room {
    /// A room with no sockets.
    pub fn new(name: impl Into<String>, config: RoomConfig) -> Self {
        Self::restore(name, config, std::iter::empty(), &mut crate::store::MemoryStore::default())
    }

    /// Rebuilds a room after hibernation from the attachments of its open sockets, loading
    /// their members (names, rate budgets) from storage. Sockets the room closed itself
    /// ([`Attachment::closed`]) are left out: they are gone, whatever the runtime still lists.
    /// A socket whose member storage cannot produce is treated as unjoined (its join deadline
    /// closes it, and its client joins again).
    pub fn restore(
        name: impl Into<String>,
        config: RoomConfig,
        sockets: impl IntoIterator<Item = Attachment>,
        store: &mut impl RoomStore,
    ) -> Self {
        let mut room = Self {
            name: name.into(),
            config,
            conns: HashMap::new(),
            members: BTreeMap::new(),
            room_bucket: Bucket::full_of(config.room_rate_burst, 0),
            join_deadlines: BTreeSet::new(),
            per_ip: HashMap::new(),
            http_reads: AddressBudgets::default(),
            connects: AddressBudgets::default(),
            next_socket: 1,
            latest: None,
            presence: PresenceBatch::default(),
            unsaved: Vec::new(),
            record: None,
            remote: BTreeMap::new(),
            created_bot: None,
            created_invite: None,
            next_delivery: None,
            streams: BTreeMap::new(),
            watchers: watchers::Watchers::default(),
            to_inboxes: Vec::new(),
            joins_to_tell: Vec::new(),
        };
        room.watchers = watchers::Watchers::new(&room.name);
        // Read back with coverage 0: their next batch makes each inbox recount.
        for (member, inbox) in store.watches().unwrap_or_default() {
            room.watchers.watch(member, &inbox, 0);
        }
        room.streams = store.open_streams().unwrap_or_default().into_iter().map(|(id, m, at)| (id, (m, at))).collect();
        // Deliveries queued before an eviction are still due.
        room.next_delivery = store.next_due().ok().flatten();
        let sockets: Vec<Attachment> = sockets.into_iter().collect();
        let ids: Vec<MemberId> = sockets.iter().filter(|a| !a.closed).filter_map(|a| a.member).collect();
        let known: HashMap<MemberId, crate::store::MemberInfo> = if ids.is_empty() {
            HashMap::new()
        } else {
            store.members(&ids).unwrap_or_default().into_iter().map(|m| (m.id, m)).collect()
        };
        let owner = if ids.is_empty() { None } else { room.record(store).ok().and_then(|r| r.owner) };
        for a in sockets {
            room.next_socket = room.next_socket.max(a.id.saturating_add(1));
            if a.closed {
                continue;
            }
            let member = a.member.and_then(|id| known.get(&id)).filter(|info| !info.banned).map(|info| {
                let role = if Some(info.id) == owner { Role::Owner } else { info.role };
                let m = room.members.entry(info.id).or_insert_with(|| Member::new(info, role, &config, 0));
                m.sockets.insert(a.id);
                info.id
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
                    batch: a.batch,
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
            batch: false,
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

    /// What `socket` keeps for hibernation.
    fn attachment(&self, socket: SocketId) -> Option<Attachment> {
        let c = self.conns.get(&socket)?;
        Some(Attachment {
            id: socket,
            member: c.member,
            opened_ms: c.opened_ms,
            seen_ms: c.seen_ms,
            ip: c.ip.clone(),
            refused: c.refused,
            closed: false,
            batch: c.batch,
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
    pub fn sweep(
        &mut self,
        store: &mut impl RoomStore,
        now_ms: u64,
        pinged: impl Fn(SocketId) -> Option<u64>,
    ) -> Vec<Effect> {
        let mut out = Vec::new();
        for id in self.stale_sockets(now_ms, pinged) {
            self.close_socket(id, close::GOING_AWAY, "no heartbeat", now_ms, &mut out);
        }
        self.save_departed(store);
        out
    }

    /// Saves the budgets of members who left during this event. A failed save costs that
    /// member one refill, no more: it is not worth failing the event for.
    fn save_departed(&mut self, store: &mut impl RoomStore) {
        for (id, bucket) in std::mem::take(&mut self.unsaved) {
            let _ = store.save_bucket(id, bucket);
        }
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

    /// The members online, sorted by name (then id).
    pub fn online(&self) -> Vec<MemberView> {
        let mut v: Vec<_> =
            self.members.iter().map(|(id, m)| MemberView { id: *id, name: m.display.clone(), role: m.role }).collect();
        v.sort_by(|a, b| a.name.cmp(&b.name).then(a.id.cmp(&b.id)));
        v
    }

    /// Display names of the members online, sorted.
    pub fn member_names(&self) -> Vec<String> {
        self.online().into_iter().map(|m| m.name).collect()
    }

    /// The member a socket joined as.
    pub fn member_of(&self, socket: SocketId) -> Option<MemberId> {
        self.conns.get(&socket).and_then(|c| c.member)
    }

    /// Whether this socket's client reads `batch` frames.
    pub fn batches(&self, socket: SocketId) -> bool {
        self.conns.get(&socket).is_some_and(|c| c.batch)
    }

    /// The sockets an audience means now, sorted. The glue resolves each send's audience as
    /// it carries the effects out, right after [`Room::handle`] returns: a member audience is
    /// the member's sockets after the whole event (a socket closed by the same event misses
    /// a broadcast that came before its close, which it had no use for).
    pub fn audience(&self, to: &Audience) -> Vec<SocketId> {
        let of = |id: &MemberId| self.members.get(id).into_iter().flat_map(|m| m.sockets.iter().copied());
        let mut sockets: Vec<SocketId> = match to {
            Audience::Room => self.members.keys().flat_map(of).collect(),
            Audience::Others(except) => self.members.keys().filter(|k| *k != except).flat_map(of).collect(),
            Audience::Members(ids) => ids.iter().flat_map(of).collect(),
            // As is, even if the room has just closed it: the refusal that explains a close
            // goes out before the close does (the glue drops sends to sockets it no longer has).
            Audience::Socket(s) => return vec![*s],
        };
        sockets.sort_unstable();
        sockets
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
                        if self.charge(socket, cost, frame.client_id(), now_ms, &mut out) {
                            self.on_frame(store, socket, frame, now_ms, &mut out);
                        }
                    }
                    Err(e) if e.code == ErrorCode::FrameTooLarge => self.too_large(socket, now_ms, &mut out),
                    // A page from another protocol: tell it to reload, and close (it must not
                    // reconnect in a loop).
                    Err(e) if e.code == ErrorCode::UnsupportedVersion => {
                        Self::reply(&mut out, socket, ServerFrame::error(e));
                        self.close_socket(socket, close::UNSUPPORTED_VERSION, "reload", now_ms, &mut out);
                    }
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
                        let client_id = ClientFrame::client_id_of(text);
                        if self.charge(socket, 1, client_id.as_deref(), now_ms, &mut out) {
                            let refusal = match client_id {
                                Some(id) => ServerFrame::refused_send(&id, e, None),
                                None => ServerFrame::error(e),
                            };
                            Self::reply(&mut out, socket, refusal);
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
            Input::Tick => {
                self.on_tick(now_ms, &mut out);
                let latest = self.latest.map_or(0, |(seq, _)| seq);
                let due = self.watchers.due(latest, now_ms);
                self.to_inboxes.extend(due);
                self.finish_idle_streams(store, now_ms, &mut out);
                // One the store would not finish stays due: try again now, not in the past.
                if let Some(at) = self.next_stream_deadline() {
                    out.push(Effect::WakeAt(at.max(now_ms)));
                }
            }
        }
        self.save_departed(store);
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
        out.push(Effect::Send { to: Audience::Socket(socket), text: frame.to_json() });
    }

    fn on_frame(
        &mut self,
        store: &mut impl RoomStore,
        socket: SocketId,
        frame: ClientFrame,
        now_ms: u64,
        out: &mut Vec<Effect>,
    ) {
        let member = self.conns.get(&socket).and_then(|c| c.member);
        match (frame, member) {
            (ClientFrame::Join { name, key, since, epoch, invite, batch, .. }, None) => {
                if let Some(c) = self.conns.get_mut(&socket) {
                    c.batch = batch;
                }
                let resume = Resume { since, epoch: epoch.as_deref(), invite: invite.as_deref() };
                self.on_join(store, socket, name, &key, resume, now_ms, out)
            }
            (ClientFrame::Join { .. }, Some(_)) => {
                Self::reply(out, socket, err(ErrorCode::BadRequest, "this socket has already joined"))
            }
            (frame, None) => {
                let e = ProtocolError::new(ErrorCode::NotJoined, "send join first");
                let refusal = match frame.client_id() {
                    Some(id) => ServerFrame::refused_send(id, e, None),
                    None => ServerFrame::error(e),
                };
                Self::reply(out, socket, refusal)
            }
            (ClientFrame::Typing {}, Some(member)) => self.on_typing(member, now_ms, out),
            (ClientFrame::Audit { before, limit }, Some(member)) => {
                let moderates = self.members.get(&member).is_some_and(|m| m.role.moderates());
                let frame = if !moderates {
                    err(ErrorCode::Forbidden, "only the room's moderators read its audit trail")
                } else {
                    match self.audit_page(store, before, limit) {
                        Ok((entries, older)) => ServerFrame::Audit { entries, older },
                        Err(e) => ServerFrame::error(e),
                    }
                };
                Self::reply(out, socket, frame)
            }
            (ClientFrame::History { before, limit }, Some(member)) => {
                match Self::page(store, before, limit, Some(member)) {
                    Ok(page) => {
                        Self::reply(out, socket, ServerFrame::History { messages: page.messages, older: page.older })
                    }
                    Err(_) => Self::reply(out, socket, ServerFrame::error(internal())),
                }
            }
            (op, Some(member)) => self.on_op(store, socket, member, op, now_ms, out),
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

    /// Refuses a join for a ban: says so, and closes (the client must not come back).
    fn refuse_banned(&mut self, socket: SocketId, now_ms: u64, out: &mut Vec<Effect>) {
        let e = ProtocolError::new(ErrorCode::Banned, "you are banned from this room");
        Self::reply(out, socket, ServerFrame::error(e));
        self.close_socket(socket, close::REMOVED, "banned", now_ms, out);
    }

    #[allow(clippy::too_many_arguments)] // one rule's inputs, kept explicit on purpose
    fn on_join(
        &mut self,
        store: &mut impl RoomStore,
        socket: SocketId,
        name: UserName,
        key: &MemberKey,
        resume: Resume<'_>,
        now_ms: u64,
        out: &mut Vec<Effect>,
    ) {
        let Resume { since, epoch, invite } = resume;
        let addr = self.conns.get(&socket).and_then(|c| c.ip.clone());
        if let Some(a) = &addr {
            match store.address_banned(a) {
                Ok(false) => {}
                Ok(true) => return self.refuse_banned(socket, now_ms, out),
                Err(_) => return Self::reply(out, socket, ServerFrame::error(internal())),
            }
        }
        let Ok(record) = self.record(store).cloned() else {
            return Self::reply(out, socket, ServerFrame::error(internal()));
        };
        // A direct message admits its two people's keys and nobody else's.
        if let Some((a, b)) = &record.dm {
            let inbox = confab_shared::inbox::inbox_id(key);
            if inbox != *a && inbox != *b {
                let e = err(ErrorCode::Forbidden, "this is a direct message between two other people");
                return self.refuse_join(socket, e, now_ms, out);
            }
        }
        if record.settings.invite_only {
            let claim = name.claim_key();
            let admitted = match store.is_member(&claim, key) {
                Ok(true) => Ok(true),
                Ok(false) => invite.map_or(Ok(false), |code| store.invite_valid(code)),
                Err(e) => Err(e),
            };
            match admitted {
                Ok(true) => {}
                Ok(false) => {
                    let e = err(ErrorCode::InviteRequired, "this room is invite-only: join with an invite link");
                    return self.refuse_join(socket, e, now_ms, out);
                }
                Err(_) => return Self::reply(out, socket, ServerFrame::error(internal())),
            }
        }
        let claimed = match store.claim(&name.claim_key(), name.as_str(), key, addr.as_deref(), now_ms) {
            Ok(Some(c)) => c,
            Ok(None) => {
                let taken = err(ErrorCode::NameTaken, format!("“{name}” belongs to someone else in this room"));
                return self.refuse_join(socket, taken, now_ms, out);
            }
            Err(_) => return Self::reply(out, socket, ServerFrame::error(internal())),
        };
        if claimed.banned {
            return self.refuse_banned(socket, now_ms, out);
        }
        // The member's person's inbox, computed here from the key (the page never says which
        // it is, so it cannot point this room's notifications elsewhere). A failed write costs
        // that member's notifications until their next join, never the join.
        // Bots have no person, hence no inbox.
        if claimed.role != Role::Bot {
            let inbox = confab_shared::inbox::inbox_id(key);
            if claimed.inbox.as_deref() != Some(inbox.as_str()) {
                let _ = store.set_inbox(claimed.id, &inbox);
            }
            let latest = self.latest.map_or(0, |(seq, _)| seq);
            self.joins_to_tell.push((inbox, claimed.id, latest, record.dm.is_some()));
        }
        let id = claimed.id;
        let owner = match record.owner {
            Some(owner) => Some(owner),
            // A bot never owns a room (the admin secret can make one before anyone joins), and
            // a direct message has no owner: neither of its two people moderates the other.
            None if claimed.role == Role::Bot || record.dm.is_some() => None,
            None => match store.adopt_owner(id, key) {
                Ok(owner) => {
                    if let Some(r) = self.record.as_mut() {
                        r.owner = owner;
                        r.owner_key = r.owner_key.take().filter(|_| owner.is_none());
                    }
                    owner
                }
                Err(_) => return Self::reply(out, socket, ServerFrame::error(internal())),
            },
        };
        let role = if owner == Some(id) { Role::Owner } else { claimed.role };
        let Ok((latest_seq, _)) = self.latest(store) else {
            return Self::reply(out, socket, ServerFrame::error(internal()));
        };
        let Ok(Some(room_epoch)) = store.epoch() else {
            return Self::reply(out, socket, ServerFrame::error(internal()));
        };
        // A resume from another epoch, or past the newest seq, cannot be of this room's
        // history: its storage was reset or recreated. Say so, and send what a fresh join gets.
        let reset = since.is_some() && (epoch.is_some_and(|e| e != room_epoch) || since > Some(latest_seq));
        let since = since.filter(|_| !reset);
        let view = match since {
            Some(since) if latest_seq - since > RESUME_EVENTS_MAX => {
                Self::fresh(store, id).map(|(messages, older)| (messages, older, true))
            }
            Some(since) => Self::resume(store, since, id),
            None => Self::fresh(store, id).map(|(messages, older)| (messages, older, false)),
        };
        let Ok((messages, older, gap)) = view else {
            return Self::reply(out, socket, ServerFrame::error(internal()));
        };

        let is_new_member = !self.members.contains_key(&id);
        let config = self.config;
        // A bot that acted over HTTP keeps its budget when it opens a socket.
        let remote = self.remote.remove(&id);
        let m = self
            .members
            .entry(id)
            .or_insert_with(|| remote.unwrap_or_else(|| Member::new(&claimed, role, &config, now_ms)));
        m.role = role;
        m.muted_until = claimed.muted_until;
        // The same member may come back as "Alice" while online as "alice": it is one member,
        // now shown with the name it joined with last.
        let renamed = m.display != name.as_str();
        m.display = name.as_str().to_owned();
        m.sockets.insert(socket);
        let you = MemberView { id, name: m.display.clone(), role };
        if let Some(c) = self.conns.get_mut(&socket) {
            c.member = Some(id);
            self.join_deadlines.remove(&(c.opened_ms.saturating_add(JOIN_DEADLINE_MS), socket));
        }
        self.save(socket, out);
        let settings = self.record.as_ref().map(|r| r.settings.clone()).unwrap_or_default();
        let muted_until = claimed.muted_until.filter(|u| *u > now_ms);
        let slow_wait_ms = self.slow_wait(store, id, now_ms);
        let welcome = ServerFrame::Welcome {
            protocol: PROTOCOL_VERSION,
            epoch: room_epoch,
            you: you.clone(),
            room: self.name.clone(),
            members: self.online(),
            messages,
            older,
            gap,
            reset,
            latest_seq,
            limits: Limits::with_rate(self.config.rate_burst, self.config.rate_per_sec),
            settings,
            muted_until,
            slow_wait_ms,
        };
        Self::reply(out, socket, welcome);
        if is_new_member || renamed {
            self.announce(you, true, renamed && !is_new_member, now_ms, out);
        }
    }

    /// Slow mode: how long until `member` may post, if it must wait.
    fn slow_wait(&mut self, store: &mut impl RoomStore, member: MemberId, now_ms: u64) -> Option<u64> {
        let (secs, since) = self.record.as_ref().map_or((0, 0), |r| (r.settings.slow_mode_secs, r.slow_since));
        let m = self.members.get(&member)?;
        if secs == 0 || m.role.moderates() || m.role == Role::Bot {
            return None;
        }
        let last = match m.last_post_ms {
            Some(t) => Some(t),
            None => store.last_post(member).ok().flatten(),
        };
        if let (Some(m), Some(t)) = (self.members.get_mut(&member), last) {
            m.last_post_ms = Some(t);
        }
        last.filter(|t| *t >= since)
            .map(|t| t + u64::from(secs) * 1000)
            .filter(|ready| *ready > now_ms)
            .map(|ready| ready - now_ms)
    }

    /// The room's owner and settings, read from storage once per instance.
    fn record(&mut self, store: &mut impl RoomStore) -> Result<&RoomRecord, StoreError> {
        if self.record.is_none() {
            self.record = Some(store.record()?);
        }
        Ok(self.record.as_ref().expect("set just above"))
    }

    /// The actor a member is, if it is online or a bot acting over HTTP.
    fn actor(&self, id: MemberId) -> Option<Actor> {
        self.actor_ref(id).map(|m| Actor { id, name: m.display.clone(), role: m.role, muted_until: m.muted_until })
    }

    fn actor_ref(&self, id: MemberId) -> Option<&Member> {
        self.members.get(&id).or_else(|| self.remote.get(&id))
    }

    fn actor_mut(&mut self, id: MemberId) -> Option<&mut Member> {
        match self.members.get_mut(&id) {
            Some(m) => Some(m),
            None => self.remote.get_mut(&id),
        }
    }

    /// A bot's request over HTTP (its token already checked by [`Room::authenticate`]): the
    /// same operation as the frame from a socket, with the same budgets and rules. Returns
    /// what the bot is told and the effects for the glue (the broadcast).
    pub fn bot_op(
        &mut self,
        store: &mut impl RoomStore,
        bot: &MemberInfo,
        frame: ClientFrame,
        now_ms: u64,
    ) -> (Result<Done, Refusal>, Vec<Effect>) {
        if !self.members.contains_key(&bot.id) {
            let config = self.config;
            let m = self.remote.entry(bot.id).or_insert_with(|| Member::new(bot, Role::Bot, &config, now_ms));
            m.muted_until = bot.muted_until;
        }
        let actor = self.actor(bot.id).expect("inserted just above if it was not online");
        let mut out = Vec::new();
        let result = self.perform(store, &actor, frame, now_ms, &mut out);
        self.save_departed(store);
        (result, out)
    }

    /// A moderation action by the deployment's admin secret (an owner in every room).
    pub fn admin_op(
        &mut self,
        store: &mut impl RoomStore,
        frame: ClientFrame,
        now_ms: u64,
    ) -> (Result<Done, Refusal>, Vec<Effect>) {
        let mut out = Vec::new();
        let result = self.perform(store, &Actor::admin(), frame, now_ms, &mut out);
        (result, out)
    }

    /// The bot a bearer token is, if it is a live bot's.
    pub fn authenticate(
        &mut self,
        store: &mut impl RoomStore,
        token: &str,
    ) -> Result<Option<MemberInfo>, ProtocolError> {
        let Some((id, key)) = token_bot(token) else { return Ok(None) };
        store.authenticate(id, &key).map_err(storage)
    }

    /// `GET /api/rooms/{room}/messages?since=`: what changed after `since`, as a resume
    /// would replay it to `viewer`.
    pub fn changes(
        &mut self,
        store: &mut impl RoomStore,
        since: Seq,
        viewer: MemberId,
    ) -> Result<confab_shared::api::Changes, ProtocolError> {
        let (latest_seq, _) = self.latest(store).map_err(storage)?;
        let (messages, _, gap) = if since > latest_seq || latest_seq - since > RESUME_EVENTS_MAX {
            Self::fresh(store, viewer).map(|(m, o)| (m, o, true))
        } else {
            Self::resume(store, since, viewer)
        }
        .map_err(storage)?;
        Ok(confab_shared::api::Changes { messages, latest_seq, gap })
    }

    /// An inbox starts watching the room for `member` (its person's first socket opened): the
    /// exact counts after `after` (capped at 9,999), and the newest `seq` they are as of.
    pub fn watch(
        &mut self,
        store: &mut impl RoomStore,
        member: MemberId,
        inbox: &str,
        after: Seq,
    ) -> Result<(u32, u32, Seq), ProtocolError> {
        let (latest, _) = self.latest(store).map_err(storage)?;
        let (unread, mentions) = store.unread_after(member, after, 9_999).map_err(storage)?;
        store.save_watch(member, inbox).map_err(storage)?;
        self.watchers.watch(member, inbox, latest);
        Ok((unread, mentions, latest))
    }

    /// An inbox answered "stop": none of its person's sockets is open.
    pub fn unwatch(&mut self, store: &mut impl RoomStore, member: MemberId) {
        self.watchers.unwatch(member);
        let _ = store.drop_watch(member);
    }

    /// The batches made for watching inboxes since the glue last asked.
    pub fn take_inbox_batches(&mut self) -> Vec<watchers::Batch> {
        std::mem::take(&mut self.to_inboxes)
    }

    /// A post mentioned members whose inboxes do not watch (no page of theirs is open): each
    /// is told of it at once, alone, so the mention waits in their inbox as a notification.
    /// Its coverage (`from` = `to` = `seq`) is not where any inbox's counts end, so an inbox
    /// that does have a page open recounts, which makes the room watch for it again.
    fn tell_mentioned(
        &mut self,
        store: &mut impl RoomStore,
        seq: Seq,
        post: &confab_shared::inbox::PostSummary,
        mentions: &[MemberId],
    ) {
        let unwatched: Vec<MemberId> =
            mentions.iter().copied().filter(|m| *m != post.member && !self.watchers.watching(*m)).collect();
        if unwatched.is_empty() {
            return;
        }
        for info in store.members(&unwatched).unwrap_or_default() {
            if info.role == Role::Bot {
                continue;
            }
            let Some(inbox) = info.inbox else { continue };
            let mut p = post.clone();
            p.mentions_me = true;
            let body = confab_shared::inbox::Summaries {
                room: self.name.clone(),
                member: info.id,
                from: seq,
                to: seq,
                posts: vec![p],
            };
            self.to_inboxes.push(watchers::Batch { inbox, body });
        }
    }

    /// In a direct message, every post reaches the other person's inbox at once, even before
    /// they ever joined the room (their inbox listed it when it started), unless it watches
    /// already. Alone, like a mention: it waits there, or makes an open inbox recount.
    fn tell_dm_peer(&mut self, store: &mut impl RoomStore, seq: Seq, post: &confab_shared::inbox::PostSummary) {
        let Some((a, b)) = self.record.as_ref().and_then(|r| r.dm.clone()) else { return };
        let author = store.members(&[post.member]).ok().and_then(|m| m.into_iter().next()).and_then(|m| m.inbox);
        let other = if author.as_deref() == Some(a.as_str()) { b } else { a };
        if self.watchers.watching_inbox(&other) {
            return;
        }
        let mut p = post.clone();
        p.mentions_me = true;
        let body =
            confab_shared::inbox::Summaries { room: self.name.clone(), member: 0, from: seq, to: seq, posts: vec![p] };
        self.to_inboxes.push(watchers::Batch { inbox: other, body });
    }

    /// The joins to tell the members' inboxes of: (inbox, member, the room's newest `seq`,
    /// whether the room is a direct message).
    pub fn take_joins_to_tell(&mut self) -> Vec<(String, MemberId, Seq, bool)> {
        std::mem::take(&mut self.joins_to_tell)
    }

    /// Whether the room is invite-only, or a direct message (its HTTP reads then need one of
    /// its bots' tokens; a direct message has none).
    pub fn invite_only(&mut self, store: &mut impl RoomStore) -> Result<bool, ProtocolError> {
        let record = self.record(store).map_err(storage)?;
        Ok(record.settings.invite_only || record.dm.is_some())
    }

    /// Makes this (new) room the direct message of inboxes `a` and `b`. False if it cannot be.
    pub fn make_dm(&mut self, store: &mut impl RoomStore, a: &str, b: &str) -> Result<bool, ProtocolError> {
        let (a, b) = if a <= b { (a, b) } else { (b, a) };
        let made = store.set_dm(a, b).map_err(storage)?;
        self.record = None;
        Ok(made)
    }

    /// `member`'s inbox and name, for a direct message someone here starts with them (not a
    /// bot's: bots have no person).
    pub fn inbox_of(&mut self, store: &mut impl RoomStore, member: MemberId) -> Option<(String, String)> {
        let info = store.members(&[member]).ok()?.into_iter().next()?;
        if info.role == Role::Bot || info.banned {
            return None;
        }
        Some((info.inbox?, info.name))
    }

    /// `POST /api/rooms` with the creator's key: the first join with it will own the room.
    pub fn set_owner_key(&mut self, store: &mut impl RoomStore, key: &MemberKey) -> Result<(), ProtocolError> {
        store.set_owner_key(key).map_err(storage)?;
        self.record = None;
        Ok(())
    }

    /// A fresh join's view: the newest messages, and whether older ones exist.
    fn fresh(
        store: &mut impl RoomStore,
        viewer: MemberId,
    ) -> Result<(Vec<confab_shared::ChatMessage>, bool), StoreError> {
        let page = Self::page(store, Seq::MAX, WELCOME_MESSAGES, Some(viewer))?;
        Ok((page.messages, page.older))
    }

    /// A resume's view: every message changed after `since`, once, as it is now; or, past
    /// [`RESUME_MAX`] of them, a fresh view marked as a gap (as is a resume more than
    /// [`RESUME_EVENTS_MAX`] events back, decided before this). `(messages, older, gap)`.
    fn resume(
        store: &mut impl RoomStore,
        since: Seq,
        viewer: MemberId,
    ) -> Result<(Vec<confab_shared::ChatMessage>, bool, bool), StoreError> {
        let ids = store.changed_since(since, RESUME_MAX + 1)?;
        if ids.len() > RESUME_MAX as usize {
            let (messages, older) = Self::fresh(store, viewer)?;
            return Ok((messages, older, true));
        }
        let rows = store.messages(&ids)?;
        // Every message id above 1 has an older message: the first event is always a post.
        let older = rows.first().is_some_and(|m| m.id > 1);
        Ok((view::messages(store, rows, Some(viewer))?, older, false))
    }

    /// The messages before `before`, as `viewer` sees them.
    fn page(
        store: &mut impl RoomStore,
        before: Seq,
        limit: u32,
        viewer: Option<MemberId>,
    ) -> Result<HistoryPage, StoreError> {
        let rows = store.before(before, limit)?;
        // Every message id above 1 has an older message: the first event is always a post.
        let older = rows.first().is_some_and(|m| m.id > 1);
        Ok(HistoryPage { messages: view::messages(store, rows, viewer)?, older })
    }

    /// When the room next needs an [`Input::Tick`], if it does.
    pub fn next_wake(&self) -> Option<u64> {
        let deadline = self.join_deadlines.first().map(|(at, _)| *at);
        let watchers = self.watchers.next_due();
        [self.presence.flush_at, deadline, self.next_delivery, self.next_stream_deadline(), watchers]
            .into_iter()
            .flatten()
            .min()
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
        let Some(id) = conn.member else { return };
        let Some(m) = self.members.get_mut(&id) else { return };
        m.sockets.remove(&socket);
        if m.sockets.is_empty() {
            let m = self.members.remove(&id).expect("looked up just above");
            // Gone from memory: a budget that is not full yet is saved (when the event ends), so
            // leaving and coming straight back does not refill it.
            let (burst, per_sec) = (self.config.rate_burst, self.config.rate_per_sec);
            if !m.bucket.is_full_at(burst, per_sec, now_ms) {
                self.unsaved.push((id, m.bucket));
            }
            self.announce(MemberView { id, name: m.display, role: m.role }, false, false, now_ms, out);
        }
    }

    /// The budget to save with a member's event: only one still short when the room could
    /// first be evicted (with the default limits, never; with a slow refill, every time), so
    /// a burst of messages is one write each, not two.
    fn bucket_to_save(&self, bucket: Bucket, now_ms: u64) -> Option<Bucket> {
        let (burst, per_sec) = (self.config.rate_burst, self.config.rate_per_sec);
        (!bucket.full_within(burst, per_sec, now_ms, HIBERNATION_IDLE_MS)).then_some(bucket)
    }

    fn latest(&mut self, store: &mut impl RoomStore) -> Result<(Seq, u64), StoreError> {
        if let Some(l) = self.latest {
            return Ok(l);
        }
        let l = store.latest()?.unwrap_or((0, 0));
        self.latest = Some(l);
        Ok(l)
    }

    /// `GET /api/rooms/{room}/messages`: the same page as the `history` frame (no `mine`).
    pub fn history(
        &self,
        store: &mut impl RoomStore,
        before: Option<Seq>,
        limit: u32,
    ) -> Result<HistoryPage, ProtocolError> {
        let limit = limit.clamp(1, confab_shared::limits::HISTORY_PAGE_MAX);
        Self::page(store, before.unwrap_or(Seq::MAX), limit, None).map_err(storage)
    }

    /// The messages before `before` as `viewer` sees them (`mine` included): the `history`
    /// frame's page, for tools and tests that need a member's exact view.
    pub fn page_for(
        &self,
        store: &mut impl RoomStore,
        before: Seq,
        limit: u32,
        viewer: MemberId,
    ) -> Result<HistoryPage, ProtocolError> {
        Self::page(store, before, limit, Some(viewer)).map_err(storage)
    }

    /// `GET /api/rooms/{room}`.
    pub fn info(&mut self, store: &mut impl RoomStore) -> Result<RoomInfo, ProtocolError> {
        let (latest_seq, _) = self.latest(store).map_err(storage)?;
        Ok(RoomInfo { room: self.name.clone(), members_online: self.members.len() as u32, latest_seq })
    }

    /// Checks the room's invariants; used by tests and fuzzing. Members are exactly those
    /// with an open, joined socket, every member socket points back at its member, and only
    /// unjoined sockets wait for a join deadline.
    pub fn check_invariants(&self) -> Result<(), String> {
        for (id, m) in &self.members {
            if m.sockets.is_empty() {
                return Err(format!("member {id} has no sockets (a ghost)"));
            }
            for s in &m.sockets {
                match self.conns.get(s) {
                    Some(Conn { member: Some(c), .. }) if c == id => {}
                    other => return Err(format!("socket {s} of {id} is {other:?}")),
                }
            }
        }
        for (sid, c) in &self.conns {
            if let Some(id) = &c.member {
                if !self.members.get(id).is_some_and(|m| m.sockets.contains(sid)) {
                    return Err(format!("socket {sid} claims member {id} which does not list it"));
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
