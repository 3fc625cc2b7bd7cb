//! Confab's page: a Leptos client-side app, compiled to WebAssembly by trunk.
//!
//! # Layout
//! - [`state`]: what the page knows about a room, built only by applying server frames; pure,
//!   idempotent, tested natively.
//! - [`engine`]: the delivery engine, sans I/O: join with resume, heartbeat, reconnect with
//!   jittered backoff, the outbox resent until acked. Tested natively; the integration tests
//!   drive it against a real server too.
//! - `connection.rs` (wasm only): the engine's driver in the page, over a gloo-net socket.
//! - `app.rs` (wasm only): the components: start page, room header, message list, members,
//!   typing line, composer.
//! - `browser.rs` (wasm only): small wrappers over local storage, time, randomness, location.

pub mod engine;
pub mod state;

#[cfg(target_arch = "wasm32")]
mod app;
#[cfg(target_arch = "wasm32")]
mod browser;
#[cfg(target_arch = "wasm32")]
mod connection;

/// Mounts the app on `<body>`.
#[cfg(target_arch = "wasm32")]
pub fn start() {
    leptos::mount::mount_to_body(app::App);
}
