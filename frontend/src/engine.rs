//! The delivery engine, sans I/O: what to send, when to reconnect, when a socket is dead.
//!
//! It owns no socket and no clock. A driver feeds it events (the socket opened, a text
//! arrived, the socket closed with a code, time passed, the user sent or typed) with the
//! current time, and carries out the [`Out`]s it returns. The page's driver (`connection.rs`)
//! uses the browser's `WebSocket` events; the integration tests drive the very same engine
//! with tokio-tungstenite against a real `wrangler dev` that they kill and restart; the unit
//! tests below drive it with synthetic time.
//!
//! Rules:
//! - Join first, with the protocol version and, once welcomed, `since` = the last event `seq`
//!   applied and the room `epoch` it belongs to, so a reconnect resumes. An event after a hole
//!   in the log (see `state.rs`) closes the socket and resumes from the last one applied.
//! - A room that no longer serves this page's protocol (`unsupported_version`, close 4001)
//!   is never reconnected to: the person must reload.
//! - Opening is an event, never a wait: a socket that has not opened and been welcomed
//!   within [`CONNECT_TIMEOUT_MS`] is given up and retried (Chromium alone would wait 240 s).
//! - Heartbeat: `ping` every 20 s; nothing heard for 30 s means the socket is dead.
//! - Reconnect after a delay drawn over the whole backoff window (0.25 s up to 0.5 s × 2ⁿ,
//!   30 s cap), so a room's clients spread out instead of arriving in one tick. The attempt
//!   count starts over only after a socket stayed up [`STABLE_MS`]: a room that welcomes and
//!   then closes is not hammered. The close code matters: a deploy (1001/1012) is spread over
//!   at least [`RESTART_SPREAD_MS`]; a policy close (1008) waits [`POLICY_WAIT_MS`] or for the
//!   person, and automatic wake-ups ([`Engine::wake`]) do not cut that wait short.
//! - Outbox: every operation (post, edit, delete, reaction) stays in [`RoomView::outbox`]
//!   until acknowledged and is sent again on every new socket, in order. The room
//!   deduplicates by `client_id`: exactly once.
//! - A refused operation names its `client_id`. `rate_limited`: it and what followed it go
//!   again once the bucket refills. `internal` (or a code this page does not know): it goes
//!   again with backoff on the same socket. Anything else cannot succeed as written: a post is
//!   marked failed and waits for the person to edit, retry or delete it; an edit, delete or
//!   reaction is dropped and the refusal shown on its message (see `RoomView::refuse`).
//! - A message unacknowledged for [`ACK_TIMEOUT_MS`] is sent again with a `ping`; if nothing
//!   answers within [`PROBE_MS`] the socket is dead. [`Engine::retry_now`] does the same at once.
//! - Rooms with owners: a join carries the invite code the page was opened with, until the
//!   first welcome (then we are a member). `invite_required` is a refusal the person must act
//!   on (no reconnect loop); `banned`, or close 4003, means we were removed: never reconnected.
//! - Slow mode: posts wait while the view's slow-mode wait runs (and, while slow mode is on,
//!   one post is out at a time, since its ack starts the next wait); a post refused with
//!   `slow_mode` stays in the outbox and goes again when the room says (like `rate_limited`,
//!   but only posts wait: edits and reactions go on). A post refused with `muted` is marked
//!   failed like any refusal that cannot succeed.
//! - Moderation actions and audit pages are not in the outbox: they are sent only on a joined
//!   socket, and the view reports an action the room never answered. A moderator acts while
//!   looking at the room; replaying a ban or a role change minutes later, after a reconnect,
//!   could do what they no longer mean.

use crate::state::{backoff_ms, retryable, Op, Pending, RoomView};
use confab_shared::limits::{PROTOCOL_VERSION, SLOW_MODE_MAX_SECS, TYPING_RELAY_INTERVAL_MS};
use confab_shared::{
    close, ClientFrame, ClientId, Emoji, ErrorCode, MemberKey, MessageText, ServerFrame, UserName, PING, PONG,
};
use owners::slow_mode_applies;

mod owners;
use std::collections::HashMap;

/// How often to ping an otherwise quiet socket.
pub const PING_EVERY_MS: u64 = 20_000;
/// Silence after which a socket is considered dead.
pub const DEAD_AFTER_MS: u64 = 30_000;
/// No reconnect comes sooner than this, even with a lucky jitter.
pub const MIN_RETRY_MS: u64 = 250;
/// A socket must open and be welcomed within this long, or it is given up and retried.
pub const CONNECT_TIMEOUT_MS: u64 = 10_000;
/// A socket that stayed up this long resets the backoff: the next failure is a fresh one.
pub const STABLE_MS: u64 = 30_000;
/// A deploy (close 1001 or 1012) drops every socket of every room at once: reconnects are
/// spread over at least this long.
pub const RESTART_SPREAD_MS: u64 = 5_000;
/// The room is full right now (close 1013): reconnects are spread over at least this long.
pub const BUSY_SPREAD_MS: u64 = 10_000;
/// After a policy close (1008), the shortest wait before trying again by itself.
pub const POLICY_WAIT_MS: u64 = 60_000;
/// A message sent but not acknowledged this long is sent again, and the socket probed.
pub const ACK_TIMEOUT_MS: u64 = 10_000;
/// A probe `ping` must be answered within this long, or the socket is dead.
pub const PROBE_MS: u64 = 5_000;

/// What the driver must do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Out {
    /// Open a new socket to the room (closing any old one first). Report its `open` event
    /// with [`Engine::on_open`], never wait for it.
    Open,
    /// Send this text on the open socket.
    Send(String),
    /// Close the socket (it is dead or no longer wanted).
    Close,
}

/// The socket's state, as the page shows it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Link {
    /// Opening the socket or waiting for `welcome`.
    Connecting,
    /// Joined: frames flow.
    Online,
    /// Down; the next attempt is at this time (ms since the epoch).
    Waiting {
        /// When the next attempt starts.
        retry_at_ms: u64,
    },
    /// The room refused the join in a way retrying cannot fix (the name is taken).
    Refused,
    /// The room no longer serves this page's protocol: only a reload helps.
    Outdated,
    /// A moderator removed us (a ban): the room will not take us back, so no reconnecting.
    Removed,
}

/// One member's connection to one room.
#[derive(Debug, Clone)]
pub struct Engine {
    name: UserName,
    key: MemberKey,
    link: Link,
    /// The current socket is open (join sent).
    open: bool,
    welcomed: bool,
    /// Failed attempts since the last stable socket: sizes the backoff window.
    attempt: u32,
    /// When the current socket must be welcomed by, if the engine keeps that deadline.
    connect_deadline_ms: Option<u64>,
    /// When the current socket was welcomed.
    welcomed_at_ms: Option<u64>,
    /// `client_id`s sent on the current socket, with when.
    sent: HashMap<String, u64>,
    heard_ms: u64,
    next_ping_ms: u64,
    resend_at_ms: Option<u64>,
    /// Sends refused with `internal` in a row: sizes their backoff.
    send_retries: u32,
    /// A `ping` is out that must be answered by then.
    probe_until_ms: Option<u64>,
    last_typing_ms: Option<u64>,
    /// The room closed with 1008: only the person, or the long wait, reconnects.
    held: bool,
    /// The room's member rate limit as the page mirrors it (`welcome.limits`), so a long
    /// outbox goes out at the pace the room accepts rather than as a burst it refuses (and a
    /// refused frame still costs the socket's frame budget).
    pace: Pace,
    /// The invite code the page was opened with: sent with every join until welcomed.
    invite: Option<String>,
    /// The room refused a post with `slow_mode`: posts wait until then.
    posts_at_ms: Option<u64>,
    /// Posts are held for slow mode: flush again then.
    post_wake_ms: Option<u64>,
}

