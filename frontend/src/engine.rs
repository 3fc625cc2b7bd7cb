//! The delivery engine, sans I/O: what to send, when to reconnect, when a socket is dead.
//!
//! It owns no socket and no clock. A driver feeds it events (the socket opened, a text
//! arrived, the socket closed, time passed, the user sent or typed) with the current time,
//! and carries out the [`Out`]s it returns. The page's driver (`connection.rs`) uses gloo-net;
//! the integration tests drive the very same engine with tokio-tungstenite against a real
//! `wrangler dev` that they kill and restart; the unit tests below drive it with synthetic
//! time.
//!
//! Rules:
//! - Join first, with `since` = the newest `seq` held, so a reconnect resumes.
//! - Heartbeat: `ping` every 20 s; nothing heard for 30 s means the socket is dead.
//! - Reconnect with full-jitter backoff (0.5 s base, 30 s cap), forever, or at once on
//!   [`Engine::retry_now`]. Backoff starts over once a socket was welcomed.
//! - Outbox: every message stays in [`RoomView::outbox`] until acknowledged and is sent again
//!   on every new socket, in order. The room deduplicates by `client_id`: exactly once.
//! - `rate_limited`: send the outbox again once the room says the bucket has refilled.

use crate::state::{backoff_ms, RoomView};
use confab_shared::limits::TYPING_RELAY_INTERVAL_MS;
use confab_shared::{ClientFrame, ClientId, ErrorCode, MemberKey, MessageText, ServerFrame, UserName, PING, PONG};
use std::collections::HashSet;

/// How often to ping an otherwise quiet socket.
pub const PING_EVERY_MS: u64 = 20_000;
/// Silence after which a socket is considered dead.
pub const DEAD_AFTER_MS: u64 = 30_000;
/// No reconnect comes sooner than this, even with a lucky jitter.
pub const MIN_RETRY_MS: u64 = 250;

/// What the driver must do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Out {
    /// Open a new socket to the room (closing any old one first).
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
    attempt: u32,
    /// `client_id`s sent on the current socket.
    sent: HashSet<String>,
    heard_ms: u64,
    next_ping_ms: u64,
    resend_at_ms: Option<u64>,
    last_typing_ms: Option<u64>,
}

impl Engine {
    /// An engine for `name` with `key`; call [`Engine::start`] to connect.
    pub fn new(name: UserName, key: MemberKey) -> Self {
        Self {
            name,
            key,
            link: Link::Connecting,
            open: false,
            welcomed: false,
            attempt: 0,
            sent: HashSet::new(),
            heard_ms: 0,
            next_ping_ms: u64::MAX,
            resend_at_ms: None,
            last_typing_ms: None,
        }
    }

    /// The link state to show.
    pub fn link(&self) -> Link {
        self.link
    }

    /// Starts the first connection.
    pub fn start(&mut self) -> Vec<Out> {
        self.link = Link::Connecting;
        vec![Out::Open]
    }

    /// The socket opened: join, resuming after the newest message held.
    pub fn on_open(&mut self, view: &RoomView, now_ms: u64) -> Vec<Out> {
        self.open = true;
        self.welcomed = false;
        self.sent.clear();
        self.heard_ms = now_ms;
        self.next_ping_ms = now_ms + PING_EVERY_MS;
        let join = ClientFrame::Join { name: self.name.clone(), key: self.key.clone(), since: view.last_seq() };
        vec![Out::Send(join.to_json())]
    }

    /// A text message arrived on the socket.
    pub fn on_text(&mut self, view: &mut RoomView, text: &str, now_ms: u64) -> Vec<Out> {
        self.heard_ms = now_ms;
        if text == PONG {
            return Vec::new();
        }
        let Ok(frame) = ServerFrame::parse(text) else {
            // A newer room may send frames this page does not know: ignore them.
            return Vec::new();
        };
        let mut out = Vec::new();
        match &frame {
            ServerFrame::Welcome { .. } => {
                self.welcomed = true;
                self.attempt = 0;
                self.link = Link::Online;
            }
            ServerFrame::Error { code: ErrorCode::NameTaken | ErrorCode::InvalidName, .. } if !self.welcomed => {
                view.apply(frame, now_ms);
                self.link = Link::Refused;
                self.open = false;
                return vec![Out::Close];
            }
            ServerFrame::Error { code: ErrorCode::RateLimited, retry_after_ms, .. } => {
                // Refused, not stored: everything unacked goes again once the bucket refills.
                self.sent.clear();
                self.resend_at_ms = Some(now_ms + retry_after_ms.unwrap_or(1_000));
            }
            _ => {}
        }
        view.apply(frame, now_ms);
        self.flush(view, &mut out);
        out
    }

