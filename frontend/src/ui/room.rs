//! One open room: the connection task (and those delivering other names' unsent messages),
//! the saved outbox kept in step with other tabs, the header with the link state, the member
//! panel, the unread count in the title, and a clock that ticks only while something on
//! screen depends on it.

use crate::browser::{self, now_ms};
use crate::connection::{self, Command, Session};
use crate::engine::Link;
use crate::list::message_anchor;
use crate::outbox;
use crate::reactions;
use crate::state::{typing_text, Op, Pending, RoomView};
use crate::ui::composer::Composer;
use crate::ui::message_list::MessageList;
use confab_shared::{ErrorCode, MemberKey, Seq, UserName};
use futures::channel::mpsc::{unbounded, UnboundedSender};
use leptos::html;
use leptos::prelude::*;
use leptos::task::spawn_local;
use wasm_bindgen::JsCast;

/// What the composer is editing instead of writing a new message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Editing {
    /// A stored message of ours, by id: saving sends an `edit`.
    Message(Seq),
    /// A post of ours that has not gone out: saving rewrites it.
    Pending(String),
}

/// What the room's parts share: the view, the link, the commands, the saved outbox, and the
/// small pieces of page state the message rows, the toolbar and the composer hand each other.
#[derive(Clone, Copy)]
pub struct RoomCtx {
    /// The room as the page knows it.
    pub view: RwSignal<RoomView>,
    /// The connection's state.
    pub link: RwSignal<Link>,
    /// The time, while something on screen needs it (see [`RoomPage`]).
    pub now: RwSignal<u64>,
    /// The composer's text (a pending message taken back to edit lands here).
    pub draft: RwSignal<String>,
    /// The composer, to focus.
    pub composer: NodeRef<html::Textarea>,
    /// The message the next post replies to (shown above the composer).
    pub reply_to: RwSignal<Option<Seq>>,
    /// What the composer is editing, if anything.
    pub editing: RwSignal<Option<Editing>>,
    /// What the person was writing when an edit took the composer: back once the edit is
    /// saved or cancelled.
    pub stash: RwSignal<String>,
    /// The message whose emoji picker is open.
    pub picker: RwSignal<Option<Seq>>,
    /// A jump in progress: the message wanted and the older pages asked for it so far.
    pub jump: RwSignal<Option<(Seq, u32)>>,
    /// The message highlighted after a jump, briefly.
    pub highlight: RwSignal<Option<Seq>>,
    /// A short status line ("Link copied"), announced politely.
    pub flash: RwSignal<Option<String>>,
    commands: StoredValue<UnboundedSender<Command>>,
    outbox_key: StoredValue<String>,
    name: StoredValue<String>,
    room: StoredValue<String>,
}

impl RoomCtx {
    /// Tells the connection.
    pub fn send(&self, c: Command) {
        let _ = self.commands.with_value(|tx| tx.unbounded_send(c));
    }

    /// An operation the person made: into the outbox, saved, and on screen at once, whatever
    /// the connection is doing; then the connection is told.
    fn operate(&self, op: Op) {
        let mut p = self.view.with_untracked(|v| v.pending(browser::random_hex(16), op, now_ms()));
        p.author = self.name.get_value();
        let cid = p.client_id.clone();
        let Some(removed) = self.view.try_update(|v| v.push_pending(p)) else { return };
        // Saved as it stands after folding (it may have cancelled an earlier one).
        let kept: Vec<Pending> =
            self.view.with_untracked(|v| v.outbox.iter().filter(|q| q.client_id == cid).cloned().collect());
        self.outbox_key.with_value(|k| outbox::update(k, &kept, &removed));
        self.send(Command::Flush);
    }

    /// The person wrote a message (a reply, if one is being replied to).
    pub fn queue(&self, text: String) {
        let reply_to = self.reply_to.get_untracked();
        self.reply_to.set(None);
        self.operate(Op::Send { text, reply_to });
    }

    /// The person saved an edit of message `id` (nothing is sent if the text is the same).
    pub fn edit(&self, id: Seq, text: String) {
        let same = self.view.with_untracked(|v| v.shown(id).is_some_and(|s| s.m.text == text));
        if !same {
            self.operate(Op::Edit { id, text });
        }
    }

