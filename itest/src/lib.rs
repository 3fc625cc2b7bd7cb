//! Integration-test support: a real `wrangler dev` (workerd) on a free loopback port with its
//! own state directory, WebSocket and HTTP clients for it, and a tiny scenario runner.
//!
//! # Layout
//! - [`Server`]: starts `wrangler dev`, waits until it answers, stops it (its whole process
//!   group, by PID) on drop, so a failing test never leaves workerd behind.
//! - [`Client`]: one WebSocket speaking protocol v1, with bounded waits.
//! - [`http`]: one raw HTTP/1.1 request (enough for the REST routes, no extra client crate).
//! - [`run`]: runs named scenarios, each under a timeout, and reports them like `cargo test`.
//!
//! The worker must be built first (`scripts/build-worker.sh`); the servers started here set
//! `CONFAB_SKIP_WORKER_BUILD=1` so each start reuses that build instead of rebuilding it.

use confab_shared::ServerFrame;
use futures_util::{SinkExt, StreamExt};
use std::future::Future;
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

/// A scenario's result: an error says what was wrong.
pub type Outcome = Result<(), String>;

/// How long one frame may take to arrive before a wait fails.
pub const FRAME_WAIT: Duration = Duration::from_secs(10);

/// The repository root (the folder with `wrangler.toml`).
pub fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().expect("itest/ sits in the workspace root").to_path_buf()
}

/// A free TCP port on 127.0.0.1 (bound, then released for the server to take).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("loopback has free ports")
}

/// A running `wrangler dev`.
pub struct Server {
    child: Option<Child>,
    /// Its port on 127.0.0.1.
    pub port: u16,
    /// Its Durable Object state directory (kept across [`Server::restart`]).
    pub state_dir: PathBuf,
    vars: Vec<(String, String)>,
    log_level: String,
    log: PathBuf,
    /// Another Worker's `wrangler.toml` (`-c`), if not the repository's own.
    config: Option<PathBuf>,
}

impl Server {
    /// Starts a server with a fresh state directory under `target/itest/` and `vars` set
    /// (`wrangler dev --var NAME:VALUE`).
    pub async fn start(label: &str, vars: &[(&str, &str)]) -> Result<Self, String> {
        Self::start_with(label, vars, "warn").await
    }

    /// As [`Server::start`], with wrangler's `--log-level` (`log` shows the room's own lines).
    pub async fn start_with(label: &str, vars: &[(&str, &str)], log_level: &str) -> Result<Self, String> {
        Self::launch(label, vars, log_level, None).await
    }

    /// Another Worker: `wrangler dev -c config` (a path from the repository root), with a
    /// fresh state directory. It must answer `GET /api/rooms/health-check` with 200.
    pub async fn start_config(label: &str, config: &str) -> Result<Self, String> {
        Self::launch(label, &[], "warn", Some(root().join(config))).await
    }

