//! Protocol 2 over the wire, against `wrangler dev` and its real SQLite: every new frame and
//! error code (edit, delete, react, reply, mentions; `message_not_found`, `message_deleted`,
//! `not_author`, `invalid_reaction`, `too_many_reactions`, `unsupported_version`), a resume
//! after an edit and a delete of an old message, and the migration of a room written by the
//! last protocol 1 build (itest/fixtures/v1-state, made by scripts/gen-v1-state.sh).

use confab_itest::*;
use confab_shared::{close, ChatMessage, ErrorCode, ServerFrame};
use serde_json::{json, Value};
use std::time::Duration;

/// Sends `frame` and waits for the ack of `client_id` or a refusal naming it.
async fn op(c: &mut Client, client_id: &str, frame: Value) -> Result<ServerFrame, String> {
    c.send_json(frame).await?;
    let cid = client_id.to_owned();
    c.expect(&format!("the answer to {client_id}"), move |f| match f {
        ServerFrame::Ack { client_id, .. } => *client_id == cid,
        ServerFrame::Error { client_id: Some(id), .. } => *id == cid,
        _ => false,
    })
    .await
}

async fn acked(c: &mut Client, client_id: &str, frame: Value) -> Result<u64, String> {
    match op(c, client_id, frame).await? {
        ServerFrame::Ack { seq, .. } => Ok(seq),
        other => Err(format!("{client_id} was refused: {other:?}")),
    }
}

async fn refused(c: &mut Client, client_id: &str, frame: Value, code: ErrorCode) -> Outcome {
    let f = op(c, client_id, frame).await?;
    ensure(
        matches!(f, ServerFrame::Error { code: c, .. } if c == code),
        format!("{client_id}: wanted {code}, got {f:?}"),
    )
}

fn send(cid: &str, text: &str) -> Value {
    json!({"type": "send", "data": {"client_id": cid, "text": text}})
}

fn welcome_parts(w: &ServerFrame) -> Result<(Vec<ChatMessage>, u64, String), String> {
    match w {
        ServerFrame::Welcome { messages, latest_seq, epoch, .. } => Ok((messages.clone(), *latest_seq, epoch.clone())),
        other => Err(format!("not a welcome: {other:?}")),
    }
}

