//! Rooms with owners over the wire, against `wrangler dev` and its real SQLite: moderation
//! (a removal, a mute, slow mode across a reconnect, a ban by address), a private room's
//! creator, the admin secret, bots over HTTP (retries deduplicated, edits, reactions, reads),
//! a streamed answer seen from the start and by a late joiner, and webhooks delivered to a
//! receiver of the test's own (signed, a timeout retried, a slow receiver never delaying the
//! room, a text answer posted once as the bot).

use confab_itest::*;
use confab_shared::api::{Changes, Done, Webhook, WebhookEvent, SIGNATURE_HEADER};
use confab_shared::{close, ErrorCode, Role, ServerFrame};
use serde_json::{json, Value};
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;
use tokio::sync::mpsc;

const ADMIN: &str = "admin-secret-for-the-tests-0123456789";

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

fn send(cid: &str, text: &str) -> Value {
    json!({"type": "send", "data": {"client_id": cid, "text": text}})
}

fn moderate(cid: &str, action: Value) -> Value {
    json!({"type": "moderate", "data": {"client_id": cid, "action": action}})
}

async fn acked(c: &mut Client, cid: &str, frame: Value) -> Result<u64, String> {
    match op(c, cid, frame).await? {
        ServerFrame::Ack { seq, .. } => Ok(seq),
        other => Err(format!("{cid} was refused: {other:?}")),
    }
}

async fn refused(c: &mut Client, cid: &str, frame: Value) -> Result<(ErrorCode, Option<u64>), String> {
    match op(c, cid, frame).await? {
        ServerFrame::Error { code, retry_after_ms, .. } => Ok((code, retry_after_ms)),
        other => Err(format!("{cid} was not refused: {other:?}")),
    }
}

fn you(w: &ServerFrame) -> Result<(u64, Role), String> {
    match w {
        ServerFrame::Welcome { you, .. } => Ok((you.id, you.role)),
        other => Err(format!("not a welcome: {other:?}")),
    }
}

/// Makes a bot named `name` as the owner on `c`; returns its token.
async fn make_bot(c: &mut Client, name: &str) -> Result<(u64, String), String> {
    c.send_json(moderate("mkbot", json!({"kind": "create_bot", "name": name}))).await?;
    match c.expect("the token", |f| matches!(f, ServerFrame::BotCreated { .. } | ServerFrame::Error { .. })).await? {
        ServerFrame::BotCreated { bot, token, .. } => Ok((bot.id, token)),
        other => Err(format!("no bot: {other:?}")),
    }
}

async fn bot_http(
    s: &Server,
    method: &str,
    path: &str,
    token: &str,
    idempotency: Option<&str>,
    body: Value,
) -> Result<(u16, String), String> {
    let auth = format!("Bearer {token}");
    let mut headers = vec![("Authorization", auth.as_str()), ("Content-Type", "application/json")];
    if let Some(k) = idempotency {
        headers.push(("Idempotency-Key", k));
    }
    let (status, _, body) = http_send(s.port, method, path, &headers, &body.to_string()).await?;
    Ok((status, body))
}

