//! Rooms with owners, natively: who owns a room, every right (owner, moderator, member, bot,
//! muted, banned) on every action, the audit trail, slow mode, invite-only rooms, bots over
//! HTTP and streamed messages. Each test drives `Room` the way the Durable Object glue does.

use confab_shared::limits::{STREAM_CHUNK_BURST, TEXT_MAX_CHARS};
use confab_shared::{close, Action, ClientFrame, ClientId, ErrorCode, MessageText, Role, ServerFrame};
use confab_worker::room::{allowed, Actor, ADMIN};
use confab_worker::store::{MemberInfo, RoomStore};
use serde_json::json;

mod common;
use common::Harness;

const KEY_A: &str = "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";
const KEY_B: &str = "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb";
const KEY_C: &str = "cccccccccccccccccccccccccccccccccccccccc";
const KEY_D: &str = "dddddddddddddddddddddddddddddddddddddddd";

/// alice (the owner: first to join), bob and carol, inboxes empty.
fn room() -> (Harness, u64, u64, u64) {
    let mut h = Harness::with_config(common::unlimited());
    let a = h.join("alice", KEY_A);
    let b = h.join("bob", KEY_B);
    let c = h.join("carol", KEY_C);
    for s in [a, b, c] {
        h.take(s);
    }
    (h, a, b, c)
}

fn you(h: &mut Harness, s: u64) -> (Role, Option<u64>, Option<u64>, confab_shared::RoomSettings) {
    match h.welcome(s) {
        ServerFrame::Welcome { you, muted_until, slow_wait_ms, settings, .. } => {
            (you.role, muted_until, slow_wait_ms, settings)
        }
        _ => unreachable!(),
    }
}

fn error_of(h: &mut Harness, s: u64) -> (ErrorCode, Option<u64>, Option<String>) {
    let frames = h.take(s);
    match frames.into_iter().rev().find(|f| matches!(f, ServerFrame::Error { .. })) {
        Some(ServerFrame::Error { code, retry_after_ms, client_id, .. }) => (code, retry_after_ms, client_id),
        other => panic!("expected an error, got {other:?}"),
    }
}

fn moderated(frames: &[ServerFrame]) -> Vec<confab_shared::AuditEntry> {
    frames
        .iter()
        .filter_map(|f| match f {
            ServerFrame::Moderated(e) => Some(e.clone()),
            _ => None,
        })
        .collect()
}

#[test]
fn a_public_rooms_first_member_owns_it() {
    let mut h = Harness::with_config(common::unlimited());
    let a = h.join("alice", KEY_A);
    assert_eq!(you(&mut h, a).0, Role::Owner);
    let b = h.join("bob", KEY_B);
    assert_eq!(you(&mut h, b).0, Role::Member);
    // After a restart too.
    h.close(a);
    h.hibernate();
    let a = h.join("alice", KEY_A);
    assert_eq!(you(&mut h, a).0, Role::Owner);
}

#[test]
fn a_private_rooms_creator_owns_it_whoever_joins_first() {
    let mut h = Harness::with_config(common::unlimited());
    let creator = confab_shared::MemberKey::parse(KEY_B).unwrap();
    h.room.set_owner_key(&mut h.store, &creator).unwrap();
    let a = h.join("alice", KEY_A);
    assert_eq!(you(&mut h, a).0, Role::Member, "the link went out before its creator joined");
    let b = h.join("bob", KEY_B);
    assert_eq!(you(&mut h, b).0, Role::Owner);
    // A second creation request cannot take it over.
    h.room.set_owner_key(&mut h.store, &confab_shared::MemberKey::parse(KEY_C).unwrap()).unwrap();
    let c = h.join("carol", KEY_C);
    assert_eq!(you(&mut h, c).0, Role::Member);
}

#[test]
fn the_rights_table() {
    use Role::*;
    let mute = Action::Mute { member: 9, minutes: 5 };
    let topic = Action::Topic { text: "t".into() };
    let promote = Action::SetRole { member: 9, role: Moderator };
    let revoke = Action::RevokeBot { member: 9 };
    // (actor role, action, target role, allowed)
    let cases = [
        (Member, &topic, None, false),
        (Bot, &topic, None, false),
        (Moderator, &topic, None, true),
        (Owner, &topic, None, true),
        (Member, &mute, Some(Member), false),
        (Moderator, &mute, Some(Member), true),
        (Moderator, &mute, Some(Bot), true),
        (Moderator, &mute, Some(Moderator), false),
        (Moderator, &mute, Some(Owner), false),
        (Owner, &mute, Some(Moderator), true),
        (Owner, &mute, Some(Owner), false),
        (Moderator, &promote, Some(Member), false),
        (Owner, &promote, Some(Member), true),
        (Owner, &promote, Some(Bot), false),
        (Moderator, &revoke, Some(Bot), true),
        (Moderator, &revoke, Some(Member), false),
    ];
    for (role, action, target, ok) in cases {
        let got = allowed(1, role, action, target.map(|r| (9, r)));
        assert_eq!(got.is_ok(), ok, "{role:?} {action:?} on {target:?}: {got:?}");
        if let Err(e) = got {
            assert!(matches!(e.code, ErrorCode::Forbidden | ErrorCode::BadRequest), "{e:?}");
        }
    }
    assert_eq!(allowed(9, Owner, &mute, Some((9, Owner))).unwrap_err().code, ErrorCode::Forbidden, "not on yourself");
    assert_eq!(allowed(1, Owner, &mute, None).unwrap_err().code, ErrorCode::BadRequest, "no such member");
}

