//! The HTTP API's bodies: what bots, the terminal client, feeders and webhooks send and get.
//! Every write is authenticated with `Authorization: Bearer <token>` (a bot's token, or the
//! deployment's admin secret where it says so) and answered with [`Done`], or with an
//! [`crate::HttpError`] body and a 4xx/5xx status. `docs/PROTOCOL.md` has examples.

use crate::chat::{ChatMessage, Member};
use crate::moderation::Action;
use crate::values::Seq;
use serde::{Deserialize, Serialize};

/// The header whose value becomes a bot post's `client_id`: a retried `POST` with the same key
/// is the same message, posted once.
pub const IDEMPOTENCY_KEY: &str = "Idempotency-Key";

/// The header a webhook request is signed in: `sha256=` and the lowercase hex HMAC-SHA256 of
/// the request's body, keyed with the webhook's secret.
pub const SIGNATURE_HEADER: &str = "X-Confab-Signature";

/// `POST /api/rooms/{room}/messages`: a bot posts.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PostMessage {
    /// The text (as in `send`).
    pub text: String,
    /// The message it replies to.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reply_to: Option<Seq>,
    /// Start a streamed answer (extend it with `append`, end it with `finish`).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub streaming: bool,
}

/// `PATCH /api/rooms/{room}/messages/{id}`: a bot edits its message.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EditMessage {
    /// The new text.
    pub text: String,
}

/// `POST /api/rooms/{room}/messages/{id}/append`: the next chunk of a streamed message.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AppendChunk {
    /// The chunk.
    pub text: String,
}

/// `POST /api/rooms/{room}/messages/{id}/reactions`: a bot adds (or removes) a reaction.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReactTo {
    /// The reaction.
    pub emoji: String,
    /// Add (the default) or remove.
    #[serde(default = "yes")]
    pub on: bool,
}

fn yes() -> bool {
    true
}

/// `POST /api/rooms/{room}/moderate`: an action by the admin secret (or a bot token never:
/// bots do not moderate).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Moderate {
    /// What to do.
    pub action: Action,
}

/// The answer to a write.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Done {
    /// The event it was recorded as (for a post, the message's id); the room's newest `seq`
    /// if it changed nothing.
    pub seq: Seq,
    /// When.
    pub ts: u64,
    /// A retry of a request already done (same `Idempotency-Key`): nothing new happened.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub duplicate: bool,
    /// `create_bot` by the admin secret: the bot made, and its token (shown this once).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bot: Option<Member>,
    /// See `bot`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token: Option<String>,
    /// `create_invite` by the admin secret: the invite's code.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub invite: Option<String>,
}

/// `GET /api/rooms/{room}/messages?since=N`: what changed after event `N`, like a resume.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Changes {
    /// Every message changed after `since`, once, in its current state, by id.
    pub messages: Vec<ChatMessage>,
    /// The room's newest `seq`: ask with it next time.
    pub latest_seq: Seq,
    /// More changed than one answer holds: `messages` are the newest page instead, and the
    /// caller should treat what it held as stale.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub gap: bool,
}

/// `PUT /api/rooms/{room}/webhook`: where the bot wants mentions of it delivered.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SetWebhook {
    /// An `https://` (or `http://`) URL on a public address.
    pub url: String,
}

/// The answer to [`SetWebhook`]: the secret deliveries are signed with (see
/// [`SIGNATURE_HEADER`]), shown on every `PUT` (setting the URL again makes a new one).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Webhook {
    /// The URL.
    pub url: String,
    /// The signing secret.
    pub secret: String,
}

/// The JSON body of a webhook delivery: a message mentioned the bot. A `200` answer with a
/// `text/plain` body posts that text as the bot, replying to the message.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WebhookEvent {
    /// Why it was sent: `mention`.
    pub event: String,
    /// The room's name.
    pub room: String,
    /// The bot it is for.
    pub bot: Member,
    /// Who wrote the message.
    pub author: Member,
    /// The message, as it was posted.
    pub message: ChatMessage,
}

/// `POST /api/rooms`: optionally, the creator's member key, so the room knows its owner
/// before anyone joins (the first join with that key owns the room).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct CreateRoom {
    /// The creator's key (kept only as a hash).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key: Option<String>,
}
