//! Component tests for rooms with owners, in headless Chromium: what moderators are offered
//! (and others are not), badges, a streamed message's marker, removed tombstones, the muted
//! banner and the slow-mode countdown, the settings panel, the invite-only screen.

use super::banners::Gate;
use super::composer::Composer;
use super::members::MemberPanel;
use super::message_list::MessageList;
use super::settings::SettingsPanel;
use super::tests::{click, count, ctx, mount, msg, press, settle, text_of, view_with};
use crate::connection::Command;
use crate::engine::Link;
use crate::fixtures::{as_role, member, moderated, ALICE, BOB, CAROL};
use crate::state::RoomView;
use confab_shared::{Action, ChatMessage, ErrorCode, Member, Role, ServerFrame};
use futures::channel::mpsc::UnboundedReceiver;
use leptos::prelude::*;
use wasm_bindgen::JsCast;
use wasm_bindgen_test::*;

/// A view of `messages` with us (alice) in `role`, bob and carol online.
fn view_as(role: Role, messages: Vec<ChatMessage>) -> RwSignal<RoomView> {
    let mut v = RoomView::default();
    let mut w = as_role(crate::fixtures::welcome(messages, false), role);
    if let ServerFrame::Welcome { members, .. } = &mut w {
        members.push(member(CAROL));
    }
    v.apply(w, 0);
    RwSignal::new(v)
}

/// The moderation actions sent on `rx` so far.
fn actions(rx: &mut UnboundedReceiver<Command>) -> Vec<Action> {
    let mut out = Vec::new();
    while let Ok(c) = rx.try_recv() {
        if let Command::Moderate { action, .. } = c {
            out.push(action);
        }
    }
    out
}

fn el(host: &web_sys::HtmlElement, selector: &str) -> web_sys::HtmlElement {
    host.query_selector(selector).ok().flatten().unwrap_or_else(|| panic!("no {selector}")).unchecked_into()
}

fn active_testid() -> Option<String> {
    web_sys::window()
        .and_then(|w| w.document())
        .and_then(|d| d.active_element())
        .and_then(|e| e.get_attribute("data-testid"))
}

#[wasm_bindgen_test]
async fn the_moderation_menu_is_offered_to_moderators_only() {
    let messages = || vec![msg(1, "bob", "spam", 0), msg(2, "alice", "mine", 1)];
    let c = ctx(view_as(Role::Member, messages()), 0);
    let host = mount(move || view! { <MessageList ctx=c read_key="test.owners1".to_owned() /> });
    settle().await;
    assert_eq!(count(&host, "[data-testid=mod-button]"), 0, "a plain member is offered nothing");

    let view = view_as(Role::Moderator, messages());
    let (c, mut rx) = crate::ui::room::RoomCtx::detached(view, 0);
    let host = mount(move || view! { <MessageList ctx=c read_key="test.owners2".to_owned() /> });
    settle().await;
    assert_eq!(count(&host, "#m1 [data-testid=mod-button]"), 1);
    assert_eq!(count(&host, "#m2 [data-testid=mod-button]"), 0, "not on our own message");
    click(&host, "#m1 [data-testid=mod-button]");
    settle().await;
    assert_eq!(count(&host, "#m1 [data-testid=mod-menu]"), 1);
    assert_eq!(count(&host, "#m1 .toolbar.open"), 1, "the toolbar stays shown while its menu is open");
    assert_eq!(active_testid().as_deref(), Some("mod-remove"), "focus in the menu");
    assert_eq!(count(&host, "[data-testid=mod-mute]"), 3, "10 min, 1 hour, 1 day");
    click(&host, "[data-testid=mod-mute]");
    settle().await;
    assert_eq!(actions(&mut rx), [Action::Mute { member: BOB, minutes: 10 }]);
    assert_eq!(count(&host, "[data-testid=mod-menu]"), 0, "closed after acting");
    // Remove asks once more; Ban has its options.
    click(&host, "#m1 [data-testid=mod-button]");
    settle().await;
    click(&host, "[data-testid=mod-remove]");
    settle().await;
    click(&host, "[data-testid=confirm-remove]");
    click(&host, "#m1 [data-testid=mod-button]");
    settle().await;
    click(&host, "[data-testid=mod-ban]");
    settle().await;
    click(&host, "[data-testid=ban-purge]");
    click(&host, "[data-testid=confirm-ban]");
    settle().await;
    assert_eq!(actions(&mut rx), [Action::Remove { id: 1 }, Action::Ban { member: BOB, ip: false, purge: true }]);
    // Escape closes it and gives focus back to its button.
    click(&host, "#m1 [data-testid=mod-button]");
    settle().await;
    press(&host, "[data-testid=mod-menu]", "Escape");
    settle().await;
    assert_eq!(count(&host, "[data-testid=mod-menu]"), 0);
    assert_eq!(active_testid().as_deref(), Some("mod-button"));
    // The owner's message: removing it is offered (the room has the last word), muting or
    // banning the owner is not.
    view.update(|v| {
        v.apply(ServerFrame::MemberJoined(Member { role: Role::Owner, ..member(CAROL) }), 0);
        v.apply(ServerFrame::Message(crate::fixtures::msg(3, CAROL, "c3")), 0);
    });
    settle().await;
    click(&host, "#m3 [data-testid=mod-button]");
    settle().await;
    assert_eq!(count(&host, "[data-testid=mod-mute], [data-testid=mod-ban]"), 0, "nobody acts on the owner");
}

