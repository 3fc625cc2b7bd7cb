//! The room's rules, natively, with synthetic time. Each test drives `Room` the way the
//! Durable Object glue does and checks the frames each socket would receive.

use confab_shared::{ErrorCode, ServerFrame};
use confab_worker::room::{Input, RoomConfig, CLOSE_TOO_BIG};
use serde_json::json;

mod common;
use common::Harness;

const KEY_A: &str = "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";
const KEY_B: &str = "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb";

fn welcome(frames: &[ServerFrame]) -> (Vec<String>, Vec<u64>, bool, u64) {
    frames
        .iter()
        .find_map(|f| match f {
            ServerFrame::Welcome { members, messages, has_more, latest_seq, .. } => {
                Some((members.clone(), messages.iter().map(|m| m.seq).collect(), *has_more, *latest_seq))
            }
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
            assert_eq!((you.as_str(), room.as_str()), ("bob", "lobby"));
            assert_eq!(limits.rate_burst, 20);
        }
        f => panic!("{f:?}"),
    }
    assert_eq!(welcome(&frames).0, vec!["alice", "bob"]);
    assert_eq!(h.take(a), vec![ServerFrame::MemberJoined { name: "bob".into() }]);
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
        .filter_map(|f| if let ServerFrame::Message(m) = f { Some((m.seq, m.author.clone())) } else { None })
        .collect();
    assert_eq!(msgs, vec![(1, "alice".into()), (2, "bob".into())]);
    let fb = h.take(b);
    assert!(fb.iter().any(|f| matches!(f, ServerFrame::Ack { seq: 2, .. })));
    assert_eq!(
        h.store.all().map(|m| (m.seq, m.author.as_str(), m.text.as_str())).collect::<Vec<_>>(),
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
    assert_eq!(h.take(b), vec![ServerFrame::MemberJoined { name: "alice".into() }], "second tab is not a new member");
    assert_eq!(welcome(&h.take(a2)).0, vec!["alice", "bob"]);
    h.close(a1);
    assert!(h.take(b).is_empty(), "one tab left: still present");
    h.close(a2);
    assert_eq!(h.take(b), vec![ServerFrame::MemberLeft { name: "alice".into() }]);
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
    assert_eq!(h.take(b), vec![ServerFrame::Typing { name: "alice".into() }]);
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
    assert_eq!(h.take(b), vec![ServerFrame::Typing { name: "alice".into() }], "a message resets the throttle");
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
    let mut h = Harness::new();
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
    h.send(a, "c20", "x");
    assert_eq!(h.last_error(a).0, ErrorCode::RateLimited, "the bucket survived");
    h.text(b, json!({"type": "typing", "data": {}}));
    assert!(h.take(a).is_empty(), "the typing throttle survived");
    let thief = h.join("alice", KEY_B);
    assert_eq!(h.last_error(thief).0, ErrorCode::NameTaken);
    // New sockets get fresh ids after a restore.
    let c = h.join("carol", "cccccccccccccccccccccccccccccccccccccccc");
    assert!(c > b && c > thief);
    h.close(b);
    assert!(h.take(a).contains(&ServerFrame::MemberLeft { name: "bob".into() }));
    h.now += 1_000;
    h.send(a, "c21", "seq continues");
    assert!(h.take(a).iter().any(|f| matches!(f, ServerFrame::Ack { seq: 21, .. })));
}

#[test]
fn welcome_has_the_last_50_and_resume_sends_what_was_missed() {
    let mut h = Harness::with_config(RoomConfig { rate_burst: 1000, rate_per_sec: 1000, ..RoomConfig::default() });
    let a = h.join("alice", KEY_A);
    for i in 0..260 {
        h.send(a, &format!("c{i}"), &format!("m{i}"));
    }
    let b = h.join("bob", KEY_B);
    let (_, seqs, has_more, latest) = welcome(&h.take(b));
    assert_eq!((seqs.len(), seqs[0], *seqs.last().unwrap(), has_more, latest), (50, 211, 260, true, 260));
    // Resume after a small gap: exactly what came after.
    let s = h.open();
    h.text(s, json!({"type": "join", "data": {"name": "bob", "key": KEY_B, "since": 255}}));
    let (_, seqs, has_more, _) = welcome(&h.take(s));
    assert_eq!((seqs, has_more), (vec![256, 257, 258, 259, 260], false));
    // Up to date: nothing.
    let s = h.open();
    h.text(s, json!({"type": "join", "data": {"name": "bob", "key": KEY_B, "since": 260}}));
    assert_eq!(welcome(&h.take(s)).1, Vec::<u64>::new());
    // A big gap: the newest 200, and has_more to page back for the rest.
    let s = h.open();
    h.text(s, json!({"type": "join", "data": {"name": "bob", "key": KEY_B, "since": 10}}));
    let (_, seqs, has_more, _) = welcome(&h.take(s));
    assert_eq!((seqs.len(), seqs[0], has_more), (200, 61, true));
}

#[test]
fn history_pages_back_without_gaps() {
    let mut h = Harness::with_config(RoomConfig { rate_burst: 1000, rate_per_sec: 1000, ..RoomConfig::default() });
    let a = h.join("alice", KEY_A);
    for i in 0..120 {
        h.send(a, &format!("c{i}"), "x");
    }
    h.take(a);
    let mut before = 71;
    let mut seen = vec![];
    loop {
        h.text(a, json!({"type": "history", "data": {"before": before, "limit": 30}}));
        let Some(ServerFrame::History { messages, has_more }) = h.take(a).pop() else { panic!() };
        before = messages[0].seq;
        seen.extend(messages.iter().rev().map(|m| m.seq));
        if !has_more {
            break;
        }
    }
    assert_eq!(seen, (1..=70).rev().collect::<Vec<_>>());
    let page = h.room.history(&mut h.store, None, 10).unwrap();
    assert_eq!((page.messages[0].seq, page.messages.len(), page.has_more), (111, 10, true));
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
    h.text(a, json!({"type": "join", "data": {"name": "\u{202E}evil", "key": KEY_A}}));
    assert_eq!(h.last_error(a).0, ErrorCode::InvalidName);
    h.text(a, json!({"type": "join", "data": {"name": "alice", "key": KEY_A}}));
    h.take(a);
    h.text(a, json!({"type": "join", "data": {"name": "alice", "key": KEY_A}}));
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
fn silent_sockets_are_found_stale_and_their_members_leave_when_closed() {
    let mut h = Harness::new();
    let alive = h.join("alice", KEY_A);
    h.now += 10_000;
    let ghost = h.join("bob", KEY_B);
    h.take(alive);
    // Alice pings (the runtime records it); bob's peer vanished without closing.
    let pinged_at = h.now + 40_000;
    h.now += 55_000;
    let last = |s| (s == alive).then_some(pinged_at);
    assert_eq!(h.room.stale_sockets(h.now, 60_000, last), Vec::<u64>::new(), "bob opened 55 s ago: 5 s left");
    h.now += 10_000;
    assert_eq!(h.room.stale_sockets(h.now, 60_000, last), vec![ghost]);
    // The glue closes it; the room reports the departure like any other close.
    h.close(ghost);
    assert!(h.take(alive).iter().any(|f| matches!(f, ServerFrame::MemberLeft { name } if name == "bob")));
    // Liveness survives hibernation: opened_ms is in the attachment.
    h.hibernate();
    assert_eq!(h.room.stale_sockets(h.now, 60_000, |_| None), vec![alive]);
    assert!(h.room.stale_sockets(h.now, 60_000, |_| Some(h.now)).is_empty());
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
    assert_eq!(left, &["guest20".to_owned(), "guest29".to_owned()]);
    assert!(!joined.contains(&"guest20".to_owned()));
    // Every member's view, built from welcome + frames, now matches the room.
    assert_eq!(h.room.member_names().len(), 1 + 28);
    // Once the window has passed, single changes go out at once again.
    h.now += PRESENCE_WINDOW_MS;
    h.close(crowd[0]);
    assert!(h.take(watcher).iter().any(|f| matches!(f, ServerFrame::MemberLeft { name } if name == "guest0")));
    assert_eq!(h.wake, None);
}
