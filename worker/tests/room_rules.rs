//! The room's rules, natively, with synthetic time. Each test drives `Room` the way the
//! Durable Object glue does and checks the frames each socket would receive.

use confab_shared::{ErrorCode, ServerFrame};
use confab_worker::room::{Input, RoomConfig, CLOSE_TOO_BIG};
use serde_json::json;

mod common;
use common::Harness;

const KEY_A: &str = "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";
const KEY_B: &str = "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb";
const KEY_C: &str = "cccccccccccccccccccccccccccccccccccccccc";

fn welcome(frames: &[ServerFrame]) -> (Vec<String>, Vec<u64>, bool, u64) {
    frames
        .iter()
        .find_map(|f| match f {
            ServerFrame::Welcome { members, messages, older, latest_seq, .. } => Some((
                members.iter().map(|m| m.name.clone()).collect(),
                messages.iter().map(|m| m.id).collect(),
                *older,
                *latest_seq,
            )),
            _ => None,
        })
        .expect("a welcome")
}

#[test]
fn join_gets_welcome_and_others_see_member_joined() {
    let mut h = Harness::new();
    let a = h.join("alice", KEY_A);
    let (members, messages, has_more, latest) = welcome(&h.take(a));
    assert_eq!((members, messages, has_more, latest), (vec!["alice".into()], vec![], false, 0));
    let b = h.join("  bob ", KEY_B);
    let frames = h.take(b);
    match &frames[0] {
        ServerFrame::Welcome { you, room, limits, .. } => {
            assert_eq!((you.name.as_str(), room.as_str()), ("bob", "lobby"));
            assert_eq!(limits.rate_burst, 20);
        }
        f => panic!("{f:?}"),
    }
    assert_eq!(welcome(&frames).0, vec!["alice", "bob"]);
    assert_eq!(h.take(a), vec![h.joined("bob")]);
}

#[test]
fn send_is_stored_acked_and_broadcast_in_seq_order_with_the_authenticated_author() {
    let mut h = Harness::new();
    let a = h.join("alice", KEY_A);
    let b = h.join("bob", KEY_B);
    h.take(a);
    h.take(b);
    h.send(a, "c1", "hello");
    h.send(b, "c1", "hi alice");
    let fa = h.take(a);
    assert!(matches!(&fa[0], ServerFrame::Ack { client_id, seq: 1, .. } if client_id == "c1"));
    let msgs: Vec<_> = fa
        .iter()
        .filter_map(|f| if let ServerFrame::Message(m) = f { Some((m.id, m.author.clone())) } else { None })
        .collect();
    assert_eq!(msgs, vec![(1, "alice".into()), (2, "bob".into())]);
    let fb = h.take(b);
    assert!(fb.iter().any(|f| matches!(f, ServerFrame::Ack { seq: 2, .. })));
    assert_eq!(
        h.store.all().map(|m| (m.id, m.author.as_str(), m.text.as_str())).collect::<Vec<_>>(),
        vec![(1, "alice", "hello"), (2, "bob", "hi alice")]
    );
}

#[test]
fn a_resent_client_id_is_acked_again_and_stored_once() {
    let mut h = Harness::new();
    let a = h.join("alice", KEY_A);
    let b = h.join("bob", KEY_B);
    h.send(a, "same", "once");
    h.take(a);
    h.take(b);
    // Same member, another socket (a reconnect), same client_id.
    let a2 = h.join("alice", KEY_A);
    h.take(a2);
    h.send(a2, "same", "once");
    assert_eq!(h.take(a2), vec![ServerFrame::Ack { client_id: "same".into(), seq: 1, ts: 1_000_000 }]);
    assert!(h.take(b).is_empty(), "nothing broadcast twice");
    assert_eq!(h.store.all().count(), 1);
    // Another member may use the same client_id: ids are per member.
    h.send(b, "same", "mine");
    assert_eq!(h.store.all().count(), 2);
}

#[test]
fn nobody_can_speak_as_a_name_they_do_not_own() {
    let mut h = Harness::new();
    let a = h.join("alice", KEY_A);
    h.take(a);
    let thief = h.join("Alice", KEY_B);
    assert_eq!(h.last_error(thief).0, ErrorCode::NameTaken);
    // Still not joined: sending is refused.
    h.send(thief, "x", "I am alice");
    assert_eq!(h.last_error(thief).0, ErrorCode::NotJoined);
    // The claim outlives the owner's sockets.
    h.close(a);
    let thief2 = h.join("alice", KEY_B);
    assert_eq!(h.last_error(thief2).0, ErrorCode::NameTaken);
    // The owner comes back with the key.
    let a2 = h.join("alice", KEY_A);
    assert!(matches!(h.take(a2)[0], ServerFrame::Welcome { .. }));
}

