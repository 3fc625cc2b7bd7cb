//! The page's driver for the delivery [`Engine`]: one task per open room (and one per other
//! name with unsent messages in it) that owns the browser's `WebSocket`, feeds the engine
//! socket events, commands and time, and carries out what it returns. All the rules (resume,
//! heartbeat, connect deadline, backoff by close code, outbox) live in `engine.rs`, where
//! they are tested without a browser; this file is only I/O.
//!
//! Nothing here ever waits on a socket: `open`, `message` and `close` are events that land in
//! one queue next to the page's commands and the engine's timer, so a handshake that hangs
//! (Chromium waits 240 s) blocks nothing. Sends are `send_with_str` on an open socket.
//! There is no timer at all when the engine has nothing due (a refused join).

use crate::browser::now_ms;
use crate::engine::{Engine, Link, Out};
use crate::outbox;
use crate::state::{Pending, RoomView};
use confab_shared::{Action, MemberKey, Seq, UserName};
use futures::channel::mpsc::{unbounded, UnboundedReceiver, UnboundedSender};
use futures::{FutureExt, StreamExt};
use gloo_timers::future::TimeoutFuture;
use leptos::prelude::*;
use wasm_bindgen::prelude::*;
use wasm_bindgen::JsCast;
use web_sys::{CloseEvent, MessageEvent, WebSocket};

/// What the page asks of the connection.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command {
    /// The outbox changed (the page queued, edited or deleted a message, or another tab
    /// did): send what has not gone out.
    Flush,
    /// The user is typing.
    Typing,
    /// Load the page of messages before the oldest we hold.
    LoadOlder,
    /// The person asked: reconnect now, or resend and probe if joined.
    RetryNow,
    /// The network or the tab came back: skip a backoff wait.
    Wake,
    /// A moderation action (sent only while joined, never kept: see `engine.rs`).
    Moderate {
        /// Its id: the ack or refusal names it.
        client_id: String,
        /// What to do.
        action: Action,
    },
    /// The audit trail's newest page (`None`), or the page before that entry.
    Audit(Option<Seq>),
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
    /// Where this name's outbox is saved: acks and refusals are written back there.
    pub outbox_key: String,
    /// Deliver the outbox and stop (another name's unsent messages, no one watching).
    pub drain: bool,
    /// The invite code the page was opened with (`?invite=`), for an invite-only room.
    pub invite: Option<String>,
}

/// A socket's event, tagged with the socket's number (events of a replaced socket are dropped).
pub(crate) enum Event {
    /// It opened.
    Opened(u32),
    /// A text arrived.
    Text(u32, String),
    /// It closed, with this code if there was a close frame.
    Closed(u32, Option<u16>),
}

/// One socket and its event handlers; dropping it detaches them and closes the socket.
pub(crate) struct Socket {
    pub(crate) ws: WebSocket,
    _handlers: Vec<Closure<dyn FnMut(web_sys::Event)>>,
}

impl Drop for Socket {
    fn drop(&mut self) {
        self.ws.set_onopen(None);
        self.ws.set_onmessage(None);
        self.ws.set_onclose(None);
        let _ = self.ws.close();
    }
}

/// Opens a socket to `url` whose events, tagged `id`, land in `events`.
pub(crate) fn open_socket(url: &str, id: u32, events: &UnboundedSender<Event>) -> Result<Socket, JsValue> {
    let ws = WebSocket::new(url)?;
    let handler = |f: Box<dyn Fn(web_sys::Event) -> Option<Event>>| {
        let events = events.clone();
        Closure::<dyn FnMut(web_sys::Event)>::new(move |e: web_sys::Event| {
            if let Some(ev) = f(e) {
                let _ = events.unbounded_send(ev);
            }
        })
    };
    let on_open = handler(Box::new(move |_| Some(Event::Opened(id))));
    let on_message = handler(Box::new(move |e| {
        let text = e.dyn_into::<MessageEvent>().ok()?.data().as_string().unwrap_or_default();
        Some(Event::Text(id, text))
    }));
    let on_close = handler(Box::new(move |e| {
        let code = e.dyn_into::<CloseEvent>().ok().map(|c| c.code());
        Some(Event::Closed(id, code))
    }));
    ws.set_onopen(Some(on_open.as_ref().unchecked_ref()));
    ws.set_onmessage(Some(on_message.as_ref().unchecked_ref()));
    ws.set_onclose(Some(on_close.as_ref().unchecked_ref()));
    Ok(Socket { ws, _handlers: vec![on_open, on_message, on_close] })
}

