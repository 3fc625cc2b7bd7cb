//! The person's inbox as the page sees it (issue 11), sans I/O: the sidebar's rooms and
//! counts ([`Sidebar`]), what the tab title and a desktop notification say, and the rules of
//! the one inbox socket a page keeps beside its room's ([`InboxLink`]). The driver
//! (`inbox_driver.rs`, wasm only) owns the socket and the clock and carries out the [`Out`]s.
//!
//! Rules:
//! - The sidebar is built only from the inbox's events: `rooms` replaces the whole list (the
//!   inbox's word after every `hello`, so a reconnect drops rooms left meanwhile), `counts`
//!   replaces one room. Rooms with mentions come first, then rooms with unread posts, then by
//!   name. What asks for the person ([`attention`]) follows the room's level: every unread
//!   post in an `all` room, mentions in a `mentions` room, nothing in a `nothing` room.
//! - A `notify` becomes a desktop notification only while the tab is hidden, notifications
//!   are allowed, the room is not set to `nothing`, the message is not read already (another
//!   tab or device moved the room's `last_read` past it) and no notification of this room
//!   was shown for it or a newer message (a replay after a reconnect shows nothing twice).
//! - The socket: `hello` with the browser's key first; nothing else goes before the inbox
//!   answers `rooms` (the focus, reads, "mark as unread" and levels asked meanwhile wait and
//!   go then, the focus first). Reconnects use the room engine's backoff and close-code
//!   windows ([`retry_delay_ms`]) and connect deadline; the attempt count starts over after a
//!   socket stayed up [`STABLE_MS`]. Close 4003 (this key does not own the inbox) is never
//!   reconnected.
//! - Heartbeat, as the room's: `ping` every [`PING_EVERY_MS`] (the inbox's runtime answers
//!   `pong` without waking it); nothing heard for [`DEAD_AFTER_MS`] means the socket is
//!   half-open (the browser has not noticed), so it is closed and reconnected: counts never
//!   freeze on a dead socket. [`InboxLink::wake`] (the network or the tab came back) probes
//!   an open socket at once ([`PROBE_MS`]) and reconnects a waiting link.
//! - The tab shows what waits (the sum of [`attention`]) as a count in its title (with the
//!   open room's own) and a badge on its icon ([`favicon`]).
//! - The "New" divider ([`Divider`]) comes from the inbox's read position, placed once per
//!   visit, and moved back by "mark as unread from here" wherever the person did it.
//! - Reads: `read {room, seq}` goes only when it moves the room's read position (past the
//!   sidebar's `last_read` and anything sent on this socket). After "mark as unread from
//!   here" a room's reads up to where the person was are held back, so the room stays unread
//!   while they look at it; a newer message read, or opening another room, lifts that.

use crate::engine::{retry_delay_ms, Link, Out, CONNECT_TIMEOUT_MS, DEAD_AFTER_MS, PING_EVERY_MS, PROBE_MS, STABLE_MS};
use confab_shared::close;
use confab_shared::inbox::{InboxEvent, InboxFrame, Level, RoomCounts};
use confab_shared::{MemberId, Seq, PING, PONG};
use std::collections::{BTreeMap, HashMap};

/// The person's rooms with their counts, as the sidebar shows them.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Sidebar {
    rooms: BTreeMap<String, RoomCounts>,
    /// The inbox answered at least once (before that the sidebar says "loading").
    pub loaded: bool,
    /// The newest message notified of, by room.
    notified: HashMap<String, Seq>,
    /// The inbox's last refusal, in its words (shown until the next one, or until dismissed).
    pub refusal: Option<String>,
}

/// How many unread posts are addressed to the person: its mentions, or in a direct message
/// every unread post (the inbox's own mention count there moves with its recounts, which
/// count only real `@` mentions: the badge must not flicker between the two).
pub fn for_you(r: &RoomCounts) -> u32 {
    if r.dm {
        r.unread
    } else {
        r.mentions
    }
}

/// What a room's posts ask of the person, by its level (see the module's rules).
pub fn attention(r: &RoomCounts) -> u32 {
    match r.level {
        Level::All => r.unread,
        Level::Mentions => r.mentions,
        Level::Nothing => 0,
    }
}

/// A desktop notification to show.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Notice {
    /// The room it opens.
    pub room: String,
    /// The message it opens at.
    pub id: Seq,
    /// Its title ("bob in #lobby", "5 new in #lobby").
    pub title: String,
    /// Its text (the excerpt).
    pub body: String,
}

/// A room's name as the person reads it in a sentence: `#lobby`, "a direct message", "a
/// private room".
pub fn room_label(r: &str, dm: bool) -> String {
    if dm {
        "a direct message".to_owned()
    } else if r.len() == 64 {
        "a private room".to_owned()
    } else {
        format!("#{r}")
    }
}

/// A room's name as a heading or a sidebar row shows it: a direct message by its other
/// person ("bob"), a private room by the start of its name, a room as `#lobby`. `known`: the
/// inbox's entry, if the room is listed there.
pub fn room_title(r: &str, known: Option<&RoomCounts>) -> String {
    match known {
        Some(RoomCounts { dm: true, peer: Some(p), .. }) => p.clone(),
        Some(RoomCounts { dm: true, .. }) => "Direct message".to_owned(),
        _ if r.len() == 64 => format!("private · {}…", r.get(..8).unwrap_or(r)),
        _ => format!("#{r}"),
    }
}

