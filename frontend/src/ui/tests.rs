//! Component tests in headless Chromium (`wasm-bindgen-test`): the components render what
//! the view holds, as text, with the structure screen readers and the e2e tests rely on.

use super::composer::{enter_sends, Composer};
use super::message_list::MessageList;
use super::message_row::MessageRow;
use super::pending_row::SLOW_SEND_MS;
use super::room::{Editing, LinkState, RoomCtx};
use crate::engine::Link;
use crate::fixtures::{ALICE, BOB};
use crate::state::{Op, RoomView};
use confab_shared::{ChatMessage, Quote, Reaction, ServerFrame};
use leptos::prelude::*;
use wasm_bindgen::JsCast;
use wasm_bindgen_test::*;

wasm_bindgen_test_configure!(run_in_browser);

/// Mounts `f` into a fresh element and returns it (the mount handle is kept alive).
pub(super) fn mount<V: IntoView + 'static>(f: impl FnOnce() -> V + 'static) -> web_sys::HtmlElement {
    let document = web_sys::window().and_then(|w| w.document()).expect("a document");
    let host: web_sys::HtmlElement = document.create_element("div").expect("a div").unchecked_into();
    document.body().expect("a body").append_child(&host).expect("attached");
    std::mem::forget(leptos::mount::mount_to(host.clone(), f));
    host
}

/// Lets effects and animation frames run.
pub(super) async fn settle() {
    for _ in 0..3 {
        let p = js_sys::Promise::new(&mut |resolve, _| {
            web_sys::window().expect("a window").request_animation_frame(&resolve).expect("a frame");
        });
        let _ = wasm_bindgen_futures::JsFuture::from(p).await;
    }
}

pub(super) fn text_of(host: &web_sys::HtmlElement, selector: &str) -> String {
    host.query_selector(selector).ok().flatten().and_then(|e| e.text_content()).unwrap_or_default()
}

pub(super) fn msg(id: u64, author: &str, text: &str, ts: u64) -> ChatMessage {
    let member = if author == "alice" { ALICE } else { BOB };
    ChatMessage { text: text.into(), ts, ..crate::fixtures::msg(id, member, &format!("c{id}")) }
}

pub(super) fn view_with(messages: Vec<ChatMessage>) -> RwSignal<RoomView> {
    let mut v = RoomView::default();
    v.apply(crate::fixtures::welcome(messages, false), 0);
    RwSignal::new(v)
}

/// One message row for message 1 of `m`'s view.
fn row_of(m: ChatMessage, c: RoomCtx) -> web_sys::HtmlElement {
    let id = m.id;
    c.view.set(view_with(vec![m]).get_untracked());
    let sig = RwSignal::new(c.view.with_untracked(|v| v.shown(id)));
    mount(move || view! { <MessageRow id=id grouped=false shown=sig ctx=c /> })
}

pub(super) fn click(host: &web_sys::HtmlElement, selector: &str) {
    let el: web_sys::HtmlElement =
        host.query_selector(selector).ok().flatten().unwrap_or_else(|| panic!("no {selector}")).unchecked_into();
    el.click();
}

pub(super) fn count(host: &web_sys::HtmlElement, selector: &str) -> u32 {
    host.query_selector_all(selector).expect("a query").length()
}

pub(super) fn ctx(view: RwSignal<RoomView>, now: u64) -> RoomCtx {
    let (ctx, rx) = RoomCtx::detached(view, now);
    std::mem::forget(rx);
    ctx
}

#[wasm_bindgen_test]
fn markup_in_a_message_is_text() {
    let evil = "<img src=x onerror=alert(1)><script>alert(2)</script>";
    let c = ctx(view_with(vec![]), 0);
    let host = row_of(msg(1, "bob", evil, 0), c);
    assert_eq!(host.query_selector_all("img, script").expect("a query").length(), 0);
    assert_eq!(text_of(&host, ".text"), evil);
    let p = host.query_selector(".text").ok().flatten().expect("a .text");
    assert_eq!(p.get_attribute("dir").as_deref(), Some("auto"), "right-to-left messages lay out right to left");
}

