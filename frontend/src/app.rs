//! The shell: the start page, or a room at `/r/{room}`. Everything else is in `ui/`.

use crate::browser;
use crate::ui::home::{Home, NAME_KEY, RECENT_KEY};
use crate::ui::room::RoomPage;
use confab_shared::{RoomName, UserName};
use leptos::prelude::*;

const RECENT_MAX: usize = 8;

/// The whole page: the start page, or a room at `/r/{room}`.
#[component]
pub fn App() -> impl IntoView {
    let path = RwSignal::new(browser::path());
    let name = RwSignal::new(browser::load::<String>(NAME_KEY).unwrap_or_default());
    let handle = window_event_listener(leptos::ev::popstate, move |_| path.set(browser::path()));
    on_cleanup(move || handle.remove());

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
        let p = path.get();
        let room = p.strip_prefix("/r/").and_then(|r| RoomName::parse(r).ok());
        let who = UserName::parse(&name.get()).ok();
        match (room, who) {
            (Some(room), Some(who)) => {
                view! { <RoomPage room=room.as_str().to_owned() name=who on_leave=go_home /> }.into_any()
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
