//! The room's edges over the wire: one route decision (rooms named like routes, prefixes that
//! only look alike, every upgrade Origin-checked), a resume the room cannot honour, refused
//! joins capped, sockets that never join, socket caps per address, a `history` flood, a
//! 30 MiB frame, and reads that write nothing.
//!
//! Own server: `MAX_SOCKETS_PER_IP` is 4 here (64 in production) so the cap is cheap to reach;
//! everything else is as in `wrangler.toml`.

use confab_itest::*;
use confab_shared::{close, ErrorCode, ServerFrame};
use serde_json::json;
use std::time::{Duration, Instant};

async fn the_route_is_decided_once(s: &Server) -> Outcome {
    // A room named `ws`: `GET /api/rooms/ws` is its info, never a socket, and an upgrade
    // there from a foreign origin is refused like any other.
    let (status, body) = http(s.port, "GET", "/api/rooms/ws", &[]).await?;
    ensure(status == 200 && body.contains("\"room\":\"ws\""), format!("info of room ws: {status} {body}"))?;
    let evil = Client::connect(&format!("ws://127.0.0.1:{}/api/rooms/ws", s.port), Some("https://evil.example")).await;
    ensure(
        matches!(&evil, Err(e) if e.contains("403")),
        format!("cross-origin upgrade on /api/rooms/ws: {:?}", evil.err()),
    )?;
    let plain = Client::connect(&format!("ws://127.0.0.1:{}/api/rooms/ws", s.port), None).await;
    ensure(plain.is_err(), "an upgrade of a room's info path opened a socket")?;
    // A room named `messages` answers with its info, not a history page.
    let (status, body) = http(s.port, "GET", "/api/rooms/messages", &[]).await?;
    ensure(status == 200 && body.contains("\"room\":\"messages\""), format!("room messages: {status} {body}"))?;
    // Room `ws` still has its own socket at /api/rooms/ws/ws.
    let (mut c, w) = s.join("ws", "alice", &key("alice")).await?;
    ensure(matches!(w, ServerFrame::Welcome { ref room, .. } if room == "ws"), format!("{w:?}"))?;
    c.say("c1", "hi").await?;
    c.expect("ack", |f| matches!(f, ServerFrame::Ack { .. })).await?;
    // Prefixes that only look alike are not routes.
    for path in ["/api/roomsX/lobby/ws", "/api/roomslobby", "/api/rooms/lobby/ws/x"] {
        let (status, _) = http(s.port, "GET", path, &[]).await?;
        ensure(status == 404, format!("{path} answered {status}"))?;
    }
    let (status, _) = http(s.port, "POST", "/api/roomsanything", &[]).await?;
    ensure(status == 404, format!("POST /api/roomsanything answered {status}"))?;
    let cross = Client::connect(&format!("ws://127.0.0.1:{}/api/roomsX/lobby/ws", s.port), None).await;
    ensure(cross.is_err(), "/api/roomsX/lobby/ws opened a socket")
}

async fn an_impossible_resume_is_a_reset(s: &Server) -> Outcome {
    let room = unique_room("reset");
    let (mut a, _) = s.join(&room, "alice", &key("alice")).await?;
    a.say("c1", "one").await?;
    a.expect("ack", |f| matches!(f, ServerFrame::Ack { .. })).await?;
    let mut b = s.connect(&room).await?;
    b.send_json(json!({"type": "join", "data": {"v": 2, "name": "bob", "key": key("bob"), "since": 9_000}})).await?;
    let w = b.expect("welcome", |f| matches!(f, ServerFrame::Welcome { .. })).await?;
    let ServerFrame::Welcome { reset, messages, latest_seq, .. } = w else { unreachable!() };
    ensure(reset && latest_seq == 1 && messages.len() == 1, format!("reset {reset}, {} messages", messages.len()))
}

async fn look_alike_names_are_taken(s: &Server) -> Outcome {
    let room = unique_room("lookalike");
    let (_alice, _) = s.join(&room, "alice", &key("alice")).await?;
    let (_jose, _) = s.join(&room, "Jos\u{e9}", &key("jose")).await?;
    for name in ["\u{430}lice", "ａｌｉｃｅ", "Jose\u{301}"] {
        let mut c = s.connect(&room).await?;
        c.send_json(json!({"type": "join", "data": {"v": 2, "name": name, "key": key("mallory")}})).await?;
        let f = c.expect("a refusal", |f| matches!(f, ServerFrame::Error { .. } | ServerFrame::Welcome { .. })).await?;
        ensure(matches!(f, ServerFrame::Error { code: ErrorCode::NameTaken, .. }), format!("{name:?}: {f:?}"))?;
    }
    // Invisible characters are refused outright, and a message of nothing visible is empty.
    let mut c = s.connect(&room).await?;
    c.send_json(json!({"type": "join", "data": {"v": 2, "name": "alice\u{FE0F}", "key": key("mallory")}})).await?;
    c.expect("invalid_name", |f| matches!(f, ServerFrame::Error { code: ErrorCode::InvalidName, .. })).await?;
    let (mut bob, _) = s.join(&room, "bob", &key("bob")).await?;
    bob.say("c1", "\u{200B}\u{2060} \u{FE0F}").await?;
    bob.expect("empty_text", |f| matches!(f, ServerFrame::Error { code: ErrorCode::EmptyText, .. })).await?;
    Ok(())
}