#[test]
fn members_cannot_moderate_and_nothing_is_recorded() {
    let (mut h, _a, b, c) = room();
    let carol = h.id_of("carol");
    for (cid, action) in [
        ("m1", json!({"kind": "mute", "member": carol, "minutes": 5})),
        ("m2", json!({"kind": "topic", "text": "mine"})),
        ("m3", json!({"kind": "slow_mode", "seconds": 5})),
        ("m4", json!({"kind": "create_bot", "name": "bot"})),
        ("m5", json!({"kind": "create_invite"})),
    ] {
        h.moderate(b, cid, action);
        assert_eq!(error_of(&mut h, b), (ErrorCode::Forbidden, None, Some(cid.into())));
    }
    assert!(h.take(c).is_empty(), "nobody heard of it");
    assert_eq!(h.store.latest().unwrap(), None, "no event");
    h.text(b, json!({"type": "audit", "data": {"limit": 10}}));
    assert_eq!(error_of(&mut h, b).0, ErrorCode::Forbidden);
}

#[test]
fn a_moderator_removes_any_message_and_the_audit_trail_says_so() {
    let (mut h, a, b, c) = room();
    h.send(b, "p1", "spam spam");
    h.send(c, "p2", "hello");
    for s in [a, b, c] {
        h.take(s);
    }
    h.delete(c, "d0", 1);
    assert_eq!(error_of(&mut h, c).0, ErrorCode::NotAuthor, "a member cannot");
    h.delete(a, "d1", 1);
    let removed = ServerFrame::Deleted { seq: 3, id: 1, removed: true };
    assert_eq!(h.take(b), vec![removed.clone()]);
    assert!(h.take(a).contains(&removed));
    assert!(h.store.all().find(|m| m.id == 1).is_some_and(|m| m.deleted && m.removed && m.text.is_empty()));
    // The same through `moderate {remove}`.
    h.moderate(a, "d2", json!({"kind": "remove", "id": 2}));
    assert!(h.take(c).contains(&ServerFrame::Deleted { seq: 4, id: 2, removed: true }));
    // An author's own delete is not a removal.
    h.send(a, "p3", "mine");
    h.delete(a, "d3", 5);
    assert!(h.take(b).contains(&ServerFrame::Deleted { seq: 6, id: 5, removed: false }));
    h.take(a);
    h.text(a, json!({"type": "audit", "data": {"limit": 10}}));
    let Some(ServerFrame::Audit { entries, older }) = h.take(a).pop() else { panic!("an audit page") };
    assert!(!older);
    let seen: Vec<_> = entries.iter().map(|e| (e.seq, e.action.clone(), e.by.name.as_str())).collect();
    assert_eq!(seen, vec![(3, Action::Remove { id: 1 }, "alice"), (4, Action::Remove { id: 2 }, "alice")]);
}

#[test]
fn a_muted_member_cannot_speak_until_the_mute_ends_even_after_leaving() {
    let (mut h, a, b, c) = room();
    let bob = h.id_of("bob");
    h.send(b, "p1", "before");
    h.moderate(a, "m1", json!({"kind": "mute", "member": bob, "minutes": 10}));
    let entries = moderated(&h.take(c));
    assert_eq!(entries.len(), 1);
    assert_eq!(entries[0].target.as_ref().map(|t| t.name.as_str()), Some("bob"));
    assert_eq!(entries[0].seq, 2, "one event, next in the log");
    h.take(b);
    h.send(b, "p2", "let me talk");
    let (code, wait, cid) = error_of(&mut h, b);
    assert_eq!((code, wait, cid.as_deref()), (ErrorCode::Muted, Some(600_000), Some("p2")));
    h.react(b, "r1", 1, "👍", true);
    assert_eq!(error_of(&mut h, b).0, ErrorCode::Muted);
    // A retry of what was recorded before the mute is still acknowledged.
    h.send(b, "p1", "before");
    assert_eq!(h.acks(b), vec![("p1".to_owned(), 1)]);
    // Deleting your own message is allowed while muted.
    h.delete(b, "d1", 1);
    assert_eq!(h.acks(b), vec![("d1".to_owned(), 3)]);
    // Leaving and coming back (after a hibernation) does not lift it; the welcome says when.
    h.close(b);
    h.hibernate();
    let b = h.join("bob", KEY_B);
    let (_, muted_until, _, _) = you(&mut h, b);
    assert_eq!(muted_until, Some(1_000_000 + 600_000));
    h.send(b, "p3", "still?");
    assert_eq!(error_of(&mut h, b).0, ErrorCode::Muted);
    h.now += 600_000;
    h.send(b, "p4", "free");
    assert_eq!(h.acks(b).len(), 1);
    // Unmute (0 minutes) works at once.
    h.take(a);
    h.moderate(a, "m2", json!({"kind": "mute", "member": bob, "minutes": 60}));
    h.moderate(a, "m3", json!({"kind": "mute", "member": bob, "minutes": 0}));
    h.take(b);
    h.send(b, "p5", "ok");
    assert_eq!(h.acks(b).len(), 1);
}

