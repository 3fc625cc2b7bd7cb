//! The page's driver for the delivery [`Engine`]: one task per open room that owns the
//! gloo-net WebSocket, feeds the engine socket events, commands and time, and carries out what
//! it returns. All the rules (resume, heartbeat, backoff, outbox) live in `engine.rs`, where
//! they are tested without a browser; this file is only I/O.

use crate::browser::now_ms;
use crate::engine::{Engine, Link, Out};
use crate::state::RoomView;
use confab_shared::{MemberKey, UserName};
use futures::channel::mpsc::UnboundedReceiver;
use futures::stream::{Fuse, SplitSink, SplitStream};
use futures::{FutureExt, SinkExt, StreamExt};
use gloo_net::websocket::{futures::WebSocket, Message, WebSocketError};
use gloo_timers::future::TimeoutFuture;
use leptos::prelude::*;

/// What the page asks of the connection.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command {
    /// The user sent a message (already validated): its `client_id` and text.
    Send(String, String),
    /// The user is typing.
    Typing,
    /// Load the page of messages before the oldest we hold.
    LoadOlder,
    /// Reconnect now instead of waiting out the backoff.
    RetryNow,
}

/// Everything the driver needs for one room.
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

type Socket = (SplitSink<WebSocket, Message>, Fuse<SplitStream<WebSocket>>);

enum Event {
    Text(String),
    Closed,
    Command(Option<Command>),
    Tick,
}

/// Runs until the page drops the command sender (the room is closed).
pub async fn run(s: Session, mut commands: UnboundedReceiver<Command>) {
    let mut engine = Engine::new(s.name.clone(), s.key.clone());
    let mut socket: Option<Socket> = None;
    let mut todo = engine.start();
    loop {
        // Carry out what the engine asked, in order; a failure is one more event for it.
        while !todo.is_empty() {
            let mut next = Vec::new();
            for out in todo.drain(..) {
                match out {
                    Out::Open => {
                        socket = None; // dropping the old socket closes it
                        match WebSocket::open(&crate::browser::socket_url(&s.room)) {
                            Ok(ws) => {
                                let (tx, rx) = ws.split();
                                socket = Some((tx, rx.fuse()));
                                next.extend(s.view.with_untracked(|v| engine.on_open(v, now_ms())));
                            }
                            Err(_) => next.extend(engine.on_closed(now_ms(), js_sys::Math::random())),
                        }
                    }
                    Out::Send(text) => {
                        if let Some((tx, _)) = socket.as_mut() {
                            // The sink waits for the socket to open before it sends.
                            if tx.send(Message::Text(text)).await.is_err() {
                                socket = None;
                                next.extend(engine.on_closed(now_ms(), js_sys::Math::random()));
                            }
                        }
                    }
                    Out::Close => socket = None,
                }
            }
            todo = next;
        }
        s.link.set(engine.link());

        let event = {
            let incoming = async {
                match socket.as_mut() {
                    Some((_, rx)) => match rx.next().await {
                        Some(Ok(Message::Text(t))) => Event::Text(t),
                        Some(Ok(Message::Bytes(_))) => Event::Text(String::new()),
                        Some(Err(WebSocketError::ConnectionClose(_))) | Some(Err(_)) | None => Event::Closed,
                    },
                    None => futures::future::pending().await,
                }
            }
            .fuse();
            let command = commands.next().map(Event::Command);
            let wait = engine.next_wake().map_or(u32::MAX, |t| t.saturating_sub(now_ms()).min(60_000) as u32);
            let timer = TimeoutFuture::new(wait).map(|_| Event::Tick);
            futures::pin_mut!(incoming);
            let mut command = command.fuse();
            let mut timer = timer.fuse();
            futures::select! {
                e = incoming => e,
                e = command => e,
                e = timer => e,
            }
        };
        let now = now_ms();
        todo = match event {
            Event::Text(t) => s.view.try_update(|v| engine.on_text(v, &t, now)).unwrap_or_default(),
            Event::Closed => {
                socket = None;
                engine.on_closed(now, js_sys::Math::random())
            }
            Event::Tick => {
                s.view.try_update_untracked(|v| engine.on_tick(v, now, js_sys::Math::random())).unwrap_or_default()
            }
            Event::Command(None) => return,
            Event::Command(Some(Command::Send(client_id, text))) => {
                s.view.try_update(|v| engine.send(v, client_id, text, now)).unwrap_or_default()
            }
            Event::Command(Some(Command::Typing)) => engine.typing(now),
            Event::Command(Some(Command::LoadOlder)) => s.view.try_update(|v| engine.load_older(v)).unwrap_or_default(),
            Event::Command(Some(Command::RetryNow)) => engine.retry_now(),
        };
    }
}
