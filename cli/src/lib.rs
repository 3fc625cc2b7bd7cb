//! `confab`, the terminal client: a driver for the page's own delivery engine
//! (`confab_frontend::engine`) over tokio-tungstenite, so the terminal joins, resumes after a
//! drop (`since` + `epoch`), resends unacknowledged posts with their `client_id` and backs off
//! exactly as the page does; and [`Printer`], which turns the room's frames into lines.
//!
//! Everything that decides something is pure and tested here ([`ws_url`], [`Printer`]); the
//! loop in [`run`] only moves bytes and time.

use confab_frontend::engine::{Engine, Link, Out};
use confab_frontend::state::RoomView;
use confab_shared::{Action, ChatMessage, MemberKey, RoomName, Seq, ServerFrame, UserName};
use futures_util::{SinkExt, StreamExt};
use std::collections::HashMap;
use std::time::{Duration, SystemTime, UNIX_EPOCH};
use tokio_tungstenite::tungstenite::Message;

/// The server the CLI talks to unless told otherwise (`make dev`).
pub const DEFAULT_SERVER: &str = "http://127.0.0.1:8787";

/// The room's WebSocket URL on `server` (`http(s)://host[:port]`, as the page is served).
pub fn ws_url(server: &str, room: &RoomName) -> Result<String, String> {
    let server = server.trim_end_matches('/');
    let base = if let Some(rest) = server.strip_prefix("https://") {
        format!("wss://{rest}")
    } else if let Some(rest) = server.strip_prefix("http://") {
        format!("ws://{rest}")
    } else {
        return Err(format!("the server is http://… or https://…, not {server}"));
    };
    Ok(format!("{base}/api/rooms/{room}/ws"))
}

/// Milliseconds since the Unix epoch.
pub fn now_ms() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_millis() as u64)
}

/// A random key for a new identity: 40 characters the room accepts as a member key.
pub fn new_key() -> String {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
    let mut bytes = [0u8; 40];
    if getrandom::getrandom(&mut bytes).is_err() {
        // No OS randomness is a broken machine; a time-seeded key still works, just guessable.
        let t = now_ms();
        for (i, b) in bytes.iter_mut().enumerate() {
            *b = (t >> (i % 8 * 8)) as u8 ^ (i as u8).wrapping_mul(37);
        }
    }
    bytes.iter().map(|b| char::from(ALPHABET[usize::from(*b) % ALPHABET.len()])).collect()
}

/// A random `client_id`.
pub fn new_client_id() -> String {
    format!("cli-{}", &new_key()[..16])
}

/// Messages whose printed state [`Printer`] remembers.
const TRACKED: usize = 2_000;

/// Turns the room's frames into terminal lines. A streamed answer grows on its own line while
/// nothing else is printed; anything else first ends that line.
#[derive(Debug, Default)]
pub struct Printer {
    /// The newest message id printed: a resume prints only what is newer, and changes to the
    /// older ones as changes.
    printed_to: Seq,
    /// Authors by message id, for edits and chunks.
    authors: HashMap<Seq, String>,
    /// What was printed of each message (text, still streaming, deleted), to tell on a resume
    /// what changed meanwhile. The newest [`TRACKED`] only.
    shown: std::collections::BTreeMap<Seq, (String, bool, bool)>,
    /// The streamed message whose line is open (its chunks are printed as they come).
    open: Option<Seq>,
    welcomed: bool,
}