#[test]
fn several_tabs_are_one_member_and_no_ghost_remains() {
    let mut h = Harness::new();
    let b = h.join("bob", KEY_B);
    h.take(b);
    let a1 = h.join("alice", KEY_A);
    let a2 = h.join("alice", KEY_A);
    assert_eq!(h.take(b), vec![h.joined("alice")], "second tab is not a new member");
    assert_eq!(welcome(&h.take(a2)).0, vec!["alice", "bob"]);
    h.close(a1);
    assert!(h.take(b).is_empty(), "one tab left: still present");
    h.close(a2);
    assert_eq!(h.take(b), vec![h.left("alice")]);
    assert_eq!(h.room.member_names(), vec!["bob"]);
    // Closing a socket that never joined changes nothing.
    let lurker = h.open();
    h.close(lurker);
    assert!(h.take(b).is_empty());
}

#[test]
fn typing_is_relayed_to_others_at_most_every_two_seconds_and_a_message_ends_it() {
    let mut h = Harness::new();
    let a = h.join("alice", KEY_A);
    let b = h.join("bob", KEY_B);
    h.take(a);
    h.take(b);
    let typing = json!({"type": "typing", "data": {}});
    h.text(a, typing.clone());
    assert_eq!(h.take(b), vec![h.typing("alice")]);
    assert!(h.take(a).is_empty(), "not echoed to the typist");
    h.now += 1_999;
    h.text(a, typing.clone());
    assert!(h.take(b).is_empty(), "throttled");
    h.now += 1;
    h.text(a, typing.clone());
    assert_eq!(h.take(b).len(), 1);
    h.now += 100;
    h.send(a, "m", "done");
    h.take(b);
    h.text(a, typing);
    assert_eq!(h.take(b), vec![h.typing("alice")], "a message resets the throttle");
}

#[test]
fn rate_limit_refuses_past_the_burst_and_refills_at_the_rate() {
    let mut h = Harness::new();
    let a = h.join("alice", KEY_A);
    for i in 0..20 {
        h.send(a, &format!("c{i}"), "spam");
    }
    h.take(a);
    h.send(a, "c20", "one too many");
    assert_eq!(h.last_error(a), (ErrorCode::RateLimited, Some(200)));
    assert_eq!(h.store.all().count(), 20);
    h.now += 199;
    h.send(a, "c21", "still too early");
    assert_eq!(h.last_error(a), (ErrorCode::RateLimited, Some(1)));
    h.now += 1;
    h.send(a, "c22", "now");
    assert!(matches!(h.take(a)[0], ServerFrame::Ack { .. }));
    // Ten seconds refill everything, never more than the burst.
    h.now += 10_000;
    for i in 0..20 {
        h.send(a, &format!("d{i}"), "again");
    }
    h.take(a);
    h.send(a, "d20", "over");
    assert_eq!(h.last_error(a).0, ErrorCode::RateLimited);
}

#[test]
fn rate_limit_is_per_member_across_tabs_and_rejoins() {
    let mut h = Harness::new();
    let a1 = h.join("alice", KEY_A);
    let a2 = h.join("alice", KEY_A);
    for i in 0..20 {
        h.send(if i % 2 == 0 { a1 } else { a2 }, &format!("c{i}"), "x");
    }
    h.take(a1);
    h.send(a2, "c20", "x");
    assert_eq!(h.last_error(a2).0, ErrorCode::RateLimited);
    h.close(a1);
    h.close(a2);
    let a3 = h.join("alice", KEY_A);
    h.take(a3);
    h.send(a3, "c21", "x");
    assert_eq!(h.last_error(a3).0, ErrorCode::RateLimited, "leaving and rejoining does not reset the bucket");
}

#[test]
fn hibernation_keeps_members_claims_buckets_and_typing() {
    // A refill slower than the idle time before eviction (20 s for 20 messages): the spent
    // budget must survive it.
    let slow = RoomConfig { rate_per_sec: 1, ..RoomConfig::default() };
    let mut h = Harness::with_config(slow);
    let a = h.join("alice", KEY_A);
    let b = h.join("bob", KEY_B);
    for i in 0..20 {
        h.send(a, &format!("c{i}"), "x");
    }
    h.text(b, json!({"type": "typing", "data": {}}));
    h.take(a);
    h.take(b);
    h.hibernate();
    assert_eq!(h.room.member_names(), vec!["alice", "bob"]);
    // The 10 s of idle before eviction refilled 10 of the 20 spent, no more.
    for i in 20..30 {
        h.send(a, &format!("c{i}"), "x");
    }
    h.take(a);
    h.send(a, "c30", "x");
    assert_eq!(h.last_error(a).0, ErrorCode::RateLimited, "the bucket survived");
    // The typing throttle is memory only: hibernation takes seconds of silence, by when its
    // 2 s have passed anyway.
    h.text(b, json!({"type": "typing", "data": {}}));
    assert_eq!(h.take(a), vec![h.typing("bob")]);
    let thief = h.join("alice", KEY_B);
    assert_eq!(h.last_error(thief).0, ErrorCode::NameTaken);
    // New sockets get fresh ids after a restore.
    let c = h.join("carol", "cccccccccccccccccccccccccccccccccccccccc");
    assert!(c > b && c > thief);
    h.close(b);
    assert!(h.take(a).contains(&h.left("bob")));
    h.now += 1_000;
    h.send(a, "c31", "seq continues");
    assert!(h.take(a).iter().any(|f| matches!(f, ServerFrame::Ack { seq: 31, .. })));
}