#[wasm_bindgen_test]
async fn a_streamed_message_shows_its_marker_until_it_is_finished() {
    let bot = ChatMessage { streaming: true, bot: true, ..msg(1, "bob", "Thinking", 0) };
    let view = view_with(vec![bot]);
    let c = ctx(view, 0);
    let host = mount(move || view! { <MessageList ctx=c read_key="test.owners3".to_owned() /> });
    settle().await;
    assert_eq!(text_of(&host, "#m1 [data-testid=bot-badge]"), "bot");
    assert_eq!(count(&host, "#m1 [data-testid=streaming]"), 1);
    assert_eq!(el(&host, "#m1").get_attribute("aria-busy").as_deref(), Some("true"));
    view.update(|v| {
        v.apply(ServerFrame::Appended { seq: 2, id: 1, text: " hard.".into() }, 0);
    });
    settle().await;
    assert!(text_of(&host, "#m1 .text").starts_with("Thinking hard."), "{}", text_of(&host, "#m1 .text"));
    view.update(|v| {
        v.apply(ServerFrame::Finished { seq: 3, id: 1 }, 0);
    });
    settle().await;
    assert_eq!(count(&host, "#m1 [data-testid=streaming]"), 0, "finished: no marker");
    assert_eq!(text_of(&host, "#m1 .text"), "Thinking hard.");
    assert_eq!(el(&host, "#m1").get_attribute("aria-busy"), None);
}

#[wasm_bindgen_test]
async fn a_removed_message_says_a_moderator_removed_it() {
    let view = view_with(vec![msg(1, "bob", "oops", 0)]);
    let c = ctx(view, 0);
    let host = mount(move || view! { <MessageList ctx=c read_key="test.owners4".to_owned() /> });
    settle().await;
    view.update(|v| {
        v.apply(ServerFrame::Deleted { seq: 2, id: 1, removed: true }, 0);
    });
    settle().await;
    assert_eq!(text_of(&host, "#m1 [data-testid=tombstone]"), "removed by a moderator");
}

#[wasm_bindgen_test]
async fn a_muted_member_sees_the_banner_and_a_disabled_composer() {
    let view = view_with(vec![]);
    view.update(|v| v.moderation.muted_until = Some(10 * 60_000));
    let c = ctx(view, 60_000);
    let host = mount(move || view! { <Composer ctx=c /> });
    settle().await;
    let banner = text_of(&host, "[data-testid=muted]");
    assert!(banner.contains("A moderator muted you") && banner.contains("in 9 min"), "{banner}");
    let area: web_sys::HtmlTextAreaElement = el(&host, "textarea").unchecked_into();
    assert!(area.disabled());
    let send: web_sys::HtmlButtonElement = el(&host, "[data-testid=send]").unchecked_into();
    assert!(send.disabled());
    // Over: the composer is back.
    c.now.set(10 * 60_000);
    settle().await;
    assert_eq!(count(&host, "[data-testid=muted]"), 0);
    assert!(!area.disabled());
}

