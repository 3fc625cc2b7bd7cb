//! Half-open sockets: a member whose peer vanished without a close frame (a laptop lid shut, a
//! network gone) is noticed and leaves within a bounded time, while members who only ping —
//! answered by the runtime without waking the room — stay. Own server with a fast sweep
//! (`IDLE_LIMIT_MS` 3 s, `SWEEP_MS` 1 s; production uses 60 s and 30 s).

use confab_itest::*;
use confab_shared::ServerFrame;
use std::time::{Duration, Instant};

async fn a_vanished_peer_leaves_and_pinging_members_stay(s: &Server) -> Outcome {
    let room = unique_room("liveness");
    let (mut watcher, _) = s.join(&room, "watcher", &key("watcher")).await?;
    let (mut pinger, _) = s.join(&room, "pinger", &key("pinger")).await?;
    // Joins, then goes silent: no frames, no pings, no close. Its TCP connection stays up.
    let (mut ghost, _) = s.join(&room, "ghost", &key("ghost")).await?;
    let started = Instant::now();
    let mut left = Vec::new();
    while started.elapsed() < Duration::from_secs(15) && !left.contains(&"ghost".to_owned()) {
        for c in [&mut watcher, &mut pinger] {
            c.send_text("ping").await?;
        }
        let until = Instant::now() + Duration::from_millis(700);
        while let Some(t) = watcher.next_text(until.saturating_duration_since(Instant::now())).await? {
            match ServerFrame::parse(&t) {
                Ok(ServerFrame::MemberLeft(m)) => left.push(m.name),
                Ok(ServerFrame::Presence { left: gone, .. }) => left.extend(gone.into_iter().map(|m| m.name)),
                _ => {}
            }
        }
        pinger.drain(Duration::from_millis(10)).await?;
    }
    let took = started.elapsed();
    ensure(left == ["ghost"], format!("left after {took:?}: {left:?}"))?;
    // 3 s limit + 1 s sweep, with room for a loaded CI machine.
    ensure(took < Duration::from_secs(10), format!("the ghost took {took:?} to leave (limit 3 s, sweep 1 s)"))?;
    let code = ghost.expect_close().await?;
    ensure(code.is_none_or(|c| c == 1001), format!("the ghost's socket closed with {code:?}"))?;
    let (_, body) = http(s.port, "GET", &format!("/api/rooms/{room}"), &[]).await?;
    ensure(body.contains("\"members_online\":2"), format!("after the sweep: {body}"))?;
    println!("    the silent member left after {:.1} s; the two pinging members stayed", took.as_secs_f64());
    Ok(())
}

fn main() {
    harness("liveness", &[("IDLE_LIMIT_MS", "3000"), ("SWEEP_MS", "1000")], "warn", |server| {
        Box::pin(async move {
            run(
                vec![(
                    "a_vanished_peer_leaves_and_pinging_members_stay",
                    Box::pin(a_vanished_peer_leaves_and_pinging_members_stay(server)),
                )],
                Duration::from_secs(60),
            )
            .await
        })
    })
}