    /// The socket closed or failed. `random` in `[0, 1)` jitters the reconnect.
    pub fn on_closed(&mut self, now_ms: u64, random: f64) -> Vec<Out> {
        self.open = false;
        if self.link == Link::Refused {
            return Vec::new();
        }
        if !self.welcomed {
            self.attempt = self.attempt.saturating_add(1);
        }
        self.welcomed = false;
        let delay = backoff_ms(self.attempt, random).max(MIN_RETRY_MS);
        self.link = Link::Waiting { retry_at_ms: now_ms + delay };
        Vec::new()
    }

    /// Time passed: heartbeat, dead-socket detection, reconnects and resends that are due.
    pub fn on_tick(&mut self, view: &mut RoomView, now_ms: u64, random: f64) -> Vec<Out> {
        let mut out = Vec::new();
        match self.link {
            Link::Waiting { retry_at_ms } if now_ms >= retry_at_ms => {
                self.link = Link::Connecting;
                out.push(Out::Open);
            }
            _ if self.open => {
                if now_ms >= self.heard_ms + DEAD_AFTER_MS {
                    // Half-open: the browser has not noticed, but nothing comes back.
                    out.push(Out::Close);
                    out.extend(self.on_closed(now_ms, random));
                    return out;
                }
                if now_ms >= self.next_ping_ms {
                    self.next_ping_ms = now_ms + PING_EVERY_MS;
                    out.push(Out::Send(PING.to_owned()));
                }
                if self.resend_at_ms.is_some_and(|t| now_ms >= t) {
                    self.resend_at_ms = None;
                    self.flush(view, &mut out);
                }
            }
            _ => {}
        }
        out
    }

    /// When the driver should call [`Engine::on_tick`] next (ms since the epoch).
    pub fn next_wake(&self) -> Option<u64> {
        match self.link {
            Link::Waiting { retry_at_ms } => Some(retry_at_ms),
            _ if self.open => {
                let t = self.next_ping_ms.min(self.heard_ms + DEAD_AFTER_MS);
                Some(self.resend_at_ms.map_or(t, |r| r.min(t)))
            }
            _ => None,
        }
    }

    /// The user wrote a message: into the outbox, and out on the socket if it is joined.
    pub fn send(&mut self, view: &mut RoomView, client_id: String, text: String, now_ms: u64) -> Vec<Out> {
        view.queue(client_id, text, now_ms);
        let mut out = Vec::new();
        self.flush(view, &mut out);
        out
    }

