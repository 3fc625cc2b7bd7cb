//! One open room: the connection task (and those delivering other names' unsent messages),
//! the saved outbox kept in step with other tabs, the header with the topic, the link state
//! and (for moderators) the settings button, the member panel (`members.rs`), the banners
//! (`banners.rs`), the unread count in the title, and a clock that ticks only while something
//! on screen depends on it. An invite link's code (`?invite=`) goes with the joins, and leaves
//! the address bar once we are a member.

use crate::browser::{self, now_ms};
use crate::connection::{self, Command, Session};
use crate::engine::Link;
use crate::inbox_driver::{InboxCommand, InboxCtx};
use crate::list::message_anchor;
use crate::outbox;
use crate::share;
use crate::state::{typing_text, RoomView};
use crate::ui::banners::{gated, Gate, ModRefusal, Outdated, Refused};
use crate::ui::composer::Composer;
pub use crate::ui::ctx::{Editing, RoomCtx};
use crate::ui::members::MemberPanel;
use crate::ui::message_list::MessageList;
use crate::ui::settings::SettingsPanel;
use confab_shared::{MemberKey, UserName};
use futures::channel::mpsc::unbounded;
use leptos::html;
use leptos::prelude::*;
use leptos::task::spawn_local;

/// One open room: owns the connection task for as long as it is on screen.
#[component]
pub fn RoomPage(room: String, name: UserName, on_leave: impl Fn() + Copy + Send + Sync + 'static) -> impl IntoView {
    // The outbox is partitioned by the name as typed, lowercased: `UserName::canonical` would
    // be exact but carries Unicode normalization tables (about 58 KB brotli) into the page,
    // and two spellings of one claim sending from one browser is harmless (the room knows
    // them as one member).
    let canonical = name.as_str().to_lowercase();
    let outbox_key = outbox::key(&room, &canonical);
    // A room this page showed before starts from what it held: the join resumes after it.
    let kept = use_context::<crate::app::KeptViews>();
    let saved = outbox::load_for(&room, name.as_str(), &canonical);
    let start = match kept.and_then(|k| k.0.try_update_value(|r| r.take(&room))).flatten() {
        Some(mut v) => {
            v.replace_outbox(saved);
            v
        }
        None => RoomView::with_outbox(saved),
    };
    let view = RwSignal::new(start);
    let link = RwSignal::new(Link::Connecting);
    let (tx, rx) = unbounded::<Command>();
    let key = MemberKey::parse(&browser::member_key()).expect("member_key() returns a valid key");
    let invite = share::invite_from_search(&browser::search());
    let had_invite = invite.is_some();
    spawn_local(connection::run(
        Session {
            room: room.clone(),
            name: name.clone(),
            key: key.clone(),
            view,
            link,
            outbox_key: outbox_key.clone(),
            drain: false,
            invite: invite.clone(),
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
            invite: invite.clone(),
        };
        spawn_local(connection::run(session, drx));
        drains.push(dtx);
    }
    let drains = StoredValue::new(drains);
    let ctx = RoomCtx::new(view, link, tx, outbox_key.clone(), name.as_str().to_owned(), room.clone());
    // A member now: the address bar stops handing the invite code on.
    if had_invite {
        let joined = Memo::new(move |_| view.with(|v| v.me.is_some()));
        Effect::new(move |_| {
            if joined.get() {
                let search = share::without_invite(&browser::search());
                browser::replace_url(&format!("{}{search}{}", browser::path(), browser::hash()));
            }
        });
    }
    // A link to a message (`/r/{room}#m42`) jumps to it, on opening and when the hash changes.
    let jump_to_hash = move || {
        if let Some(id) = message_anchor(&browser::hash()) {
            ctx.jump_to(id);
        }
    };
    jump_to_hash();
    let hash = window_event_listener(leptos::ev::hashchange, move |_| jump_to_hash());
    on_cleanup(move || hash.remove());
    let kept_room = room.clone();
    on_cleanup(move || {
        ctx.close();
        drains.with_value(|d| d.iter().for_each(|tx| tx.close_channel()));
        // A copy, not moved out: the connection task may still run once and writes the view's
        // outbox back to storage; an emptied view would erase the saved messages there.
        if let (Some(k), Some(v)) = (kept, view.try_get_untracked()) {
            k.0.update_value(|r| r.put(&kept_room, v));
        }
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
                    || v.post_wait(t).is_some()
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
    let inbox = use_context::<InboxCtx>();
    let inbox_room = room.clone();
    let title_key = room.clone();
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
        // What waits in the person's other rooms (their inbox) joins the count in brackets.
        let (elsewhere, known) =
            inbox.map_or((0, None), |i| i.sidebar.with(|s| (s.waiting(Some(&title_key)), s.room(&title_key).cloned())));
        let title_room = match known {
            _ if title_key.len() == 64 => "private room".to_owned(),
            known => crate::inbox::room_title(&title_key, known.as_ref()),
        };
        browser::set_title(&crate::inbox::page_title(&title_room, unread, mentions, elsewhere));
        resets
    });
    // The inbox connects once this room has welcomed us: browsers let one WebSocket per host
    // be connecting at a time, so a hung inbox handshake must never hold up the room's.
    if let Some(i) = inbox {
        let key = MemberKey::parse(&browser::member_key()).expect("member_key() returns a valid key");
        let link = ctx.link;
        Effect::new(move |_| {
            let online = link.get() == Link::Online;
            if online {
                i.connect(&key);
            }
            i.send(InboxCommand::RoomOnline(online));
        });
    }
    // The inbox hears which room this tab shows while focused (no notifications for it).
    if let Some(i) = inbox {
        let room = inbox_room.clone();
        Effect::new(move |_| {
            let focused = !away.get();
            i.send(InboxCommand::Focus(focused.then(|| room.clone())));
        });
        on_cleanup(move || i.send(InboxCommand::Focus(None)));
    }
    // The draft is kept per room in storage: switching rooms (or reloading) keeps it. While
    // editing, the draft is the one stashed aside.
    let draft_key = format!("confab.draft.{room}");
    if let Some(d) = browser::load::<String>(&draft_key) {
        ctx.draft.set(d);
    }
    Effect::new(move |_| {
        let editing = ctx.editing.with(|e| e.is_some());
        let d = if editing { ctx.stash.get() } else { ctx.draft.get() };
        if d.is_empty() {
            browser::remove(&draft_key);
        } else {
            browser::save(&draft_key, &d);
        }
    });

    let show_members = RwSignal::new(false);
    // A direct message is titled by its other person, as the inbox lists it.
    let display_room = {
        let room = room.clone();
        move || {
            let known = inbox.and_then(|i| i.sidebar.with(|s| s.room(&room).cloned()));
            crate::inbox::room_title(&room, known.as_ref())
        }
    };
    let share = format!("{}/r/{room}", browser::origin());
    let topic = Memo::new(move |_| view.with(|v| v.moderation.settings.topic.clone()));
    let moderates = Memo::new(move |_| ctx.rights.with(|r| r.moderates()));
    let settings_open = RwSignal::new(false);
    let settings_button = NodeRef::<html::Button>::new();
    // Made a member again while the panel was open: it goes.
    Effect::new(move |_| {
        if !moderates.get() {
            settings_open.set(false);
        }
    });
    let is_gated = Memo::new(move |_| gated(&view.read(), link.get()).is_some());
    let toggle_room = room.clone();

    view! {
        <div class="room" class:members-open=move || show_members.get() class:gated=move || is_gated.get()>
            <header class="room-header">
                <button class="link back" on:click=move |_| on_leave() aria-label="Leave the room">
                    "←"
                </button>
                {inbox.map(|i| view! {
                    <button
                        class="secondary rooms-toggle"
                        aria-controls="sidebar"
                        aria-expanded=move || i.drawer.get().to_string()
                        data-testid="rooms-toggle"
                        on:click=move |_| i.drawer.update(|o| *o = !*o)
                    >
                        "Rooms"
                        {move || {
                            let n = i.sidebar.with(|s| s.waiting(Some(&toggle_room)));
                            (n > 0).then(|| view! { <span class="badge mention">{n}</span> })
                        }}
                    </button>
                })}
                <div class="title">
                    <h1 title=share.clone()>{display_room}</h1>
                    <Show when=move || topic.with(|t| !t.is_empty())>
                        <p class="topic" dir="auto" data-testid="topic">{move || topic.get()}</p>
                    </Show>
                </div>
                <span class="count" data-testid="member-count">
                    {move || {
                        let n = view.with(|v| v.members.len());
                        if n == 1 { "1 member online".to_owned() } else { format!("{n} members online") }
                    }}
                </span>
                <LinkState ctx=ctx />
                <Show when=move || moderates.get()>
                    <button
                        class="secondary"
                        aria-expanded=move || settings_open.get().to_string()
                        aria-controls="settings"
                        data-testid="open-settings"
                        node_ref=settings_button
                        on:click=move |_| settings_open.update(|o| *o = !*o)
                    >
                        "Room settings"
                    </button>
                </Show>
                <button
                    class="secondary members-toggle"
                    aria-expanded=move || show_members.get().to_string()
                    aria-controls="members"
                    on:click=move |_| show_members.update(|s| *s = !*s)
                >
                    "Members"
                </button>
            </header>
            <Refused view=view link=link on_leave=on_leave />
            <Gate view=view link=link room=room.clone() had_invite=had_invite on_leave=on_leave />
            <Outdated view=view />
            <MessageList ctx=ctx read_key=read_key />
            <MemberPanel ctx=ctx share=share.clone() />
            <footer class="composer-area">
                <p class="typing" data-testid="typing" aria-live="polite">
                    {move || view.with(|v| typing_text(&v.typing_names(now.get())))}
                </p>
                <Composer ctx=ctx />
            </footer>
            <Show when=move || settings_open.get() && moderates.get()>
                <div id="settings" class="settings-wrap">
                    <SettingsPanel ctx=ctx open=settings_open opener=settings_button />
                </div>
            </Show>
            <ModRefusal view=view />
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
        Link::Waiting { .. } | Link::Refused | Link::Outdated | Link::Removed => "link-state offline",
    };
    let status = move || match link.get() {
        Link::Online => "Online",
        Link::Connecting => "Connecting…",
        Link::Waiting { .. } => "Reconnecting",
        Link::Refused => "Not joined",
        Link::Outdated => "Out of date",
        Link::Removed => "Removed",
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
            <Show when=move || !matches!(link.get(), Link::Online | Link::Outdated | Link::Removed)>
                " · "
                <button class="link" on:click=move |_| ctx.send(Command::RetryNow)>
                    "Retry now"
                </button>
            </Show>
        </span>
    }
}