#[test]
fn welcome_has_the_last_50_and_resume_sends_what_changed_once_each() {
    let mut h = Harness::with_config(common::unlimited());
    let a = h.join("alice", KEY_A);
    for i in 0..260 {
        h.send(a, &format!("c{i}"), &format!("m{i}"));
    }
    let b = h.join("bob", KEY_B);
    let (_, ids, older, latest) = welcome(&h.take(b));
    assert_eq!((ids.len(), ids[0], *ids.last().unwrap(), older, latest), (50, 211, 260, true, 260));
    let epoch = h.epoch();
    // Resume after a small gap: exactly what came after.
    let s = h.resume("bob", KEY_B, 255, &epoch);
    let (_, ids, _, _) = welcome(&h.take(s));
    assert_eq!(ids, vec![256, 257, 258, 259, 260]);
    // Up to date: nothing.
    let s = h.resume("bob", KEY_B, 260, &epoch);
    assert_eq!(welcome(&h.take(s)).1, Vec::<u64>::new());
    // Changes to old messages are events too: an edit, a delete and two reactions on
    // messages 3 and 4 come back as those two messages, once each, as they are now.
    h.edit(a, "e1", 3, "m2 fixed");
    h.react(a, "r1", 3, "👍", true);
    h.react(a, "r2", 3, "🎉", true);
    h.delete(a, "d1", 4);
    h.send(a, "c-new", "new");
    let s = h.resume("bob", KEY_B, 260, &epoch);
    match h.welcome(s) {
        ServerFrame::Welcome { messages, latest_seq, gap, reset, .. } => {
            assert_eq!((latest_seq, gap, reset), (265, false, false));
            let got: Vec<_> = messages.iter().map(|m| (m.id, m.version, m.text.as_str(), m.deleted)).collect();
            assert_eq!(got, vec![(3, 263, "m2 fixed", false), (4, 264, "", true), (265, 265, "new", false)]);
            assert_eq!(messages[0].reactions.len(), 2);
            assert_eq!(messages[0].edited_ts, Some(h.now));
        }
        f => panic!("{f:?}"),
    }
    // Too much changed: a fresh view, marked as a gap.
    let s = h.resume("bob", KEY_B, 10, &epoch);
    match h.welcome(s) {
        ServerFrame::Welcome { messages, gap, reset, older, .. } => {
            assert_eq!((messages.len(), gap, reset, older), (50, true, false, true));
            assert_eq!(messages.last().unwrap().id, 265);
        }
        f => panic!("{f:?}"),
    }
}

#[test]
fn a_resume_too_far_back_is_a_gap_without_scanning_the_log() {
    let mut h = Harness::with_config(common::unlimited());
    let a = h.join("alice", KEY_A);
    h.send(a, "p", "one message");
    let epoch = h.epoch();
    // Many events, all on one message: reactions toggled on and off.
    let limit = confab_shared::limits::RESUME_EVENTS_MAX;
    for i in 0..=limit {
        h.now += 2; // within the member's rate
        h.react(a, &format!("r{i}"), 1, "👍", i % 2 == 0);
    }
    h.take(a);
    let latest = 1 + limit + 1;
    assert_eq!(h.room.info(&mut h.store).unwrap().latest_seq, latest);
    // Within the bound: the one message that changed.
    let near = h.resume("bob", KEY_B, latest - limit, &epoch);
    assert!(matches!(h.welcome(near), ServerFrame::Welcome { gap: false, ref messages, .. } if messages.len() == 1));
    // Past it: a fresh view and `gap`, though only one message changed.
    let far = h.resume("bob", KEY_B, latest - limit - 1, &epoch);
    assert!(matches!(h.welcome(far), ServerFrame::Welcome { gap: true, .. }));
}

#[test]
fn history_pages_back_without_gaps() {
    let mut h = Harness::with_config(common::unlimited());
    let a = h.join("alice", KEY_A);
    for i in 0..120 {
        h.send(a, &format!("c{i}"), "x");
    }
    h.take(a);
    let mut before = 71;
    let mut seen = vec![];
    loop {
        h.text(a, json!({"type": "history", "data": {"before": before, "limit": 30}}));
        let Some(ServerFrame::History { messages, older }) = h.take(a).pop() else { panic!() };
        before = messages[0].id;
        seen.extend(messages.iter().rev().map(|m| m.id));
        if !older {
            break;
        }
    }
    assert_eq!(seen, (1..=70).rev().collect::<Vec<_>>());
    let page = h.room.history(&mut h.store, None, 10).unwrap();
    assert_eq!((page.messages[0].id, page.messages.len(), page.older), (111, 10, true));
}