    /// The person deleted message `id`.
    pub fn delete(&self, id: Seq) {
        if self.reply_to.get_untracked() == Some(id) {
            self.reply_to.set(None);
        }
        self.operate(Op::Delete { id });
    }

    /// The person added (`on`) or removed a reaction; the emoji goes first in their recent ones.
    pub fn react(&self, id: Seq, emoji: &str, on: bool) {
        if on {
            let recent = reactions::remember(browser::load(reactions::RECENT_KEY).unwrap_or_default(), emoji);
            browser::save(reactions::RECENT_KEY, &recent);
        }
        self.operate(Op::React { id, emoji: emoji.to_owned(), on });
    }

    /// Rewrites a post that has not gone out yet; whether it could.
    pub fn rewrite_pending(&self, client_id: &str, text: String) -> bool {
        let done = self.view.try_update(|v| v.rewrite_post(client_id, text)).unwrap_or(false);
        if done {
            let p: Vec<Pending> =
                self.view.with_untracked(|v| v.outbox.iter().filter(|p| p.client_id == client_id).cloned().collect());
            self.outbox_key.with_value(|k| outbox::update(k, &p, &[]));
            self.send(Command::Flush);
        }
        done
    }

    /// Takes a pending post out of the outbox (deleted, or back into the composer).
    pub fn cancel(&self, client_id: &str) -> Option<Pending> {
        let p = self.view.try_update(|v| v.cancel(client_id)).flatten()?;
        self.outbox_key.with_value(|k| outbox::update(k, &[], std::slice::from_ref(&p.client_id)));
        Some(p)
    }

    /// Scrolls to message `id`, paging back until it is loaded (see `list::jump_step`).
    pub fn jump_to(&self, id: Seq) {
        self.jump.set(Some((id, 0)));
    }

    /// The link to message `id`: `/r/{room}#m{id}` on this origin.
    pub fn link_to(&self, id: Seq) -> String {
        format!("{}/r/{}#m{id}", browser::origin(), self.room.get_value())
    }

    /// Shows a short status line for a few seconds.
    pub fn say(&self, text: &str) {
        let flash = self.flash;
        let text = text.to_owned();
        flash.set(Some(text.clone()));
        set_timeout(
            move || {
                if flash.try_get_untracked().flatten().as_deref() == Some(text.as_str()) {
                    flash.try_set(None);
                }
            },
            std::time::Duration::from_secs(4),
        );
    }

    /// Starts editing message `id` in the composer.
    pub fn start_edit(&self, id: Seq) {
        let Some(text) = self.view.with_untracked(|v| v.shown(id).filter(|s| s.mine && !s.m.deleted).map(|s| s.m.text))
        else {
            return;
        };
        self.reply_to.set(None);
        if self.editing.get_untracked().is_none() {
            self.stash.set(self.draft.get_untracked());
        }
        self.editing.set(Some(Editing::Message(id)));
        self.draft.set(text);
        self.focus_composer();
    }

    /// A context over `view` with no connection behind it (component tests).
    #[cfg(test)]
    pub fn detached(view: RwSignal<RoomView>, now: u64) -> (Self, futures::channel::mpsc::UnboundedReceiver<Command>) {
        let (tx, rx) = unbounded();
        let ctx = Self {
            view,
            link: RwSignal::new(Link::Online),
            now: RwSignal::new(now),
            draft: RwSignal::new(String::new()),
            composer: NodeRef::new(),
            reply_to: RwSignal::new(None),
            editing: RwSignal::new(None),
            stash: RwSignal::new(String::new()),
            picker: RwSignal::new(None),
            jump: RwSignal::new(None),
            highlight: RwSignal::new(None),
            flash: RwSignal::new(None),
            commands: StoredValue::new(tx),
            outbox_key: StoredValue::new("test.outbox".to_owned()),
            name: StoredValue::new("alice".to_owned()),
            room: StoredValue::new("lobby".to_owned()),
        };
        (ctx, rx)
    }

