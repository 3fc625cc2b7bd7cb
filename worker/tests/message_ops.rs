//! Protocol 2's operations on messages, natively: who may edit and delete, tombstones,
//! reaction summaries and their caps, quotes that follow their message, mentions, epochs and
//! versions. Each test drives `Room` the way the Durable Object glue does.

use confab_shared::limits::{REACTIONS_PER_MESSAGE_MAX, REACTION_NAMES_MAX, VERSIONS_MAX};
use confab_shared::{close, ChatMessage, ErrorCode, ServerFrame};
use confab_worker::store::{key_hash, legacy_key_hash, RoomStore, MEMORY_SALT};
use serde_json::json;

mod common;
use common::Harness;

const KEY_A: &str = "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";
const KEY_B: &str = "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb";
const KEY_C: &str = "cccccccccccccccccccccccccccccccccccccccc";

/// A room with alice and bob joined, their inboxes empty.
fn room() -> (Harness, u64, u64) {
    let mut h = Harness::with_config(common::unlimited());
    let a = h.join("alice", KEY_A);
    let b = h.join("bob", KEY_B);
    h.take(a);
    h.take(b);
    (h, a, b)
}

/// The message `id` as a fresh join of `name` sees it.
fn seen_by(h: &mut Harness, name: &str, key: &str, id: u64) -> ChatMessage {
    let s = h.join(name, key);
    let ServerFrame::Welcome { messages, .. } = h.welcome(s) else { unreachable!() };
    h.close(s);
    h.inbox.clear();
    messages.into_iter().find(|m| m.id == id).expect("the message is in the welcome")
}

fn error_for(h: &mut Harness, s: u64) -> (ErrorCode, Option<String>) {
    match h.take(s).pop() {
        Some(ServerFrame::Error { code, client_id, .. }) => (code, client_id),
        other => panic!("expected an error, got {other:?}"),
    }
}

#[test]
fn only_the_author_edits_and_the_edit_is_an_event_everyone_sees() {
    let (mut h, a, b) = room();
    h.send(a, "p1", "helo");
    h.take(a);
    h.take(b);
    h.edit(b, "e0", 1, "mine now");
    assert_eq!(error_for(&mut h, b), (ErrorCode::NotAuthor, Some("e0".into())));
    h.edit(a, "e1", 1, "hello");
    let now = h.now;
    assert_eq!(
        h.take(a),
        vec![
            ServerFrame::Ack { client_id: "e1".into(), seq: 2, ts: now },
            ServerFrame::Edited { seq: 2, id: 1, text: "hello".into(), edited_ts: now, mentions: vec![] },
        ]
    );
    assert_eq!(
        h.take(b),
        vec![ServerFrame::Edited { seq: 2, id: 1, text: "hello".into(), edited_ts: now, mentions: vec![] }]
    );
    // The same text again changes nothing: acknowledged with the current seq, no event.
    h.edit(a, "e2", 1, "hello");
    assert_eq!(h.acks(a), vec![("e2".to_owned(), 2)]);
    assert!(h.take(b).is_empty());
    // Unknown ids are refused by name.
    h.edit(a, "e3", 99, "x");
    assert_eq!(error_for(&mut h, a).0, ErrorCode::MessageNotFound);
    let m = seen_by(&mut h, "carol", KEY_C, 1);
    assert_eq!((m.text.as_str(), m.edited_ts, m.version), ("hello", Some(now), 2));
}

#[test]
fn earlier_versions_are_kept_server_side_and_capped() {
    let (mut h, a, _) = room();
    h.send(a, "p1", "v0");
    for i in 1..=(VERSIONS_MAX + 5) {
        h.edit(a, &format!("e{i}"), 1, &format!("v{i}"));
    }
    let versions = h.store.versions(1).unwrap();
    assert_eq!(versions.len(), VERSIONS_MAX as usize);
    assert_eq!(versions.last().unwrap().1, format!("v{}", VERSIONS_MAX + 4), "the newest earlier text is kept");
}

