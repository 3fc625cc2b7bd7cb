//! Protocol v1 against a real `wrangler dev` (workerd, SQLite-backed Durable Objects): the
//! page and the API on one origin, joins, history, resume, dedup, presence, typing, limits,
//! refusals, HTTP errors, and history surviving a restart.
//!
//! Runs with the production defaults from `wrangler.toml` (burst 20, 5/s), so scenarios that
//! need many messages spread them over several members.

use confab_itest::*;
use confab_shared::{ChatMessage, ErrorCode, ServerFrame};
use serde_json::{json, Value};
use std::time::Duration;

fn messages_of(f: &ServerFrame) -> Vec<ChatMessage> {
    match f {
        ServerFrame::Welcome { messages, .. } | ServerFrame::History { messages, .. } => messages.clone(),
        _ => Vec::new(),
    }
}

fn is_error(code: ErrorCode) -> impl Fn(&ServerFrame) -> bool {
    move |f| matches!(f, ServerFrame::Error { code: c, .. } if *c == code)
}

/// Sends one message and waits for its ack; returns its `seq`.
async fn say_acked(c: &mut Client, client_id: &str, text: &str) -> Result<u64, String> {
    c.say(client_id, text).await?;
    let cid = client_id.to_owned();
    match c.expect("ack", move |f| matches!(f, ServerFrame::Ack { client_id, .. } if *client_id == cid)).await? {
        ServerFrame::Ack { seq, .. } => Ok(seq),
        _ => unreachable!("expect() returned the frame it matched"),
    }
}

/// Fills `room` with `n` messages from `n / 20 + 1` members (each within its burst).
async fn fill(s: &Server, room: &str, n: usize) -> Result<Vec<u64>, String> {
    let mut seqs = Vec::new();
    let mut i = 0;
    let mut member = 0;
    while i < n {
        let (mut c, _) = s.join(room, &format!("filler{member}"), &key(&format!("filler{member}"))).await?;
        for _ in 0..20.min(n - i) {
            seqs.push(say_acked(&mut c, &format!("f{i}"), &format!("message {i}")).await?);
            i += 1;
        }
        c.close().await;
        member += 1;
    }
    Ok(seqs)
}

async fn page_and_api_share_one_origin(s: &Server) -> Outcome {
    let (status, body) = http(s.port, "GET", "/", &[]).await?;
    ensure(status == 200 && body.contains("confab-frontend"), format!("GET / gave {status}: {body:.200}"))?;
    // Deep links load the page (SPA fallback)…
    let (status, body) = http(s.port, "GET", "/r/lobby", &[]).await?;
    ensure(status == 200 && body.contains("confab-frontend"), format!("GET /r/lobby gave {status}"))?;
    // …but /api/* always reaches the Worker, which answers in JSON.
    let (status, body) = http(s.port, "GET", "/api/nothing", &[]).await?;
    let v: Value = serde_json::from_str(&body).map_err(|e| format!("/api/nothing is not JSON ({e}): {body:.200}"))?;
    ensure(status == 404 && v["error"]["code"] == "not_found", format!("/api/nothing gave {status} {v}"))
}

async fn the_page_ships_a_strict_csp_and_no_inline_script(s: &Server) -> Outcome {
    let (status, headers, body) = http_full(s.port, "GET", "/", &[]).await?;
    ensure(status == 200, format!("GET / gave {status}"))?;
    let csp = headers.lines().find_map(|l| l.strip_prefix("content-security-policy: ")).unwrap_or_default();
    ensure(csp.contains("script-src 'self' 'wasm-unsafe-eval'"), format!("CSP: {csp:?}"))?;
    ensure(!csp.contains("unsafe-inline") && csp.contains("frame-ancestors 'none'"), format!("CSP: {csp}"))?;
    ensure(headers.contains("x-content-type-options: nosniff"), "no nosniff header")?;
    let inline = body
        .match_indices("<script")
        .filter(|(i, _)| !body[*i..].split('>').next().unwrap_or("").contains("src="))
        .count();
    ensure(inline == 0, format!("{inline} inline scripts in index.html"))?;
    // The API answers with JSON, not the page's headers' HTML.
    let (_, headers, _) = http_full(s.port, "GET", "/api/rooms/lobby", &[]).await?;
    ensure(headers.contains("content-type: application/json"), format!("API headers: {headers}"))
}