/// A token bucket in thousandths of a message, like the room's.
#[derive(Debug, Clone, Copy, Default)]
struct Pace {
    milli: u64,
    at_ms: u64,
}

impl Pace {
    /// Takes one message's worth under `limits`, or says how long until there is one.
    fn take(&mut self, limits: Option<confab_shared::Limits>, now_ms: u64) -> Result<(), u64> {
        let Some(l) = limits else { return Ok(()) };
        let (cap, per_sec) = (u64::from(l.rate_burst) * 1000, u64::from(l.rate_per_sec));
        self.milli = self.milli.saturating_add(now_ms.saturating_sub(self.at_ms).saturating_mul(per_sec)).min(cap);
        self.at_ms = self.at_ms.max(now_ms);
        if self.milli >= 1000 {
            self.milli -= 1000;
            Ok(())
        } else {
            Err((1000 - self.milli).div_ceil(per_sec.max(1)).min(60_000))
        }
    }
}

impl Engine {
    /// An engine for `name` with `key`; call [`Engine::start_at`] to connect.
    pub fn new(name: UserName, key: MemberKey) -> Self {
        Self {
            name,
            key,
            link: Link::Connecting,
            open: false,
            welcomed: false,
            attempt: 0,
            connect_deadline_ms: None,
            welcomed_at_ms: None,
            sent: HashMap::new(),
            heard_ms: 0,
            next_ping_ms: u64::MAX,
            resend_at_ms: None,
            send_retries: 0,
            probe_until_ms: None,
            last_typing_ms: None,
            held: false,
            pace: Pace::default(),
            invite: None,
            posts_at_ms: None,
            post_wake_ms: None,
        }
    }

    /// The engine joining with an invite link's code (an invite-only room lets us in with it).
    pub fn with_invite(mut self, invite: Option<String>) -> Self {
        self.invite = invite;
        self
    }

    /// The link state to show.
    pub fn link(&self) -> Link {
        self.link
    }

    /// Starts the first connection, for a driver that times out connecting itself (the
    /// engine keeps no deadline until the socket opens).
    pub fn start(&mut self) -> Vec<Out> {
        self.link = Link::Connecting;
        self.connect_deadline_ms = None;
        vec![Out::Open]
    }

    /// Starts the first connection at `now_ms`: it must be welcomed within
    /// [`CONNECT_TIMEOUT_MS`] ([`Engine::next_wake`] includes that deadline).
    pub fn start_at(&mut self, now_ms: u64) -> Vec<Out> {
        self.connect(now_ms)
    }

    fn connect(&mut self, now_ms: u64) -> Vec<Out> {
        self.link = Link::Connecting;
        self.open = false;
        self.welcomed = false;
        self.probe_until_ms = None;
        self.connect_deadline_ms = Some(now_ms.saturating_add(CONNECT_TIMEOUT_MS));
        vec![Out::Open]
    }

    /// The socket opened: join, resuming after the last event applied.
    pub fn on_open(&mut self, view: &RoomView, now_ms: u64) -> Vec<Out> {
        self.open = true;
        self.welcomed = false;
        self.welcomed_at_ms = None;
        self.sent.clear();
        self.heard_ms = now_ms;
        self.next_ping_ms = now_ms.saturating_add(PING_EVERY_MS);
        self.connect_deadline_ms = Some(now_ms.saturating_add(CONNECT_TIMEOUT_MS));
        // `since` only with the epoch it belongs to: a seq from nowhere would be misread.
        let (since, epoch) = match (&view.epoch, view.last_seq) {
            (Some(e), Some(s)) => (Some(s), Some(e.clone())),
            _ => (None, None),
        };
        let join = ClientFrame::Join {
            v: PROTOCOL_VERSION,
            name: self.name.clone(),
            key: self.key.clone(),
            since,
            epoch,
            invite: self.invite.clone(),
            batch: true,
        };
        vec![Out::Send(join.to_json())]
    }

    /// A text message arrived on the socket.
    pub fn on_text(&mut self, view: &mut RoomView, text: &str, now_ms: u64) -> Vec<Out> {
        self.heard_ms = now_ms;
        self.probe_until_ms = None;
        if text == PONG {
            return Vec::new();
        }
        // A newer room may send frames this page does not know: counted, so the page can say
        // it is out of date, and otherwise ignored (one in a `batch` fails alone).
        let unknown = |view: &mut RoomView| {
            view.unknown_frames = view.unknown_frames.saturating_add(1);
            view.touch();
        };
        let Ok(frames) = ServerFrame::parse_each(text) else {
            unknown(view);
            return Vec::new();
        };
        // A `batch` is its frames, one after another, exactly as if each had come alone.
        let mut out = Vec::new();
        for frame in frames {
            let Ok(frame) = frame else {
                unknown(view);
                continue;
            };
            let more = self.on_frame(view, frame, now_ms);
            let closing = more.iter().any(|o| matches!(o, Out::Close));
            out.extend(more);
            if closing {
                break;
            }
        }
        out
    }

