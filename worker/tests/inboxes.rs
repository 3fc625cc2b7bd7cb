//! The room's side of inboxes (issue 11, in progress): a member's inbox is computed from the
//! key it joins with; a watching inbox gets exact counts when it starts, then every post and
//! delete in coalesced batches that say which stretch of the log they cover (a mention at
//! once); a restart makes the next batch a recount.

use confab_shared::inbox::inbox_id;
use confab_shared::{MemberKey, ServerFrame};
use confab_worker::room::watchers::BATCH_MS;
use confab_worker::room::Room;
use confab_worker::store::RoomStore;

mod common;
use common::Harness;

const KEY_A: &str = "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";
const KEY_B: &str = "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb";

#[test]
fn a_members_inbox_is_its_keys_and_a_watch_starts_with_exact_counts() {
    let mut h = Harness::with_config(common::unlimited());
    let a = h.join("alice", KEY_A);
    let b = h.join("bob", KEY_B);
    let (alice, bob) = (h.id_of("alice"), h.id_of("bob"));
    let info = h.store.members(&[alice]).unwrap().remove(0);
    assert_eq!(info.inbox, Some(inbox_id(&MemberKey::parse(KEY_A).unwrap())), "computed by the room");
    h.send(b, "p1", "one");
    h.send(b, "p2", "two @alice");
    h.send(a, "p3", "mine");
    h.send(b, "p4", "three");
    h.delete(b, "d4", 4);
    let inbox = inbox_id(&MemberKey::parse(KEY_A).unwrap());
    assert_eq!(
        h.room.watch(&mut h.store, alice, &inbox, 0).unwrap(),
        (2, 1, 5),
        "others' live posts, mentions, as of 5"
    );
    assert_eq!(h.room.watch(&mut h.store, alice, &inbox, 1).unwrap(), (1, 1, 5));
    let _ = bob;
}

#[test]
fn watching_inboxes_get_coalesced_batches_a_mention_at_once_and_a_recount_after_a_restart() {
    let mut h = Harness::with_config(common::unlimited());
    let a = h.join("alice", KEY_A);
    let b = h.join("bob", KEY_B);
    let alice = h.id_of("alice");
    let inbox = inbox_id(&MemberKey::parse(KEY_A).unwrap());
    h.room.watch(&mut h.store, alice, &inbox, 0).unwrap();
    h.send(b, "p1", "one");
    h.send(b, "p2", "two");
    assert!(h.room.take_inbox_batches().is_empty(), "held for the batch");
    assert_eq!(h.room.next_wake(), Some(h.now + BATCH_MS));
    h.send(b, "p3", "@alice now");
    let now = h.room.take_inbox_batches();
    assert_eq!(now.len(), 1, "a mention goes at once");
    assert_eq!(now[0].inbox, inbox);
    let body = &now[0].body;
    assert_eq!((body.from, body.to), (0, 3));
    assert_eq!(
        body.posts.iter().map(|p| (p.id, p.mentions_me)).collect::<Vec<_>>(),
        vec![(1, false), (2, false), (3, true)]
    );
    // A delete is told too, in the next batch, which starts where this one ended.
    h.delete(b, "d1", 1);
    h.send(a, "p5", "mine");
    h.now += BATCH_MS;
    h.tick();
    let due = h.room.take_inbox_batches();
    assert_eq!(due.len(), 1);
    assert_eq!((due[0].body.from, due[0].body.to), (3, 5));
    assert!(due[0].body.posts[0].deleted && due[0].body.posts[1].member == alice);
    // After a restart the watch is read back from storage, and its next batch makes the
    // inbox recount (it does not start where the inbox's counts end).
    h.store.new_instance();
    h.room = Room::restore("lobby", h.config, h.attachments.values().cloned(), &mut h.store);
    h.send(b, "p6", "after");
    h.now += BATCH_MS;
    h.tick();
    let due = h.room.take_inbox_batches();
    assert_eq!(due.len(), 1);
    assert_eq!(due[0].body.from, 0, "from 0: recount");
    // Unwatched: posts no more; a mention alone, at once.
    h.room.unwatch(&mut h.store, alice);
    h.send(b, "p7", "anyone?");
    h.now += BATCH_MS;
    h.tick();
    assert!(h.room.take_inbox_batches().is_empty());
    assert!(h.store.watches().unwrap().is_empty());
    h.send(b, "p8", "@alice gone?");
    let lone = h.room.take_inbox_batches();
    assert_eq!(lone.len(), 1);
    assert_eq!(lone[0].body.posts.len(), 1);
}

#[test]
fn a_mention_reaches_an_inbox_that_does_not_watch_at_once_and_alone() {
    let mut h = Harness::with_config(common::unlimited());
    let a = h.join("alice", KEY_A);
    let b = h.join("bob", KEY_B);
    let _ = a;
    h.take_inbox_notes();
    h.send(b, "p1", "nobody mentioned");
    assert!(h.room.take_inbox_batches().is_empty(), "nobody watches");
    h.send(b, "p2", "@alice look");
    let sent = h.room.take_inbox_batches();
    assert_eq!(sent.len(), 1);
    assert_eq!(sent[0].inbox, inbox_id(&MemberKey::parse(KEY_A).unwrap()));
    let body = &sent[0].body;
    assert_eq!(
        (body.from, body.to, body.posts.len()),
        (2, 2, 1),
        "alone, covering nothing: an inbox with a page recounts"
    );
    assert!(body.posts[0].mentions_me && body.posts[0].excerpt == "@alice look");
    // Mentioning yourself tells nobody.
    h.send(b, "p3", "@bob me");
    assert!(h.room.take_inbox_batches().is_empty());
}