async fn http_errors_are_json_with_codes(s: &Server) -> Outcome {
    type Case<'a> = (&'a str, &'a str, &'a [(&'a str, &'a str)], u16, &'a str);
    let cases: &[Case] = &[
        ("GET", "/api/rooms/Bad%20Room/ws", &[("Upgrade", "websocket")], 400, "invalid_room"),
        ("GET", "/api/rooms/UPPER", &[], 400, "invalid_room"),
        ("GET", "/api/rooms/lobby/ws", &[], 426, "upgrade_required"),
        ("GET", "/api/rooms/lobby/messages?limit=500", &[], 400, "bad_request"),
    ];
    for (method, path, headers, want_status, want_code) in cases {
        let (status, body) = http(s.port, method, path, headers).await?;
        let v: Value = serde_json::from_str(&body).map_err(|e| format!("{path}: not JSON ({e}): {body:.200}"))?;
        ensure(status == *want_status && v["error"]["code"] == *want_code, format!("{method} {path}: {status} {v}"))?;
        ensure(v["error"]["message"].as_str().is_some_and(|m| !m.is_empty()), format!("{path}: no message"))?;
    }
    Ok(())
}

async fn origin_is_checked_on_upgrade(s: &Server) -> Outcome {
    let url = s.ws_url("origins");
    match Client::connect(&url, Some("https://evil.example")).await {
        Ok(_) => return Err("a foreign Origin was let in".into()),
        Err(e) => ensure(e.contains("403"), format!("expected 403, got {e}"))?,
    }
    let own = format!("http://127.0.0.1:{}", s.port);
    Client::connect(&url, Some(&own)).await.map(|_| ())
}

async fn private_rooms_are_random_64_hex(s: &Server) -> Outcome {
    let (status, body) = http(s.port, "POST", "/api/rooms", &[]).await?;
    let a: Value = serde_json::from_str(&body).map_err(|e| e.to_string())?;
    let (_, body) = http(s.port, "POST", "/api/rooms", &[]).await?;
    let b: Value = serde_json::from_str(&body).map_err(|e| e.to_string())?;
    let room = a["room"].as_str().unwrap_or_default().to_owned();
    ensure(status == 201, format!("POST /api/rooms gave {status}"))?;
    ensure(room.len() == 64 && room.chars().all(|c| c.is_ascii_hexdigit()), format!("room id {room}"))?;
    ensure(a["room"] != b["room"], "two private rooms got the same id")?;
    // And it is a room like any other.
    s.join(&room, "alice", &key("alice")).await.map(|_| ())
}

async fn welcome_to_an_empty_room(s: &Server) -> Outcome {
    let room = unique_room("empty");
    let (_c, w) = s.join(&room, "  Alice ", &key("alice")).await?;
    let ServerFrame::Welcome { you, room: r, members, messages, older, latest_seq, limits, protocol, epoch, .. } = w
    else {
        unreachable!()
    };
    ensure(you.name == "Alice" && r == room && members == [you.clone()], format!("welcome: {you:?} {r} {members:?}"))?;
    ensure(protocol == 2 && !epoch.is_empty(), format!("protocol {protocol}, epoch {epoch:?}"))?;
    ensure(messages.is_empty() && !older && latest_seq == 0, "an empty room has no messages")?;
    ensure(limits.text_max_chars == 4000 && limits.rate_burst == 20, format!("limits {limits:?}"))
}