async fn refused_joins_are_capped(s: &Server) -> Outcome {
    let room = unique_room("guess");
    let (_owner, _) = s.join(&room, "alice", &key("alice")).await?;
    let mut guesser = s.connect(&room).await?;
    for i in 0..confab_shared::limits::REFUSED_JOINS_MAX {
        guesser
            .send_json(json!({"type": "join", "data": {"v": 2, "name": "alice", "key": key(&format!("guess{i}"))}}))
            .await?;
        guesser.expect("name_taken", |f| matches!(f, ServerFrame::Error { code: ErrorCode::NameTaken, .. })).await?;
    }
    let code = guesser.closed_within(FRAME_WAIT).await;
    ensure(code == Some(close::POLICY), format!("after the cap the socket closed with {code:?}"))
}

async fn a_socket_that_never_joins_is_closed(s: &Server) -> Outcome {
    let room = unique_room("lurk");
    let started = Instant::now();
    let mut lurker = s.connect(&room).await?;
    // The alarm may fire a little late locally; production deadline 10 s.
    let code = lurker.closed_within(Duration::from_secs(25)).await;
    let after = started.elapsed();
    ensure(code == Some(close::JOIN_TIMEOUT), format!("closed with {code:?} after {after:?}"))?;
    ensure(after >= Duration::from_secs(9), format!("closed too early: {after:?}"))
}

async fn sockets_are_capped_per_address(s: &Server) -> Outcome {
    let room = unique_room("cap");
    let url = s.ws_url(&room);
    let ip = [("CF-Connecting-IP", "198.51.100.7")];
    let mut held = Vec::new();
    for _ in 0..4 {
        held.push(Client::connect_with(&url, &ip).await?);
    }
    let fifth = Client::connect_with(&url, &ip).await;
    ensure(matches!(&fifth, Err(e) if e.contains("429")), format!("the fifth socket: {:?}", fifth.err()))?;
    // Another address still gets in; a closed socket frees its place.
    Client::connect_with(&url, &[("CF-Connecting-IP", "198.51.100.8")]).await?;
    held.pop().expect("four held").close().await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    Client::connect_with(&url, &ip).await.map(|_| ())
}

async fn a_history_flood_is_refused_then_closed_and_others_carry_on(s: &Server) -> Outcome {
    let room = unique_room("flood");
    let (mut flooder, _) = s.join(&room, "flooder", &key("flooder")).await?;
    let (mut alice, _) = s.join(&room, "alice", &key("alice")).await?;
    let (mut bob, _) = s.join(&room, "bob", &key("bob")).await?;
    alice.drain(Duration::from_millis(200)).await?;
    let page = json!({"type": "history", "data": {"before": 9_007_199_254_740_991u64, "limit": 100}}).to_string();
    for _ in 0..400 {
        if flooder.send_text(&page).await.is_err() {
            break;
        }
    }
    // Bob's message still reaches alice promptly.
    let sent = Instant::now();
    bob.say("b1", "still here").await?;
    alice.expect("bob's message", |f| matches!(f, ServerFrame::Message(m) if m.author == "bob")).await?;
    ensure(sent.elapsed() < Duration::from_secs(2), format!("bob's message took {:?}", sent.elapsed()))?;
    let (mut histories, mut limited) = (0, 0);
    let closed = loop {
        match flooder.next_text(FRAME_WAIT).await {
            Ok(Some(t)) => match ServerFrame::parse(&t) {
                Ok(ServerFrame::History { .. }) => histories += 1,
                Ok(ServerFrame::Error { code: ErrorCode::RateLimited, .. }) => limited += 1,
                _ => {}
            },
            Ok(None) => break "it stayed open".to_owned(),
            Err(e) => break e,
        }
    };
    ensure(histories <= 10 && limited > 0, format!("{histories} pages served, {limited} refused"))?;
    ensure(closed.contains("1008") || closed.contains("Policy"), format!("the flooding socket: {closed}"))
}

async fn http_reads_are_budgeted_per_address(s: &Server) -> Outcome {
    let room = unique_room("reads");
    let path = format!("/api/rooms/{room}/messages?limit=100");
    let ip = [("CF-Connecting-IP", "198.51.100.9")];
    let mut ok = 0;
    let refused = loop {
        let (status, headers, body) = http_full(s.port, "GET", &path, &ip).await?;
        match status {
            200 => ok += 1,
            429 => break (headers, body),
            other => return Err(format!("status {other}: {body}")),
        }
        ensure(ok <= 20, "a hundred-message page over HTTP is never refused")?;
    };
    let (headers, body) = refused;
    ensure(body.contains("rate_limited"), format!("429 body: {body}"))?;
    ensure(headers.to_ascii_lowercase().contains("retry-after"), format!("429 headers: {headers}"))?;
    // Six pages of 100 is the burst (60 frames' worth, 10 a page).
    ensure(ok == 6, format!("{ok} pages before the first 429"))?;
    let (status, _) = http(s.port, "GET", &path, &[("CF-Connecting-IP", "198.51.100.10")]).await?;
    ensure(status == 200, format!("another address: {status}"))
}

