//! The test harness shared by the room's native tests: a `Room` driven the way the Durable
//! Object glue drives it, with an in-memory store, attachments and per-socket inboxes.
#![allow(dead_code)] // each test file uses its own subset

use confab_shared::{ErrorCode, ServerFrame};
use confab_worker::room::{Attachment, Effect, Input, Room, RoomConfig, SocketId};
use confab_worker::store::MemoryStore;
use serde_json::json;
use std::collections::{BTreeMap, HashMap};

/// A room plus what the glue would hold: the store, each socket's attachment and inbox.
pub struct Harness {
    pub room: Room,
    pub store: MemoryStore,
    pub attachments: BTreeMap<SocketId, Attachment>,
    pub inbox: HashMap<SocketId, Vec<ServerFrame>>,
    pub closed: HashMap<SocketId, u16>,
    pub now: u64,
    /// The earliest wake-up the room asked for and has not had.
    pub wake: Option<u64>,
    pub config: RoomConfig,
}

/// Limits high enough that a test can fill a room with hundreds of messages at once.
pub fn unlimited() -> RoomConfig {
    RoomConfig {
        rate_burst: 1000,
        rate_per_sec: 1000,
        room_rate_burst: 1_000_000,
        room_rate_per_sec: 1_000_000,
        socket_burst: 1_000_000,
        socket_per_sec: 1_000_000,
        ..RoomConfig::default()
    }
}

impl Harness {
    pub fn new() -> Self {
        Self::with_config(RoomConfig::default())
    }

    pub fn with_config(config: RoomConfig) -> Self {
        Self {
            room: Room::new("lobby", config),
            store: MemoryStore::default(),
            attachments: BTreeMap::new(),
            inbox: HashMap::new(),
            closed: HashMap::new(),
            now: 1_000_000,
            wake: None,
            config,
        }
    }

    pub fn open(&mut self) -> SocketId {
        self.open_from(None)
    }

    /// Opens a socket from a client address (`CF-Connecting-IP`).
    pub fn open_from(&mut self, ip: Option<&str>) -> SocketId {
        let (a, effects) = self.room.open(self.now, ip).expect("the room accepts the socket");
        let id = a.id;
        self.attachments.insert(id, a);
        self.apply(effects);
        id
    }

    pub fn apply(&mut self, effects: Vec<Effect>) {
        for e in effects {
            match e {
                Effect::Send { to, text } => {
                    // As the glue does: the audience means the sockets it has as it is sent.
                    for s in self.room.audience(&to) {
                        self.inbox
                            .entry(s)
                            .or_default()
                            .push(ServerFrame::parse(&text).expect("the room sends valid frames"));
                    }
                }
                Effect::Save(s, a) => {
                    assert_eq!(a.id, s);
                    self.attachments.insert(s, a);
                }
                Effect::Close { socket, code, .. } => {
                    // As the glue does: a tombstone first. The runtime keeps listing the socket
                    // (CLOSING) until the peer answers, so its attachment stays here too.
                    self.closed.insert(socket, code);
                    self.attachments.insert(socket, Attachment::tombstone(socket));
                }
                Effect::WakeAt(at) => {
                    assert!(at >= self.now, "a wake-up in the past: {at} < {}", self.now);
                    self.wake = Some(self.wake.map_or(at, |w| w.min(at)));
                }
            }
        }
        self.room.check_invariants().unwrap();
    }

    pub fn text(&mut self, s: SocketId, v: serde_json::Value) {
        self.raw(s, &v.to_string());
    }

    pub fn raw(&mut self, s: SocketId, text: &str) {
        let effects = self.room.handle(&mut self.store, Input::Text(s, text), self.now);
        self.apply(effects);
    }

    /// Moves the clock to the wake-up the room asked for, if any, and delivers the tick.
    pub fn tick(&mut self) {
        if let Some(at) = self.wake.take() {
            self.now = self.now.max(at);
        }
        let effects = self.room.handle(&mut self.store, Input::Tick, self.now);
        self.apply(effects);
    }

    /// The runtime reports the socket closed (by its peer, or the peer answered our close).
    pub fn close(&mut self, s: SocketId) {
        self.attachments.remove(&s);
        let effects = self.room.handle(&mut self.store, Input::Closed(s), self.now);
        self.apply(effects);
    }

    pub fn join(&mut self, name: &str, key: &str) -> SocketId {
        let s = self.open();
        self.text(s, json!({"type": "join", "data": {"v": 2, "name": name, "key": key}}));
        s
    }

    /// Joins resuming from `since` in `epoch`.
    pub fn resume(&mut self, name: &str, key: &str, since: u64, epoch: &str) -> SocketId {
        let s = self.open();
        self.text(
            s,
            json!({"type": "join", "data": {"v": 2, "name": name, "key": key, "since": since, "epoch": epoch}}),
        );
        s
    }