impl Printer {
    /// What to write for `frame` (lines end with `\n`, except an open stream's).
    pub fn print(&mut self, frame: &ServerFrame) -> String {
        let mut out = String::new();
        match frame {
            ServerFrame::Batch(frames) => {
                for f in frames {
                    out.push_str(&self.print(f));
                }
            }
            ServerFrame::Welcome { room, messages, settings, members, gap, reset, .. } => {
                if !self.welcomed || *reset {
                    self.welcomed = true;
                    let topic =
                        if settings.topic.is_empty() { String::new() } else { format!(" — {}", settings.topic) };
                    self.line(&mut out, &format!("# {room}{topic} ({} here)", members.len()));
                } else if *gap {
                    self.line(&mut out, "… (more was said than fits; showing the newest)");
                }
                if *reset {
                    self.printed_to = 0;
                }
                for m in messages {
                    if m.id > self.printed_to {
                        self.message(&mut out, m);
                    } else {
                        self.changed_meanwhile(&mut out, m);
                    }
                }
            }
            ServerFrame::Message(m) => self.message(&mut out, m),
            ServerFrame::History { .. } => {}
            ServerFrame::Edited { id, text, .. } => {
                let who = self.authors.get(id).cloned().unwrap_or_else(|| format!("#{id}"));
                self.line(&mut out, &format!("  ✎ #{id} {who}: {text}"));
                if let Some(s) = self.shown.get_mut(id) {
                    s.0 = text.clone();
                }
            }
            ServerFrame::Deleted { id, removed, .. } => {
                self.line(&mut out, &format!("  ✗ #{id} {}", gone(*removed)));
                if let Some(s) = self.shown.get_mut(id) {
                    *s = (String::new(), false, true);
                }
            }
            ServerFrame::Appended { id, text, .. } => {
                if let Some(s) = self.shown.get_mut(id) {
                    s.0.push_str(text);
                }
                if self.open == Some(*id) {
                    out.push_str(text);
                } else {
                    let who = self.authors.get(id).cloned().unwrap_or_else(|| format!("#{id}"));
                    self.line(&mut out, &format!("  … {who} (#{id}): {text}"));
                }
            }
            ServerFrame::Finished { id, .. } => {
                if let Some(s) = self.shown.get_mut(id) {
                    s.1 = false;
                }
                if self.open == Some(*id) {
                    out.push('\n');
                    self.open = None;
                }
            }
            ServerFrame::Moderated(e) => {
                let target = e.target.as_ref().map_or(String::new(), |t| format!(" {}", t.name));
                let what = match &e.action {
                    Action::Mute { minutes: 0, .. } => format!("unmuted{target}"),
                    Action::Mute { minutes, .. } => format!("muted{target} for {minutes} min"),
                    Action::Ban { .. } => format!("banned{target}"),
                    Action::Unban { .. } => format!("unbanned{target}"),
                    Action::SlowMode { seconds: 0 } => "turned slow mode off".into(),
                    Action::SlowMode { seconds } => format!("set slow mode to {seconds} s"),
                    Action::Topic { text } => format!("set the topic: {text}"),
                    Action::InviteOnly { on } => format!("made the room {}", if *on { "invite-only" } else { "open" }),
                    Action::SetRole { role, .. } => format!("made{target} a {role:?}").to_lowercase(),
                    Action::CreateBot { name, .. } => format!("added the bot {name}"),
                    Action::RevokeBot { .. } => format!("revoked the bot{target}"),
                    Action::CreateInvite { .. } => "made an invite link".into(),
                    Action::RevokeInvite { .. } => "revoked an invite link".into(),
                    Action::Remove { id } => format!("removed #{id}"),
                };
                self.line(&mut out, &format!("  ⚑ {} {what}", e.by.name));
            }
            ServerFrame::Error { code, message, .. } => self.line(&mut out, &format!("  ! {code}: {message}")),
            ServerFrame::MemberJoined(_)
            | ServerFrame::MemberLeft(_)
            | ServerFrame::Presence { .. }
            | ServerFrame::Typing(_)
            | ServerFrame::Reactions { .. }
            | ServerFrame::Ack { .. }
            | ServerFrame::BotCreated { .. }
            | ServerFrame::Audit { .. } => {}
        }
        out
    }

    /// A message printed before a resume, as it is now: what changed while away is printed
    /// (a stream that grew or ended shows its whole text so far; one still under way goes on
    /// growing on its line).
    fn changed_meanwhile(&mut self, out: &mut String, m: &ChatMessage) {
        let now = (m.text.clone(), m.streaming, m.deleted);
        let Some(before) = self.shown.get(&m.id).cloned() else { return };
        if before == now {
            return;
        }
        self.shown.insert(m.id, now);
        if m.deleted {
            self.line(out, &format!("  ✗ #{} {}", m.id, gone(m.removed)));
        } else if before.1 {
            self.end_open(out);
            out.push_str(&format!("  … {} (#{}): {}", m.author, m.id, m.text));
            if m.streaming {
                self.open = Some(m.id);
            } else {
                out.push('\n');
            }
        } else {
            self.line(out, &format!("  ✎ #{} {}: {}", m.id, m.author, m.text));
        }
    }

