//! The components, one file per visible part: the room (`room.rs`) and what its parts share
//! (`ctx.rs`), its message list
//! (`message_list.rs`), one message in it (`message_row.rs`) or one of ours on its way
//! (`pending_row.rs`), a message's toolbar
//! (`toolbar.rs`) and emoji picker (`picker.rs`), the composer (`composer.rs`) and its `@`
//! suggestions (`autocomplete.rs`), the start page (`home.rs`). Each reads the [`crate::state::RoomView`] and
//! [`crate::engine::Link`] signals and sends [`crate::connection::Command`]s; the rules live
//! in the pure modules (`state`, `engine`, `rows`, `list`, `outbox`).
//!
//! Text is always text: messages are rendered as text nodes (never `inner_html`), so
//! `<img onerror=…>` arrives as the characters the author typed.

pub mod autocomplete;
pub mod composer;
pub mod ctx;
pub mod home;
pub mod message_list;
pub mod message_row;
pub mod pending_row;
pub mod picker;
pub mod room;
pub mod toolbar;

#[cfg(test)]
mod tests;