    /// Focuses the composer.
    pub fn focus_composer(&self) {
        if let Some(el) = self.composer.get_untracked() {
            let _ = el.focus();
        }
    }
}

/// One open room: owns the connection task for as long as it is on screen.
#[component]
pub fn RoomPage(room: String, name: UserName, on_leave: impl Fn() + Copy + Send + Sync + 'static) -> impl IntoView {
    // The outbox is partitioned by the name as typed, lowercased: `UserName::canonical` would
    // be exact but carries Unicode normalization tables (about 58 KB brotli) into the page,
    // and two spellings of one claim sending from one browser is harmless (the room knows
    // them as one member).
    let canonical = name.as_str().to_lowercase();
    let outbox_key = outbox::key(&room, &canonical);
    let view = RwSignal::new(RoomView::with_outbox(outbox::load_for(&room, name.as_str(), &canonical)));
    let link = RwSignal::new(Link::Connecting);
    let (tx, rx) = unbounded::<Command>();
    let key = MemberKey::parse(&browser::member_key()).expect("member_key() returns a valid key");
    spawn_local(connection::run(
        Session {
            room: room.clone(),
            name: name.clone(),
            key: key.clone(),
            view,
            link,
            outbox_key: outbox_key.clone(),
            drain: false,
        },
        rx,
    ));
    // Messages another tab queued here under another name are delivered under that name.
    let mut drains = Vec::new();
    for (k, author, entries) in outbox::others(&room, &outbox_key) {
        let Ok(author) = UserName::parse(&author) else { continue };
        let (dtx, drx) = unbounded::<Command>();
        let session = Session {
            room: room.clone(),
            name: author,
            key: key.clone(),
            view: RwSignal::new(RoomView::with_outbox(entries)),
            link: RwSignal::new(Link::Connecting),
            outbox_key: k,
            drain: true,
        };
        spawn_local(connection::run(session, drx));
        drains.push(dtx);
    }
    let drains = StoredValue::new(drains);
    let ctx = RoomCtx {
        view,
        link,
        now: RwSignal::new(now_ms()),
        draft: RwSignal::new(String::new()),
        composer: NodeRef::new(),
        reply_to: RwSignal::new(None),
        editing: RwSignal::new(None),
        stash: RwSignal::new(String::new()),
        picker: RwSignal::new(None),
        jump: RwSignal::new(None),
        highlight: RwSignal::new(None),
        flash: RwSignal::new(None),
        commands: StoredValue::new(tx),
        outbox_key: StoredValue::new(outbox_key.clone()),
        name: StoredValue::new(name.as_str().to_owned()),
        room: StoredValue::new(room.clone()),
    };
    // A link to a message (`/r/{room}#m42`) jumps to it, on opening and when the hash changes.
    let jump_to_hash = move || {
        if let Some(id) = message_anchor(&browser::hash()) {
            ctx.jump_to(id);
        }
    };
    jump_to_hash();
    let hash = window_event_listener(leptos::ev::hashchange, move |_| jump_to_hash());
    on_cleanup(move || hash.remove());
    on_cleanup(move || {
        ctx.commands.with_value(|tx| tx.close_channel());
        drains.with_value(|d| d.iter().for_each(|tx| tx.close_channel()));
    });

    // Another tab changed this name's saved outbox: take its version, and send what is new.
    let storage = window_event_listener(leptos::ev::storage, move |e: web_sys::StorageEvent| {
        if e.key().as_deref() == Some(outbox_key.as_str()) {
            let saved = outbox::load(&outbox_key);
            view.try_maybe_update(|v| {
                let r = v.revision;
                v.replace_outbox(saved);
                (v.revision != r, ())
            });
            ctx.send(Command::Flush);
        }
    });
    // Reconnect at once when the network or the tab comes back.
    let online = window_event_listener(leptos::ev::online, move |_| ctx.send(Command::Wake));
    let visible = window_event_listener(leptos::ev::visibilitychange, move |_| {
        if !browser::hidden() {
            ctx.send(Command::Wake)
        }
    });
    on_cleanup(move || {
        storage.remove();
        online.remove();
        visible.remove();
    });

    // The clock ticks once a second, and only while something shown depends on it: a
    // countdown, a typing line, a pending message, a rate-limit notice. An idle tab (a
    // refused one, say) sets no timer at all.
    let now = ctx.now;
    let needs_clock = Memo::new(move |_| {
        let t = now.get();
        matches!(link.get(), Link::Waiting { .. })
            || view.with(|v| {
                v.typing.values().any(|(_, until)| *until > t)
                    || v.outbox.iter().any(|p| p.failed.is_none())
                    || v.notice.as_ref().is_some_and(|n| n.retry_at_ms.is_some_and(|at| at > t))
            })
    });
    let ticking = StoredValue::new(None::<IntervalHandle>);
    Effect::new(move |_| {
        let want = needs_clock.get();
        let running = ticking.get_value();
        match (want, running) {
            (true, None) => {
                now.set(now_ms());
                let h = set_interval_with_handle(move || now.set(now_ms()), std::time::Duration::from_secs(1));
                ticking.set_value(h.ok());
            }
            (false, Some(h)) => {
                h.clear();
                ticking.set_value(None);
            }
            _ => {}
        }
    });
    on_cleanup(move || {
        if let Some(h) = ticking.get_value() {
            h.clear();
        }
    });

    // While the tab is hidden or not focused: mentions of us in the tab title ("(2) #room"),
    // and how many messages came; counted from the saved read marker (a tab that loads hidden
    // does not count the whole welcome). Focus clears both.
    let read_key = format!("confab.read.{room}");
    let seen_id = RwSignal::new(browser::load::<u64>(&read_key).unwrap_or(0));
    let title_room = if room.len() == 64 { "private room".to_owned() } else { format!("#{room}") };
    let away = RwSignal::new(browser::away());
    let on_focus = window_event_listener(leptos::ev::focus, move |_| away.set(browser::away()));
    let on_blur = window_event_listener(leptos::ev::blur, move |_| away.set(true));
    let on_visible = window_event_listener(leptos::ev::visibilitychange, move |_| away.set(browser::away()));
    on_cleanup(move || {
        on_focus.remove();
        on_blur.remove();
        on_visible.remove();
    });
    Effect::new(move |prev_resets: Option<u64>| {
        let resets = view.with(|v| v.resets);
        if prev_resets.is_some_and(|r| r != resets) {
            seen_id.set(0);
        }
        let newest = view.with(|v| v.newest_id().unwrap_or(0));
        if !away.get() {
            seen_id.set(newest);
        }
        let (unread, mentions) = view.with(|v| {
            let seen = seen_id.get_untracked();
            (v.count_after(seen), v.mentions_after(seen))
        });
        browser::set_title(&match (mentions, unread) {
            (0, 0) => format!("{title_room} · Confab"),
            (0, n) => format!("{title_room} · {n} new · Confab"),
            (m, _) => format!("({m}) {title_room} · Confab"),
        });
        resets
    });

    let show_members = RwSignal::new(false);
    let display_room = if room.len() == 64 { format!("private · {}…", &room[..8]) } else { format!("#{room}") };
    let share = format!("{}/r/{room}", browser::origin());

    view! {
        <div class="room" class:members-open=move || show_members.get()>
            <header class="room-header">
                <button class="link back" on:click=move |_| on_leave() aria-label="Leave the room">
                    "←"
                </button>
                <h1 title=share.clone()>{display_room}</h1>
                <span class="count" data-testid="member-count">
                    {move || {
                        let n = view.with(|v| v.members.len());
                        if n == 1 { "1 member online".to_owned() } else { format!("{n} members online") }
                    }}
                </span>
                <LinkState ctx=ctx />
                <button
                    class="secondary members-toggle"
                    aria-expanded=move || show_members.get().to_string()
                    aria-controls="members"
                    on:click=move |_| show_members.update(|s| *s = !*s)
                >
                    "Members"
                </button>
            </header>
            <Refused view=view on_leave=on_leave />
            <Outdated view=view />
            <MessageList ctx=ctx read_key=read_key />
            <aside id="members" class="members" aria-label="Members online">
                <h2>"Invite"</h2>
                <input
                    class="share"
                    readonly
                    aria-label="Link to this room"
                    data-testid="share-link"
                    value=share.clone()
                    on:focus=move |ev| {
                        if let Some(input) = ev.target().and_then(|t| t.dyn_into::<web_sys::HtmlInputElement>().ok()) {
                            input.select();
                        }
                    }
                />
                <h2>"Online"</h2>
                <ul data-testid="members">
                    {move || {
                        view.with(|v| {
                            v.members
                                .iter()
                                .map(|(id, name)| {
                                    let me = v.me_id() == Some(*id);
                                    view! {
                                        <li class:me=me dir="auto">
                                            {name.clone()}
                                            {me.then_some(" (you)")}
                                        </li>
                                    }
                                })
                                .collect_view()
                        })
                    }}
                </ul>
            </aside>
            <footer class="composer-area">
                <p class="typing" data-testid="typing" aria-live="polite">
                    {move || view.with(|v| typing_text(&v.typing_names(now.get())))}
                </p>
                <Composer ctx=ctx />
            </footer>
        </div>
    }
}

