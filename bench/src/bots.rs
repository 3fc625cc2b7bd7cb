//! The `bots` scenario: what programs get from a room.
//! - **Bot posts over HTTP**: `clients` concurrent HTTP clients post `n` messages with the
//!   bot's token and an `Idempotency-Key` each (one new TCP connection per request, as a
//!   simple script makes them); a watcher's socket counts each arriving once. Reports posts
//!   accepted per second and the POST round trip.
//! - **Webhooks**: a person mentions the bot `mentions` times (paced); a loopback receiver of
//!   our own answers each at once with `text/plain`. Reports mention → delivery (the room's
//!   alarm picking it up and POSTing it) and mention → the bot's reply seen on the person's
//!   socket (the whole round trip a mention bot gives its users).

use super::{connect_join, percentile};
use confab_itest::{http_send, unique_room};
use confab_shared::ServerFrame;
use futures_util::{SinkExt, StreamExt};
use serde_json::{json, Value};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;
use tokio_tungstenite::tungstenite::Message;

/// Makes a bot in `room` as its owner (the first to join); returns the owner's socket and the
/// bot's token.
async fn owner_and_bot(base: &str, room: &str) -> Result<(super::Ws, String), String> {
    let (mut ws, _) = connect_join(&format!("{base}/api/rooms/{room}/ws"), "owner").await?;
    let ask =
        json!({"type": "moderate", "data": {"client_id": "mk", "action": {"kind": "create_bot", "name": "benchbot"}}});
    ws.send(Message::text(ask.to_string())).await.map_err(|e| e.to_string())?;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        match tokio::time::timeout_at(deadline, ws.next()).await {
            Ok(Some(Ok(Message::Text(t)))) => {
                for frame in ServerFrame::parse_all(&t).unwrap_or_default() {
                    match frame {
                        ServerFrame::BotCreated { token, .. } => return Ok((ws, token)),
                        ServerFrame::Error { message, .. } => return Err(format!("no bot: {message}")),
                        _ => {}
                    }
                }
            }
            Ok(Some(Ok(_))) => {}
            _ => return Err("no bot within 10 s".into()),
        }
    }
}

/// The messages a socket's text carries (one frame, or a `batch`).
fn messages_in(text: &str) -> impl Iterator<Item = confab_shared::ChatMessage> {
    ServerFrame::parse_all(text).unwrap_or_default().into_iter().filter_map(|f| match f {
        ServerFrame::Message(m) => Some(m),
        _ => None,
    })
}

fn port_of(base: &str) -> Result<u16, String> {
    base.rsplit(':').next().and_then(|p| p.parse().ok()).ok_or_else(|| format!("no port in {base}"))
}

pub async fn bot_posts(base: &str, n: usize, clients: usize) -> Result<Value, String> {
    let room = unique_room("botposts");
    let port = port_of(base)?;
    let (owner, token) = owner_and_bot(base, &room).await?;
    // The watcher counts what arrives.
    let (ws, _) = connect_join(&format!("{base}/api/rooms/{room}/ws"), "watcher").await?;
    let (_sink, mut stream) = ws.split();
    let seen: Arc<Mutex<HashMap<String, u32>>> = Arc::default();
    let counter = seen.clone();
    let reader = tokio::spawn(async move {
        while let Some(Ok(Message::Text(t))) = stream.next().await {
            for m in messages_in(&t) {
                *counter.lock().expect("no panics while held").entry(m.client_id).or_default() += 1;
            }
        }
    });
    let path = format!("/api/rooms/{room}/messages");
    let auth = format!("Bearer {token}");
    let start = Instant::now();
    let mut tasks = Vec::new();
    for c in 0..clients {
        let (path, auth) = (path.clone(), auth.clone());
        tasks.push(tokio::spawn(async move {
            let mut rtts = Vec::new();
            let mut refused = 0u64;
            for i in (c..n).step_by(clients) {
                let key = format!("p{i}");
                let body = json!({"text": format!("reading {i}")}).to_string();
                let t = Instant::now();
                let headers = [("Authorization", auth.as_str()), ("Idempotency-Key", key.as_str())];
                match http_send(port, "POST", &path, &headers, &body).await {
                    Ok((201, _, _)) => rtts.push(t.elapsed().as_micros() as u64),
                    _ => refused += 1,
                }
            }
            (rtts, refused)
        }));
    }
    let mut rtts = Vec::new();
    let mut refused = 0;
    for t in tasks {
        let (r, f) = t.await.map_err(|e| e.to_string())?;
        rtts.extend(r);
        refused += f;
    }
    let secs = start.elapsed().as_secs_f64();
    super::wait_until(Duration::from_secs(10), || seen.lock().expect("no panics while held").len() >= n).await;
    reader.abort();
    drop(owner);
    let seen = seen.lock().expect("no panics while held");
    let lost = n.saturating_sub(seen.len());
    let duplicated: u32 = seen.values().map(|c| c.saturating_sub(1)).sum();
    rtts.sort_unstable();
    Ok(json!({
        "scenario": "bots", "what": "http posts", "posts": n, "clients": clients,
        "accepted_per_s": ((n as u64 - refused) as f64 / secs).round(),
        "p50_ms": percentile(&rtts, 0.5), "p99_ms": percentile(&rtts, 0.99),
        "refused": refused, "lost": lost, "duplicated": duplicated,
    }))
}

