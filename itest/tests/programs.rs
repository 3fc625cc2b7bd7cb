//! The programs shipped in the repository, run as built, against `wrangler dev`: the terminal
//! client (`confab bot`, `confab say`, `confab tail` through a server restart), the feeder
//! (readings on stdin become bot messages over HTTP) and the mention bot (answers through the
//! webhook, plainly and streamed). `scripts/test.sh` builds them first (debug).

use confab_itest::*;
use confab_shared::ServerFrame;
use std::path::PathBuf;
use std::process::Stdio;
use std::time::Duration;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::process::{Child, Command};
use tokio::sync::mpsc;

/// A built program of the workspace.
fn program(name: &str) -> Result<PathBuf, String> {
    let dir = std::env::var_os("CARGO_TARGET_DIR").map_or_else(|| root().join("target"), PathBuf::from);
    let path = dir.join("debug").join(name);
    if path.exists() {
        Ok(path)
    } else {
        Err(format!(
            "{} is not built: cargo build -p confab-cli -p confab-feeder -p confab-mention-bot",
            path.display()
        ))
    }
}

fn command(name: &str, s: &Server, home: &std::path::Path) -> Result<Command, String> {
    let mut c = Command::new(program(name)?);
    c.env("CONFAB_SERVER", format!("http://127.0.0.1:{}", s.port))
        .env("CONFAB_HOME", home)
        .kill_on_drop(true)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    Ok(c)
}

/// Lines a child prints, as they come.
fn lines(child: &mut Child) -> mpsc::UnboundedReceiver<String> {
    let (tx, rx) = mpsc::unbounded_channel();
    if let Some(out) = child.stdout.take() {
        tokio::spawn(async move {
            let mut r = BufReader::new(out).lines();
            while let Ok(Some(l)) = r.next_line().await {
                let _ = tx.send(l);
            }
        });
    }
    rx
}

/// Waits for a line containing `what`; returns the lines printed before it.
async fn line_with(
    rx: &mut mpsc::UnboundedReceiver<String>,
    what: &str,
    wait: Duration,
) -> Result<Vec<String>, String> {
    let find = async {
        let mut before = Vec::new();
        while let Some(l) = rx.recv().await {
            if l.contains(what) {
                return Ok(before);
            }
            before.push(l);
        }
        Err(format!("the program ended before printing {what:?}: {before:?}"))
    };
    tokio::time::timeout(wait, find).await.map_err(|_| format!("no line with {what:?} within {wait:?}"))?
}

async fn output(mut c: Command) -> Result<(bool, String, String), String> {
    let out = tokio::time::timeout(Duration::from_secs(30), c.output())
        .await
        .map_err(|_| "the program took over 30 s")?
        .map_err(|e| e.to_string())?;
    Ok((
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).trim().to_owned(),
        String::from_utf8_lossy(&out.stderr).trim().to_owned(),
    ))
}

async fn the_terminal_client_posts_tails_and_resumes_through_a_restart(s: &mut Server) -> Outcome {
    let home = tempdir("cli")?;
    let room = unique_room("cli");
    // The client's identity, made on first use, owns the room (first member): it makes a bot.
    let mut c = command("confab", s, &home)?;
    c.args(["bot", &room, "deploys", "--name", "op"]);
    let (ok, token, err) = output(c).await?;
    ensure(ok && token.starts_with("cb_"), format!("confab bot: {ok} {token} {err}"))?;
    let (mut watcher, _) = s.join(&room, "watcher", &key("watcher")).await?;
    let mut c = command("confab", s, &home)?;
    c.args(["say", &room, "hello", "from", "a", "terminal", "--name", "op"]);
    let (ok, _, err) = output(c).await?;
    ensure(ok, format!("confab say: {err}"))?;
    let f = watcher.expect("the post", |f| matches!(f, ServerFrame::Message(_))).await?;
    ensure(
        matches!(&f, ServerFrame::Message(m) if m.text == "hello from a terminal" && m.author == "op"),
        format!("{f:?}"),
    )?;
    // tail: what is said appears; after the server restarts it resumes, nothing twice.
    let mut c = command("confab", s, &home)?;
    c.args(["tail", &room, "--name", "op"]);
    let mut tail = c.spawn().map_err(|e| e.to_string())?;
    let mut out = lines(&mut tail);
    line_with(&mut out, "hello from a terminal", Duration::from_secs(10)).await?;
    watcher.say("w1", "before the restart").await?;
    line_with(&mut out, "watcher: before the restart", Duration::from_secs(10)).await?;
    s.start_again_same_port().await?;
    let (mut watcher, _) = s.join(&room, "watcher", &key("watcher")).await?;
    watcher.say("w2", "after the restart").await?;
    let between = line_with(&mut out, "after the restart", Duration::from_secs(30)).await;
    let _ = tail.start_kill();
    let between = between?;
    // The resume prints only what is new: the room's header again, nothing said before.
    ensure(
        !between.iter().any(|l| l.contains("before the restart") || l.contains("hello")),
        format!("printed twice: {between:?}"),
    )
}