    /// The outbox may have changed (restored, edited): send what has not gone out yet.
    pub fn flush_outbox(&mut self, view: &mut RoomView) -> Vec<Out> {
        let mut out = Vec::new();
        self.flush(view, &mut out);
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

    /// Asks for the page of messages before the oldest held, if there is one.
    pub fn load_older(&mut self, view: &mut RoomView) -> Vec<Out> {
        match view.oldest_seq() {
            Some(before) if self.welcomed && view.has_more && !view.loading_older => {
                view.loading_older = true;
                vec![Out::Send(ClientFrame::History { before, limit: 50 }.to_json())]
            }
            _ => Vec::new(),
        }
    }

    /// Reconnect now (the user asked, the network or the tab came back).
    pub fn retry_now(&mut self) -> Vec<Out> {
        match self.link {
            Link::Waiting { .. } | Link::Refused => {
                self.link = Link::Connecting;
                vec![Out::Open]
            }
            _ => Vec::new(),
        }
    }

    fn flush(&mut self, view: &mut RoomView, out: &mut Vec<Out>) {
        if !self.welcomed || self.resend_at_ms.is_some() {
            return;
        }
        let mut invalid = Vec::new();
        for p in &view.outbox {
            if self.sent.contains(&p.client_id) {
                continue;
            }
            // Validated when typed; an outbox stored by an older page might not be.
            let (Ok(client_id), Ok(text)) = (ClientId::parse(&p.client_id), MessageText::parse(&p.text)) else {
                invalid.push(p.client_id.clone());
                continue;
            };
            out.push(Out::Send(ClientFrame::Send { client_id, text }.to_json()));
            self.sent.insert(p.client_id.clone());
        }
        view.outbox.retain(|p| !invalid.contains(&p.client_id));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use confab_shared::{ChatMessage, Limits};

    fn engine() -> Engine {
        Engine::new(UserName::parse("alice").unwrap(), MemberKey::parse(&"k".repeat(40)).unwrap())
    }

    fn welcome(messages: Vec<ChatMessage>) -> String {
        ServerFrame::Welcome {
            reset: false,
            you: "alice".into(),
            room: "lobby".into(),
            members: vec!["alice".into()],
            latest_seq: messages.last().map_or(0, |m| m.seq),
            messages,
            has_more: false,
            limits: Limits::default(),
        }
        .to_json()
    }

    fn msg(seq: u64, author: &str, client_id: &str) -> ChatMessage {
        ChatMessage { seq, client_id: client_id.into(), author: author.into(), text: "t".into(), ts: seq }
    }

    fn sent(out: &[Out]) -> Vec<ClientFrame> {
        out.iter()
            .filter_map(|o| match o {
                Out::Send(t) if t != PING => Some(ClientFrame::parse(t).unwrap()),
                _ => None,
            })
            .collect()
    }

    #[test]
    fn joins_on_open_and_resumes_from_the_newest_seq() {
        let mut e = engine();
        let mut v = RoomView::default();
        assert_eq!(e.start(), [Out::Open]);
        let out = e.on_open(&v, 0);
        assert!(matches!(sent(&out)[..], [ClientFrame::Join { since: None, .. }]));
        e.on_text(&mut v, &welcome(vec![msg(7, "bob", "b")]), 10);
        assert_eq!(e.link(), Link::Online);
        e.on_closed(20, 0.5);
        let out = e.on_open(&v, 1_000);
        assert!(matches!(sent(&out)[..], [ClientFrame::Join { since: Some(7), .. }]));
    }

    #[test]
    fn sends_wait_for_welcome_and_are_resent_on_every_new_socket_until_acked() {
        let mut e = engine();
        let mut v = RoomView::default();
        e.start();
        e.on_open(&v, 0);
        // Before welcome: only queued.
        assert!(e.send(&mut v, "c1".into(), "one".into(), 1).is_empty());
        let out = e.on_text(&mut v, &welcome(vec![]), 2);
        assert!(matches!(&sent(&out)[..], [ClientFrame::Send { client_id, .. }] if client_id.as_str() == "c1"));
        // Sent once per socket, however often flushed.
        assert_eq!(sent(&e.send(&mut v, "c2".into(), "two".into(), 3)).len(), 1);
        assert!(e.flush_outbox(&mut v).is_empty());
        // c1 acked; the socket dies before c2's ack.
        e.on_text(&mut v, &ServerFrame::Ack { client_id: "c1".into(), seq: 1, ts: 3 }.to_json(), 4);
        e.on_closed(5, 0.0);
        assert!(matches!(e.link(), Link::Waiting { .. }));
        e.on_open(&v, 300);
        let out = e.on_text(&mut v, &welcome(vec![msg(1, "alice", "c1")]), 301);
        let resent: Vec<_> = sent(&out);
        assert!(
            matches!(&resent[..], [ClientFrame::Send { client_id, .. }] if client_id.as_str() == "c2"),
            "{resent:?}"
        );
        // The broadcast of c2 clears it even if its ack is lost.
        e.on_text(&mut v, &ServerFrame::Message(msg(2, "alice", "c2")).to_json(), 302);
        assert!(v.outbox.is_empty());
    }

    #[test]
    fn reconnects_with_growing_jittered_backoff_that_resets_after_a_welcome() {
        let mut e = engine();
        let mut v = RoomView::default();
        e.start();
        let mut now = 0;
        let mut delays = Vec::new();
        for _ in 0..8 {
            e.on_closed(now, 0.999);
            let Link::Waiting { retry_at_ms } = e.link() else { panic!("waiting") };
            delays.push(retry_at_ms - now);
            assert_eq!(e.next_wake(), Some(retry_at_ms));
            assert!(e.on_tick(&mut v, retry_at_ms - 1, 0.5).is_empty());
            assert_eq!(e.on_tick(&mut v, retry_at_ms, 0.5), [Out::Open]);
            now = retry_at_ms;
        }
        assert!(delays.windows(2).all(|w| w[0] <= w[1]), "{delays:?}");
        assert_eq!(*delays.last().unwrap(), 29_970, "capped at 30 s");
        e.on_open(&v, now);
        e.on_text(&mut v, &welcome(vec![]), now);
        e.on_closed(now, 0.999);
        let Link::Waiting { retry_at_ms } = e.link() else { panic!("waiting") };
        assert!(retry_at_ms - now <= 1_000, "backoff starts over after a welcome");
    }

    #[test]
    fn retry_now_skips_the_wait() {
        let mut e = engine();
        e.start();
        e.on_closed(0, 0.9);
        assert_eq!(e.retry_now(), [Out::Open]);
        assert_eq!(e.link(), Link::Connecting);
        assert!(e.retry_now().is_empty(), "already connecting");
    }

    #[test]
    fn heartbeat_pings_and_a_silent_socket_is_dropped() {
        let mut e = engine();
        let mut v = RoomView::default();
        e.start();
        e.on_open(&v, 0);
        e.on_text(&mut v, &welcome(vec![]), 0);
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
        let mut e = engine();
        let mut v = RoomView::default();
        e.start();
        e.on_open(&v, 0);
        e.on_text(&mut v, &welcome(vec![]), 0);
        e.send(&mut v, "c1".into(), "one".into(), 0);
        let limited = ServerFrame::Error {
            client_id: None,
            code: ErrorCode::RateLimited,
            message: "slow".into(),
            retry_after_ms: Some(300),
        };
        e.on_text(&mut v, &limited.to_json(), 10);
        assert!(e.send(&mut v, "c2".into(), "two".into(), 20).is_empty(), "held back while limited");
        assert_eq!(e.next_wake(), Some(310));
        let again = sent(&e.on_tick(&mut v, 310, 0.5));
        assert_eq!(again.len(), 2, "both, in order: {again:?}");
    }

    #[test]
    fn a_taken_name_stops_reconnecting_until_asked() {
        let mut e = engine();
        let mut v = RoomView::default();
        e.start();
        e.on_open(&v, 0);
        let taken = ServerFrame::Error {
            client_id: None,
            code: ErrorCode::NameTaken,
            message: "taken".into(),
            retry_after_ms: None,
        };
        assert_eq!(e.on_text(&mut v, &taken.to_json(), 1), [Out::Close]);
        assert!(e.on_closed(2, 0.5).is_empty());
        assert_eq!(e.link(), Link::Refused);
        assert_eq!(e.next_wake(), None);
        assert!(v.fatal.is_some());
    }

    #[test]
    fn typing_is_throttled_and_history_asked_once() {
        let mut e = engine();
        let mut v = RoomView::default();
        e.start();
        e.on_open(&v, 0);
        assert!(e.typing(0).is_empty(), "not joined yet");
        let mut w = ServerFrame::parse(&welcome((51..=100).map(|s| msg(s, "bob", "x")).collect())).unwrap();
        if let ServerFrame::Welcome { has_more, .. } = &mut w {
            *has_more = true;
        }
        e.on_text(&mut v, &w.to_json(), 0);
        assert_eq!(e.typing(100).len(), 1);
        assert!(e.typing(1_000).is_empty());
        assert_eq!(e.typing(2_100).len(), 1);
        assert!(matches!(sent(&e.load_older(&mut v))[..], [ClientFrame::History { before: 51, limit: 50 }]));
        assert!(e.load_older(&mut v).is_empty(), "one page at a time");
    }
}
