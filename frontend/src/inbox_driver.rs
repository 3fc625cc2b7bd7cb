//! The page's one inbox socket (issue 11): a task that owns the browser's `WebSocket` to the
//! person's inbox, feeds [`InboxLink`] its events, the page's commands and time, keeps the
//! [`Sidebar`] signal up to date and shows the notifications it decides on. The rules live in
//! `inbox.rs`, tested without a browser; this file is only I/O, like `connection.rs` (whose
//! socket wrapper it uses).

use crate::browser::now_ms;
use crate::connection::{open_socket, Event, Socket};
use crate::engine::{Link, Out};
use crate::inbox::{InboxLink, Notice, Sidebar};
use confab_shared::inbox::{inbox_id, Level};
use confab_shared::{MemberId, MemberKey, Seq};
use futures::channel::mpsc::{unbounded, UnboundedReceiver, UnboundedSender};
use futures::{FutureExt, StreamExt};
use gloo_timers::future::TimeoutFuture;
use leptos::prelude::*;
use leptos::task::spawn_local;
use web_sys::WebSocket;

/// What the page asks of its inbox.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum InboxCommand {
    /// The room this tab shows while focused; `None` when it is hidden or loses focus.
    Focus(Option<String>),
    /// The tab showed `room` up to message `seq` while focused.
    Read(String, Seq),
    /// "Mark as unread from here": message `id` of `room`; the tab holds up to `newest`.
    MarkUnread {
        /// The room.
        room: String,
        /// The first message unread again.
        id: Seq,
        /// The newest message the tab holds.
        newest: Seq,
    },
    /// The person set a room's notification level.
    Level(String, Level),
    /// Start (or open) a direct message with `member` of `room`; the page opens it when the
    /// inbox answers.
    Dm {
        /// A room of the person's where the other one is a member.
        room: String,
        /// Their member id there.
        member: MemberId,
    },
    /// The network or the tab came back: skip a backoff wait.
    Wake,
    /// Whether the room this tab shows is connected. While it is not, the inbox keeps no socket
    /// (browsers let one WebSocket per host be connecting at a time: a hung inbox handshake
    /// would hold up the room's reconnect); when it is again, the inbox reconnects at once.
    RoomOnline(bool),
}

/// The inbox as the page's components see it: provided once by the shell.
#[derive(Clone, Copy)]
pub struct InboxCtx {
    /// The person's rooms and counts.
    pub sidebar: RwSignal<Sidebar>,
    /// The inbox socket's state.
    pub link: RwSignal<Link>,
    /// The sidebar drawer is open (narrow screens).
    pub drawer: RwSignal<bool>,
    /// The person allowed desktop notifications.
    pub allowed: RwSignal<bool>,
    commands: StoredValue<UnboundedSender<InboxCommand>>,
    /// The task's end of the commands until [`InboxCtx::connect`] starts it.
    idle: StoredValue<Option<UnboundedReceiver<InboxCommand>>, LocalStorage>,
}

impl InboxCtx {
    /// The page's inbox, not connected yet: commands wait until [`InboxCtx::connect`].
    pub fn new() -> Self {
        let (tx, rx) = unbounded();
        Self {
            sidebar: RwSignal::new(Sidebar::default()),
            link: RwSignal::new(Link::Connecting),
            drawer: RwSignal::new(false),
            allowed: RwSignal::new(crate::browser::notifications_allowed()),
            commands: StoredValue::new(tx),
            idle: StoredValue::new_local(Some(rx)),
        }
    }

    /// Starts the inbox task with the browser's `key`, once per page (later calls do
    /// nothing): the first time a room opens, so a visit to the start page alone makes no
    /// inbox.
    pub fn connect(&self, key: &MemberKey) {
        if let Some(rx) = self.idle.try_update_value(Option::take).flatten() {
            spawn_local(run(key.clone(), *self, rx));
        }
    }

    /// A context with no task behind it: a component test reads what the page would send.
    #[cfg(test)]
    pub(crate) fn detached() -> (Self, UnboundedReceiver<InboxCommand>) {
        let (tx, rx) = unbounded();
        let ctx = Self {
            sidebar: RwSignal::new(Sidebar::default()),
            link: RwSignal::new(Link::Online),
            drawer: RwSignal::new(false),
            allowed: RwSignal::new(true),
            commands: StoredValue::new(tx),
            idle: StoredValue::new_local(None),
        };
        (ctx, rx)
    }

    /// Tells the inbox task (a closed task ignores it: the page is going away).
    pub fn send(&self, c: InboxCommand) {
        self.commands.with_value(|tx| {
            let _ = tx.unbounded_send(c);
        });
    }
}

