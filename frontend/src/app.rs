//! The components. Each reads the [`RoomView`] and [`Link`] signals and sends [`Command`]s;
//! the chat rules live in `state.rs` and the delivery rules in `connection.rs`.
//!
//! Text is always text: messages are rendered as text nodes (never `inner_html`), so
//! `<img onerror=…>` arrives as the characters the author typed.

use crate::browser::{self, now_ms};
use crate::connection::{self, Command, Session};
use crate::engine::Link;
use crate::state::{relative_time, same_group, typing_text, RoomView};
use confab_shared::{ChatMessage, CreatedRoom, ErrorCode, MemberKey, RoomName, UserName};
use futures::channel::mpsc::unbounded;
use leptos::html;
use leptos::prelude::*;
use leptos::task::spawn_local;
use wasm_bindgen::JsCast;

const NAME_KEY: &str = "confab.name";
const RECENT_KEY: &str = "confab.recent";
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
        browser::push_path(&p);
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

/// Start page: pick a name, join or create a room, see recent rooms.
#[component]
fn Home(
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
                let resp = gloo_net::http::Request::post("/api/rooms").send().await.map_err(|e| e.to_string())?;
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

/// One open room: owns the connection task for as long as it is on screen.
#[component]
fn RoomPage(room: String, name: UserName, on_leave: impl Fn() + Copy + Send + Sync + 'static) -> impl IntoView {
    let outbox_key = format!("confab.outbox.{room}");
    let view = RwSignal::new(RoomView::with_outbox(browser::load(&outbox_key).unwrap_or_default()));
    let link = RwSignal::new(Link::Connecting);
    let (tx, rx) = unbounded::<Command>();
    let key = MemberKey::parse(&browser::member_key()).expect("member_key() returns a valid key");
    spawn_local(connection::run(Session { room: room.clone(), name: name.clone(), key, view, link }, rx));
    let commands = StoredValue::new(tx);
    let send = move |c: Command| {
        let _ = commands.with_value(|tx| tx.unbounded_send(c));
    };
    on_cleanup(move || commands.with_value(|tx| tx.close_channel()));

    // The outbox survives a reload: written whenever it changes.
    Effect::new(move |prev: Option<Vec<String>>| {
        let ids: Vec<String> = view.with(|v| v.outbox.iter().map(|p| p.client_id.clone()).collect());
        if prev.as_ref() != Some(&ids) {
            view.with_untracked(|v| browser::save(&outbox_key, &v.outbox));
        }
        ids
    });

    // Reconnect at once when the network or the tab comes back.
    let online = window_event_listener(leptos::ev::online, move |_| send(Command::RetryNow));
    let visible = window_event_listener(leptos::ev::visibilitychange, move |_| {
        if !browser::hidden() {
            send(Command::RetryNow)
        }
    });
    on_cleanup(move || {
        online.remove();
        visible.remove();
    });

    // A clock for typing indicators and retry countdowns.
    let now = RwSignal::new(now_ms());
    if let Ok(h) = set_interval_with_handle(move || now.set(now_ms()), std::time::Duration::from_millis(500)) {
        on_cleanup(move || h.clear());
    }

    // Unread count in the tab title while the tab is hidden.
    let seen_seq = RwSignal::new(0u64);
    let title_room = if room.len() == 64 { "private room".to_owned() } else { room.clone() };
    Effect::new(move |_| {
        now.track();
        let last = view.with(|v| v.last_seq().unwrap_or(0));
        if !browser::hidden() {
            seen_seq.set(last);
        }
        let unread = view.with(|v| v.count_after(seen_seq.get_untracked()));
        browser::set_title(&if unread > 0 {
            format!("({unread}) {title_room} · Confab")
        } else {
            format!("{title_room} · Confab")
        });
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
                <LinkState link=link now=now send=send />
                <button
                    class="secondary members-toggle"
                    aria-expanded=move || show_members.get().to_string()
                    aria-controls="members"
                    on:click=move |_| show_members.update(|s| *s = !*s)
                >
                    "Members"
                </button>
            </header>
            <Refused view=view />
            <MessageList view=view now=now read_key=format!("confab.read.{room}") send=send />
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
                                .map(|m| {
                                    let me = v.me.as_deref() == Some(m.as_str());
                                    view! {
                                        <li class:me=me>
                                            {m.clone()}
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
                <Composer view=view now=now send=send />
            </footer>
        </div>
    }
}

/// "Online", "Connecting…", "Reconnecting in 4 s · Retry now".
#[component]
fn LinkState(
    link: RwSignal<Link>,
    now: RwSignal<u64>,
    send: impl Fn(Command) + Copy + Send + Sync + 'static,
) -> impl IntoView {
    move || {
        let (class, text, retry) = match link.get() {
            Link::Online => ("online", "Online".to_owned(), false),
            Link::Connecting => ("connecting", "Connecting…".to_owned(), false),
            Link::Waiting { retry_at_ms } => {
                let secs = retry_at_ms.saturating_sub(now.get()).div_ceil(1000);
                ("offline", format!("Reconnecting in {secs} s"), true)
            }
            Link::Refused => ("offline", "Not joined".to_owned(), false),
        };
        view! {
            <span class=format!("link-state {class}") data-testid="link-state" role="status">
                <span class="dot" aria-hidden="true"></span>
                {text}
                {retry
                    .then(|| {
                        view! {
                            " · "
                            <button class="link" on:click=move |_| send(Command::RetryNow)>
                                "Retry now"
                            </button>
                        }
                    })}
            </span>
        }
    }
}

/// The join was refused (name taken): say so and offer a way out.
#[component]
fn Refused(view: RwSignal<RoomView>) -> impl IntoView {
    move || {
        view.with(|v| v.fatal.clone()).map(|n| {
            view! {
                <div class="banner" role="alert" data-testid="refused">
                    {n.message}
                    " — pick another name on the start page."
                </div>
            }
        })
    }
}

/// One row of the message list.
#[derive(Clone, PartialEq)]
enum Row {
    Day(String),
    Message {
        m: ChatMessage,
        grouped: bool,
        mine: bool,
    },
    Pending {
        created_ms: u64,
        client_id: String,
        text: String,
    },
    /// "New" marker before the first message from others the user had not read.
    Unread,
}

impl Row {
    fn key(&self) -> String {
        match self {
            Row::Day(d) => format!("d{d}"),
            Row::Message { m, grouped, .. } => format!("m{}{}", m.seq, u8::from(*grouped)),
            Row::Pending { client_id, .. } => format!("p{client_id}"),
            Row::Unread => "unread".to_owned(),
        }
    }
}

fn rows(v: &RoomView, read_up_to: Option<u64>) -> Vec<Row> {
    let mut out = Vec::with_capacity(v.messages.len() + v.outbox.len() + 4);
    let mut prev: Option<&ChatMessage> = None;
    let mut divider = read_up_to;
    for m in v.messages.values() {
        if divider.is_some_and(|r| m.seq > r && v.me.as_deref() != Some(m.author.as_str())) {
            out.push(Row::Unread);
            divider = None;
        }
        let day = day_label(m.ts);
        let new_day = prev.is_none_or(|p| day_label(p.ts) != day);
        if new_day {
            out.push(Row::Day(day));
        }
        let grouped = !new_day && prev.is_some_and(|p| same_group(p, m));
        out.push(Row::Message { m: m.clone(), grouped, mine: v.me.as_deref() == Some(m.author.as_str()) });
        prev = Some(m);
    }
    for p in &v.outbox {
        out.push(Row::Pending { client_id: p.client_id.clone(), text: p.text.clone(), created_ms: p.created_ms });
    }
    out
}

fn date(ts: u64) -> js_sys::Date {
    js_sys::Date::new(&wasm_bindgen::JsValue::from_f64(ts as f64))
}

fn day_label(ts: u64) -> String {
    String::from(date(ts).to_date_string())
}

fn clock(ts: u64) -> String {
    let d = date(ts);
    format!("{:02}:{:02}", d.get_hours(), d.get_minutes())
}

fn full_time(ts: u64) -> String {
    String::from(date(ts).to_string())
}

/// The message list: history paging at the top, stick-to-bottom, a "new messages" pill.
#[component]
fn MessageList(
    view: RwSignal<RoomView>,
    now: RwSignal<u64>,
    read_key: String,
    send: impl Fn(Command) + Copy + Send + Sync + 'static,
) -> impl IntoView {
    // Where the user stopped reading last time: the "new" divider goes after it. It stays put
    // for this visit; what is read now is saved for the next one.
    let read_up_to = browser::load::<u64>(&read_key);
    let read_key = StoredValue::new(read_key);
    let mark_read = move |seq: u64| {
        if seq > 0 && !browser::hidden() {
            read_key.with_value(|k| browser::save(k, &seq));
        }
    };
    let list = NodeRef::<html::Div>::new();
    let at_bottom = RwSignal::new(true);
    let seen = RwSignal::new(0u64);
    // Height and offset before an older page was requested: restored after it lands so the
    // messages on screen stay put.
    let anchor = StoredValue::new(None::<(i32, i32)>);

    let to_bottom = move || {
        if let Some(el) = list.get_untracked() {
            el.set_scroll_top(el.scroll_height());
        }
    };
    Effect::new(move |prev: Option<(Option<u64>, Option<u64>)>| {
        let ends = view.with(|v| (v.oldest_seq(), v.last_seq()));
        let outbox = view.with(|v| v.outbox.len());
        let mine_last =
            view.with(|v| v.messages.values().next_back().is_some_and(|m| v.me.as_deref() == Some(m.author.as_str())));
        let older_loaded = prev.is_some_and(|p| p.0 != ends.0 && p.0.is_some());
        let _ = outbox;
        request_animation_frame(move || {
            let Some(el) = list.get_untracked() else { return };
            if older_loaded {
                if let Some((h, top)) = anchor.get_value() {
                    el.set_scroll_top(top + el.scroll_height() - h);
                }
                anchor.set_value(None);
            } else if at_bottom.get_untracked() || mine_last {
                el.set_scroll_top(el.scroll_height());
                seen.set(ends.1.unwrap_or(0));
                mark_read(ends.1.unwrap_or(0));
            }
        });
        ends
    });

    let on_scroll = move |_| {
        let Some(el) = list.get_untracked() else { return };
        let bottom = el.scroll_height() - el.scroll_top() - el.client_height() < 48;
        at_bottom.set(bottom);
        if bottom {
            let last = view.with_untracked(|v| v.last_seq().unwrap_or(0));
            seen.set(last);
            mark_read(last);
        }
        if el.scroll_top() < 80
            && view.with_untracked(|v| v.has_more && !v.loading_older)
            && anchor.get_value().is_none()
        {
            anchor.set_value(Some((el.scroll_height(), el.scroll_top())));
            send(Command::LoadOlder);
        }
    };
    let unread = move || if at_bottom.get() { 0 } else { view.with(|v| v.count_after(seen.get())) };

    view! {
        <div class="messages-wrap">
            <div
                class="messages"
                node_ref=list
                on:scroll=on_scroll
                role="log"
                aria-live="polite"
                aria-label="Messages"
                data-testid="messages"
                tabindex="0"
            >
                <p class="history-state">
                    {move || {
                        view.with(|v| {
                            if v.loading_older {
                                "Loading older messages…"
                            } else if v.has_more {
                                "Scroll up for older messages"
                            } else if v.me.is_some() {
                                "This is the start of the room."
                            } else {
                                ""
                            }
                        })
                    }}
                </p>
                <For
                    each=move || view.with(|v| rows(v, read_up_to))
                    key=Row::key
                    children=move |row| render_row(row, now, move || send(Command::RetryNow))
                />
            </div>
            <Show when=move || { unread() > 0 }>
                <button class="pill" data-testid="new-pill" on:click=move |_| to_bottom()>
                    {move || {
                        let n = unread();
                        if n == 1 { "1 new message ↓".to_owned() } else { format!("{n} new messages ↓") }
                    }}
                </button>
            </Show>
        </div>
    }
}

/// How long a message may stay unsent before the page says so and offers to retry.
const SLOW_SEND_MS: u64 = 10_000;

fn render_row(row: Row, now: RwSignal<u64>, retry: impl Fn() + Copy + Send + Sync + 'static) -> AnyView {
    match row {
        Row::Unread => view! {
            <div class="day unread" role="separator" data-testid="unread-divider"><span>"New"</span></div>
        }
        .into_any(),
        Row::Day(d) => view! { <div class="day" role="separator"><span>{d}</span></div> }.into_any(),
        Row::Message { m, grouped, mine } => view! {
            <article class="msg" class:grouped=grouped class:mine=mine data-testid="message" data-seq=m.seq>
                {(!grouped)
                    .then(|| {
                        view! {
                            <header>
                                <span class="author">{m.author.clone()}</span>
                                <time title=full_time(m.ts)>
                                    {move || relative_time(m.ts, now.get()).unwrap_or_else(|| clock(m.ts))}
                                </time>
                            </header>
                        }
                    })}
                <p class="text">{linkify(&m.text)}</p>
            </article>
        }
        .into_any(),
        Row::Pending { client_id, text, created_ms } => view! {
            <article class="msg mine pending" data-testid="pending" data-client-id=client_id>
                <p class="text">{text}</p>
                <span class="status">
                    {move || {
                        if now.get().saturating_sub(created_ms) < SLOW_SEND_MS {
                            view! { "sending…" }.into_any()
                        } else {
                            // Still in the outbox and sent by itself once the connection is back;
                            // the button only skips the reconnect wait.
                            view! {
                                "not sent yet — it goes out when the connection is back · "
                                <button class="link" on:click=move |_| retry()>
                                    "Retry now"
                                </button>
                            }
                            .into_any()
                        }
                    }}
                </span>
            </article>
        }
        .into_any(),
    }
}

/// Text with `http(s)://` links made clickable. Everything stays a text node or an `<a>`
/// whose href is one of those links: nothing the author typed becomes markup.
fn linkify(text: &str) -> Vec<AnyView> {
    let mut out = Vec::new();
    let mut rest = text;
    while let Some(start) = rest.find("http://").into_iter().chain(rest.find("https://")).min() {
        let (before, from) = rest.split_at(start);
        let end = from.find(|c: char| c.is_whitespace() || c == '<' || c == '>' || c == '"').unwrap_or(from.len());
        let (url, after) = from.split_at(end);
        if !before.is_empty() {
            out.push(before.to_owned().into_any());
        }
        let (href, label) = (url.to_owned(), url.to_owned());
        out.push(view! { <a href=href target="_blank" rel="noopener noreferrer">{label}</a> }.into_any());
        rest = after;
    }
    if !rest.is_empty() {
        out.push(rest.to_owned().into_any());
    }
    out
}

/// The composer: Enter sends, Shift+Enter adds a line.
#[component]
fn Composer(
    view: RwSignal<RoomView>,
    now: RwSignal<u64>,
    send: impl Fn(Command) + Copy + Send + Sync + 'static,
) -> impl IntoView {
    let draft = RwSignal::new(String::new());
    let local_error = RwSignal::new(None::<String>);
    let input = NodeRef::<html::Textarea>::new();
    let max = confab_shared::limits::TEXT_MAX_CHARS;

    let submit = move || {
        let text = draft.get_untracked();
        if text.trim().is_empty() {
            return;
        }
        match confab_shared::MessageText::parse(&text) {
            Ok(_) => {
                draft.set(String::new());
                local_error.set(None);
                send(Command::Send(browser::random_hex(16), text));
            }
            Err(e) => local_error.set(Some(e.message)),
        }
    };
    let notice = move || {
        if let Some(e) = local_error.get() {
            return Some(e);
        }
        view.with(|v| v.notice.clone()).and_then(|n| match (n.code, n.retry_at_ms) {
            (ErrorCode::RateLimited, Some(at)) => {
                let left = at.saturating_sub(now.get());
                (left > 0).then(|| format!("Sending too fast: retrying in {:.1} s", left as f64 / 1000.0))
            }
            _ => Some(n.message),
        })
    };

    view! {
        <form
            class="composer"
            on:submit=move |ev| {
                ev.prevent_default();
                submit();
            }
        >
            <label for="composer" class="visually-hidden">"Message"</label>
            <textarea
                id="composer"
                node_ref=input
                data-testid="composer"
                rows="1"
                placeholder="Write a message…  (Enter sends, Shift+Enter adds a line)"
                prop:value=move || draft.get()
                on:input=move |ev| {
                    draft.set(event_target_value(&ev));
                    local_error.set(None);
                    send(Command::Typing);
                }
                on:keydown=move |ev: leptos::ev::KeyboardEvent| {
                    if ev.key() == "Enter" && !ev.shift_key() && !ev.is_composing() {
                        ev.prevent_default();
                        submit();
                    }
                }
            ></textarea>
            <button type="submit" data-testid="send" aria-label="Send">"Send"</button>
            <span class="counter" aria-live="polite">
                {move || {
                    let n = draft.with(|d| d.chars().count());
                    (n + 200 > max).then(|| format!("{n} / {max}"))
                }}
            </span>
            <p class="notice" role="alert" data-testid="notice">{notice}</p>
        </form>
    }
}

/// Component tests in headless Chromium (`wasm-bindgen-test`): the components render what
/// the view holds, as text, with the structure screen readers and the e2e tests rely on.
#[cfg(test)]
mod browser_tests {
    use super::*;
    use wasm_bindgen_test::*;

    wasm_bindgen_test_configure!(run_in_browser);

    /// Mounts `f` into a fresh element and returns it (the mount handle is kept alive).
    fn mount<V: IntoView + 'static>(f: impl FnOnce() -> V + 'static) -> web_sys::HtmlElement {
        let document = web_sys::window().and_then(|w| w.document()).expect("a document");
        let host: web_sys::HtmlElement = document.create_element("div").expect("a div").unchecked_into();
        document.body().expect("a body").append_child(&host).expect("attached");
        std::mem::forget(leptos::mount::mount_to(host.clone(), f));
        host
    }

    fn msg(seq: u64, author: &str, text: &str, ts: u64) -> ChatMessage {
        ChatMessage { seq, client_id: format!("c{seq}"), author: author.into(), text: text.into(), ts }
    }

    fn view_with(messages: Vec<ChatMessage>) -> RwSignal<RoomView> {
        let mut v = RoomView::default();
        v.apply(
            confab_shared::ServerFrame::Welcome {
                you: "alice".into(),
                room: "lobby".into(),
                members: vec!["alice".into(), "bob".into()],
                latest_seq: messages.last().map_or(0, |m| m.seq),
                messages,
                has_more: false,
                limits: confab_shared::Limits::default(),
            },
            0,
        );
        RwSignal::new(v)
    }

    #[wasm_bindgen_test]
    fn markup_in_a_message_is_text() {
        let evil = "<img src=x onerror=alert(1)><script>alert(2)</script>";
        let now = RwSignal::new(0u64);
        let host = mount(move || {
            render_row(Row::Message { m: msg(1, "bob", evil, 0), grouped: false, mine: false }, now, || {})
        });
        assert_eq!(host.query_selector_all("img, script").expect("a query").length(), 0);
        let text = host.query_selector(".text").expect("a query").expect("a .text").text_content();
        assert_eq!(text.as_deref(), Some(evil));
    }

    #[wasm_bindgen_test]
    fn only_http_links_become_links_and_open_safely() {
        let now = RwSignal::new(0u64);
        let text = "see https://example.com/a?b=1 and javascript:alert(1) or http://x.test";
        let host = mount(move || {
            render_row(Row::Message { m: msg(1, "bob", text, 0), grouped: false, mine: false }, now, || {})
        });
        let links = host.query_selector_all("a").expect("a query");
        assert_eq!(links.length(), 2);
        for i in 0..links.length() {
            let a: web_sys::Element = links.item(i).expect("a link").unchecked_into();
            let href = a.get_attribute("href").unwrap_or_default();
            assert!(href.starts_with("http"), "{href}");
            assert!(a.get_attribute("rel").unwrap_or_default().contains("noopener"));
            assert_eq!(a.get_attribute("target").as_deref(), Some("_blank"));
        }
        assert_eq!(host.query_selector(".text").ok().flatten().and_then(|e| e.text_content()).as_deref(), Some(text));
    }

    #[wasm_bindgen_test]
    fn the_list_groups_by_author_marks_mine_and_is_a_polite_log() {
        let day = 1_764_201_600_000; // one day, a minute apart
        let view = view_with(vec![
            msg(1, "bob", "one", day),
            msg(2, "bob", "two", day + 60_000),
            msg(3, "alice", "three", day + 120_000),
            msg(4, "bob", "four", day + 86_400_000),
        ]);
        let now = RwSignal::new(day + 86_400_000);
        let host =
            mount(move || view! { <MessageList view=view now=now read_key="test.read".to_owned() send=|_| {} /> });
        let log = host.query_selector("[role=log]").expect("a query").expect("a log");
        assert_eq!(log.get_attribute("aria-live").as_deref(), Some("polite"));
        assert_eq!(host.query_selector_all("[data-testid=message]").expect("a query").length(), 4);
        assert_eq!(host.query_selector_all(".msg.grouped").expect("a query").length(), 1, "bob's second message");
        assert_eq!(host.query_selector_all(".msg.mine").expect("a query").length(), 1);
        assert_eq!(host.query_selector_all(".day").expect("a query").length(), 2, "two days, two separators");
        let author = host.query_selector(".msg .author").ok().flatten().and_then(|e| e.text_content());
        assert_eq!(author.as_deref(), Some("bob"));
    }

    #[wasm_bindgen_test]
    fn pending_messages_show_as_sending() {
        let view = view_with(vec![]);
        view.update(|v| v.queue("p1".into(), "on its way".into(), 0));
        let now = RwSignal::new(0u64);
        let host =
            mount(move || view! { <MessageList view=view now=now read_key="test.read2".to_owned() send=|_| {} /> });
        let pending = host.query_selector("[data-testid=pending]").expect("a query").expect("a pending row");
        assert!(pending.text_content().unwrap_or_default().contains("sending…"));
    }
}
