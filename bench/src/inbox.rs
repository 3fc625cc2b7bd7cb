//! The `inbox` scenario (issue 11, in progress): one person in `rooms` rooms, `active` of them
//! with someone posting 1 message a second for `secs`, every fifth mentioning the person, who
//! has one room open and their inbox open beside it. Reports how long the sidebar's counts take
//! to show each post (the promise: 2 s) and how long a mention takes to notify (1 s; a room
//! notifies at most once per 10 s, so about half of these mentions are folded into the next
//! notification rather than raising their own).
//!
//! Then the cost: the CPU workerd (which runs every room and inbox) spent per post while the
//! inbox watched, against a second phase of the same posts after the inbox's page closed (the
//! rooms stop sending it counts at their next batch). The difference is what watching costs
//! per post; both include the rooms' own work.

use super::{connect_join, percentile};
use confab_itest::{key, unique_room};
use confab_shared::inbox::{inbox_id, InboxEvent};
use confab_shared::MemberKey;
use futures_util::{SinkExt, StreamExt};
use serde_json::{json, Value};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio_tungstenite::tungstenite::Message;

/// Each room's counts as they came: (unread, when).
type Seen = HashMap<String, Vec<(u32, Instant)>>;

/// CPU time (user + system, ms) of the `workerd` processes in process group `group` (the
/// runtime that runs every room and inbox; wrangler's own Node process, a proxy with a file
/// watcher, is left out), from `/proc`.
pub(crate) fn group_cpu_ms(group: u32) -> Option<u64> {
    let tick = std::process::Command::new("getconf").arg("CLK_TCK").output().ok()?;
    let per_s: u64 = String::from_utf8_lossy(&tick.stdout).trim().parse().ok()?;
    let mut ticks = 0u64;
    for entry in std::fs::read_dir("/proc").ok()?.flatten() {
        let Ok(stat) = std::fs::read_to_string(entry.path().join("stat")) else { continue };
        // After the command's closing parenthesis: state, ppid, pgrp, … utime (12th), stime.
        let Some((head, rest)) = stat.rsplit_once(')') else { continue };
        if !head.contains("(workerd") {
            continue;
        }
        let f: Vec<&str> = rest.split_whitespace().collect();
        if f.get(2).and_then(|g| g.parse::<u32>().ok()) != Some(group) {
            continue;
        }
        ticks += f.get(11).and_then(|t| t.parse::<u64>().ok()).unwrap_or(0);
        ticks += f.get(12).and_then(|t| t.parse::<u64>().ok()).unwrap_or(0);
    }
    Some(ticks * 1000 / per_s)
}

/// One post a second per sender for `secs` seconds, numbered from `first`; every fifth
/// mentions `person`. Returns (room, number, when, the mention's text) per post.
async fn post(
    senders: &mut [(String, super::Ws)],
    person: &str,
    first: u32,
    secs: u64,
) -> Result<Vec<(String, u32, Instant, Option<String>)>, String> {
    let mut sent = Vec::new();
    let mut ticker = tokio::time::interval(Duration::from_secs(1));
    for i in first..first + secs as u32 {
        ticker.tick().await;
        for (room, s) in senders.iter_mut() {
            let mention = i % 5 == 0;
            let text = if mention { format!("@{person} ping {room} {i}") } else { format!("post {i}") };
            let frame = json!({"type": "send", "data": {"client_id": format!("b{i}"), "text": text}});
            sent.push((room.clone(), i, Instant::now(), mention.then(|| text.clone())));
            s.send(Message::text(frame.to_string())).await.map_err(|e| e.to_string())?;
        }
    }
    Ok(sent)
}