#[test]
fn a_ban_closes_the_members_sockets_keeps_them_out_and_can_purge() {
    let mut h = Harness::with_config(common::unlimited());
    let a = h.join("alice", KEY_A);
    let b1 = h.open_from(Some("203.0.113.9"));
    h.text(b1, json!({"type": "join", "data": {"v": 2, "name": "bob", "key": KEY_B}}));
    let c = h.join("carol", KEY_C);
    h.send(b1, "p1", "spam 1");
    h.send(c, "p2", "fine");
    h.send(b1, "p3", "spam 2");
    for s in [a, b1, c] {
        h.take(s);
    }
    let bob = h.id_of("bob");
    h.moderate(a, "ban1", json!({"kind": "ban", "member": bob, "ip": true, "purge": true}));
    assert_eq!(error_of(&mut h, b1).0, ErrorCode::Banned);
    assert_eq!(h.closed.get(&b1), Some(&close::REMOVED));
    let frames = h.take(c);
    assert_eq!(moderated(&frames).len(), 1);
    let removals: Vec<_> = frames
        .iter()
        .filter_map(|f| match f {
            ServerFrame::Deleted { seq, id, removed: true } => Some((*seq, *id)),
            _ => None,
        })
        .collect();
    assert_eq!(removals, vec![(5, 3), (6, 1)], "the ban is 4, then one removal each, newest first");
    assert!(frames.iter().any(|f| match f {
        ServerFrame::MemberLeft(m) => m.id == bob,
        ServerFrame::Presence { left, .. } => left.iter().any(|m| m.id == bob),
        _ => false,
    }));
    assert!(h.store.all().filter(|m| m.member == bob).all(|m| m.deleted && m.removed));
    // Back with the same key: refused and closed. A new name from the same address: too.
    let again = h.join("bob", KEY_B);
    assert_eq!(error_of(&mut h, again).0, ErrorCode::Banned);
    assert_eq!(h.closed.get(&again), Some(&close::REMOVED));
    let sock = h.open_from(Some("203.0.113.9"));
    h.text(sock, json!({"type": "join", "data": {"v": 2, "name": "bobby", "key": KEY_D}}));
    assert_eq!(error_of(&mut h, sock).0, ErrorCode::Banned);
    // Unban: both go.
    h.moderate(a, "ub", json!({"kind": "unban", "member": bob}));
    let sock = h.open_from(Some("203.0.113.9"));
    h.text(sock, json!({"type": "join", "data": {"v": 2, "name": "bob", "key": KEY_B}}));
    assert!(matches!(h.welcome(sock), ServerFrame::Welcome { .. }));
}

#[test]
fn slow_mode_spaces_a_members_posts_but_not_a_moderators_and_survives_a_rejoin() {
    let (mut h, a, b, _c) = room();
    h.send(b, "p0", "before slow mode");
    h.now += 1_000;
    h.moderate(a, "s1", json!({"kind": "slow_mode", "seconds": 10}));
    h.take(b);
    h.send(b, "p1", "one");
    assert_eq!(h.acks(b).len(), 1, "a post from before slow mode does not count");
    h.now += 4_000;
    h.send(b, "p2", "two");
    let (code, wait, _) = error_of(&mut h, b);
    assert_eq!((code, wait), (ErrorCode::SlowMode, Some(6_000)));
    // The retry of p1 is acknowledged, not refused.
    h.send(b, "p1", "one");
    assert_eq!(h.acks(b), vec![("p1".to_owned(), 3)]);
    // Moderators are exempt.
    h.take(a);
    h.send(a, "q1", "x");
    h.send(a, "q2", "y");
    assert_eq!(h.acks(a).len(), 2);
    // A reload: the welcome says how long is left.
    h.close(b);
    h.now += 1_000;
    let b = h.join("bob", KEY_B);
    let (_, _, slow_wait, settings) = you(&mut h, b);
    assert_eq!((slow_wait, settings.slow_mode_secs), (Some(5_000), 10));
    h.now += 5_000;
    h.send(b, "p2", "two");
    assert_eq!(h.acks(b).len(), 1);
    h.moderate(a, "s2", json!({"kind": "slow_mode", "seconds": 0}));
    h.send(b, "p3", "three");
    assert_eq!(h.acks(b).len(), 1, "off again");
}

#[test]
fn invite_only_rooms_admit_members_and_invite_holders() {
    let (mut h, a, b, _c) = room();
    h.moderate(a, "i1", json!({"kind": "invite_only", "on": true}));
    h.moderate(a, "i2", json!({"kind": "create_invite"}));
    let code = moderated(&h.take(a))
        .into_iter()
        .find_map(|e| match e.action {
            Action::CreateInvite { code } => code,
            _ => None,
        })
        .expect("moderators see the code");
    let to_bob = moderated(&h.take(b));
    assert!(to_bob.iter().any(|e| e.action == Action::CreateInvite { code: None }), "members do not");
    let d = h.join("dave", KEY_D);
    assert_eq!(error_of(&mut h, d).0, ErrorCode::InviteRequired);
    // An existing member comes back without one.
    h.close(b);
    let b = h.join("bob", KEY_B);
    assert!(matches!(h.welcome(b), ServerFrame::Welcome { .. }));
    let d = h.open();
    h.text(d, json!({"type": "join", "data": {"v": 2, "name": "dave", "key": KEY_D, "invite": code}}));
    assert!(matches!(h.welcome(d), ServerFrame::Welcome { .. }));
    h.moderate(a, "i3", json!({"kind": "revoke_invite", "code": code}));
    let e = h.open();
    h.text(e, json!({"type": "join", "data": {"v": 2, "name": "erin", "key": "e".repeat(40), "invite": code}}));
    assert_eq!(error_of(&mut h, e).0, ErrorCode::InviteRequired);
}