async fn run(key: MemberKey, ctx: InboxCtx, mut commands: UnboundedReceiver<InboxCommand>) {
    let url = crate::browser::inbox_url(&inbox_id(&key));
    let (events_tx, mut events) = unbounded::<Event>();
    let mut link = InboxLink::new(key.as_str().to_owned());
    let mut socket: Option<Socket> = None;
    let mut socket_id = 0u32;
    let random = || js_sys::Math::random();
    let mut todo = link.start(now_ms());
    // The room is not connected: the inbox waits (see `InboxCommand::RoomOnline`).
    let mut held = false;
    loop {
        while !todo.is_empty() {
            let mut next = Vec::new();
            for out in todo.drain(..) {
                match out {
                    Out::Open if held => {
                        // Not now: counted as a failed attempt; `RoomOnline(true)` wakes it.
                        socket = None;
                        next.extend(link.on_close(now_ms(), None, random()));
                    }
                    Out::Open => {
                        socket = None; // dropping the old socket closes it
                        socket_id = socket_id.wrapping_add(1);
                        match open_socket(&url, socket_id, &events_tx) {
                            Ok(ws) => socket = Some(ws),
                            Err(_) => next.extend(link.on_close(now_ms(), None, random())),
                        }
                    }
                    Out::Send(text) => {
                        let open = socket.as_ref().filter(|w| w.ws.ready_state() == WebSocket::OPEN);
                        if let Some(w) = open {
                            if w.ws.send_with_str(&text).is_err() {
                                socket = None;
                                next.extend(link.on_close(now_ms(), None, random()));
                            }
                        }
                    }
                    Out::Close => socket = None,
                }
            }
            todo = next;
        }
        if ctx.link.get_untracked() != link.link() {
            ctx.link.set(link.link());
        }
        let now = now_ms();
        let timer = match link.next_wake() {
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
            Some(Ok(Event::Opened(id))) if id == socket_id => link.on_open(now),
            Some(Ok(Event::Text(id, t))) if id == socket_id => {
                let mut notice = None;
                let mut open_dm = None;
                let out = ctx
                    .sidebar
                    .try_maybe_update(|s| {
                        let before = s.clone();
                        let (out, event) = link.on_text(s, &t, now);
                        if let Some(e) = event {
                            open_dm = link.opened_dm(&e);
                            // Permission is the origin's: granted in another tab counts here.
                            let allowed = ctx.allowed.get_untracked() || crate::browser::notifications_allowed();
                            notice = s.notice(&e, crate::browser::hidden(), allowed);
                        }
                        (*s != before, out)
                    })
                    .unwrap_or_default();
                if let Some(n) = notice {
                    show(&n);
                }
                if let Some(room) = open_dm {
                    ctx.drawer.set(false);
                    crate::browser::navigate(&format!("/r/{room}"));
                }
                out
            }
            Some(Ok(Event::Closed(id, code))) if id == socket_id => {
                socket = None;
                link.on_close(now, code, random())
            }
            Some(Ok(_)) => Vec::new(), // from a socket already replaced
            Some(Err(None)) => link.on_tick(now, random()),
            Some(Err(Some(c))) => match c {
                InboxCommand::Focus(room) => link.focus(room),
                InboxCommand::Read(room, seq) => ctx.sidebar.with_untracked(|s| link.read(s, room, seq)),
                InboxCommand::MarkUnread { room, id, newest } => link.mark_unread(room, id, newest),
                InboxCommand::Level(room, level) => {
                    ctx.sidebar.try_maybe_update(|s| (s.set_level(&room, level), ()));
                    link.level(room, level)
                }
                InboxCommand::Dm { room, member } => link.dm(room, member),
                InboxCommand::Wake => link.wake(now),
                InboxCommand::RoomOnline(online) => {
                    held = !online;
                    // Only a handshake in progress can hold up the room's: an open socket is
                    // kept (every room switch passes through "not connected", and closing it
                    // would make the inbox recount every room on the next hello).
                    if held && !link.is_open() && socket.take().is_some() {
                        link.on_close(now, None, random())
                    } else if held {
                        Vec::new()
                    } else {
                        link.wake(now)
                    }
                }
            },
        };
    }
}

/// Shows `n` as a desktop notification; clicking it brings the tab forward at the message.
fn show(n: &Notice) {
    // "Started a conversation with you" is about no message (id 0): it opens the room.
    let url = if n.id == 0 { format!("/r/{}", n.room) } else { format!("/r/{}#m{}", n.room, n.id) };
    crate::browser::notify(&n.title, &n.body, &n.room, move || {
        crate::browser::focus_window();
        crate::browser::navigate(&url);
    });
}