    pub fn send(&mut self, s: SocketId, client_id: &str, text: &str) {
        self.text(s, json!({"type": "send", "data": {"client_id": client_id, "text": text}}));
    }

    pub fn reply(&mut self, s: SocketId, client_id: &str, text: &str, to: u64) {
        self.text(s, json!({"type": "send", "data": {"client_id": client_id, "text": text, "reply_to": to}}));
    }

    pub fn edit(&mut self, s: SocketId, client_id: &str, id: u64, text: &str) {
        self.text(s, json!({"type": "edit", "data": {"client_id": client_id, "id": id, "text": text}}));
    }

    pub fn delete(&mut self, s: SocketId, client_id: &str, id: u64) {
        self.text(s, json!({"type": "delete", "data": {"client_id": client_id, "id": id}}));
    }

    pub fn react(&mut self, s: SocketId, client_id: &str, id: u64, emoji: &str, on: bool) {
        self.text(s, json!({"type": "react", "data": {"client_id": client_id, "id": id, "emoji": emoji, "on": on}}));
    }

    /// The welcome a socket got (the first frame it holds), taking its inbox.
    pub fn welcome(&mut self, s: SocketId) -> ServerFrame {
        let frames = self.take(s);
        frames.into_iter().find(|f| matches!(f, ServerFrame::Welcome { .. })).expect("a welcome")
    }

    /// The acks a socket got, taking its inbox: `(client_id, seq)`.
    pub fn acks(&mut self, s: SocketId) -> Vec<(String, u64)> {
        self.take(s)
            .into_iter()
            .filter_map(|f| match f {
                ServerFrame::Ack { client_id, seq, .. } => Some((client_id, seq)),
                _ => None,
            })
            .collect()
    }

    /// The member holding `name` now.
    pub fn id_of(&mut self, name: &str) -> u64 {
        use confab_worker::store::RoomStore;
        let claim = confab_shared::UserName::parse(name).unwrap().claim_key();
        self.store.holder(&claim).unwrap().expect("someone holds the name")
    }

    fn member(&mut self, name: &str) -> confab_shared::Member {
        use confab_worker::store::RoomStore;
        let id = self.id_of(name);
        let owner = self.store.record().unwrap().owner;
        let role = if owner == Some(id) { confab_shared::Role::Owner } else { confab_shared::Role::Member };
        confab_shared::Member { id, name: name.trim().to_owned(), role }
    }

    /// Drops the joins the room would tell its members' inboxes of.
    pub fn take_inbox_notes(&mut self) {
        self.room.take_joins_to_tell();
    }

    /// A moderation action from socket `s`.
    pub fn moderate(&mut self, s: SocketId, client_id: &str, action: serde_json::Value) {
        self.text(s, json!({"type": "moderate", "data": {"client_id": client_id, "action": action}}));
    }

    /// `member_joined` of the member holding `name`, shown as `name`.
    pub fn joined(&mut self, name: &str) -> ServerFrame {
        ServerFrame::MemberJoined(self.member(name))
    }

    /// `member_left` of the member holding `name`.
    pub fn left(&mut self, name: &str) -> ServerFrame {
        ServerFrame::MemberLeft(self.member(name))
    }

    /// `typing` of the member holding `name`.
    pub fn typing(&mut self, name: &str) -> ServerFrame {
        ServerFrame::Typing(self.member(name))
    }

    /// The room's epoch.
    pub fn epoch(&mut self) -> String {
        use confab_worker::store::RoomStore;
        self.store.epoch().unwrap().expect("the room was written")
    }

    pub fn take(&mut self, s: SocketId) -> Vec<ServerFrame> {
        self.inbox.remove(&s).unwrap_or_default()
    }

    pub fn last_error(&mut self, s: SocketId) -> (ErrorCode, Option<u64>) {
        match self.take(s).pop() {
            Some(ServerFrame::Error { code, retry_after_ms, .. }) => (code, retry_after_ms),
            other => panic!("expected an error, got {other:?}"),
        }
    }

    /// Simulates hibernation: after the idle time the runtime waits for, the room is dropped
    /// and rebuilt from the sockets' attachments
    /// (tombstones of sockets the room closed included, as the runtime still lists those).
    /// Hibernation needs seconds of silence, so every wake-up the room asked for (presence
    /// within 100 ms, join deadlines within 10 s) has happened by then: deliver them first.
    pub fn hibernate(&mut self) {
        while let Some(at) = self.room.next_wake() {
            self.wake = Some(at);
            self.tick();
        }
        self.wake = None;
        // The runtime evicts only after this long without an event.
        self.now += confab_worker::room::HIBERNATION_IDLE_MS;
        self.store.new_instance();
        self.room = Room::restore("lobby", self.config, self.attachments.values().cloned(), &mut self.store);
        self.room.check_invariants().unwrap();
    }
}
