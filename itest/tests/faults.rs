//! Faults against a real `wrangler dev`, with clients that reconnect using the page's own
//! delivery engine (resume with `since`, outbox resent until acked, jittered backoff):
//! - workerd killed by PID in the middle of a conversation, then started again: every client
//!   ends with every message exactly once, in `seq` order, and storage holds each once;
//! - a client that never reads does not hold up anyone else;
//! - duplicate and out-of-order resends of the same `client_id` after a reconnect are
//!   acknowledged with their first `seq` and stored once.

use confab_itest::engine_client::{self, Planned};
use confab_itest::*;
use confab_shared::ServerFrame;
use serde_json::Value;
use std::collections::{BTreeSet, HashMap};
use std::time::Duration;

/// Every stored message, paging back through the REST history.
async fn stored(s: &Server, room: &str) -> Result<Vec<Value>, String> {
    let mut all = Vec::new();
    let mut before: Option<u64> = None;
    loop {
        let path = match before {
            Some(b) => format!("/api/rooms/{room}/messages?limit=100&before={b}"),
            None => format!("/api/rooms/{room}/messages?limit=100"),
        };
        let (status, body) = http(s.port, "GET", &path, &[]).await?;
        ensure(status == 200, format!("{path}: {status} {body}"))?;
        let page: Value = serde_json::from_str(&body).map_err(|e| e.to_string())?;
        let messages = page["messages"].as_array().cloned().unwrap_or_default();
        before = messages.first().and_then(|m| m["id"].as_u64());
        let mut batch = messages;
        batch.append(&mut all);
        all = batch;
        if page["older"] != true {
            return Ok(all);
        }
    }
}

async fn a_crash_mid_conversation_loses_nothing(s: &mut Server) -> Outcome {
    const CLIENTS: usize = 10;
    const EACH: usize = 50;
    let room = unique_room("crash");
    let url = s.ws_url(&room);
    let deadline = epoch_ms() + 120_000;
    let mut tasks = Vec::new();
    for c in 0..CLIENTS {
        // 4 per second: steady, and under the default rate limit (5 per second).
        let plan = (0..EACH)
            .map(|i| Planned {
                at_ms: 250 * i as u64 + 20 * c as u64,
                client_id: format!("m{i}"),
                text: format!("c{c} #{i}"),
            })
            .collect();
        let url = url.clone();
        tasks.push(tokio::spawn(async move {
            engine_client::run(url, &format!("client{c}"), plan, CLIENTS * EACH, deadline, 7 + c as u64).await
        }));
    }
    // A third of the way in, workerd dies mid-stream; it is back a second later.
    tokio::time::sleep(Duration::from_secs(4)).await;
    let workerd = s.crash()?;
    tokio::time::sleep(Duration::from_secs(1)).await;
    s.start_again_same_port().await?;
    println!("    killed workerd (pid {workerd}) 4 s in; restarted on port {}", s.port);

    let mut reconnects = 0;
    for (c, t) in tasks.into_iter().enumerate() {
        let report = t.await.map_err(|e| e.to_string())??;
        reconnects += report.connects - 1;
        let v = &report.view;
        let ids: BTreeSet<(String, String)> =
            v.messages.values().map(|m| (m.author.clone(), m.client_id.clone())).collect();
        ensure(
            v.messages.len() == CLIENTS * EACH && ids.len() == CLIENTS * EACH,
            format!("client{c} holds {} messages, {} distinct", v.messages.len(), ids.len()),
        )?;
        // Each author's messages in the order they were sent.
        let mut by_author: HashMap<&str, Vec<usize>> = HashMap::new();
        for m in v.messages.values() {
            let i: usize = m.client_id[1..].parse().map_err(|_| format!("odd client id {}", m.client_id))?;
            by_author.entry(m.author.as_str()).or_default().push(i);
        }
        ensure(
            by_author.values().all(|seq| seq.windows(2).all(|w| w[0] < w[1])),
            format!("client{c}: some author's messages are out of order"),
        )?;
    }
    let all = stored(s, &room).await?;
    let distinct: BTreeSet<(String, String)> = all
        .iter()
        .map(|m| (m["author"].as_str().unwrap_or("").to_owned(), m["client_id"].as_str().unwrap_or("").to_owned()))
        .collect();
    ensure(
        all.len() == CLIENTS * EACH && distinct.len() == all.len(),
        format!("stored {} ({} distinct)", all.len(), distinct.len()),
    )?;
    let seqs: Vec<u64> = all.iter().filter_map(|m| m["id"].as_u64()).collect();
    ensure(seqs.windows(2).all(|w| w[0] < w[1]), "stored seqs increase")?;
    println!(
        "    {CLIENTS} clients × {EACH} messages: all {} delivered to all, once, in order; {reconnects} reconnects",
        all.len()
    );
    Ok(())
}

async fn a_resume_after_a_long_gap_pages_back_to_everything(s: &Server) -> Outcome {
    let room = unique_room("gap");
    let url = s.ws_url(&room);
    let (mut first, _) = s.join(&room, "writer", &key("writer")).await?;
    first.say("w0", "before the gap").await?;
    first.expect("ack", |f| matches!(f, ServerFrame::Ack { .. })).await?;
    first.close().await;
    let deadline = epoch_ms() + 60_000;
    let before = engine_client::run(url.clone(), "reader", Vec::new(), 1, deadline, 1).await?.view;
    // While the reader is away, 240 messages: more than a resume sends at once (200).
    for w in 0..12 {
        let (mut c, _) = s.join(&room, &format!("w{w}"), &key(&format!("w{w}"))).await?;
        for i in 0..20 {
            c.say(&format!("m{i}"), &format!("w{w} #{i}")).await?;
        }
        let mut acks = 0;
        while acks < 20 {
            if let ServerFrame::Ack { .. } = c.next_frame().await? {
                acks += 1;
            }
        }
        c.close().await;
    }
    let after = engine_client::run_from(before, url, "reader", Vec::new(), 241, deadline, 2).await?.view;
    let seqs: Vec<u64> = after.messages.keys().copied().collect();
    ensure(
        seqs.len() == 241 && seqs.windows(2).all(|w| w[1] == w[0] + 1),
        format!("{} messages after resuming", seqs.len()),
    )?;
    ensure(!after.has_more, "paged back to the start of the room")
}