    async fn launch(
        label: &str,
        vars: &[(&str, &str)],
        log_level: &str,
        config: Option<PathBuf>,
    ) -> Result<Self, String> {
        let dir = root().join("target").join("itest").join(format!("{label}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
        let mut server = Self {
            child: None,
            port: 0,
            state_dir: dir.join("state"),
            vars: vars.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect(),
            log_level: log_level.to_owned(),
            log: dir.join("wrangler.log"),
            config,
        };
        server.spawn().await?;
        Ok(server)
    }

    /// As [`Server::start_with`], on a copy of the state directory `fixture` (a room written
    /// by an older build, say).
    pub async fn start_from_state(label: &str, vars: &[(&str, &str)], fixture: &Path) -> Result<Self, String> {
        let dir = root().join("target").join("itest").join(format!("{label}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let state = dir.join("state").join("v3");
        copy_dir(fixture, &state).map_err(|e| format!("cannot copy {}: {e}", fixture.display()))?;
        let mut server = Self {
            child: None,
            port: 0,
            state_dir: dir.join("state"),
            vars: vars.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect(),
            log_level: "log".to_owned(),
            log: dir.join("wrangler.log"),
            config: None,
        };
        server.spawn().await?;
        Ok(server)
    }

    async fn spawn(&mut self) -> Result<(), String> {
        self.spawn_on(None).await
    }

    async fn spawn_on(&mut self, port: Option<u16>) -> Result<(), String> {
        let root = root();
        let bin = root.join("node_modules/.bin");
        self.port = port.unwrap_or_else(free_port);
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.log)
            .map_err(|e| format!("cannot open {}: {e}", self.log.display()))?;
        let mut cmd = Command::new(bin.join("wrangler"));
        cmd.current_dir(&root)
            .args(["dev", "--ip", "127.0.0.1", "--port", &self.port.to_string()])
            .args(["--inspector-port", &free_port().to_string()])
            .arg("--persist-to")
            .arg(&self.state_dir)
            .args(["--show-interactive-dev-session=false", "--log-level", &self.log_level]);
        if let Some(config) = &self.config {
            cmd.arg("-c").arg(config);
        }
        for (k, v) in &self.vars {
            cmd.arg("--var").arg(format!("{k}:{v}"));
        }
        let path = format!("{}:{}", bin.display(), std::env::var("PATH").unwrap_or_default());
        cmd.env("PATH", path)
            .env("WRANGLER_SEND_METRICS", "false")
            .env("CLOUDFLARE_CF_FETCH_ENABLED", "false")
            .env("CONFAB_SKIP_WORKER_BUILD", "1")
            .env("CI", "true")
            .stdin(Stdio::null())
            .stdout(log.try_clone().map_err(|e| e.to_string())?)
            .stderr(log);
        // Its own process group: wrangler starts workerd as a child, and stopping the group
        // stops both without touching anything else.
        std::os::unix::process::CommandExt::process_group(&mut cmd, 0);
        let child = cmd.spawn().map_err(|e| format!("cannot start wrangler (run scripts/setup.sh?): {e}"))?;
        self.child = Some(child);

        let deadline = Instant::now() + Duration::from_secs(60);
        while Instant::now() < deadline {
            if let Some(Ok(Some(status))) = self.child.as_mut().map(|c| c.try_wait()) {
                return Err(format!("wrangler exited with {status}; log:\n{}", self.log_tail()));
            }
            if let Ok((200, _)) = http(self.port, "GET", "/api/rooms/health-check", &[]).await {
                return Ok(());
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        Err(format!("wrangler did not answer within 60 s; log:\n{}", self.log_tail()))
    }

    /// All of wrangler's log so far.
    pub fn log_all(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// How many times `room`'s object has started (its constructor logs one line, seen at
    /// wrangler's `log` level): more than once means it was evicted and woke again.
    pub fn room_starts(&self, room: &str) -> usize {
        self.log_all().matches(&format!("room {room} starting")).count()
    }

    /// How many times `needle` is in wrangler's log, waiting up to `within` for at least `n`.
    /// The Worker's lines reach the log through wrangler's Node process, after the frames the
    /// same work sent: a line read right after a frame may not be there yet.
    pub async fn log_count_within(&self, needle: &str, n: usize, within: Duration) -> usize {
        let deadline = Instant::now() + within;
        loop {
            let count = self.log_all().matches(needle).count();
            if count >= n || Instant::now() >= deadline {
                return count;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// The end of wrangler's log, for error messages.
    pub fn log_tail(&self) -> String {
        let text = std::fs::read_to_string(&self.log).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        lines[lines.len().saturating_sub(30)..].join("\n")
    }

    /// The PID of the server's process group leader (wrangler).
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }

    /// Stops the server; its state directory stays.
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let group = format!("-{}", child.id());
            let _ = Command::new("kill").args(["-TERM", "--", &group]).status();
            let deadline = Instant::now() + Duration::from_secs(5);
            while Instant::now() < deadline {
                if let Ok(Some(_)) = child.try_wait() {
                    // workerd may outlive wrangler by a moment: make sure the group is gone.
                    let _ = Command::new("kill").args(["-KILL", "--", &group]).stderr(Stdio::null()).status();
                    return;
                }
                std::thread::sleep(Duration::from_millis(50));
            }
            let _ = Command::new("kill").args(["-KILL", "--", &group]).status();
            let _ = child.wait();
        }
    }

    /// Stops the server and starts it again on the same state directory (new port).
    pub async fn restart(&mut self) -> Result<(), String> {
        self.stop();
        self.spawn().await
    }

    /// Starts the server again on the same port and state directory, after [`Server::crash`]
    /// or [`Server::stop`]: clients reconnect to the address they knew.
    pub async fn start_again_same_port(&mut self) -> Result<(), String> {
        self.stop();
        let port = self.port;
        self.spawn_on(Some(port)).await
    }

    /// Kills workerd (the runtime, not wrangler) with SIGKILL, by its PID, then stops the rest
    /// of the server: a crash in the middle of whatever it was doing. Returns workerd's PID.
    pub fn crash(&mut self) -> Result<u32, String> {
        let group = self.pid().ok_or("the server is not running")?;
        let out = Command::new("pgrep")
            .args(["-g", &group.to_string(), "workerd"])
            .output()
            .map_err(|e| format!("pgrep: {e}"))?;
        let pids: Vec<u32> =
            String::from_utf8_lossy(&out.stdout).split_whitespace().filter_map(|p| p.parse().ok()).collect();
        let workerd = *pids.first().ok_or("no workerd in the server's process group")?;
        for pid in &pids {
            let _ = Command::new("kill").args(["-KILL", &pid.to_string()]).status();
        }
        self.stop();
        Ok(workerd)
    }

    /// The WebSocket URL of `room`.
    pub fn ws_url(&self, room: &str) -> String {
        format!("ws://127.0.0.1:{}/api/rooms/{room}/ws", self.port)
    }

    /// Opens a socket to `room` (not yet joined).
    pub async fn connect(&self, room: &str) -> Result<Client, String> {
        Client::connect(&self.ws_url(room), None).await
    }

    /// A socket to the inbox of the person with `key` (issue 11), not greeted yet.
    pub async fn connect_inbox(&self, key: &str) -> Result<Client, String> {
        let k = confab_shared::MemberKey::parse(key).map_err(|e| e.message)?;
        let inbox = confab_shared::inbox::inbox_id(&k);
        Client::connect(&format!("ws://127.0.0.1:{}/api/me/{inbox}/ws", self.port), None).await
    }

    /// A page of the person with `key` at their inbox: greeted with `hello`; returns the socket
    /// and the rooms the inbox answered.
    pub async fn open_inbox(&self, key: &str) -> Result<(Client, Vec<confab_shared::inbox::RoomCounts>), String> {
        use confab_shared::inbox::InboxEvent;
        let mut c = self.connect_inbox(key).await?;
        c.send_json(serde_json::json!({"type": "hello", "data": {"key": key}})).await?;
        let text = c.next_text(FRAME_WAIT).await?.ok_or("no answer to hello")?;
        match serde_json::from_str::<InboxEvent>(&text) {
            Ok(InboxEvent::Rooms { rooms }) => Ok((c, rooms)),
            other => Err(format!("not the rooms: {other:?}")),
        }
    }

    /// Opens a socket and joins as `name` with `key`; returns the client and its `welcome`.
    pub async fn join(&self, room: &str, name: &str, key: &str) -> Result<(Client, ServerFrame), String> {
        let mut c = self.connect(room).await?;
        c.send_json(serde_json::json!({"type": "join", "data": {"v": 2, "name": name, "key": key}})).await?;
        let welcome = c.expect("welcome", |f| matches!(f, ServerFrame::Welcome { .. })).await?;
        Ok((c, welcome))
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.stop();
    }
}

fn copy_dir(from: &Path, to: &Path) -> std::io::Result<()> {
    std::fs::create_dir_all(to)?;
    for entry in std::fs::read_dir(from)? {
        let entry = entry?;
        let target = to.join(entry.file_name());
        if entry.file_type()?.is_dir() {
            copy_dir(&entry.path(), &target)?;
        } else {
            std::fs::copy(entry.path(), target)?;
        }
    }
    Ok(())
}

/// A key of the right shape, distinct per `seed`.
pub fn key(seed: &str) -> String {
    format!("{seed:_<40}").replace(|c: char| !c.is_ascii_alphanumeric() && c != '_' && c != '-', "_")
}

/// A room name no other scenario uses.
pub fn unique_room(label: &str) -> String {
    use std::sync::atomic::{AtomicU32, Ordering};
    static N: AtomicU32 = AtomicU32::new(0);
    format!("{label}-{}-{}", std::process::id(), N.fetch_add(1, Ordering::Relaxed))
}

/// One WebSocket client.
pub struct Client {
    ws: WebSocketStream<MaybeTlsStream<TcpStream>>,
}

impl Client {
    /// Connects to `url`, sending `origin` as the `Origin` header if given.
    pub async fn connect(url: &str, origin: Option<&str>) -> Result<Self, String> {
        match origin {
            Some(o) => Self::connect_with(url, &[("Origin", o)]).await,
            None => Self::connect_with(url, &[]).await,
        }
    }

    /// Connects to `url` with extra request headers.
    pub async fn connect_with(url: &str, headers: &[(&str, &str)]) -> Result<Self, String> {
        let mut req = url.into_client_request().map_err(|e| e.to_string())?;
        for (name, value) in headers {
            let name = tokio_tungstenite::tungstenite::http::HeaderName::from_bytes(name.as_bytes())
                .map_err(|_| format!("bad header name {name}"))?;
            req.headers_mut().insert(name, value.parse().map_err(|_| format!("bad header value {value}"))?);
        }
        let (ws, _) = tokio::time::timeout(FRAME_WAIT, tokio_tungstenite::connect_async_with_config(req, None, true))
            .await
            .map_err(|_| format!("connecting to {url} timed out"))?
            .map_err(|e| format!("connecting to {url}: {e}"))?;
        Ok(Self { ws })
    }

    /// Sends a text message as is.
    pub async fn send_text(&mut self, text: &str) -> Outcome {
        self.ws.send(Message::text(text)).await.map_err(|e| format!("send failed: {e}"))
    }

    /// Sends a JSON value as a text frame.
    pub async fn send_json(&mut self, v: serde_json::Value) -> Outcome {
        self.send_text(&v.to_string()).await
    }

    /// Sends a binary frame.
    pub async fn send_binary(&mut self, bytes: Vec<u8>) -> Outcome {
        self.ws.send(Message::binary(bytes)).await.map_err(|e| format!("send failed: {e}"))
    }

    /// `send {client_id, text}`.
    pub async fn say(&mut self, client_id: &str, text: &str) -> Outcome {
        self.send_json(serde_json::json!({"type": "send", "data": {"client_id": client_id, "text": text}})).await
    }

    /// The next text message, raw, within `wait`; `None` if nothing came.
    pub async fn next_text(&mut self, wait: Duration) -> Result<Option<String>, String> {
        let deadline = tokio::time::Instant::now() + wait;
        loop {
            match tokio::time::timeout_at(deadline, self.ws.next()).await {
                Err(_) => return Ok(None),
                Ok(None) => return Err("the socket closed".into()),
                Ok(Some(Err(e))) => return Err(format!("socket error: {e}")),
                Ok(Some(Ok(Message::Text(t)))) => return Ok(Some(t.to_string())),
                Ok(Some(Ok(Message::Close(c)))) => return Err(format!("the room closed the socket: {c:?}")),
                Ok(Some(Ok(_))) => continue,
            }
        }
    }

    /// The next frame from the room within [`FRAME_WAIT`].
    pub async fn next_frame(&mut self) -> Result<ServerFrame, String> {
        let text = self.next_text(FRAME_WAIT).await?.ok_or("no frame arrived in time")?;
        ServerFrame::parse(&text).map_err(|e| format!("unreadable frame {text}: {}", e.message))
    }

    /// Skips frames until one matches `want` (described by `what` in the error).
    pub async fn expect(&mut self, what: &str, want: impl Fn(&ServerFrame) -> bool) -> Result<ServerFrame, String> {
        let mut skipped = Vec::new();
        let deadline = Instant::now() + FRAME_WAIT;
        while Instant::now() < deadline {
            let f = self.next_frame().await.map_err(|e| format!("waiting for {what}: {e}; skipped {skipped:?}"))?;
            if want(&f) {
                return Ok(f);
            }
            skipped.push(f);
        }
        Err(format!("no {what} within {FRAME_WAIT:?}; skipped {skipped:?}"))
    }

    /// Reads and discards frames until none arrives for `quiet`; returns how many it read.
    pub async fn drain(&mut self, quiet: Duration) -> Result<usize, String> {
        let mut n = 0;
        while self.next_text(quiet).await?.is_some() {
            n += 1;
        }
        Ok(n)
    }

    /// Fails if any frame arrives within `wait`.
    pub async fn expect_silence(&mut self, wait: Duration) -> Outcome {
        match self.next_text(wait).await? {
            None => Ok(()),
            Some(t) => Err(format!("expected nothing, got {t}")),
        }
    }

    /// Closes the socket with a normal close frame.
    pub async fn close(mut self) {
        let _ = self.ws.close(None).await;
    }

    /// Whether the room has closed the socket: `Some(code)` once a close frame arrived.
    /// Reads (and drops) whatever comes first, for at most `wait`.
    pub async fn closed_within(&mut self, wait: Duration) -> Option<u16> {
        let deadline = tokio::time::Instant::now() + wait;
        loop {
            match tokio::time::timeout_at(deadline, self.ws.next()).await {
                Err(_) => return None,
                Ok(None) | Ok(Some(Err(_))) => return Some(1006),
                Ok(Some(Ok(Message::Close(c)))) => return Some(c.map_or(1005, |c| c.code.into())),
                Ok(Some(Ok(_))) => continue,
            }
        }
    }

    /// Drops the TCP connection without a close frame (a crashed tab, a lost network).
    pub fn cut(self) {
        drop(self.ws);
    }

    /// Waits for the room to close the socket; returns the close code.
    pub async fn expect_close(&mut self) -> Result<Option<u16>, String> {
        let deadline = tokio::time::Instant::now() + FRAME_WAIT;
        loop {
            match tokio::time::timeout_at(deadline, self.ws.next()).await {
                Err(_) => return Err("the socket stayed open".into()),
                Ok(None) | Ok(Some(Err(_))) => return Ok(None),
                Ok(Some(Ok(Message::Close(c)))) => return Ok(c.map(|c| c.code.into())),
                Ok(Some(Ok(_))) => continue,
            }
        }
    }
}

/// One HTTP/1.1 request to 127.0.0.1:`port`; returns the status and the body.
pub async fn http(port: u16, method: &str, path: &str, headers: &[(&str, &str)]) -> Result<(u16, String), String> {
    http_full(port, method, path, headers).await.map(|(status, _, body)| (status, body))
}

/// As [`http`], also returning the response headers (lowercased names, as `name: value` lines).
pub async fn http_full(
    port: u16,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
) -> Result<(u16, String, String), String> {
    http_send(port, method, path, headers, "").await
}

/// An HTTP request with a body: `(status, headers, body)`.
pub async fn http_send(
    port: u16,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &str,
) -> Result<(u16, String, String), String> {
    let work = async {
        let mut s = TcpStream::connect(("127.0.0.1", port)).await.map_err(|e| e.to_string())?;
        let mut req = format!(
            "{method} {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nConnection: close\r\nContent-Length: {}\r\n",
            body.len()
        );
        for (k, v) in headers {
            req.push_str(&format!("{k}: {v}\r\n"));
        }
        req.push_str("\r\n");
        req.push_str(body);
        s.write_all(req.as_bytes()).await.map_err(|e| e.to_string())?;
        let mut raw = Vec::new();
        s.read_to_end(&mut raw).await.map_err(|e| e.to_string())?;
        let text = String::from_utf8_lossy(&raw).to_string();
        let (head, body) = text.split_once("\r\n\r\n").ok_or("no header end")?;
        let status = head.split_whitespace().nth(1).and_then(|s| s.parse().ok()).ok_or("no status")?;
        let chunked = head.to_ascii_lowercase().contains("transfer-encoding: chunked");
        let head_lines: Vec<String> = head
            .lines()
            .skip(1)
            .map(|l| match l.split_once(':') {
                Some((k, v)) => format!("{}: {}", k.trim().to_ascii_lowercase(), v.trim()),
                None => l.to_owned(),
            })
            .collect();
        Ok((status, head_lines.join("\n"), if chunked { dechunk(body) } else { body.to_string() }))
    };
    tokio::time::timeout(Duration::from_secs(10), work).await.map_err(|_| "HTTP request timed out".to_string())?
}

fn dechunk(mut body: &str) -> String {
    let mut out = String::new();
    while let Some((size, rest)) = body.split_once("\r\n") {
        let Ok(n) = usize::from_str_radix(size.trim(), 16) else { break };
        if n == 0 || rest.len() < n {
            break;
        }
        out.push_str(&rest[..n]);
        body = rest[n..].trim_start_matches("\r\n");
    }
    out
}

/// A named scenario.
pub type Scenario<'a> = (&'static str, Pin<Box<dyn Future<Output = Outcome> + 'a>>);

/// Runs scenarios in order, each within `limit`, printing `ok`/`FAILED` per scenario; returns
/// whether all passed.
pub async fn run(scenarios: Vec<Scenario<'_>>, limit: Duration) -> bool {
    let total = scenarios.len();
    let mut failed = Vec::new();
    println!("\nrunning {total} scenarios");
    for (name, fut) in scenarios {
        let started = Instant::now();
        let result = match tokio::time::timeout(limit, fut).await {
            Ok(r) => r,
            Err(_) => Err(format!("timed out after {limit:?}")),
        };
        match result {
            Ok(()) => println!("scenario {name} ... ok ({:.1} s)", started.elapsed().as_secs_f64()),
            Err(e) => {
                println!("scenario {name} ... FAILED\n    {e}");
                failed.push(name);
            }
        }
    }
    println!(
        "\nscenario result: {}. {} passed; {} failed\n",
        if failed.is_empty() { "ok" } else { "FAILED" },
        total - failed.len(),
        failed.len()
    );
    failed.is_empty()
}

/// Fails with `msg` unless `cond`.
pub fn ensure(cond: bool, msg: impl Into<String>) -> Outcome {
    if cond {
        Ok(())
    } else {
        Err(msg.into())
    }
}

/// Milliseconds since the Unix epoch (the engine's clock).
pub fn epoch_ms() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_millis() as u64)
}

/// A member driven by the page's own delivery engine ([`confab_frontend::engine::Engine`]):
/// the same resume, heartbeat, backoff and outbox rules, over tokio-tungstenite.
pub mod engine_client {
    use super::*;
    use confab_frontend::engine::{Engine, Out};
    use confab_frontend::state::RoomView;
    use confab_shared::{MemberKey, UserName};

    /// One message to send `at_ms` after the start.
    pub struct Planned {
        /// Delay from the start.
        pub at_ms: u64,
        /// Its client id.
        pub client_id: String,
        /// Its text.
        pub text: String,
    }

    /// How a run ended.
    pub struct Report {
        /// The view at the end.
        pub view: RoomView,
        /// Sockets opened (1 + reconnects).
        pub connects: u32,
    }

    /// Runs a member until it has sent its whole plan, every message is acknowledged and it
    /// holds `expect_total` messages; fails at `deadline_ms` (epoch).
    pub async fn run(
        url: String,
        name: &str,
        plan: Vec<Planned>,
        expect_total: usize,
        deadline_ms: u64,
        seed: u64,
    ) -> Result<Report, String> {
        run_from(RoomView::default(), url, name, plan, expect_total, deadline_ms, seed).await
    }

    /// As [`run`], starting from a view kept from an earlier run (a page coming back).
    pub async fn run_from(
        mut view: RoomView,
        url: String,
        name: &str,
        plan: Vec<Planned>,
        expect_total: usize,
        deadline_ms: u64,
        seed: u64,
    ) -> Result<Report, String> {
        let name_v = UserName::parse(name).map_err(|e| e.message)?;
        let key_v = MemberKey::parse(&key(name)).map_err(|e| e.message)?;
        let mut engine = Engine::new(name_v, key_v);
        let mut rng = seed | 1;
        let mut random = move || {
            rng ^= rng << 13;
            rng ^= rng >> 7;
            rng ^= rng << 17;
            (rng % 1_000_000) as f64 / 1_000_000.0
        };
        let mut ws: Option<WebSocketStream<MaybeTlsStream<TcpStream>>> = None;
        let mut todo = engine.start();
        let start = epoch_ms();
        let mut next = 0;
        let mut connects = 0;
        loop {
            while !todo.is_empty() {
                let mut more = Vec::new();
                for out in std::mem::take(&mut todo) {
                    match out {
                        Out::Open => {
                            ws = None;
                            let attempt = tokio::time::timeout(
                                Duration::from_secs(5),
                                tokio_tungstenite::connect_async_with_config(url.as_str(), None, true),
                            )
                            .await;
                            match attempt {
                                Ok(Ok((s, _))) => {
                                    connects += 1;
                                    ws = Some(s);
                                    more.extend(engine.on_open(&view, epoch_ms()));
                                }
                                _ => more.extend(engine.on_closed(epoch_ms(), random())),
                            }
                        }
                        Out::Send(t) => {
                            if let Some(s) = ws.as_mut() {
                                if s.send(Message::text(t)).await.is_err() {
                                    ws = None;
                                    more.extend(engine.on_closed(epoch_ms(), random()));
                                }
                            }
                        }
                        Out::Close => ws = None,
                    }
                }
                todo = more;
            }
            // A resume after a long outage can be a gap (the room then sends a fresh view of the
            // newest 50, with `gap` and `older`): page back, as the page does on scrolling up.
            if view.has_more && !view.loading_older {
                todo = engine.load_older(&mut view);
                if !todo.is_empty() {
                    continue;
                }
            }
            let now = epoch_ms();
            if next == plan.len() && view.outbox.is_empty() && view.messages.len() >= expect_total {
                return Ok(Report { view, connects });
            }
            if now > deadline_ms {
                return Err(format!(
                    "{name}: sent {next}/{}, {} unacked, holds {}/{expect_total} messages, link {:?}",
                    plan.len(),
                    view.outbox.len(),
                    view.messages.len(),
                    engine.link()
                ));
            }
            let plan_due = plan.get(next).map(|p| start + p.at_ms);
            let wake = [engine.next_wake(), plan_due, Some(now + 1_000)].into_iter().flatten().min().unwrap_or(now);
            let sleep = tokio::time::sleep(Duration::from_millis(wake.saturating_sub(now)));
            let incoming = async {
                match ws.as_mut() {
                    Some(s) => s.next().await,
                    None => std::future::pending().await,
                }
            };
            tokio::select! {
                msg = incoming => {
                    let now = epoch_ms();
                    match msg {
                        Some(Ok(Message::Text(t))) => todo = engine.on_text(&mut view, &t, now),
                        Some(Ok(Message::Close(_))) | Some(Err(_)) | None => {
                            ws = None;
                            todo = engine.on_closed(now, random());
                        }
                        Some(Ok(_)) => {}
                    }
                }
                _ = sleep => {
                    let now = epoch_ms();
                    todo = engine.on_tick(&mut view, now, random());
                    while plan.get(next).is_some_and(|p| start + p.at_ms <= now) {
                        let p = &plan[next];
                        todo.extend(engine.send(&mut view, p.client_id.clone(), p.text.clone(), now));
                        next += 1;
                    }
                }
            }
        }
    }
}

/// The `main` of every integration-test file: starts a `wrangler dev` (`label`, `vars`,
/// wrangler's `log_level`), runs `body` against it, stops it — also when `body` fails — and
/// exits non-zero unless `body` returned true.
pub fn harness<F>(label: &str, vars: &[(&str, &str)], log_level: &str, body: F) -> !
where
    F: for<'a> FnOnce(&'a mut Server) -> Pin<Box<dyn Future<Output = bool> + 'a>>,
{
    let rt =
        tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().expect("a tokio runtime");
    let ok = rt.block_on(async {
        let mut server = match Server::start_with(label, vars, log_level).await {
            Ok(s) => s,
            Err(e) => {
                eprintln!("could not start wrangler dev: {e}");
                return false;
            }
        };
        let ok = body(&mut server).await;
        server.stop();
        ok
    });
    std::process::exit(if ok { 0 } else { 1 });
}

/// Whether `f` says `name` joined: `member_joined`, or a batched `presence` frame.
pub fn says_joined(f: &ServerFrame, name: &str) -> bool {
    match f {
        ServerFrame::MemberJoined(m) => m.name == name,
        ServerFrame::Presence { joined, .. } => joined.iter().any(|m| m.name == name),
        _ => false,
    }
}

/// Whether `f` says `name` left: `member_left`, or a batched `presence` frame.
pub fn says_left(f: &ServerFrame, name: &str) -> bool {
    match f {
        ServerFrame::MemberLeft(m) => m.name == name,
        ServerFrame::Presence { left, .. } => left.iter().any(|m| m.name == name),
        _ => false,
    }
}