#[test]
fn delete_leaves_a_tombstone_and_removes_the_text_everywhere() {
    let (mut h, a, b) = room();
    h.send(a, "p1", "secret @bob");
    h.edit(a, "e1", 1, "secret, edited");
    h.react(b, "r1", 1, "👍", true);
    h.reply(b, "p2", "what secret?", 1);
    h.take(a);
    h.take(b);
    h.delete(b, "d0", 1);
    assert_eq!(error_for(&mut h, b).0, ErrorCode::NotAuthor);
    h.delete(a, "d1", 1);
    assert_eq!(h.take(b), vec![ServerFrame::Deleted { seq: 5, id: 1, removed: false }]);
    // Gone from storage: text, versions, reactions, mentions.
    let stored = h.store.all().find(|m| m.id == 1).unwrap().clone();
    assert!(stored.deleted && stored.text.is_empty() && stored.mentions.is_empty());
    assert!(h.store.versions(1).unwrap().is_empty());
    assert!(h.store.reactions(&[1]).unwrap().is_empty());
    // A fresh joiner sees the tombstone in place, and the reply quoting it shows it too.
    let m = seen_by(&mut h, "carol", KEY_C, 1);
    assert!(m.deleted && m.text.is_empty() && m.reactions.is_empty() && m.edited_ts.is_none());
    let reply = seen_by(&mut h, "carol", KEY_C, 4);
    let quote = reply.reply_to.unwrap();
    assert!(quote.deleted && quote.excerpt.is_empty());
    // Deleting again changes nothing; editing, reacting and replying are refused clearly.
    h.delete(a, "d2", 1);
    assert_eq!(h.acks(a), vec![("d2".to_owned(), 5)]);
    h.edit(a, "e2", 1, "back");
    assert_eq!(error_for(&mut h, a).0, ErrorCode::MessageDeleted);
    h.react(a, "r2", 1, "👍", true);
    assert_eq!(error_for(&mut h, a).0, ErrorCode::MessageDeleted);
    h.reply(a, "p3", "re", 1);
    assert_eq!(error_for(&mut h, a), (ErrorCode::MessageDeleted, Some("p3".into())));
}

#[test]
fn reactions_are_distinct_per_member_and_broadcast_as_summaries_with_mine_per_reader() {
    let (mut h, a, b) = room();
    let b2 = h.join("bob", KEY_B); // a second tab of bob's
    h.send(a, "p1", "lunch?");
    h.inbox.clear();
    h.react(b, "r1", 1, "👍", true);
    let for_bob = |h: &mut Harness, s| match h.take(s).into_iter().find(|f| matches!(f, ServerFrame::Reactions { .. }))
    {
        Some(ServerFrame::Reactions { seq, id, by, reactions }) => {
            assert_eq!(by, h.id_of("bob"));
            (seq, id, reactions)
        }
        other => panic!("{other:?}"),
    };
    let (seq, id, r) = for_bob(&mut h, b);
    assert_eq!((seq, id, r.len(), r[0].count, r[0].mine), (2, 1, 1, 1, true));
    assert!(for_bob(&mut h, b2).2[0].mine, "every tab of the reactor reads mine");
    let (_, _, r) = for_bob(&mut h, a);
    assert_eq!((r[0].count, r[0].mine, r[0].names.clone()), (1, false, vec!["bob".to_owned()]));
    // The same reaction again (another op, same set): nothing changes, no event.
    h.react(b2, "r2", 1, "👍", true);
    assert_eq!(h.acks(b2), vec![("r2".to_owned(), 2)]);
    assert!(h.take(a).is_empty());
    // Alice adds the same emoji and another: counts are per emoji, in order of first use.
    h.react(a, "r3", 1, "👍", true);
    h.react(a, "r4", 1, "🎉", true);
    h.inbox.clear();
    let m = seen_by(&mut h, "alice", KEY_A, 1);
    let got: Vec<_> = m.reactions.iter().map(|r| (r.emoji.as_str(), r.count, r.mine)).collect();
    assert_eq!(got, vec![("👍", 2, true), ("🎉", 1, true)]);
    let m = seen_by(&mut h, "bob", KEY_B, 1);
    let got: Vec<_> = m.reactions.iter().map(|r| (r.emoji.as_str(), r.count, r.mine)).collect();
    assert_eq!(got, vec![("👍", 2, true), ("🎉", 1, false)]);
}

#[test]
fn a_retried_reaction_never_counts_twice_nor_comes_back() {
    let (mut h, a, b) = room();
    h.send(a, "p1", "x");
    h.react(b, "r1", 1, "👍", true);
    h.react(b, "r2", 1, "👍", false); // removed from another tab
    h.inbox.clear();
    // The first op's retry (its ack was lost) is acknowledged as the event it was.
    h.react(b, "r1", 1, "👍", true);
    assert_eq!(h.acks(b), vec![("r1".to_owned(), 2)]);
    assert!(h.store.reactions(&[1]).unwrap().is_empty(), "still removed");
    assert!(h.take(a).is_empty(), "nothing broadcast");
}