impl Sidebar {
    /// Applies an inbox event; says whether what the sidebar shows changed.
    pub fn apply(&mut self, event: &InboxEvent) -> bool {
        match event {
            InboxEvent::Rooms { rooms } => {
                let rooms: BTreeMap<_, _> = rooms.iter().map(|r| (r.room.clone(), r.clone())).collect();
                let changed = !self.loaded || rooms != self.rooms;
                self.rooms = rooms;
                self.loaded = true;
                changed
            }
            InboxEvent::Counts(c) => {
                if self.rooms.get(&c.room) == Some(c) {
                    return false;
                }
                self.rooms.insert(c.room.clone(), c.clone());
                true
            }
            InboxEvent::Notify { .. } | InboxEvent::DmOpened { .. } => false,
            InboxEvent::Refused { message, .. } => {
                self.refusal = Some(message.clone());
                true
            }
        }
    }

    /// One room, if the person is in it.
    pub fn room(&self, room: &str) -> Option<&RoomCounts> {
        self.rooms.get(room)
    }

    /// The person set `room`'s level: shown at once (the inbox keeps it without answering;
    /// its next `counts` or `rooms` carries it). Says whether anything changed.
    pub fn set_level(&mut self, room: &str, level: Level) -> bool {
        match self.rooms.get_mut(room) {
            Some(r) if r.level != level => {
                r.level = level;
                true
            }
            _ => false,
        }
    }

    /// The rooms in the sidebar's order: with posts for you ([`for_you`]: mentions, or a
    /// direct message's unread posts), then with unread posts, then the rest; by name within
    /// each.
    pub fn sorted(&self) -> Vec<&RoomCounts> {
        let mut v: Vec<&RoomCounts> = self.rooms.values().collect();
        v.sort_by_key(|r| (for_you(r) == 0, r.unread == 0));
        v
    }

    /// The sum of [`attention`] over every room but `except` (the one on screen, whose own
    /// count the page already shows).
    pub fn waiting(&self, except: Option<&str>) -> u32 {
        self.rooms.values().filter(|r| Some(r.room.as_str()) != except).map(attention).fold(0, u32::saturating_add)
    }

    /// Whether `event` becomes a desktop notification, and which (see the module's rules).
    /// `hidden`: the tab is hidden; `allowed`: the person granted notifications.
    pub fn notice(&mut self, event: &InboxEvent, hidden: bool, allowed: bool) -> Option<Notice> {
        let InboxEvent::Notify { room, id, author, excerpt, count } = event else { return None };
        let known = self.rooms.get(room);
        let read = known.is_some_and(|r| r.last_read >= *id || r.level == Level::Nothing);
        let shown = self.notified.get(room).is_some_and(|n| n >= id);
        if !hidden || !allowed || read || shown {
            return None;
        }
        self.notified.insert(room.clone(), *id);
        let label = room_label(room, known.is_some_and(|r| r.dm));
        let title = if *count > 1 { format!("{count} new in {label}") } else { format!("{author} in {label}") };
        Some(Notice { room: room.clone(), id: *id, title, body: excerpt.clone() })
    }
}

/// The tab title: the open room's own title ([`crate::list::tab_title`]: its mentions while
/// away, or how many came) with what waits in the other rooms added to the count in brackets.
pub fn page_title(room_title: &str, unread: usize, mentions: usize, elsewhere: u32) -> String {
    crate::list::tab_title(room_title, unread, mentions.saturating_add(elsewhere as usize))
}

/// The tab's icon, as an SVG `data:` URL (allowed by the page's `img-src 'self' data:`): a
/// speech bubble, with a red badge counting what waits for the person (over 9: "9+").
pub fn favicon(waiting: u32) -> String {
    let badge = match waiting {
        0 => String::new(),
        n => {
            let label = if n > 9 { "9+".to_owned() } else { n.to_string() };
            format!(
                "<circle cx='23' cy='9' r='9' fill='%23c92a2a'/><text x='23' y='13' font-size='12' \
                 font-family='sans-serif' font-weight='bold' text-anchor='middle' fill='white'>{label}</text>"
            )
        }
    };
    format!(
        "data:image/svg+xml,<svg xmlns='http://www.w3.org/2000/svg' viewBox='0 0 32 32'><path d='M4 6h20a3 3 0 0 1 \
         3 3v11a3 3 0 0 1-3 3H12l-6 5v-5H4a3 3 0 0 1-3-3V9a3 3 0 0 1 3-3z' fill='%233b5bdb'/>{badge}</svg>"
    )
}

/// Where a visit's "New" divider goes: after the inbox's read position for the room (the same
/// on every tab and device, surviving reloads), or, until the inbox has answered, after what
/// this browser saved. The first position the inbox gives places it; later ones are this
/// tab's own reads and leave it be (the divider stays put while the person reads on), unless
/// they move it back: "mark as unread from here", on this tab or another.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Divider {
    after: Option<Seq>,
    from_inbox: bool,
}

impl Divider {
    /// A visit's divider from the position this browser saved.
    pub fn new(saved: Option<Seq>) -> Self {
        Self { after: saved, from_inbox: false }
    }

    /// The inbox's read position for the room; says whether the divider moved.
    pub fn inbox(&mut self, last_read: Seq) -> bool {
        let back = self.after.is_some_and(|a| last_read < a);
        if self.from_inbox && !back {
            return false;
        }
        let moved = self.after != Some(last_read);
        *self = Self { after: Some(last_read), from_inbox: true };
        moved
    }

    /// The divider goes after this message (`None`: none shown).
    pub fn after(&self) -> Option<Seq> {
        self.after
    }
}

