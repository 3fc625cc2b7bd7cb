//! The delivery engine: one task per open room that owns the WebSocket.
//!
//! - Join first, with `since` = the newest `seq` we hold, so a reconnect resumes instead of
//!   reloading (the view merges by `seq`, so overlap is harmless).
//! - Heartbeat: `ping` every 20 s (the room's runtime answers `pong` without waking the
//!   object); nothing heard for 30 s means the socket is dead even if the browser has not
//!   noticed, so it is dropped and reopened.
//! - Reconnect with full-jitter backoff (0.5 s base, 30 s cap), forever; at once on
//!   [`Command::RetryNow`] (the button, the browser's `online` event, the tab becoming visible).
//! - Outbox: every message stays in [`RoomView::outbox`] until acked and is resent on each new
//!   socket; the room deduplicates by `client_id`, so a resend can never double a message.

use crate::browser::now_ms;
use crate::state::{backoff_ms, RoomView};
use confab_shared::{ClientFrame, ClientId, ErrorCode, MemberKey, MessageText, ServerFrame, UserName, PING};
use futures::channel::mpsc::UnboundedReceiver;
use futures::{FutureExt, SinkExt, StreamExt};
use gloo_net::websocket::{futures::WebSocket, Message};
use gloo_timers::future::TimeoutFuture;
use leptos::prelude::*;
use std::collections::HashSet;

const PING_EVERY_MS: u64 = 20_000;
const DEAD_AFTER_MS: u64 = 30_000;

/// What the page asks of the connection.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command {
    /// The outbox grew: send what has not been sent on this socket.
    Flush,
    /// The user is typing.
    Typing,
    /// Load the page of messages before the oldest we hold.
    LoadOlder,
    /// Reconnect now instead of waiting out the backoff.
    RetryNow,
}

/// The socket's state, as the header shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
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
    /// The room refused us in a way retrying cannot fix (say, the name is taken).
    Refused,
}

/// Everything the engine needs for one room.
pub struct Session {
    /// Room name.
    pub room: String,
    /// Who we are.
    pub name: UserName,
    /// Our secret for the name.
    pub key: MemberKey,
    /// The view it keeps up to date.
    pub view: RwSignal<RoomView>,
    /// The link state it reports.
    pub link: RwSignal<Link>,
}

enum Ended {
    /// The page closed the room (the command channel closed).
    Left,
    /// The socket died; `welcomed` says whether it had joined (then backoff starts over).
    Dropped { welcomed: bool },
    /// Refused for good.
    Refused,
}

/// Runs until the page drops the command sender.
pub async fn run(session: Session, mut commands: UnboundedReceiver<Command>) {
    let mut attempt = 0u32;
    loop {
        session.link.set(Link::Connecting);
        match connect_once(&session, &mut commands).await {
            Ended::Left => return,
            Ended::Dropped { welcomed: true } => attempt = 0,
            Ended::Dropped { welcomed: false } => attempt = attempt.saturating_add(1),
            Ended::Refused => {
                session.link.set(Link::Refused);
                // Only the user can fix it (another name); wait for them to retry or leave.
                loop {
                    match commands.next().await {
                        None => return,
                        Some(Command::RetryNow) => break,
                        Some(_) => {}
                    }
                }
                continue;
            }
        }
        let delay = backoff_ms(attempt, js_sys::Math::random()).max(250);
        session.link.set(Link::Waiting { retry_at_ms: now_ms() + delay });
        let mut timer = TimeoutFuture::new(delay as u32).fuse();
        loop {
            futures::select! {
                _ = timer => break,
                c = commands.next() => match c {
                    None => return,
                    Some(Command::RetryNow) => break,
                    // Sends wait in the outbox; the next socket flushes them.
                    Some(_) => {}
                },
            }
        }
    }
}

fn text(frame: &ClientFrame) -> Message {
    Message::Text(frame.to_json())
}