#[wasm_bindgen_test]
fn only_http_links_become_links_and_open_safely() {
    let text = "see https://example.com/a?b=1 and javascript:alert(1) or http://x.test";
    let c = ctx(view_with(vec![]), 0);
    let host = row_of(msg(1, "bob", text, 0), c);
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
    let ids: Vec<String> = (0..count(&host, "[data-testid=pending]"))
        .filter_map(|i| host.query_selector_all("[data-testid=pending]").ok()?.item(i))
        .filter_map(|n| n.unchecked_into::<web_sys::Element>().get_attribute("data-client-id"))
        .collect();
    assert_eq!(ids, ["p2"], "{:?}", view.with_untracked(|v| v.outbox.clone()));
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
        v.apply(confab_shared::ServerFrame::History { messages: vec![msg(50, "bob", "one more", 0)], older: true }, 0);
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

#[wasm_bindgen_test]
async fn a_reaction_redraws_its_own_row_and_no_other() {
    let view = view_with(vec![msg(1, "bob", "one", 0), msg(2, "bob", "two", 1), msg(3, "alice", "three", 2)]);
    let c = ctx(view, 0);
    let host = mount(move || view! { <MessageList ctx=c read_key="test.read5".to_owned() /> });
    settle().await;
    // Mark every row's text node: a row drawn anew loses its mark.
    let texts = host.query_selector_all(".msg .text").expect("a query");
    for i in 0..texts.length() {
        let el: web_sys::Element = texts.item(i).expect("a text").unchecked_into();
        el.set_attribute("data-mark", "kept").expect("set");
    }
    let summary =
        vec![Reaction { emoji: "🎉".into(), count: 2, names: vec!["bob".into(), "carol".into()], mine: false }];
    let drawn = || super::message_row::DRAWN.load(std::sync::atomic::Ordering::Relaxed);
    let before = drawn();
    view.update(|v| {
        v.apply(ServerFrame::Reactions { seq: 4, id: 2, by: 2, reactions: summary }, 0);
    });
    settle().await;
    assert_eq!(count(&host, "[data-testid=chip]"), 1);
    let chip = host.query_selector("#m2 [data-testid=chip]").ok().flatten().expect("the chip is on message 2");
    assert_eq!(chip.get_attribute("title").as_deref(), Some("bob, carol reacted with 🎉"));
    assert_eq!(drawn() - before, 1, "one message drawn anew, not three");
    assert_eq!(count(&host, "#m1 .text[data-mark], #m3 .text[data-mark]"), 2, "the other rows kept their nodes");
    // A click on the chip adds ours at once (optimistic), as a reaction in the outbox.
    click(&host, "#m2 [data-testid=chip]");
    settle().await;
    assert_eq!(text_of(&host, "#m2 [data-testid=chip] .count"), "3");
    let op = view.with_untracked(|v| v.outbox.last().map(|p| p.op.clone()));
    assert_eq!(op, Some(Op::React { id: 2, emoji: "🎉".into(), on: true }));
    assert_eq!(drawn() - before, 2, "our reaction redrew its message only");
}

#[wasm_bindgen_test]
async fn the_toolbar_offers_edit_and_delete_only_on_our_live_messages() {
    let view = view_with(vec![msg(1, "bob", "theirs", 0), msg(2, "alice", "ours", 1)]);
    let c = ctx(view, 0);
    let host = mount(move || view! { <MessageList ctx=c read_key="test.read6".to_owned() /> });
    settle().await;
    assert_eq!(count(&host, "#m1 [data-testid=edit-button]"), 0);
    assert_eq!(count(&host, "#m2 [data-testid=edit-button]"), 1);
    assert_eq!(count(&host, "#m1 [data-testid=reply-button]"), 1);
    // Delete asks once more, in place; then a tombstone at once (and an edit of it ends).
    c.start_edit(2);
    assert_eq!(c.draft.get_untracked(), "ours");
    click(&host, "#m2 [data-testid=delete-button]");
    settle().await;
    click(&host, "#m2 [data-testid=confirm-delete]");
    settle().await;
    assert!(text_of(&host, "#m2 [data-testid=tombstone]").contains("deleting"));
    assert_eq!((c.editing.get_untracked(), c.draft.get_untracked()), (None, String::new()));
    assert_eq!(count(&host, "#m2 [data-testid=edit-button]"), 0, "no editing a deleted message");
    view.update(|v| {
        v.apply(ServerFrame::Deleted { seq: 3, id: 2, removed: false }, 0);
        v.outbox.clear();
        v.touched.insert(2);
    });
    settle().await;
    assert_eq!(text_of(&host, "#m2 [data-testid=tombstone]"), "message deleted");
    // Reply: the composer's reply target.
    click(&host, "#m1 [data-testid=reply-button]");
    assert_eq!(c.reply_to.get_untracked(), Some(1));
}

#[wasm_bindgen_test]
async fn quotes_show_the_original_or_a_tombstone_and_jump_to_it() {
    let c = ctx(view_with(vec![]), 0);
    let quote = Quote { id: 7, member: BOB, author: "bob".into(), excerpt: "the plan".into(), deleted: false };
    let m = ChatMessage { reply_to: Some(quote), edited_ts: Some(5), ..msg(9, "bob", "agreed", 0) };
    let host = row_of(m, c);
    settle().await;
    assert_eq!(text_of(&host, "[data-testid=quote] .quote-author"), "bob");
    assert_eq!(text_of(&host, "[data-testid=quote] .quote-text"), "the plan");
    assert_eq!(text_of(&host, "[data-testid=edited]"), " (edited)");
    click(&host, "[data-testid=quote]");
    assert_eq!(c.jump.get_untracked(), Some((7, 0)));
    let gone = Quote { id: 7, member: BOB, author: "bob".into(), excerpt: String::new(), deleted: true };
    let host = row_of(ChatMessage { reply_to: Some(gone), ..msg(9, "bob", "agreed", 0) }, c);
    settle().await;
    assert_eq!(text_of(&host, "[data-testid=quote] .quote-text"), "message deleted");
}

#[wasm_bindgen_test]
async fn up_arrow_edits_our_last_message_escape_cancels_enter_saves() {
    let view = view_with(vec![msg(1, "alice", "first", 0), msg(2, "bob", "theirs", 1)]);
    let c = ctx(view, 0);
    let host = mount(move || view! { <Composer ctx=c /> });
    settle().await;
    let key = |k: &str| {
        let init = web_sys::KeyboardEventInit::new();
        init.set_key(k);
        init.set_bubbles(true);
        init.set_cancelable(true);
        let ev = web_sys::KeyboardEvent::new_with_keyboard_event_init_dict("keydown", &init).expect("an event");
        let box_: web_sys::HtmlElement =
            host.query_selector("textarea").ok().flatten().expect("a textarea").unchecked_into();
        box_.dispatch_event(&ev).expect("dispatched");
    };
    key("ArrowUp");
    settle().await;
    assert_eq!(c.editing.get_untracked(), Some(Editing::Message(1)));
    assert_eq!(c.draft.get_untracked(), "first");
    assert!(text_of(&host, "[data-testid=editing]").contains("Editing"));
    key("Escape");
    settle().await;
    assert_eq!(c.editing.get_untracked(), None);
    assert_eq!(c.draft.get_untracked(), "");
    key("ArrowUp");
    c.draft.set("first, fixed".into());
    key("Enter");
    settle().await;
    let op = view.with_untracked(|v| v.outbox.last().map(|p| p.op.clone()));
    assert_eq!(op, Some(Op::Edit { id: 1, text: "first, fixed".into() }));
    assert_eq!(c.editing.get_untracked(), None);
    // An edit started from the toolbar over a draft gives the draft back when it ends.
    c.draft.set("half a thought".into());
    c.start_edit(1);
    assert_eq!(c.draft.get_untracked(), "first, fixed");
    key("Escape");
    settle().await;
    assert_eq!(c.draft.get_untracked(), "half a thought");
}

/// Dispatches a keydown of `key` on the first `selector` in `host`.
pub(super) fn press(host: &web_sys::HtmlElement, selector: &str, key: &str) {
    let init = web_sys::KeyboardEventInit::new();
    init.set_key(key);
    init.set_bubbles(true);
    init.set_cancelable(true);
    let ev = web_sys::KeyboardEvent::new_with_keyboard_event_init_dict("keydown", &init).expect("an event");
    let el = host.query_selector(selector).ok().flatten().unwrap_or_else(|| panic!("no {selector}"));
    el.dispatch_event(&ev).expect("dispatched");
}

#[wasm_bindgen_test]
async fn the_picker_offers_the_fixed_set_and_recent_ones_and_toggles_ours() {
    crate::browser::save(crate::reactions::RECENT_KEY, &vec!["🦀".to_owned(), "👍".to_owned()]);
    let mut mine = msg(1, "bob", "pick one", 0);
    mine.reactions = vec![Reaction { emoji: "👍".into(), count: 1, names: vec!["alice".into()], mine: true }];
    let view = view_with(vec![mine]);
    let c = ctx(view, 0);
    let host = mount(move || view! { <MessageList ctx=c read_key="test.read7".to_owned() /> });
    settle().await;
    click(&host, "#m1 [data-testid=react-button]");
    settle().await;
    let picks = host.query_selector_all("[data-testid=pick]").expect("a query");
    assert_eq!(picks.length(), 9, "eight fixed and the one recent the set lacks");
    let active = web_sys::window().and_then(|w| w.document()).and_then(|d| d.active_element());
    assert_eq!(active.and_then(|e| e.get_attribute("data-emoji")).as_deref(), Some("👍"), "focus in the picker");
    let ours = host.query_selector("[data-testid=pick][data-emoji='👍']").ok().flatten().expect("👍");
    assert_eq!(ours.get_attribute("aria-pressed").as_deref(), Some("true"));
    // Escape closes it; picking ours again takes it back.
    press(&host, "[data-testid=picker]", "Escape");
    settle().await;
    assert_eq!(count(&host, "[data-testid=picker]"), 0);
    let active = web_sys::window().and_then(|w| w.document()).and_then(|d| d.active_element());
    assert_eq!(
        active.and_then(|e| e.get_attribute("data-testid")).as_deref(),
        Some("react-button"),
        "focus goes back to the button that opened it"
    );
    click(&host, "#m1 [data-testid=react-button]");
    settle().await;
    click(&host, "[data-testid=pick][data-emoji='👍']");
    settle().await;
    let op = view.with_untracked(|v| v.outbox.last().map(|p| p.op.clone()));
    assert_eq!(op, Some(Op::React { id: 1, emoji: "👍".into(), on: false }));
    assert_eq!(count(&host, "[data-testid=picker]"), 0, "closed after a pick");
    assert_eq!(count(&host, "#m1 [data-testid=chip]"), 0, "ours was the only one: gone at once");
}

#[wasm_bindgen_test]
async fn at_suggests_members_and_enter_completes() {
    let view = view_with(vec![]);
    view.update(|v| {
        v.apply(ServerFrame::MemberJoined(crate::fixtures::member(crate::fixtures::CAROL)), 0);
    });
    let c = ctx(view, 0);
    let host = mount(move || view! { <Composer ctx=c /> });
    settle().await;
    let area: web_sys::HtmlTextAreaElement =
        host.query_selector("textarea").ok().flatten().expect("a textarea").unchecked_into();
    area.set_value("hi @");
    area.set_selection_range(4, 4).expect("a caret");
    area.dispatch_event(&web_sys::Event::new("input").expect("an event")).expect("dispatched");
    settle().await;
    let names: Vec<String> = (0..count(&host, "[data-testid=mention-option]"))
        .filter_map(|i| host.query_selector_all("[data-testid=mention-option]").ok()?.item(i)?.text_content())
        .collect();
    assert_eq!(names, ["bob", "carol"], "members online, not us");
    press(&host, "textarea", "ArrowDown");
    settle().await;
    press(&host, "textarea", "Enter");
    // A fast typist's next key comes before the next frame: the completion and its caret
    // must already be in place, and stay there.
    assert_eq!((area.value(), area.selection_start().ok().flatten()), ("hi @carol ".to_owned(), Some(10)));
    let _ = wasm_bindgen_futures::JsFuture::from(js_sys::Promise::resolve(&wasm_bindgen::JsValue::NULL)).await;
    area.set_range_text("x").expect("typed");
    area.set_selection_range(11, 11).expect("a caret");
    area.dispatch_event(&web_sys::Event::new("input").expect("an event")).expect("dispatched");
    settle().await;
    assert_eq!(c.draft.get_untracked(), "hi @carol x");
    assert_eq!((area.value(), area.selection_start().ok().flatten()), ("hi @carol x".to_owned(), Some(11)));
    assert_eq!(count(&host, "[data-testid=mention-option]"), 0, "closed once chosen");
    assert!(view.with_untracked(|v| v.outbox.is_empty()), "the Enter chose; it did not send");
}

#[wasm_bindgen_test]
async fn a_mention_of_us_is_highlighted_and_a_refused_change_shows_on_its_message() {
    let c = ctx(view_with(vec![]), 0);
    let host = row_of(ChatMessage { mentions: vec![ALICE], ..msg(1, "bob", "@alice hi", 0) }, c);
    settle().await;
    assert_eq!(count(&host, ".msg.mention"), 1);
    let view = view_with(vec![msg(1, "alice", "ours", 0)]);
    let c = ctx(view, 0);
    let host = mount(move || view! { <MessageList ctx=c read_key="test.read8".to_owned() /> });
    settle().await;
    view.update(|v| {
        v.queue_op("e".into(), Op::Edit { id: 1, text: "x".into() }, 0);
        v.apply(
            ServerFrame::Error {
                code: confab_shared::ErrorCode::MessageDeleted,
                message: "that message was deleted".into(),
                retry_after_ms: None,
                client_id: Some("e".into()),
            },
            0,
        );
    });
    settle().await;
    assert!(text_of(&host, "#m1 [data-testid=conflict]").contains("that message was deleted"));
    click(&host, "#m1 [data-testid=conflict] button");
    settle().await;
    assert_eq!(count(&host, "[data-testid=conflict]"), 0);
}

#[wasm_bindgen_test]
async fn a_room_that_no_longer_serves_this_page_asks_for_a_reload_and_offers_no_retry() {
    let c = ctx(view_with(vec![]), 0);
    c.link.set(Link::Outdated);
    let host = mount(move || view! { <LinkState ctx=c /> });
    settle().await;
    assert_eq!(text_of(&host, "[role=status]"), "Out of date");
    assert_eq!(count(&host, "button"), 0, "retrying cannot help");
}

#[wasm_bindgen_test]
async fn a_reply_shows_what_it_replies_to_escape_cancels_enter_sends_it_as_a_reply() {
    let view = view_with(vec![msg(1, "bob", "the plan", 0)]);
    let c = ctx(view, 0);
    let host = mount(move || view! { <Composer ctx=c /> });
    c.reply_to.set(Some(1));
    settle().await;
    let preview = text_of(&host, "[data-testid=reply-preview]");
    assert!(preview.contains("bob") && preview.contains("the plan"), "{preview}");
    press(&host, "textarea", "Escape");
    settle().await;
    assert_eq!(count(&host, "[data-testid=reply-preview]"), 0);
    assert_eq!(c.reply_to.get_untracked(), None);
    c.reply_to.set(Some(1));
    c.draft.set("agreed".into());
    press(&host, "textarea", "Enter");
    settle().await;
    let op = view.with_untracked(|v| v.outbox.last().map(|p| p.op.clone()));
    assert_eq!(op, Some(Op::Send { text: "agreed".into(), reply_to: Some(1) }));
    assert_eq!(c.reply_to.get_untracked(), None, "one reply, then plain messages again");
}

#[wasm_bindgen_test]
async fn up_arrow_over_an_unsent_post_rewrites_it_in_place() {
    let view = view_with(vec![msg(1, "alice", "stored", 0)]);
    view.update(|v| v.queue("p1".into(), "typo".into(), 5));
    let c = ctx(view, 0);
    let host = mount(move || view! { <Composer ctx=c /> });
    settle().await;
    press(&host, "textarea", "ArrowUp");
    settle().await;
    assert_eq!(c.editing.get_untracked(), Some(Editing::Pending("p1".into())), "the newest of ours: the unsent post");
    assert_eq!(c.draft.get_untracked(), "typo");
    c.draft.set("fixed".into());
    press(&host, "textarea", "Enter");
    settle().await;
    let outbox = view.with_untracked(|v| v.outbox.clone());
    assert_eq!(outbox.len(), 1, "rewritten, not a second post nor an edit");
    assert_eq!(outbox[0].op, Op::Send { text: "fixed".into(), reply_to: None });
}