async fn a_30_mib_frame_is_refused_without_being_copied(s: &Server) -> Outcome {
    let room = unique_room("huge");
    let (mut big, _) = s.join(&room, "big", &key("big")).await?;
    let (mut watcher, _) = s.join(&room, "watcher", &key("watcher")).await?;
    watcher.drain(Duration::from_millis(200)).await?;
    big.drain(Duration::from_millis(200)).await?;
    let frame = format!(r#"{{"type":"send","data":{{"client_id":"c","text":"{}"}}}}"#, "x".repeat(30 << 20));
    big.send_text(&frame).await?;
    let refusal = big
        .expect("frame_too_large", |f| matches!(f, ServerFrame::Error { code: ErrorCode::FrameTooLarge, .. }))
        .await?;
    let code = big.closed_within(FRAME_WAIT).await;
    ensure(code == Some(close::TOO_BIG), format!("{refusal:?} then close {code:?}"))?;
    // The others see the member leave and nothing else: no message, no reset of the room.
    watcher.expect("big left", |f| says_left(f, "big")).await?;
    watcher.expect_silence(Duration::from_millis(500)).await?;
    watcher.say("w1", "all good").await?;
    watcher.expect("ack", |f| matches!(f, ServerFrame::Ack { seq: 1, .. })).await?;
    // The room measured the frame without copying it: its wasm memory stayed far below 30 MiB
    // (wasm memory never shrinks, so a copy would show for good).
    let log = s.log_tail();
    let line = log.lines().rev().find(|l| l.contains("refused a frame of")).ok_or("no refusal line in the log")?;
    let bytes: u64 = line
        .rsplit("wasm memory ")
        .next()
        .and_then(|t| t.split_whitespace().next())
        .and_then(|n| n.parse().ok())
        .ok_or_else(|| format!("no memory figure in {line:?}"))?;
    ensure(bytes < 16 << 20, format!("wasm memory {bytes} bytes after a 30 MiB frame: it was copied"))
}

async fn reads_write_nothing(s: &Server) -> Outcome {
    // The room says when it creates its tables (the first write of a room); reads of rooms
    // that were never written must not get there.
    let created = || s.log_all().matches("room tables created").count();
    let before = created();
    for i in 0..5 {
        let room = unique_room(&format!("ghost-town{i}"));
        let (status, body) = http(s.port, "GET", &format!("/api/rooms/{room}"), &[]).await?;
        ensure(status == 200 && body.contains("\"latest_seq\":0"), format!("info: {status} {body}"))?;
        let (status, body) = http(s.port, "GET", &format!("/api/rooms/{room}/messages?limit=5"), &[]).await?;
        ensure(status == 200 && body.contains("\"messages\":[]"), format!("messages: {status} {body}"))?;
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    let after_reads = created();
    let room = unique_room("written");
    let (mut c, _) = s.join(&room, "alice", &key("alice")).await?;
    c.say("c1", "x").await?;
    c.expect("ack", |f| matches!(f, ServerFrame::Ack { .. })).await?;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let after_write = created();
    ensure(
        after_reads == before && after_write == after_reads + 1,
        format!("tables created: {before} → {after_reads} after reads → {after_write} after a write"),
    )
}

fn main() {
    // `log`: the room's own lines (tables created, refused frames) reach the log read here.
    harness("edges", &[("MAX_SOCKETS_PER_IP", "4")], "log", |server| {
        Box::pin(async move {
            run(
                vec![
                    ("the_route_is_decided_once", Box::pin(the_route_is_decided_once(server))),
                    ("an_impossible_resume_is_a_reset", Box::pin(an_impossible_resume_is_a_reset(server))),
                    ("look_alike_names_are_taken", Box::pin(look_alike_names_are_taken(server))),
                    ("refused_joins_are_capped", Box::pin(refused_joins_are_capped(server))),
                    ("a_socket_that_never_joins_is_closed", Box::pin(a_socket_that_never_joins_is_closed(server))),
                    ("sockets_are_capped_per_address", Box::pin(sockets_are_capped_per_address(server))),
                    (
                        "a_history_flood_is_refused_then_closed_and_others_carry_on",
                        Box::pin(a_history_flood_is_refused_then_closed_and_others_carry_on(server)),
                    ),
                    ("http_reads_are_budgeted_per_address", Box::pin(http_reads_are_budgeted_per_address(server))),
                    (
                        "a_30_mib_frame_is_refused_without_being_copied",
                        Box::pin(a_30_mib_frame_is_refused_without_being_copied(server)),
                    ),
                    ("reads_write_nothing", Box::pin(reads_write_nothing(server))),
                ],
                Duration::from_secs(60),
            )
            .await
        })
    })
}