#[test]
fn reaction_caps_distinct_emoji_and_a_sample_of_names_with_an_exact_count() {
    let mut h = Harness::with_config(common::unlimited());
    let a = h.join("alice", KEY_A);
    h.send(a, "p1", "vote");
    for i in 0..REACTIONS_PER_MESSAGE_MAX {
        h.react(a, &format!("r{i}"), 1, &format!("e{i}"), true);
    }
    h.take(a);
    h.react(a, "over", 1, "one-more", true);
    assert_eq!(error_for(&mut h, a), (ErrorCode::TooManyReactions, Some("over".into())));
    // An emoji already there can still be added to by others.
    let mut voters = Vec::new();
    for i in 0..(REACTION_NAMES_MAX + 3) {
        let s = h.join(&format!("voter{i}"), &format!("{i:v<40}"));
        h.react(s, "r", 1, "e0", true);
        voters.push(s);
    }
    h.react(voters[0], "bad", 1, "two words", true);
    assert_eq!(error_for(&mut h, voters[0]), (ErrorCode::InvalidReaction, Some("bad".into())));
    h.edit(a, "blank", 1, "  ");
    assert_eq!(error_for(&mut h, a), (ErrorCode::EmptyText, Some("blank".into())));
    let m = seen_by(&mut h, "alice", KEY_A, 1);
    let e0 = &m.reactions[0];
    assert_eq!((e0.count as usize, e0.names.len()), (REACTION_NAMES_MAX + 4, REACTION_NAMES_MAX));
    assert_eq!(e0.names[0], "alice", "earliest first");
}

#[test]
fn a_quote_carries_an_excerpt_that_follows_edits() {
    let (mut h, a, b) = room();
    h.send(a, "p1", &format!("first {}", "long ".repeat(60)));
    h.reply(b, "p2", "agreed", 1);
    let frames = h.take(a);
    let Some(ServerFrame::Message(reply)) =
        frames.iter().find(|f| matches!(f, ServerFrame::Message(m) if m.id == 2)).cloned()
    else {
        panic!("{frames:?}")
    };
    let quote = reply.reply_to.unwrap();
    assert_eq!((quote.id, quote.author.as_str(), quote.deleted), (1, "alice", false));
    assert!(quote.excerpt.chars().count() <= 140 && quote.excerpt.ends_with('…'), "{}", quote.excerpt);
    h.edit(a, "e1", 1, "short now");
    assert_eq!(seen_by(&mut h, "carol", KEY_C, 2).reply_to.unwrap().excerpt, "short now");
    h.reply(b, "p3", "to nothing", 99);
    assert_eq!(error_for(&mut h, b), (ErrorCode::MessageNotFound, Some("p3".into())));
}

#[test]
fn mentions_resolve_to_member_ids_the_way_claims_compare() {
    let (mut h, a, _) = room();
    let carol = h.join("Carol Ann", KEY_C);
    h.take(carol);
    let (alice, bob, carol_id) = (h.id_of("alice"), h.id_of("bob"), h.id_of("Carol Ann"));
    h.send(a, "p1", "@BOB and @Carol Ann, meet @nobody and @bob again (@alice)");
    let m = h.store.all().next().unwrap().clone();
    assert_eq!(m.mentions, vec![bob, carol_id, alice]);
    // An edit resolves them again.
    h.edit(a, "e1", 1, "never mind @carol ann");
    let frames = h.take(a);
    assert!(frames.contains(&ServerFrame::Edited {
        seq: 2,
        id: 1,
        text: "never mind @carol ann".into(),
        edited_ts: h.now,
        mentions: vec![carol_id]
    }));
}

#[test]
fn a_lapsed_name_taken_by_someone_else_is_a_new_member_who_cannot_touch_the_old_messages() {
    let mut h = Harness::new();
    let a = h.join("alice", KEY_A);
    h.send(a, "p1", "mine");
    let old = h.id_of("alice");
    h.close(a);
    h.now += confab_worker::store::CLAIM_IDLE_MS;
    let b = h.join("alice", KEY_B);
    h.take(b);
    assert_ne!(h.id_of("alice"), old, "a new member");
    h.edit(b, "e1", 1, "rewritten history");
    assert_eq!(error_for(&mut h, b).0, ErrorCode::NotAuthor);
    h.delete(b, "d1", 1);
    assert_eq!(error_for(&mut h, b).0, ErrorCode::NotAuthor);
}