#[test]
fn the_owner_names_moderators_who_then_moderate_members_but_not_each_other() {
    let (mut h, a, b, c) = room();
    let (alice, bob, carol) = (h.id_of("alice"), h.id_of("bob"), h.id_of("carol"));
    h.moderate(b, "r0", json!({"kind": "set_role", "member": carol, "role": "moderator"}));
    assert_eq!(error_of(&mut h, b).0, ErrorCode::Forbidden);
    h.moderate(a, "r1", json!({"kind": "set_role", "member": bob, "role": "moderator"}));
    h.moderate(a, "r2", json!({"kind": "set_role", "member": carol, "role": "moderator"}));
    h.take(b);
    h.moderate(b, "m1", json!({"kind": "mute", "member": carol, "minutes": 5}));
    assert_eq!(error_of(&mut h, b).0, ErrorCode::Forbidden, "not another moderator");
    h.moderate(b, "m2", json!({"kind": "ban", "member": alice}));
    assert_eq!(error_of(&mut h, b).0, ErrorCode::Forbidden, "never the owner");
    h.moderate(b, "t1", json!({"kind": "topic", "text": "rules: be kind"}));
    let entries = moderated(&h.take(c));
    assert_eq!(entries.last().map(|e| e.by.role), Some(Role::Moderator));
    // The role shows in a new member's welcome and survives hibernation.
    h.hibernate();
    let d = h.join("dave", KEY_D);
    let ServerFrame::Welcome { members, settings, .. } = h.welcome(d) else { unreachable!() };
    let role_of = |id| members.iter().find(|m| m.id == id).map(|m| m.role);
    assert_eq!(
        (role_of(alice), role_of(bob), role_of(carol)),
        (Some(Role::Owner), Some(Role::Moderator), Some(Role::Moderator))
    );
    assert_eq!(settings.topic, "rules: be kind");
    // Taken back: bob is a member again.
    h.moderate(a, "r3", json!({"kind": "set_role", "member": bob, "role": "member"}));
    h.take(b);
    h.moderate(b, "t2", json!({"kind": "topic", "text": "mine"}));
    assert_eq!(error_of(&mut h, b).0, ErrorCode::Forbidden);
}

/// Makes a bot as the owner; returns its info (as the glue's authentication gives it) and token.
fn make_bot(h: &mut Harness, owner: u64, name: &str) -> (MemberInfo, String) {
    h.moderate(owner, &format!("mk-{name}"), json!({"kind": "create_bot", "name": name}));
    let token = h
        .take(owner)
        .into_iter()
        .find_map(|f| match f {
            ServerFrame::BotCreated { token, bot, .. } => {
                assert_eq!(bot.role, Role::Bot);
                Some(token)
            }
            _ => None,
        })
        .expect("the token, once, to whoever asked");
    let info = h.room.authenticate(&mut h.store, &token).unwrap().expect("the token works");
    (info, token)
}

fn bot_post(h: &mut Harness, bot: &MemberInfo, cid: &str, text: &str, streaming: bool) -> Result<u64, ErrorCode> {
    let frame = ClientFrame::Send {
        client_id: ClientId::parse(cid).unwrap(),
        text: MessageText::parse(text).unwrap(),
        reply_to: None,
        streaming,
    };
    bot_frame(h, bot, frame)
}

fn bot_frame(h: &mut Harness, bot: &MemberInfo, frame: ClientFrame) -> Result<u64, ErrorCode> {
    let (result, effects) = h.room.bot_op(&mut h.store, bot, frame, h.now);
    h.apply(effects);
    result.map(|d| d.seq).map_err(|(e, _)| e.code)
}