async fn moderation_over_the_wire(s: &Server) -> Outcome {
    let room = unique_room("mod");
    let (mut a, w) = s.join(&room, "alice", &key("alice")).await?;
    ensure(you(&w)?.1 == Role::Owner, "the first member owns a public room")?;
    let (mut b, w) = s.join(&room, "bob", &key("bob")).await?;
    let (bob, role) = you(&w)?;
    ensure(role == Role::Member, "the second does not")?;
    let spam = acked(&mut b, "p1", send("p1", "buy cheap stuff")).await?;
    // A member cannot moderate; the owner removes, and bob's page hears why.
    let (code, _) = refused(&mut b, "m0", moderate("m0", json!({"kind": "topic", "text": "mine"}))).await?;
    ensure(code == ErrorCode::Forbidden, format!("a member's topic: {code}"))?;
    acked(&mut a, "d1", json!({"type": "delete", "data": {"client_id": "d1", "id": spam}})).await?;
    let f = b.expect("the removal", |f| matches!(f, ServerFrame::Deleted { .. })).await?;
    ensure(matches!(f, ServerFrame::Deleted { removed: true, id, .. } if id == spam), format!("{f:?}"))?;
    // Muted: refused with the time left.
    acked(&mut a, "m1", moderate("m1", json!({"kind": "mute", "member": bob, "minutes": 10}))).await?;
    let f = b.expect("the mute", |f| matches!(f, ServerFrame::Moderated(_))).await?;
    ensure(
        matches!(&f, ServerFrame::Moderated(e) if e.target.as_ref().is_some_and(|t| t.id == bob)),
        format!("{f:?}"),
    )?;
    let (code, wait) = refused(&mut b, "p2", send("p2", "hello?")).await?;
    ensure(code == ErrorCode::Muted && wait.is_some_and(|w| w > 590_000), format!("muted: {code} {wait:?}"))?;
    // Slow mode, across a reconnect: the welcome says how long is left.
    acked(&mut a, "m2", moderate("m2", json!({"kind": "mute", "member": bob, "minutes": 0}))).await?;
    acked(&mut a, "s1", moderate("s1", json!({"kind": "slow_mode", "seconds": 30}))).await?;
    let (mut c, _) = s.join(&room, "carol", &key("carol")).await?;
    acked(&mut c, "p3", send("p3", "one")).await?;
    let (code, wait) = refused(&mut c, "p4", send("p4", "two")).await?;
    ensure(code == ErrorCode::SlowMode && wait.is_some_and(|w| w > 25_000), format!("slow: {code} {wait:?}"))?;
    c.close().await;
    let (mut c, w) = s.join(&room, "carol", &key("carol")).await?;
    let ServerFrame::Welcome { slow_wait_ms, settings, .. } = &w else { return Err("no welcome".into()) };
    ensure(
        settings.slow_mode_secs == 30 && slow_wait_ms.is_some_and(|ms| ms > 20_000 && ms <= 30_000),
        format!("after a reconnect: {settings:?} {slow_wait_ms:?}"),
    )?;
    let (code, _) = refused(&mut c, "p4", send("p4", "two")).await?;
    ensure(code == ErrorCode::SlowMode, "still slow")?;
    acked(&mut a, "q1", send("q1", "moderators are exempt")).await?;
    acked(&mut a, "q2", send("q2", "twice")).await?;
    // The audit trail.
    a.send_json(json!({"type": "audit", "data": {"limit": 10}})).await?;
    let f = a.expect("the audit page", |f| matches!(f, ServerFrame::Audit { .. })).await?;
    let ServerFrame::Audit { entries, .. } = f else { unreachable!() };
    ensure(entries.len() == 4, format!("remove, mute, unmute, slow mode: {entries:?}"))
}

async fn a_ban_by_address_keeps_the_address_out(s: &Server) -> Outcome {
    let room = unique_room("ban");
    let (mut a, _) = s.join(&room, "alice", &key("alice")).await?;
    let url = s.ws_url(&room);
    let join = |name: &str, k: &str| json!({"type": "join", "data": {"v": 2, "name": name, "key": key(k)}});
    let mut d = Client::connect_with(&url, &[("CF-Connecting-IP", "198.51.100.20")]).await?;
    d.send_json(join("dave", "dave")).await?;
    let (dave, _) = you(&d.expect("welcome", |f| matches!(f, ServerFrame::Welcome { .. })).await?)?;
    acked(&mut d, "p1", send("p1", "spam")).await?;
    acked(&mut a, "b1", moderate("b1", json!({"kind": "ban", "member": dave, "ip": true, "purge": true}))).await?;
    let f = d.expect("banned", |f| matches!(f, ServerFrame::Error { .. })).await?;
    ensure(matches!(f, ServerFrame::Error { code: ErrorCode::Banned, .. }), format!("{f:?}"))?;
    ensure(d.closed_within(Duration::from_secs(5)).await == Some(close::REMOVED), "closed with 4003")?;
    // Another name from the same address: refused; from another address: welcome.
    let mut again = Client::connect_with(&url, &[("CF-Connecting-IP", "198.51.100.20")]).await?;
    again.send_json(join("dave2", "dave2")).await?;
    let f = again.expect("refused", |f| matches!(f, ServerFrame::Error { .. })).await?;
    ensure(matches!(f, ServerFrame::Error { code: ErrorCode::Banned, .. }), format!("{f:?}"))?;
    let mut other = Client::connect_with(&url, &[("CF-Connecting-IP", "198.51.100.21")]).await?;
    other.send_json(join("erin", "erin")).await?;
    other.expect("welcome", |f| matches!(f, ServerFrame::Welcome { .. })).await?;
    // The purge removed dave's message for everyone, in the log after the ban.
    let (_, w) = s.join(&room, "frank", &key("frank")).await?;
    let ServerFrame::Welcome { messages, .. } = w else { return Err("no welcome".into()) };
    ensure(messages.iter().all(|m| m.member != dave || (m.deleted && m.removed)), "purged")
}