/// "Online", "Connecting…", "Reconnecting in 4 s · Retry now". The status screen readers
/// hear changes only with the state; the countdown is for the eyes (`aria-hidden`), so it is
/// not read out every second.
#[component]
pub fn LinkState(ctx: RoomCtx) -> impl IntoView {
    let link = ctx.link;
    let now = ctx.now;
    let class = move || match link.get() {
        Link::Online => "link-state online",
        Link::Connecting => "link-state connecting",
        Link::Waiting { .. } | Link::Refused | Link::Outdated => "link-state offline",
    };
    let status = move || match link.get() {
        Link::Online => "Online",
        Link::Connecting => "Connecting…",
        Link::Waiting { .. } => "Reconnecting",
        Link::Refused => "Not joined",
        Link::Outdated => "Out of date",
    };
    let countdown = move || match link.get() {
        Link::Waiting { retry_at_ms } => {
            Some(format!(" in {} s", retry_at_ms.saturating_sub(now.get()).div_ceil(1000)))
        }
        _ => None,
    };
    view! {
        <span class=class data-testid="link-state">
            <span class="dot" aria-hidden="true"></span>
            <span role="status">{status}</span>
            <span aria-hidden="true" data-testid="countdown">{countdown}</span>
            <Show when=move || !matches!(link.get(), Link::Online | Link::Outdated)>
                " · "
                <button class="link" on:click=move |_| ctx.send(Command::RetryNow)>
                    "Retry now"
                </button>
            </Show>
        </span>
    }
}