#[test]
fn every_refusal_has_its_code_and_the_socket_keeps_serving() {
    let mut h = Harness::new();
    let a = h.open();
    h.raw(a, "not json");
    assert_eq!(h.last_error(a).0, ErrorCode::BadFrame);
    h.send(a, "c", "before join");
    assert_eq!(h.last_error(a).0, ErrorCode::NotJoined);
    h.text(a, json!({"type": "typing", "data": {}}));
    assert_eq!(h.last_error(a).0, ErrorCode::NotJoined);
    h.text(a, json!({"type": "join", "data": {"v": 2, "name": "\u{202E}evil", "key": KEY_A}}));
    assert_eq!(h.last_error(a).0, ErrorCode::InvalidName);
    h.text(a, json!({"type": "join", "data": {"v": 2, "name": "alice", "key": KEY_A}}));
    h.take(a);
    h.text(a, json!({"type": "join", "data": {"v": 2, "name": "alice", "key": KEY_A}}));
    assert_eq!(h.last_error(a).0, ErrorCode::BadRequest);
    h.send(a, "c", "   ");
    assert_eq!(h.last_error(a).0, ErrorCode::EmptyText);
    h.send(a, "c", &"x".repeat(4001));
    assert_eq!(h.last_error(a).0, ErrorCode::TextTooLong);
    h.text(a, json!({"type": "history", "data": {"before": 1, "limit": 1000}}));
    assert_eq!(h.last_error(a).0, ErrorCode::BadRequest);
    h.text(a, json!({"type": "what", "data": {}}));
    assert_eq!(h.last_error(a).0, ErrorCode::BadFrame);
    let effects = h.room.handle(&mut h.store, Input::Binary(a, 10), h.now);
    h.apply(effects);
    assert_eq!(h.last_error(a).0, ErrorCode::BadFrame);
    assert!(h.closed.is_empty(), "none of those close the socket");
    h.send(a, "ok", "still here");
    assert!(matches!(h.take(a)[0], ServerFrame::Ack { .. }));
    h.raw(a, &"x".repeat(20_000));
    assert_eq!(h.last_error(a).0, ErrorCode::FrameTooLarge);
    assert_eq!(h.closed.get(&a), Some(&CLOSE_TOO_BIG));
}

#[test]
fn a_storage_failure_is_internal_and_nothing_is_broadcast() {
    let mut h = Harness::new();
    let a = h.join("alice", KEY_A);
    let b = h.join("bob", KEY_B);
    h.take(a);
    h.take(b);
    h.store.fail = true;
    h.send(a, "c1", "lost?");
    assert_eq!(h.last_error(a).0, ErrorCode::Internal);
    assert!(h.take(b).is_empty());
    h.store.fail = false;
    h.send(a, "c1", "retried");
    assert!(matches!(h.take(a)[0], ServerFrame::Ack { seq: 1, .. }));
}

#[test]
fn timestamps_never_go_backwards() {
    let mut h = Harness::new();
    let a = h.join("alice", KEY_A);
    h.send(a, "c1", "first");
    h.now -= 5_000;
    h.send(a, "c2", "clock went back");
    let ts: Vec<_> = h.store.all().map(|m| m.ts).collect();
    assert_eq!(ts, vec![1_000_000, 1_000_000]);
}

#[test]
fn room_info_counts_members_and_seq() {
    let mut h = Harness::new();
    let a = h.join("alice", KEY_A);
    h.join("alice", KEY_A);
    h.join("bob", KEY_B);
    h.send(a, "c", "x");
    let info = h.room.info(&mut h.store).unwrap();
    assert_eq!((info.room.as_str(), info.members_online, info.latest_seq), ("lobby", 2, 1));
}

#[test]
fn silent_sockets_are_swept_and_any_frame_counts_across_hibernation() {
    let mut h = Harness::new();
    let pinger = h.join("alice", KEY_A);
    let sender = h.join("bot", KEY_B);
    h.now += 10_000;
    let ghost = h.join("bob", KEY_C);
    h.take(pinger);
    // alice only pings (the runtime records it); the bot only sends, every 20 s, and never
    // pings; bob's peer vanished. The room hibernates between the bot's messages.
    let mut pinged_at = h.now;
    for i in 0..9 {
        h.now += 20_000;
        pinged_at = h.now - 1_000;
        h.send(sender, &format!("b{i}"), "reading: 21.5 °C");
        h.hibernate();
        let effects = h.room.sweep(&mut h.store, h.now, |s| (s == pinger).then_some(pinged_at));
        h.apply(effects);
    }
    // 190 s later: bob is gone (once), the pinger and the silent-but-sending bot stay.
    assert_eq!(h.closed.get(&ghost), Some(&confab_shared::close::GOING_AWAY));
    assert!(!h.closed.contains_key(&sender), "a client that sends but never pings is alive");
    assert!(!h.closed.contains_key(&pinger));
    let left: Vec<_> =
        h.take(pinger).into_iter().filter(|f| matches!(f, ServerFrame::MemberLeft(m) if m.name == "bob")).collect();
    assert_eq!(left.len(), 1, "bob leaves once");
    assert_eq!(h.room.member_names(), ["alice", "bot"]);
    let _ = pinged_at;
}