async fn a_private_rooms_creator_and_the_admin_secret(s: &Server) -> Outcome {
    let body = json!({"key": key("creator")}).to_string();
    let (status, _, created) =
        http_send(s.port, "POST", "/api/rooms", &[("Content-Type", "application/json")], &body).await?;
    ensure(status == 201, format!("create: {status} {created}"))?;
    let room = serde_json::from_str::<Value>(&created).map_err(|e| e.to_string())?["room"]
        .as_str()
        .ok_or("no room")?
        .to_owned();
    let (mut early, w) = s.join(&room, "early", &key("early")).await?;
    ensure(you(&w)?.1 == Role::Member, "joining first does not make you its owner")?;
    let (_c, w) = s.join(&room, "creator", &key("creator")).await?;
    ensure(you(&w)?.1 == Role::Owner, "its creator owns it")?;
    // The admin secret, over HTTP: wrong secret 401; right one acts as an owner.
    let path = format!("/api/rooms/{room}/moderate");
    let topic = json!({"action": {"kind": "topic", "text": "set by the operator"}});
    let (status, _) = bot_http(s, "POST", &path, "not-the-admin-secret-at-all", None, topic.clone()).await?;
    ensure(status == 401, format!("a wrong secret: {status}"))?;
    let (status, body) = bot_http(s, "POST", &path, ADMIN, Some("adm1"), topic).await?;
    ensure(status == 201, format!("the admin: {status} {body}"))?;
    let f = early.expect("the topic", |f| matches!(f, ServerFrame::Moderated(_))).await?;
    ensure(
        matches!(&f, ServerFrame::Moderated(e) if e.by.name == "admin" && e.by.id == 0),
        format!("by the admin: {f:?}"),
    )?;
    // Invite-only: the messages are for members and the room's own bots, not for any reader.
    let invite_only = json!({"action": {"kind": "invite_only", "on": true}});
    let (status, _) = bot_http(s, "POST", &path, ADMIN, Some("adm2"), invite_only).await?;
    ensure(status == 201, format!("invite-only: {status}"))?;
    let messages = format!("/api/rooms/{room}/messages?since=0");
    let (status, _, body) = http_send(s.port, "GET", &messages, &[], "").await?;
    ensure(status == 403 && body.contains("invite_required"), format!("an anonymous read: {status} {body}"))?;
    let make = json!({"action": {"kind": "create_bot", "name": "reader"}});
    let (status, body) = bot_http(s, "POST", &path, ADMIN, Some("adm3"), make).await?;
    let done: Done = serde_json::from_str(&body).map_err(|e| format!("{e}: {body}"))?;
    let token = done.token.ok_or(format!("the admin's bot has no token: {status} {body}"))?;
    let auth = format!("Bearer {token}");
    let (status, _, body) = http_send(s.port, "GET", &messages, &[("Authorization", auth.as_str())], "").await?;
    ensure(status == 200, format!("its bot reads: {status} {body}"))
}

