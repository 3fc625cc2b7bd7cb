//! The frames. One WebSocket text message is one frame: `{"type": "...", "data": {...}}`.
//! `ClientFrame` goes from a browser to its room, `ServerFrame` from the room to browsers.

pub use crate::chat::{ChatMessage, Member, MemberId, Quote, Reaction};
use crate::error::{ErrorCode, ProtocolError};
#[allow(unused_imports)] // named in docs
use crate::limits::PROTOCOL_VERSION;
use crate::limits::{Limits, AUDIT_PAGE_MAX, FRAME_MAX_BYTES, HISTORY_PAGE_MAX, TEXT_MAX_CHARS};
pub use crate::moderation::{Action, AuditEntry, RoomSettings};
use crate::values::*;
use serde::{Deserialize, Serialize};

/// Sent by a browser to its room.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", content = "data", rename_all = "snake_case")]
#[serde(try_from = "RawClientFrame")]
pub enum ClientFrame {
    /// Must come first on every socket. Claims `name` with `key` (or proves it owns it).
    /// `since` is the last event `seq` the client has applied, from the room `epoch` it came
    /// from: the room then replays what changed after it.
    Join {
        /// Protocol version ([`PROTOCOL_VERSION`]); a room refuses versions it does not serve.
        v: u32,
        /// Display name.
        name: UserName,
        /// Secret that owns the name in this room.
        key: MemberKey,
        /// Resume point, if the client has seen events before.
        #[serde(skip_serializing_if = "Option::is_none")]
        since: Option<Seq>,
        /// The room epoch `since` belongs to (from `welcome`).
        #[serde(skip_serializing_if = "Option::is_none")]
        epoch: Option<String>,
        /// An invite link's code, for an invite-only room.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        invite: Option<String>,
        /// The client reads `batch` frames: under load the room may send it several frames
        /// as one (see [`ServerFrame::Batch`]). A client that does not say so gets every
        /// frame on its own.
        #[serde(default, skip_serializing_if = "std::ops::Not::not")]
        batch: bool,
    },
    /// A new message, optionally replying to one. `client_id` makes a resend harmless.
    Send {
        /// Unique per operation from this client.
        client_id: ClientId,
        /// What was typed.
        text: MessageText,
        /// The id of the message this one replies to.
        #[serde(skip_serializing_if = "Option::is_none")]
        reply_to: Option<Seq>,
        /// Bots: the message is the start of a streamed answer, extended by `append` until
        /// `finish`.
        #[serde(default, skip_serializing_if = "std::ops::Not::not")]
        streaming: bool,
    },
    /// Bots: the next chunk of a streamed message (appended to its text as is).
    Append {
        /// Unique per operation from this client.
        client_id: ClientId,
        /// The message's id.
        id: Seq,
        /// The chunk: 1 to 4000 characters, white space allowed, no control characters
        /// other than newline, carriage return and tab.
        text: String,
    },
    /// Bots: a streamed message is complete.
    Finish {
        /// Unique per operation from this client.
        client_id: ClientId,
        /// The message's id.
        id: Seq,
    },
    /// A moderation action (see [`Action`]); refused with `forbidden` without the right.
    Moderate {
        /// Unique per operation from this client.
        client_id: ClientId,
        /// What to do.
        action: Action,
    },
    /// Moderators: the audit trail, oldest first: entries with `seq < before`, at most `limit`.
    Audit {
        /// Exclusive upper bound (none: the newest).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        before: Option<Seq>,
        /// Page size (1–100).
        limit: u32,
    },
    /// Replaces the text of one of your messages.
    Edit {
        /// Unique per operation from this client.
        client_id: ClientId,
        /// The message's id.
        id: Seq,
        /// The new text.
        text: MessageText,
    },
    /// Deletes one of your messages (it stays as a tombstone).
    Delete {
        /// Unique per operation from this client.
        client_id: ClientId,
        /// The message's id.
        id: Seq,
    },
    /// Adds (`on: true`) or removes your reaction `emoji` on a message. Set semantics: adding
    /// one you have, or removing one you have not, changes nothing.
    React {
        /// Unique per operation from this client.
        client_id: ClientId,
        /// The message's id.
        id: Seq,
        /// The reaction.
        emoji: Emoji,
        /// Add or remove.
        on: bool,
    },
    /// "I am typing." The room relays it to the others at most once per 2 s per member.
    Typing {},
    /// Older messages: `id < before`, at most `limit` (1–100), newest last.
    History {
        /// Exclusive upper bound.
        before: Seq,
        /// Page size.
        limit: u32,
    },
}

/// [`ClientFrame`] as it arrives, before its values are validated. Kept private: the rest of
/// the code only ever sees a `ClientFrame`, whose values are valid by construction.
#[derive(Deserialize)]
#[serde(tag = "type", content = "data", rename_all = "snake_case")]
enum RawClientFrame {
    Join {
        /// A join without `v` is from a protocol 1 page.
        #[serde(default = "v1")]
        v: u32,
        name: String,
        key: String,
        #[serde(default)]
        since: Option<Seq>,
        #[serde(default)]
        epoch: Option<String>,
        #[serde(default)]
        invite: Option<String>,
        #[serde(default)]
        batch: bool,
    },
    Send {
        client_id: String,
        text: String,
        #[serde(default)]
        reply_to: Option<Seq>,
        #[serde(default)]
        streaming: bool,
    },
    Append {
        client_id: String,
        id: Seq,
        text: String,
    },
    Finish {
        client_id: String,
        id: Seq,
    },
    Moderate {
        client_id: String,
        action: Action,
    },
    Audit {
        #[serde(default)]
        before: Option<Seq>,
        #[serde(default = "default_audit_page")]
        limit: u32,
    },
    Edit {
        client_id: String,
        id: Seq,
        text: String,
    },
    Delete {
        client_id: String,
        id: Seq,
    },
    React {
        client_id: String,
        id: Seq,
        emoji: String,
        on: bool,
    },
    Typing {},
    History {
        before: Seq,
        #[serde(default = "default_page")]
        limit: u32,
    },
}