#[test]
fn bots_post_over_http_once_per_idempotency_key_and_can_be_revoked() {
    let (mut h, a, b, c) = room();
    let (bot, token) = make_bot(&mut h, a, "deploys");
    assert!(token.starts_with(&format!("cb_{}_", bot.id)));
    assert_eq!(h.room.authenticate(&mut h.store, "cb_1_nope-nope-nope-nope-nope-nope-nope").unwrap(), None);
    assert_eq!(h.room.authenticate(&mut h.store, &token.replace("cb_", "xx_")).unwrap(), None);
    let forged = format!("cb_{}_{}", bot.id, "0".repeat(64));
    assert_eq!(h.room.authenticate(&mut h.store, &forged).unwrap(), None, "the id alone is not enough");
    for s in [a, b, c] {
        h.take(s);
    }
    let seq = bot_post(&mut h, &bot, "deploy-42", "deployed v42", false).unwrap();
    let frames = h.take(b);
    let [ServerFrame::Message(m)] = frames.as_slice() else { panic!("one message: {frames:?}") };
    assert!(m.bot && m.author == "deploys" && m.id == seq);
    // The retried POST is the same message, announced once.
    let (result, effects) = h.room.bot_op(
        &mut h.store,
        &bot,
        ClientFrame::Send {
            client_id: ClientId::parse("deploy-42").unwrap(),
            text: MessageText::parse("deployed v42").unwrap(),
            reply_to: None,
            streaming: false,
        },
        h.now,
    );
    h.apply(effects);
    let done = result.unwrap();
    assert!(done.duplicate && done.seq == seq);
    assert!(h.take(b).is_empty());
    // Bots edit and delete their own messages only, and react.
    let edit = ClientFrame::Edit {
        client_id: ClientId::parse("e1").unwrap(),
        id: seq,
        text: MessageText::parse("deployed v42 ✅").unwrap(),
    };
    assert!(bot_frame(&mut h, &bot, edit).is_ok());
    h.send(b, "p1", "nice");
    let theirs = h.store.latest().unwrap().unwrap().0;
    let del = ClientFrame::Delete { client_id: ClientId::parse("d1").unwrap(), id: theirs };
    assert_eq!(bot_frame(&mut h, &bot, del), Err(ErrorCode::NotAuthor), "a bot does not moderate");
    let react = ClientFrame::React {
        client_id: ClientId::parse("r1").unwrap(),
        id: theirs,
        emoji: confab_shared::Emoji::parse("🚀").unwrap(),
        on: true,
    };
    assert!(bot_frame(&mut h, &bot, react).is_ok());
    // A bot has its own budget: the default 20 in a burst.
    let mut h2 = Harness::new();
    let o = h2.join("owner", KEY_A);
    let (bot2, _) = make_bot(&mut h2, o, "flood");
    let refused = (0..30)
        .filter(|i| bot_post(&mut h2, &bot2, &format!("f{i}"), "x", false) == Err(ErrorCode::RateLimited))
        .count();
    assert_eq!(refused, 10);
    // Revoked: the token stops working, and its socket (joined with the token as key) closes.
    let s = h.join("deploys", &token);
    assert!(matches!(h.welcome(s), ServerFrame::Welcome { you, .. } if you.role == Role::Bot));
    h.moderate(a, "rv", json!({"kind": "revoke_bot", "member": bot.id}));
    assert_eq!(h.closed.get(&s), Some(&close::REMOVED));
    assert_eq!(h.room.authenticate(&mut h.store, &token).unwrap(), None);
    // Nobody else can take a bot's name.
    let imp = h.join("deploys", KEY_D);
    assert!(matches!(error_of(&mut h, imp).0, ErrorCode::NameTaken | ErrorCode::Banned));
}

#[test]
fn a_streamed_answer_grows_live_and_a_late_joiner_sees_it_so_far_then_the_rest() {
    let (mut h, a, b, _c) = room();
    let (bot, _) = make_bot(&mut h, a, "oracle");
    h.send(b, "p1", "people cannot stream");
    h.take(b);
    let person = ClientFrame::Send {
        client_id: ClientId::parse("s0").unwrap(),
        text: MessageText::parse("x").unwrap(),
        reply_to: None,
        streaming: true,
    };
    h.text(b, serde_json::to_value(&person).unwrap());
    assert_eq!(error_of(&mut h, b).0, ErrorCode::Forbidden);
    let id = bot_post(&mut h, &bot, "s1", "The answer", true).unwrap();
    let chunk =
        |cid: &str, text: &str| ClientFrame::Append { client_id: ClientId::parse(cid).unwrap(), id, text: text.into() };
    let s1 = bot_frame(&mut h, &bot, chunk("c1", " is")).unwrap();
    let frames = h.take(b);
    assert!(matches!(&frames[0], ServerFrame::Message(m) if m.streaming && m.text == "The answer"));
    assert_eq!(frames[1], ServerFrame::Appended { seq: s1, id, text: " is".into() });
    // A late joiner: the text so far, still streaming; then the rest live.
    let d = h.join("dave", KEY_D);
    let ServerFrame::Welcome { messages, .. } = h.welcome(d) else { unreachable!() };
    let m = messages.iter().find(|m| m.id == id).unwrap();
    assert!(m.streaming && m.text == "The answer is" && m.version == s1);
    bot_frame(&mut h, &bot, chunk("c2", " 42.")).unwrap();
    let done = bot_frame(&mut h, &bot, ClientFrame::Finish { client_id: ClientId::parse("f1").unwrap(), id }).unwrap();
    let frames = h.take(d);
    assert!(frames.contains(&ServerFrame::Finished { seq: done, id }));
    // A resume from before the stream: the message once, finished.
    let epoch = h.epoch();
    let r = h.resume("bob", KEY_B, id - 1, &epoch);
    let ServerFrame::Welcome { messages, .. } = h.welcome(r) else { unreachable!() };
    assert_eq!(messages.len(), 1);
    assert!(!messages[0].streaming && messages[0].text == "The answer is 42.");
    // After finish, or by anyone else: not a stream.
    assert_eq!(bot_frame(&mut h, &bot, chunk("c3", "more")), Err(ErrorCode::NotStreaming));
    h.text(b, json!({"type": "append", "data": {"client_id": "x1", "id": id, "text": "hijack"}}));
    assert_eq!(error_of(&mut h, b).0, ErrorCode::NotStreaming);
    // Bounded: total size, and chunk rate.
    let id2 = bot_post(&mut h, &bot, "s2", "x", true).unwrap();
    let big = "y".repeat(TEXT_MAX_CHARS);
    let over = ClientFrame::Append { client_id: ClientId::parse("b1").unwrap(), id: id2, text: big };
    assert_eq!(bot_frame(&mut h, &bot, over), Err(ErrorCode::TextTooLong));
    let mut limited = 0;
    for i in 0..(STREAM_CHUNK_BURST + 10) {
        let c =
            ClientFrame::Append { client_id: ClientId::parse(&format!("k{i}")).unwrap(), id: id2, text: ".".into() };
        if bot_frame(&mut h, &bot, c) == Err(ErrorCode::RateLimited) {
            limited += 1;
        }
    }
    assert!(limited >= 9, "the chunk budget ran out ({limited})");
}