async fn bots_over_http(s: &Server) -> Outcome {
    let room = unique_room("bots");
    let (mut a, _) = s.join(&room, "alice", &key("alice")).await?;
    let (mut watcher, _) = s.join(&room, "watcher", &key("watcher")).await?;
    let (_, token) = make_bot(&mut a, "deploys").await?;
    let path = format!("/api/rooms/{room}/messages");
    // Without a token, or with a forged one: 401.
    let (status, _) = bot_http(s, "POST", &path, "nope", None, json!({"text": "x"})).await?;
    ensure(status == 401, format!("no token: {status}"))?;
    let forged = format!("{}x", &token[..token.len() - 1]);
    let (status, _) = bot_http(s, "POST", &path, &forged, None, json!({"text": "x"})).await?;
    ensure(status == 401, format!("a forged token: {status}"))?;
    // A retried POST is one message.
    let (status, first) = bot_http(s, "POST", &path, &token, Some("deploy-1"), json!({"text": "deployed v1"})).await?;
    ensure(status == 201, format!("post: {status} {first}"))?;
    let (status, again) = bot_http(s, "POST", &path, &token, Some("deploy-1"), json!({"text": "deployed v1"})).await?;
    let first: Done = serde_json::from_str(&first).map_err(|e| e.to_string())?;
    let again: Done = serde_json::from_str(&again).map_err(|e| e.to_string())?;
    ensure(status == 200 && again.duplicate && again.seq == first.seq, format!("the retry: {status} {again:?}"))?;
    let f = watcher.expect("the bot's message", |f| matches!(f, ServerFrame::Message(_))).await?;
    ensure(matches!(&f, ServerFrame::Message(m) if m.bot && m.author == "deploys"), format!("{f:?}"))?;
    watcher.expect_silence(Duration::from_millis(500)).await?;
    // Edit and react; read what changed since.
    let id = first.seq;
    let (status, _) =
        bot_http(s, "PATCH", &format!("{path}/{id}"), &token, None, json!({"text": "deployed v1 ✅"})).await?;
    ensure(status == 201, format!("edit: {status}"))?;
    let (status, _) =
        bot_http(s, "POST", &format!("{path}/{id}/reactions"), &token, None, json!({"emoji": "🚀"})).await?;
    ensure(status == 201, format!("react: {status}"))?;
    let (status, _, changes) = http_send(s.port, "GET", &format!("{path}?since=0"), &[], "").await?;
    let changes: Changes = serde_json::from_str(&changes).map_err(|e| format!("{e}: {changes}"))?;
    ensure(
        status == 200 && changes.messages.len() == 1 && changes.messages[0].text == "deployed v1 ✅",
        format!("since=0: {changes:?}"),
    )?;
    // Accepted posts per second, one after another (printed for the closing note).
    let n = 40;
    let start = Instant::now();
    for i in 0..n {
        let (status, body) =
            bot_http(s, "POST", &path, &token, Some(&format!("rate-{i}")), json!({"text": format!("reading {i}")}))
                .await?;
        ensure(status == 201, format!("post {i}: {status} {body}"))?;
    }
    println!("    bot posts accepted: {:.0}/s (sequential HTTP)", f64::from(n) / start.elapsed().as_secs_f64());
    // Revoked: 401.
    let (bot, _) = match &f {
        ServerFrame::Message(m) => (m.member, ()),
        _ => unreachable!(),
    };
    acked(&mut a, "rv", moderate("rv", json!({"kind": "revoke_bot", "member": bot}))).await?;
    let (status, _) = bot_http(s, "POST", &path, &token, None, json!({"text": "still here?"})).await?;
    ensure(status == 401, format!("revoked: {status}"))
}