#[test]
fn a_socket_the_room_closed_never_comes_back_as_a_member() {
    let mut h = Harness::new();
    let watcher = h.join("alice", KEY_A);
    let big = h.join("bob", KEY_B);
    h.take(watcher);
    // The room closes bob's socket (frame too large); his peer never answers the close, so the
    // runtime keeps listing the socket with its attachment.
    let effects = h.room.handle(&mut h.store, Input::TooLarge(big, 30 << 20), h.now);
    h.apply(effects);
    assert_eq!(h.closed.get(&big), Some(&confab_shared::close::TOO_BIG));
    assert!(h.take(watcher).iter().any(|f| matches!(f, ServerFrame::MemberLeft(m) if m.name == "bob")));
    assert_eq!(h.room.member_names(), ["alice"], "he left at once");
    h.hibernate();
    assert_eq!(h.room.member_names(), ["alice"], "not a ghost after a wake");
    // The runtime's late close event finds nothing: no second member_left.
    h.close(big);
    assert!(h.take(watcher).is_empty());
}

#[test]
fn sockets_that_do_not_join_in_time_are_closed() {
    let mut h = Harness::new();
    let idle = h.open();
    let joins = h.open();
    h.now += 5_000;
    h.text(joins, json!({"type": "join", "data": {"v": 2, "name": "alice", "key": KEY_A}}));
    assert_eq!(h.wake, Some(1_000_000 + confab_shared::limits::JOIN_DEADLINE_MS));
    h.tick();
    assert_eq!(h.closed.get(&idle), Some(&confab_shared::close::JOIN_TIMEOUT));
    assert!(!h.closed.contains_key(&joins));
    assert_eq!(h.room.next_wake(), None);
    // The deadline survives hibernation (rebuilt from the attachment, not ticked first).
    let late = h.open();
    h.room = confab_worker::room::Room::restore("lobby", h.config, h.attachments.values().cloned(), &mut h.store);
    assert_eq!(h.room.next_wake(), Some(h.now + confab_shared::limits::JOIN_DEADLINE_MS));
    h.now += confab_shared::limits::JOIN_DEADLINE_MS;
    let effects = h.room.handle(&mut h.store, Input::Tick, h.now);
    h.apply(effects);
    assert!(h.closed.contains_key(&late));
}

#[test]
fn addresses_count_by_ipv4_and_by_ipv6_64() {
    use confab_worker::room::address_key;
    assert_eq!(address_key("192.0.2.1"), "192.0.2.1");
    assert_eq!(address_key("2001:db8:1:2:aaaa::1"), address_key("2001:db8:1:2:bbbb::2"));
    assert_ne!(address_key("2001:db8:1:2::1"), address_key("2001:db8:1:3::1"));
    assert_eq!(address_key(&"x".repeat(500)).len(), 64);
    let config = RoomConfig { max_sockets_per_ip: 2, ..RoomConfig::default() };
    let mut h = Harness::with_config(config);
    h.open_from(Some("2001:db8::1"));
    h.open_from(Some("2001:db8::2"));
    assert!(h.room.open(h.now, Some("2001:db8::ffff")).is_err(), "one /64, one address");
}

#[test]
fn invalid_names_count_towards_the_refused_join_cap() {
    let mut h = Harness::new();
    let s = h.open();
    for _ in 0..confab_shared::limits::REFUSED_JOINS_MAX {
        h.text(s, json!({"type": "join", "data": {"v": 2, "name": "bad\u{200B}name", "key": KEY_A}}));
    }
    assert_eq!(h.closed.get(&s), Some(&confab_shared::close::POLICY));
}

#[test]
fn refused_joins_are_capped_then_the_socket_is_closed() {
    let mut h = Harness::new();
    h.join("alice", KEY_A);
    let guesser = h.open();
    for i in 0..confab_shared::limits::REFUSED_JOINS_MAX {
        assert!(!h.closed.contains_key(&guesser), "try {i}");
        h.text(guesser, json!({"type": "join", "data": {"v": 2, "name": "alice", "key": format!("{i:g<40}")}}));
        assert_eq!(h.last_error(guesser).0, ErrorCode::NameTaken);
    }
    assert_eq!(h.closed.get(&guesser), Some(&confab_shared::close::POLICY));
}