async fn messages_are_stored_then_broadcast_to_everyone(s: &Server) -> Outcome {
    let room = unique_room("broadcast");
    let (mut a, _) = s.join(&room, "alice", &key("alice")).await?;
    let (mut b, _) = s.join(&room, "bob", &key("bob")).await?;
    a.expect("bob joining", |f| says_joined(f, "bob")).await?;
    let seq = say_acked(&mut a, "a1", "hello <b>bob</b>").await?;
    for c in [&mut a, &mut b] {
        let f = c.expect("the message", |f| matches!(f, ServerFrame::Message(_))).await?;
        let ServerFrame::Message(m) = f else { unreachable!() };
        ensure(
            m.id == seq && m.author == "alice" && m.text == "hello <b>bob</b>" && m.client_id == "a1",
            format!("{m:?}"),
        )?;
    }
    // The REST page shows what the sockets saw.
    let (status, body) = http(s.port, "GET", &format!("/api/rooms/{room}/messages"), &[]).await?;
    let v: Value = serde_json::from_str(&body).map_err(|e| e.to_string())?;
    ensure(status == 200 && v["messages"][0]["id"] == seq && v["older"] == false, format!("messages: {v}"))?;
    let (_, body) = http(s.port, "GET", &format!("/api/rooms/{room}"), &[]).await?;
    let v: Value = serde_json::from_str(&body).map_err(|e| e.to_string())?;
    ensure(v == json!({"room": room, "members_online": 2, "latest_seq": seq}), format!("info: {v}"))
}

async fn history_on_join_is_the_last_50_and_pages_back(s: &Server) -> Outcome {
    let room = unique_room("history");
    let seqs = fill(s, &room, 70).await?;
    let (mut c, w) = s.join(&room, "reader", &key("reader")).await?;
    let got: Vec<u64> = messages_of(&w).iter().map(|m| m.id).collect();
    ensure(got == seqs[20..], format!("welcome had {got:?}"))?;
    ensure(matches!(w, ServerFrame::Welcome { older: true, .. }), "older should be set")?;
    c.send_json(json!({"type": "history", "data": {"before": seqs[20], "limit": 100}})).await?;
    let page = c.expect("history", |f| matches!(f, ServerFrame::History { .. })).await?;
    let got: Vec<u64> = messages_of(&page).iter().map(|m| m.id).collect();
    ensure(got == seqs[..20] && matches!(page, ServerFrame::History { older: false, .. }), format!("page {got:?}"))?;
    // Strictly increasing seq, no gaps (one writer per room).
    ensure(seqs.windows(2).all(|w| w[1] == w[0] + 1), "seqs increase by one")
}

async fn resume_sends_what_came_after_since(s: &Server) -> Outcome {
    let room = unique_room("resume");
    let seqs = fill(s, &room, 10).await?;
    let mut c = s.connect(&room).await?;
    c.send_json(json!({"type": "join", "data": {"v": 2, "name": "back", "key": key("back"), "since": seqs[6]}}))
        .await?;
    let w = c.expect("welcome", |f| matches!(f, ServerFrame::Welcome { .. })).await?;
    let got: Vec<u64> = messages_of(&w).iter().map(|m| m.id).collect();
    ensure(
        got == seqs[7..] && matches!(w, ServerFrame::Welcome { gap: false, reset: false, .. }),
        format!("resume gave {got:?}"),
    )
}

async fn a_resend_is_acked_again_never_stored_twice(s: &Server) -> Outcome {
    let room = unique_room("dedup");
    let (mut a, _) = s.join(&room, "alice", &key("alice")).await?;
    let first = say_acked(&mut a, "same", "once").await?;
    a.expect("the message", |f| matches!(f, ServerFrame::Message(_))).await?;
    // From another socket of the same member, as after a reconnect.
    let (mut a2, _) = s.join(&room, "alice", &key("alice")).await?;
    let again = say_acked(&mut a2, "same", "once").await?;
    ensure(first == again, format!("resend stored as {again}, first was {first}"))?;
    a.expect_silence(Duration::from_millis(500)).await?;
    let (_, body) = http(s.port, "GET", &format!("/api/rooms/{room}/messages"), &[]).await?;
    let v: Value = serde_json::from_str(&body).map_err(|e| e.to_string())?;
    ensure(v["messages"].as_array().map(Vec::len) == Some(1), format!("stored: {v}"))
}

async fn names_belong_to_their_first_key(s: &Server) -> Outcome {
    let room = unique_room("claims");
    let (_a, _) = s.join(&room, "Alice", &key("alice")).await?;
    let mut thief = s.connect(&room).await?;
    thief.send_json(json!({"type": "join", "data": {"v": 2, "name": "alice", "key": key("mallory")}})).await?;
    thief.expect("name_taken", is_error(ErrorCode::NameTaken)).await?;
    // The refused socket may still join under its own name.
    thief.send_json(json!({"type": "join", "data": {"v": 2, "name": "mallory", "key": key("mallory")}})).await?;
    thief.expect("welcome", |f| matches!(f, ServerFrame::Welcome { .. })).await.map(|_| ())
}