async fn the_feeder_and_the_mention_bot(s: &Server) -> Outcome {
    let home = tempdir("bots")?;
    let room = unique_room("feed");
    let mut c = command("confab", s, &home)?;
    c.args(["bot", &room, "sensor", "--name", "op"]);
    let (ok, sensor, err) = output(c).await?;
    ensure(ok, format!("bot sensor: {err}"))?;
    let mut c = command("confab", s, &home)?;
    c.args(["bot", &room, "helper", "--name", "op"]);
    let (ok, helper, err) = output(c).await?;
    ensure(ok, format!("bot helper: {err}"))?;
    let (mut w, _) = s.join(&room, "watcher", &key("watcher")).await?;
    // Three readings on stdin: three messages from the sensor bot.
    let mut feeder = command("confab-feeder", s, &home)?;
    feeder.arg(&room).env("CONFAB_BOT_TOKEN", &sensor).stdin(Stdio::piped());
    let mut child = feeder.spawn().map_err(|e| e.to_string())?;
    let mut stdin = child.stdin.take().ok_or("no stdin")?;
    stdin.write_all(b"21.5 C\n\n21.7 C\n22.0 C\n").await.map_err(|e| e.to_string())?;
    drop(stdin);
    let status = tokio::time::timeout(Duration::from_secs(30), child.wait()).await.map_err(|_| "feeder hung")?;
    ensure(status.is_ok_and(|s| s.success()), "the feeder exits 0 at the end of its input")?;
    for want in ["21.5 C", "21.7 C", "22.0 C"] {
        let f = w.expect("a reading", |f| matches!(f, ServerFrame::Message(_))).await?;
        ensure(
            matches!(&f, ServerFrame::Message(m) if m.bot && m.author == "sensor" && m.text == want),
            format!("{f:?}"),
        )?;
    }
    // The mention bot, plain: its answer is the reply.
    let port = free_port().to_string();
    let mut bot = command("confab-mention-bot", s, &home)?;
    bot.args([&room, "--listen", &format!("127.0.0.1:{port}")]).env("CONFAB_BOT_TOKEN", &helper);
    let mut plain = bot.spawn().map_err(|e| e.to_string())?;
    wait_listening(&port).await?;
    w.say("m1", "@helper what time is it?").await?;
    let f = w.expect("the bot's answer", |f| matches!(f, ServerFrame::Message(m) if m.bot)).await?;
    let _ = plain.start_kill();
    ensure(
        matches!(&f, ServerFrame::Message(m) if m.text.starts_with("It is ") && m.reply_to.is_some()),
        format!("{f:?}"),
    )?;
    // Streamed: the answer opens, grows chunk by chunk, and finishes.
    let port = free_port().to_string();
    let mut bot = command("confab-mention-bot", s, &home)?;
    bot.args([&room, "--stream", "--listen", &format!("127.0.0.1:{port}")]).env("CONFAB_BOT_TOKEN", &helper);
    let mut streaming = bot.spawn().map_err(|e| e.to_string())?;
    wait_listening(&port).await?;
    w.say("m2", "@helper hi").await?;
    let f = w.expect("the stream", |f| matches!(f, ServerFrame::Message(m) if m.bot)).await?;
    ensure(matches!(&f, ServerFrame::Message(m) if m.streaming), format!("{f:?}"))?;
    let mut chunks = 0;
    loop {
        match w.next_frame().await? {
            ServerFrame::Appended { .. } => chunks += 1,
            ServerFrame::Finished { .. } => break,
            _ => {}
        }
    }
    let _ = streaming.start_kill();
    ensure(chunks >= 3, format!("{chunks} chunks"))
}

/// Waits until something listens on the port (the bot has registered its webhook first).
async fn wait_listening(port: &str) -> Outcome {
    for _ in 0..100 {
        if tokio::net::TcpStream::connect(format!("127.0.0.1:{port}")).await.is_ok() {
            tokio::time::sleep(Duration::from_millis(100)).await;
            return Ok(());
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    Err(format!("nothing listens on {port}"))
}

fn tempdir(label: &str) -> Result<PathBuf, String> {
    let dir = std::env::temp_dir().join(format!("confab-itest-{label}-{}-{}", std::process::id(), epoch_ms()));
    std::fs::create_dir_all(&dir).map_err(|e| e.to_string())?;
    Ok(dir)
}

fn main() {
    harness("programs", &[("ALLOW_PRIVATE_WEBHOOKS", "1")], "log", |server| {
        Box::pin(async move {
            let first = run(
                vec![(
                    "the_terminal_client_posts_tails_and_resumes_through_a_restart",
                    Box::pin(the_terminal_client_posts_tails_and_resumes_through_a_restart(server)),
                )],
                Duration::from_secs(120),
            )
            .await;
            let second = run(
                vec![("the_feeder_and_the_mention_bot", Box::pin(the_feeder_and_the_mention_bot(server)))],
                Duration::from_secs(120),
            )
            .await;
            first && second
        })
    })
}
