//! The person's own operations the room has not acknowledged: what they are ([`Op`]), what the
//! outbox keeps of each ([`Pending`]), and how that is saved in local storage (flat, so the
//! outboxes older pages saved still load). The view that lays them over the room's messages is
//! `state.rs`.

use confab_shared::Seq;
use serde::{Deserialize, Serialize};

/// One operation the person made that the room has not acknowledged.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Op {
    /// A new message, maybe a reply to message `reply_to`.
    Send {
        /// What was typed.
        text: String,
        /// The id of the message it replies to.
        reply_to: Option<Seq>,
    },
    /// New text for one of our messages.
    Edit {
        /// The message's id.
        id: Seq,
        /// The new text.
        text: String,
    },
    /// Delete one of our messages.
    Delete {
        /// The message's id.
        id: Seq,
    },
    /// Add (`on`) or remove our reaction `emoji` on a message.
    React {
        /// The message's id.
        id: Seq,
        /// The reaction.
        emoji: String,
        /// Add or remove.
        on: bool,
    },
}

impl Op {
    /// The stored message this operation changes (none for a post).
    pub fn target(&self) -> Option<Seq> {
        match self {
            Op::Send { .. } => None,
            Op::Edit { id, .. } | Op::Delete { id } | Op::React { id, .. } => Some(*id),
        }
    }

    /// A message id the operation names (its target, or the message a post replies to): ids
    /// only mean something in the room epoch they came from.
    pub fn names_id(&self) -> bool {
        match self {
            Op::Send { reply_to, .. } => reply_to.is_some(),
            _ => true,
        }
    }
}

/// An operation the room has not acknowledged yet. Kept (and persisted by the page, see
/// `outbox.rs`) until its `ack` (or, for a post, its `message`) arrives, and resent on every
/// reconnect; the room deduplicates by `client_id`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "SavedPending", into = "SavedPending")]
pub struct Pending {
    /// The id the room deduplicates resends by.
    pub client_id: String,
    /// What to do.
    pub op: Op,
    /// When the person did it (ms since the epoch): orders the outbox, dates the display.
    pub created_ms: u64,
    /// The name it was done under: it is only ever sent as that name. Empty in outboxes
    /// saved by older pages.
    pub author: String,
    /// The room epoch the ids it names belong to (`None`: unknown, saved before a welcome
    /// or by an older page).
    pub epoch: Option<String>,
    /// The room refused it in a way sending it again cannot fix (why, in the room's words):
    /// it waits for the person to edit, retry or delete it. Only posts wait like this; a
    /// refused edit, delete or reaction is dropped and the refusal shown on its message.
    pub failed: Option<String>,
    /// It has gone out on a joined socket at least once, so the room may have applied it
    /// already: it can no longer be taken back, only waited for.
    pub sent: bool,
}

impl Pending {
    /// The text of a post (`None` for other operations).
    pub fn post_text(&self) -> Option<&str> {
        match &self.op {
            Op::Send { text, .. } => Some(text),
            _ => None,
        }
    }

    /// Whether it is a post (shown as its own row until stored).
    pub fn is_post(&self) -> bool {
        matches!(self.op, Op::Send { .. })
    }

    /// Whether it never went out (or was refused): it can still be taken back or rewritten.
    pub fn revocable(&self) -> bool {
        !self.sent || self.failed.is_some()
    }
}

/// A [`Pending`] as saved in local storage: flat, so the outboxes older pages saved (plain
/// posts: `client_id`, `text`, `created_ms`, `author`, `failed`, `sent`) still load, and a
/// post is saved in exactly that shape.
#[derive(Serialize, Deserialize)]
struct SavedPending {
    client_id: String,
    /// `edit`, `delete`, `react`; absent for a post.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    op: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    text: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    id: Option<Seq>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    reply_to: Option<Seq>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    emoji: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    on: Option<bool>,
    #[serde(default)]
    created_ms: u64,
    #[serde(default)]
    author: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    epoch: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    failed: Option<String>,
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    sent: bool,
}

impl TryFrom<SavedPending> for Pending {
    type Error = String;

    fn try_from(s: SavedPending) -> Result<Self, String> {
        let missing = |what: &str| format!("a saved {} has no {what}", s.op.as_deref().unwrap_or("send"));
        let op = match s.op.as_deref() {
            None | Some("send") => {
                Op::Send { text: s.text.clone().ok_or_else(|| missing("text"))?, reply_to: s.reply_to }
            }
            Some("edit") => Op::Edit {
                id: s.id.ok_or_else(|| missing("id"))?,
                text: s.text.clone().ok_or_else(|| missing("text"))?,
            },
            Some("delete") => Op::Delete { id: s.id.ok_or_else(|| missing("id"))? },
            Some("react") => Op::React {
                id: s.id.ok_or_else(|| missing("id"))?,
                emoji: s.emoji.clone().ok_or_else(|| missing("emoji"))?,
                on: s.on.ok_or_else(|| missing("on"))?,
            },
            Some(other) => return Err(format!("unknown saved operation {other:?}")),
        };
        Ok(Pending {
            client_id: s.client_id,
            op,
            created_ms: s.created_ms,
            author: s.author,
            epoch: s.epoch,
            failed: s.failed,
            sent: s.sent,
        })
    }
}

impl From<Pending> for SavedPending {
    fn from(p: Pending) -> Self {
        let mut s = SavedPending {
            client_id: p.client_id,
            op: None,
            text: None,
            id: None,
            reply_to: None,
            emoji: None,
            on: None,
            created_ms: p.created_ms,
            author: p.author,
            epoch: p.epoch,
            failed: p.failed,
            sent: p.sent,
        };
        match p.op {
            Op::Send { text, reply_to } => {
                s.text = Some(text);
                s.reply_to = reply_to;
            }
            Op::Edit { id, text } => {
                s.op = Some("edit".into());
                s.id = Some(id);
                s.text = Some(text);
            }
            Op::Delete { id } => {
                s.op = Some("delete".into());
                s.id = Some(id);
            }
            Op::React { id, emoji, on } => {
                s.op = Some("react".into());
                s.id = Some(id);
                s.emoji = Some(emoji);
                s.on = Some(on);
            }
        }
        s
    }
}
