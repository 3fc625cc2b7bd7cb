//! Confab's benchmark: protocol v1 over real WebSockets against a `wrangler dev` it starts
//! itself (rate limit raised through `--var`) or against `--url`.
//!
//! Every message carries its send time, so every receiver measures send-to-receive latency;
//! every run counts lost, duplicated and out-of-order messages. Every wait is bounded.
//!
//! ```text
//! cargo run --release -p confab-bench -- [--smoke] [--url http://127.0.0.1:8787] [--reps 3]
//!                                        [--baseline http://127.0.0.1:8788] (lean: a running JS room)
//!                                        [--only fanout,throughput,busy,storm,history,flood,bots] [--storm 100,500]
//! ```
//! Prints a table per scenario and one JSON line per result (prefixed `json:`).
//!
//! # Layout
//! - [`Member`]: one joined socket; its reader task records what arrives.
//! - `fanout`, `throughput`, `storm`, `history`, `flood`: the scenarios; each returns a JSON
//!   object. `flood` runs on a second server with the production per-socket frame budget (the
//!   main one raises every budget out of the way) and compares the two.
//! - `inbox` (in `inbox.rs`): one person in 30 rooms, 10 of them busy: how fast the sidebar's
//!   counts and mention notifications follow (issue 11).
//! - `bots` (in `bots.rs`): a bot's posts over HTTP, and webhooks (mention → delivery → the
//!   bot's reply).

use confab_itest::{key, unique_room, Server};
use confab_shared::ServerFrame;
use futures_util::stream::{SplitSink, SplitStream};
use futures_util::{SinkExt, StreamExt};
use serde_json::{json, Value};
use std::collections::HashSet;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

mod bots;
mod inbox;

type Ws = WebSocketStream<MaybeTlsStream<TcpStream>>;

/// Microseconds since the benchmark started: the timestamps in message texts.
fn now_us(t0: Instant) -> u64 {
    t0.elapsed().as_micros() as u64
}

/// What one member saw.
#[derive(Default)]
struct Seen {
    /// Latencies of benchmark messages, µs.
    latencies: Vec<u64>,
    /// Distinct client ids received.
    ids: HashSet<String>,
    duplicates: u64,
    out_of_order: u64,
    last_seq: u64,
    acks: u64,
    errors: u64,
    /// WebSocket messages received (a `batch` is one, however many frames it holds).
    frames: u64,
}

/// One joined socket: a sink to send on and a task that records everything that arrives.
struct Member {
    sink: SplitSink<Ws, Message>,
    seen: Arc<Mutex<Seen>>,
    reader: tokio::task::JoinHandle<()>,
}

async fn connect_join(url: &str, name: &str) -> Result<(Ws, ServerFrame), String> {
    connect_join_from(url, name, None, true).await
}

/// As [`connect_join`], saying the client's address in `CF-Connecting-IP` (as Cloudflare's
/// edge does; `wrangler dev` on loopback sets none), and whether the client reads `batch`
/// frames (every client but the one that measures without them does, as the page does).
async fn connect_join_from(url: &str, name: &str, ip: Option<&str>, batch: bool) -> Result<(Ws, ServerFrame), String> {
    connect_join_rest(url, name, ip, batch).await.map(|(ws, welcome, _)| (ws, welcome))
}

/// As [`connect_join_from`], also returning the frames that came after the welcome in the
/// same `batch` (in a busy room, messages may).
async fn connect_join_rest(
    url: &str,
    name: &str,
    ip: Option<&str>,
    batch: bool,
) -> Result<(Ws, ServerFrame, Vec<ServerFrame>), String> {
    use tokio_tungstenite::tungstenite::client::IntoClientRequest;
    let mut req = url.into_client_request().map_err(|e| e.to_string())?;
    if let Some(ip) = ip {
        req.headers_mut().insert("CF-Connecting-IP", ip.parse().map_err(|_| "bad address".to_string())?);
    }
    let (mut ws, _) =
        tokio::time::timeout(Duration::from_secs(30), tokio_tungstenite::connect_async_with_config(req, None, true))
            .await
            .map_err(|_| "connect timed out".to_string())?
            .map_err(|e| format!("connect: {e}"))?;
    let join = json!({"type": "join", "data": {"v": 2, "name": name, "key": key(name), "batch": batch}});
    ws.send(Message::text(join.to_string())).await.map_err(|e| e.to_string())?;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    loop {
        match tokio::time::timeout_at(deadline, ws.next()).await {
            Ok(Some(Ok(Message::Text(t)))) => {
                let mut frames = ServerFrame::parse_all(&t).unwrap_or_default();
                if let Some(at) = frames.iter().position(|f| matches!(f, ServerFrame::Welcome { .. })) {
                    let rest = frames.split_off(at + 1);
                    let welcome = frames.pop().expect("the welcome is the last before the split");
                    return Ok((ws, welcome, rest));
                }
                if t.contains("\"error\"") {
                    return Err(format!("join refused: {t}"));
                }
            }
            Ok(Some(Ok(_))) => {}
            Ok(_) => return Err("closed before welcome".into()),
            Err(_) => return Err("no welcome within 30 s".into()),
        }
    }
}

