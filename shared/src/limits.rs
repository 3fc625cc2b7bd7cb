//! The protocol's limits. The server enforces them; the client reads them from
//! `welcome.limits` and uses the same values for instant feedback.

use serde::{Deserialize, Serialize};

/// Longest member name, in characters, after trimming.
pub const NAME_MAX_CHARS: usize = 32;
/// Longest message text, in characters.
pub const TEXT_MAX_CHARS: usize = 4000;
/// Largest WebSocket text frame the room accepts, in bytes. A 4000-character message of
/// 4-byte characters, JSON-escaped, still fits.
pub const FRAME_MAX_BYTES: usize = 16 * 1024;
/// Longest public room name, in bytes (`[a-z0-9_-]`).
pub const ROOM_NAME_MAX_LEN: usize = 64;
/// Length of a private room id: 32 random bytes as lowercase hex.
pub const PRIVATE_ROOM_ID_LEN: usize = 64;
/// Most messages one `history` page returns.
pub const HISTORY_PAGE_MAX: u32 = 100;
/// Messages sent in `welcome` on a fresh join.
pub const WELCOME_MESSAGES: u32 = 50;
/// Most messages sent in `welcome` when resuming with `since`; past that `has_more` is set
/// and the client pages back with `history`.
pub const RESUME_MAX: u32 = 200;
/// The room relays a member's `typing` at most this often.
pub const TYPING_RELAY_INTERVAL_MS: u64 = 2_000;
/// Clients show "typing" this long after the last `typing` frame unless renewed.
pub const TYPING_DISPLAY_MS: u64 = 5_000;
/// Shortest and longest member key (the secret that owns a name).
pub const KEY_MIN_LEN: usize = 32;
/// See [`KEY_MIN_LEN`].
pub const KEY_MAX_LEN: usize = 128;
/// Longest `client_id` of a message.
pub const CLIENT_ID_MAX_LEN: usize = 64;

/// Default token-bucket size per member per room (override with the `RATE_BURST` var).
pub const DEFAULT_RATE_BURST: u32 = 20;
/// Default refill rate in messages per second (override with `RATE_PER_SEC`).
pub const DEFAULT_RATE_PER_SEC: u32 = 5;

/// The limits in force in a room, sent to every member in `welcome`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Limits {
    /// See [`NAME_MAX_CHARS`].
    pub name_max_chars: u32,
    /// See [`TEXT_MAX_CHARS`].
    pub text_max_chars: u32,
    /// See [`FRAME_MAX_BYTES`].
    pub frame_max_bytes: u32,
    /// See [`HISTORY_PAGE_MAX`].
    pub history_page_max: u32,
    /// Token-bucket size: messages a member may send in a burst.
    pub rate_burst: u32,
    /// Messages per second the bucket refills.
    pub rate_per_sec: u32,
}

impl Limits {
    /// The protocol's limits with the given rate limit.
    pub fn with_rate(rate_burst: u32, rate_per_sec: u32) -> Self {
        Self {
            name_max_chars: NAME_MAX_CHARS as u32,
            text_max_chars: TEXT_MAX_CHARS as u32,
            frame_max_bytes: FRAME_MAX_BYTES as u32,
            history_page_max: HISTORY_PAGE_MAX,
            rate_burst,
            rate_per_sec,
        }
    }
}

impl Default for Limits {
    fn default() -> Self {
        Self::with_rate(DEFAULT_RATE_BURST, DEFAULT_RATE_PER_SEC)
    }
}