#[test]
fn every_frame_kind_costs_from_the_socket_budget_and_a_flood_is_closed() {
    let config = RoomConfig { socket_burst: 10, socket_per_sec: 1, ..RoomConfig::default() };
    let mut h = Harness::with_config(config);
    let a = h.join("alice", KEY_A);
    h.send(a, "c1", "one");
    h.take(a);
    // history costs HISTORY_COST: the join, the send and nine tokens are gone after one page.
    h.text(a, json!({"type": "history", "data": {"before": 10, "limit": 100}}));
    let (code, retry) = h.last_error(a);
    assert_eq!(code, ErrorCode::RateLimited);
    assert!(retry.is_some_and(|r| r > 0 && r <= 60_000), "{retry:?}");
    // Eight tokens left: typing frames cost one each, relayed or not.
    for _ in 0..8 {
        h.text(a, json!({"type": "typing", "data": {}}));
    }
    assert!(h.take(a).is_empty());
    // A refused send names its client_id.
    h.send(a, "c2", "two");
    match h.take(a).pop() {
        Some(ServerFrame::Error { code: ErrorCode::RateLimited, client_id: Some(id), .. }) => assert_eq!(id, "c2"),
        other => panic!("{other:?}"),
    }
    h.now += 1_000;
    h.text(a, json!({"type": "typing", "data": {}}));
    assert!(h.take(a).is_empty(), "one token back after a second");
    // A flood far past the budget is closed.
    for _ in 0..=config.socket_burst {
        h.raw(a, "nonsense");
    }
    assert_eq!(h.closed.get(&a), Some(&confab_shared::close::POLICY));
}

#[test]
fn the_room_wide_budget_bounds_minted_names() {
    let config = RoomConfig { room_rate_burst: 30, room_rate_per_sec: 1, ..RoomConfig::default() };
    let mut h = Harness::with_config(config);
    let mut stored = 0;
    let mut refused = 0;
    for i in 0..10 {
        let s = h.join(&format!("sock{i}"), &format!("{i:m<40}"));
        for j in 0..10 {
            h.send(s, &format!("c{j}"), "spam");
        }
        for f in h.take(s) {
            match f {
                ServerFrame::Ack { .. } => stored += 1,
                ServerFrame::Error { code: ErrorCode::RateLimited, client_id: Some(_), .. } => refused += 1,
                _ => {}
            }
        }
    }
    assert_eq!(stored, 30, "ten names, one room budget");
    assert_eq!(refused, 70);
}

#[test]
fn a_resend_of_a_stored_message_costs_no_rate_token() {
    let config = RoomConfig { rate_burst: 2, rate_per_sec: 1, ..RoomConfig::default() };
    let mut h = Harness::with_config(config);
    let a = h.join("alice", KEY_A);
    h.send(a, "c1", "one");
    h.send(a, "c2", "two");
    h.take(a);
    // Bucket empty; an outbox flushed after a reconnect resends both: acked, not refused.
    h.send(a, "c1", "one");
    h.send(a, "c2", "two");
    let frames = h.take(a);
    assert!(frames.iter().all(|f| matches!(f, ServerFrame::Ack { .. })), "{frames:?}");
    // With tokens left, a resend takes one and gives it back when the store finds it.
    h.now += 1_000;
    h.send(a, "c1", "one");
    h.send(a, "c1", "one");
    h.send(a, "c3", "three");
    let frames = h.take(a);
    assert!(frames.iter().filter(|f| matches!(f, ServerFrame::Ack { .. })).count() == 3, "{frames:?}");
    h.send(a, "c4", "four");
    assert_eq!(h.last_error(a).0, ErrorCode::RateLimited, "the one refilled token went to c3");
}

#[test]
fn sockets_are_capped_per_room_and_per_address() {
    let config = RoomConfig { max_sockets: 4, max_sockets_per_ip: 2, ..RoomConfig::default() };
    let mut h = Harness::with_config(config);
    let join = |h: &mut Harness, s, n: &str| {
        h.text(s, json!({"type": "join", "data": {"v": 2, "name": n, "key": KEY_A}}));
        s
    };
    let s = h.open_from(Some("192.0.2.1"));
    let a = join(&mut h, s, "a");
    let s = h.open_from(Some("192.0.2.1"));
    join(&mut h, s, "a");
    let refused = h.room.open(h.now, Some("192.0.2.1")).unwrap_err();
    assert_eq!(refused.code, ErrorCode::TooManyConnections);
    let s = h.open_from(Some("192.0.2.2"));
    join(&mut h, s, "a");
    let s = h.open_from(None);
    join(&mut h, s, "a");
    assert_eq!(h.room.open(h.now, Some("192.0.2.3")).unwrap_err().code, ErrorCode::TooManyConnections);
    // A closed socket frees its place, also for its address; counts survive hibernation.
    h.close(a);
    h.hibernate();
    h.open_from(Some("192.0.2.1"));
    assert!(h.room.open(h.now, Some("192.0.2.1")).is_err());
}