impl Member {
    async fn join(url: &str, name: &str, t0: Instant) -> Result<Self, String> {
        Self::join_with(url, name, t0, true).await
    }

    /// As [`Member::join`], saying whether the client reads `batch` frames.
    async fn join_with(url: &str, name: &str, t0: Instant, batch: bool) -> Result<Self, String> {
        let (ws, _, rest) = connect_join_rest(url, name, None, batch).await?;
        let (sink, stream) = ws.split();
        let seen = Arc::new(Mutex::new(Seen::default()));
        {
            let mut s = seen.lock().expect("no panics while held");
            for frame in rest {
                s.record(frame, now_us(t0));
            }
        }
        let reader = tokio::spawn(read_loop(stream, seen.clone(), t0));
        Ok(Self { sink, seen, reader })
    }

    async fn send(&mut self, client_id: &str, t0: Instant) -> Result<(), String> {
        let text = format!("bench|{}", now_us(t0));
        let frame = json!({"type": "send", "data": {"client_id": client_id, "text": text}});
        self.sink.send(Message::text(frame.to_string())).await.map_err(|e| e.to_string())
    }

    fn received(&self) -> usize {
        self.seen.lock().expect("no panics while held").ids.len()
    }

    async fn close(mut self) {
        let _ = self.sink.close().await;
        self.reader.abort();
    }
}

async fn read_loop(mut stream: SplitStream<Ws>, seen: Arc<Mutex<Seen>>, t0: Instant) {
    while let Some(Ok(msg)) = stream.next().await {
        let Message::Text(t) = msg else { continue };
        let at = now_us(t0);
        let Ok(frames) = ServerFrame::parse_all(&t) else { continue };
        let mut s = seen.lock().expect("no panics while held");
        s.frames += 1;
        for frame in frames {
            s.record(frame, at);
        }
    }
}

impl Seen {
    /// One frame that arrived at `at` (µs since the start).
    fn record(&mut self, frame: ServerFrame, at: u64) {
        match frame {
            ServerFrame::Message(m) => {
                if let Some(sent) = m.text.strip_prefix("bench|").and_then(|v| v.parse::<u64>().ok()) {
                    self.latencies.push(at.saturating_sub(sent));
                }
                if m.id <= self.last_seq {
                    self.out_of_order += 1;
                }
                self.last_seq = self.last_seq.max(m.id);
                if !self.ids.insert(format!("{}/{}", m.author, m.client_id)) {
                    self.duplicates += 1;
                }
            }
            ServerFrame::Ack { .. } => self.acks += 1,
            ServerFrame::Error { .. } => self.errors += 1,
            _ => {}
        }
    }
}

/// Joins `n` members concurrently, at most 50 connecting at a time.
async fn join_many(url: &str, prefix: &str, n: usize, t0: Instant) -> Result<Vec<Member>, String> {
    join_many_with(url, prefix, n, t0, true).await
}

/// As [`join_many`], saying whether the clients read `batch` frames.
async fn join_many_with(url: &str, prefix: &str, n: usize, t0: Instant, batch: bool) -> Result<Vec<Member>, String> {
    let mut members = Vec::with_capacity(n);
    for chunk in (0..n).collect::<Vec<_>>().chunks(50) {
        let joins = chunk.iter().map(|i| {
            let url = url.to_owned();
            let name = format!("{prefix}{i}");
            tokio::spawn(async move { Member::join_with(&url, &name, t0, batch).await })
        });
        for j in futures_util::future::join_all(joins).await {
            members.push(j.map_err(|e| e.to_string())??);
        }
    }
    Ok(members)
}

fn percentile(sorted: &[u64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i] as f64 / 1000.0
}

/// Latency summary (ms) and delivery counts over all members.
fn summarize(members: &[Member], expected_each: usize) -> Value {
    let mut all = Vec::new();
    let (mut lost, mut dups, mut ooo, mut errors, mut frames) = (0usize, 0u64, 0u64, 0u64, 0u64);
    for m in members {
        let s = m.seen.lock().expect("no panics while held");
        frames += s.frames;
        all.extend_from_slice(&s.latencies);
        lost += expected_each.saturating_sub(s.ids.len());
        dups += s.duplicates;
        ooo += s.out_of_order;
        errors += s.errors;
    }
    all.sort_unstable();
    json!({
        "p50_ms": percentile(&all, 0.50), "p90_ms": percentile(&all, 0.90),
        "p99_ms": percentile(&all, 0.99), "max_ms": percentile(&all, 1.0),
        "deliveries": all.len(), "lost": lost, "duplicated": dups, "out_of_order": ooo, "errors": errors,
        "frames": frames,
    })
}

