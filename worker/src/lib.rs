//! Confab's Worker: HTTP routing and the `ChatRoom` Durable Object, one per room.
//!
//! # Layout
//! - [`room`]: the room's rules as a pure state machine (no I/O, time passed in).
//! - [`inbox`]: a person's inbox, its rules (issue 11, in progress; docs/ARCHITECTURE.md).
//! - [`outbox`]: coalesced fan-out: the queued frames, and the fewest writes that send them.
//! - [`store`]: what the room needs from storage; [`store::MemoryStore`] for native tests.
//! - `durable.rs` (wasm only): the `ChatRoom` Durable Object, thin glue that feeds socket
//!   events to the room and carries out its effects, with `SqlStore` on Durable Object SQLite.
//! - [`webhook`]: outgoing webhooks' pure parts (URL checks, signatures, retries).
//! - [`routes`]: the HTTP surface as plain functions (routing, query, `Origin` check).
//! - `http.rs` (wasm only): the Worker's `fetch`: routes `/api/*`, checks room names, the
//!   upgrade and the `Origin`, and forwards to the room's object.

// A panic in the Worker re-creates the room's object and drops every socket in it, so code
// that handles network input must not have a way to panic: no `unwrap`, no `panic!`, no
// unchecked indexing. The remaining `expect`s state an invariant the code itself upholds.
#![cfg_attr(
    not(test),
    deny(clippy::unwrap_used, clippy::panic, clippy::indexing_slicing, clippy::todo, clippy::unimplemented)
)]

pub mod budget;
pub mod inbox;
pub mod migrate;
pub mod outbox;
pub mod room;
pub mod routes;
pub mod store;
pub mod webhook;

#[cfg(target_arch = "wasm32")]
mod durable;
#[cfg(target_arch = "wasm32")]
mod http;
#[cfg(target_arch = "wasm32")]
mod inbox_object;
#[cfg(target_arch = "wasm32")]
mod sql;