/// The join was refused: the name is taken (choose another), or the room no longer serves
/// this page (reload; the page never reconnects by itself then).
#[component]
fn Refused(view: RwSignal<RoomView>, on_leave: impl Fn() + Copy + Send + Sync + 'static) -> impl IntoView {
    move || {
        view.with(|v| v.fatal.clone()).map(|n| {
            if n.code == ErrorCode::UnsupportedVersion {
                view! {
                    <div class="banner" role="alert" data-testid="refused">
                        "Confab was updated and this page is out of date. "
                        <button class="link" on:click=|_| browser::reload()>
                            "Reload to keep chatting"
                        </button>
                    </div>
                }
                .into_any()
            } else {
                view! {
                    <div class="banner" role="alert" data-testid="refused">
                        {n.message}
                        " — "
                        <button class="link" on:click=move |_| on_leave()>
                            "Choose another name"
                        </button>
                    </div>
                }
                .into_any()
            }
        })
    }
}

/// The room sent frames this page cannot read: a newer version is out.
#[component]
fn Outdated(view: RwSignal<RoomView>) -> impl IntoView {
    let reload = |_| browser::reload();
    view! {
        <Show when=move || view.with(|v| v.unknown_frames > 0)>
            <p class="outdated" role="status" data-testid="outdated">
                "This page is out of date and missed something the room sent. "
                <button class="link" on:click=reload>
                    "Reload"
                </button>
            </p>
        </Show>
    }
}