async fn a_streamed_answer_from_the_start_and_for_a_late_joiner(s: &Server) -> Outcome {
    let room = unique_room("stream");
    let (mut a, _) = s.join(&room, "alice", &key("alice")).await?;
    let (_, token) = make_bot(&mut a, "oracle").await?;
    let path = format!("/api/rooms/{room}/messages");
    let (status, body) =
        bot_http(s, "POST", &path, &token, Some("s1"), json!({"text": "The answer", "streaming": true})).await?;
    ensure(status == 201, format!("open: {status} {body}"))?;
    let id = serde_json::from_str::<Done>(&body).map_err(|e| e.to_string())?.seq;
    let f = a.expect("the stream opening", |f| matches!(f, ServerFrame::Message(_))).await?;
    ensure(matches!(&f, ServerFrame::Message(m) if m.streaming), format!("{f:?}"))?;
    let chunk = |t: &str| json!({ "text": t });
    bot_http(s, "POST", &format!("{path}/{id}/append"), &token, None, chunk(" is")).await?;
    let f = a.expect("a chunk", |f| matches!(f, ServerFrame::Appended { .. })).await?;
    ensure(matches!(&f, ServerFrame::Appended { text, .. } if text == " is"), format!("{f:?}"))?;
    // A late joiner: the text so far, still in progress; then the rest, live.
    let (mut late, w) = s.join(&room, "late", &key("late")).await?;
    let ServerFrame::Welcome { messages, .. } = &w else { return Err("no welcome".into()) };
    let m = messages.iter().find(|m| m.id == id).ok_or("the stream is in the welcome")?;
    ensure(m.streaming && m.text == "The answer is", format!("midway: {m:?}"))?;
    bot_http(s, "POST", &format!("{path}/{id}/append"), &token, None, chunk(" 42.")).await?;
    let (status, _) = bot_http(s, "POST", &format!("{path}/{id}/finish"), &token, None, json!({})).await?;
    ensure(status == 201, format!("finish: {status}"))?;
    for c in [&mut a, &mut late] {
        let f = c.expect("the last chunk", |f| matches!(f, ServerFrame::Appended { .. })).await?;
        ensure(matches!(&f, ServerFrame::Appended { text, .. } if text == " 42."), format!("{f:?}"))?;
        c.expect("finished", |f| matches!(f, ServerFrame::Finished { id: i, .. } if *i == id)).await?;
    }
    let (status, _) = bot_http(s, "POST", &format!("{path}/{id}/append"), &token, None, chunk("more")).await?;
    ensure(status == 409, format!("after finish: {status}"))
}

/// What the test's receiver saw: when, the signature header, the body.
struct Received {
    at: Instant,
    signature: String,
    body: String,
}

/// A loopback HTTP receiver: answers the first request only after `stall` (longer than the
/// room waits), the rest at once with `text/plain` "pong".
async fn receiver(stall: Duration) -> Result<(u16, mpsc::UnboundedReceiver<Received>), String> {
    let listener = TcpListener::bind("127.0.0.1:0").await.map_err(|e| e.to_string())?;
    let port = listener.local_addr().map_err(|e| e.to_string())?.port();
    let (tx, rx) = mpsc::unbounded_channel();
    tokio::spawn(async move {
        let mut n = 0;
        while let Ok((mut sock, _)) = listener.accept().await {
            n += 1;
            let tx = tx.clone();
            tokio::spawn(async move {
                let mut raw = Vec::new();
                let mut buf = [0u8; 4096];
                // Read the head, then the body by its length.
                let (head, mut body) = loop {
                    let Ok(k) = sock.read(&mut buf).await else { return };
                    if k == 0 {
                        return;
                    }
                    raw.extend_from_slice(&buf[..k]);
                    let text = String::from_utf8_lossy(&raw).to_string();
                    if let Some((h, b)) = text.split_once("\r\n\r\n") {
                        break (h.to_owned(), b.to_owned());
                    }
                };
                let header = |name: &str| {
                    head.lines()
                        .find_map(|l| l.split_once(':').filter(|(k, _)| k.trim().eq_ignore_ascii_case(name)))
                        .map(|(_, v)| v.trim().to_owned())
                };
                let len: usize = header("content-length").and_then(|l| l.parse().ok()).unwrap_or(0);
                while body.len() < len {
                    let Ok(k) = sock.read(&mut buf).await else { return };
                    if k == 0 {
                        break;
                    }
                    body.push_str(&String::from_utf8_lossy(&buf[..k]));
                }
                let _ = tx.send(Received {
                    at: Instant::now(),
                    signature: header(SIGNATURE_HEADER).unwrap_or_default(),
                    body,
                });
                if n == 1 {
                    tokio::time::sleep(stall).await;
                }
                let reply = "pong";
                let answer = format!(
                    "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{reply}",
                    reply.len()
                );
                let _ = sock.write_all(answer.as_bytes()).await;
            });
        }
    });
    Ok((port, rx))
}