fn v1() -> u32 {
    1
}

fn default_audit_page() -> u32 {
    AUDIT_PAGE_MAX
}

fn default_page() -> u32 {
    crate::limits::WELCOME_MESSAGES
}

/// An epoch is the room's own token; anything longer than one is not one.
const EPOCH_MAX_LEN: usize = 64;

impl TryFrom<RawClientFrame> for ClientFrame {
    type Error = ProtocolError;

    fn try_from(raw: RawClientFrame) -> Result<Self, ProtocolError> {
        let cid = |s: &str| ClientId::parse(s);
        Ok(match raw {
            RawClientFrame::Join { v, name, key, since, epoch, invite, batch } => {
                // First: a page from another protocol must hear "reload", whatever else is
                // wrong with its join.
                if v != PROTOCOL_VERSION {
                    return Err(ProtocolError::new(
                        ErrorCode::UnsupportedVersion,
                        format!("this room speaks protocol {PROTOCOL_VERSION}, not {v}: reload the page"),
                    ));
                }
                if epoch.as_ref().is_some_and(|e| e.len() > EPOCH_MAX_LEN) {
                    return Err(ProtocolError::new(ErrorCode::BadRequest, "epoch is not one this room gave"));
                }
                if invite.as_ref().is_some_and(|c| c.is_empty() || c.len() > EPOCH_MAX_LEN) {
                    return Err(ProtocolError::new(ErrorCode::BadRequest, "not an invite code"));
                }
                ClientFrame::Join {
                    v,
                    name: UserName::parse(&name)?,
                    key: MemberKey::parse(&key)?,
                    since,
                    epoch,
                    invite,
                    batch,
                }
            }
            RawClientFrame::Send { client_id, text, reply_to, streaming } => {
                ClientFrame::Send { client_id: cid(&client_id)?, text: MessageText::parse(&text)?, reply_to, streaming }
            }
            RawClientFrame::Append { client_id, id, text } => {
                ClientFrame::Append { client_id: cid(&client_id)?, id, text: chunk(text)? }
            }
            RawClientFrame::Finish { client_id, id } => ClientFrame::Finish { client_id: cid(&client_id)?, id },
            RawClientFrame::Moderate { client_id, action } => {
                action.validate()?;
                ClientFrame::Moderate { client_id: cid(&client_id)?, action }
            }
            RawClientFrame::Audit { before, limit } => {
                if limit == 0 || limit > AUDIT_PAGE_MAX {
                    return Err(ProtocolError::new(ErrorCode::BadRequest, format!("limit is 1 to {AUDIT_PAGE_MAX}")));
                }
                ClientFrame::Audit { before, limit }
            }
            RawClientFrame::Edit { client_id, id, text } => {
                ClientFrame::Edit { client_id: cid(&client_id)?, id, text: MessageText::parse(&text)? }
            }
            RawClientFrame::Delete { client_id, id } => ClientFrame::Delete { client_id: cid(&client_id)?, id },
            RawClientFrame::React { client_id, id, emoji, on } => {
                ClientFrame::React { client_id: cid(&client_id)?, id, emoji: Emoji::parse(&emoji)?, on }
            }
            RawClientFrame::Typing {} => ClientFrame::Typing {},
            RawClientFrame::History { before, limit } => {
                if limit == 0 || limit > HISTORY_PAGE_MAX {
                    return Err(ProtocolError::new(ErrorCode::BadRequest, format!("limit is 1 to {HISTORY_PAGE_MAX}")));
                }
                ClientFrame::History { before, limit }
            }
        })
    }
}

/// A streamed message's chunk: like a message's text, but white space alone is a chunk (a
/// model's tokens often are).
pub fn chunk(text: String) -> Result<String, ProtocolError> {
    let n = text.chars().count();
    if n == 0 {
        return Err(ProtocolError::new(ErrorCode::EmptyText, "a chunk is not empty"));
    }
    if n > TEXT_MAX_CHARS {
        return Err(ProtocolError::new(
            ErrorCode::TextTooLong,
            format!("a chunk has at most {TEXT_MAX_CHARS} characters"),
        ));
    }
    if text.chars().any(|c| c.is_control() && !matches!(c, '\n' | '\r' | '\t')) {
        return Err(ProtocolError::new(ErrorCode::BadRequest, "a chunk has no control characters"));
    }
    Ok(text)
}

impl ClientFrame {
    /// Parses one WebSocket text message. Never panics: anything that is not a valid frame
    /// is an error with the code the room sends back.
    pub fn parse(text: &str) -> Result<Self, ProtocolError> {
        if text.len() > FRAME_MAX_BYTES {
            return Err(ProtocolError::new(
                ErrorCode::FrameTooLarge,
                format!("a frame has at most {FRAME_MAX_BYTES} bytes"),
            ));
        }
        let raw: RawClientFrame = serde_json::from_str(text).map_err(|e| {
            // serde's message can quote the input; keep what we echo back short.
            let mut message = format!("not a valid frame: {e}");
            if message.len() > 200 {
                let mut cut = 200;
                while !message.is_char_boundary(cut) {
                    cut -= 1;
                }
                message.truncate(cut);
            }
            ProtocolError::new(ErrorCode::BadFrame, message)
        })?;
        raw.try_into()
    }