async fn presence_counts_members_not_tabs(s: &Server) -> Outcome {
    let room = unique_room("presence");
    let (mut watcher, _) = s.join(&room, "watcher", &key("watcher")).await?;
    let (tab1, _) = s.join(&room, "bob", &key("bob")).await?;
    watcher.expect("bob joined", |f| says_joined(f, "bob")).await?;
    let (tab2, w) = s.join(&room, "bob", &key("bob")).await?;
    let ServerFrame::Welcome { members, .. } = w else { unreachable!() };
    ensure(members.len() == 2, format!("members {members:?}"))?;
    tab1.close().await;
    watcher.expect_silence(Duration::from_millis(700)).await?;
    // A tab that vanishes without a close frame still leaves.
    tab2.cut();
    watcher.expect("bob left", |f| says_left(f, "bob")).await?;
    let (_, body) = http(s.port, "GET", &format!("/api/rooms/{room}"), &[]).await?;
    ensure(body.contains("\"members_online\":1"), format!("info after leave: {body}"))
}

async fn typing_is_relayed_to_others_at_most_every_2s(s: &Server) -> Outcome {
    let room = unique_room("typing");
    let (mut a, _) = s.join(&room, "alice", &key("alice")).await?;
    let (mut b, _) = s.join(&room, "bob", &key("bob")).await?;
    a.expect("bob joined", |f| says_joined(f, "bob")).await?;
    for _ in 0..3 {
        b.send_json(json!({"type": "typing", "data": {}})).await?;
    }
    a.expect("typing", |f| matches!(f, ServerFrame::Typing(m) if m.name == "bob")).await?;
    a.expect_silence(Duration::from_millis(600)).await?;
    b.expect_silence(Duration::from_millis(100)).await
}

