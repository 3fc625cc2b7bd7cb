//! The shell: the start page, or a room at `/r/{room}`. Everything else is in `ui/`.

use crate::browser;
use crate::inbox_driver::{InboxCommand, InboxCtx};
use crate::state::RoomView;
use crate::ui::home::{Home, NAME_KEY, RECENT_KEY};
use crate::ui::room::RoomPage;
use crate::ui::sidebar::RoomSidebar;
use crate::views::Recent;
use confab_shared::{RoomName, UserName};
use leptos::prelude::*;

const RECENT_MAX: usize = 8;

/// The views of the rooms this page left (see `views.rs`), provided by the shell.
#[derive(Clone, Copy)]
pub struct KeptViews(pub StoredValue<Recent<RoomView>, LocalStorage>);

/// The whole page: the start page, or a room at `/r/{room}`.
#[component]
pub fn App() -> impl IntoView {
    // A device link (`/#me={key}`): the key leaves the address bar (and the history) at once,
    // and the person is asked before this browser becomes that person: a link anyone can post
    // must not swap a reader's identity by a click.
    let adopting = RwSignal::new(None::<confab_shared::MemberKey>);
    if let Some(key) = crate::device::key_from_hash(&browser::hash()) {
        browser::replace_url(&format!("{}{}", browser::path(), browser::search()));
        if browser::stored_key().as_deref() != Some(key.as_str()) {
            adopting.set(Some(key));
        }
    }
    // Another tab switched this browser's identity: this one follows (a page must never speak
    // with one key to its rooms and another to its inbox).
    let key_changed = window_event_listener(leptos::ev::storage, move |e: web_sys::StorageEvent| {
        // A switch, not a first key made by a tab opened at the same time.
        if e.key().as_deref() == Some("confab.key") && e.old_value().is_some() && e.old_value() != e.new_value() {
            browser::reload();
        }
    });
    on_cleanup(move || key_changed.remove());
    let path = RwSignal::new(browser::path());
    let name = RwSignal::new(browser::load::<String>(NAME_KEY).unwrap_or_default());
    // Only a new path re-renders: a fragment (a notification's `#m42`) is the room's to follow.
    let handle = window_event_listener(leptos::ev::popstate, move |_| {
        let p = browser::path();
        if path.get_untracked() != p {
            path.set(p);
        }
    });
    on_cleanup(move || handle.remove());
    // One inbox socket for the page's whole life from the first room opened on, beside
    // whichever room is open (issue 11).
    let inbox = InboxCtx::new();
    provide_context(inbox);
    // The rooms left, kept so that coming back resumes instead of loading them again.
    provide_context(KeptViews(StoredValue::new_local(Recent::new(crate::views::KEPT))));
    // What waits in the person's rooms, on the tab's icon (the title says it in the room).
    Effect::new(move |prev: Option<u32>| {
        let n = inbox.sidebar.with(|s| s.waiting(None));
        if prev != Some(n) {
            browser::set_favicon(&crate::inbox::favicon(n));
        }
        n
    });
    // Back online, or the tab shown again: a waiting inbox socket reconnects now.
    let online = window_event_listener(leptos::ev::online, move |_| inbox.send(InboxCommand::Wake));
    let visible = window_event_listener(leptos::ev::visibilitychange, move |_| {
        if !browser::hidden() {
            inbox.send(InboxCommand::Wake);
            // Allowed (or blocked) meanwhile, from another tab or the browser's settings.
            let allowed = browser::notifications_allowed();
            if inbox.allowed.get_untracked() != allowed {
                inbox.allowed.set(allowed);
            }
        }
    });
    on_cleanup(move || {
        online.remove();
        visible.remove();
    });
    let current = Signal::derive(move || {
        path.with(|p| p.strip_prefix("/r/").and_then(|r| RoomName::parse(r).ok()).map(|r| r.as_str().to_owned()))
    });

    let open_room = move |room: String| {
        let mut recent: Vec<String> = browser::load(RECENT_KEY).unwrap_or_default();
        recent.retain(|r| r != &room);
        recent.insert(0, room.clone());
        recent.truncate(RECENT_MAX);
        browser::save(RECENT_KEY, &recent);
        let p = format!("/r/{room}");
        // Opened from an invite link before a name was chosen: the invite comes along.
        let query = if browser::path() == p { browser::search() } else { String::new() };
        browser::push_path(&format!("{p}{query}"));
        path.set(p);
    };
    let go_home = move || {
        browser::push_path("/");
        path.set("/".into());
    };

    move || {
        if let Some(key) = adopting.get() {
            return view! { <crate::ui::device::AdoptIdentity key=key done=move || adopting.set(None) /> }.into_any();
        }
        let p = path.get();
        let room = p.strip_prefix("/r/").and_then(|r| RoomName::parse(r).ok());
        let who = UserName::parse(&name.get()).ok();
        match (room, who) {
            (Some(room), Some(who)) => {
                // The inbox connects once the room has welcomed us (see `RoomPage`).
                view! {
                    <div class="shell">
                        <RoomSidebar current=current />
                        <RoomPage room=room.as_str().to_owned() name=who on_leave=go_home />
                    </div>
                }
                .into_any()
            }
            (room, _) => view! {
                <Home
                    name=name
                    initial_room=room.map(|r| r.as_str().to_owned()).unwrap_or_default()
                    on_open=open_room
                />
            }
            .into_any(),
        }
    }
}