    /// One frame from the room (alone, or one of a `batch`).
    fn on_frame(&mut self, view: &mut RoomView, frame: ServerFrame, now_ms: u64) -> Vec<Out> {
        let mut out = Vec::new();
        match &frame {
            ServerFrame::Welcome { limits, .. } => {
                // The room's bucket may not be full (it survives reconnects); a refusal
                // empties the page's copy too.
                self.pace = Pace { milli: u64::from(limits.rate_burst) * 1000, at_ms: now_ms };
                self.welcomed = true;
                self.welcomed_at_ms = Some(now_ms);
                self.connect_deadline_ms = None;
                self.link = Link::Online;
                self.held = false;
                // A member now: later joins need no invite (and one revoked since must not
                // get in the way).
                self.invite = None;
            }
            ServerFrame::Ack { .. } => {
                self.send_retries = 0;
            }
            ServerFrame::Error { code: ErrorCode::UnsupportedVersion, .. } => {
                view.apply(frame, now_ms);
                self.link = Link::Outdated;
                self.open = false;
                self.connect_deadline_ms = None;
                return vec![Out::Close];
            }
            ServerFrame::Error { code: ErrorCode::NameTaken | ErrorCode::InvalidName, .. } if !self.welcomed => {
                view.apply(frame, now_ms);
                self.link = Link::Refused;
                self.open = false;
                self.connect_deadline_ms = None;
                return vec![Out::Close];
            }
            // Invite-only, and no valid invite: only the person can fix it (a new link).
            ServerFrame::Error { code: ErrorCode::InviteRequired, .. } => {
                view.apply(frame, now_ms);
                self.link = Link::Refused;
                self.open = false;
                self.connect_deadline_ms = None;
                return vec![Out::Close];
            }
            ServerFrame::Error { code: ErrorCode::Banned, .. } => {
                view.apply(frame, now_ms);
                self.link = Link::Removed;
                self.open = false;
                self.connect_deadline_ms = None;
                return vec![Out::Close];
            }
            ServerFrame::Error { code: ErrorCode::SlowMode, retry_after_ms, client_id, .. } => {
                // Refused, not stored: the post can be taken back again, and it (with any
                // post after it) goes when the room says. Other operations go on.
                if let Some(p) = client_id.as_deref().and_then(|id| view.outbox.iter_mut().find(|p| p.client_id == id))
                {
                    self.sent.remove(&p.client_id);
                    p.sent = false;
                    view.touch();
                }
                let cap = u64::from(SLOW_MODE_MAX_SECS) * 1000;
                let at = now_ms.saturating_add(retry_after_ms.unwrap_or(1_000).min(cap));
                self.posts_at_ms = Some(self.posts_at_ms.map_or(at, |t| t.max(at)));
            }
            ServerFrame::Error { code: ErrorCode::RateLimited, retry_after_ms, client_id, .. } => {
                // Refused, not stored: it, and everything sent after it, goes again once the
                // bucket refills. Without a client_id (an older room), everything unacked.
                match client_id.as_deref().and_then(|id| view.outbox.iter().position(|p| p.client_id == id)) {
                    Some(i) => {
                        for p in &view.outbox[i..] {
                            self.sent.remove(&p.client_id);
                        }
                        // Refused, so provably not stored: it can be taken back again.
                        if let Some(p) = view.outbox.get_mut(i) {
                            p.sent = false;
                            view.touch();
                        }
                    }
                    // A refused frame that was not a send (a `history` page, say): the
                    // request in flight is asked again once the budget allows.
                    None if client_id.is_none() && view.loading_older => {
                        view.loading_older = false;
                        view.touch();
                    }
                    None => self.sent.clear(),
                }
                self.pace = Pace { milli: 0, at_ms: now_ms };
                // At most a minute, whatever a misconfigured room says.
                let at = now_ms.saturating_add(retry_after_ms.unwrap_or(1_000).min(60_000));
                // The latest time any refusal named: resending sooner only collects refusals.
                self.resend_at_ms = Some(self.resend_at_ms.map_or(at, |t| t.max(at)));
            }
            ServerFrame::Error { code, client_id: Some(id), .. } => {
                self.sent.remove(id);
                // A refusal that cannot succeed is the view's to record (see `state.rs`).
                if retryable(*code) {
                    let delay = 500u64.saturating_mul(1 << self.send_retries.min(6)).min(30_000);
                    self.send_retries = self.send_retries.saturating_add(1);
                    let at = now_ms.saturating_add(delay);
                    self.resend_at_ms = Some(self.resend_at_ms.map_or(at, |t| t.min(at)));
                }
            }
            _ => {}
        }
        view.apply(frame, now_ms);
        if view.resume_needed && self.welcomed {
            // Events are missing: this socket's stream cannot be trusted past the hole. A new
            // one resumes from the last event applied (spread like any reconnect, so a room
            // that keeps skipping is not hammered).
            out.push(Out::Close);
            out.extend(self.on_close(now_ms, None, 0.5));
            return out;
        }
        self.flush(view, now_ms, &mut out);
        out.extend(self.page_back(view));
        out
    }

    /// The socket closed or failed, with no close code known. See [`Engine::on_close`].
    pub fn on_closed(&mut self, now_ms: u64, random: f64) -> Vec<Out> {
        self.on_close(now_ms, None, random)
    }

    /// The socket closed with `code` (`None`: failed, or no close frame). `random` in
    /// `[0, 1)` places the reconnect in its window.
    pub fn on_close(&mut self, now_ms: u64, code: Option<u16>, random: f64) -> Vec<Out> {
        self.open = false;
        self.connect_deadline_ms = None;
        self.probe_until_ms = None;
        if code == Some(close::UNSUPPORTED_VERSION) {
            self.link = Link::Outdated;
        }
        if code == Some(close::REMOVED) {
            self.link = Link::Removed;
        }
        if self.over() {
            return Vec::new();
        }
        if self.welcomed_at_ms.is_some_and(|t| now_ms >= t.saturating_add(STABLE_MS)) {
            self.attempt = 0;
        }
        self.welcomed = false;
        self.welcomed_at_ms = None;
        self.held |= code == Some(close::POLICY);
        let delay = retry_delay_ms(self.attempt, code, random);
        self.attempt = self.attempt.saturating_add(1);
        self.link = Link::Waiting { retry_at_ms: now_ms.saturating_add(delay) };
        Vec::new()
    }

    /// Time passed: heartbeat, dead-socket detection, reconnects and resends that are due.
    pub fn on_tick(&mut self, view: &mut RoomView, now_ms: u64, random: f64) -> Vec<Out> {
        let mut out = Vec::new();
        if let Link::Waiting { retry_at_ms } = self.link {
            if now_ms >= retry_at_ms {
                return self.connect(now_ms);
            }
            return out;
        }
        let dead = self.connect_deadline_ms.is_some_and(|t| now_ms >= t)
            || (self.open && now_ms >= self.heard_ms.saturating_add(DEAD_AFTER_MS))
            || self.probe_until_ms.is_some_and(|t| now_ms >= t);
        if dead && !self.over() {
            // Never opened, never welcomed, or half-open: the browser has not noticed, but
            // nothing comes back.
            out.push(Out::Close);
            out.extend(self.on_close(now_ms, None, random));
            return out;
        }
        if !self.open {
            return out;
        }
        if now_ms >= self.next_ping_ms {
            self.next_ping_ms = now_ms.saturating_add(PING_EVERY_MS);
            out.push(Out::Send(PING.to_owned()));
        }
        if self.welcomed && self.sent.values().any(|t| now_ms >= t.saturating_add(ACK_TIMEOUT_MS)) {
            // Sent, no answer: go again (the room deduplicates) and make sure someone listens.
            self.sent.retain(|_, t| now_ms < t.saturating_add(ACK_TIMEOUT_MS));
            self.probe(now_ms, &mut out);
            self.flush(view, now_ms, &mut out);
        }
        if self.resend_at_ms.is_some_and(|t| now_ms >= t) {
            self.resend_at_ms = None;
            self.flush(view, now_ms, &mut out);
            out.extend(self.page_back(view));
        }
        if self.post_wake_ms.is_some_and(|t| now_ms >= t) {
            self.post_wake_ms = None;
            self.flush(view, now_ms, &mut out);
        }
        out
    }

    /// The room refused the join for good, or removed us: nothing to reconnect to until the
    /// person acts (and never, once removed).
    fn over(&self) -> bool {
        matches!(self.link, Link::Refused | Link::Outdated | Link::Removed)
    }

    /// When the driver should call [`Engine::on_tick`] next (ms since the epoch); `None`:
    /// only an event can change anything, so set no timer at all.
    pub fn next_wake(&self) -> Option<u64> {
        let mut wake = match self.link {
            Link::Waiting { retry_at_ms } => return Some(retry_at_ms),
            Link::Refused | Link::Outdated | Link::Removed => return None,
            _ => self.connect_deadline_ms,
        };
        let mut at = |t: Option<u64>| {
            if let Some(t) = t {
                wake = Some(wake.map_or(t, |w| w.min(t)));
            }
        };
        if self.open {
            at(Some(self.next_ping_ms));
            at(Some(self.heard_ms.saturating_add(DEAD_AFTER_MS)));
            at(self.resend_at_ms);
            at(self.probe_until_ms);
            at(self.post_wake_ms);
            if self.welcomed {
                at(self.sent.values().min().map(|t| t.saturating_add(ACK_TIMEOUT_MS)));
            }
        }
        wake
    }

    /// The person wrote a message: into the outbox, and out on the socket if it is joined.
    pub fn send(&mut self, view: &mut RoomView, client_id: String, text: String, now_ms: u64) -> Vec<Out> {
        view.queue(client_id, text, now_ms);
        self.flush_outbox(view, now_ms)
    }

    /// The person edited, deleted or reacted: into the outbox, and out if joined.
    pub fn operate(&mut self, view: &mut RoomView, client_id: String, op: Op, now_ms: u64) -> Vec<Out> {
        view.queue_op(client_id, op, now_ms);
        self.flush_outbox(view, now_ms)
    }