async fn wait_until(deadline: Duration, mut done: impl FnMut() -> bool) -> bool {
    let end = Instant::now() + deadline;
    while Instant::now() < end {
        if done() {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    done()
}

/// N members in one room; `senders` of them send `rate` messages per second each for `secs`.
async fn fanout(base: &str, n: usize, senders: usize, rate: u32, secs: u64) -> Result<Value, String> {
    let t0 = Instant::now();
    let room = unique_room(&format!("fanout{n}"));
    let url = format!("{base}/api/rooms/{room}/ws");
    let mut members = join_many(&url, "m", n, t0).await?;
    let per_sender = (rate as u64 * secs) as usize;
    let interval = Duration::from_micros(1_000_000 / rate as u64);
    let mut ticker = tokio::time::interval(interval);
    for i in 0..per_sender {
        ticker.tick().await;
        for (s, m) in members.iter_mut().take(senders).enumerate() {
            m.send(&format!("s{s}-{i}"), t0).await?;
        }
    }
    let expected = per_sender * senders;
    wait_until(Duration::from_secs(15), || members.iter().all(|m| m.received() >= expected)).await;
    let mut out = summarize(&members, expected);
    out["scenario"] = json!("fanout");
    out["members"] = json!(n);
    out["senders"] = json!(senders);
    out["rate_per_sender"] = json!(rate);
    out["messages"] = json!(expected);
    for m in members {
        m.close().await;
    }
    Ok(out)
}

/// `n` members in one room, the first `senders` of them sending as fast as acks allow (a
/// window of `window` unacked each) for `secs`; every member counts what it receives.
/// `batch`: whether the clients read `batch` frames (the room coalesces only for those).
async fn throughput(
    base: &str,
    n: usize,
    senders: usize,
    window: u64,
    secs: u64,
    batch: bool,
) -> Result<Value, String> {
    let t0 = Instant::now();
    let room = unique_room("throughput");
    let url = format!("{base}/api/rooms/{room}/ws");
    let mut members = join_many_with(&url, "t", n, t0, batch).await?;
    let receivers = members.split_off(senders.min(n));
    let sent_total = Arc::new(AtomicU64::new(0));
    let start = Instant::now();
    let mut tasks = Vec::new();
    for (s, mut m) in members.into_iter().enumerate() {
        let seen = m.seen.clone();
        let sent_total = sent_total.clone();
        tasks.push(tokio::spawn(async move {
            let mut i = 0u64;
            while start.elapsed() < Duration::from_secs(secs) {
                let acked = seen.lock().expect("no panics while held").acks;
                if i - acked < window {
                    if m.send(&format!("s{s}-{i}"), t0).await.is_err() {
                        break;
                    }
                    i += 1;
                } else {
                    tokio::time::sleep(Duration::from_micros(200)).await;
                }
            }
            sent_total.fetch_add(i, Ordering::Relaxed);
            m
        }));
    }
    let mut kept = Vec::new();
    for t in tasks {
        kept.push(t.await.map_err(|e| e.to_string())?);
    }
    let elapsed = start.elapsed().as_secs_f64();
    let sent = sent_total.load(Ordering::Relaxed) as usize;
    kept.extend(receivers);
    // Let the last acks and broadcasts land.
    wait_until(Duration::from_secs(30), || kept.iter().all(|m| m.received() >= sent)).await;
    let acks: u64 = kept.iter().map(|m| m.seen.lock().expect("no panics while held").acks).sum();
    let mut out = summarize(&kept, sent);
    let delivered = out["deliveries"].as_u64().unwrap_or(0);
    let frames = out["frames"].as_u64().unwrap_or(0);
    out["scenario"] = json!("throughput");
    out["members"] = json!(n);
    out["senders"] = json!(senders);
    out["batch"] = json!(batch);
    out["stored_per_s"] = json!((acks as f64 / elapsed).round());
    out["delivered_per_s"] = json!((delivered as f64 / elapsed).round());
    out["messages_per_frame"] = json!(((delivered + acks) as f64 / frames.max(1) as f64 * 100.0).round() / 100.0);
    out["messages"] = json!(sent);
    for m in kept {
        m.close().await;
    }
    Ok(out)
}

/// `n` clients connect and join at once: time until the last `welcome`.
async fn storm(base: &str, n: usize) -> Result<Value, String> {
    let room = unique_room("storm");
    let url = format!("{base}/api/rooms/{room}/ws");
    let start = Instant::now();
    let joins = (0..n).map(|i| {
        let url = url.clone();
        tokio::spawn(async move {
            let r = connect_join(&url, &format!("c{i}")).await;
            (r, start.elapsed())
        })
    });
    let mut times = Vec::new();
    let mut sockets = Vec::new();
    let mut failed = 0;
    for j in futures_util::future::join_all(joins).await {
        match j.map_err(|e| e.to_string())? {
            (Ok((ws, _)), t) => {
                times.push(t.as_micros() as u64);
                sockets.push(ws);
            }
            (Err(_), _) => failed += 1,
        }
    }
    times.sort_unstable();
    for mut ws in sockets {
        let _ = ws.close(None).await;
    }
    Ok(json!({"scenario": "storm", "clients": n, "failed": failed,
        "all_welcomed_ms": percentile(&times, 1.0), "p50_welcome_ms": percentile(&times, 0.5)}))
}

/// Fills `room` with `n` messages from one member, pipelined.
async fn fill(url: &str, n: usize) -> Result<(), String> {
    let t0 = Instant::now();
    let mut m = Member::join(url, "filler", t0).await?;
    let mut i = 0;
    while i < n {
        let acked = m.seen.lock().expect("no panics while held").acks as usize;
        if i - acked < 256 {
            m.send(&format!("f{i}"), t0).await?;
            i += 1;
        } else {
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
    }
    let ok =
        wait_until(Duration::from_secs(60), || m.seen.lock().expect("no panics while held").acks as usize >= n).await;
    m.close().await;
    if ok {
        Ok(())
    } else {
        Err("filling timed out".into())
    }
}

/// Time to `welcome` (median of 5 joins) and to page back 10 pages of 100, for a room of `n`.
async fn history(base: &str, n: usize) -> Result<Value, String> {
    let room = unique_room(&format!("history{n}"));
    let url = format!("{base}/api/rooms/{room}/ws");
    let fill_start = Instant::now();
    fill(&url, n).await?;
    let fill_s = fill_start.elapsed().as_secs_f64();
    let mut welcome = Vec::new();
    let mut paging = Vec::new();
    for r in 0..5 {
        let start = Instant::now();
        let (mut ws, w) = connect_join(&url, &format!("reader{r}")).await?;
        welcome.push(start.elapsed().as_micros() as u64);
        let ServerFrame::Welcome { messages, .. } = w else { unreachable!("connect_join returns a welcome") };
        let mut before = messages.first().map_or(0, |m| m.id);
        let start = Instant::now();
        for _ in 0..10 {
            let frame = json!({"type": "history", "data": {"before": before, "limit": 100}});
            ws.send(Message::text(frame.to_string())).await.map_err(|e| e.to_string())?;
            loop {
                let next = tokio::time::timeout(Duration::from_secs(10), ws.next()).await;
                let Ok(Some(Ok(Message::Text(t)))) = next else { return Err("no history page".into()) };
                let page = ServerFrame::parse_all(&t).unwrap_or_default().into_iter().find_map(|f| match f {
                    ServerFrame::History { messages, .. } => Some(messages),
                    _ => None,
                });
                if let Some(messages) = page {
                    before = messages.first().map_or(before, |m| m.id);
                    break;
                }
            }
        }
        paging.push(start.elapsed().as_micros() as u64);
        let _ = ws.close(None).await;
    }
    welcome.sort_unstable();
    paging.sort_unstable();
    Ok(json!({"scenario": "history", "stored": n, "fill_per_s": (n as f64 / fill_s).round(),
        "welcome_ms": percentile(&welcome, 0.5), "ten_pages_ms": percentile(&paging, 0.5)}))
}

/// How a flooder sends.
#[derive(Clone, Copy, Debug)]
enum Flood {
    /// The next `history` as soon as the last is answered: as fast as the room serves it.
    Paced,
    /// As fast as the socket takes frames, answers or not (a firehose).
    Firehose,
    /// A firehose that opens a new socket whenever the room closes one.
    Reconnecting,
}

/// Sends `history` pages of the newest 100 until `stop`, the way `mode` says, reading every
/// answer, from one client address. Returns (pages served, frames refused, sockets closed by
/// the room, sockets refused).
async fn flooder(url: String, stop: Instant, mode: Flood) -> Result<(u64, u64, u64, u64), String> {
    let reconnect = matches!(mode, Flood::Reconnecting);
    let page = json!({"type": "history", "data": {"before": 9_007_199_254_740_991u64, "limit": 100}}).to_string();
    let served = Arc::new(AtomicU64::new(0));
    let refused = Arc::new(AtomicU64::new(0));
    let (mut closed, mut turned_away) = (0u64, 0u64);
    while Instant::now() < stop {
        let ws = match connect_join_from(&url, &format!("flooder{closed}"), Some("198.51.100.66"), false).await {
            Ok((ws, _)) => ws,
            Err(_) => {
                turned_away += 1;
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            }
        };
        let (mut sink, mut stream) = ws.split();
        let (s, r) = (served.clone(), refused.clone());
        let answered = Arc::new(tokio::sync::Notify::new());
        let done = answered.clone();
        let reader = tokio::spawn(async move {
            while let Some(Ok(msg)) = stream.next().await {
                let Message::Text(t) = msg else { continue };
                if t.starts_with(r#"{"type":"history""#) {
                    s.fetch_add(1, Ordering::Relaxed);
                    done.notify_one();
                } else if t.contains("rate_limited") {
                    r.fetch_add(1, Ordering::Relaxed);
                    done.notify_one();
                }
            }
            done.notify_one();
        });
        while Instant::now() < stop {
            if sink.send(Message::text(page.clone())).await.is_err() || reader.is_finished() {
                break;
            }
            match mode {
                Flood::Paced => {
                    let _ = tokio::time::timeout(Duration::from_secs(5), answered.notified()).await;
                }
                // Yield so the runtime also serves the members being measured.
                Flood::Firehose | Flood::Reconnecting => tokio::task::yield_now().await,
            }
        }
        let by_room = Instant::now() < stop;
        let _ = sink.close().await;
        let _ = tokio::time::timeout(Duration::from_secs(2), reader).await;
        if by_room {
            closed += 1;
        }
        if !reconnect {
            // One socket only: once the room has closed it, wait out the run.
            tokio::time::sleep(stop.saturating_duration_since(Instant::now())).await;
        }
    }
    Ok((served.load(Ordering::Relaxed), refused.load(Ordering::Relaxed), closed, turned_away))
}

/// Fan-out latency among 10 members (one sending 20 messages/s for `secs`) with `flooders`
/// sockets flooding `history` for the full 100 messages of about 4 KB each at the same time.
async fn flood(base: &str, flooders: usize, mode: Flood, secs: u64, label: &str) -> Result<Value, String> {
    let t0 = Instant::now();
    let room = unique_room("flood");
    let url = format!("{base}/api/rooms/{room}/ws");
    // 100 heavy messages, from ten sockets so the per-socket budget does not slow the fill.
    let mut fillers = join_many(&url, "fill", 10, t0).await?;
    let text = "x".repeat(4_000);
    for (f, m) in fillers.iter_mut().enumerate() {
        for i in 0..10 {
            let frame = json!({"type": "send", "data": {"client_id": format!("f{f}-{i}"), "text": text}});
            m.sink.send(Message::text(frame.to_string())).await.map_err(|e| e.to_string())?;
        }
    }
    wait_until(Duration::from_secs(30), || fillers.iter().all(|m| m.seen.lock().expect("no panics").acks >= 10)).await;
    for m in fillers {
        m.close().await;
    }
    let mut members = join_many(&url, "m", 10, t0).await?;
    let stop = Instant::now() + Duration::from_secs(secs) + Duration::from_millis(500);
    let floods: Vec<_> = (0..flooders).map(|_| tokio::spawn(flooder(url.clone(), stop, mode))).collect();
    let per_sender = 20 * secs as usize;
    let mut ticker = tokio::time::interval(Duration::from_millis(50));
    for i in 0..per_sender {
        ticker.tick().await;
        members[0].send(&format!("s-{i}"), t0).await?;
    }
    wait_until(Duration::from_secs(15), || members.iter().all(|m| m.received() >= per_sender)).await;
    let mut out = summarize(&members, per_sender);
    let (mut served, mut refused, mut closed, mut turned_away) = (0, 0, 0, 0);
    for f in floods {
        let (s, r, c, t) = f.await.map_err(|e| e.to_string())??;
        served += s;
        refused += r;
        closed += c;
        turned_away += t;
    }
    out["scenario"] = json!("flood");
    out["server"] = json!(label);
    out["members"] = json!(10);
    out["flooders"] = json!(flooders);
    out["messages"] = json!(per_sender);
    out["pages_served"] = json!(served);
    out["pages_refused"] = json!(refused);
    // How long the server stays busy after the flood stops: a fresh join in a new room is
    // answered only once what the flood left queued is done.
    let settled = Instant::now();
    let settle_url = format!("{base}/api/rooms/{}/ws", unique_room("settle"));
    while tokio::time::timeout(Duration::from_secs(5), connect_join(&settle_url, "settler"))
        .await
        .map_or(true, |r| r.is_err())
        && settled.elapsed() < Duration::from_secs(180)
    {}
    out["busy_after_ms"] = json!(settled.elapsed().as_millis() as u64);
    out["flooder_closed"] = json!(closed);
    out["flooder_turned_away"] = json!(turned_away);
    out["mode"] = json!(if flooders == 0 { "none".to_owned() } else { format!("{mode:?}").to_lowercase() });
    for m in members {
        m.close().await;
    }
    Ok(out)
}

/// Runs `f` `reps` times and keeps the run with the median of `key`.
async fn median_of<F, Fut>(reps: usize, key: &str, mut f: F) -> Result<Value, String>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<Value, String>>,
{
    let mut runs = Vec::new();
    for _ in 0..reps {
        runs.push(f().await?);
    }
    runs.sort_by(|a, b| a[key].as_f64().unwrap_or(f64::MAX).total_cmp(&b[key].as_f64().unwrap_or(f64::MAX)));
    let mut mid = runs[runs.len() / 2].clone();
    mid["reps"] = json!(reps);
    Ok(mid)
}

fn print(v: &Value) {
    let fields = [
        "what",
        "posts",
        "mentions",
        "members",
        "clients",
        "stored",
        "senders",
        "messages",
        "median_p50_ms",
        "saturated_stored_per_s",
        "saturated_cpu_ms_per_message",
        "p50_ms",
        "p90_ms",
        "p99_ms",
        "max_ms",
        "stored_per_s",
        "delivered_per_s",
        "batch",
        "messages_per_frame",
        "all_welcomed_ms",
        "welcome_ms",
        "ten_pages_ms",
        "server",
        "flooders",
        "pages_served",
        "pages_refused",
        "flooder_closed",
        "busy_after_ms",
        "flooder_turned_away",
        "mode",
        "accepted_per_s",
        "rooms",
        "active",
        "counts_p50_ms",
        "counts_p99_ms",
        "counts_max_ms",
        "notify_p50_ms",
        "notify_p99_ms",
        "notified",
        "delivery_p50_ms",
        "delivery_p99_ms",
        "reply_p50_ms",
        "reply_p99_ms",
        "refused",
        "delivered",
        "lost",
        "duplicated",
        "out_of_order",
        "failed",
    ];
    let mut line = format!("{:<11}", v["scenario"].as_str().unwrap_or("?"));
    for f in fields {
        if let Some(x) = v.get(f) {
            let shown = match x.as_f64() {
                Some(n) if n.fract() != 0.0 => format!("{n:.2}"),
                _ => x.to_string(),
            };
            line.push_str(&format!(" {f}={shown}"));
        }
    }
    println!("{line}");
    println!("json: {v}");
}

/// The sizes the command line chose for the scenarios that take several.
struct Sizes<'a> {
    /// Connect storms.
    storm: &'a [usize],
    /// How many rooms the inbox scenario's person is in.
    inbox_rooms: &'a [usize],
}

#[allow(clippy::too_many_arguments)]
async fn run(
    base: &str,
    budget_base: Option<&str>,
    baseline: Option<(&str, Option<u32>)>,
    unwindowed: Option<&str>,
    smoke: bool,
    reps: usize,
    only: &[String],
    sizes: Sizes<'_>,
    server_group: Option<u32>,
) -> Result<bool, String> {
    let want = |s: &str| only.is_empty() || only.iter().any(|o| o == s);
    let mut clean = true;
    let mut check = |v: &Value| {
        print(v);
        for k in ["lost", "duplicated", "out_of_order", "failed"] {
            if v.get(k).and_then(Value::as_u64).unwrap_or(0) > 0 {
                clean = false;
            }
        }
    };
    if want("fanout") {
        let sizes: &[usize] = if smoke { &[2] } else { &[2, 10, 100, 500] };
        for &n in sizes {
            let secs = if smoke { 1 } else { 5 };
            check(&median_of(reps, "p99_ms", || fanout(base, n, 1, 20, secs)).await?);
            if !smoke && n >= 10 {
                check(&median_of(reps, "p99_ms", || fanout(base, n, 10, 20, secs)).await?);
            }
        }
    }
    if want("throughput") {
        let secs = if smoke { 1 } else { 5 };
        check(&median_of(reps, "stored_per_s", || throughput(base, 10, 10, 16, secs, true)).await?);
    }
    if want("lean") {
        // Issue 13's lean path: a 2-member room, Confab against the plain JavaScript room of
        // bench/js-baseline (durable before visible too), runs interleaved so both see the
        // same load. Latency: one member posting 20 messages a second. Cost: the same room
        // posting as fast as acks allow (16 in flight), whose stored/s is the inverse of the
        // room's time per message (the room is one thread).
        if let Some((js, js_group)) = baseline {
            let secs = if smoke { 1 } else { 10 };
            let mut results: Vec<(&str, Vec<Value>, Vec<Value>)> =
                vec![("confab", Vec::new(), Vec::new()), ("js baseline", Vec::new(), Vec::new())];
            for _ in 0..reps {
                for (server, latency, cost) in results.iter_mut() {
                    let (url, group) = if *server == "confab" { (base, server_group) } else { (js, js_group) };
                    latency.push(fanout(url, 2, 1, 20, secs).await?);
                    let before = group.and_then(inbox::group_cpu_ms);
                    // Without batches: each message costs its ack and its two sends, as in the
                    // baseline (with them, Confab would send fewer frames than the baseline).
                    let mut out = throughput(url, 2, 1, 16, secs.min(5), false).await?;
                    if let (Some(a), Some(b)) = (before, group.and_then(inbox::group_cpu_ms)) {
                        let per = (b - a) as f64 / out["messages"].as_f64().unwrap_or(1.0).max(1.0);
                        out["cpu_ms_per_message"] = json!((per * 1000.0).round() / 1000.0);
                    }
                    cost.push(out);
                }
            }
            let median = |runs: &[Value], key: &str| {
                let mut v: Vec<f64> = runs.iter().filter_map(|r| r[key].as_f64()).collect();
                v.sort_by(f64::total_cmp);
                (v.get(v.len() / 2).copied(), v)
            };
            for (server, latency, cost) in results {
                let (p50, p50s) = median(&latency, "p50_ms");
                let (stored, _) = median(&cost, "stored_per_s");
                let (cpu, _) = median(&cost, "cpu_ms_per_message");
                let mut out = latency[latency.len() / 2].clone();
                out["scenario"] = json!("lean");
                out["server"] = json!(server);
                out["median_p50_ms"] = json!(p50);
                out["p50s_ms"] = json!(p50s);
                out["saturated_stored_per_s"] = json!(stored);
                out["saturated_cpu_ms_per_message"] = json!(cpu);
                out["reps"] = json!(reps);
                out["lost"] = json!(cost.iter().chain(&latency).map(|r| r["lost"].as_u64().unwrap_or(0)).sum::<u64>());
                check(&out);
            }
        }
    }
    if want("busy") {
        // Issue 13's busy room, on a server that never coalesces across frames (the room as
        // it was) and on the default one: 10 senders and 100 receivers as fast as acks allow
        // (delivered/s and p99), then 10 members each posting 20 a second (latency under a
        // moderate load, which the window must not spoil).
        let (n, secs) = if smoke { (12, 1) } else { (110, 5) };
        for (server, label) in [(unwindowed, "no window"), (Some(base), "window")] {
            let Some(url) = server else { continue };
            for batch in [false, true] {
                let mut out = median_of(reps, "delivered_per_s", || throughput(url, n, 10, 16, secs, batch)).await?;
                out["server"] = json!(label);
                check(&out);
            }
            if !smoke {
                let mut out = median_of(reps, "p99_ms", || fanout(url, 10, 10, 20, secs)).await?;
                out["server"] = json!(label);
                check(&out);
            }
        }
    }
    if want("storm") {
        for &n in sizes.storm {
            check(&median_of(reps, "all_welcomed_ms", || storm(base, n)).await?);
        }
    }
    if want("history") {
        let sizes: &[usize] = if smoke { &[100] } else { &[100, 100_000] };
        for &n in sizes {
            // Filling 100,000 messages takes a while: measured once, joins repeated inside.
            check(&median_of(1, "welcome_ms", || history(base, n)).await?);
        }
    }
    if want("inbox") {
        let (active, secs) = if smoke { (1, 3) } else { (10, 20) };
        for &rooms in sizes.inbox_rooms {
            check(&median_of(reps, "counts_p99_ms", || inbox::inbox(base, rooms, active, secs, server_group)).await?);
        }
    }
    if want("bots") {
        let (posts, clients, mentions) = if smoke { (20, 2, 3) } else { (1000, 8, 50) };
        check(&median_of(reps, "accepted_per_s", || bots::bot_posts(base, posts, clients)).await?);
        check(&median_of(reps, "reply_p50_ms", || bots::webhooks(base, mentions, 100)).await?);
    }
    if want("flood") && !smoke {
        // Without a per-socket budget (this server raises it out of the way, as every room
        // did before it existed), then with the production budget.
        let secs = 5;
        for (server, label) in [(Some(base), "no budget"), (budget_base, "production budget")] {
            let Some(b) = server else { continue };
            check(&median_of(reps, "p99_ms", || flood(b, 0, Flood::Paced, secs, label)).await?);
            for mode in [Flood::Paced, Flood::Firehose] {
                check(&median_of(reps, "p99_ms", || flood(b, 1, mode, secs, label)).await?);
            }
            // Once: it leaves the server busy long after it stops (see busy_after_ms).
            check(&median_of(1, "p99_ms", || flood(b, 1, Flood::Reconnecting, secs, label)).await?);
        }
    }
    Ok(clean)
}

/// The benchmark servers' vars: every budget out of the way.
const RAISED: [(&str, &str); 10] = [
    ("RATE_BURST", "1000000"),
    ("RATE_PER_SEC", "1000000"),
    ("ROOM_RATE_BURST", "1000000"),
    ("ROOM_RATE_PER_SEC", "1000000"),
    ("SOCKET_RATE_BURST", "1000000"),
    ("SOCKET_RATE_PER_SEC", "1000000"),
    ("MAX_SOCKETS_PER_IP", "1000000"),
    ("CONNECT_RATE_BURST", "1000000"),
    ("CONNECT_RATE_PER_SEC", "1000000"),
    // The `bots` scenario's webhook receiver listens on loopback.
    ("ALLOW_PRIVATE_WEBHOOKS", "1"),
];

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let flag = |name: &str| args.iter().position(|a| a == name).and_then(|i| args.get(i + 1)).cloned();
    let smoke = args.iter().any(|a| a == "--smoke");
    let reps = flag("--reps").and_then(|r| r.parse().ok()).unwrap_or(if smoke { 1 } else { 3 });
    let only: Vec<String> = flag("--only").map(|o| o.split(',').map(str::to_owned).collect()).unwrap_or_default();
    // `--storm 100,250,500`: connect-storm sizes (default 500; 10 for --smoke).
    // `--inbox-rooms 30,300`: how many rooms the inbox scenario's person is in (default 30; 3
    // for --smoke), 10 of them busy whatever the number.
    let inbox_rooms: Vec<usize> = flag("--inbox-rooms")
        .map(|o| o.split(',').filter_map(|n| n.parse().ok()).collect())
        .unwrap_or_else(|| vec![if smoke { 3 } else { 30 }]);
    let storm_sizes: Vec<usize> = flag("--storm")
        .map(|o| o.split(',').filter_map(|n| n.parse().ok()).collect())
        .unwrap_or_else(|| vec![if smoke { 10 } else { 500 }]);
    let rt =
        tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().expect("a tokio runtime");
    let result = rt.block_on(async {
        // Own server unless --url: rate limit out of the way, state in a fresh directory.
        let (server, base) = match flag("--url") {
            Some(u) => (None, u.replacen("http", "ws", 1)),
            None => {
                let s = Server::start("bench", &RAISED).await?;
                let base = format!("ws://127.0.0.1:{}", s.port);
                (Some(s), base)
            }
        };
        // The flood scenario's second server: every budget raised but the per-socket one.
        let budget_server = if server.is_some() && !smoke && (only.is_empty() || only.iter().any(|o| o == "flood")) {
            let vars = [
                ("RATE_BURST", "1000000"),
                ("RATE_PER_SEC", "1000000"),
                ("ROOM_RATE_BURST", "1000000"),
                ("ROOM_RATE_PER_SEC", "1000000"),
                ("MAX_SOCKETS_PER_IP", "1000000"),
            ];
            Some(Server::start("bench-budget", &vars).await?)
        } else {
            None
        };
        let budget_base = budget_server.as_ref().map(|s| format!("ws://127.0.0.1:{}", s.port));
        // The lean scenario's baseline: a plain JavaScript room (bench/js-baseline).
        // The busy scenario's "before": every budget raised, and no coalescing across frames.
        let unwindowed_server = if server.is_some() && !smoke && (only.is_empty() || only.iter().any(|o| o == "busy")) {
            let mut vars = RAISED.to_vec();
            vars.push(("COALESCE_WITHIN_MS", "0"));
            Some(Server::start("bench-nowindow", &vars).await?)
        } else {
            None
        };
        let unwindowed = unwindowed_server.as_ref().map(|s| format!("ws://127.0.0.1:{}", s.port));
        // `--baseline URL`: one already running (with `--url`).
        let lean = only.is_empty() || only.iter().any(|o| o == "lean");
        let baseline_server = if server.is_some() && lean && flag("--baseline").is_none() {
            Some(Server::start_config("bench-js", "bench/js-baseline/wrangler.toml").await?)
        } else {
            None
        };
        let baseline = match flag("--baseline") {
            Some(u) => Some((u.replacen("http", "ws", 1), None)),
            None => baseline_server.as_ref().map(|s| (format!("ws://127.0.0.1:{}", s.port), s.pid())),
        };
        println!("confab-bench against {base} (reps {reps}{})", if smoke { ", smoke" } else { "" });
        let r = tokio::time::timeout(
            Duration::from_secs(3600),
            run(
                &base,
                budget_base.as_deref(),
                baseline.as_ref().map(|(url, group)| (url.as_str(), *group)),
                unwindowed.as_deref(),
                smoke,
                reps,
                &only,
                Sizes { storm: &storm_sizes, inbox_rooms: &inbox_rooms },
                server.as_ref().and_then(Server::pid),
            ),
        )
        .await;
        drop(server);
        drop(budget_server);
        drop(baseline_server);
        drop(unwindowed_server);
        r.map_err(|_| "the benchmark did not finish within an hour".to_string())?
    });
    match result {
        Ok(true) => {}
        Ok(false) => {
            eprintln!("messages were lost, duplicated or reordered, or clients failed");
            std::process::exit(1);
        }
        Err(e) => {
            eprintln!("benchmark failed: {e}");
            std::process::exit(1);
        }
    }
}