async fn a_client_that_never_reads_holds_up_nobody(s: &Server) -> Outcome {
    let room = unique_room("slow");
    // Joins and then never reads another frame. 32 MB of broadcasts are far more than loopback
    // socket buffers hold (a few MB), so the room's sends to it really back up.
    let (stuck, _) = s.join(&room, "stuck", &key("stuck")).await?;
    let (mut reader, _) = s.join(&room, "reader", &key("reader")).await?;
    reader.drain(Duration::from_millis(200)).await?;
    // 4,000 four-byte characters: about 16 KB a message, just under the frame limit.
    let text = "😀".repeat(4_000);
    let (writers, each) = (8, 250);
    let started = std::time::Instant::now();
    let mut tasks = Vec::new();
    for w in 0..writers {
        let (mut writer, _) = s.join(&room, &format!("writer{w}"), &key(&format!("writer{w}"))).await?;
        let text = text.clone();
        tasks.push(tokio::spawn(async move {
            for i in 0..each {
                writer.say(&format!("w{i}"), &text).await?;
                // One at a time: the next goes when this one is acked, as the page does.
                loop {
                    match writer.next_frame().await? {
                        ServerFrame::Ack { .. } => break,
                        ServerFrame::Error { code, message, .. } => return Err(format!("{code:?}: {message}")),
                        _ => {}
                    }
                }
            }
            writer.close().await;
            Ok::<(), String>(())
        }));
    }
    let n = writers * each;
    let mut got = 0;
    let deadline = std::time::Instant::now() + Duration::from_secs(90);
    while got < n && std::time::Instant::now() < deadline {
        if let ServerFrame::Message(_) = reader.next_frame().await? {
            got += 1;
        }
    }
    for t in tasks {
        t.await.map_err(|e| e.to_string())??;
    }
    let mb = (n * text.len()) as f64 / 1e6;
    println!("    {mb:.0} MB broadcast past a member that never reads, in {:.1} s", started.elapsed().as_secs_f64());
    ensure(got == n, format!("the reader got {got} of {n} while another member never read"))?;
    // The stuck member goes away without a close frame: it leaves.
    stuck.cut();
    reader.expect("stuck left", |f| says_left(f, "stuck")).await?;
    Ok(())
}

async fn resends_after_reconnect_are_stored_once(s: &Server) -> Outcome {
    let room = unique_room("resend");
    let (mut a, _) = s.join(&room, "alice", &key("alice")).await?;
    let mut first = HashMap::new();
    for id in ["c1", "c2", "c3"] {
        a.say(id, id).await?;
        let want = id.to_owned();
        if let ServerFrame::Ack { seq, .. } =
            a.expect("ack", move |f| matches!(f, ServerFrame::Ack { client_id, .. } if *client_id == want)).await?
        {
            first.insert(id, seq);
        }
    }
    a.cut();
    let (mut again, _) = s.join(&room, "alice", &key("alice")).await?;
    for id in ["c3", "c1", "c2", "c1", "c3"] {
        again.say(id, id).await?;
        let want = id.to_owned();
        let f =
            again.expect("ack", move |f| matches!(f, ServerFrame::Ack { client_id, .. } if *client_id == want)).await?;
        ensure(
            matches!(f, ServerFrame::Ack { seq, .. } if Some(&seq) == first.get(id)),
            format!("{id} re-acked as {f:?}"),
        )?;
    }
    let all = stored(s, &room).await?;
    ensure(all.len() == 3, format!("stored {} messages", all.len()))
}

fn main() {
    // Budgets raised: the slow-reader scenario pushes 32 MB through one room quickly.
    let vars = [
        ("RATE_BURST", "1000"),
        ("RATE_PER_SEC", "1000"),
        ("ROOM_RATE_BURST", "100000"),
        ("ROOM_RATE_PER_SEC", "100000"),
        ("SOCKET_RATE_BURST", "100000"),
        ("SOCKET_RATE_PER_SEC", "100000"),
    ];
    harness("faults", &vars, "warn", |server| {
        Box::pin(async move {
            let ok = run(
                vec![
                    (
                        "a_client_that_never_reads_holds_up_nobody",
                        Box::pin(a_client_that_never_reads_holds_up_nobody(server)),
                    ),
                    (
                        "resends_after_reconnect_are_stored_once",
                        Box::pin(resends_after_reconnect_are_stored_once(server)),
                    ),
                    (
                        "a_resume_after_a_long_gap_pages_back_to_everything",
                        Box::pin(a_resume_after_a_long_gap_pages_back_to_everything(server)),
                    ),
                ],
                Duration::from_secs(60),
            )
            .await;
            let crashed = run(
                vec![(
                    "a_crash_mid_conversation_loses_nothing",
                    Box::pin(a_crash_mid_conversation_loses_nothing(server)),
                )],
                Duration::from_secs(150),
            )
            .await;
            ok && crashed
        })
    })
}