#[test]
fn the_admin_secret_moderates_any_room_as_its_owner() {
    let (mut h, _a, b, c) = room();
    let bob = h.id_of("bob");
    let alice = h.id_of("alice");
    let mute = ClientFrame::Moderate {
        client_id: ClientId::parse("adm1").unwrap(),
        action: Action::Mute { member: bob, minutes: 1 },
    };
    let (result, effects) = h.room.admin_op(&mut h.store, mute, h.now);
    h.apply(effects);
    assert!(result.is_ok());
    let entries = moderated(&h.take(c));
    assert_eq!((entries[0].by.id, entries[0].by.name.as_str()), (ADMIN, "admin"));
    h.take(b);
    h.send(b, "p", "hi");
    assert_eq!(error_of(&mut h, b).0, ErrorCode::Muted);
    // Even the admin does not act on the owner.
    let ban = ClientFrame::Moderate {
        client_id: ClientId::parse("adm2").unwrap(),
        action: Action::Ban { member: alice, ip: false, purge: false },
    };
    let (result, _) = h.room.admin_op(&mut h.store, ban, h.now);
    assert_eq!(result.unwrap_err().0.code, ErrorCode::Forbidden);
    assert_eq!(Actor::admin().role, Role::Owner);
}

#[test]
fn moderation_events_keep_the_log_contiguous_and_resumes_replay_only_messages() {
    let (mut h, a, b, _c) = room();
    h.send(b, "p1", "one");
    h.moderate(a, "t", json!({"kind": "topic", "text": "hello"}));
    h.moderate(a, "s", json!({"kind": "slow_mode", "seconds": 5}));
    h.send(a, "p2", "two");
    let seqs: Vec<u64> = h.store.events().map(|(seq, _)| seq).collect();
    assert_eq!(seqs, vec![1, 2, 3, 4]);
    let epoch = h.epoch();
    let r = h.resume("bob", KEY_B, 1, &epoch);
    let ServerFrame::Welcome { messages, settings, latest_seq, .. } = h.welcome(r) else { unreachable!() };
    assert_eq!(messages.iter().map(|m| m.id).collect::<Vec<_>>(), vec![4], "no message 0 for the settings");
    assert_eq!((settings.topic.as_str(), settings.slow_mode_secs, latest_seq), ("hello", 5, 4));
}

#[test]
fn a_mention_of_a_bot_with_a_webhook_is_queued_delivered_answered_once_and_retried_with_backoff() {
    use confab_worker::webhook::{Answer, RETRIES_MS};
    let (mut h, a, b, _c) = room();
    let (bot, _) = make_bot(&mut h, a, "helper");
    let refused = h.room.set_webhook(&mut h.store, &bot, Some("http://127.0.0.1:9/hook"), false);
    assert_eq!(refused.unwrap_err().code, ErrorCode::InvalidUrl, "loopback only with the development setting");
    let hook = h.room.set_webhook(&mut h.store, &bot, Some("http://127.0.0.1:9/hook"), true).unwrap().unwrap();
    assert!(hook.secret.len() > 32);
    h.send(b, "p0", "no mention, no delivery");
    assert!(h.room.due_deliveries(&mut h.store, h.now).is_empty());
    h.take(b);
    h.send(b, "p1", "@helper what time is it?");
    assert_eq!(h.room.next_wake(), Some(h.now), "the alarm is asked for at once");
    let due = h.room.due_deliveries(&mut h.store, h.now);
    assert_eq!(due.len(), 1);
    let event: confab_shared::api::WebhookEvent = serde_json::from_str(&due[0].body).unwrap();
    assert_eq!((event.event.as_str(), event.author.name.as_str(), event.bot.id), ("mention", "bob", bot.id));
    assert_eq!(event.message.text, "@helper what time is it?");
    // The text answer is posted as the bot, replying; the same answer again posts nothing new.
    h.take(b);
    let effects = h.room.delivered(&mut h.store, &due[0], Answer::Delivered(Some("noon".into())), h.now);
    h.apply(effects);
    let frames = h.take(b);
    let [ServerFrame::Message(reply)] = frames.as_slice() else { panic!("the reply: {frames:?}") };
    assert!(reply.bot && reply.text == "noon" && reply.reply_to.as_ref().map(|q| q.id) == Some(event.message.id));
    let effects = h.room.delivered(&mut h.store, &due[0], Answer::Delivered(Some("noon".into())), h.now);
    h.apply(effects);
    assert!(h.take(b).is_empty(), "a repeated answer is the same reply");
    assert!(h.room.due_deliveries(&mut h.store, h.now + 3_600_000).is_empty(), "done with");
    // The next mention is answered too (its queue row may reuse the first one's id).
    h.send(b, "p1b", "@helper and now?");
    let due = h.room.due_deliveries(&mut h.store, h.now);
    h.take(b);
    let effects = h.room.delivered(&mut h.store, &due[0], Answer::Delivered(Some("later".into())), h.now);
    h.apply(effects);
    assert!(
        h.take(b).iter().any(|f| matches!(f, ServerFrame::Message(m) if m.text == "later")),
        "a second mention gets its own reply"
    );
    // A failing receiver: retried after each wait, then dropped.
    h.send(b, "p2", "@helper again");
    let mut at = h.now;
    for (i, wait) in RETRIES_MS.iter().enumerate() {
        let due = h.room.due_deliveries(&mut h.store, at);
        assert_eq!(due.len(), 1, "try {}", i + 1);
        assert!(h.room.due_deliveries(&mut h.store, at).is_empty(), "not handed out twice while out");
        let lease = at + confab_worker::webhook::TIMEOUT_MS + 1_000;
        assert_eq!(h.room.due_deliveries(&mut h.store, lease).len(), 1, "still queued until answered");
        h.room.delivered(&mut h.store, &due[0], Answer::Retry, at);
        h.room.deliveries_settled(&mut h.store);
        assert!(h.room.due_deliveries(&mut h.store, at + wait - 1).is_empty(), "not before its wait");
        at += wait;
    }
    let last = h.room.due_deliveries(&mut h.store, at);
    h.room.delivered(&mut h.store, &last[0], Answer::Retry, at);
    h.room.deliveries_settled(&mut h.store);
    assert!(h.room.due_deliveries(&mut h.store, at + 86_400_000).is_empty(), "dropped after the last try");
    assert_eq!(h.room.next_wake(), None);
    // A bot mentioning itself is not told; a revoked bot's queue goes.
    let me = ClientFrame::Send {
        client_id: ClientId::parse("self").unwrap(),
        text: MessageText::parse("I am @helper").unwrap(),
        reply_to: None,
        streaming: false,
    };
    bot_frame(&mut h, &bot, me).unwrap();
    assert!(h.room.due_deliveries(&mut h.store, h.now).is_empty());
    h.send(b, "p3", "@helper?");
    h.moderate(a, "rv", json!({"kind": "revoke_bot", "member": bot.id}));
    assert!(h.room.due_deliveries(&mut h.store, h.now).is_empty());
}