/// Runs until the page drops the command sender (the room is closed), or, for a drain, until
/// its outbox is delivered or cannot be.
pub async fn run(s: Session, mut commands: UnboundedReceiver<Command>) {
    let url = crate::browser::socket_url(&s.room);
    let (events_tx, mut events) = unbounded::<Event>();
    let mut engine = Engine::new(s.name.clone(), s.key.clone()).with_invite(s.invite.clone());
    let mut socket: Option<Socket> = None;
    let mut socket_id = 0u32;
    let mut saved: Vec<Pending> = s.view.with_untracked(|v| v.outbox.clone());
    let random = || js_sys::Math::random();
    let mut todo = engine.start_at(now_ms());
    loop {
        // Carry out what the engine asked, in order; a failure is one more event for it.
        while !todo.is_empty() {
            let mut next = Vec::new();
            for out in todo.drain(..) {
                match out {
                    Out::Open => {
                        socket = None; // dropping the old socket closes it
                        socket_id = socket_id.wrapping_add(1);
                        match open_socket(&url, socket_id, &events_tx) {
                            Ok(ws) => socket = Some(ws),
                            Err(_) => next.extend(engine.on_closed(now_ms(), random())),
                        }
                    }
                    Out::Send(text) => {
                        let open = socket.as_ref().filter(|w| w.ws.ready_state() == WebSocket::OPEN);
                        if let Some(w) = open {
                            if w.ws.send_with_str(&text).is_err() {
                                socket = None;
                                next.extend(engine.on_closed(now_ms(), random()));
                            }
                        }
                    }
                    Out::Close => socket = None,
                }
            }
            todo = next;
        }
        if s.link.get_untracked() != engine.link() {
            s.link.set(engine.link());
        }
        // Acks and refusals change the outbox: written back, entry by entry.
        s.view.with_untracked(|v| {
            if v.outbox != saved {
                outbox::sync(&s.outbox_key, &saved, &v.outbox);
                saved = v.outbox.clone();
            }
        });
        if s.drain {
            let done = s.view.with_untracked(|v| v.outbox.iter().all(|p| p.failed.is_some()));
            let over = matches!(engine.link(), Link::Refused | Link::Outdated | Link::Removed);
            if (done && engine.link() == Link::Online) || over {
                return;
            }
        }

        let now = now_ms();
        let timer = match engine.next_wake() {
            // Capped so a clock change cannot put the next look a day away.
            Some(t) => TimeoutFuture::new(t.saturating_sub(now).min(60_000) as u32).left_future(),
            None => futures::future::pending().right_future(),
        };
        let mut timer = timer.fuse();
        let event = futures::select! {
            e = events.next() => e.map(Ok),
            c = commands.next() => match c {
                Some(c) => Some(Err(Some(c))),
                None => return,
            },
            _ = timer => Some(Err(None)),
        };
        let now = now_ms();
        todo = match event {
            None => return,
            Some(Ok(Event::Opened(id))) if id == socket_id => s.view.with_untracked(|v| engine.on_open(v, now)),
            Some(Ok(Event::Text(id, t))) if id == socket_id => update(s.view, |v| engine.on_text(v, &t, now)),
            Some(Ok(Event::Closed(id, code))) if id == socket_id => {
                socket = None;
                engine.on_close(now, code, random())
            }
            Some(Ok(_)) => Vec::new(), // from a socket already replaced
            Some(Err(None)) => update(s.view, |v| engine.on_tick(v, now, random())),
            Some(Err(Some(c))) => match c {
                Command::Flush => update(s.view, |v| engine.flush_outbox(v, now)),
                Command::Typing => engine.typing(now),
                Command::LoadOlder => update(s.view, |v| engine.load_older(v)),
                Command::RetryNow => update(s.view, |v| engine.retry_now(v, now)),
                Command::Wake => engine.wake(now),
                Command::Moderate { client_id, action } => update(s.view, |v| engine.moderate(v, client_id, action)),
                Command::Audit(before) => update(s.view, |v| engine.audit(v, before)),
            },
        };
    }
}

/// Runs `f` on the view, notifying the page only if the view changed: a `pong` or a replayed
/// frame re-renders nothing.
fn update(view: RwSignal<RoomView>, f: impl FnOnce(&mut RoomView) -> Vec<Out>) -> Vec<Out> {
    view.try_maybe_update(|v| {
        let before = v.revision;
        let out = f(v);
        (v.revision != before, out)
    })
    .unwrap_or_default()
}
