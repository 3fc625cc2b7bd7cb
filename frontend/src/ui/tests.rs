//! Component tests in headless Chromium (`wasm-bindgen-test`): the components render what
//! the view holds, as text, with the structure screen readers and the e2e tests rely on.

use super::composer::{enter_sends, Composer};
use super::message_list::{render_row, MessageList, SLOW_SEND_MS};
use super::room::{LinkState, RoomCtx};
use crate::engine::Link;
use crate::rows::Row;
use crate::state::RoomView;
use confab_shared::{ChatMessage, ServerFrame};
use leptos::prelude::*;
use wasm_bindgen::JsCast;
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

/// Lets effects and animation frames run.
async fn settle() {
    for _ in 0..3 {
        let p = js_sys::Promise::new(&mut |resolve, _| {
            web_sys::window().expect("a window").request_animation_frame(&resolve).expect("a frame");
        });
        let _ = wasm_bindgen_futures::JsFuture::from(p).await;
    }
}

fn text_of(host: &web_sys::HtmlElement, selector: &str) -> String {
    host.query_selector(selector).ok().flatten().and_then(|e| e.text_content()).unwrap_or_default()
}

fn msg(seq: u64, author: &str, text: &str, ts: u64) -> ChatMessage {
    ChatMessage { seq, client_id: format!("c{seq}"), author: author.into(), text: text.into(), ts }
}

fn view_with(messages: Vec<ChatMessage>) -> RwSignal<RoomView> {
    let mut v = RoomView::default();
    v.apply(crate::fixtures::welcome(messages, &["alice", "bob"], false), 0);
    RwSignal::new(v)
}

fn ctx(view: RwSignal<RoomView>, now: u64) -> RoomCtx {
    let (ctx, rx) = RoomCtx::detached(view, now);
    std::mem::forget(rx);
    ctx
}

#[wasm_bindgen_test]
fn markup_in_a_message_is_text() {
    let evil = "<img src=x onerror=alert(1)><script>alert(2)</script>";
    let c = ctx(view_with(vec![]), 0);
    let host = mount(move || render_row(Row::Message { m: msg(1, "bob", evil, 0), grouped: false, mine: false }, c));
    assert_eq!(host.query_selector_all("img, script").expect("a query").length(), 0);
    assert_eq!(text_of(&host, ".text"), evil);
    let p = host.query_selector(".text").ok().flatten().expect("a .text");
    assert_eq!(p.get_attribute("dir").as_deref(), Some("auto"), "right-to-left messages lay out right to left");
}

#[wasm_bindgen_test]
fn only_http_links_become_links_and_open_safely() {
    let text = "see https://example.com/a?b=1 and javascript:alert(1) or http://x.test";
    let c = ctx(view_with(vec![]), 0);
    let host = mount(move || render_row(Row::Message { m: msg(1, "bob", text, 0), grouped: false, mine: false }, c));
    let links = host.query_selector_all("a").expect("a query");
    assert_eq!(links.length(), 2);
    for i in 0..links.length() {
        let a: web_sys::Element = links.item(i).expect("a link").unchecked_into();
        let href = a.get_attribute("href").unwrap_or_default();
        assert!(href.starts_with("http"), "{href}");
        assert!(a.get_attribute("rel").unwrap_or_default().contains("noopener"));
        assert_eq!(a.get_attribute("target").as_deref(), Some("_blank"));
    }
    assert_eq!(text_of(&host, ".text"), text);
}