#[wasm_bindgen_test]
async fn slow_mode_counts_down_and_keeps_the_text_until_it_may_go() {
    let view = view_with(vec![]);
    view.update(|v| {
        v.moderation.settings.slow_mode_secs = 30;
        v.moderation.slow_until = Some(12_000);
    });
    let c = ctx(view, 0);
    let host = mount(move || view! { <Composer ctx=c /> });
    settle().await;
    assert!(text_of(&host, "[data-testid=slow-wait]").contains("you can send again in 12 s"));
    let countdown = el(&host, "[data-testid=slow-wait] [aria-hidden=true]");
    assert!(countdown.text_content().unwrap_or_default().contains("12 s"), "the seconds are not read out");
    c.draft.set("soon".into());
    press(&host, "textarea", "Enter");
    settle().await;
    assert!(view.with_untracked(|v| v.outbox.is_empty()), "not sent while it runs");
    assert_eq!(c.draft.get_untracked(), "soon", "the text stays");
    c.now.set(2_000);
    settle().await;
    assert!(text_of(&host, "[data-testid=slow-wait]").contains("in 10 s"));
    c.now.set(12_000);
    settle().await;
    assert_eq!(count(&host, "[data-testid=slow-wait]"), 0);
    press(&host, "textarea", "Enter");
    settle().await;
    assert_eq!(view.with_untracked(|v| v.outbox.len()), 1, "sent once it may");
}

#[wasm_bindgen_test]
async fn members_show_badges_and_moderators_get_a_menu_on_those_they_may_act_on() {
    let view = view_as(Role::Owner, vec![]);
    view.update(|v| {
        v.apply(ServerFrame::MemberJoined(Member { role: Role::Bot, ..Member::new(9, "ci") }), 0);
        v.apply(moderated(1, ALICE, Action::SetRole { member: CAROL, role: Role::Moderator }, Some(CAROL)), 0);
    });
    let (c, mut rx) = crate::ui::room::RoomCtx::detached(view, 0);
    let host = mount(move || view! { <MemberPanel ctx=c share="https://c.test/r/lobby".to_owned() /> });
    settle().await;
    assert_eq!(text_of(&host, "[data-member='1'] [data-testid=badge]"), "owner");
    assert_eq!(text_of(&host, "[data-member='3'] [data-testid=badge]"), "mod");
    assert_eq!(text_of(&host, "[data-member='9'] [data-testid=badge]"), "bot");
    assert_eq!(count(&host, "[data-member='2'] [data-testid=badge]"), 0, "a plain member has none");
    assert_eq!(count(&host, "[data-member='1'] [data-testid=member-menu]"), 0, "not on ourselves");
    click(&host, "[data-member='2'] [data-testid=member-menu]");
    settle().await;
    assert_eq!(count(&host, "[data-testid=make-mod]"), 1, "the owner names moderators");
    click(&host, "[data-testid=make-mod]");
    click(&host, "[data-member='3'] [data-testid=member-menu]");
    settle().await;
    click(&host, "[data-testid=unmake-mod]");
    assert_eq!(
        actions(&mut rx),
        [Action::SetRole { member: BOB, role: Role::Moderator }, Action::SetRole { member: CAROL, role: Role::Member }]
    );
    // A plain member gets no menus at all.
    let c = ctx(view_as(Role::Member, vec![]), 0);
    let host = mount(move || view! { <MemberPanel ctx=c share=String::new() /> });
    settle().await;
    assert_eq!(count(&host, "[data-testid=member-menu]"), 0);
}