    fn message(&mut self, out: &mut String, m: &ChatMessage) {
        self.printed_to = self.printed_to.max(m.id);
        self.authors.insert(m.id, m.author.clone());
        self.shown.insert(m.id, (m.text.clone(), m.streaming, m.deleted));
        while self.shown.len() > TRACKED {
            self.shown.pop_first();
        }
        let badge = if m.bot { " [bot]" } else { "" };
        let reply = m.reply_to.as_ref().map_or(String::new(), |q| format!(" ↪ {}: “{}”", q.author, q.excerpt));
        let body = if m.deleted { gone(m.removed).to_owned() } else { m.text.clone() };
        let head = format!("[{}] {}{badge}:{reply} {body}", clock(m.ts), m.author);
        if m.streaming {
            self.end_open(out);
            out.push_str(&head);
            self.open = Some(m.id);
        } else {
            self.line(out, &head);
        }
    }

    fn line(&mut self, out: &mut String, text: &str) {
        self.end_open(out);
        out.push_str(text);
        out.push('\n');
    }

    fn end_open(&mut self, out: &mut String) {
        if self.open.take().is_some() {
            out.push_str(" …\n");
        }
    }
}

fn gone(removed: bool) -> &'static str {
    if removed {
        "(removed by a moderator)"
    } else {
        "(deleted)"
    }
}

/// `HH:MM` (UTC) of a timestamp.
fn clock(ts: u64) -> String {
    let mins = ts / 60_000;
    format!("{:02}:{:02}", (mins / 60) % 24, mins % 60)
}

/// What the session is for.
pub enum Mode {
    /// Print the room until interrupted.
    Tail,
    /// Post `text` once, then end.
    Say(String),
}