/// The rules of the page's one inbox socket (see the module's rules).
#[derive(Debug, Clone)]
pub struct InboxLink {
    key: String,
    link: Link,
    open: bool,
    /// The inbox answered `hello` on this socket: frames may go.
    greeted: bool,
    greeted_at_ms: Option<u64>,
    /// Failed attempts since the last stable socket.
    attempt: u32,
    connect_deadline_ms: Option<u64>,
    /// The room this tab shows while focused (told again on every socket).
    focus: Option<String>,
    /// Reads waiting for a greeted socket, highest by room.
    reads: BTreeMap<String, Seq>,
    /// Reads sent on this socket, by room.
    sent_reads: HashMap<String, Seq>,
    /// After "mark as unread": reads up to here are held back, by room.
    held_reads: HashMap<String, Seq>,
    /// Marks and levels waiting for a greeted socket, in order.
    later: Vec<InboxFrame>,
    /// The inbox closed with 1008: only its long wait reconnects, not [`InboxLink::wake`].
    held: bool,
    /// This page asked to start a direct message on this socket: it opens the one the inbox
    /// answers (`dm_opened`), once.
    opening_dm: bool,
    /// When the open socket last said anything.
    heard_ms: u64,
    /// When the next `ping` goes.
    next_ping_ms: u64,
    /// A probe `ping` is out that must be answered by then.
    probe_until_ms: Option<u64>,
}

impl InboxLink {
    /// A link for the browser's `key`; call [`InboxLink::start`] to connect.
    pub fn new(key: String) -> Self {
        Self {
            key,
            link: Link::Connecting,
            open: false,
            greeted: false,
            greeted_at_ms: None,
            attempt: 0,
            connect_deadline_ms: None,
            focus: None,
            reads: BTreeMap::new(),
            sent_reads: HashMap::new(),
            held_reads: HashMap::new(),
            later: Vec::new(),
            held: false,
            opening_dm: false,
            heard_ms: 0,
            next_ping_ms: u64::MAX,
            probe_until_ms: None,
        }
    }

    /// The link state to show.
    pub fn link(&self) -> Link {
        self.link
    }

    /// The socket's handshake is done (it may be waiting for the inbox's `rooms` still).
    pub fn is_open(&self) -> bool {
        self.open
    }

    /// Opens the first socket.
    pub fn start(&mut self, now_ms: u64) -> Vec<Out> {
        self.connect(now_ms)
    }

    fn connect(&mut self, now_ms: u64) -> Vec<Out> {
        self.link = Link::Connecting;
        self.open = false;
        self.greeted = false;
        self.connect_deadline_ms = Some(now_ms.saturating_add(CONNECT_TIMEOUT_MS));
        vec![Out::Open]
    }

    /// The socket opened: `hello` first.
    pub fn on_open(&mut self, now_ms: u64) -> Vec<Out> {
        self.open = true;
        self.greeted = false;
        self.sent_reads.clear();
        self.heard_ms = now_ms;
        self.next_ping_ms = now_ms.saturating_add(PING_EVERY_MS);
        self.probe_until_ms = None;
        self.connect_deadline_ms = Some(now_ms.saturating_add(CONNECT_TIMEOUT_MS));
        vec![send(&InboxFrame::Hello { key: self.key.clone() })]
    }

    /// A text arrived: applied to `sidebar`; returns what to send and the event (for
    /// [`Sidebar::notice`]). Text that is not an event (a newer inbox's) is ignored.
    pub fn on_text(&mut self, sidebar: &mut Sidebar, text: &str, now_ms: u64) -> (Vec<Out>, Option<InboxEvent>) {
        self.heard_ms = now_ms;
        self.probe_until_ms = None;
        if text == PONG {
            return (Vec::new(), None);
        }
        let Ok(event) = serde_json::from_str::<InboxEvent>(text) else { return (Vec::new(), None) };
        sidebar.apply(&event);
        let mut out = Vec::new();
        if matches!(event, InboxEvent::Rooms { .. }) && self.open && !self.greeted {
            self.greeted = true;
            self.greeted_at_ms = Some(now_ms);
            self.connect_deadline_ms = None;
            self.link = Link::Online;
            self.held = false;
            if let Some(room) = &self.focus {
                out.push(send(&InboxFrame::Focus { room: Some(room.clone()) }));
            }
            for f in std::mem::take(&mut self.later) {
                out.push(send(&f));
            }
            for (room, seq) in std::mem::take(&mut self.reads) {
                out.extend(self.read(sidebar, room, seq));
            }
        }
        (out, Some(event))
    }

    /// The socket closed with `code` (`None`: failed, or no close frame). `random` in `[0, 1)`
    /// places the reconnect in its window.
    pub fn on_close(&mut self, now_ms: u64, code: Option<u16>, random: f64) -> Vec<Out> {
        self.open = false;
        // The ask is forgotten if it went on this socket (its answer will not come); one still
        // waiting to go will be answered on the next.
        self.opening_dm &= self.later.iter().any(|f| matches!(f, InboxFrame::Dm { .. }));
        self.greeted = false;
        self.connect_deadline_ms = None;
        self.next_ping_ms = u64::MAX;
        self.probe_until_ms = None;
        if code == Some(close::REMOVED) || self.link == Link::Removed {
            self.link = Link::Removed;
            return Vec::new();
        }
        if self.greeted_at_ms.take().is_some_and(|t| now_ms >= t.saturating_add(STABLE_MS)) {
            self.attempt = 0;
        }
        self.held |= code == Some(close::POLICY);
        let delay = retry_delay_ms(self.attempt, code, random);
        self.attempt = self.attempt.saturating_add(1);
        self.link = Link::Waiting { retry_at_ms: now_ms.saturating_add(delay) };
        Vec::new()
    }