    /// The outbox may have changed (queued by the page, restored, edited, shared by another
    /// tab): send what has not gone out on this socket yet.
    pub fn flush_outbox(&mut self, view: &mut RoomView, now_ms: u64) -> Vec<Out> {
        let mut out = Vec::new();
        self.flush(view, now_ms, &mut out);
        out
    }

    /// The user is typing: tell the room, at most once per 2 s.
    pub fn typing(&mut self, now_ms: u64) -> Vec<Out> {
        let due = self.last_typing_ms.is_none_or(|t| now_ms >= t + TYPING_RELAY_INTERVAL_MS);
        if self.welcomed && due {
            self.last_typing_ms = Some(now_ms);
            return vec![Out::Send(ClientFrame::Typing {}.to_json())];
        }
        Vec::new()
    }

    /// The user wants the page of messages before the oldest held. Remembered until that
    /// page arrives: asked now if joined, else after the next `welcome`, and asked again if
    /// the socket is lost with the request in flight.
    pub fn load_older(&mut self, view: &mut RoomView) -> Vec<Out> {
        if view.has_more && !view.want_older {
            view.want_older = true;
            view.touch();
        }
        self.page_back(view)
    }

    fn page_back(&mut self, view: &mut RoomView) -> Vec<Out> {
        match view.oldest_id() {
            Some(before)
                if self.welcomed
                    && view.want_older
                    && view.has_more
                    && !view.loading_older
                    && self.resend_at_ms.is_none() =>
            {
                view.loading_older = true;
                view.touch();
                vec![Out::Send(ClientFrame::History { before, limit: 50 }.to_json())]
            }
            _ => Vec::new(),
        }
    }

    /// The person asked to retry, whatever the state: reconnect now if not joined (even a
    /// refused or policy-closed one); if joined, send every unacknowledged message again and
    /// probe the socket, so a half-open one is found within [`PROBE_MS`].
    pub fn retry_now(&mut self, view: &mut RoomView, now_ms: u64) -> Vec<Out> {
        if self.link == Link::Removed {
            return Vec::new();
        }
        self.held = false;
        if view.outbox.iter().any(|p| p.failed.is_some()) {
            for p in &mut view.outbox {
                p.failed = None;
            }
            view.touch();
        }
        if self.link == Link::Online && self.open {
            let mut out = Vec::new();
            self.sent.clear();
            self.resend_at_ms = None;
            self.send_retries = 0;
            self.probe(now_ms, &mut out);
            self.flush(view, now_ms, &mut out);
            return out;
        }
        let mut out = if self.open { vec![Out::Close] } else { Vec::new() };
        out.extend(self.connect(now_ms));
        out
    }

    /// The network or the tab came back: skip a backoff wait (not a policy wait, not a
    /// refusal), or probe a socket that may have died while the machine slept.
    pub fn wake(&mut self, now_ms: u64) -> Vec<Out> {
        match self.link {
            Link::Waiting { .. } if !self.held => self.connect(now_ms),
            Link::Online if self.open => {
                let mut out = Vec::new();
                self.probe(now_ms, &mut out);
                out
            }
            _ => Vec::new(),
        }
    }

    fn probe(&mut self, now_ms: u64, out: &mut Vec<Out>) {
        if self.probe_until_ms.is_none() {
            self.probe_until_ms = Some(now_ms.saturating_add(PROBE_MS));
            self.next_ping_ms = now_ms.saturating_add(PING_EVERY_MS);
            out.push(Out::Send(PING.to_owned()));
        }
    }

    fn flush(&mut self, view: &mut RoomView, now_ms: u64, out: &mut Vec<Out>) {
        if !self.welcomed || self.resend_at_ms.is_some() {
            return;
        }
        let mut invalid = Vec::new();
        let mut newly_sent = Vec::new();
        let mut hold_posts = self.posts_held(view, now_ms);
        for p in &view.outbox {
            if self.sent.contains_key(&p.client_id) || p.failed.is_some() || (hold_posts && p.is_post()) {
                continue;
            }
            // Validated when made; an outbox stored by an older page might not be.
            let Some(frame) = frame_of(p) else {
                invalid.push(p.client_id.clone());
                continue;
            };
            if let Err(wait) = self.pace.take(view.limits, now_ms) {
                self.resend_at_ms = Some(now_ms.saturating_add(wait));
                break;
            }
            out.push(Out::Send(frame.to_json()));
            self.sent.insert(p.client_id.clone(), now_ms);
            // Slow mode: the next post waits for this one's ack (which starts the wait).
            hold_posts |= p.is_post() && slow_mode_applies(view);
            if !p.sent {
                newly_sent.push(p.client_id.clone());
            }
        }
        if !newly_sent.is_empty() {
            for p in view.outbox.iter_mut().filter(|p| newly_sent.contains(&p.client_id)) {
                p.sent = true;
            }
            view.touch();
        }
        for id in invalid {
            view.refuse(&id, "this cannot be sent as it is".to_owned());
        }
    }
}

/// How long to wait before reconnecting after failure number `attempt` (0 for the first)
/// ended with close `code`, drawn by `random` in `[0, 1)` over the whole window: 0.25 s up to
/// the backoff ceiling; a deploy spread over at least [`RESTART_SPREAD_MS`], a busy room over
/// [`BUSY_SPREAD_MS`], a policy close [`POLICY_WAIT_MS`] to twice that. Shared by every
/// socket the page keeps (rooms and the inbox, see `inbox.rs`).
pub fn retry_delay_ms(attempt: u32, code: Option<u16>, random: f64) -> u64 {
    let ceiling = backoff_ms(attempt, 1.0);
    let (low, high) = match code {
        Some(close::POLICY) => (POLICY_WAIT_MS, 2 * POLICY_WAIT_MS),
        Some(close::GOING_AWAY | close::RESTART) => (MIN_RETRY_MS, ceiling.max(RESTART_SPREAD_MS)),
        Some(close::TRY_AGAIN_LATER) => (MIN_RETRY_MS, ceiling.max(BUSY_SPREAD_MS)),
        _ => (MIN_RETRY_MS, ceiling.max(MIN_RETRY_MS)),
    };
    low + ((high - low) as f64 * random.clamp(0.0, 1.0)) as u64
}