#[test]
fn http_reads_cost_from_a_budget_per_address() {
    let config = RoomConfig { socket_burst: 20, socket_per_sec: 10, ..RoomConfig::default() };
    let mut h = Harness::with_config(config);
    let (ip, cost) = (Some("203.0.113.9"), confab_shared::limits::HISTORY_COST);
    assert!(h.room.admit_read(ip, cost, h.now).is_ok());
    assert!(h.room.admit_read(ip, cost, h.now).is_ok());
    let wait = h.room.admit_read(ip, cost, h.now).unwrap_err();
    assert_eq!(wait, 1_000, "ten tokens at ten a second");
    assert!(h.room.admit_read(Some("203.0.113.10"), cost, h.now).is_ok(), "another address has its own");
    assert!(h.room.admit_read(None, cost, h.now).is_ok());
    h.now += 1_000;
    assert!(h.room.admit_read(ip, cost, h.now).is_ok());
    // Bounded: thousands of addresses keep at most HTTP_READERS_MAX budgets.
    for i in 0..(confab_worker::room::HTTP_READERS_MAX + 10) {
        let _ = h.room.admit_read(Some(&format!("10.0.{}.{}", i / 256, i % 256)), 1, h.now);
    }
    assert!(h.room.address_budgets().0 <= confab_worker::room::HTTP_READERS_MAX);
}

#[test]
fn new_sockets_per_address_have_a_rate() {
    let config = RoomConfig { connect_burst: 3, connect_per_sec: 1, ..RoomConfig::default() };
    let mut h = Harness::with_config(config);
    let ip = Some("203.0.113.5");
    for _ in 0..3 {
        let s = h.open_from(ip);
        h.close(s);
    }
    assert_eq!(h.room.open(h.now, ip).unwrap_err().code, ErrorCode::TooManyConnections, "a fourth at once");
    assert!(h.room.open(h.now, Some("203.0.113.6")).is_ok(), "another address");
    h.now += 1_000;
    assert!(h.room.open(h.now, ip).is_ok(), "one more a second later");
}

#[test]
fn look_alike_names_are_one_claim() {
    let mut h = Harness::new();
    let a = h.join("alice", KEY_A);
    h.take(a);
    for look_alike in ["\u{430}lice", "ALICE", "alice\u{E0100}", "ａｌｉｃｅ"] {
        let s = h.join(look_alike, KEY_B);
        let frames = h.take(s);
        assert!(
            frames
                .iter()
                .any(|f| matches!(f, ServerFrame::Error { code: ErrorCode::NameTaken | ErrorCode::InvalidName, .. })),
            "{look_alike:?}: {frames:?}"
        );
    }
    let jose = h.join("Jos\u{e9}", KEY_A);
    h.take(jose);
    let nfd = h.join("Jose\u{301}", KEY_B);
    assert_eq!(h.last_error(nfd).0, ErrorCode::NameTaken);
    let spaced = h.join("a b", KEY_A);
    h.take(spaced);
    let nbsp = h.join("a\u{A0}b", KEY_B);
    assert_eq!(h.last_error(nbsp).0, ErrorCode::NameTaken);
    // The owner's own look-alike spelling is the same member, not a second one (shown as
    // the owner typed it last).
    let id = h.id_of("alice");
    let again = h.join("\u{430}lice", KEY_A);
    assert!(h.take(again).iter().any(|f| matches!(f, ServerFrame::Welcome { you, .. } if you.id == id)));
}

#[test]
fn a_members_budget_is_kept_in_storage_across_leaving_and_hibernation() {
    // A refill slower than the idle time before eviction: what was spent is saved.
    let slow = RoomConfig { rate_per_sec: 1, ..RoomConfig::default() };
    let mut h = Harness::with_config(slow);
    let a = h.join("alice", KEY_A);
    for i in 0..20 {
        h.send(a, &format!("c{i}"), "x");
    }
    h.take(a);
    h.hibernate();
    // Memory is gone; the budget is not (10 s refilled 10 of 20).
    h.send(a, "c20", "x");
    assert!(matches!(h.take(a).first(), Some(ServerFrame::Ack { .. })));
    for i in 21..30 {
        h.send(a, &format!("c{i}"), "x");
    }
    h.take(a);
    h.send(a, "c30", "x");
    assert_eq!(h.last_error(a).0, ErrorCode::RateLimited, "only what refilled");
    // Leaving and coming straight back does not refill it either.
    h.close(a);
    h.room = confab_worker::room::Room::restore("lobby", h.config, std::iter::empty(), &mut h.store);
    let a = h.join("alice", KEY_A);
    h.take(a);
    h.send(a, "c31", "x");
    assert_eq!(h.last_error(a).0, ErrorCode::RateLimited);
}

