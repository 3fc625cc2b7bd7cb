//! The sidebar (issue 11): the person's rooms from their inbox, each with its unread count
//! and a mention badge, live while another room is open; the open room highlighted; a click
//! opens a room in this page; the open room's notification level and the button that asks
//! for desktop notifications below. On narrow screens it is a drawer opened from the room's header.
//! The order and the counts are `inbox.rs`'s; this file only shows them.

use crate::browser;
use crate::engine::Link;
use crate::inbox::{for_you, room_label, room_title};
use crate::inbox_driver::{InboxCommand, InboxCtx};
use confab_shared::inbox::{Level, RoomCounts};
use leptos::prelude::*;

/// A count as shown: exact up to 9,999 (the inbox's cap), then "9,999+".
fn shown(n: u32) -> String {
    if n >= 9_999 {
        "9,999+".to_owned()
    } else {
        n.to_string()
    }
}

/// The person's rooms. `current`: the room on screen, if any.
#[component]
pub fn RoomSidebar(current: Signal<Option<String>>) -> impl IntoView {
    let inbox = expect_context::<InboxCtx>();
    let rooms = Memo::new(move |_| inbox.sidebar.with(|s| s.sorted().into_iter().cloned().collect::<Vec<_>>()));
    let loaded = move || inbox.sidebar.with(|s| s.loaded);
    let offline = move || matches!(inbox.link.get(), Link::Waiting { .. });
    let refused = move || inbox.link.get() == Link::Removed;
    let row = move |r: RoomCounts| {
        let room = r.room.clone();
        let href = format!("/r/{room}");
        let is_current = {
            let room = room.clone();
            move || current.with(|c| c.as_deref() == Some(room.as_str()))
        };
        let is_current2 = is_current.clone();
        let label = room_title(&r.room, Some(&r));
        let dm = r.dm;
        let unread = r.unread;
        // A direct message shows one red count (every unread post there is for you); a room
        // its mentions ("@2") beside its unread count.
        let mentions = for_you(&r);
        let unread_badge = if dm { 0 } else { unread };
        let described = match (unread, mentions) {
            (0, _) => String::new(),
            (u, _) if dm => format!("{} unread", shown(u)),
            (u, 0) => format!("{} unread", shown(u)),
            (u, m) => format!("{} unread, {} mentioning you", shown(u), shown(m)),
        };
        let open = move |ev: leptos::ev::MouseEvent| {
            // A plain click stays in this page (the drafts and the inbox socket with it); a
            // click with a modifier opens a new tab as any link does.
            if ev.ctrl_key() || ev.meta_key() || ev.shift_key() || ev.button() != 0 {
                return;
            }
            ev.prevent_default();
            inbox.drawer.set(false);
            browser::navigate(&format!("/r/{room}"));
        };
        view! {
            <li class:unread={unread > 0} class:current=is_current class:dm=dm data-testid="sidebar-room">
                <a
                    href=href
                    on:click=open
                    aria-current=move || if is_current2() { Some("page") } else { None }
                    aria-description=described
                >
                    {dm.then(|| view! { <span class="visually-hidden">"Direct message with "</span> })}
                    <span class="name" dir="auto">{label}</span>
                    <Show when=move || { mentions > 0 }>
                        <span class="badge mention" aria-hidden="true" data-testid="mention-badge">
                            {if dm { shown(mentions) } else { format!("@{}", shown(mentions)) }}
                        </span>
                    </Show>
                    <Show when=move || { unread_badge > 0 }>
                        <span class="badge unread-count" aria-hidden="true" data-testid="unread-count">
                            {shown(unread)}
                        </span>
                    </Show>
                </a>
            </li>
        }
    };
    // The drawer opened (narrow screens): the keyboard goes into it; Escape closes it.
    Effect::new(move |_| {
        if inbox.drawer.get() {
            request_animation_frame(|| browser::focus_first("#sidebar a, #sidebar button"));
        }
    });
    let on_key = move |ev: leptos::ev::KeyboardEvent| {
        if ev.key() == "Escape" && inbox.drawer.get_untracked() {
            inbox.drawer.set(false);
            browser::focus_first("[data-testid=rooms-toggle]");
        }
    };
    view! {
        <nav
            id="sidebar"
            class="sidebar"
            on:keydown=on_key
            class:open=move || inbox.drawer.get()
            aria-label="Your rooms"
            data-testid="sidebar"
        >
            <div class="sidebar-head">
                <h2>"Your rooms"</h2>
                <button class="link drawer-close" on:click=move |_| inbox.drawer.set(false) aria-label="Close the list of rooms">
                    "×"
                </button>
            </div>
            <Show when=offline>
                <p class="muted small" role="status">"Counts paused: reconnecting…"</p>
            </Show>
            {move || {
                inbox.sidebar.with(|s| s.refusal.clone()).map(|m| view! { <p class="muted small" role="alert">{m}</p> })
            }}
            <Show when=refused>
                <p class="muted small" role="status">"Your rooms cannot be listed: this browser's key was refused."</p>
            </Show>
            <Show when=loaded fallback=|| view! { <p class="muted small">"Loading your rooms…"</p> }>
                <ul>
                    <For each=move || rooms.get() key=|r| (r.room.clone(), r.unread, r.mentions, r.dm) children=row />
                </ul>
                <Show when=move || rooms.with(|r| r.is_empty())>
                    <p class="muted small">"Rooms you join appear here."</p>
                </Show>
            </Show>
            <LevelSetting current=current />
            <NotificationsButton />
            <super::device::DeviceLink />
        </nav>
        <Show when=move || inbox.drawer.get()>
            <div class="drawer-scrim" on:click=move |_| inbox.drawer.set(false) aria-hidden="true"></div>
        </Show>
    }
}

