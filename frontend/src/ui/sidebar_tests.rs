//! Component tests of the sidebar (issue 11) in headless Chromium: the person's rooms in the
//! inbox's order with their counts and badges, the open room marked, the level setting and
//! what it tells the inbox.

use super::sidebar::RoomSidebar;
use super::tests::{mount, settle};
use crate::inbox_driver::{InboxCommand, InboxCtx};
use confab_shared::inbox::{InboxEvent, Level, RoomCounts};
use leptos::prelude::*;
use wasm_bindgen::JsCast;
use wasm_bindgen_test::*;

fn counts(room: &str, unread: u32, mentions: u32) -> RoomCounts {
    RoomCounts { room: room.into(), dm: false, last_read: 1, unread, mentions, level: Level::Mentions, peer: None }
}

fn rooms_shown(host: &web_sys::HtmlElement) -> Vec<String> {
    let list = host.query_selector_all("[data-testid=sidebar-room] .name").expect("a selector");
    (0..list.length()).filter_map(|i| list.item(i)?.text_content()).collect()
}

#[wasm_bindgen_test]
async fn the_sidebar_shows_rooms_with_counts_live() {
    let (inbox, mut commands) = InboxCtx::detached();
    let current = RwSignal::new(Some("lobby".to_owned()));
    let host = mount(move || {
        provide_context(inbox);
        view! { <RoomSidebar current=current.into() /> }
    });
    settle().await;
    assert!(host.text_content().unwrap_or_default().contains("Loading your rooms"));
    inbox.sidebar.update(|s| {
        s.apply(&InboxEvent::Rooms { rooms: vec![counts("lobby", 0, 0), counts("news", 4, 0), counts("team", 2, 1)] });
    });
    settle().await;
    assert_eq!(rooms_shown(&host), ["#team", "#news", "#lobby"]);
    let current_link = host.query_selector("[aria-current=page]").unwrap().expect("the open room is marked");
    assert_eq!(current_link.text_content().unwrap_or_default(), "#lobby");
    let team = host.query_selector("[data-testid=sidebar-room]").unwrap().unwrap();
    assert_eq!(team.query_selector("[data-testid=mention-badge]").unwrap().unwrap().text_content().unwrap(), "@1");
    assert_eq!(team.query_selector("[data-testid=unread-count]").unwrap().unwrap().text_content().unwrap(), "2");
    let link = team.query_selector("a").unwrap().unwrap();
    assert_eq!(link.get_attribute("aria-description").as_deref(), Some("2 unread, 1 mentioning you"));

    // Counts move while another room is open.
    inbox.sidebar.update(|s| {
        s.apply(&InboxEvent::Counts(counts("lobby", 3, 2)));
    });
    settle().await;
    assert_eq!(rooms_shown(&host), ["#lobby", "#team", "#news"]);

    // The open room's level: shown, and told to the inbox.
    let select: web_sys::HtmlSelectElement =
        host.query_selector("[data-testid=level]").unwrap().expect("a level setting").unchecked_into();
    assert_eq!(select.value(), "mentions");
    select.set_value("all");
    select.dispatch_event(&web_sys::Event::new("change").unwrap()).unwrap();
    assert_eq!(commands.try_recv().ok(), Some(InboxCommand::Level("lobby".into(), Level::All)));
}

#[wasm_bindgen_test]
async fn a_direct_message_is_listed_by_its_person() {
    let (inbox, _commands) = InboxCtx::detached();
    let host = mount(move || {
        provide_context(inbox);
        view! { <RoomSidebar current=Signal::derive(|| None) /> }
    });
    let dm = RoomCounts { dm: true, peer: Some("bob".into()), level: Level::All, ..counts("dm-1", 1, 0) };
    inbox.sidebar.update(|s| {
        s.apply(&InboxEvent::Rooms { rooms: vec![counts("lobby", 0, 0), dm] });
    });
    settle().await;
    assert_eq!(rooms_shown(&host), ["bob", "#lobby"]);
    // One red count: every unread post of a direct message is for you.
    let badge = host.query_selector(".dm [data-testid=mention-badge]").unwrap().expect("a count");
    assert_eq!(badge.text_content().as_deref(), Some("1"));
    assert!(host.query_selector(".dm [data-testid=unread-count]").unwrap().is_none(), "not two counts");
    let row = host.query_selector("[data-testid=sidebar-room].dm a").unwrap().expect("a DM row");
    assert!(row.text_content().unwrap_or_default().starts_with("Direct message with bob"), "said to a screen reader");
}

#[wasm_bindgen_test]
async fn a_member_is_sent_a_direct_message_from_the_member_list() {
    let (inbox, mut commands) = InboxCtx::detached();
    let view = super::tests::view_with(vec![]);
    view.update(|v| {
        let bot = confab_shared::Member { role: confab_shared::Role::Bot, ..confab_shared::Member::new(9, "ci") };
        v.apply(confab_shared::ServerFrame::MemberJoined(bot), 0);
    });
    let c = super::tests::ctx(view, 0);
    let host = mount(move || {
        provide_context(inbox);
        view! { <super::members::MemberPanel ctx=c share=String::new() /> }
    });
    settle().await;
    assert_eq!(super::tests::count(&host, "[data-member='1'] [data-testid=member-dm]"), 0, "not ourselves");
    assert_eq!(super::tests::count(&host, "[data-member='9'] [data-testid=member-dm]"), 0, "not a bot");
    super::tests::click(&host, "[data-member='2'] [data-testid=member-dm]");
    assert_eq!(commands.try_recv().ok(), Some(InboxCommand::Dm { room: "lobby".into(), member: 2 }));
}