#[test]
fn a_stream_its_bot_abandons_is_finished_by_the_room_even_after_an_eviction() {
    use confab_shared::limits::STREAM_IDLE_MS;
    let (mut h, a, b, _c) = room();
    let (bot, _) = make_bot(&mut h, a, "flaky");
    let id = bot_post(&mut h, &bot, "s1", "Thinking", true).unwrap();
    let chunk = ClientFrame::Append { client_id: ClientId::parse("c1").unwrap(), id, text: "…".into() };
    h.now += 1_000;
    bot_frame(&mut h, &bot, chunk).unwrap();
    assert_eq!(h.room.next_wake(), Some(h.now + STREAM_IDLE_MS), "the room will look again");
    h.take(b);
    // Evicted meanwhile (no tick first): the stream is found again in storage.
    h.store.new_instance();
    h.room = confab_worker::room::Room::restore("lobby", h.config, h.attachments.values().cloned(), &mut h.store);
    assert!(h.room.next_wake().is_some_and(|at| at <= h.now + STREAM_IDLE_MS));
    h.now += STREAM_IDLE_MS;
    h.tick();
    let frames = h.take(b);
    assert!(
        frames.iter().any(|f| matches!(f, ServerFrame::Finished { id: i, .. } if *i == id)),
        "finished for everyone: {frames:?}"
    );
    assert!(!h.store.all().find(|m| m.id == id).unwrap().streaming);
    assert_eq!(h.room.next_wake(), None, "nothing left to wait for");
}

#[test]
fn moderators_do_not_remove_the_owners_or_each_others_messages_but_the_owner_does() {
    let (mut h, a, b, c) = room();
    let (bob, carol) = (h.id_of("bob"), h.id_of("carol"));
    h.moderate(a, "r1", json!({"kind": "set_role", "member": bob, "role": "moderator"}));
    h.moderate(a, "r2", json!({"kind": "set_role", "member": carol, "role": "moderator"}));
    h.send(a, "p1", "the owner's");
    h.send(c, "p2", "a moderator's");
    let (owners, carols) = (3, 4);
    for s in [a, b, c] {
        h.take(s);
    }
    h.delete(b, "d1", owners);
    assert_eq!(error_of(&mut h, b).0, ErrorCode::Forbidden);
    h.delete(b, "d2", carols);
    assert_eq!(error_of(&mut h, b).0, ErrorCode::Forbidden);
    h.delete(a, "d3", carols);
    assert!(h.take(c).contains(&ServerFrame::Deleted { seq: 5, id: carols, removed: true }), "the owner may");
}

#[test]
fn a_muted_member_is_not_shown_typing() {
    let (mut h, a, b, c) = room();
    let bob = h.id_of("bob");
    h.moderate(a, "m1", json!({"kind": "mute", "member": bob, "minutes": 1}));
    h.take(c);
    h.text(b, json!({"type": "typing", "data": {}}));
    assert!(h.take(c).is_empty());
    h.now += 60_000;
    h.text(b, json!({"type": "typing", "data": {}}));
    assert_eq!(h.take(c).len(), 1, "typing again once the mute is over");
}