/// The open room's notification level: every message, mentions (the default in rooms), or
/// nothing.
#[component]
fn LevelSetting(current: Signal<Option<String>>) -> impl IntoView {
    let inbox = expect_context::<InboxCtx>();
    let level = Memo::new(move |_| {
        current.with(|c| c.as_deref().and_then(|c| inbox.sidebar.with(|s| s.room(c).map(|r| r.level))))
    });
    let change = move |ev: leptos::ev::Event| {
        let level = match event_target_value(&ev).as_str() {
            "all" => Level::All,
            "nothing" => Level::Nothing,
            _ => Level::Mentions,
        };
        if let Some(room) = current.get_untracked() {
            inbox.send(InboxCommand::Level(room, level));
        }
    };
    view! {
        <Show when=move || level.get().is_some()>
            <label class="level-setting small">
                {move || {
                    current.get().map(|r| {
                        let dm = inbox.sidebar.with(|s| s.room(&r).is_some_and(|c| c.dm));
                        format!("Notify me in {} of", room_label(&r, dm))
                    })
                }}
                <select on:change=change data-testid="level">
                    <option value="all" selected=move || level.get() == Some(Level::All)>
                        "every message"
                    </option>
                    <option value="mentions" selected=move || level.get() == Some(Level::Mentions)>
                        "mentions"
                    </option>
                    <option value="nothing" selected=move || level.get() == Some(Level::Nothing)>
                        "nothing"
                    </option>
                </select>
            </label>
        </Show>
    }
}

/// "Enable notifications": asks the browser's permission on the person's click, never on
/// load; hidden once granted, or where the browser has no notifications.
#[component]
fn NotificationsButton() -> impl IntoView {
    let inbox = expect_context::<InboxCtx>();
    let supported = browser::notifications_supported();
    let denied = RwSignal::new(false);
    let ask = move |_| {
        browser::ask_notifications(move |granted| {
            inbox.allowed.set(granted);
            denied.set(!granted);
        });
    };
    view! {
        <Show when=move || supported && !inbox.allowed.get()>
            <div class="notify-setting">
                <button class="secondary" on:click=ask data-testid="enable-notifications">
                    "Enable notifications"
                </button>
                <Show when=move || denied.get()>
                    <p class="muted small">"Notifications are blocked for this site in the browser's settings."</p>
                </Show>
            </div>
        </Show>
    }
}
