//! Confab's page: a Leptos client-side app, compiled to WebAssembly by trunk.
//!
//! # Layout
//! Pure, tested natively (`cargo test -p confab-frontend`):
//! - [`state`]: what the page knows about a room, built only by applying server frames:
//!   the room's event log (last `seq`, epoch, holes, gap and reset), messages by id, members
//!   by id, the outbox of operations laid over the messages; idempotent, and it says when a
//!   frame changed nothing and which messages it touched.
//! - [`moderation`]: rooms with owners as the page sees them: the room's settings, roles, our
//!   mute and slow-mode wait, invite links and bots known, our moderation actions on their
//!   way; what the page offers whom.
//! - [`stream`]: a bot's streamed message growing chunk by chunk until finished.
//! - [`audit`]: the audit trail's pages merged, entries, roles and waits in words.
//! - [`share`]: invite links (written, and read back from the address on load) and a new
//!   bot's `curl` example.
//! - [`engine`]: the delivery engine, sans I/O: join with resume, heartbeat, connect deadline,
//!   reconnect spread by close code, the outbox resent until acked, refused sends retried or
//!   marked. The integration tests drive it against a real server too. `engine/owners.rs`:
//!   moderation actions and audit pages (sent only while joined), posts held for slow mode.
//! - [`inbox`]: the person's inbox (issue 11): the sidebar's rooms and counts, the title
//!   count, which notifications show, and the inbox socket's rules (hello first, reads that
//!   move the read position, the rooms' backoff).
//! - [`outbox`]: the saved outbox (posts, edits, deletes, reactions), one key per room and
//!   name, merged entry by entry so tabs never overwrite each other, read entry by entry so
//!   older pages' outboxes load (its storage calls are wasm-only).
//! - [`rows`]: the message list as rows (days, groups, "New", pending), and links in text.
//! - [`list`]: what the list does after a change: where the viewport goes, what is announced,
//!   how a jump to a message pages back.
//! - [`reactions`]: the picker's emoji and the chips' tooltips.
//! - [`mentions`]: `@` autocompletion in the composer.
//!
//! Wasm only (component tests in headless Chromium):
//! - `connection.rs`: the engine's driver in the page, over the browser's `WebSocket` events.
//! - `inbox_driver.rs`: the page's one inbox socket (issue 11): feeds `inbox.rs`'s rules,
//!   keeps the sidebar signal, shows desktop notifications.
//! - `app.rs`: the shell: start page or room, by path.
//! - `ui/`: the components, one file per visible part: `home.rs` (start page), `room.rs`
//!   (a room: session, header with the topic, link state, saved outbox, title with mentions,
//!   message links), `members.rs` (members online, badges, their moderation menu),
//!   `banners.rs` (a refused join, the invite-only and removed screens, a refused moderation
//!   action), `ctx.rs` (what its parts share; the person's operations), `message_list.rs`
//!   (rows, per-row signals, scrolling, paging, jumps, announcements), `message_row.rs` (one
//!   message: author and bot badge, quote, text or tombstone, "(edited)", a streamed answer's
//!   marker, reaction chips, a refused change), `pending_row.rs` (one of ours on its way),
//!   `toolbar.rs`, `picker.rs` (emoji), `mod_tools.rs` (a message's moderation menu),
//!   `popup.rs` (those menus' popup and ban form), `composer.rs` (send, reply, Up-arrow edit)
//!   with `wait.rs` (muted, slow mode) and `autocomplete.rs` (its `@` suggestions),
//!   `settings.rs` (the room settings panel) with `bots.rs` and `audit_trail.rs`.
//! - `browser.rs`: small wrappers over local storage, time, randomness, location, clipboard.

pub mod audit;
pub mod device;
pub mod engine;
#[cfg(test)]
mod fixtures;
pub mod inbox;
pub mod list;
pub mod mentions;
pub mod moderation;
pub mod outbox;
pub mod pending;
pub mod reactions;
pub mod rows;
pub mod share;
pub mod state;
pub mod stream;
pub mod views;

#[cfg(target_arch = "wasm32")]
mod app;
#[cfg(target_arch = "wasm32")]
mod browser;
#[cfg(target_arch = "wasm32")]
mod connection;
#[cfg(target_arch = "wasm32")]
mod inbox_driver;
#[cfg(target_arch = "wasm32")]
mod ui;

/// Mounts the app on `<body>`.
#[cfg(target_arch = "wasm32")]
pub fn start() {
    leptos::mount::mount_to_body(app::App);
}