    /// The `client_id` a frame that failed to parse gave, if it is well-formed enough to have
    /// one (`{"data": {"client_id": "..."}}`): a refused `send`, `edit`, `delete` or `react`
    /// then names the operation it refuses, so the client can show it on that operation.
    /// Called on the error path only.
    pub fn client_id_of(text: &str) -> Option<String> {
        #[derive(Deserialize)]
        struct Data {
            client_id: String,
        }
        #[derive(Deserialize)]
        struct Frame {
            data: Data,
        }
        if text.len() > FRAME_MAX_BYTES {
            return None;
        }
        let id = serde_json::from_str::<Frame>(text).ok()?.data.client_id;
        ClientId::parse(&id).ok().map(ClientId::into_string)
    }

    /// The `client_id` of an operation (`send`, `edit`, `delete`, `react`), so a refusal can
    /// name the operation it refuses.
    pub fn client_id(&self) -> Option<&str> {
        match self {
            Self::Send { client_id, .. }
            | Self::Edit { client_id, .. }
            | Self::Delete { client_id, .. }
            | Self::React { client_id, .. }
            | Self::Append { client_id, .. }
            | Self::Finish { client_id, .. }
            | Self::Moderate { client_id, .. } => Some(client_id.as_str()),
            Self::Join { .. } | Self::Typing {} | Self::History { .. } | Self::Audit { .. } => None,
        }
    }

    /// The frame as the JSON text sent on the socket.
    pub fn to_json(&self) -> String {
        serde_json::to_string(self).expect("frames hold only strings and integers, which always serialize")
    }
}

/// How the room starts every `batch` it writes.
const BATCH_HEAD: &str = r#"{"type":"batch","data":["#;

/// Sent by the room to browsers.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", content = "data", rename_all = "snake_case")]
pub enum ServerFrame {
    /// Answers a valid `join`: who is here and the messages to show.
    Welcome {
        /// The protocol version the room speaks ([`PROTOCOL_VERSION`]).
        protocol: u32,
        /// The room's storage epoch. A client resumes with it; a room whose storage was
        /// recreated has a new one, and answers a resume from the old one with `reset`.
        epoch: String,
        /// You, as the room recorded you.
        you: Member,
        /// The room's name.
        room: String,
        /// Members online, including `you`.
        members: Vec<Member>,
        /// A fresh join (or a `gap`/`reset`): the newest 50 messages, oldest first. A resume:
        /// every message that changed after `since` (posted, edited, deleted or reacted to),
        /// once each, in its current state, by id: the client replaces its copies.
        messages: Vec<ChatMessage>,
        /// Older messages exist than the oldest in `messages`: page with `history`. (On a
        /// resume the client keeps what it knew.)
        older: bool,
        /// A resume asked for more than the room replays at once: `messages` is a fresh join's
        /// view, and the client must replace what it holds with it (it may be stale).
        #[serde(default, skip_serializing_if = "std::ops::Not::not")]
        gap: bool,
        /// The resume's `since`/`epoch` are not this room's history (its storage was reset or
        /// recreated). `messages` are a fresh join's, and the client must drop every message,
        /// id and `seq` it kept.
        #[serde(default, skip_serializing_if = "std::ops::Not::not")]
        reset: bool,
        /// The room's newest event `seq` (0 for an empty room): the next event is this + 1.
        latest_seq: Seq,
        /// Limits in force in this room.
        limits: Limits,
        /// The room's topic, slow mode and invite-only setting.
        #[serde(default)]
        settings: RoomSettings,
        /// You are muted until then (ms since the Unix epoch).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        muted_until: Option<u64>,
        /// Slow mode: you may post again in this many ms (the composer counts down, also
        /// after a reload).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        slow_wait_ms: Option<u64>,
    },
    /// A new message (event `seq` = its `id`), to every joined member, in `seq` order.
    Message(ChatMessage),
    /// A message's text changed.
    Edited {
        /// The event's `seq` (the message's new `version`).
        seq: Seq,
        /// The message's id.
        id: Seq,
        /// The new text.
        text: String,
        /// When.
        edited_ts: u64,
        /// Members the new text mentions.
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        mentions: Vec<MemberId>,
    },
    /// A message was deleted: show a tombstone in its place, and in the replies quoting it.
    Deleted {
        /// The event's `seq`.
        seq: Seq,
        /// The message's id.
        id: Seq,
        /// By a moderator, not its author ("removed by a moderator").
        #[serde(default, skip_serializing_if = "std::ops::Not::not")]
        removed: bool,
    },
    /// A streamed message grew: append `text` to it.
    Appended {
        /// The event's `seq` (the message's new `version`).
        seq: Seq,
        /// The message's id.
        id: Seq,
        /// The chunk.
        text: String,
    },
    /// A streamed message is complete (its author finished it, or went quiet for
    /// `STREAM_IDLE_MS`).
    Finished {
        /// The event's `seq`.
        seq: Seq,
        /// The message's id.
        id: Seq,
    },
    /// A moderation event. Moderators see invite codes; everyone else gets
    /// [`Action::public`].
    Moderated(AuditEntry),
    /// To the socket that made a bot: its token, shown once (the room keeps only its hash).
    BotCreated {
        /// The `moderate` operation's id.
        client_id: String,
        /// The bot.
        bot: Member,
        /// `Authorization: Bearer` token for the HTTP API, or a socket's `join` `key`.
        token: String,
    },
    /// Answers `audit`: moderation events, oldest first.
    Audit {
        /// The page.
        entries: Vec<AuditEntry>,
        /// Older entries exist.
        older: bool,
    },
    /// A message's reactions changed: the whole summary, to replace the one held. Only the
    /// member who changed it (`by`) can have changed their own `mine`: their sockets get the
    /// summary with their `mine`; everyone else gets it with `mine` false and keeps their own
    /// flags (emoji they had reacted with stay theirs). So one reaction costs two frames to
    /// serialize, however many people have reacted.
    Reactions {
        /// The event's `seq`.
        seq: Seq,
        /// The message's id.
        id: Seq,
        /// Who added or removed a reaction.
        by: MemberId,
        /// The summary; `mine` as seen by `by` on `by`'s sockets, false on everyone else's.
        reactions: Vec<Reaction>,
    },
    /// To the sending socket: the operation with this `client_id` is done, as event `seq` (for
    /// a `send`, the message's id). An operation that changed nothing (a reaction already
    /// there, an edit to the same text) is acknowledged with the room's current `seq`.
    Ack {
        /// The id the client gave.
        client_id: String,
        /// Its event, or the current `seq` if it changed nothing.
        seq: Seq,
        /// When.
        ts: u64,
    },
    /// A member's first socket joined.
    MemberJoined(Member),
    /// A member's last socket left.
    MemberLeft(Member),
    /// Several members came or went at once (a burst, batched so a crowd arriving does not
    /// cost one frame per member per member). Apply `joined` then `left`, by id.
    Presence {
        /// Members whose first socket joined (with their name now).
        joined: Vec<Member>,
        /// Members whose last socket left.
        left: Vec<Member>,
    },
    /// Someone is typing: show it for 5 s unless renewed; a `message` from them ends it.
    Typing(Member),
    /// Answers `history`: older messages, oldest first, in their current state.
    History {
        /// The page.
        messages: Vec<ChatMessage>,
        /// Messages older than this page exist.
        older: bool,
    },
    /// A frame was refused. The socket stays open unless the code says otherwise.
    Error {
        /// Stable code.
        code: ErrorCode,
        /// Human-readable detail.
        message: String,
        /// For `rate_limited`: wait this long before sending again.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        retry_after_ms: Option<u64>,
        /// The refused operation's `client_id`, so the client knows which it concerns.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        client_id: Option<String>,
    },
    /// Several frames for this socket at once, to be applied in order as if each had come on
    /// its own: a busy room handles the frames waiting on its sockets before it sends, then
    /// sends each socket one `batch` where it would send many frames. Only to clients
    /// that joined with `batch: true` (its `welcome` may come in one); never nested.
    Batch(Vec<ServerFrame>),
}

