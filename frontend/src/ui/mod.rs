//! The components, one file per visible part. Each reads the [`crate::state::RoomView`] and
//! [`crate::engine::Link`] signals and sends [`crate::connection::Command`]s; the rules live
//! in the pure modules (`state`, `engine`, `rows`, `list`, `outbox`).
//!
//! Text is always text: messages are rendered as text nodes (never `inner_html`), so
//! `<img onerror=…>` arrives as the characters the author typed.

pub mod composer;
pub mod home;
pub mod message_list;
pub mod room;

#[cfg(test)]
mod tests;