pub async fn inbox(base: &str, rooms: usize, active: usize, secs: u64, group: Option<u32>) -> Result<Value, String> {
    let t0 = Instant::now();
    let person = format!("person{}", t0.elapsed().as_nanos() % 1_000_000);
    let k = key(&person);
    let names: Vec<String> = (0..rooms).map(|i| unique_room(&format!("inbox{i}"))).collect();
    // The person joins every room; keeps only the first open.
    let mut open = None;
    for (i, room) in names.iter().enumerate() {
        let (ws, _) = connect_join(&format!("{base}/api/rooms/{room}/ws"), &person).await?;
        if i == 0 {
            open = Some(ws);
        }
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    // The inbox, beside it.
    let inbox = inbox_id(&MemberKey::parse(&k).map_err(|e| e.message)?);
    let (mut ws, _) = tokio_tungstenite::connect_async(format!("{base}/api/me/{inbox}/ws"))
        .await
        .map_err(|e| format!("inbox: {e}"))?;
    ws.send(Message::text(json!({"type": "hello", "data": {"key": k}}).to_string()))
        .await
        .map_err(|e| e.to_string())?;
    // Each room's counts as they came (unread, when), and when each mention was notified.
    let counted: Arc<Mutex<Seen>> = Arc::default();
    let notified: Arc<Mutex<HashMap<String, Instant>>> = Arc::default();
    let (c, n) = (counted.clone(), notified.clone());
    let reader = tokio::spawn(async move {
        while let Some(Ok(Message::Text(t))) = ws.next().await {
            match serde_json::from_str::<InboxEvent>(&t) {
                Ok(InboxEvent::Counts(r)) => {
                    c.lock().expect("held").entry(r.room).or_default().push((r.unread, Instant::now()));
                }
                Ok(InboxEvent::Notify { excerpt, .. }) => {
                    n.lock().expect("held").entry(excerpt).or_insert_with(Instant::now);
                }
                _ => {}
            }
        }
    });
    // Let the first page's recounts (one per room, one after another) make every room watch:
    // done when every room's counts came, so that work is not measured as the posts'.
    let settled = Instant::now() + Duration::from_secs(60);
    while Instant::now() < settled && counted.lock().expect("held").len() < rooms {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // And the rooms those recounts woke go back to sleep (workerd hibernates an idle object
    // after about 10 s): a live object costs CPU of its own, whatever the posts.
    tokio::time::sleep(Duration::from_secs(15)).await;
    let mut senders = Vec::new();
    for room in names.iter().skip(1).take(active) {
        let (s, _) = connect_join(&format!("{base}/api/rooms/{room}/ws"), &format!("sender-{room}")).await?;
        senders.push((room.clone(), s));
    }
    let cpu0 = group.and_then(group_cpu_ms);
    let sent = post(&mut senders, &person, 1, secs).await?;
    tokio::time::sleep(Duration::from_secs(3)).await;
    let cpu1 = group.and_then(group_cpu_ms);
    reader.abort();
    // The same again with no page of the person open: the rooms stop at their next batch.
    tokio::time::sleep(Duration::from_secs(3)).await;
    let cpu2 = group.and_then(group_cpu_ms);
    let unwatched = post(&mut senders, &person, secs as u32 + 1, secs).await?;
    tokio::time::sleep(Duration::from_secs(3)).await;
    let cpu3 = group.and_then(group_cpu_ms);
    drop(open);
    let per_post = |a: Option<u64>, b: Option<u64>, n: usize| match (a, b) {
        (Some(a), Some(b)) if n > 0 => json!(((b.saturating_sub(a)) as f64 / n as f64 * 100.0).round() / 100.0),
        _ => Value::Null,
    };
    let cpu_watched = per_post(cpu0, cpu1, sent.len());
    let cpu_unwatched = per_post(cpu2, cpu3, unwatched.len());
    let (counted, notified) = (counted.lock().expect("held"), notified.lock().expect("held"));
    let mut to_count = Vec::new();
    let mut to_notify = Vec::new();
    let mut missing = 0;
    for (room, i, at, mention) in &sent {
        // The first time the room's count included this post (a batch can carry several).
        let shown = counted.get(room).and_then(|seen| seen.iter().find(|(n, _)| *n >= *i)).map(|(_, t)| *t);
        match shown {
            Some(t) => to_count.push(t.saturating_duration_since(*at).as_micros() as u64),
            None => missing += 1,
        }
        if let Some(text) = mention {
            if let Some(t) = notified.get(text) {
                to_notify.push(t.saturating_duration_since(*at).as_micros() as u64);
            }
        }
    }
    to_count.sort_unstable();
    to_notify.sort_unstable();
    let mentions = sent.iter().filter(|s| s.3.is_some()).count();
    Ok(json!({
        "scenario": "inbox", "rooms": rooms, "active": active, "posts": sent.len(),
        "counts_p50_ms": percentile(&to_count, 0.5), "counts_p99_ms": percentile(&to_count, 0.99),
        "counts_max_ms": percentile(&to_count, 1.0),
        "notify_p50_ms": percentile(&to_notify, 0.5), "notify_p99_ms": percentile(&to_notify, 0.99),
        "notified": to_notify.len(), "mentions": mentions, "lost": missing,
        "server_cpu_ms_per_post_watched": cpu_watched, "server_cpu_ms_per_post_unwatched": cpu_unwatched,
    }))
}