async fn every_operation_and_refusal(s: &Server) -> Outcome {
    let room = unique_room("ops");
    let (mut a, _) = s.join(&room, "alice", &key("alice")).await?;
    let (mut b, _) = s.join(&room, "bob", &key("bob")).await?;
    a.expect("bob joining", |f| says_joined(f, "bob")).await?;
    let id = acked(&mut a, "p1", send("p1", "lunch at noon, @Bob?")).await?;
    let m = b.expect("the message", |f| matches!(f, ServerFrame::Message(_))).await?;
    let ServerFrame::Message(m) = m else { unreachable!() };
    ensure(m.id == id && m.mentions.len() == 1 && m.version == id, format!("post with a mention: {m:?}"))?;
    // Edit: the author only; everyone sees the event.
    refused(
        &mut b,
        "e0",
        json!({"type": "edit", "data": {"client_id": "e0", "id": id, "text": "mine"}}),
        ErrorCode::NotAuthor,
    )
    .await?;
    let seq =
        acked(&mut a, "e1", json!({"type": "edit", "data": {"client_id": "e1", "id": id, "text": "lunch at one"}}))
            .await?;
    let f = b.expect("edited", |f| matches!(f, ServerFrame::Edited { .. })).await?;
    ensure(
        matches!(&f, ServerFrame::Edited { seq: s, id: i, text, mentions, .. } if *s == seq && *i == id && text == "lunch at one" && mentions.is_empty()),
        format!("{f:?}"),
    )?;
    // React: a summary, `mine` as each reader sees it.
    acked(&mut b, "r1", json!({"type": "react", "data": {"client_id": "r1", "id": id, "emoji": "👍", "on": true}}))
        .await?;
    for (c, mine) in [(&mut a, false), (&mut b, true)] {
        let f = c.expect("reactions", |f| matches!(f, ServerFrame::Reactions { .. })).await?;
        let ServerFrame::Reactions { reactions, .. } = f else { unreachable!() };
        ensure(
            reactions.len() == 1
                && reactions[0].count == 1
                && reactions[0].mine == mine
                && reactions[0].names == ["bob"],
            format!("summary {reactions:?}"),
        )?;
    }
    refused(
        &mut b,
        "r2",
        json!({"type": "react", "data": {"client_id": "r2", "id": id, "emoji": "two words", "on": true}}),
        ErrorCode::InvalidReaction,
    )
    .await?;
    for i in 1..20 {
        let cid = format!("v{i}");
        acked(
            &mut b,
            &cid,
            json!({"type": "react", "data": {"client_id": cid, "id": id, "emoji": format!("e{i}"), "on": true}}),
        )
        .await?;
    }
    refused(
        &mut b,
        "r21",
        json!({"type": "react", "data": {"client_id": "r21", "id": id, "emoji": "one-more", "on": true}}),
        ErrorCode::TooManyReactions,
    )
    .await?;
    // Reply: the quote is embedded.
    let reply =
        acked(&mut b, "p2", json!({"type": "send", "data": {"client_id": "p2", "text": "ok", "reply_to": id}})).await?;
    let f = a.expect("the reply", move |f| matches!(f, ServerFrame::Message(m) if m.id == reply)).await?;
    let ServerFrame::Message(r) = f else { unreachable!() };
    ensure(r.reply_to.as_ref().is_some_and(|q| q.id == id && q.excerpt == "lunch at one"), format!("{r:?}"))?;
    refused(
        &mut b,
        "p3",
        json!({"type": "send", "data": {"client_id": "p3", "text": "?", "reply_to": 999_999}}),
        ErrorCode::MessageNotFound,
    )
    .await?;
    // Delete: a tombstone; then edits and reactions on it are refused.
    refused(&mut b, "d0", json!({"type": "delete", "data": {"client_id": "d0", "id": id}}), ErrorCode::NotAuthor)
        .await?;
    let del = acked(&mut a, "d1", json!({"type": "delete", "data": {"client_id": "d1", "id": id}})).await?;
    b.expect("deleted", move |f| matches!(f, ServerFrame::Deleted { seq, .. } if *seq == del)).await?;
    refused(
        &mut a,
        "e2",
        json!({"type": "edit", "data": {"client_id": "e2", "id": id, "text": "back"}}),
        ErrorCode::MessageDeleted,
    )
    .await?;
    refused(
        &mut b,
        "r3",
        json!({"type": "react", "data": {"client_id": "r3", "id": id, "emoji": "👍", "on": false}}),
        ErrorCode::MessageDeleted,
    )
    .await?;
    // A fresh joiner sees the tombstone, and the reply's quote shows it.
    let (_c, w) = s.join(&room, "carol", &key("carol")).await?;
    let (messages, latest, _) = welcome_parts(&w)?;
    let gone = messages.iter().find(|m| m.id == id).ok_or("the tombstone is missing")?;
    ensure(gone.deleted && gone.text.is_empty() && gone.reactions.is_empty(), format!("{gone:?}"))?;
    let quoting = messages.iter().find(|m| m.id == reply).ok_or("the reply is missing")?;
    ensure(quoting.reply_to.as_ref().is_some_and(|q| q.deleted && q.excerpt.is_empty()), format!("{quoting:?}"))?;
    ensure(latest == del, format!("latest_seq {latest}, the delete was {del}"))?;
    // A protocol 1 join: refused, and closed with "reload".
    let mut old = s.connect(&room).await?;
    old.send_json(json!({"type": "join", "data": {"name": "dave", "key": key("dave")}})).await?;
    old.expect("unsupported_version", |f| matches!(f, ServerFrame::Error { code: ErrorCode::UnsupportedVersion, .. }))
        .await?;
    let code = old.closed_within(Duration::from_secs(5)).await;
    ensure(code == Some(close::UNSUPPORTED_VERSION), format!("closed with {code:?}"))
}

