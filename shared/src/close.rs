//! WebSocket close codes the room uses, and what each asks of a client. The page's engine
//! reconnects by these (see `frontend/src/engine.rs`); bots should too.

/// The client closed, or the room completed a close the client started.
pub const NORMAL: u16 = 1000;
/// The socket showed no sign of life for `IDLE_LIMIT_MS` (a vanished peer), or the runtime is
/// going away (a deploy). Reconnect, spread over a few seconds.
pub const GOING_AWAY: u16 = 1001;
/// The socket broke a rule the room will not serve further on it: too many refused joins, a
/// flood far past its budget. Do not reconnect in a loop: wait long, or for the person to act.
pub const POLICY: u16 = 1008;
/// A frame was over `limits.frame_max_bytes`.
pub const TOO_BIG: u16 = 1009;
/// The room failed (a platform error). Reconnect with backoff.
pub const INTERNAL: u16 = 1011;
/// The service restarts (a deploy). Reconnect, spread over a few seconds.
pub const RESTART: u16 = 1012;
/// The room is over a limit right now (sockets per room or per address). Reconnect later.
pub const TRY_AGAIN_LATER: u16 = 1013;
/// No `join` arrived within [`crate::limits::JOIN_DEADLINE_MS`] of opening the socket.
/// Reconnect with backoff and join at once.
pub const JOIN_TIMEOUT: u16 = 4000;
/// The client speaks a protocol version the room no longer serves (a page open across a
/// deploy). Do not reconnect: reload the page.
pub const UNSUPPORTED_VERSION: u16 = 4001;
/// The member was banned, or the bot's token revoked. Do not reconnect: the room refuses the
/// join (`banned`; a revoked bot's token no longer owns its name: `name_taken`).
pub const REMOVED: u16 = 4003;
