//! Hibernation with the production liveness sweep (`IDLE_LIMIT_MS` 60 s, `SWEEP_MS` 30 s, as
//! in `wrangler.toml`): the sweep's alarm wakes a room that local workerd has evicted, and
//! what the room knows then is only what survived in attachments and storage.
//!
//! - A bot that sends every 45 s and never pings ("ping or send at least every 60 s") stays
//!   joined for more than two minutes, through several evictions.
//! - A socket the room closed (a frame over the limit) whose peer never answers the close is
//!   still listed by the runtime (CLOSING); after the room wakes it must not be a member.
//! - And the other way round: a member who closes while the room sleeps does leave, for
//!   everyone.
//!
//! Both run at once (each needs minutes of wall time). The room logs a line each time its
//! constructor runs, which is how the test knows the room really was evicted in between.

use confab_itest::*;
use confab_shared::ServerFrame;
use std::time::{Duration, Instant};

async fn a_bot_that_sends_but_never_pings_stays(s: &Server) -> Outcome {
    let room = unique_room("bot");
    let (mut bot, _) = s.join(&room, "sensor-bot", &key("bot")).await?;
    let (mut watcher, _) = s.join(&room, "watcher", &key("watcher")).await?;
    bot.drain(Duration::from_millis(200)).await?;
    let first = s.room_starts(&room);
    let started = Instant::now();
    let mut i = 0;
    while started.elapsed() < Duration::from_secs(140) {
        // Keep the watcher alive the way the page does; the bot never pings.
        for _ in 0..9 {
            tokio::time::sleep(Duration::from_secs(5)).await;
            watcher.send_text("ping").await?;
        }
        i += 1;
        if let Err(e) = bot.say(&format!("r{i}"), "reading: 21.5 °C").await {
            let code = bot.closed_within(Duration::from_secs(1)).await;
            return Err(format!("reading {i} after {:?}: {e} (close {code:?})", started.elapsed()));
        }
        let ack = bot.expect("ack", |f| matches!(f, ServerFrame::Ack { .. } | ServerFrame::Error { .. })).await?;
        ensure(matches!(ack, ServerFrame::Ack { .. }), format!("reading {i} after {:?}: {ack:?}", started.elapsed()))?;
        // Nothing but pongs and messages for the watcher: the bot never left.
        while let Some(t) = watcher.next_text(Duration::from_millis(300)).await? {
            if let Ok(f) = ServerFrame::parse(&t) {
                ensure(!says_left(&f, "sensor-bot"), format!("the bot was dropped after {:?}", started.elapsed()))?;
            }
        }
    }
    let woke = s.room_starts(&room) - first;
    ensure(woke >= 1, "the room was never evicted, so this proved nothing")?;
    println!("    the room started {woke} more times while the bot kept sending");
    Ok(())
}

async fn a_socket_the_room_closed_is_no_ghost_after_a_wake(s: &Server) -> Outcome {
    let room = unique_room("ghost");
    let (mut big, _) = s.join(&room, "ghost", &key("ghost")).await?;
    let (mut watcher, _) = s.join(&room, "watcher", &key("watcher")).await?;
    big.drain(Duration::from_millis(200)).await?;
    // A frame over the limit: the room refuses it and closes the socket. The client never
    // reads again, so it never answers the close: the runtime keeps the socket CLOSING.
    let frame = format!(r#"{{"type":"send","data":{{"client_id":"c","text":"{}"}}}}"#, "x".repeat(20_000));
    big.send_text(&frame).await?;
    watcher.expect("ghost left", |f| says_left(f, "ghost")).await?;
    let first = s.room_starts(&room);
    // Quiet (the watcher only pings) until the room has been evicted and woken by its alarm.
    let started = Instant::now();
    while s.room_starts(&room) == first && started.elapsed() < Duration::from_secs(100) {
        tokio::time::sleep(Duration::from_secs(5)).await;
        watcher.send_text("ping").await?;
    }
    ensure(s.room_starts(&room) > first, "the room was never evicted, so this proved nothing")?;
    // A newcomer's welcome, the room's info and the watcher's frames agree: no ghost.
    let (_newcomer, w) = s.join(&room, "newcomer", &key("newcomer")).await?;
    let ServerFrame::Welcome { members, .. } = w else { return Err("no welcome".into()) };
    let members: Vec<_> = members.into_iter().map(|m| m.name).collect();
    ensure(members == ["newcomer", "watcher"], format!("members after the wake: {members:?}"))?;
    let (_, body) = http(s.port, "GET", &format!("/api/rooms/{room}"), &[]).await?;
    ensure(body.contains("\"members_online\":2"), format!("info after the wake: {body}"))?;
    while let Some(t) = watcher.next_text(Duration::from_millis(500)).await? {
        if let Ok(f) = ServerFrame::parse(&t) {
            ensure(!says_left(&f, "ghost"), "a second member_left for the ghost")?;
        }
    }
    drop(big);
    // The other way round: members who close their socket while the room sleeps do leave. Each
    // try waits in quiet, then one member closes; a try counts when its close event was what
    // woke the room (a fresh instance started for it).
    let mut leavers = Vec::new();
    for i in 0..2 {
        leavers.push(s.join(&room, &format!("leaver{i}"), &key(&format!("leaver{i}"))).await?.0);
    }
    let mut on_fresh = 0;
    for i in 0..2 {
        // Everyone still here pings like a page, so the sweep never takes a leaver first.
        for _ in 0..5 {
            tokio::time::sleep(Duration::from_secs(5)).await;
            watcher.send_text("ping").await?;
            for l in &mut leavers {
                l.send_text("ping").await?;
            }
        }
        let leaver = leavers.remove(0);
        watcher.drain(Duration::from_millis(100)).await?;
        let before = s.room_starts(&room);
        leaver.close().await;
        let name = format!("leaver{i}");
        watcher.expect("the leaver left", |f| says_left(f, &name)).await?;
        if s.room_starts(&room) > before {
            on_fresh += 1;
        }
    }
    ensure(on_fresh > 0, "no close landed on a room that had been evicted, so this proved nothing")?;
    println!("    {on_fresh} of 2 closes woke an evicted room; each announced the leave");
    Ok(())
}

async fn both(s: &Server) -> Outcome {
    let (bot, ghost) =
        tokio::join!(a_bot_that_sends_but_never_pings_stays(s), a_socket_the_room_closed_is_no_ghost_after_a_wake(s));
    bot.map_err(|e| format!("bot: {e}"))?;
    ghost.map_err(|e| format!("ghost: {e}"))
}

fn main() {
    // No overrides: the production sweep, idle limit and rates. `log` so the room's start
    // lines reach the log this test reads.
    harness("sweep", &[], "log", |server| {
        Box::pin(async move {
            run(vec![("production_sweep_with_hibernation", Box::pin(both(server)))], Duration::from_secs(240)).await
        })
    })
}