#[wasm_bindgen_test]
async fn the_list_groups_by_author_marks_mine_and_is_not_itself_live() {
    let day = 1_764_201_600_000; // one day, a minute apart
    let view = view_with(vec![
        msg(1, "bob", "one", day),
        msg(2, "bob", "two", day + 60_000),
        msg(3, "alice", "three", day + 120_000),
        msg(4, "bob", "four", day + 86_400_000),
    ]);
    let c = ctx(view, day + 86_400_000);
    let host = mount(move || view! { <MessageList ctx=c read_key="test.read".to_owned() /> });
    settle().await;
    let list = host.query_selector("[data-testid=messages]").expect("a query").expect("a list");
    assert_eq!(list.get_attribute("aria-live"), None, "history pages and updates are not read out");
    assert_ne!(list.get_attribute("role").as_deref(), Some("log"), "role=log is implicitly live");
    assert_eq!(host.query_selector_all("[data-testid=message]").expect("a query").length(), 4);
    assert_eq!(host.query_selector_all(".msg.grouped").expect("a query").length(), 1, "bob's second message");
    assert!(
        text_of(&host, ".msg.grouped").contains("bob"),
        "a grouped message still names its author to a screen reader"
    );
    assert_eq!(host.query_selector_all(".msg.mine").expect("a query").length(), 1);
    assert_eq!(host.query_selector_all(".day").expect("a query").length(), 2, "two days, two separators");
    assert_eq!(text_of(&host, ".msg .author"), "bob");
}

#[wasm_bindgen_test]
async fn only_new_messages_from_others_are_announced_and_times_do_not_churn() {
    let t0 = 1_764_201_600_000;
    let view = view_with(vec![msg(1, "bob", "old news", t0)]);
    let c = ctx(view, t0);
    let host = mount(move || view! { <MessageList ctx=c read_key="test.read3".to_owned() /> });
    settle().await;
    assert_eq!(text_of(&host, "[data-testid=announcer]"), "", "the welcome is not announced");
    let time_before = text_of(&host, ".msg time");
    view.update(|v| {
        v.apply(ServerFrame::Message(msg(2, "alice", "mine", t0 + 1_000)), t0);
    });
    settle().await;
    assert_eq!(text_of(&host, "[data-testid=announcer]"), "", "our own message is not announced");
    view.update(|v| {
        v.apply(ServerFrame::Message(msg(3, "bob", "hello there", t0 + 2_000)), t0);
    });
    c.now.set(t0 + 5 * 60_000);
    settle().await;
    assert_eq!(text_of(&host, "[data-testid=announcer]"), "bob: hello there");
    assert_eq!(text_of(&host, ".msg time"), time_before, "five minutes later the time reads the same");
    let time = host.query_selector(".msg time").ok().flatten().expect("a time");
    assert!(time.get_attribute("datetime").is_some_and(|d| d.ends_with('Z')));
}

#[wasm_bindgen_test]
async fn a_slow_pending_message_says_why_and_can_be_retried_edited_or_deleted() {
    let view = view_with(vec![]);
    view.update(|v| v.queue("p1".into(), "on its way".into(), 0));
    let (c, mut rx) = RoomCtx::detached(view, 0);
    let host = mount(move || view! { <MessageList ctx=c read_key="test.read2".to_owned() /> });
    settle().await;
    assert!(text_of(&host, "[data-testid=pending]").contains("sending…"));
    // Past SLOW_SEND_MS, worded by the link state, with Retry now.
    c.link.set(Link::Waiting { retry_at_ms: SLOW_SEND_MS + 5_000 });
    c.now.set(SLOW_SEND_MS + 1);
    settle().await;
    let status = text_of(&host, "[data-testid=pending]");
    assert!(status.contains("not sent yet — it goes out when the connection is back"), "{status}");
    let retry: web_sys::HtmlElement = host
        .query_selector("[data-testid=pending] button")
        .ok()
        .flatten()
        .expect("a Retry now button")
        .unchecked_into();
    assert_eq!(retry.text_content().as_deref(), Some("Retry now"));
    retry.click();
    assert_eq!(rx.try_recv().ok(), Some(crate::connection::Command::RetryNow));
    c.link.set(Link::Refused);
    settle().await;
    assert!(text_of(&host, "[data-testid=pending]").contains("could not join"));
    // Edit: back into the composer, out of the outbox.
    let edit: web_sys::HtmlElement =
        host.query_selector("[data-testid=edit-pending]").ok().flatten().expect("Edit").unchecked_into();
    edit.click();
    assert_eq!(c.draft.get_untracked(), "on its way");
    assert!(view.with_untracked(|v| v.outbox.is_empty()));
    // Delete.
    view.update(|v| v.queue("p2".into(), "never mind".into(), 0));
    settle().await;
    let delete: web_sys::HtmlElement =
        host.query_selector("[data-testid=delete-pending]").ok().flatten().expect("Delete").unchecked_into();
    delete.click();
    settle().await;
    assert!(view.with_untracked(|v| v.outbox.is_empty()));
    assert_eq!(host.query_selector_all("[data-testid=pending]").expect("a query").length(), 0);
    // Once it has gone out on a joined socket the room may have stored it: no taking back.
    view.update(|v| {
        v.queue("p3".into(), "already out".into(), 0);
        v.outbox.iter_mut().for_each(|p| p.sent = true);
    });
    settle().await;
    assert_eq!(host.query_selector_all("[data-testid=pending]").expect("a query").length(), 1);
    assert!(host.query_selector("[data-testid=edit-pending], [data-testid=delete-pending]").ok().flatten().is_none());
}