#[test]
fn a_direct_message_admits_its_two_people_only_and_has_no_owner() {
    let mut h = Harness::with_config(common::unlimited());
    let (a, b) = (inbox_id(&MemberKey::parse(KEY_A).unwrap()), inbox_id(&MemberKey::parse(KEY_B).unwrap()));
    assert!(h.room.make_dm(&mut h.store, &b, &a).unwrap());
    assert!(h.room.make_dm(&mut h.store, &a, &b).unwrap(), "the same pair again: fine");
    assert!(!h.room.make_dm(&mut h.store, &a, "inbox-other").unwrap(), "never another pair's");
    let s = h.join("mallory", "mmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmm");
    let frames = h.take(s);
    assert!(
        frames
            .iter()
            .any(|f| matches!(f, confab_shared::ServerFrame::Error { code: confab_shared::ErrorCode::Forbidden, .. })),
        "{frames:?}"
    );
    let sa = h.join("alice", KEY_A);
    let ServerFrame::Welcome { you, .. } = h.welcome(sa) else { unreachable!() };
    assert_eq!(you.role, confab_shared::Role::Member, "nobody owns a DM");
    assert!(h.room.invite_only(&mut h.store).unwrap(), "its messages are not public over HTTP");
    // Every post reaches the other person's inbox at once, though they never joined (a DM
    // counts like a mention), and not the author's own.
    h.take_inbox_notes();
    h.send(sa, "p1", "hello b");
    let sent = h.room.take_inbox_batches();
    assert_eq!(sent.len(), 1);
    assert_eq!(sent[0].inbox, b);
    assert!(sent[0].body.posts[0].mentions_me);
    // A room that already has messages cannot become a DM.
    let mut h2 = Harness::with_config(common::unlimited());
    let s = h2.join("carol", "cccccccccccccccccccccccccccccccccccccccc");
    h2.send(s, "p1", "public");
    assert!(!h2.room.make_dm(&mut h2.store, &a, &b).unwrap());
}

#[test]
fn a_purge_is_counted_out_by_watching_inboxes() {
    let mut h = Harness::with_config(common::unlimited());
    let owner = h.join("alice", KEY_A);
    let b = h.join("bob", KEY_B);
    let (alice, bob) = (h.id_of("alice"), h.id_of("bob"));
    h.send(b, "p1", "spam one");
    h.send(b, "p2", "spam two");
    h.room.watch(&mut h.store, alice, &inbox_id(&MemberKey::parse(KEY_A).unwrap()), 2).unwrap();
    h.moderate(owner, "ban", serde_json::json!({"kind": "ban", "member": bob, "purge": true}));
    h.now += BATCH_MS;
    h.tick();
    let sent = h.room.take_inbox_batches();
    let gone: Vec<_> = sent.iter().flat_map(|b| b.body.posts.iter()).filter(|p| p.deleted).map(|p| p.id).collect();
    assert_eq!(gone, vec![2, 1], "each removal told, newest first");
}

#[test]
fn bots_have_no_inbox_and_a_dm_post_counts_as_a_mention_for_a_watching_inbox() {
    let mut h = Harness::with_config(common::unlimited());
    let (a, b) = (inbox_id(&MemberKey::parse(KEY_A).unwrap()), inbox_id(&MemberKey::parse(KEY_B).unwrap()));
    h.room.make_dm(&mut h.store, &a, &b).unwrap();
    let sa = h.join("alice", KEY_A);
    let sb = h.join("bob", KEY_B);
    let bob = h.id_of("bob");
    h.take_inbox_notes();
    h.room.watch(&mut h.store, bob, &b, 0).unwrap();
    h.send(sa, "p1", "hi bob");
    let sent = h.room.take_inbox_batches();
    assert_eq!(sent.len(), 1, "at once, like a mention, and once");
    assert!(sent[0].body.posts[0].mentions_me);
    let _ = sb;
    // A bot joining a room is no person: no inbox kept, no join told.
    let mut h = Harness::with_config(common::unlimited());
    let o = h.join("owner", KEY_A);
    h.take_inbox_notes();
    h.moderate(o, "mk", serde_json::json!({"kind": "create_bot", "name": "robot"}));
    let token = h
        .take(o)
        .into_iter()
        .find_map(|f| match f {
            ServerFrame::BotCreated { token, .. } => Some(token),
            _ => None,
        })
        .unwrap();
    h.join("robot", &token);
    let robot = h.id_of("robot");
    assert_eq!(h.store.members(&[robot]).unwrap()[0].inbox, None);
    assert!(h.room.take_joins_to_tell().is_empty());
    // Even one that has an inbox on record from before (an older build kept one for bots).
    h.store.set_inbox(robot, "inbox-legacy").unwrap();
    h.send(o, "p1", "@robot hi");
    assert!(h.room.take_inbox_batches().is_empty(), "a bot's mention goes to no inbox");
}