#[test]
fn with_the_default_limits_a_burst_is_one_write_per_message() {
    // 20 messages at 5 per second refill in 4 s, before the room can be evicted: the budget
    // is never written, and after a wake it is full, as it truly is by then.
    let mut h = Harness::new();
    let a = h.join("alice", KEY_A);
    for i in 0..20 {
        h.send(a, &format!("c{i}"), "x");
    }
    h.take(a);
    let alice = h.id_of("alice");
    assert_eq!(h.store.saved_bucket(alice), None, "nothing saved");
    h.hibernate();
    for i in 20..40 {
        h.send(a, &format!("c{i}"), "x");
    }
    assert!(h.take(a).iter().all(|f| !matches!(f, ServerFrame::Error { .. })), "a full budget after the wake");
}

#[test]
fn an_impossible_resume_is_a_reset() {
    let mut h = Harness::new();
    let a = h.join("alice", KEY_A);
    h.send(a, "c1", "one");
    let b = h.open();
    h.text(b, json!({"type": "join", "data": {"v": 2, "name": "bob", "key": KEY_B, "since": 500}}));
    match h.take(b).into_iter().find(|f| matches!(f, ServerFrame::Welcome { .. })) {
        Some(ServerFrame::Welcome { reset, messages, latest_seq, .. }) => {
            assert!(reset);
            assert_eq!(latest_seq, 1);
            assert_eq!(messages.len(), 1, "what a fresh join gets");
        }
        other => panic!("{other:?}"),
    }
    let c = h.open();
    h.text(c, json!({"type": "join", "data": {"v": 2, "name": "carol", "key": KEY_C, "since": 1}}));
    assert!(h.take(c).iter().any(|f| matches!(f, ServerFrame::Welcome { reset: false, .. })));
}

#[test]
fn a_lapsed_claim_can_be_taken() {
    let mut h = Harness::new();
    let a = h.join("alice", KEY_A);
    h.close(a);
    h.now += confab_worker::store::CLAIM_IDLE_MS - 1;
    let b = h.join("alice", KEY_B);
    assert_eq!(h.last_error(b).0, ErrorCode::NameTaken);
    h.now += 1;
    let b = h.join("alice", KEY_B);
    assert!(h.take(b).iter().any(|f| matches!(f, ServerFrame::Welcome { .. })));
}

#[test]
fn a_crowd_arriving_at_once_is_announced_in_batches() {
    use confab_worker::room::{PRESENCE_BATCH_MS, PRESENCE_IMMEDIATE, PRESENCE_WINDOW_MS};
    let mut h = Harness::new();
    let watcher = h.join("watcher", KEY_A);
    h.take(watcher);
    // A crowd of 30 joins within a few milliseconds.
    let mut crowd = Vec::new();
    for i in 0..30 {
        crowd.push(h.join(&format!("guest{i}"), &format!("{:k<40}", i)));
    }
    let frames = h.take(watcher);
    let one_by_one = frames.iter().filter(|f| matches!(f, ServerFrame::MemberJoined { .. })).count();
    assert_eq!(one_by_one, PRESENCE_IMMEDIATE - 1, "the watcher's own join used one of the window's announcements");
    assert!(!frames.iter().any(|f| matches!(f, ServerFrame::Presence { .. })), "the rest waits for the tick");
    let at = h.wake.expect("the room asked to be woken");
    assert_eq!(at, h.now + PRESENCE_BATCH_MS);
    // Two of the crowd leave again before the batch goes out: announced as gone (guests who
    // joined after them saw them in their welcome), not as arrived.
    h.close(crowd[20]);
    h.close(crowd[29]);
    h.tick();
    let frames = h.take(watcher);
    let [ServerFrame::Presence { joined, left }] = frames.as_slice() else { panic!("one presence frame: {frames:?}") };
    assert_eq!(joined.len(), 30 - (PRESENCE_IMMEDIATE - 1) - 2);
    let mut left: Vec<_> = left.iter().map(|m| m.name.as_str()).collect();
    left.sort();
    assert_eq!(left, ["guest20", "guest29"]);
    assert!(!joined.iter().any(|m| m.name == "guest20"));
    assert_eq!(h.room.member_names().len(), 1 + 28);
    // Once the window has passed, single changes go out at once again.
    h.now += PRESENCE_WINDOW_MS;
    h.close(crowd[0]);
    assert!(h.take(watcher).iter().any(|f| matches!(f, ServerFrame::MemberLeft(m) if m.name == "guest0")));
    assert_eq!(h.wake, None);
}

#[test]
fn a_clients_batch_flag_survives_hibernation() {
    let mut h = Harness::new();
    let plain = h.join("alice", KEY_A);
    let s = h.open();
    h.text(s, json!({"type": "join", "data": {"v": 2, "name": "bob", "key": KEY_B, "batch": true}}));
    assert!(h.room.batches(s) && !h.room.batches(plain));
    h.hibernate();
    assert!(h.room.batches(s), "bob's socket reads batches after a wake (its attachment says so)");
    assert!(!h.room.batches(plain));
}
