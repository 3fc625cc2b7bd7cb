//! The components, one file per visible part: the room (`room.rs`) and what its parts share
//! (`ctx.rs`), its banners (`banners.rs`) and member panel (`members.rs`), its message list
//! (`message_list.rs`), one message in it (`message_row.rs`) or one of ours on its way
//! (`pending_row.rs`), a message's toolbar (`toolbar.rs`), emoji picker (`picker.rs`) and
//! moderation menu (`mod_tools.rs`, with `popup.rs`), the composer (`composer.rs`), what keeps
//! it waiting (`wait.rs`) and its `@` suggestions (`autocomplete.rs`), the room settings
//! panel (`settings.rs`, with `bots.rs` and `audit_trail.rs`), the start page (`home.rs`), the
//! person's rooms from their inbox (`sidebar.rs`).
//! Component tests: `tests.rs`, `owners_tests.rs` for rooms with owners, `sidebar_tests.rs`. Each reads the [`crate::state::RoomView`] and
//! [`crate::engine::Link`] signals and sends [`crate::connection::Command`]s; the rules live
//! in the pure modules (`state`, `engine`, `rows`, `list`, `outbox`).
//!
//! Text is always text: messages are rendered as text nodes (never `inner_html`), so
//! `<img onerror=…>` arrives as the characters the author typed.

pub mod audit_trail;
pub mod autocomplete;
pub mod banners;
pub mod bots;
pub mod composer;
pub mod ctx;
pub mod device;
pub mod home;
pub mod members;
pub mod message_list;
pub mod message_row;
pub mod mod_tools;
pub mod pending_row;
pub mod picker;
pub mod popup;
pub mod room;
pub mod settings;
pub mod sidebar;
pub mod toolbar;
pub mod wait;

#[cfg(test)]
mod owners_tests;
#[cfg(test)]
mod sidebar_tests;
#[cfg(test)]
mod tests;