async fn connect_once(s: &Session, commands: &mut UnboundedReceiver<Command>) -> Ended {
    let Ok(ws) = WebSocket::open(&crate::browser::socket_url(&s.room)) else {
        return Ended::Dropped { welcomed: false };
    };
    let (mut tx, rx) = ws.split();
    let mut rx = rx.fuse();
    let since = s.view.with_untracked(|v| v.last_seq());
    let join = ClientFrame::Join { name: s.name.clone(), key: s.key.clone(), since };
    // The sink waits for the socket to open before it sends.
    if tx.send(text(&join)).await.is_err() {
        return Ended::Dropped { welcomed: false };
    }

    let mut welcomed = false;
    let mut sent: HashSet<String> = HashSet::new();
    let mut heard_ms = now_ms();
    let mut next_ping_ms = heard_ms + PING_EVERY_MS;
    let mut resend_at_ms: Option<u64> = None;
    let mut last_typing_ms = 0u64;

    loop {
        let now = now_ms();
        let wake = resend_at_ms.unwrap_or(u64::MAX).min(next_ping_ms).min(heard_ms + DEAD_AFTER_MS);
        let mut timer = TimeoutFuture::new(wake.saturating_sub(now).min(60_000) as u32).fuse();
        let mut flush = false;
        futures::select! {
            incoming = rx.next() => {
                heard_ms = now_ms();
                match incoming {
                    Some(Ok(Message::Text(t))) if t == confab_shared::PONG => {}
                    Some(Ok(Message::Text(t))) => match ServerFrame::parse(&t) {
                        Ok(frame) => {
                            let is_welcome = matches!(frame, ServerFrame::Welcome { .. });
                            let refused = !welcomed
                                && matches!(&frame, ServerFrame::Error { code: ErrorCode::NameTaken | ErrorCode::InvalidName, .. });
                            if let ServerFrame::Error { code: ErrorCode::RateLimited, retry_after_ms, .. } = &frame {
                                // Not stored: send the outbox again once the bucket refills.
                                sent.clear();
                                resend_at_ms = Some(heard_ms + retry_after_ms.unwrap_or(1_000));
                            }
                            s.view.update(|v| v.apply(frame, heard_ms));
                            if refused {
                                return Ended::Refused;
                            }
                            if is_welcome {
                                welcomed = true;
                                s.link.set(Link::Online);
                                flush = true;
                            }
                        }
                        Err(e) => leptos::logging::warn!("unreadable frame from the room: {}", e.message),
                    },
                    Some(Ok(Message::Bytes(_))) => {}
                    Some(Err(_)) | None => return Ended::Dropped { welcomed },
                }
            }
            c = commands.next() => match c {
                None => return Ended::Left,
                Some(Command::Flush) => flush = true,
                Some(Command::RetryNow) => {}
                Some(Command::Typing) => {
                    let now = now_ms();
                    if welcomed && now >= last_typing_ms + confab_shared::limits::TYPING_RELAY_INTERVAL_MS {
                        last_typing_ms = now;
                        if tx.send(text(&ClientFrame::Typing {})).await.is_err() {
                            return Ended::Dropped { welcomed };
                        }
                    }
                }
                Some(Command::LoadOlder) => {
                    let before = s.view.with_untracked(|v| (!v.loading_older && v.has_more).then(|| v.oldest_seq()).flatten());
                    if let (true, Some(before)) = (welcomed, before) {
                        s.view.update(|v| v.loading_older = true);
                        if tx.send(text(&ClientFrame::History { before, limit: 50 })).await.is_err() {
                            return Ended::Dropped { welcomed };
                        }
                    }
                }
            },
            _ = timer => {
                let now = now_ms();
                if now >= heard_ms + DEAD_AFTER_MS {
                    return Ended::Dropped { welcomed };
                }
                if now >= next_ping_ms {
                    next_ping_ms = now + PING_EVERY_MS;
                    if tx.send(Message::Text(PING.to_owned())).await.is_err() {
                        return Ended::Dropped { welcomed };
                    }
                }
                if resend_at_ms.is_some_and(|t| now >= t) {
                    resend_at_ms = None;
                    flush = true;
                }
            }
        }
        if flush && welcomed && resend_at_ms.is_none() {
            let outbox = s.view.with_untracked(|v| v.outbox.clone());
            for p in outbox {
                if sent.contains(&p.client_id) {
                    continue;
                }
                // Validated when typed; a stored outbox from an older version might not be.
                let (Ok(client_id), Ok(body)) = (ClientId::parse(&p.client_id), MessageText::parse(&p.text)) else {
                    s.view.update(|v| v.outbox.retain(|q| q.client_id != p.client_id));
                    continue;
                };
                if tx.send(text(&ClientFrame::Send { client_id, text: body })).await.is_err() {
                    return Ended::Dropped { welcomed };
                }
                sent.insert(p.client_id);
            }
        }
    }
}
