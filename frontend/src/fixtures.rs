//! Frames the native and browser tests build over and over: one place, so a new protocol
//! field is added once.

use confab_shared::{ChatMessage, Limits, ServerFrame};

/// A `welcome` for "alice" in "lobby" holding `messages`, with `members` online.
pub fn welcome(messages: Vec<ChatMessage>, members: &[&str], has_more: bool) -> ServerFrame {
    ServerFrame::Welcome {
        reset: false,
        you: "alice".into(),
        room: "lobby".into(),
        members: members.iter().map(|m| (*m).to_owned()).collect(),
        latest_seq: messages.last().map_or(0, |m| m.seq),
        messages,
        has_more,
        limits: Limits::default(),
    }
}