async fn a_resume_replays_edits_and_deletes_of_old_messages(s: &Server) -> Outcome {
    let room = unique_room("resume2");
    let (mut a, _) = s.join(&room, "alice", &key("alice")).await?;
    let mut ids = Vec::new();
    for i in 0..5 {
        ids.push(acked(&mut a, &format!("p{i}"), send(&format!("p{i}"), &format!("old {i}"))).await?);
    }
    // Bob was here, then went offline at the newest seq.
    let (b, w) = s.join(&room, "bob", &key("bob")).await?;
    let (_, since, epoch) = welcome_parts(&w)?;
    b.close().await;
    acked(&mut a, "e", json!({"type": "edit", "data": {"client_id": "e", "id": ids[0], "text": "old 0, fixed"}}))
        .await?;
    acked(&mut a, "d", json!({"type": "delete", "data": {"client_id": "d", "id": ids[1]}})).await?;
    acked(&mut a, "r", json!({"type": "react", "data": {"client_id": "r", "id": ids[2], "emoji": "🎉", "on": true}}))
        .await?;
    let mut back = s.connect(&room).await?;
    back.send_json(
        json!({"type": "join", "data": {"v": 2, "name": "bob", "key": key("bob"), "since": since, "epoch": epoch}}),
    )
    .await?;
    let w = back.expect("welcome", |f| matches!(f, ServerFrame::Welcome { .. })).await?;
    let (messages, latest, _) = welcome_parts(&w)?;
    let got: Vec<_> = messages.iter().map(|m| (m.id, m.text.as_str(), m.deleted, m.reactions.len())).collect();
    ensure(
        got == [(ids[0], "old 0, fixed", false, 0), (ids[1], "", true, 0), (ids[2], "old 2", false, 1)],
        format!("resume gave {got:?}"),
    )?;
    ensure(latest == since + 3, format!("latest {latest}, since {since}"))?;
    // From another epoch: a reset.
    let mut other = s.connect(&room).await?;
    other.send_json(json!({"type": "join", "data": {"v": 2, "name": "bob", "key": key("bob"), "since": since, "epoch": "e-not-this-one"}})).await?;
    let w = other.expect("welcome", |f| matches!(f, ServerFrame::Welcome { .. })).await?;
    ensure(matches!(w, ServerFrame::Welcome { reset: true, .. }), format!("{w:?}"))
}

async fn a_protocol_1_room_keeps_its_history_members_and_names() -> Outcome {
    let fixture = root().join("itest/fixtures/v1-state");
    let mut old = Server::start_from_state("migrate", &[], &fixture).await?;
    let result = async {
        let (mut alice, w) = old.join("legacy", "alice", &key("a").replace('_', "a")).await?;
        let ServerFrame::Welcome { you, messages, latest_seq, .. } = &w else { return Err(format!("{w:?}")) };
        let got: Vec<_> = messages.iter().map(|m| (m.id, m.author.as_str(), m.text.as_str())).collect();
        ensure(
            got == [
                (1, "alice", "hello from protocol 1"),
                (2, "alice", "second"),
                (3, "bob", "hi alice"),
                (4, "Alice", "third, as Alice"),
            ],
            format!("migrated history: {got:?}"),
        )?;
        ensure(*latest_seq == 4, format!("latest_seq {latest_seq}"))?;
        let mine: Vec<_> = messages.iter().filter(|m| m.member == you.id).map(|m| m.id).collect();
        ensure(mine == [1, 2, 4], format!("alice's messages are one member's: {mine:?} (you {you:?})"))?;
        // Her old messages are hers to edit; bob's are not; the seq goes on from 4.
        let seq = acked(
            &mut alice,
            "e1",
            json!({"type": "edit", "data": {"client_id": "e1", "id": 1, "text": "edited after the upgrade"}}),
        )
        .await?;
        ensure(seq == 5, format!("the edit is event {seq}"))?;
        refused(
            &mut alice,
            "e2",
            json!({"type": "edit", "data": {"client_id": "e2", "id": 3, "text": "x"}}),
            ErrorCode::NotAuthor,
        )
        .await?;
        // A retry of a message stored before the upgrade is still recognised.
        let seq = acked(&mut alice, "a-alice-0", send("a-alice-0", "hello from protocol 1")).await?;
        ensure(seq == 1, format!("the old message's retry was stored again as {seq}"))?;
        // Claims carried over: nobody else can be carol; carol can.
        let mut thief = old.connect("legacy").await?;
        thief.send_json(json!({"type": "join", "data": {"v": 2, "name": "carol", "key": key("mallory")}})).await?;
        thief.expect("name_taken", |f| matches!(f, ServerFrame::Error { code: ErrorCode::NameTaken, .. })).await?;
        old.join("legacy", "carol", &key("c").replace('_', "c")).await?;
        ensure(old.log_all().matches("room storage upgraded to protocol 2").count() == 1, "the upgrade ran once")?;
        // After a restart the room is protocol 2 storage: no second upgrade, same history.
        old.restart().await?;
        let (_b, w) = old.join("legacy", "bob", &key("b").replace('_', "b")).await?;
        let (messages, latest, _) = welcome_parts(&w)?;
        ensure(
            messages.len() == 4 && latest == 5,
            format!("after a restart: {} messages, latest {latest}", messages.len()),
        )?;
        ensure(old.log_all().matches("room storage upgraded to protocol 2").count() == 1, "the upgrade ran again")
    }
    .await;
    old.stop();
    result
}

