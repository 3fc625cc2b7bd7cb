//! Error codes: stable strings a client can act on.

use serde::{Deserialize, Serialize};
use std::fmt;

/// Why the room refused a frame (in `error.code`) or the Worker refused a request (in the
/// JSON body of a 4xx/5xx). The serialized names are the public contract.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorCode {
    /// The frame is not JSON, not an object of a known `type`, or has fields of the wrong type.
    BadFrame,
    /// A frame other than `join` arrived before a successful `join`.
    NotJoined,
    /// The name in `join` is empty, too long, or has control or invisible characters.
    InvalidName,
    /// The name belongs to someone else: it was first claimed with a different key.
    NameTaken,
    /// `send` or `edit` with text that is empty or only white space.
    EmptyText,
    /// `send` or `edit` with text over the limit.
    TextTooLong,
    /// The frame is over `limits.frame_max_bytes`; the socket may be closed with 1009 after it.
    FrameTooLarge,
    /// The member sends faster than the rate limit; `retry_after_ms` says when to try again.
    RateLimited,
    /// Well-formed but not acceptable: a second `join`, a bad `key`, `client_id`, `limit` or
    /// `epoch`, control characters in a text.
    BadRequest,
    /// The room failed to do something that should have worked; safe to retry.
    Internal,
    /// HTTP: the room name in the path is not a valid room name.
    InvalidRoom,
    /// HTTP: the WebSocket endpoint was requested without `Upgrade: websocket`.
    UpgradeRequired,
    /// HTTP: the request's `Origin` is not allowed to open a socket.
    ForbiddenOrigin,
    /// HTTP: nothing is served at that path or with that method.
    NotFound,
    /// HTTP 429: this room, or this client address in it, has as many sockets as it may.
    TooManyConnections,
    /// `join` with a protocol version the room does not serve (`v` missing or old): reload.
    UnsupportedVersion,
    /// `edit`, `delete`, `react` or a reply name a message id the room does not have.
    MessageNotFound,
    /// `edit`, `react` (adding or removing) or a reply on a message that was deleted (maybe
    /// while the operation waited offline).
    MessageDeleted,
    /// `edit` or `delete` of someone else's message.
    NotAuthor,
    /// `react` with an emoji that is empty, too long, or has white space or control
    /// characters.
    InvalidReaction,
    /// `react` would put more distinct emoji on the message than `limits.reactions_per_message`.
    TooManyReactions,
    /// The member's role does not allow that (a moderation action by a member, an action on
    /// the owner or, by a moderator, on another moderator; editing a bot's settings with
    /// someone else's token).
    Forbidden,
    /// A moderator muted the member: `retry_after_ms` says when the mute ends.
    Muted,
    /// The member (or its address) is banned from the room; the socket closes with 4003.
    Banned,
    /// Slow mode: the member posted less than `settings.slow_mode_secs` ago; `retry_after_ms`
    /// says when it may post again.
    SlowMode,
    /// The room is invite-only and the join is neither an existing member's nor holds a valid
    /// invite.
    InviteRequired,
    /// HTTP 401: the request needs `Authorization: Bearer <token>` with a valid bot token (or
    /// the admin secret), and had none or a wrong one.
    Unauthorized,
    /// `append` or `finish` on a message that is not being streamed (finished, or never was),
    /// or by someone other than its author.
    NotStreaming,
    /// A webhook URL that is not `http(s)`, or points at a private, loopback or link-local
    /// address (allowed only when the deployment sets `ALLOW_PRIVATE_WEBHOOKS`).
    InvalidUrl,
    /// A code this build does not know (sent by a newer room). Clients treat it like
    /// `internal`: show the message, keep what is unsent, retry later. Never sent by the room.
    #[serde(other)]
    Unknown,
}

impl ErrorCode {
    /// The code's wire name, e.g. `"rate_limited"`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::BadFrame => "bad_frame",
            Self::NotJoined => "not_joined",
            Self::InvalidName => "invalid_name",
            Self::NameTaken => "name_taken",
            Self::EmptyText => "empty_text",
            Self::TextTooLong => "text_too_long",
            Self::FrameTooLarge => "frame_too_large",
            Self::RateLimited => "rate_limited",
            Self::BadRequest => "bad_request",
            Self::Internal => "internal",
            Self::InvalidRoom => "invalid_room",
            Self::UpgradeRequired => "upgrade_required",
            Self::ForbiddenOrigin => "forbidden_origin",
            Self::NotFound => "not_found",
            Self::TooManyConnections => "too_many_connections",
            Self::UnsupportedVersion => "unsupported_version",
            Self::MessageNotFound => "message_not_found",
            Self::MessageDeleted => "message_deleted",
            Self::NotAuthor => "not_author",
            Self::InvalidReaction => "invalid_reaction",
            Self::TooManyReactions => "too_many_reactions",
            Self::Forbidden => "forbidden",
            Self::Muted => "muted",
            Self::Banned => "banned",
            Self::SlowMode => "slow_mode",
            Self::InviteRequired => "invite_required",
            Self::Unauthorized => "unauthorized",
            Self::NotStreaming => "not_streaming",
            Self::InvalidUrl => "invalid_url",
            Self::Unknown => "unknown",
        }
    }
}

impl fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A refusal: a code for programs and a sentence for people.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProtocolError {
    /// What kind of refusal.
    pub code: ErrorCode,
    /// Human-readable detail, safe to show in the UI.
    pub message: String,
}

impl ProtocolError {
    /// A refusal with `code` and `message`.
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        Self { code, message: message.into() }
    }
}

impl fmt::Display for ProtocolError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.code, self.message)
    }
}

impl std::error::Error for ProtocolError {}

/// The JSON body of an HTTP error from the Worker: `{"error": {"code": ..., "message": ...}}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HttpError {
    /// The refusal.
    pub error: HttpErrorBody,
}

/// See [`HttpError`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HttpErrorBody {
    /// Stable code.
    pub code: ErrorCode,
    /// Human-readable detail.
    pub message: String,
}

impl From<ProtocolError> for HttpError {
    fn from(e: ProtocolError) -> Self {
        Self { error: HttpErrorBody { code: e.code, message: e.message } }
    }
}