async fn webhooks_are_signed_retried_and_never_delay_the_room(s: &Server) -> Outcome {
    let room = unique_room("hooks");
    let (mut a, _) = s.join(&room, "alice", &key("alice")).await?;
    let (mut b, _) = s.join(&room, "bob", &key("bob")).await?;
    let (bot, token) = make_bot(&mut a, "helper").await?;
    let (port, mut rx) = receiver(Duration::from_secs(10)).await?;
    let hook_path = format!("/api/rooms/{room}/webhook");
    let url = format!("http://127.0.0.1:{port}/hook");
    let (status, body) = bot_http(s, "PUT", &hook_path, &token, None, json!({ "url": url })).await?;
    ensure(status == 200, format!("register: {status} {body}"))?;
    let hook: Webhook = serde_json::from_str(&body).map_err(|e| e.to_string())?;
    let posted = Instant::now();
    let mention = acked(&mut b, "m1", send("m1", "@helper what time is it?")).await?;
    let first = tokio::time::timeout(Duration::from_secs(10), rx.recv()).await.map_err(|_| "no delivery")?;
    let first = first.ok_or("the receiver stopped")?;
    println!("    webhook latency (mention to delivery): {} ms", first.at.duration_since(posted).as_millis());
    ensure(
        first.signature == confab_worker::webhook::sign(&hook.secret, first.body.as_bytes()),
        format!("signature {} over {}", first.signature, first.body),
    )?;
    let event: WebhookEvent = serde_json::from_str(&first.body).map_err(|e| e.to_string())?;
    ensure(event.bot.id == bot && event.message.id == mention && event.author.name == "bob", format!("{event:?}"))?;
    // The receiver is stalling: the room is not.
    let t = Instant::now();
    acked(&mut b, "m2", send("m2", "meanwhile")).await?;
    let took = t.elapsed();
    ensure(took < Duration::from_millis(1_000), format!("a message during a stalled delivery took {took:?}"))?;
    // Past the 7 s timeout the delivery is tried again (1 s later); its answer is posted once.
    let second = tokio::time::timeout(Duration::from_secs(15), rx.recv()).await.map_err(|_| "no retry")?;
    let second = second.ok_or("the receiver stopped")?;
    let gap = second.at.duration_since(first.at);
    ensure(gap >= Duration::from_secs(7), format!("retried after {gap:?}"))?;
    ensure(second.body == first.body, "the same delivery")?;
    let f = b.expect("the bot's answer", |f| matches!(f, ServerFrame::Message(m) if m.bot)).await?;
    ensure(
        matches!(&f, ServerFrame::Message(m) if m.text == "pong" && m.reply_to.as_ref().is_some_and(|q| q.id == mention)),
        format!("{f:?}"),
    )?;
    b.expect_silence(Duration::from_secs(2)).await?;
    // Public addresses only, unless the deployment allows private ones (this one does):
    // a URL that is not http(s) is refused either way.
    let (status, body) = bot_http(s, "PUT", &hook_path, &token, None, json!({"url": "ftp://example.com/"})).await?;
    ensure(status == 400 && body.contains("invalid_url"), format!("ftp: {status} {body}"))
}