impl ServerFrame {
    /// The frame as the JSON text sent on the socket.
    pub fn to_json(&self) -> String {
        serde_json::to_string(self).expect("frames hold only strings and integers, which always serialize")
    }

    /// An `error` frame for a refusal.
    pub fn error(e: ProtocolError) -> Self {
        Self::Error { code: e.code, message: e.message, retry_after_ms: None, client_id: None }
    }

    /// An `error` frame refusing the operation with `client_id`.
    pub fn refused_send(client_id: &str, e: ProtocolError, retry_after_ms: Option<u64>) -> Self {
        Self::Error { code: e.code, message: e.message, retry_after_ms, client_id: Some(client_id.to_owned()) }
    }

    /// Parses a frame from the room (used by clients). A `batch` comes back as one
    /// [`ServerFrame::Batch`]; [`ServerFrame::parse_all`] unpacks it.
    pub fn parse(text: &str) -> Result<Self, ProtocolError> {
        serde_json::from_str(text).map_err(|e| ProtocolError::new(ErrorCode::BadFrame, e.to_string()))
    }

    /// Parses what arrived on the socket into the frames it carries, in order: one, or the
    /// contents of a `batch`, each parsed on its own, so that a frame this client does not
    /// know (from a newer room) fails alone and the rest of its batch still applies. `Err`:
    /// the text is not a frame at all.
    pub fn parse_each(text: &str) -> Result<Vec<Result<Self, ProtocolError>>, ProtocolError> {
        let bad = |e: serde_json::Error| ProtocolError::new(ErrorCode::BadFrame, e.to_string());
        // The room writes every batch with this prefix (see `batch_json`); anything else is
        // one frame (or a batch written otherwise, parsed whole).
        // Batches are never nested: one inside another is not a frame this client reads.
        let unnested = |f: Self| match f {
            Self::Batch(_) => Err(ProtocolError::new(ErrorCode::BadFrame, "a batch inside a batch")),
            f => Ok(f),
        };
        if !text.starts_with(BATCH_HEAD) {
            return Ok(match Self::parse(text)? {
                Self::Batch(frames) => frames.into_iter().map(unnested).collect(),
                one => vec![Ok(one)],
            });
        }
        #[derive(Deserialize)]
        struct Envelope {
            data: Vec<serde_json::Value>,
        }
        let envelope: Envelope = serde_json::from_str(text).map_err(bad)?;
        Ok(envelope.data.into_iter().map(|v| serde_json::from_value(v).map_err(bad).and_then(unnested)).collect())
    }

