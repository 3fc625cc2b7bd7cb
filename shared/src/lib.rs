//! Confab's wire protocol, shared by the Worker and the browser: the single source of truth
//! for what crosses the WebSocket and what is valid.
//!
//! # Layout
//! - [`frames`]: [`ClientFrame`] (browser → room) and [`ServerFrame`] (room → browser), with
//!   golden tests that pin the JSON on the wire. `docs/PROTOCOL.md` is their prose twin.
//! - [`chat`]: [`ChatMessage`] and what it holds ([`Member`], [`Quote`], [`Reaction`]), the
//!   quote [`excerpt`] and the `@name` [`mention_candidates`].
//! - [`api`]: the HTTP API's bodies (bots, webhooks, the terminal client).
//! - [`values`]: validated values ([`RoomName`], [`UserName`], [`MessageText`], …); `parse`
//!   is the only way in from untrusted input.
//! - [`names`]: what a name may hold; its canonical form and (feature `claims`) claim key.
//! - [`limits`]: every limit, and [`Limits`] as sent in `welcome`.
//! - [`inbox`]: a person's inbox: its name from the browser's key, its frames (issue 11).
//! - [`moderation`]: roles, moderation actions, the room's settings, the audit trail.
//! - [`error`]: [`ErrorCode`], the stable codes of refusals, and the HTTP error body.
//! - [`close`]: the WebSocket close codes the room uses and what each asks of a client.

// A panic in the Worker re-creates the room's object and drops every socket in it, so code
// that handles network input must not have a way to panic: no `unwrap`, no `panic!`, no
// unchecked indexing. The remaining `expect`s state an invariant the code itself upholds.
#![cfg_attr(
    not(test),
    deny(clippy::unwrap_used, clippy::panic, clippy::indexing_slicing, clippy::todo, clippy::unimplemented)
)]

pub mod api;
pub mod chat;
pub mod close;
pub mod error;
pub mod frames;
pub mod inbox;
pub mod limits;
pub mod moderation;
pub mod names;
pub mod values;

pub use chat::{excerpt, mention_candidates, ChatMessage, Member, MemberId, Quote, Reaction};
pub use error::{ErrorCode, HttpError, ProtocolError};
pub use frames::{ClientFrame, ServerFrame};
pub use limits::Limits;
pub use moderation::{Action, AuditEntry, Role, RoomSettings};
pub use values::{ClientId, Emoji, MemberKey, MessageText, RoomName, Seq, UserName};

/// The plain-text keepalive a client sends; answered with [`PONG`] by the runtime's
/// auto-response, without waking the room.
pub const PING: &str = "ping";
/// The answer to [`PING`].
pub const PONG: &str = "pong";

/// `GET /api/rooms/{room}`: a room's summary, for bots and tools.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct RoomInfo {
    /// The room's name.
    pub room: String,
    /// How many members have an open, joined socket.
    pub members_online: u32,
    /// The newest event `seq` (0 for an empty room).
    pub latest_seq: Seq,
}

/// `POST /api/rooms`: a new private room.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct CreatedRoom {
    /// 64 random hex digits: unguessable, never listed.
    pub room: String,
}

/// `GET /api/rooms/{room}/messages`: a history page, as in the `history` frame.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct HistoryPage {
    /// Oldest first.
    pub messages: Vec<ChatMessage>,
    /// Older messages exist.
    pub older: bool,
}