/// The frame that carries out `p`, if its values are valid.
fn frame_of(p: &Pending) -> Option<ClientFrame> {
    let client_id = ClientId::parse(&p.client_id).ok()?;
    Some(match &p.op {
        Op::Send { text, reply_to } => {
            ClientFrame::Send { client_id, text: MessageText::parse(text).ok()?, reply_to: *reply_to, streaming: false }
        }
        Op::Edit { id, text } => ClientFrame::Edit { client_id, id: *id, text: MessageText::parse(text).ok()? },
        Op::Delete { id } => ClientFrame::Delete { client_id, id: *id },
        Op::React { id, emoji, on } => {
            ClientFrame::React { client_id, id: *id, emoji: Emoji::parse(emoji).ok()?, on: *on }
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use confab_shared::ChatMessage;

    fn engine() -> Engine {
        Engine::new(UserName::parse("alice").unwrap(), MemberKey::parse(&"k".repeat(40)).unwrap())
    }

    fn welcome(messages: Vec<ChatMessage>) -> String {
        welcome_more(messages, false)
    }

    fn welcome_more(messages: Vec<ChatMessage>, older: bool) -> String {
        crate::fixtures::welcome(messages, older).to_json()
    }

    fn msg(id: u64, author: &str, client_id: &str) -> ChatMessage {
        let member = if author == "alice" { crate::fixtures::ALICE } else { crate::fixtures::BOB };
        crate::fixtures::msg(id, member, client_id)
    }

    fn error(code: ErrorCode, client_id: Option<&str>, retry_after_ms: Option<u64>) -> String {
        ServerFrame::Error { client_id: client_id.map(Into::into), code, message: "no".into(), retry_after_ms }
            .to_json()
    }

    /// The frames `out` sends (pings aside); the owners tests read them too.
    pub(super) fn sent(out: &[Out]) -> Vec<ClientFrame> {
        out.iter()
            .filter_map(|o| match o {
                Out::Send(t) if t != PING => Some(ClientFrame::parse(t).unwrap()),
                _ => None,
            })
            .collect()
    }

    /// The client ids of the posts `out` sends.
    pub(super) fn sent_ids(out: &[Out]) -> Vec<String> {
        sent(out)
            .into_iter()
            .filter_map(|f| match f {
                ClientFrame::Send { client_id, .. } => Some(client_id.as_str().to_owned()),
                _ => None,
            })
            .collect()
    }

    /// An engine joined at `now`, with a view.
    fn online(now: u64) -> (Engine, RoomView) {
        let mut e = engine();
        let mut v = RoomView::default();
        e.start_at(now);
        e.on_open(&v, now);
        e.on_text(&mut v, &welcome(vec![]), now);
        (e, v)
    }

    fn retry_at(e: &Engine) -> u64 {
        let Link::Waiting { retry_at_ms } = e.link() else { panic!("waiting, not {:?}", e.link()) };
        retry_at_ms
    }

    #[test]
    fn joins_on_open_and_resumes_from_the_newest_seq() {
        let mut e = engine();
        let mut v = RoomView::default();
        assert_eq!(e.start(), [Out::Open]);
        let out = e.on_open(&v, 0);
        assert!(matches!(sent(&out)[..], [ClientFrame::Join { v: 2, since: None, epoch: None, .. }]));
        e.on_text(&mut v, &welcome(vec![msg(7, "bob", "b")]), 10);
        assert_eq!(e.link(), Link::Online);
        e.on_text(&mut v, &ServerFrame::Deleted { seq: 8, id: 7, removed: false }.to_json(), 11);
        e.on_closed(20, 0.5);
        let out = e.on_open(&v, 1_000);
        let [ClientFrame::Join { v: 2, since: Some(8), epoch: Some(epoch), .. }] = &sent(&out)[..] else {
            panic!("a resume from the last event, not the last message: {out:?}")
        };
        assert_eq!(epoch, crate::fixtures::EPOCH);
    }

    #[test]
    fn a_batch_is_its_frames_applied_in_order_as_if_each_came_alone() {
        let frames = [
            welcome(vec![msg(1, "bob", "b1")]),
            ServerFrame::Message(msg(2, "bob", "b2")).to_json(),
            ServerFrame::Deleted { seq: 3, id: 1, removed: false }.to_json(),
            ServerFrame::Message(msg(4, "alice", "a4")).to_json(),
        ];
        let (mut batched, mut alone) = ((engine(), RoomView::default()), (engine(), RoomView::default()));
        for (e, v) in [&mut batched, &mut alone] {
            e.start();
            let out = e.on_open(v, 0);
            assert!(matches!(sent(&out)[..], [ClientFrame::Join { batch: true, .. }]), "it says it reads batches");
        }
        batched.0.on_text(&mut batched.1, &ServerFrame::batch_json(&frames), 10);
        for f in &frames {
            alone.0.on_text(&mut alone.1, f, 10);
        }
        assert_eq!(batched.1, alone.1);
        assert_eq!(batched.0.link(), Link::Online);
        assert_eq!(batched.1.last_seq, Some(4));
        assert_eq!(batched.1.messages.keys().copied().collect::<Vec<_>>(), [1, 2, 4]);
        // A frame this page does not know fails alone.
        let (mut e, mut v) = online(0);
        let newer = [
            ServerFrame::Message(msg(1, "bob", "b1")).to_json(),
            r#"{"type":"hologram","data":{}}"#.to_owned(),
            ServerFrame::Message(msg(2, "bob", "b2")).to_json(),
        ];
        e.on_text(&mut v, &ServerFrame::batch_json(&newer), 1);
        assert_eq!(v.messages.keys().copied().collect::<Vec<_>>(), [1, 2]);
        assert_eq!(v.unknown_frames, 1);
        // A frame that ends the socket ends the batch: nothing after it is applied.
        let (mut e, mut v) = online(0);
        let stop =
            [error(ErrorCode::UnsupportedVersion, None, None), ServerFrame::Message(msg(1, "bob", "b1")).to_json()];
        assert_eq!(e.on_text(&mut v, &ServerFrame::batch_json(&stop), 1), [Out::Close]);
        assert!(v.messages.is_empty());
    }

    #[test]
    fn sends_wait_for_welcome_and_are_resent_on_every_new_socket_until_acked() {
        let mut e = engine();
        let mut v = RoomView::default();
        e.start();
        e.on_open(&v, 0);
        // Before welcome: only queued.
        assert!(e.send(&mut v, "c1".into(), "one".into(), 1).is_empty());
        assert!(!v.outbox[0].sent, "queued, never out: it can still be taken back");
        let out = e.on_text(&mut v, &welcome(vec![]), 2);
        assert_eq!(sent_ids(&out), ["c1"]);
        assert!(v.outbox[0].sent, "out on a joined socket: the room may have stored it");
        // Sent once per socket, however often flushed.
        assert_eq!(sent(&e.send(&mut v, "c2".into(), "two".into(), 3)).len(), 1);
        assert!(e.flush_outbox(&mut v, 3).is_empty());
        // c1 acked; the socket dies before c2's ack.
        e.on_text(&mut v, &ServerFrame::Ack { client_id: "c1".into(), seq: 1, ts: 3 }.to_json(), 4);
        e.on_closed(5, 0.0);
        assert!(matches!(e.link(), Link::Waiting { .. }));
        e.on_open(&v, 300);
        let out = e.on_text(&mut v, &welcome(vec![msg(1, "alice", "c1")]), 301);
        assert_eq!(sent_ids(&out), ["c2"]);
        // The broadcast of c2 clears it even if its ack is lost.
        e.on_text(&mut v, &ServerFrame::Message(msg(2, "alice", "c2")).to_json(), 302);
        assert!(v.outbox.is_empty());
    }

    #[test]
    fn reconnects_with_growing_backoff_drawn_over_the_whole_window() {
        let mut e = engine();
        let mut v = RoomView::default();
        e.start();
        let mut now = 0;
        let mut delays = Vec::new();
        for _ in 0..8 {
            e.on_closed(now, 0.999);
            let at = retry_at(&e);
            delays.push(at - now);
            assert_eq!(e.next_wake(), Some(at));
            assert!(e.on_tick(&mut v, at - 1, 0.5).is_empty());
            assert_eq!(e.on_tick(&mut v, at, 0.5), [Out::Open]);
            now = at;
        }
        assert!(delays.windows(2).all(|w| w[0] <= w[1]), "{delays:?}");
        assert_eq!(*delays.last().unwrap(), 29_970, "capped at 30 s");
        // The low end of the window is the minimum, not a clamp that half the draws hit.
        let mut e = engine();
        e.start();
        e.on_closed(0, 0.0);
        assert_eq!(retry_at(&e), MIN_RETRY_MS);
        let mut e = engine();
        e.start();
        e.on_closed(0, 0.2);
        assert!(retry_at(&e) > MIN_RETRY_MS, "0.2 of the way through [250, 500], not clamped to 250");
    }

    #[test]
    fn a_room_of_clients_reconnecting_at_once_is_spread_out() {
        // 1,000 clients welcomed long ago lose their socket in the same instant.
        let delays: Vec<u64> = (0..1_000)
            .map(|i| {
                let (mut e, _) = online(0);
                e.on_close(100_000, None, i as f64 / 1_000.0);
                retry_at(&e) - 100_000
            })
            .collect();
        let at_min = delays.iter().filter(|d| **d == MIN_RETRY_MS).count();
        assert!(at_min <= 5, "{at_min} of 1000 at the same millisecond");
        // A deploy (1001, 1012): spread over seconds.
        for code in [close::GOING_AWAY, close::RESTART] {
            let delays: Vec<u64> = (0..1_000)
                .map(|i| {
                    let (mut e, _) = online(0);
                    e.on_close(100_000, Some(code), i as f64 / 1_000.0);
                    retry_at(&e) - 100_000
                })
                .collect();
            let in_first_second = delays.iter().filter(|d| **d < 1_000).count();
            assert!(in_first_second < 200, "{in_first_second} of 1000 within 1 s after close {code}");
            assert!(delays.iter().max().unwrap() >= &(RESTART_SPREAD_MS - 10));
        }
    }

    #[test]
    fn backoff_starts_over_only_after_a_socket_stayed_up() {
        // A room that welcomes and closes at once: the window keeps growing.
        let mut e = engine();
        let mut v = RoomView::default();
        e.start();
        let mut now = 0;
        for _ in 0..6 {
            e.on_open(&v, now);
            e.on_text(&mut v, &welcome(vec![]), now);
            e.on_close(now + 10, Some(close::INTERNAL), 0.999);
            now = retry_at(&e);
        }
        e.on_open(&v, now);
        e.on_text(&mut v, &welcome(vec![]), now);
        e.on_close(now + 10, Some(close::INTERNAL), 0.999);
        assert!(retry_at(&e) - (now + 10) > 10_000, "still backing off: {}", retry_at(&e) - (now + 10));
        // A socket that stayed up 30 s: the next failure is a fresh one.
        let now = retry_at(&e);
        e.on_open(&v, now);
        e.on_text(&mut v, &welcome(vec![]), now);
        e.on_close(now + STABLE_MS, None, 0.999);
        assert!(retry_at(&e) - (now + STABLE_MS) <= 500);
    }

    #[test]
    fn a_policy_close_waits_long_and_only_the_person_cuts_it_short() {
        let (mut e, mut v) = online(0);
        e.on_close(1_000, Some(close::POLICY), 0.0);
        assert!(retry_at(&e) >= 1_000 + POLICY_WAIT_MS);
        assert!(e.wake(2_000).is_empty(), "the network coming back does not reconnect");
        assert!(e.on_tick(&mut v, 2_000, 0.5).is_empty());
        assert_eq!(e.retry_now(&mut v, 3_000), [Out::Open], "the person can");
    }

    #[test]
    fn retry_now_acts_in_every_state() {
        let mut e = engine();
        let mut v = RoomView::default();
        e.start_at(0);
        // Connecting (a hanging handshake): a fresh socket now.
        assert_eq!(e.retry_now(&mut v, 10), [Out::Open]);
        e.on_closed(20, 0.9);
        assert_eq!(e.retry_now(&mut v, 30), [Out::Open]);
        assert_eq!(e.link(), Link::Connecting);
        // Online with an unacked message: sent again, and the socket probed.
        e.on_open(&v, 40);
        e.on_text(&mut v, &welcome(vec![]), 50);
        e.send(&mut v, "c1".into(), "one".into(), 60);
        let out = e.retry_now(&mut v, 70);
        assert!(out.contains(&Out::Send(PING.into())), "{out:?}");
        assert_eq!(sent_ids(&out), ["c1"]);
        // Nothing answers the probe: the socket is dead.
        assert_eq!(e.next_wake(), Some(70 + PROBE_MS));
        assert_eq!(e.on_tick(&mut v, 70 + PROBE_MS, 0.5), [Out::Close]);
        assert!(matches!(e.link(), Link::Waiting { .. }));
    }

    #[test]
    fn a_socket_that_never_opens_or_is_never_welcomed_is_given_up() {
        let mut e = engine();
        let mut v = RoomView::default();
        assert_eq!(e.start_at(1_000), [Out::Open]);
        assert_eq!(e.next_wake(), Some(1_000 + CONNECT_TIMEOUT_MS), "a deadline, not a 240 s wait");
        assert!(e.on_tick(&mut v, 1_000 + CONNECT_TIMEOUT_MS - 1, 0.5).is_empty());
        assert_eq!(e.on_tick(&mut v, 1_000 + CONNECT_TIMEOUT_MS, 0.5), [Out::Close]);
        let at = retry_at(&e);
        assert_eq!(e.on_tick(&mut v, at, 0.5), [Out::Open]);
        // Opened, join sent, no welcome.
        e.on_open(&v, at + 100);
        assert_eq!(e.on_tick(&mut v, at + 100 + CONNECT_TIMEOUT_MS, 0.5), [Out::Close]);
    }

    #[test]
    fn heartbeat_pings_and_a_silent_socket_is_dropped() {
        let (mut e, mut v) = online(0);
        assert_eq!(e.next_wake(), Some(PING_EVERY_MS));
        assert_eq!(e.on_tick(&mut v, PING_EVERY_MS, 0.5), [Out::Send(PING.into())]);
        e.on_text(&mut v, PONG, PING_EVERY_MS + 5);
        assert!(e.on_tick(&mut v, PING_EVERY_MS + 20_000, 0.5).contains(&Out::Send(PING.into())), "alive: ping again");
        // Nothing more is heard: dead after 30 s of silence.
        let out = e.on_tick(&mut v, PING_EVERY_MS + 5 + DEAD_AFTER_MS, 0.5);
        assert_eq!(out, [Out::Close]);
        assert!(matches!(e.link(), Link::Waiting { .. }));
    }

    #[test]
    fn rate_limited_sends_go_again_after_the_retry_time() {
        let (mut e, mut v) = online(0);
        e.send(&mut v, "c1".into(), "one".into(), 0);
        e.on_text(&mut v, &error(ErrorCode::RateLimited, None, Some(300)), 10);
        assert!(e.send(&mut v, "c2".into(), "two".into(), 20).is_empty(), "held back while limited");
        assert_eq!(e.next_wake(), Some(310));
        // The refusal emptied the page's copy of the bucket: at 5 a second, one now (1.5
        // tokens after 300 ms), the next when its token is there.
        let again = sent(&e.on_tick(&mut v, 310, 0.5));
        assert_eq!(again.len(), 1, "paced: {again:?}");
        let next = e.next_wake().expect("a wake for the next token");
        assert!(next <= 410, "{next}");
        let again = sent(&e.on_tick(&mut v, next, 0.5));
        assert_eq!(again.len(), 1, "then the second: {again:?}");
    }

    #[test]
    fn a_long_outbox_goes_out_at_the_rooms_pace() {
        let (mut e, mut v) = online(0);
        let mut out = Vec::new();
        for i in 0..45 {
            out.extend(e.send(&mut v, format!("c{i}"), "x".into(), 0));
        }
        // The burst (20) at once, then 5 a second: never a frame the room would refuse.
        assert_eq!(sent(&out).len(), 20);
        let mut now = 0;
        let mut total = 20;
        while total < 45 {
            now = e.next_wake().expect("a wake");
            let n = sent(&e.on_tick(&mut v, now, 0.5)).len();
            assert!(n <= 1, "one per token, {n} at {now}");
            total += n;
        }
        assert!((4_800..=5_200).contains(&now), "25 more at 5 a second: {now} ms");
    }

    #[test]
    fn rate_limited_naming_a_message_resends_from_it_on() {
        let (mut e, mut v) = online(0);
        for id in ["c1", "c2", "c3"] {
            e.send(&mut v, id.into(), "x".into(), 0);
        }
        e.on_text(&mut v, &error(ErrorCode::RateLimited, Some("c2"), Some(u64::MAX)), 10);
        assert!(!v.outbox[1].sent && v.outbox[2].sent, "refused, so not stored: c2 can be taken back");
        assert!(e.next_wake().is_some_and(|t| t <= PING_EVERY_MS), "the heartbeat goes on");
        assert!(sent_ids(&e.on_tick(&mut v, 310, 0.5)).is_empty(), "u64::MAX does not wrap into a tight loop");
        // At most a minute, and a later, shorter refusal does not bring it forward.
        e.on_text(&mut v, &error(ErrorCode::RateLimited, Some("c2"), Some(300)), 10);
        assert!(sent_ids(&e.on_tick(&mut v, 310, 0.5)).is_empty());
        assert_eq!(e.next_wake().filter(|t| *t > PING_EVERY_MS), None);
        e.on_text(&mut v, &ServerFrame::Ack { client_id: "c1".into(), seq: 1, ts: 1 }.to_json(), 20);
        e.on_text(&mut v, PONG, 60_000); // the socket stays alive meanwhile
        assert_eq!(sent_ids(&e.on_tick(&mut v, 60_010, 0.5)), ["c2", "c3"]);
    }

    #[test]
    fn a_refused_history_request_is_asked_again_when_the_budget_allows() {
        let (mut e, mut v) = online(0);
        v.has_more = true;
        v.messages.insert(50, msg(50, "bob", "x"));
        assert_eq!(sent(&e.load_older(&mut v)).len(), 1);
        assert!(v.loading_older);
        e.on_text(&mut v, &error(ErrorCode::RateLimited, None, Some(500)), 10);
        assert!(!v.loading_older && v.want_older, "not stuck loading");
        assert!(e.load_older(&mut v).is_empty(), "not before the budget allows");
        let again = sent(&e.on_tick(&mut v, 510, 0.5));
        assert!(matches!(again[..], [ClientFrame::History { before: 50, .. }]), "{again:?}");
    }

    #[test]
    fn an_internal_error_resends_on_the_same_socket_with_backoff() {
        let (mut e, mut v) = online(0);
        e.send(&mut v, "c1".into(), "one".into(), 0);
        e.on_text(&mut v, &error(ErrorCode::Internal, Some("c1"), None), 10);
        assert_eq!(e.link(), Link::Online);
        assert_eq!(e.next_wake(), Some(510));
        assert_eq!(sent_ids(&e.on_tick(&mut v, 510, 0.5)), ["c1"]);
        e.on_text(&mut v, &error(ErrorCode::Internal, Some("c1"), None), 520);
        assert_eq!(e.next_wake(), Some(1_520), "twice as long the second time");
        assert_eq!(sent_ids(&e.on_tick(&mut v, 1_520, 0.5)), ["c1"]);
        // A code this page does not know is treated the same way.
        let unknown = r#"{"type":"error","data":{"code":"storage_busy","message":"busy","client_id":"c1"}}"#;
        e.on_text(&mut v, unknown, 1_600);
        assert!(e.next_wake().is_some_and(|t| t <= 1_600 + 2_000));
        assert_eq!(v.notice.as_ref().map(|n| n.code), Some(ErrorCode::Unknown));
    }

    #[test]
    fn a_refusal_that_cannot_succeed_marks_the_message_and_stops_resending_it() {
        let (mut e, mut v) = online(0);
        e.send(&mut v, "c1".into(), "one".into(), 0);
        e.on_text(&mut v, &error(ErrorCode::TextTooLong, Some("c1"), None), 10);
        assert_eq!(v.outbox[0].failed.as_deref(), Some("no"));
        e.on_closed(20, 0.0);
        let at = retry_at(&e);
        e.on_tick(&mut v, at, 0.5);
        e.on_open(&v, at);
        assert!(sent_ids(&e.on_text(&mut v, &welcome(vec![]), at)).is_empty(), "not resent");
        assert_eq!(sent_ids(&e.retry_now(&mut v, at + 1)), ["c1"], "unless the person asks");
        assert!(v.outbox[0].failed.is_none());
    }

    #[test]
    fn an_unacknowledged_message_is_sent_again_and_the_socket_probed() {
        let (mut e, mut v) = online(0);
        e.send(&mut v, "c1".into(), "one".into(), 100);
        assert_eq!(e.next_wake(), Some(100 + ACK_TIMEOUT_MS));
        let out = e.on_tick(&mut v, 100 + ACK_TIMEOUT_MS, 0.5);
        assert!(out.contains(&Out::Send(PING.into())));
        assert_eq!(sent_ids(&out), ["c1"]);
        e.on_text(&mut v, PONG, 100 + ACK_TIMEOUT_MS + 50);
        assert_eq!(e.link(), Link::Online, "the socket answers: kept");
    }

    #[test]
    fn wake_skips_a_backoff_wait_but_not_a_refusal() {
        let (mut e, mut v) = online(0);
        e.on_closed(10, 0.9);
        assert_eq!(e.wake(20), [Out::Open]);
        let mut e = engine();
        e.start_at(0);
        e.on_open(&v, 0);
        e.on_text(&mut v, &error(ErrorCode::NameTaken, None, None), 1);
        assert!(e.wake(2).is_empty(), "a tab coming to the front does not re-send a refused join");
    }

    #[test]
    fn a_taken_name_stops_reconnecting_until_asked_and_needs_no_timer() {
        let mut e = engine();
        let mut v = RoomView::default();
        e.start_at(0);
        e.on_open(&v, 0);
        assert_eq!(e.on_text(&mut v, &error(ErrorCode::NameTaken, None, None), 1), [Out::Close]);
        assert!(e.on_closed(2, 0.5).is_empty());
        assert_eq!(e.link(), Link::Refused);
        // Nothing is due: the driver sets no timer (it must not turn this into a 0 ms one).
        assert_eq!(e.next_wake(), None);
        assert!(e.on_tick(&mut v, 100_000, 0.5).is_empty());
        assert!(v.fatal.is_some());
    }

    #[test]
    fn typing_is_throttled_and_history_asked_once() {
        let mut e = engine();
        let mut v = RoomView::default();
        e.start();
        e.on_open(&v, 0);
        assert!(e.typing(0).is_empty(), "not joined yet");
        e.on_text(&mut v, &welcome_more((51..=100).map(|s| msg(s, "bob", "x")).collect(), true), 0);
        assert_eq!(e.typing(100).len(), 1);
        assert!(e.typing(1_000).is_empty());
        assert_eq!(e.typing(2_100).len(), 1);
        assert!(matches!(sent(&e.load_older(&mut v))[..], [ClientFrame::History { before: 51, limit: 50 }]));
        assert!(e.load_older(&mut v).is_empty(), "one page at a time");
    }

    #[test]
    fn paging_asked_while_reconnecting_or_lost_in_flight_is_asked_again() {
        let mut e = engine();
        let mut v = RoomView::default();
        e.start_at(0);
        e.on_open(&v, 0);
        e.on_text(&mut v, &welcome_more((51..=100).map(|s| msg(s, "bob", "x")).collect(), true), 0);
        e.on_closed(10, 0.0);
        // Scrolled to the top while reconnecting: remembered.
        assert!(e.load_older(&mut v).is_empty());
        let at = retry_at(&e);
        e.on_tick(&mut v, at, 0.5);
        e.on_open(&v, at);
        let out = e.on_text(&mut v, &welcome(vec![]), at);
        assert!(matches!(sent(&out)[..], [ClientFrame::History { before: 51, .. }]), "{out:?}");
        // Lost in flight: asked again after the next welcome.
        e.on_closed(at + 10, 0.0);
        let at = retry_at(&e);
        e.on_tick(&mut v, at, 0.5);
        e.on_open(&v, at);
        let out = e.on_text(&mut v, &welcome(vec![]), at);
        assert!(matches!(sent(&out)[..], [ClientFrame::History { before: 51, .. }]), "{out:?}");
        let page = ServerFrame::History { messages: (1..=50).map(|s| msg(s, "bob", "x")).collect(), older: false };
        e.on_text(&mut v, &page.to_json(), at + 1);
        assert!(!v.want_older && !v.loading_older && !v.has_more);
    }

    #[test]
    fn a_frame_this_page_does_not_know_is_counted_not_dropped_silently() {
        let (mut e, mut v) = online(0);
        let r = v.revision;
        assert!(e.on_text(&mut v, r#"{"type":"reaction","data":{"seq":1,"emoji":"+1"}}"#, 5).is_empty());
        assert_eq!(v.unknown_frames, 1);
        assert_ne!(v.revision, r);
        // A pong changes nothing the page shows.
        let r = v.revision;
        e.on_text(&mut v, PONG, 6);
        assert_eq!(v.revision, r);
    }
    #[test]
    fn an_event_after_a_hole_resumes_from_the_last_one_applied() {
        let (mut e, mut v) = online(0);
        e.on_text(&mut v, &ServerFrame::Message(msg(1, "bob", "b1")).to_json(), 10);
        let out = e.on_text(&mut v, &ServerFrame::Message(msg(3, "bob", "b3")).to_json(), 20);
        assert_eq!(out, [Out::Close], "the socket's stream has a hole");
        let at = retry_at(&e);
        assert!(at - 20 <= 500, "resumed soon: {}", at - 20);
        assert_eq!(e.on_tick(&mut v, at, 0.5), [Out::Open]);
        let out = e.on_open(&v, at);
        assert!(matches!(sent(&out)[..], [ClientFrame::Join { since: Some(1), .. }]), "{out:?}");
        e.on_text(
            &mut v,
            &crate::fixtures::welcome_at(vec![msg(2, "bob", "b2"), msg(3, "bob", "b3")], false, 3).to_json(),
            at,
        );
        assert_eq!(v.messages.keys().copied().collect::<Vec<_>>(), [1, 2, 3]);
        assert_eq!(e.link(), Link::Online);
    }

    #[test]
    fn a_room_that_no_longer_serves_this_page_is_never_reconnected_to() {
        let mut e = engine();
        let mut v = RoomView::default();
        e.start_at(0);
        e.on_open(&v, 0);
        assert_eq!(e.on_text(&mut v, &error(ErrorCode::UnsupportedVersion, None, None), 1), [Out::Close]);
        assert!(e.on_close(2, Some(close::UNSUPPORTED_VERSION), 0.5).is_empty());
        assert_eq!(e.link(), Link::Outdated);
        assert_eq!(e.next_wake(), None);
        assert!(e.wake(3).is_empty());
        assert_eq!(v.fatal.as_ref().map(|n| n.code), Some(ErrorCode::UnsupportedVersion));
        // The close code alone says it too (the error frame may be lost).
        let (mut e, _) = online(0);
        e.on_close(5, Some(close::UNSUPPORTED_VERSION), 0.5);
        assert_eq!(e.link(), Link::Outdated);
        assert_eq!(e.next_wake(), None);
    }

    #[test]
    fn edits_deletes_and_reactions_go_out_in_order_and_apply_once() {
        let (mut e, mut v) = online(0);
        e.on_text(&mut v, &ServerFrame::Message(msg(1, "alice", "a1")).to_json(), 1);
        let mut out = e.operate(&mut v, "e1".into(), Op::Edit { id: 1, text: "better".into() }, 2);
        out.extend(e.operate(&mut v, "r1".into(), Op::React { id: 1, emoji: "👍".into(), on: true }, 3));
        out.extend(e.operate(&mut v, "d1".into(), Op::Delete { id: 1 }, 4));
        let frames = sent(&out);
        assert!(matches!(&frames[0], ClientFrame::Edit { id: 1, text, .. } if text.as_str() == "better"));
        assert!(matches!(&frames[1], ClientFrame::React { id: 1, on: true, .. }));
        assert!(matches!(&frames[2], ClientFrame::Delete { id: 1, .. }));
        // Acked: gone, and a duplicate ack is harmless.
        for (cid, seq) in [("e1", 2), ("e1", 2), ("r1", 3)] {
            e.on_text(&mut v, &ServerFrame::Ack { client_id: cid.into(), seq, ts: 1 }.to_json(), 5);
        }
        assert_eq!(v.outbox.iter().map(|p| p.client_id.as_str()).collect::<Vec<_>>(), ["d1"]);
        // The socket dies before d1's ack: it goes again, once, on the next socket.
        e.on_closed(6, 0.0);
        let at = retry_at(&e);
        e.on_tick(&mut v, at, 0.5);
        e.on_open(&v, at);
        let out = e.on_text(&mut v, &crate::fixtures::welcome_at(vec![], false, 3).to_json(), at);
        assert!(matches!(sent(&out)[..], [ClientFrame::Delete { id: 1, .. }]), "{out:?}");
    }

    #[test]
    fn a_conflict_drops_the_operation_for_good() {
        let (mut e, mut v) = online(0);
        e.on_text(&mut v, &ServerFrame::Message(msg(1, "alice", "a1")).to_json(), 1);
        e.operate(&mut v, "e1".into(), Op::Edit { id: 1, text: "x".into() }, 2);
        e.on_text(&mut v, &error(ErrorCode::MessageDeleted, Some("e1"), None), 3);
        assert!(v.outbox.is_empty());
        assert!(v.conflicts.contains_key(&1));
        assert_eq!(e.next_wake().filter(|t| *t < PING_EVERY_MS), None, "nothing to resend");
        assert!(sent(&e.retry_now(&mut v, 4)).is_empty());
    }

    #[test]
    fn a_restored_outbox_of_operations_goes_out_after_the_welcome_in_order() {
        let base = RoomView::default();
        let ops = [
            ("p1", Op::Send { text: "hi".into(), reply_to: Some(1) }),
            ("r1", Op::React { id: 1, emoji: "🎉".into(), on: true }),
        ];
        let saved: Vec<Pending> = ops.into_iter().map(|(cid, op)| base.pending(cid.into(), op, 1)).collect();
        let text = serde_json::to_string(&saved).expect("serializes");
        let mut v = RoomView::with_outbox(crate::outbox::parse_saved(&text));
        let mut e = engine();
        e.start_at(0);
        e.on_open(&v, 0);
        let out = e.on_text(&mut v, &welcome(vec![msg(1, "bob", "b1")]), 1);
        let frames = sent(&out);
        assert!(matches!(&frames[0], ClientFrame::Send { reply_to: Some(1), .. }), "{frames:?}");
        assert!(matches!(&frames[1], ClientFrame::React { id: 1, .. }), "{frames:?}");
    }
}