    /// Time passed: a reconnect that is due; a socket not greeted in time, silent too long
    /// or not answering a probe given up; a `ping` that is due.
    pub fn on_tick(&mut self, now_ms: u64, random: f64) -> Vec<Out> {
        if let Link::Waiting { retry_at_ms } = self.link {
            return if now_ms >= retry_at_ms { self.connect(now_ms) } else { Vec::new() };
        }
        let dead = self.connect_deadline_ms.is_some_and(|t| now_ms >= t)
            || (self.open && now_ms >= self.heard_ms.saturating_add(DEAD_AFTER_MS))
            || self.probe_until_ms.is_some_and(|t| now_ms >= t);
        if dead && self.link != Link::Removed {
            let mut out = vec![Out::Close];
            out.extend(self.on_close(now_ms, None, random));
            return out;
        }
        if self.open && now_ms >= self.next_ping_ms {
            self.next_ping_ms = now_ms.saturating_add(PING_EVERY_MS);
            return vec![Out::Send(PING.to_owned())];
        }
        Vec::new()
    }

    /// When [`InboxLink::on_tick`] is due next; `None`: only an event can change anything.
    pub fn next_wake(&self) -> Option<u64> {
        match self.link {
            Link::Waiting { retry_at_ms } => Some(retry_at_ms),
            Link::Removed => None,
            _ => {
                let alive = self.open.then(|| self.next_ping_ms.min(self.heard_ms.saturating_add(DEAD_AFTER_MS)));
                [self.connect_deadline_ms, alive, self.probe_until_ms].into_iter().flatten().min()
            }
        }
    }

    /// The network or the tab came back: a link waiting to reconnect does so now (not after a
    /// policy close: that wait is the inbox's to set); an open socket is probed.
    pub fn wake(&mut self, now_ms: u64) -> Vec<Out> {
        match self.link {
            Link::Waiting { .. } if !self.held => self.connect(now_ms),
            // Open as far as the browser knows: after a network change it may be half-open.
            _ if self.open && self.probe_until_ms.is_none() => {
                self.probe_until_ms = Some(now_ms.saturating_add(PROBE_MS));
                vec![Out::Send(PING.to_owned())]
            }
            _ => Vec::new(),
        }
    }

    /// The room this tab shows while focused, or `None` when it is hidden or loses focus.
    pub fn focus(&mut self, room: Option<String>) -> Vec<Out> {
        if room == self.focus {
            return Vec::new();
        }
        if let Some(r) = &room {
            // In another room now: the rooms left are read normally again.
            self.held_reads.retain(|held, _| held == r);
        }
        self.focus = room.clone();
        self.when_greeted(InboxFrame::Focus { room })
    }

    /// The tab showed `room` up to message `seq` while focused.
    pub fn read(&mut self, sidebar: &Sidebar, room: String, seq: Seq) -> Vec<Out> {
        match self.held_reads.get(&room) {
            Some(held) if seq <= *held => return Vec::new(),
            Some(_) => {
                self.held_reads.remove(&room);
            }
            None => {}
        }
        let read = sidebar.room(&room).map_or(0, |r| r.last_read);
        let sent = self.sent_reads.get(&room).copied().unwrap_or(0);
        if seq <= read.max(sent) {
            return Vec::new();
        }
        if !self.greeted {
            let r = self.reads.entry(room).or_insert(0);
            *r = (*r).max(seq);
            return Vec::new();
        }
        self.sent_reads.insert(room.clone(), seq);
        vec![send(&InboxFrame::Read { room, seq })]
    }

    /// "Mark as unread from here": message `id` of `room` and what follows are unread again;
    /// `newest` (the newest message the tab holds) and older are not read again by looking.
    pub fn mark_unread(&mut self, room: String, id: Seq, newest: Seq) -> Vec<Out> {
        self.held_reads.insert(room.clone(), newest.max(id));
        self.reads.remove(&room);
        self.sent_reads.remove(&room);
        self.when_greeted(InboxFrame::MarkUnread { room, id })
    }

    /// Starts (or opens) a direct message with `member` of `room`.
    pub fn dm(&mut self, room: String, member: MemberId) -> Vec<Out> {
        self.opening_dm = true;
        self.when_greeted(InboxFrame::Dm { room, member })
    }

    /// The direct message asked for with [`InboxLink::dm`], if `event` is the inbox's answer:
    /// the room to open (once). A refusal ends the wait, and so does the socket closing (the
    /// answer would never come; the person can ask again).
    pub fn opened_dm(&mut self, event: &InboxEvent) -> Option<String> {
        match event {
            InboxEvent::DmOpened { room } if self.opening_dm => {
                self.opening_dm = false;
                Some(room.clone())
            }
            InboxEvent::Refused { .. } => {
                self.opening_dm = false;
                None
            }
            _ => None,
        }
    }

    /// Sets a room's notification level.
    pub fn level(&mut self, room: String, level: Level) -> Vec<Out> {
        self.when_greeted(InboxFrame::Level { room, level })
    }

    fn when_greeted(&mut self, frame: InboxFrame) -> Vec<Out> {
        if self.greeted {
            return vec![send(&frame)];
        }
        // The focus is sent from `self.focus` on greeting; the rest waits in order.
        if !matches!(frame, InboxFrame::Focus { .. }) {
            self.later.push(frame);
        }
        Vec::new()
    }
}