pub async fn webhooks(base: &str, mentions: usize, gap_ms: u64) -> Result<Value, String> {
    let room = unique_room("hooks");
    let port = port_of(base)?;
    let (owner, token) = owner_and_bot(base, &room).await?;
    // Our receiver: records when each delivery arrives (keyed by the mention's text) and
    // answers at once.
    let listener = TcpListener::bind("127.0.0.1:0").await.map_err(|e| e.to_string())?;
    let hook_port = listener.local_addr().map_err(|e| e.to_string())?.port();
    let arrived: Arc<Mutex<HashMap<String, Instant>>> = Arc::default();
    let log = arrived.clone();
    let server = tokio::spawn(async move {
        while let Ok((mut sock, _)) = listener.accept().await {
            let log = log.clone();
            tokio::spawn(async move {
                let mut raw = Vec::new();
                let mut buf = [0u8; 8192];
                loop {
                    let Ok(k) = sock.read(&mut buf).await else { return };
                    if k == 0 {
                        return;
                    }
                    raw.extend_from_slice(&buf[..k]);
                    let text = String::from_utf8_lossy(&raw).to_string();
                    let Some((head, body)) = text.split_once("\r\n\r\n") else { continue };
                    let len = head
                        .lines()
                        .find_map(|l| {
                            l.to_ascii_lowercase().strip_prefix("content-length:").map(|v| v.trim().to_owned())
                        })
                        .and_then(|v| v.parse::<usize>().ok())
                        .unwrap_or(0);
                    if body.len() < len {
                        continue;
                    }
                    let event: Value = serde_json::from_str(body).unwrap_or_default();
                    let said = event["message"]["text"].as_str().unwrap_or_default().to_owned();
                    log.lock().expect("no panics while held").insert(said.clone(), Instant::now());
                    let reply = format!("re: {said}");
                    let answer = format!(
                        "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{reply}",
                        reply.len()
                    );
                    let _ = sock.write_all(answer.as_bytes()).await;
                    return;
                }
            });
        }
    });
    let body = json!({"url": format!("http://127.0.0.1:{hook_port}/hook")}).to_string();
    let auth = format!("Bearer {token}");
    let (status, _, answer) =
        http_send(port, "PUT", &format!("/api/rooms/{room}/webhook"), &[("Authorization", auth.as_str())], &body)
            .await?;
    if status != 200 {
        return Err(format!("webhook registration: {status} {answer}"));
    }
    let (ws, _) = connect_join(&format!("{base}/api/rooms/{room}/ws"), "asker").await?;
    let (mut sink, mut stream) = ws.split();
    let replies: Arc<Mutex<HashMap<String, Instant>>> = Arc::default();
    let got = replies.clone();
    let reader = tokio::spawn(async move {
        while let Some(Ok(Message::Text(t))) = stream.next().await {
            for m in messages_in(&t) {
                if let Some(said) = m.text.strip_prefix("re: ") {
                    got.lock().expect("no panics while held").insert(said.to_owned(), Instant::now());
                }
            }
        }
    });
    let mut sent = Vec::new();
    for i in 0..mentions {
        let said = format!("@benchbot question {i}");
        let frame = json!({"type": "send", "data": {"client_id": format!("q{i}"), "text": said}});
        sent.push((said, Instant::now()));
        sink.send(Message::text(frame.to_string())).await.map_err(|e| e.to_string())?;
        tokio::time::sleep(Duration::from_millis(gap_ms)).await;
    }
    super::wait_until(Duration::from_secs(30), || replies.lock().expect("no panics while held").len() >= mentions)
        .await;
    reader.abort();
    server.abort();
    drop(owner);
    let (arrived, replies) = (arrived.lock().expect("held"), replies.lock().expect("held"));
    let mut to_delivery = Vec::new();
    let mut to_reply = Vec::new();
    for (said, at) in &sent {
        if let Some(t) = arrived.get(said) {
            to_delivery.push(t.duration_since(*at).as_micros() as u64);
        }
        if let Some(t) = replies.get(said) {
            to_reply.push(t.duration_since(*at).as_micros() as u64);
        }
    }
    to_delivery.sort_unstable();
    to_reply.sort_unstable();
    Ok(json!({
        "scenario": "bots", "what": "webhooks", "mentions": mentions,
        "delivery_p50_ms": percentile(&to_delivery, 0.5), "delivery_p99_ms": percentile(&to_delivery, 0.99),
        "reply_p50_ms": percentile(&to_reply, 0.5), "reply_p99_ms": percentile(&to_reply, 0.99),
        "delivered": to_delivery.len(), "lost": mentions - to_reply.len(),
    }))
}