#[wasm_bindgen_test]
async fn the_settings_panel_changes_the_room_and_shows_a_new_bots_token_once() {
    let view = view_as(Role::Owner, vec![]);
    view.update(|v| {
        v.apply(moderated(1, ALICE, Action::CreateInvite { code: Some("k9".into()) }, None), 0);
    });
    let (c, mut rx) = crate::ui::room::RoomCtx::detached(view, 0);
    let open = RwSignal::new(true);
    let host = mount(move || view! { <SettingsPanel ctx=c open=open opener=NodeRef::new() /> });
    settle().await;
    // It asked for the audit trail's newest page.
    let mut asked = false;
    let mut sent = Vec::new();
    while let Ok(cmd) = rx.try_recv() {
        match cmd {
            Command::Audit(None) => asked = true,
            Command::Moderate { action, .. } => sent.push(action),
            _ => {}
        }
    }
    assert!(asked && sent.is_empty());
    let link: web_sys::HtmlInputElement = el(&host, "[data-testid=invite] input").unchecked_into();
    assert!(link.value().ends_with("/r/lobby?invite=k9"), "{}", link.value());
    let topic: web_sys::HtmlInputElement = el(&host, "[data-testid=topic-input]").unchecked_into();
    topic.set_value("release day");
    topic.dispatch_event(&web_sys::Event::new("input").expect("an event")).expect("dispatched");
    click(&host, "[data-testid=save-topic]");
    click(&host, "[data-testid=create-invite]");
    assert_eq!(actions(&mut rx), [Action::Topic { text: "release day".into() }, Action::CreateInvite { code: None }]);
    // A new bot's token, with a ready example, until Done.
    view.update(|v| {
        let bot = Member { role: Role::Bot, ..Member::new(12, "deploys") };
        v.apply(ServerFrame::BotCreated { client_id: "b1".into(), bot, token: "tok123".into() }, 0);
    });
    settle().await;
    let token: web_sys::HtmlInputElement = el(&host, "[data-testid=bot-token]").unchecked_into();
    assert_eq!(token.value(), "tok123");
    let curl = text_of(&host, "[data-testid=bot-curl]");
    assert!(curl.contains("/api/rooms/lobby/messages") && curl.contains("Authorization: Bearer tok123"), "{curl}");
    assert_eq!(count(&host, "[data-testid=bot]"), 1);
    click(&host, "[data-testid=bot-done]");
    settle().await;
    assert_eq!(count(&host, "[data-testid=new-bot]"), 0, "shown once");
    // Escape closes the panel.
    press(&host, "[data-testid=settings]", "Escape");
    assert!(!open.get_untracked());
}

#[wasm_bindgen_test]
async fn an_invite_only_room_asks_for_an_invite_link_and_a_removed_member_is_told() {
    let view = RwSignal::new(RoomView::default());
    let link = RwSignal::new(Link::Connecting);
    let host =
        mount(move || view! { <Gate view=view link=link room="lobby".to_owned() had_invite=false on_leave=|| () /> });
    settle().await;
    assert_eq!(count(&host, "[data-testid=invite-required]"), 0);
    view.update(|v| {
        v.apply(
            ServerFrame::Error {
                code: ErrorCode::InviteRequired,
                message: "invite-only".into(),
                retry_after_ms: None,
                client_id: None,
            },
            0,
        );
    });
    link.set(Link::Refused);
    settle().await;
    assert!(text_of(&host, "[data-testid=invite-required]").contains("This room is invite-only"));
    assert_eq!(count(&host, "[data-testid=invite-input]"), 1);
    // Removed: the close code alone says so.
    view.update(|v| v.fatal = None);
    link.set(Link::Removed);
    settle().await;
    assert!(text_of(&host, "[data-testid=removed]").contains("You were removed from this room"));
}

#[wasm_bindgen_test]
async fn a_post_held_for_slow_mode_says_so() {
    let view = view_with(vec![]);
    view.update(|v| {
        v.moderation.settings.slow_mode_secs = 30;
        v.moderation.slow_until = Some(20_000);
        v.queue("p1".into(), "later".into(), 0);
    });
    let c = ctx(view, 15_000);
    let host = mount(move || view! { <MessageList ctx=c read_key="test.owners5".to_owned() /> });
    settle().await;
    let status = text_of(&host, "[data-testid=pending-status]");
    assert_eq!(status, "waiting for slow mode — goes in 5 s");
    c.now.set(20_000);
    settle().await;
    assert!(!text_of(&host, "[data-testid=pending-status]").contains("slow mode"));
}