fn send(frame: &InboxFrame) -> Out {
    // An `InboxFrame` is strings, numbers and unit enums: serializing cannot fail.
    Out::Send(serde_json::to_string(frame).expect("an inbox frame serializes"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::{MIN_RETRY_MS, POLICY_WAIT_MS};

    const KEY: &str = "kkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkk";

    fn counts(room: &str, last_read: Seq, unread: u32, mentions: u32, level: Level) -> RoomCounts {
        RoomCounts { room: room.into(), dm: false, last_read, unread, mentions, level, peer: None }
    }

    fn rooms(v: Vec<RoomCounts>) -> InboxEvent {
        InboxEvent::Rooms { rooms: v }
    }

    fn text(e: &InboxEvent) -> String {
        serde_json::to_string(e).unwrap()
    }

    fn notify(room: &str, id: Seq, count: u32) -> InboxEvent {
        InboxEvent::Notify { room: room.into(), id, author: "bob".into(), excerpt: "@alice hi".into(), count }
    }

    fn frames(out: &[Out]) -> Vec<InboxFrame> {
        out.iter()
            .filter_map(|o| match o {
                Out::Send(t) => Some(serde_json::from_str(t).unwrap()),
                _ => None,
            })
            .collect()
    }

    /// A link greeted with `sidebar`'s rooms.
    fn greeted(sidebar: &mut Sidebar, list: Vec<RoomCounts>) -> InboxLink {
        let mut l = InboxLink::new(KEY.into());
        assert_eq!(l.start(0), vec![Out::Open]);
        l.on_open(10);
        l.on_text(sidebar, &text(&rooms(list)), 20);
        assert_eq!(l.link(), Link::Online);
        l
    }

    #[test]
    fn rooms_replace_the_list_and_counts_replace_one_room() {
        let mut s = Sidebar::default();
        assert!(!s.loaded);
        assert!(s.apply(&rooms(vec![counts("a", 1, 0, 0, Level::Mentions), counts("b", 1, 2, 0, Level::Mentions)])));
        assert!(s.loaded);
        assert!(s.apply(&InboxEvent::Counts(counts("a", 1, 3, 1, Level::Mentions))));
        assert_eq!(s.room("a").unwrap().unread, 3);
        assert!(!s.apply(&InboxEvent::Counts(counts("a", 1, 3, 1, Level::Mentions))), "a replay changes nothing");
        assert!(s.apply(&InboxEvent::Counts(counts("c", 0, 1, 0, Level::Mentions))), "a room joined meanwhile");
        let refused =
            InboxEvent::Refused { code: confab_shared::ErrorCode::NotFound, message: "not a room of yours".into() };
        assert!(s.apply(&refused) && s.refusal.as_deref() == Some("not a room of yours"), "a refusal is shown");
        // After a reconnect the inbox's list is the truth: a room left meanwhile goes.
        assert!(s.apply(&rooms(vec![counts("a", 4, 0, 0, Level::Mentions)])));
        assert!(s.room("b").is_none() && s.room("c").is_none());
        assert!(!s.apply(&rooms(vec![counts("a", 4, 0, 0, Level::Mentions)])));
        assert!(!s.apply(&notify("a", 9, 1)), "a notification is not a count");
    }

    #[test]
    fn mentions_then_unread_then_by_name() {
        let mut s = Sidebar::default();
        s.apply(&rooms(vec![
            counts("alpha", 0, 0, 0, Level::Mentions),
            counts("beta", 0, 5, 0, Level::Mentions),
            counts("delta", 0, 1, 1, Level::Mentions),
            counts("gamma", 0, 2, 0, Level::Mentions),
            counts("zeta", 0, 9, 3, Level::Mentions),
        ]));
        let order: Vec<_> = s.sorted().iter().map(|r| r.room.as_str()).collect();
        assert_eq!(order, ["delta", "zeta", "beta", "gamma", "alpha"]);
        // A direct message's unread posts are all for you, whatever its mention count says.
        let dm = RoomCounts { dm: true, ..counts("dm-1", 0, 1, 0, Level::All) };
        assert_eq!(for_you(&dm), 1);
        assert_eq!(for_you(&RoomCounts { mentions: 1, ..dm.clone() }), 1, "recounted or not: the same");
        s.apply(&InboxEvent::Counts(dm));
        let order: Vec<_> = s.sorted().iter().map(|r| r.room.as_str()).collect();
        assert_eq!(order, ["delta", "dm-1", "zeta", "beta", "gamma", "alpha"], "with the rooms that mention you");
    }

    #[test]
    fn what_waits_elsewhere_follows_each_rooms_level() {
        let mut s = Sidebar::default();
        s.apply(&rooms(vec![
            counts("all", 0, 5, 1, Level::All),
            counts("some", 0, 7, 2, Level::Mentions),
            counts("quiet", 0, 9, 4, Level::Nothing),
        ]));
        assert_eq!(s.waiting(None), 5 + 2);
        assert!(s.set_level("quiet", Level::Mentions));
        assert!(!s.set_level("quiet", Level::Mentions) && !s.set_level("unknown", Level::All));
        assert_eq!(s.waiting(None), 5 + 2 + 4);
        s.set_level("quiet", Level::Nothing);
        assert_eq!(s.waiting(Some("all")), 2, "the open room counts itself");
        assert_eq!(page_title("#all", 0, 0, s.waiting(Some("all"))), "(2) #all · Confab");
        assert_eq!(page_title("#all", 3, 1, 2), "(3) #all · Confab");
        assert_eq!(page_title("#all", 0, 0, 0), "#all · Confab");
    }

    #[test]
    fn the_icon_counts_what_waits() {
        let plain = favicon(0);
        assert!(plain.starts_with("data:image/svg+xml,<svg") && plain.ends_with("</svg>"));
        assert!(!plain.contains("<text"), "nothing waits: no badge");
        assert!(favicon(3).contains(">3</text>"));
        assert!(favicon(12).contains(">9+</text>"));
        // A raw `#` would end the data URL's content: colours are escaped.
        assert!(!favicon(5).contains('#'));
    }

    #[test]
    fn a_notification_shows_only_while_hidden_allowed_unread_and_new() {
        let mut s = Sidebar::default();
        s.apply(&rooms(vec![counts("lobby", 4, 1, 1, Level::Mentions), counts("quiet", 0, 1, 1, Level::Nothing)]));
        assert_eq!(s.notice(&notify("lobby", 5, 1), false, true), None, "the tab is in front");
        assert_eq!(s.notice(&notify("lobby", 5, 1), true, false), None, "not allowed");
        assert_eq!(s.notice(&notify("quiet", 5, 1), true, true), None, "the room is set to nothing");
        assert_eq!(s.notice(&notify("lobby", 4, 1), true, true), None, "read in another tab");
        let n = s.notice(&notify("lobby", 5, 1), true, true).unwrap();
        assert_eq!(
            (n.room.as_str(), n.id, n.title.as_str(), n.body.as_str()),
            ("lobby", 5, "bob in #lobby", "@alice hi")
        );
        assert_eq!(s.notice(&notify("lobby", 5, 1), true, true), None, "a replay shows nothing twice");
        let n = s.notice(&notify("lobby", 8, 3), true, true).unwrap();
        assert_eq!(n.title, "3 new in #lobby");
        // A room the sidebar does not know yet (joined a moment ago) still notifies.
        assert!(s.notice(&notify("new", 1, 1), true, true).is_some());
        let mut dm = counts(&"d".repeat(64), 0, 1, 0, Level::All);
        dm.dm = true;
        s.apply(&InboxEvent::Counts(dm.clone()));
        assert_eq!(s.notice(&notify(&dm.room, 2, 1), true, true).unwrap().title, "bob in a direct message");
    }

    #[test]
    fn the_divider_follows_the_inbox_once_and_then_only_back() {
        let mut d = Divider::new(Some(4));
        assert_eq!(d.after(), Some(4), "until the inbox answers: what this browser saved");
        assert!(d.inbox(7), "the inbox's word (another device read on)");
        assert_eq!(d.after(), Some(7));
        assert!(!d.inbox(12), "this tab reading on leaves it put");
        assert_eq!(d.after(), Some(7));
        assert!(d.inbox(5), "marked unread from message 6");
        assert_eq!(d.after(), Some(5));
        let mut d = Divider::new(None);
        assert!(d.inbox(0));
        assert_eq!(d.after(), Some(0), "never read: everything is new");
        let mut d = Divider::new(Some(3));
        assert!(!d.inbox(3), "the same place: nothing moves");
        assert!(!d.inbox(9), "and it is the inbox's now: reading on leaves it put");
    }

    #[test]
    fn hello_first_and_nothing_else_before_the_rooms() {
        let mut s = Sidebar::default();
        let mut l = InboxLink::new(KEY.into());
        assert_eq!(l.start(0), vec![Out::Open]);
        assert_eq!(l.link(), Link::Connecting);
        // Asked before the socket is greeted: all of it waits.
        assert!(l.focus(Some("lobby".into())).is_empty());
        assert!(l.read(&s, "lobby".into(), 7).is_empty());
        assert!(l.read(&s, "lobby".into(), 9).is_empty());
        assert!(l.level("other".into(), Level::All).is_empty());
        assert_eq!(frames(&l.on_open(5)), [InboxFrame::Hello { key: KEY.into() }]);
        let (out, ev) = l.on_text(&mut s, &text(&InboxEvent::Counts(counts("x", 0, 0, 0, Level::All))), 6);
        assert!(out.is_empty() && ev.is_some(), "only `rooms` answers hello");
        assert_eq!(l.link(), Link::Connecting);
        let (out, _) = l.on_text(&mut s, &text(&rooms(vec![counts("lobby", 3, 6, 0, Level::Mentions)])), 7);
        assert_eq!(l.link(), Link::Online);
        assert_eq!(
            frames(&out),
            [
                InboxFrame::Focus { room: Some("lobby".into()) },
                InboxFrame::Level { room: "other".into(), level: Level::All },
                InboxFrame::Read { room: "lobby".into(), seq: 9 },
            ]
        );
        assert!(l.on_text(&mut s, "not json", 8).1.is_none(), "an unknown text is ignored");
    }

    #[test]
    fn a_read_goes_only_when_it_moves_the_position() {
        let mut s = Sidebar::default();
        let mut l = greeted(&mut s, vec![counts("lobby", 10, 0, 0, Level::Mentions)]);
        assert!(l.read(&s, "lobby".into(), 10).is_empty(), "read already (another tab)");
        assert_eq!(frames(&l.read(&s, "lobby".into(), 12)), [InboxFrame::Read { room: "lobby".into(), seq: 12 }]);
        assert!(l.read(&s, "lobby".into(), 12).is_empty(), "sent on this socket");
        // A new socket: the inbox's word (the sidebar) decides again.
        l.on_close(100, None, 0.0);
        l.on_tick(10_000, 0.0);
        l.on_open(10_001);
        l.on_text(&mut s, &text(&rooms(vec![counts("lobby", 12, 0, 0, Level::Mentions)])), 10_002);
        assert!(l.read(&s, "lobby".into(), 12).is_empty());
        assert_eq!(frames(&l.read(&s, "lobby".into(), 13)).len(), 1);
        // Meanwhile another device marked it unread: the inbox's word, not what this page
        // sent on an old socket, decides.
        l.on_close(20_000, None, 0.0);
        l.wake(20_001);
        l.on_open(20_002);
        l.on_text(&mut s, &text(&rooms(vec![counts("lobby", 8, 5, 0, Level::Mentions)])), 20_003);
        assert_eq!(frames(&l.read(&s, "lobby".into(), 13)), [InboxFrame::Read { room: "lobby".into(), seq: 13 }]);
    }

    #[test]
    fn marked_unread_stays_unread_while_looked_at() {
        let mut s = Sidebar::default();
        let mut l = greeted(&mut s, vec![counts("lobby", 10, 0, 0, Level::Mentions)]);
        l.focus(Some("lobby".into()));
        assert_eq!(
            frames(&l.mark_unread("lobby".into(), 6, 10)),
            [InboxFrame::MarkUnread { room: "lobby".into(), id: 6 }]
        );
        s.apply(&InboxEvent::Counts(counts("lobby", 5, 5, 0, Level::Mentions)));
        assert!(l.read(&s, "lobby".into(), 10).is_empty(), "still at the bottom: held");
        l.focus(None);
        l.focus(Some("lobby".into()));
        assert!(l.read(&s, "lobby".into(), 10).is_empty(), "back from another tab: still held");
        // A newer message read lifts it.
        assert_eq!(frames(&l.read(&s, "lobby".into(), 11)).len(), 1);
        // Leaving for another room lifts it too.
        l.mark_unread("lobby".into(), 6, 11);
        l.focus(Some("other".into()));
        l.focus(Some("lobby".into()));
        assert_eq!(frames(&l.read(&s, "lobby".into(), 11)), [InboxFrame::Read { room: "lobby".into(), seq: 11 }]);
    }

    #[test]
    fn focus_is_told_on_change_and_again_on_every_socket() {
        let mut s = Sidebar::default();
        let mut l = greeted(&mut s, vec![]);
        assert_eq!(frames(&l.focus(Some("a".into()))), [InboxFrame::Focus { room: Some("a".into()) }]);
        assert!(l.focus(Some("a".into())).is_empty());
        assert_eq!(frames(&l.focus(None)), [InboxFrame::Focus { room: None }]);
        l.focus(Some("b".into()));
        l.on_close(50, Some(1006), 0.0);
        assert!(l.focus(Some("c".into())).is_empty());
        l.wake(60);
        l.on_open(70);
        let (out, _) = l.on_text(&mut s, &text(&rooms(vec![])), 80);
        assert_eq!(frames(&out), [InboxFrame::Focus { room: Some("c".into()) }]);
    }

    #[test]
    fn reconnects_back_off_like_a_room() {
        let mut s = Sidebar::default();
        let mut l = InboxLink::new(KEY.into());
        l.start(0);
        // Never greeted: given up at the connect deadline.
        assert_eq!(l.next_wake(), Some(CONNECT_TIMEOUT_MS));
        assert!(l.on_tick(CONNECT_TIMEOUT_MS - 1, 0.0).is_empty());
        assert_eq!(l.on_tick(CONNECT_TIMEOUT_MS, 1.0)[0], Out::Close);
        let t = CONNECT_TIMEOUT_MS;
        assert_eq!(l.link(), Link::Waiting { retry_at_ms: t + retry_delay_ms(0, None, 1.0) });
        // Failures widen the window; a socket greeted and closed at once does not reset it.
        for attempt in 1..5 {
            let now = l.next_wake().unwrap();
            assert_eq!(l.on_tick(now, 0.0), [Out::Open]);
            l.on_open(now);
            l.on_text(&mut s, &text(&rooms(vec![])), now);
            l.on_close(now + 1, None, 1.0);
            assert_eq!(l.link(), Link::Waiting { retry_at_ms: now + 1 + retry_delay_ms(attempt, None, 1.0) });
        }
        // A socket that stayed up starts over.
        let now = l.next_wake().unwrap();
        l.on_tick(now, 0.0);
        l.on_open(now);
        l.on_text(&mut s, &text(&rooms(vec![])), now);
        l.on_close(now + STABLE_MS, None, 0.0);
        assert_eq!(l.link(), Link::Waiting { retry_at_ms: now + STABLE_MS + MIN_RETRY_MS });
        // The tab came back: no waiting.
        assert_eq!(l.wake(now + STABLE_MS + 1), [Out::Open]);
    }

    #[test]
    fn a_policy_close_waits_and_a_foreign_key_is_never_retried() {
        let mut l = InboxLink::new(KEY.into());
        l.start(0);
        l.on_open(1);
        l.on_close(2, Some(close::POLICY), 0.0);
        assert_eq!(l.link(), Link::Waiting { retry_at_ms: 2 + POLICY_WAIT_MS });
        assert!(l.wake(3).is_empty(), "waking does not cut a policy wait short");
        assert_eq!(l.on_tick(2 + POLICY_WAIT_MS, 0.0), [Out::Open]);
        l.on_open(POLICY_WAIT_MS + 3);
        l.on_close(POLICY_WAIT_MS + 4, Some(close::REMOVED), 0.0);
        assert_eq!(l.link(), Link::Removed);
        assert_eq!(l.next_wake(), None);
        assert!(l.wake(POLICY_WAIT_MS + 5).is_empty());
        assert!(l.on_tick(u64::MAX, 0.0).is_empty());
    }

    #[test]
    fn a_quiet_socket_is_pinged_and_a_half_open_one_replaced() {
        let mut s = Sidebar::default();
        let mut l = InboxLink::new(KEY.into());
        l.start(0);
        l.on_open(0);
        l.on_text(&mut s, &text(&rooms(vec![])), 10);
        // Quiet: a ping when due, and nothing before.
        assert_eq!(l.next_wake(), Some(PING_EVERY_MS));
        assert!(l.on_tick(PING_EVERY_MS - 1, 0.0).is_empty());
        assert_eq!(l.on_tick(PING_EVERY_MS, 0.0), [Out::Send(PING.into())]);
        // Answered: alive, and the pong is no event.
        assert_eq!(l.on_text(&mut s, PONG, PING_EVERY_MS + 5), (Vec::new(), None));
        assert_eq!(l.on_tick(2 * PING_EVERY_MS, 0.0), [Out::Send(PING.into())]);
        assert_eq!(l.link(), Link::Online);
        // Not answered: the socket is dead once nothing was heard for DEAD_AFTER_MS.
        let heard = PING_EVERY_MS + 5;
        assert_eq!(l.next_wake(), Some(heard + DEAD_AFTER_MS));
        let out = l.on_tick(heard + DEAD_AFTER_MS, 0.0);
        assert_eq!(out, [Out::Close]);
        assert!(matches!(l.link(), Link::Waiting { .. }));
    }

    #[test]
    fn coming_back_probes_an_open_socket() {
        let mut s = Sidebar::default();
        let mut l = InboxLink::new(KEY.into());
        l.start(0);
        l.on_open(0);
        l.on_text(&mut s, &text(&rooms(vec![])), 10);
        assert_eq!(l.wake(100), [Out::Send(PING.into())]);
        assert!(l.wake(200).is_empty(), "one probe at a time");
        assert_eq!(l.next_wake(), Some(100 + PROBE_MS));
        assert_eq!(l.on_tick(100 + PROBE_MS, 0.0), [Out::Close]);
        // A probe answered keeps the socket.
        let now = l.next_wake().unwrap();
        assert_eq!(l.on_tick(now, 0.0), [Out::Open]);
        l.on_open(now);
        l.on_text(&mut s, &text(&rooms(vec![])), now);
        l.wake(now + 1);
        l.on_text(&mut s, PONG, now + 2);
        assert!(l.on_tick(now + 1 + PROBE_MS, 0.0).is_empty());
        assert_eq!(l.link(), Link::Online);
    }

    #[test]
    fn a_dm_asked_for_opens_when_the_inbox_lists_it_and_not_before() {
        let mut s = Sidebar::default();
        let mut l = InboxLink::new(KEY.into());
        l.start(0);
        // Asked before the inbox answered: sent once it has.
        assert!(l.dm("lobby".into(), 7).is_empty());
        l.on_open(1);
        let (out, _) = l.on_text(&mut s, &text(&rooms(vec![])), 2);
        assert_eq!(frames(&out), [InboxFrame::Dm { room: "lobby".into(), member: 7 }]);
        let opened = |room: &str| InboxEvent::DmOpened { room: room.into() };
        // Another DM's counts arriving meanwhile open nothing; the answer does, once.
        let other = RoomCounts { dm: true, peer: Some("bob".into()), ..counts("dm-2", 0, 1, 0, Level::All) };
        assert_eq!(l.opened_dm(&InboxEvent::Counts(other)), None);
        assert_eq!(l.opened_dm(&opened("dm-1")).as_deref(), Some("dm-1"));
        assert_eq!(l.opened_dm(&opened("dm-1")), None, "once");
        // Refused: the wait ends.
        l.dm("lobby".into(), 8);
        let refused = InboxEvent::Refused { code: confab_shared::ErrorCode::BadRequest, message: "no".into() };
        assert_eq!(l.opened_dm(&refused), None);
        assert_eq!(l.opened_dm(&opened("dm-3")), None);
        // The socket closed before the answer: an answer on a later socket is not ours.
        l.dm("lobby".into(), 9);
        l.on_close(3, None, 0.0);
        assert_eq!(l.opened_dm(&opened("dm-4")), None);
        // Asked while no socket was greeted: it goes, and is answered, on the next one.
        l.dm("lobby".into(), 10);
        l.on_close(4, None, 0.0);
        l.on_open(5);
        let (out, _) = l.on_text(&mut s, &text(&rooms(vec![])), 6);
        assert_eq!(frames(&out), [InboxFrame::Dm { room: "lobby".into(), member: 10 }]);
        assert_eq!(l.opened_dm(&opened("dm-5")).as_deref(), Some("dm-5"));
    }

    #[test]
    fn a_dm_is_titled_by_its_person() {
        let dm = RoomCounts { dm: true, peer: Some("bob".into()), ..counts("dm-1", 0, 0, 0, Level::All) };
        assert_eq!(room_title("dm-1", Some(&dm)), "bob");
        assert_eq!(room_title("dm-1", Some(&RoomCounts { peer: None, ..dm })), "Direct message");
        assert_eq!(room_title("lobby", None), "#lobby");
        assert_eq!(room_title(&"ab".repeat(32), None), "private · abababab…");
        assert_eq!(room_label(&"ab".repeat(32), false), "a private room");
    }
}
