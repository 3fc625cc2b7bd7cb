//! A room that hibernates mid-conversation comes back right: its members, their name claims
//! and their rate buckets survive, and keepalive `ping`s are answered by the runtime without
//! waking it. Local workerd evicts an idle object after about 30 s; the room logs a line each
//! time its constructor runs, which is how this test knows it really hibernated.
//!
//! Own server, because it needs a slow refill to tell a kept bucket from a fresh one
//! (burst 100, 1 per second; the per-socket frame budget raised so only the member's bucket
//! counts), and no liveness sweep: its alarm would wake the room every 30 s, and then a
//! constructor line could no longer tell whether a `ping` woke it. Hibernation *with* the
//! production sweep is `sweep.rs`.

use confab_itest::*;
use confab_shared::{ErrorCode, ServerFrame};
use serde_json::json;
use std::time::{Duration, Instant};

async fn hibernation_keeps_members_claims_and_buckets(s: &Server) -> Outcome {
    let room = unique_room("hibernate");
    let (mut alice, _) = s.join(&room, "alice", &key("alice")).await?;
    let (mut bob, _) = s.join(&room, "bob", &key("bob")).await?;
    alice.expect("bob joined", |f| says_joined(f, "bob")).await?;
    // Alice empties her bucket (100) as fast as the acks come.
    for i in 0..100 {
        alice.say(&format!("a{i}"), "spend").await?;
    }
    let mut acked = 0;
    while acked < 100 {
        match alice.next_frame().await? {
            ServerFrame::Ack { .. } => acked += 1,
            ServerFrame::Error { code, message, .. } => return Err(format!("{code:?} {message} after {acked}")),
            _ => {}
        }
    }
    let spent_at = Instant::now();
    // The broadcasts of those 100 messages, to both.
    alice.drain(Duration::from_millis(500)).await?;
    bob.drain(Duration::from_millis(500)).await?;
    let before = s.room_starts(&room);
    ensure(before >= 1, "the room's start line is not in the log")?;

    // Idle, apart from keepalives: the runtime answers them and the room may sleep.
    let deadline = Instant::now() + Duration::from_secs(75);
    let mut quiet_for = Duration::ZERO;
    while quiet_for < Duration::from_secs(40) && Instant::now() < deadline {
        for c in [&mut alice, &mut bob] {
            c.send_text("ping").await?;
            let t = c.next_text(FRAME_WAIT).await?;
            ensure(t.as_deref() == Some("pong"), format!("ping got {t:?}"))?;
        }
        tokio::time::sleep(Duration::from_secs(5)).await;
        quiet_for += Duration::from_secs(5);
    }
    ensure(s.room_starts(&room) == before, "a ping woke the room (its constructor ran again)")?;

    // The next message wakes it: the constructor runs again, rebuilding from attachments.
    let idle = spent_at.elapsed().as_secs();
    bob.say("b1", "still there?").await?;
    alice.expect("bob's message after waking", |f| matches!(f, ServerFrame::Message(m) if m.author == "bob")).await?;
    // Its start line may reach the log after the frame did.
    let starts = s.log_count_within(&format!("room {room} starting"), before + 1, Duration::from_secs(5)).await;
    ensure(starts == before + 1, format!("the room did not hibernate (starts {before} → {starts})"))?;

    let (_, body) = http(s.port, "GET", &format!("/api/rooms/{room}"), &[]).await?;
    ensure(body.contains("\"members_online\":2"), format!("members after waking: {body}"))?;

    // The claim on "alice" is in SQLite: still hers.
    let mut thief = s.connect(&room).await?;
    thief.send_json(json!({"type": "join", "data": {"v": 2, "name": "Alice", "key": key("mallory")}})).await?;
    thief.expect("name_taken", |f| matches!(f, ServerFrame::Error { code: ErrorCode::NameTaken, .. })).await?;

    // Alice's bucket refilled at 1/s while idle: about `idle` tokens, not a fresh 100.
    for i in 0..100 {
        alice.say(&format!("b{i}"), "again").await?;
    }
    let (mut ok, mut limited) = (0u64, 0u64);
    while ok + limited < 100 {
        match alice.next_frame().await? {
            ServerFrame::Ack { .. } => ok += 1,
            ServerFrame::Error { code: ErrorCode::RateLimited, .. } => limited += 1,
            _ => {}
        }
    }
    let window = idle.saturating_sub(2)..=idle + 10;
    ensure(window.contains(&ok), format!("after {idle} s idle alice could send {ok} (expected {window:?})"))
}

fn main() {
    let vars = [("RATE_BURST", "100"), ("RATE_PER_SEC", "1"), ("SOCKET_RATE_BURST", "1000"), ("SWEEP_MS", "600000")];
    harness("hibernation", &vars, "log", |server| {
        Box::pin(async move {
            // `log` level above, so the room's start lines reach the log this test reads.
            run(
                vec![(
                    "hibernation_keeps_members_claims_and_buckets",
                    Box::pin(hibernation_keeps_members_claims_and_buckets(server)),
                )],
                Duration::from_secs(150),
            )
            .await
        })
    })
}