async fn bad_frames_get_codes_and_the_socket_lives(s: &Server) -> Outcome {
    let room = unique_room("bad");
    let mut c = s.connect(&room).await?;
    c.send_json(json!({"type": "send", "data": {"client_id": "x", "text": "hi"}})).await?;
    c.expect("not_joined", is_error(ErrorCode::NotJoined)).await?;
    c.send_json(json!({"type": "join", "data": {"v": 2, "name": "\u{202e}evil", "key": key("e")}})).await?;
    c.expect("invalid_name", is_error(ErrorCode::InvalidName)).await?;
    c.send_json(json!({"type": "join", "data": {"v": 2, "name": "carol", "key": key("carol")}})).await?;
    c.expect("welcome", |f| matches!(f, ServerFrame::Welcome { .. })).await?;
    let cases: Vec<(String, ErrorCode)> = vec![
        ("not json".into(), ErrorCode::BadFrame),
        (r#"{"type":"dance","data":{}}"#.into(), ErrorCode::BadFrame),
        (r#"{"type":"send","data":{"client_id":"c","text":"   "}}"#.into(), ErrorCode::EmptyText),
        (
            json!({"type": "send", "data": {"client_id": "c", "text": "x".repeat(4001)}}).to_string(),
            ErrorCode::TextTooLong,
        ),
        (
            r#"{"type":"join","data":{"v":2,"name":"carol","key":"kkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkk"}}"#.into(),
            ErrorCode::BadRequest,
        ),
    ];
    for (text, code) in cases {
        c.send_text(&text).await?;
        c.expect(&format!("{code:?}"), is_error(code)).await?;
    }
    c.send_binary(vec![1, 2, 3]).await?;
    c.expect("bad_frame for binary", is_error(ErrorCode::BadFrame)).await?;
    // Still serving.
    say_acked(&mut c, "ok1", "still here").await?;
    // Over the frame limit: an error, then the room may close with 1009.
    c.send_text(&"x".repeat(20_000)).await?;
    c.expect("frame_too_large", is_error(ErrorCode::FrameTooLarge)).await?;
    Ok(())
}

async fn floods_are_rate_limited_with_a_retry_time(s: &Server) -> Outcome {
    let room = unique_room("flood");
    let (mut c, _) = s.join(&room, "flood", &key("flood")).await?;
    for i in 0..30 {
        c.say(&format!("f{i}"), "spam").await?;
    }
    let (mut acks, mut limited, mut retry) = (0, 0, 0);
    while acks + limited < 30 {
        match c.next_frame().await? {
            ServerFrame::Ack { .. } => acks += 1,
            ServerFrame::Error { code: ErrorCode::RateLimited, retry_after_ms, .. } => {
                limited += 1;
                retry = retry_after_ms.unwrap_or(0);
            }
            _ => {}
        }
    }
    // The burst of 20, plus at most a few refilled (5/s) while 30 frames are in flight.
    ensure((20..=24).contains(&acks) && limited >= 6, format!("{acks} acked, {limited} limited"))?;
    ensure(retry > 0 && retry <= 1000, format!("retry_after_ms {retry}"))?;
    // Reconnecting does not refill the bucket.
    c.close().await;
    let (mut again, _) = s.join(&room, "flood", &key("flood")).await?;
    again.say("after", "again").await?;
    again.expect("still limited", is_error(ErrorCode::RateLimited)).await?;
    tokio::time::sleep(Duration::from_millis(retry + 250)).await;
    say_acked(&mut again, "later", "ok now").await.map(|_| ())
}

async fn ping_is_answered_pong(s: &Server) -> Outcome {
    let mut c = s.connect(&unique_room("ping")).await?;
    c.send_text("ping").await?;
    let t = c.next_text(FRAME_WAIT).await?;
    ensure(t.as_deref() == Some("pong"), format!("got {t:?}"))
}

async fn history_survives_a_restart(s: &mut Server) -> Outcome {
    let room = unique_room("restart");
    let seqs = fill(s, &room, 5).await?;
    s.restart().await?;
    let (_c, w) = s.join(&room, "later", &key("later")).await?;
    let got: Vec<u64> = messages_of(&w).iter().map(|m| m.id).collect();
    ensure(got == seqs, format!("after restart: {got:?}, before: {seqs:?}"))?;
    let (mut c, _) = s.join(&room, "writer", &key("writer")).await?;
    let next = say_acked(&mut c, "n", "after restart").await?;
    ensure(next == seqs[4] + 1, format!("seq continued at {next}"))
}

/// One member of [`a_busy_room_coalesces_for_clients_that_read_batches`]: joined, it sends
/// `sends` messages back to back, then reads until it has `total` messages. Returns (the
/// WebSocket messages it read, how many were `batch`es, how many batches held messages from
/// two or more members (frames of different sockets' events, coalesced), the message ids in
/// arrival order).
async fn busy_member(
    s: &Server,
    room: &str,
    me: usize,
    batch: bool,
    sends: usize,
    total: usize,
    go: &tokio::sync::Barrier,
) -> Result<(usize, usize, usize, Vec<u64>), String> {
    let mut c = s.connect(room).await?;
    let name = format!("busy{me}");
    c.send_json(json!({"type": "join", "data": {"v": 2, "name": name, "key": key(&name), "batch": batch}})).await?;
    let welcome = |f: &ServerFrame| matches!(f, ServerFrame::Welcome { .. });
    c.expect("welcome", |f| match f {
        ServerFrame::Batch(frames) => frames.first().is_some_and(welcome),
        f => welcome(f),
    })
    .await?;
    go.wait().await;
    for j in 0..sends {
        c.say(&format!("{me}-{j}"), "busy").await?;
    }
    let (mut texts, mut batches, mut mixed, mut ids) = (0, 0, 0, Vec::new());
    while ids.len() < total {
        let Some(t) = c.next_text(Duration::from_secs(20)).await? else {
            return Err(format!("{name} has {} of {total} messages", ids.len()));
        };
        texts += 1;
        if t.starts_with(r#"{"type":"batch""#) {
            batches += 1;
        }
        let mut authors = std::collections::HashSet::new();
        for f in ServerFrame::parse_all(&t).map_err(|e| format!("unreadable {t}: {}", e.message))? {
            if let ServerFrame::Message(m) = f {
                ids.push(m.id);
                authors.insert(m.member);
            }
        }
        if authors.len() > 1 {
            mixed += 1;
        }
    }
    Ok((texts, batches, mixed, ids))
}

/// Issue 13: ten members post at once. Those that joined with `batch: true` get the burst
/// coalesced (batches holding several members' messages: events of different sockets sent
/// together); the others get every frame on its own, as before; everyone gets every message
/// exactly once, in `seq` order.
async fn a_busy_room_coalesces_for_clients_that_read_batches(s: &Server) -> Outcome {
    let room = unique_room("busy");
    let (members, sends) = (10, 15);
    let total = members * sends;
    let go = tokio::sync::Barrier::new(members);
    let runs = (0..members).map(|i| busy_member(s, &room, i, i % 2 == 0, sends, total, &go));
    let results = futures_util::future::join_all(runs).await;
    let mut first: Option<Vec<u64>> = None;
    for (i, r) in results.into_iter().enumerate() {
        let (texts, batches, mixed, ids) = r?;
        let mut sorted = ids.clone();
        sorted.sort_unstable();
        sorted.dedup();
        ensure(sorted == ids && ids.len() == total, format!("member {i}: not once each in order: {ids:?}"))?;
        ensure(first.get_or_insert_with(|| ids.clone()) == &ids, format!("member {i} saw other messages"))?;
        if i % 2 == 0 {
            // Each sender's own ack and echo come as one batch even in a quiet room: only
            // batches mixing members' messages show events of different sockets coalesced.
            ensure(
                mixed > 0,
                format!("member {i} (batches): {texts} messages, {batches} batches, none mixing members"),
            )?;
        } else {
            ensure(batches == 0, format!("member {i} (no batches) was sent {batches} batches"))?;
        }
    }
    Ok(())
}

fn main() {
    harness("rooms", &[], "warn", |server| {
        Box::pin(async move {
            let s = &*server;
            let ok = run(
                vec![
                    ("page_and_api_share_one_origin", Box::pin(page_and_api_share_one_origin(s))),
                    (
                        "the_page_ships_a_strict_csp_and_no_inline_script",
                        Box::pin(the_page_ships_a_strict_csp_and_no_inline_script(s)),
                    ),
                    ("http_errors_are_json_with_codes", Box::pin(http_errors_are_json_with_codes(s))),
                    ("origin_is_checked_on_upgrade", Box::pin(origin_is_checked_on_upgrade(s))),
                    ("private_rooms_are_random_64_hex", Box::pin(private_rooms_are_random_64_hex(s))),
                    ("welcome_to_an_empty_room", Box::pin(welcome_to_an_empty_room(s))),
                    (
                        "messages_are_stored_then_broadcast_to_everyone",
                        Box::pin(messages_are_stored_then_broadcast_to_everyone(s)),
                    ),
                    (
                        "history_on_join_is_the_last_50_and_pages_back",
                        Box::pin(history_on_join_is_the_last_50_and_pages_back(s)),
                    ),
                    ("resume_sends_what_came_after_since", Box::pin(resume_sends_what_came_after_since(s))),
                    (
                        "a_resend_is_acked_again_never_stored_twice",
                        Box::pin(a_resend_is_acked_again_never_stored_twice(s)),
                    ),
                    ("names_belong_to_their_first_key", Box::pin(names_belong_to_their_first_key(s))),
                    ("presence_counts_members_not_tabs", Box::pin(presence_counts_members_not_tabs(s))),
                    (
                        "typing_is_relayed_to_others_at_most_every_2s",
                        Box::pin(typing_is_relayed_to_others_at_most_every_2s(s)),
                    ),
                    (
                        "bad_frames_get_codes_and_the_socket_lives",
                        Box::pin(bad_frames_get_codes_and_the_socket_lives(s)),
                    ),
                    (
                        "floods_are_rate_limited_with_a_retry_time",
                        Box::pin(floods_are_rate_limited_with_a_retry_time(s)),
                    ),
                    ("ping_is_answered_pong", Box::pin(ping_is_answered_pong(s))),
                    (
                        "a_busy_room_coalesces_for_clients_that_read_batches",
                        Box::pin(a_busy_room_coalesces_for_clients_that_read_batches(s)),
                    ),
                ],
                Duration::from_secs(60),
            )
            .await;
            let restarted = run(
                vec![("history_survives_a_restart", Box::pin(history_survives_a_restart(server)))],
                Duration::from_secs(120),
            )
            .await;
            ok && restarted
        })
    })
}
