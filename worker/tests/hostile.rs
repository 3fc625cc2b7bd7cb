//! The checked-in corpus of hostile frames (shared/tests/data/hostile-frames.jsonl, made by
//! scripts/gen-hostile-corpus.py), replayed against the room natively. Every frame must get
//! exactly its error code, nothing may be stored or broadcast because of it, and afterwards
//! the same socket (unless the frame closed it) and the room keep serving.

use confab_shared::{ErrorCode, ServerFrame};
use confab_worker::room::Input;
use serde_json::{json, Value};

mod common;
use common::Harness;

const KEY: &str = "kkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkk";

fn corpus() -> Vec<Value> {
    let text = include_str!("../../shared/tests/data/hostile-frames.jsonl");
    text.lines().map(|l| serde_json::from_str(l).expect("the corpus is JSON lines")).collect()
}

fn code(name: &str) -> ErrorCode {
    serde_json::from_value(json!(name)).expect("the corpus uses protocol error codes")
}

#[test]
fn the_corpus_is_big_and_covers_every_kind() {
    let c = corpus();
    assert!(c.len() >= 1000, "{} frames", c.len());
    for kind in [
        "not_json",
        "wrong_shape",
        "unknown_type",
        "wrong_field_type",
        "huge_number",
        "deep_nesting",
        "too_large",
        "binary",
        "control_in_text",
        "bad_name",
        "before_join",
        "second_join",
        "flood",
        "bad_op",
        "bad_reaction",
        "op_on_missing",
        "old_protocol",
        "bad_moderation",
        "not_a_moderator",
        "bad_stream",
        "bad_invite",
    ] {
        assert!(c.iter().any(|r| r["kind"] == kind), "no {kind}");
    }
}

#[test]
fn every_hostile_frame_gets_its_code_and_the_room_keeps_serving() {
    let mut h = Harness::new();
    let watcher = h.join("watcher", &"w".repeat(40));
    h.take(watcher);
    let mut tried = 0;
    for (i, row) in corpus().iter().enumerate() {
        let expect = code(row["expect"].as_str().expect("expect is a string"));
        let s = if row["state"] == "fresh" {
            h.open()
        } else {
            let s = h.join(&format!("m{i}"), KEY);
            assert!(matches!(h.take(s).first(), Some(ServerFrame::Welcome { .. })), "row {i}: join failed");
            s
        };
        h.take(watcher); // joins and the last row's "still here"
        let stored_before = h.room.info(&mut h.store).expect("info").latest_seq;
        if let Some(n) = row["flood"].as_u64() {
            for j in 0..n {
                h.send(s, &format!("f{j}"), "flood");
            }
            let frames = h.take(s);
            let limited = frames
                .iter()
                .filter(|f| {
                    matches!(f, ServerFrame::Error { code: ErrorCode::RateLimited, retry_after_ms: Some(_), .. })
                })
                .count() as u64;
            assert!(limited >= n - 21, "row {i}: only {limited} of {n} rate limited");
            tried += n as usize;
            h.take(watcher);
            continue;
        }
        let effects = if let Some(len) = row["binary_len"].as_u64() {
            h.room.handle(&mut h.store, Input::Binary(s, len as usize), h.now)
        } else {
            let text = row["text"].as_str().expect("text is a string");
            h.room.handle(&mut h.store, Input::Text(s, text), h.now)
        };
        h.apply(effects);
        tried += 1;
        let got = h.take(s);
        match got.as_slice() {
            [ServerFrame::Error { code, .. }] => assert_eq!(*code, expect, "row {i} ({}): {row}", row["kind"]),
            other => panic!("row {i} ({}): expected one error {expect:?}, got {other:?}", row["kind"]),
        }
        assert_eq!(h.room.info(&mut h.store).expect("info").latest_seq, stored_before, "row {i} stored something");
        assert!(
            h.take(watcher).iter().all(|f| !matches!(
                f,
                ServerFrame::Message(_)
                    | ServerFrame::Edited { .. }
                    | ServerFrame::Deleted { .. }
                    | ServerFrame::Reactions { .. }
            )),
            "row {i} was broadcast"
        );
        // The socket still serves, unless the frame was too large (closed with 1009) or from
        // an old protocol (closed with 4001).
        if h.closed.contains_key(&s) {
            assert!(
                matches!(expect, ErrorCode::FrameTooLarge | ErrorCode::UnsupportedVersion),
                "row {i} closed the socket"
            );
            h.close(s);
        } else if row["state"] == "joined" {
            h.send(s, &format!("ok{i}"), "still here");
            assert!(matches!(h.take(s).first(), Some(ServerFrame::Ack { .. })), "row {i}: the socket stopped serving");
            h.close(s);
        } else {
            h.close(s);
        }
        h.now += 1_000; // keep buckets topped up between rows
    }
    assert!(tried >= 1000);
    // And the room as a whole still works.
    let a = h.join("after", &"a".repeat(40));
    h.take(a);
    h.send(a, "last", "the room survived");
    assert!(h.take(watcher).iter().any(|f| matches!(f, ServerFrame::Message(m) if m.text == "the room survived")));
}
