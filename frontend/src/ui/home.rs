//! The start page: pick a name, join or create a room, see recent rooms. A private room is
//! created with this browser's member key, so the room knows its owner before anyone joins.

use crate::browser;
use confab_shared::api::CreateRoom;
use confab_shared::{CreatedRoom, RoomName, UserName};
use leptos::prelude::*;
use leptos::task::spawn_local;

/// Where the chosen name is remembered.
pub const NAME_KEY: &str = "confab.name";
/// Where recently opened rooms are remembered.
pub const RECENT_KEY: &str = "confab.recent";

/// Start page: pick a name, join or create a room, see recent rooms.
#[component]
pub fn Home(
    name: RwSignal<String>,
    initial_room: String,
    on_open: impl Fn(String) + Copy + Send + Sync + 'static,
) -> impl IntoView {
    browser::set_title("Confab");
    let draft_name = RwSignal::new(name.get_untracked());
    let room = RwSignal::new(if initial_room.is_empty() { "lobby".to_owned() } else { initial_room });
    let error = RwSignal::new(None::<String>);
    let recent: Vec<String> = browser::load(RECENT_KEY).unwrap_or_default();

    // Validates the name with the room's own rules and remembers it.
    let accept_name = move || match UserName::parse(&draft_name.get_untracked()) {
        Ok(n) => {
            browser::save(NAME_KEY, &n.as_str());
            Some(n)
        }
        Err(e) => {
            error.set(Some(e.message));
            None
        }
    };
    let join = move || {
        if accept_name().is_none() {
            return;
        }
        let typed = room.get_untracked().trim().to_lowercase().replace(' ', "-");
        match RoomName::parse(&typed) {
            Ok(r) => {
                name.set(draft_name.get_untracked().trim().to_owned());
                on_open(r.as_str().to_owned());
            }
            Err(e) => error.set(Some(e.message)),
        }
    };
    let create = move |_| {
        if accept_name().is_none() {
            return;
        }
        spawn_local(async move {
            let created = async {
                // The key we will join with: the first join with it owns the room.
                let body = CreateRoom { key: Some(browser::member_key()) };
                let resp = gloo_net::http::Request::post("/api/rooms")
                    .json(&body)
                    .map_err(|e| e.to_string())?
                    .send()
                    .await
                    .map_err(|e| e.to_string())?;
                if !resp.ok() {
                    return Err(format!("the server answered {}", resp.status()));
                }
                resp.json::<CreatedRoom>().await.map_err(|e| e.to_string())
            };
            match created.await {
                Ok(c) => {
                    name.set(draft_name.get_untracked().trim().to_owned());
                    on_open(c.room);
                }
                Err(e) => error.set(Some(format!("Could not create a room: {e}"))),
            }
        });
    };

    view! {
        <main class="home">
            <h1>"Confab"</h1>
            <p class="tagline">"Chat rooms that remember."</p>
            <form
                class="card"
                on:submit=move |ev| {
                    ev.prevent_default();
                    join();
                }
            >
                <label for="name">"Your name"</label>
                <input
                    id="name"
                    data-testid="name"
                    autocomplete="nickname"
                    maxlength="64"
                    prop:value=move || draft_name.get()
                    on:input=move |ev| {
                        error.set(None);
                        draft_name.set(event_target_value(&ev));
                    }
                />
                <label for="room">"Room"</label>
                <input
                    id="room"
                    data-testid="room"
                    maxlength="64"
                    prop:value=move || room.get()
                    on:input=move |ev| {
                        error.set(None);
                        room.set(event_target_value(&ev));
                    }
                />
                <div class="actions">
                    <button type="submit" data-testid="join">"Join room"</button>
                    <button type="button" class="secondary" data-testid="create" on:click=create>
                        "Create private room"
                    </button>
                </div>
                <p class="error" role="alert" data-testid="home-error">{move || error.get()}</p>
            </form>
            <Show when={
                let empty = recent.is_empty();
                move || !empty
            }>
                <section class="card recent" aria-label="Recent rooms">
                    <h2>"Recent rooms"</h2>
                    <ul>
                        {recent
                            .iter()
                            .map(|r| {
                                let r = r.clone();
                                let label = if r.len() == 64 { format!("private {}…", &r[..8]) } else { r.clone() };
                                view! {
                                    <li>
                                        <button
                                            class="link"
                                            on:click=move |_| {
                                                if accept_name().is_some() {
                                                    name.set(draft_name.get_untracked().trim().to_owned());
                                                    on_open(r.clone());
                                                }
                                            }
                                        >
                                            {label}
                                        </button>
                                    </li>
                                }
                            })
                            .collect_view()}
                    </ul>
                </section>
            </Show>
        </main>
    }
}