    /// As [`ServerFrame::parse_each`], keeping only the frames this client reads.
    pub fn parse_all(text: &str) -> Result<Vec<Self>, ProtocolError> {
        Ok(Self::parse_each(text)?.into_iter().filter_map(Result::ok).collect())
    }

    /// The JSON text of a `batch` holding `frames` (each already a frame's JSON text), built
    /// without parsing them again: the room serializes each event once and reuses the text.
    pub fn batch_json<S: AsRef<str>>(frames: &[S]) -> String {
        let mut out =
            String::with_capacity(BATCH_HEAD.len() + 2 + frames.iter().map(|f| f.as_ref().len() + 1).sum::<usize>());
        out.push_str(BATCH_HEAD);
        for (i, f) in frames.iter().enumerate() {
            if i > 0 {
                out.push(',');
            }
            out.push_str(f.as_ref());
        }
        out.push_str("]}");
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn key() -> String {
        "k".repeat(40)
    }

    fn cid(s: &str) -> ClientId {
        ClientId::parse(s).unwrap()
    }

    #[test]
    fn golden_client_frames() {
        let join = ClientFrame::Join {
            v: 2,
            name: UserName::parse("alice").unwrap(),
            key: MemberKey::parse(&key()).unwrap(),
            since: Some(7),
            epoch: Some("e1".into()),
            invite: None,
            batch: true,
        };
        let text = || MessageText::parse("hi").unwrap();
        let cases = [
            (
                join,
                json!({"type": "join", "data": {"v": 2, "name": "alice", "key": key(), "since": 7, "epoch": "e1", "batch": true}}),
            ),
            (
                ClientFrame::Send { client_id: cid("c1"), text: text(), reply_to: None, streaming: false },
                json!({"type": "send", "data": {"client_id": "c1", "text": "hi"}}),
            ),
            (
                ClientFrame::Send { client_id: cid("c1"), text: text(), reply_to: None, streaming: true },
                json!({"type": "send", "data": {"client_id": "c1", "text": "hi", "streaming": true}}),
            ),
            (
                ClientFrame::Append { client_id: cid("a1"), id: 3, text: " there\n".into() },
                json!({"type": "append", "data": {"client_id": "a1", "id": 3, "text": " there\n"}}),
            ),
            (
                ClientFrame::Finish { client_id: cid("f1"), id: 3 },
                json!({"type": "finish", "data": {"client_id": "f1", "id": 3}}),
            ),
            (
                ClientFrame::Moderate { client_id: cid("m1"), action: Action::Mute { member: 2, minutes: 5 } },
                json!({"type": "moderate", "data": {"client_id": "m1", "action": {"kind": "mute", "member": 2, "minutes": 5}}}),
            ),
            (ClientFrame::Audit { before: None, limit: 20 }, json!({"type": "audit", "data": {"limit": 20}})),
            (
                ClientFrame::Join {
                    v: 2,
                    name: UserName::parse("bob").unwrap(),
                    key: MemberKey::parse(&key()).unwrap(),
                    since: None,
                    epoch: None,
                    invite: Some("i123".into()),
                    batch: false,
                },
                json!({"type": "join", "data": {"v": 2, "name": "bob", "key": key(), "invite": "i123"}}),
            ),
            (
                ClientFrame::Send { client_id: cid("c1"), text: text(), reply_to: Some(4), streaming: false },
                json!({"type": "send", "data": {"client_id": "c1", "text": "hi", "reply_to": 4}}),
            ),
            (
                ClientFrame::Edit { client_id: cid("c2"), id: 3, text: text() },
                json!({"type": "edit", "data": {"client_id": "c2", "id": 3, "text": "hi"}}),
            ),
            (
                ClientFrame::Delete { client_id: cid("c3"), id: 3 },
                json!({"type": "delete", "data": {"client_id": "c3", "id": 3}}),
            ),
            (
                ClientFrame::React { client_id: cid("c4"), id: 3, emoji: Emoji::parse("👍").unwrap(), on: true },
                json!({"type": "react", "data": {"client_id": "c4", "id": 3, "emoji": "👍", "on": true}}),
            ),
            (ClientFrame::Typing {}, json!({"type": "typing", "data": {}})),
            (
                ClientFrame::History { before: 10, limit: 20 },
                json!({"type": "history", "data": {"before": 10, "limit": 20}}),
            ),
        ];
        for (frame, wire) in cases {
            assert_eq!(serde_json::to_value(&frame).unwrap(), wire);
            assert_eq!(ClientFrame::parse(&frame.to_json()).unwrap(), frame, "round trip");
        }
    }

    #[test]
    fn a_join_of_another_protocol_is_refused_before_anything_else() {
        for join in [
            format!(r#"{{"type":"join","data":{{"name":"bob","key":"{}"}}}}"#, key()),
            format!(r#"{{"type":"join","data":{{"v":3,"name":"bob","key":"{}"}}}}"#, key()),
            r#"{"type":"join","data":{"name":"","key":"short"}}"#.to_owned(),
        ] {
            assert_eq!(ClientFrame::parse(&join).unwrap_err().code, ErrorCode::UnsupportedVersion, "{join}");
        }
        let f = ClientFrame::parse(&format!(r#"{{"type":"join","data":{{"v":2,"name":"bob","key":"{}"}}}}"#, key()))
            .unwrap();
        assert!(matches!(f, ClientFrame::Join { v: 2, since: None, epoch: None, .. }), "{f:?}");
        assert_eq!(ClientFrame::parse(r#"{"type":"typing","data":{}}"#).unwrap(), ClientFrame::Typing {});
    }

    fn message() -> ChatMessage {
        ChatMessage {
            id: 3,
            version: 9,
            member: 1,
            author: "alice".into(),
            client_id: "c1".into(),
            text: "hi @bob".into(),
            ts: 1700,
            edited_ts: Some(1800),
            deleted: false,
            reply_to: Some(Quote { id: 2, member: 2, author: "bob".into(), excerpt: "yo".into(), deleted: false }),
            mentions: vec![2],
            reactions: vec![Reaction {
                emoji: "👍".into(),
                count: 2,
                names: vec!["alice".into(), "bob".into()],
                mine: true,
            }],
            ..ChatMessage::default()
        }
    }

    #[test]
    fn golden_server_frames() {
        let bob = Member::new(2, "bob");
        let cases = [
            (
                ServerFrame::Message(message()),
                json!({"type": "message", "data": {"id": 3, "version": 9, "member": 1, "author": "alice",
                    "client_id": "c1", "text": "hi @bob", "ts": 1700, "edited_ts": 1800,
                    "reply_to": {"id": 2, "member": 2, "author": "bob", "excerpt": "yo"},
                    "mentions": [2], "reactions": [{"emoji": "👍", "count": 2, "names": ["alice", "bob"], "mine": true}]}}),
            ),
            (
                ServerFrame::Message(ChatMessage {
                    edited_ts: None,
                    reply_to: None,
                    mentions: vec![],
                    reactions: vec![],
                    text: String::new(),
                    deleted: true,
                    ..message()
                }),
                json!({"type": "message", "data": {"id": 3, "version": 9, "member": 1, "author": "alice",
                    "client_id": "c1", "text": "", "ts": 1700, "deleted": true}}),
            ),
            (
                ServerFrame::Edited { seq: 10, id: 3, text: "hey".into(), edited_ts: 1900, mentions: vec![] },
                json!({"type": "edited", "data": {"seq": 10, "id": 3, "text": "hey", "edited_ts": 1900}}),
            ),
            (
                ServerFrame::Deleted { seq: 11, id: 3, removed: false },
                json!({"type": "deleted", "data": {"seq": 11, "id": 3}}),
            ),
            (
                ServerFrame::Deleted { seq: 11, id: 3, removed: true },
                json!({"type": "deleted", "data": {"seq": 11, "id": 3, "removed": true}}),
            ),
            (
                ServerFrame::Appended { seq: 12, id: 3, text: " more".into() },
                json!({"type": "appended", "data": {"seq": 12, "id": 3, "text": " more"}}),
            ),
            (ServerFrame::Finished { seq: 13, id: 3 }, json!({"type": "finished", "data": {"seq": 13, "id": 3}})),
            (
                ServerFrame::Moderated(AuditEntry {
                    seq: 14,
                    ts: 1900,
                    by: Member { id: 1, name: "alice".into(), role: crate::Role::Owner },
                    action: Action::SlowMode { seconds: 10 },
                    target: None,
                }),
                json!({"type": "moderated", "data": {"seq": 14, "ts": 1900,
                    "by": {"id": 1, "name": "alice", "role": "owner"}, "action": {"kind": "slow_mode", "seconds": 10}}}),
            ),
            (
                ServerFrame::BotCreated {
                    client_id: "m2".into(),
                    bot: Member { id: 5, name: "deploys".into(), role: crate::Role::Bot },
                    token: "cb_5_x".into(),
                },
                json!({"type": "bot_created", "data": {"client_id": "m2",
                    "bot": {"id": 5, "name": "deploys", "role": "bot"}, "token": "cb_5_x"}}),
            ),
            (
                ServerFrame::Audit { entries: vec![], older: false },
                json!({"type": "audit", "data": {"entries": [], "older": false}}),
            ),
            (
                ServerFrame::Reactions { seq: 12, id: 3, by: 2, reactions: vec![] },
                json!({"type": "reactions", "data": {"seq": 12, "id": 3, "by": 2, "reactions": []}}),
            ),
            (
                ServerFrame::Ack { client_id: "c1".into(), seq: 3, ts: 1700 },
                json!({"type": "ack", "data": {"client_id": "c1", "seq": 3, "ts": 1700}}),
            ),
            (
                ServerFrame::MemberJoined(bob.clone()),
                json!({"type": "member_joined", "data": {"id": 2, "name": "bob"}}),
            ),
            (ServerFrame::MemberLeft(bob.clone()), json!({"type": "member_left", "data": {"id": 2, "name": "bob"}})),
            (ServerFrame::Typing(bob.clone()), json!({"type": "typing", "data": {"id": 2, "name": "bob"}})),
            (
                ServerFrame::Presence { joined: vec![bob.clone()], left: vec![] },
                json!({"type": "presence", "data": {"joined": [{"id": 2, "name": "bob"}], "left": []}}),
            ),
            (
                ServerFrame::History { messages: vec![], older: true },
                json!({"type": "history", "data": {"messages": [], "older": true}}),
            ),
            (
                ServerFrame::Error {
                    client_id: None,
                    code: ErrorCode::RateLimited,
                    message: "slow down".into(),
                    retry_after_ms: Some(200),
                },
                json!({"type": "error", "data": {"code": "rate_limited", "message": "slow down", "retry_after_ms": 200}}),
            ),
            (
                ServerFrame::refused_send("c9", ProtocolError::new(ErrorCode::MessageDeleted, "gone"), None),
                json!({"type": "error", "data": {"code": "message_deleted", "message": "gone", "client_id": "c9"}}),
            ),
        ];
        for (frame, wire) in cases {
            assert_eq!(serde_json::to_value(&frame).unwrap(), wire);
            assert_eq!(ServerFrame::parse(&frame.to_json()).unwrap(), frame, "round trip");
        }
        let welcome = ServerFrame::Welcome {
            protocol: 2,
            epoch: "e1".into(),
            you: Member::new(1, "alice"),
            room: "lobby".into(),
            members: vec![Member::new(1, "alice"), bob],
            messages: vec![message()],
            older: false,
            gap: false,
            reset: false,
            latest_seq: 12,
            limits: Limits::default(),
            settings: RoomSettings::default(),
            muted_until: None,
            slow_wait_ms: None,
        };
        let v = serde_json::to_value(&welcome).unwrap();
        assert_eq!(v["type"], "welcome");
        assert_eq!(v["data"]["protocol"], 2);
        assert_eq!(v["data"]["you"], json!({"id": 1, "name": "alice"}));
        assert_eq!(v["data"]["limits"]["text_max_chars"], 4000);
        assert_eq!(v["data"]["limits"]["reactions_per_message"], 20);
        assert!(v["data"].get("gap").is_none() && v["data"].get("reset").is_none(), "false flags are left out");
        assert_eq!(v["data"]["settings"], json!({}), "default settings are an empty object");
        assert_eq!(ServerFrame::parse(&welcome.to_json()).unwrap(), welcome);
    }

    #[test]
    fn bad_frames_are_errors_with_codes_never_panics() {
        let k = key();
        let cases: &[(&str, ErrorCode)] = &[
            ("", ErrorCode::BadFrame),
            ("ping", ErrorCode::BadFrame),
            ("null", ErrorCode::BadFrame),
            ("[]", ErrorCode::BadFrame),
            (r#"{"type":"nope","data":{}}"#, ErrorCode::BadFrame),
            (r#"{"type":"send"}"#, ErrorCode::BadFrame),
            (r#"{"type":"send","data":{"client_id":1,"text":"x"}}"#, ErrorCode::BadFrame),
            (r#"{"type":"send","data":{"client_id":"c","text":"x","reply_to":-1}}"#, ErrorCode::BadFrame),
            (r#"{"type":"history","data":{"before":-1,"limit":5}}"#, ErrorCode::BadFrame),
            (r#"{"type":"history","data":{"before":99999999999999999999999,"limit":5}}"#, ErrorCode::BadFrame),
            (r#"{"type":"history","data":{"before":5,"limit":0}}"#, ErrorCode::BadRequest),
            (r#"{"type":"history","data":{"before":5,"limit":101}}"#, ErrorCode::BadRequest),
            (r#"{"type":"send","data":{"client_id":"c","text":""}}"#, ErrorCode::EmptyText),
            (r#"{"type":"send","data":{"client_id":"","text":"x"}}"#, ErrorCode::BadRequest),
            (r#"{"type":"edit","data":{"client_id":"c","id":1,"text":" "}}"#, ErrorCode::EmptyText),
            (r#"{"type":"edit","data":{"client_id":"c","text":"x"}}"#, ErrorCode::BadFrame),
            (r#"{"type":"delete","data":{"client_id":"c","id":"1"}}"#, ErrorCode::BadFrame),
            (r#"{"type":"react","data":{"client_id":"c","id":1,"emoji":"","on":true}}"#, ErrorCode::InvalidReaction),
            (r#"{"type":"react","data":{"client_id":"c","id":1,"emoji":"a b","on":true}}"#, ErrorCode::InvalidReaction),
            (
                r#"{"type":"react","data":{"client_id":"c","id":1,"emoji":"\u200b","on":true}}"#,
                ErrorCode::InvalidReaction,
            ),
            (
                r#"{"type":"react","data":{"client_id":"c","id":1,"emoji":"abcdefghijklmnopq","on":true}}"#,
                ErrorCode::InvalidReaction,
            ),
            (r#"{"type":"react","data":{"client_id":"c","id":1,"emoji":"👍"}}"#, ErrorCode::BadFrame),
            (
                r#"{"type":"join","data":{"v":2,"name":"","key":"kkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkk"}}"#,
                ErrorCode::InvalidName,
            ),
            (r#"{"type":"join","data":{"v":2,"name":"a","key":"short"}}"#, ErrorCode::BadRequest),
        ];
        for (text, code) in cases {
            assert_eq!(ClientFrame::parse(text).unwrap_err().code, *code, "{text}");
        }
        let long_epoch =
            format!(r#"{{"type":"join","data":{{"v":2,"name":"a","key":"{k}","epoch":"{}"}}}}"#, "e".repeat(65));
        assert_eq!(ClientFrame::parse(&long_epoch).unwrap_err().code, ErrorCode::BadRequest);
        let deep = format!("{}{}", "[".repeat(10_000), "]".repeat(10_000));
        assert_eq!(ClientFrame::parse(&deep).unwrap_err().code, ErrorCode::FrameTooLarge);
        let deep = format!("{}{}", "[".repeat(5_000), "]".repeat(5_000));
        assert_eq!(ClientFrame::parse(&deep).unwrap_err().code, ErrorCode::BadFrame);
        let big = format!(r#"{{"type":"send","data":{{"client_id":"c","text":"{}"}}}}"#, "x".repeat(FRAME_MAX_BYTES));
        assert_eq!(ClientFrame::parse(&big).unwrap_err().code, ErrorCode::FrameTooLarge);
        let long = format!(r#"{{"type":"send","data":{{"client_id":"c","text":"{}"}}}}"#, "x".repeat(4001));
        assert_eq!(ClientFrame::parse(&long).unwrap_err().code, ErrorCode::TextTooLong);
    }

    #[test]
    fn reactions_take_emoji_sequences_and_short_words() {
        for ok in
            ["👍", "👍🏽", "❤️", "👨‍👩‍👧", "🏴\u{E0067}\u{E0062}\u{E0073}\u{E0063}\u{E0074}\u{E007F}", "+1", "lgtm", "🇫🇷"]
        {
            assert!(Emoji::parse(ok).is_ok(), "{ok}");
        }
        for bad in [
            "\u{200D}",
            "\u{FE0F}",
            "a\u{202E}b",
            "x\ny",
            "\u{0}",
            "👍\u{E0041}",
            "👍\u{200D}",
            "\u{200D}👍",
            "👍\u{FE0F}\u{FE0F}",
            "🏴\u{E0067}\u{E0062}",
            "a\u{E007F}",
        ] {
            assert_eq!(Emoji::parse(bad).unwrap_err().code, ErrorCode::InvalidReaction, "{bad:?}");
        }
    }

    #[test]
    fn newer_rooms_error_codes_and_refusals_parse() {
        // A code this build does not know is `unknown`, not a frame dropped on the floor.
        let f = ServerFrame::parse(r#"{"type":"error","data":{"code":"shiny_new_code","message":"m"}}"#).unwrap();
        assert!(matches!(f, ServerFrame::Error { code: ErrorCode::Unknown, .. }), "{f:?}");
        // Limits from a room that does not send the reaction caps get the defaults.
        let l: Limits = serde_json::from_str(
            r#"{"name_max_chars":32,"text_max_chars":4000,"frame_max_bytes":16384,"history_page_max":100,"rate_burst":20,"rate_per_sec":5}"#,
        )
        .unwrap();
        assert_eq!(l, Limits::default());
    }

    #[test]
    fn a_refused_operation_still_names_its_client_id() {
        let bad = r#"{"type":"react","data":{"client_id":"r1","id":1,"emoji":"a b","on":true}}"#;
        assert_eq!(ClientFrame::parse(bad).unwrap_err().code, ErrorCode::InvalidReaction);
        assert_eq!(ClientFrame::client_id_of(bad).as_deref(), Some("r1"));
        assert_eq!(ClientFrame::client_id_of(r#"{"type":"send","data":{"client_id":"","text":"x"}}"#), None);
        assert_eq!(ClientFrame::client_id_of("nonsense"), None);
    }

    #[test]
    fn operations_name_their_client_id() {
        let f = ClientFrame::Delete { client_id: cid("d1"), id: 1 };
        assert_eq!(f.client_id(), Some("d1"));
        assert_eq!(ClientFrame::Typing {}.client_id(), None);
    }

    #[test]
    fn error_messages_do_not_echo_large_input() {
        let e = ClientFrame::parse(&format!(r#"{{"type":"{}"}}"#, "x".repeat(5000))).unwrap_err();
        assert!(e.message.len() <= 200);
    }

    #[test]
    fn a_batch_is_its_frames_in_order() {
        let ack = ServerFrame::Ack { client_id: "c1".into(), seq: 3, ts: 1700 };
        let typing = ServerFrame::Typing(Member::new(2, "bob"));
        let texts = [ack.to_json(), typing.to_json()];
        let batch = ServerFrame::batch_json(&texts);
        assert_eq!(
            serde_json::from_str::<serde_json::Value>(&batch).unwrap(),
            json!({"type": "batch", "data": [
                {"type": "ack", "data": {"client_id": "c1", "seq": 3, "ts": 1700}},
                {"type": "typing", "data": {"id": 2, "name": "bob"}},
            ]})
        );
        assert_eq!(ServerFrame::parse(&batch).unwrap(), ServerFrame::Batch(vec![ack.clone(), typing.clone()]));
        assert_eq!(ServerFrame::parse(&batch).unwrap().to_json(), batch, "built as serde would");
        assert_eq!(ServerFrame::parse_all(&batch).unwrap(), vec![ack.clone(), typing]);
        assert_eq!(ServerFrame::parse_all(&texts[0]).unwrap(), vec![ack], "a lone frame is itself");
        assert_eq!(ServerFrame::batch_json::<&str>(&[]), r#"{"type":"batch","data":[]}"#);
        // A frame from a newer room fails alone: the rest of its batch still applies.
        let newer =
            ServerFrame::batch_json(&[texts[0].as_str(), r#"{"type":"hologram","data":{"x":1}}"#, texts[1].as_str()]);
        let each = ServerFrame::parse_each(&newer).unwrap();
        assert_eq!(each.len(), 3);
        assert!(each[0].is_ok() && each[1].is_err() && each[2].is_ok(), "{each:?}");
        assert_eq!(ServerFrame::parse_all(&newer).unwrap().len(), 2);
        assert!(ServerFrame::parse_each("not json").is_err());
        let nested = ServerFrame::batch_json(&[batch.as_str(), texts[0].as_str()]);
        let each = ServerFrame::parse_each(&nested).unwrap();
        assert!(each[0].is_err() && each[1].is_ok(), "a nested batch is refused alone: {each:?}");
        assert!(ServerFrame::parse_each(r#"{"type":"hologram","data":{}}"#).is_err(), "an unknown lone frame");
    }
}