#[wasm_bindgen_test]
async fn the_link_status_does_not_count_down_aloud() {
    let view = view_with(vec![]);
    let c = ctx(view, 0);
    c.link.set(Link::Waiting { retry_at_ms: 5_000 });
    let host = mount(move || view! { <LinkState ctx=c /> });
    settle().await;
    let status = || text_of(&host, "[role=status]");
    let before = status();
    assert_eq!(before, "Reconnecting");
    assert_eq!(text_of(&host, "[data-testid=countdown]"), " in 5 s");
    c.now.set(2_000);
    settle().await;
    assert_eq!(status(), before, "the spoken status stays");
    assert_eq!(text_of(&host, "[data-testid=countdown]"), " in 3 s");
    let countdown = host.query_selector("[data-testid=countdown]").ok().flatten().expect("a countdown");
    assert_eq!(countdown.get_attribute("aria-hidden").as_deref(), Some("true"));
}

#[wasm_bindgen_test]
async fn a_short_list_pages_back_by_itself_page_after_page() {
    let view = view_with(vec![]);
    view.update(|v| {
        v.messages.insert(51, msg(51, "bob", "only one", 0));
        v.has_more = true;
    });
    let (c, mut rx) = RoomCtx::detached(view, 0);
    let host = mount(move || view! { <MessageList ctx=c read_key="test.read4".to_owned() /> });
    settle().await;
    assert_eq!(rx.try_recv().ok(), Some(crate::connection::Command::LoadOlder), "nothing to scroll: asked");
    assert!(view.with_untracked(|v| v.want_older));
    assert!(text_of(&host, "[data-testid=history-state]").contains("Loading older messages"));
    // The page arrives (one more message, more still older): the list is still too short
    // to scroll, so it asks for the next one by itself.
    view.update(|v| {
        v.apply(
            confab_shared::ServerFrame::History { messages: vec![msg(50, "bob", "one more", 0)], has_more: true },
            0,
        );
    });
    settle().await;
    assert!(!view.with_untracked(|v| v.loading_older));
    assert_eq!(rx.try_recv().ok(), Some(crate::connection::Command::LoadOlder), "asked again");
}

#[wasm_bindgen_test]
async fn the_composer_is_focused_and_the_enter_of_an_ime_commit_does_not_send() {
    let view = view_with(vec![]);
    let c = ctx(view, 0);
    let host = mount(move || view! { <Composer ctx=c /> });
    settle().await;
    let active = web_sys::window().and_then(|w| w.document()).and_then(|d| d.active_element());
    assert_eq!(active.and_then(|e| e.get_attribute("data-testid")).as_deref(), Some("composer"));
    assert!(host.query_selector("textarea").ok().flatten().is_some());
    assert!(enter_sends("Enter", false, false, 13, false));
    assert!(!enter_sends("Enter", false, true, 13, false), "isComposing");
    assert!(!enter_sends("Enter", false, false, 229, false), "Safari's IME commit");
    assert!(!enter_sends("Enter", true, false, 13, false), "Shift+Enter adds a line");
    assert!(!enter_sends("Enter", false, false, 13, true), "a touch keyboard's Enter adds a line");
}