/// A room written by the last schema 3 build (itest/fixtures/v3-state, made by
/// scripts/gen-v3-state.sh) is upgraded once, in place: everything it held is still there, its
/// first member owns it, and moderation works on it.
async fn a_schema_3_room_gets_an_owner_and_keeps_everything() -> Outcome {
    let fixture = root().join("itest/fixtures/v3-state");
    let mut old = Server::start_from_state("upgrade3", &[], &fixture).await?;
    let result = async {
        let k = |seed: &str| seed.repeat(40);
        // bob first: the room's first member (alice) owns it, not whoever joins first after
        // the upgrade.
        let (mut bob, w) = old.join("schema3", "bob", &k("b")).await?;
        let (bob_id, role) = you(&w)?;
        ensure(role == Role::Member, "bob is a member")?;
        let (mut alice, w) = old.join("schema3", "alice", &k("a")).await?;
        let ServerFrame::Welcome { you: me, messages, latest_seq, .. } = &w else { return Err(format!("{w:?}")) };
        ensure(me.role == Role::Owner, format!("the first member owns it: {me:?}"))?;
        ensure(*latest_seq == 6, format!("latest_seq {latest_seq}"))?;
        let first = messages.iter().find(|m| m.id == 1).ok_or("message 1")?;
        ensure(
            first.text == "hello from schema 3, edited"
                && first.edited_ts.is_some()
                && first.reactions.iter().any(|r| r.emoji == "👍" && r.count == 1),
            format!("message 1: {first:?}"),
        )?;
        ensure(messages.iter().any(|m| m.id == 2 && m.deleted && !m.removed), "the tombstone")?;
        ensure(messages.iter().any(|m| m.id == 3 && m.reply_to.as_ref().is_some_and(|q| q.id == 1)), "the reply")?;
        let seq =
            acked(&mut alice, "m1", moderate("m1", json!({"kind": "mute", "member": bob_id, "minutes": 5}))).await?;
        ensure(seq == 7, format!("the mute is event {seq}"))?;
        let (code, _) = refused(&mut bob, "p1", send("p1", "hello?")).await?;
        ensure(code == ErrorCode::Muted, format!("muted: {code}"))?;
        // A retry of a message stored before the upgrade is still recognised.
        let seq = acked(&mut alice, "a1", send("a1", "hello from schema 3")).await?;
        ensure(seq == 1, format!("the old message's retry was stored again as {seq}"))?;
        ensure(old.log_all().matches("room storage upgraded to schema 4").count() == 1, "the upgrade ran once")?;
        old.restart().await?;
        let (_a, w) = old.join("schema3", "alice", &k("a")).await?;
        ensure(you(&w)?.1 == Role::Owner, "still the owner after a restart")?;
        ensure(old.log_all().matches("room storage upgraded to schema 4").count() == 1, "no second upgrade")
    }
    .await;
    old.stop();
    result
}

fn main() {
    harness(
        "owners",
        &[("RATE_BURST", "100"), ("RATE_PER_SEC", "100"), ("ADMIN_TOKEN", ADMIN), ("ALLOW_PRIVATE_WEBHOOKS", "1")],
        "log",
        |server| {
            Box::pin(async move {
                run(
                    vec![
                        ("moderation_over_the_wire", Box::pin(moderation_over_the_wire(server))),
                        (
                            "a_ban_by_address_keeps_the_address_out",
                            Box::pin(a_ban_by_address_keeps_the_address_out(server)),
                        ),
                        (
                            "a_private_rooms_creator_and_the_admin_secret",
                            Box::pin(a_private_rooms_creator_and_the_admin_secret(server)),
                        ),
                        ("bots_over_http", Box::pin(bots_over_http(server))),
                        (
                            "a_streamed_answer_from_the_start_and_for_a_late_joiner",
                            Box::pin(a_streamed_answer_from_the_start_and_for_a_late_joiner(server)),
                        ),
                        (
                            "webhooks_are_signed_retried_and_never_delay_the_room",
                            Box::pin(webhooks_are_signed_retried_and_never_delay_the_room(server)),
                        ),
                        (
                            "a_schema_3_room_gets_an_owner_and_keeps_everything",
                            Box::pin(a_schema_3_room_gets_an_owner_and_keeps_everything()),
                        ),
                    ],
                    Duration::from_secs(120),
                )
                .await
            })
        },
    )
}