/// Claims lapse after 2 s here, and a restart is a new instance (which prunes lapsed claims):
/// the owner back to an untaken name is the same member, messages and all; a newcomer taking
/// a lapsed name is not.
async fn an_owner_back_after_a_lapse_is_the_same_member() -> Outcome {
    let mut s = Server::start_with("lapse", &[("CLAIM_IDLE_MS", "2000")], "log").await?;
    let result = async {
        let room = unique_room("lapse");
        let (mut a, w) = s.join(&room, "alice", &key("alice")).await?;
        let ServerFrame::Welcome { you: first, .. } = w else { return Err("no welcome".into()) };
        let id = acked(&mut a, "p1", send("p1", "mine")).await?;
        let (b, w) = s.join(&room, "bob", &key("bob")).await?;
        let ServerFrame::Welcome { you: bob, .. } = w else { return Err("no welcome".into()) };
        a.close().await;
        b.close().await;
        tokio::time::sleep(Duration::from_millis(2_500)).await;
        s.restart().await?;
        let (mut a, w) = s.join(&room, "alice", &key("alice")).await?;
        let ServerFrame::Welcome { you, .. } = w else { return Err("no welcome".into()) };
        ensure(you.id == first.id, format!("alice came back as {you:?}, was {first:?}"))?;
        acked(&mut a, "e1", json!({"type": "edit", "data": {"client_id": "e1", "id": id, "text": "still mine"}}))
            .await?;
        let (_m, w) = s.join(&room, "bob", &key("mallory")).await?;
        let ServerFrame::Welcome { you: taker, .. } = w else { return Err("no welcome".into()) };
        ensure(taker.id != bob.id && taker.name == "bob", format!("the lapsed name's taker: {taker:?}, was {bob:?}"))
    }
    .await;
    s.stop();
    result
}

fn main() {
    harness("protocol_v2", &[("RATE_BURST", "100"), ("RATE_PER_SEC", "100")], "log", |server| {
        Box::pin(async move {
            run(
                vec![
                    ("every_operation_and_refusal", Box::pin(every_operation_and_refusal(server))),
                    (
                        "a_resume_replays_edits_and_deletes_of_old_messages",
                        Box::pin(a_resume_replays_edits_and_deletes_of_old_messages(server)),
                    ),
                    (
                        "a_protocol_1_room_keeps_its_history_members_and_names",
                        Box::pin(a_protocol_1_room_keeps_its_history_members_and_names()),
                    ),
                    (
                        "an_owner_back_after_a_lapse_is_the_same_member",
                        Box::pin(an_owner_back_after_a_lapse_is_the_same_member()),
                    ),
                ],
                Duration::from_secs(120),
            )
            .await
        })
    })
}