#[test]
fn bots_do_not_wake_each_others_webhooks_and_refused_chunks_cost_nothing() {
    let (mut h, a, b, _c) = room();
    let (one, _) = make_bot(&mut h, a, "ping");
    let (two, _) = make_bot(&mut h, a, "pong");
    h.room.set_webhook(&mut h.store, &two, Some("https://example.com/pong"), false).unwrap();
    bot_post(&mut h, &one, "x1", "@pong are you there?", false).unwrap();
    assert!(h.room.due_deliveries(&mut h.store, h.now).is_empty(), "no ping-pong between bots");
    h.send(b, "p1", "@pong hi");
    assert_eq!(h.room.due_deliveries(&mut h.store, h.now).len(), 1, "a person's mention is delivered");
    // Appends refused for another reason give their chunk back.
    let open = bot_post(&mut h, &one, "s1", "thinking", true).unwrap();
    let plain = bot_post(&mut h, &one, "s2", "not a stream", false).unwrap();
    for i in 0..(STREAM_CHUNK_BURST * 2) {
        let c =
            ClientFrame::Append { client_id: ClientId::parse(&format!("n{i}")).unwrap(), id: plain, text: ".".into() };
        assert_eq!(bot_frame(&mut h, &one, c), Err(ErrorCode::NotStreaming));
    }
    let c = ClientFrame::Append { client_id: ClientId::parse("ok").unwrap(), id: open, text: ".".into() };
    assert!(bot_frame(&mut h, &one, c).is_ok(), "the stream budget is untouched");
    // The audit trail names the bot each `create_bot` made.
    h.take(a);
    h.text(a, json!({"type": "audit", "data": {"limit": 10}}));
    let Some(ServerFrame::Audit { entries, .. }) = h.take(a).pop() else { panic!("an audit page") };
    let made: Vec<_> = entries.iter().filter_map(|e| e.target.as_ref().map(|t| t.name.as_str())).collect();
    assert_eq!(made, vec!["ping", "pong"]);
}

#[test]
fn a_revoked_bot_stays_revoked_counts_toward_the_cap_and_never_owns_a_room() {
    let (mut h, a, b, _c) = room();
    let (bot, token) = make_bot(&mut h, a, "helper");
    h.room.set_webhook(&mut h.store, &bot, Some("https://example.com/h"), false).unwrap();
    h.moderate(a, "rv", json!({"kind": "revoke_bot", "member": bot.id}));
    h.moderate(a, "ub", json!({"kind": "unban", "member": bot.id}));
    assert_eq!(h.room.authenticate(&mut h.store, &token).unwrap(), None, "an unban does not bring a token back");
    h.take(b);
    h.send(b, "p1", "@helper still there?");
    let frames = h.take(b);
    let [_ack, ServerFrame::Message(m)] = frames.as_slice() else { panic!("the post: {frames:?}") };
    assert_eq!(m.mentions, [bot.id], "the mention still names the bot");
    assert!(h.room.due_deliveries(&mut h.store, h.now).is_empty(), "nor its webhook");
    // Banned bots count toward the cap: banning and making more cannot pass it.
    let mut made = 0;
    for i in 0..(confab_shared::limits::BOTS_MAX + 5) {
        h.moderate(a, &format!("b{i}"), json!({"kind": "create_bot", "name": format!("bot{i}")}));
        let frames = h.take(a);
        let Some(id) = frames.iter().find_map(|f| match f {
            ServerFrame::BotCreated { bot, .. } => Some(bot.id),
            _ => None,
        }) else {
            continue;
        };
        made += 1;
        h.moderate(a, &format!("x{i}"), json!({"kind": "ban", "member": id}));
    }
    assert_eq!(made, confab_shared::limits::BOTS_MAX, "the cap holds with every bot banned");
    // A bot that joins a room before anyone else does not become its owner.
    let mut h2 = Harness::with_config(common::unlimited());
    let admin_bot = ClientFrame::Moderate {
        client_id: ClientId::parse("mk").unwrap(),
        action: Action::CreateBot { name: "early".into(), member: None },
    };
    let (done, _) = h2.room.admin_op(&mut h2.store, admin_bot, h2.now);
    let (_, token) = done.unwrap().bot.expect("the admin gets the token");
    let s = h2.join("early", &token);
    assert_eq!(you(&mut h2, s).0, Role::Bot);
    let p = h2.join("alice", KEY_A);
    assert_eq!(you(&mut h2, p).0, Role::Owner, "the first person owns it");
}

#[test]
fn the_rooms_own_finish_cannot_be_pre_empted_and_a_purge_forgets_the_stream() {
    use confab_shared::limits::STREAM_IDLE_MS;
    let (mut h, a, b, _c) = room();
    let (bot, _) = make_bot(&mut h, a, "flaky");
    let id = bot_post(&mut h, &bot, "s1", "Thinking", true).unwrap();
    // The bot takes the id the room's finish would have used under a guessable scheme.
    for guess in [format!("idle-finish-{id}"), format!("idle-{id}"), format!("idle{id}")] {
        bot_post(&mut h, &bot, &guess, "decoy", false).unwrap();
    }
    h.take(b);
    h.now += STREAM_IDLE_MS;
    h.tick();
    assert!(h.take(b).iter().any(|f| matches!(f, ServerFrame::Finished { id: i, .. } if *i == id)));
    // Banned with purge while streaming: the stream is removed, and not finished later.
    let id2 = bot_post(&mut h, &bot, "s2", "Again", true).unwrap();
    h.moderate(a, "ban", json!({"kind": "ban", "member": bot.id, "purge": true}));
    assert!(h.store.all().find(|m| m.id == id2).is_some_and(|m| m.removed));
    h.take(b);
    h.now += STREAM_IDLE_MS;
    h.tick();
    assert!(h.take(b).is_empty(), "no finish of a removed message");
    assert_eq!(h.room.next_wake(), None);
}