/// Runs one member in one room: connects, joins, resumes and resends as the page does,
/// writing what [`Printer`] makes of each frame to `print`. `Say` ends when its post is
/// acknowledged (Ok) or refused for good (Err); `Tail` ends only on a refusal that retrying
/// cannot fix.
pub async fn run(
    url: &str,
    name: UserName,
    key: MemberKey,
    invite: Option<String>,
    mode: Mode,
    mut print: impl FnMut(&str),
) -> Result<(), String> {
    rustls_provider();
    let mut engine = Engine::new(name, key).with_invite(invite);
    // The room's own words for the last refusal, for when it ends the session.
    let mut refusal: Option<String> = None;
    let mut view = RoomView::default();
    let mut printer = Printer::default();
    let mut ws = None;
    let mut todo = engine.start_at(now_ms());
    let mut say = match mode {
        Mode::Say(text) => Some((new_client_id(), text, false)),
        Mode::Tail => None,
    };
    loop {
        while !todo.is_empty() {
            let mut more = Vec::new();
            for out in std::mem::take(&mut todo) {
                match out {
                    Out::Open => {
                        ws = None;
                        let attempt = tokio::time::timeout(
                            Duration::from_secs(10),
                            tokio_tungstenite::connect_async_with_config(url, None, true),
                        )
                        .await;
                        match attempt {
                            Ok(Ok((s, _))) => {
                                ws = Some(s);
                                more.extend(engine.on_open(&view, now_ms()));
                            }
                            _ => more.extend(engine.on_closed(now_ms(), jitter())),
                        }
                    }
                    Out::Send(t) => {
                        if let Some(s) = ws.as_mut() {
                            if s.send(Message::text(t)).await.is_err() {
                                ws = None;
                                more.extend(engine.on_closed(now_ms(), jitter()));
                            }
                        }
                    }
                    Out::Close => ws = None,
                }
            }
            todo = more;
        }
        match engine.link() {
            Link::Refused => {
                return Err(refusal.unwrap_or_else(|| "the room refused the join".into()));
            }
            Link::Outdated => return Err("the room speaks a newer protocol: update confab".into()),
            Link::Removed => return Err("you were removed from this room".into()),
            Link::Online => {
                if let Some((client_id, text, sent)) = say.as_mut() {
                    if !*sent {
                        *sent = true;
                        todo = engine.send(&mut view, client_id.clone(), text.clone(), now_ms());
                        continue;
                    }
                }
            }
            Link::Connecting | Link::Waiting { .. } => {}
        }
        if let Some((client_id, _, true)) = &say {
            if let Some(p) = view.outbox.iter().find(|p| p.client_id == *client_id) {
                if let Some(why) = &p.failed {
                    return Err(why.clone());
                }
            } else {
                return Ok(());
            }
        }
        let now = now_ms();
        let wake = engine.next_wake().unwrap_or(now + 1_000).min(now + 1_000);
        let sleep = tokio::time::sleep(Duration::from_millis(wake.saturating_sub(now)));
        let incoming = async {
            match ws.as_mut() {
                Some(s) => s.next().await,
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            msg = incoming => {
                let now = now_ms();
                match msg {
                    Some(Ok(Message::Text(t))) => {
                        for frame in ServerFrame::parse_all(&t).unwrap_or_default() {
                            if let ServerFrame::Error { code, message, .. } = &frame {
                                refusal = Some(format!("{code}: {message}"));
                            }
                            let quiet = say.is_some() && !matches!(frame, ServerFrame::Error { .. });
                            if !quiet {
                                print(&printer.print(&frame));
                            }
                        }
                        todo = engine.on_text(&mut view, &t, now);
                    }
                    Some(Ok(Message::Close(frame))) => {
                        ws = None;
                        todo = engine.on_close(now, frame.map(|f| u16::from(f.code)), jitter());
                    }
                    Some(Err(_)) | None => {
                        ws = None;
                        todo = engine.on_closed(now, jitter());
                    }
                    Some(Ok(_)) => {}
                }
            }
            _ = sleep => todo = engine.on_tick(&mut view, now_ms(), jitter()),
        }
    }
}

/// Makes a bot named `bot` in the room at `url` as `name` (who must own or moderate the
/// room) and returns its token, shown this once. One socket, no retries: a command to run
/// again if it fails.
pub async fn create_bot(url: &str, name: UserName, key: MemberKey, bot: &str) -> Result<String, String> {
    rustls_provider();
    let connect = tokio_tungstenite::connect_async_with_config(url, None, true);
    let (mut ws, _) = tokio::time::timeout(Duration::from_secs(10), connect)
        .await
        .map_err(|_| "the room did not answer in 10 s")?
        .map_err(|e| e.to_string())?;
    let join = confab_shared::ClientFrame::Join {
        v: confab_shared::limits::PROTOCOL_VERSION,
        name,
        key,
        since: None,
        epoch: None,
        invite: None,
        batch: false,
    };
    ws.send(Message::text(join.to_json())).await.map_err(|e| e.to_string())?;
    let client_id = new_client_id();
    let ask = serde_json::json!({"type": "moderate", "data": {"client_id": client_id,
        "action": {"kind": "create_bot", "name": bot}}});
    let answer = async {
        while let Some(msg) = ws.next().await {
            let Message::Text(t) = msg.map_err(|e| e.to_string())? else { continue };
            match ServerFrame::parse(&t).map_err(|e| e.message)? {
                ServerFrame::Welcome { .. } => {
                    ws.send(Message::text(ask.to_string())).await.map_err(|e| e.to_string())?
                }
                ServerFrame::BotCreated { token, .. } => return Ok(token),
                ServerFrame::Error { code, message, .. } => return Err(format!("{code}: {message}")),
                _ => {}
            }
        }
        Err("the room closed the connection".to_owned())
    };
    tokio::time::timeout(Duration::from_secs(10), answer).await.map_err(|_| "no answer in 10 s".to_owned())?
}

/// A number in [0, 1) for the engine's jittered backoff.
fn jitter() -> f64 {
    let mut b = [0u8; 4];
    let _ = getrandom::getrandom(&mut b);
    f64::from(u32::from_le_bytes(b)) / (f64::from(u32::MAX) + 1.0)
}

/// Installs the one crypto provider compiled in (for `wss://`); harmless when repeated.
fn rustls_provider() {
    let _ = rustls::crypto::ring::default_provider().install_default();
}

#[cfg(test)]
mod tests {
    use super::*;
    use confab_shared::{AuditEntry, Limits, Member, Role, RoomSettings};

    fn msg(id: Seq, author: &str, text: &str) -> ChatMessage {
        ChatMessage {
            id,
            version: id,
            member: 1,
            author: author.into(),
            text: text.into(),
            ts: 3_723_000,
            ..ChatMessage::default()
        }
    }

    fn welcome(messages: Vec<ChatMessage>) -> ServerFrame {
        ServerFrame::Welcome {
            protocol: 2,
            epoch: "e".into(),
            you: Member::new(1, "me"),
            room: "lobby".into(),
            members: vec![Member::new(1, "me")],
            messages,
            older: false,
            gap: false,
            reset: false,
            latest_seq: 9,
            limits: Limits::default(),
            settings: RoomSettings { topic: "be kind".into(), ..RoomSettings::default() },
            muted_until: None,
            slow_wait_ms: None,
        }
    }

    #[test]
    fn urls() {
        let lobby = RoomName::parse("lobby").unwrap();
        assert_eq!(ws_url("http://127.0.0.1:8787", &lobby).unwrap(), "ws://127.0.0.1:8787/api/rooms/lobby/ws");
        assert_eq!(ws_url("https://chat.example/", &lobby).unwrap(), "wss://chat.example/api/rooms/lobby/ws");
        assert!(ws_url("ftp://x", &lobby).is_err());
        let k = new_key();
        assert!(MemberKey::parse(&k).is_ok() && k != new_key());
    }

    #[test]
    fn a_resume_prints_only_what_is_new_and_changes_to_the_rest() {
        let mut p = Printer::default();
        let first = p.print(&welcome(vec![msg(1, "ann", "hi"), msg(2, "bob", "yo")]));
        assert_eq!(first, "# lobby — be kind (1 here)\n[01:02] ann: hi\n[01:02] bob: yo\n");
        let edited = ChatMessage { text: "hello".into(), edited_ts: Some(5), ..msg(1, "ann", "") };
        let deleted = ChatMessage { deleted: true, removed: true, text: String::new(), ..msg(2, "bob", "") };
        let again = p.print(&welcome(vec![edited, deleted, msg(3, "cy", "new")]));
        assert_eq!(again, "  ✎ #1 ann: hello\n  ✗ #2 (removed by a moderator)\n[01:02] cy: new\n");
    }

    #[test]
    fn a_stream_grows_on_its_line_until_something_else_is_said() {
        let mut p = Printer::default();
        let m = ChatMessage { bot: true, streaming: true, ..msg(4, "oracle", "The answer") };
        let mut out = p.print(&ServerFrame::Message(m));
        out += &p.print(&ServerFrame::Appended { seq: 5, id: 4, text: " is".into() });
        out += &p.print(&ServerFrame::Message(msg(6, "ann", "ooh")));
        out += &p.print(&ServerFrame::Appended { seq: 7, id: 4, text: " 42.".into() });
        out += &p.print(&ServerFrame::Finished { seq: 8, id: 4 });
        assert_eq!(out, "[01:02] oracle [bot]: The answer is …\n[01:02] ann: ooh\n  … oracle (#4):  42.\n");
        let by = Member { id: 1, name: "ann".into(), role: Role::Owner };
        let e = AuditEntry { seq: 9, ts: 0, by, action: Action::SlowMode { seconds: 10 }, target: None };
        assert_eq!(p.print(&ServerFrame::Moderated(e)), "  ⚑ ann set slow mode to 10 s\n");
    }

    #[test]
    fn a_resume_shows_what_a_stream_became_while_away() {
        let mut p = Printer::default();
        let open = ChatMessage { bot: true, streaming: true, ..msg(4, "oracle", "The answer") };
        let mut out = p.print(&welcome(vec![open.clone()]));
        // Away: the stream grew and finished. The resume's welcome holds it as it is now.
        let done = ChatMessage { streaming: false, text: "The answer is 42.".into(), ..open.clone() };
        out += &p.print(&welcome(vec![done.clone()]));
        assert!(out.ends_with("  … oracle (#4): The answer is 42.\n"), "{out:?}");
        // Nothing changed since: nothing printed.
        assert_eq!(p.print(&welcome(vec![done])), "");
        // Still under way at the resume: its line stays open for the rest.
        let mut q = Printer::default();
        q.print(&welcome(vec![open.clone()]));
        let grown = ChatMessage { text: "The answer is".into(), ..open };
        let mut out = q.print(&welcome(vec![grown]));
        out += &q.print(&ServerFrame::Appended { seq: 9, id: 4, text: " 42.".into() });
        out += &q.print(&ServerFrame::Finished { seq: 10, id: 4 });
        assert!(out.ends_with("  … oracle (#4): The answer is 42.\n"), "{out:?}");
    }
}