#[test]
fn an_owner_back_after_the_claim_lapsed_unclaimed_is_the_same_member() {
    let mut h = Harness::new();
    let a = h.join("alice", KEY_A);
    h.send(a, "p1", "mine");
    let id = h.id_of("alice");
    h.close(a);
    // A new instance (the SQL store prunes lapsed claims once per instance) long after.
    h.now += confab_worker::store::CLAIM_IDLE_MS + 1;
    h.hibernate();
    let a = h.join("alice", KEY_A);
    assert!(matches!(h.welcome(a), ServerFrame::Welcome { you, .. } if you.id == id));
    h.edit(a, "e1", 1, "still mine");
    assert_eq!(h.acks(a), vec![("e1".to_owned(), 2)]);
}

#[test]
fn an_owner_back_after_someone_elses_lapsed_turn_with_the_name_is_the_same_member() {
    let mut h = Harness::new();
    let a = h.join("alice", KEY_A);
    h.send(a, "p1", "mine");
    let alice = h.id_of("alice");
    h.close(a);
    h.now += confab_worker::store::CLAIM_IDLE_MS;
    let b = h.join("alice", KEY_B); // someone else takes the lapsed name
    h.close(b);
    // No new instance: the name's row is still there, lapsed again, when alice comes back.
    h.now += confab_worker::store::CLAIM_IDLE_MS;
    let a = h.join("alice", KEY_A);
    assert!(matches!(h.welcome(a), ServerFrame::Welcome { you, .. } if you.id == alice));
    h.edit(a, "e1", 1, "still mine");
    assert_eq!(h.acks(a), vec![("e1".to_owned(), 2)]);
}

#[test]
fn a_resume_from_another_epoch_is_a_reset() {
    let (mut h, a, _) = room();
    h.send(a, "p1", "one");
    let epoch = h.epoch();
    let s = h.resume("bob", KEY_B, 1, "not-this-room");
    assert!(matches!(h.welcome(s), ServerFrame::Welcome { reset: true, .. }));
    let s = h.resume("bob", KEY_B, 1, &epoch);
    assert!(matches!(h.welcome(s), ServerFrame::Welcome { reset: false, gap: false, .. }));
    // Storage recreated: same seqs, another epoch.
    h.store.wipe();
    h.room = confab_worker::room::Room::new("lobby", h.config);
    let s = h.resume("bob", KEY_B, 0, &epoch);
    match h.welcome(s) {
        ServerFrame::Welcome { reset, epoch: now, .. } => assert!(reset && now != epoch),
        f => panic!("{f:?}"),
    }
}

#[test]
fn a_protocol_1_join_is_refused_with_a_reload_close() {
    let mut h = Harness::new();
    let s = h.open();
    h.text(s, json!({"type": "join", "data": {"name": "alice", "key": KEY_A}}));
    assert_eq!(error_for(&mut h, s).0, ErrorCode::UnsupportedVersion);
    assert_eq!(h.closed.get(&s), Some(&close::UNSUPPORTED_VERSION));
}

#[test]
fn key_hashes_are_salted_per_room_and_legacy_ones_are_upgraded_on_join() {
    let key = confab_shared::MemberKey::parse(KEY_A).unwrap();
    assert_ne!(key_hash("room-one-salt", &key), key_hash("room-two-salt", &key), "unlinkable across rooms");
    let mut h = Harness::new();
    let claim = confab_shared::UserName::parse("alice").unwrap().claim_key();
    let id = h.store.insert_legacy_claim(&claim, "alice", &key, h.now);
    assert!(h.store.key_hashes().any(|k| k == legacy_key_hash(&key)));
    let thief = h.join("alice", KEY_B);
    assert_eq!(error_for(&mut h, thief).0, ErrorCode::NameTaken);
    let a = h.join("alice", KEY_A);
    assert!(matches!(h.welcome(a), ServerFrame::Welcome { you, .. } if you.id == id));
    assert!(h.store.key_hashes().any(|k| k == key_hash(MEMORY_SALT, &key)), "salted now");
    assert!(!h.store.key_hashes().any(|k| k == legacy_key_hash(&key)), "no unsalted hash is left");
}

#[test]
fn operations_before_join_name_their_client_id() {
    let mut h = Harness::new();
    let s = h.open();
    h.text(s, json!({"type": "react", "data": {"client_id": "r9", "id": 1, "emoji": "👍", "on": true}}));
    assert_eq!(error_for(&mut h, s), (ErrorCode::NotJoined, Some("r9".into())));
}
