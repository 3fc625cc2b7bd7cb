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
/// Most changed messages a resume's `welcome` replays; past that it is a fresh join's view
/// with `gap` set.
pub const RESUME_MAX: u32 = 200;
/// A resume further back than this many events is answered with a fresh view and `gap`
/// without looking at what changed: the room never scans an unbounded stretch of its log for
/// one join.
pub const RESUME_EVENTS_MAX: u64 = 5_000;
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

/// A socket that has not joined this long after opening is closed with
/// [`crate::close::JOIN_TIMEOUT`].
pub const JOIN_DEADLINE_MS: u64 = 10_000;
/// Refused joins (`name_taken`, `invalid_name`, …) one socket may make; the next closes it
/// with [`crate::close::POLICY`], so guessing keys or names costs a new connection each time.
pub const REFUSED_JOINS_MAX: u32 = 5;
/// Every frame a socket sends (any kind, `ping` aside) costs from its own budget: a token
/// bucket of this many frames...
pub const SOCKET_BURST: u32 = 60;
/// ...refilled at this many frames per second. Past it frames are refused with
/// `rate_limited`; far past it (another burst's worth of refused frames) the socket is closed
/// with [`crate::close::POLICY`].
pub const SOCKET_PER_SEC: u32 = 20;
/// What a `history` frame costs from the socket's budget: it reads and sends up to 100
/// messages, so it is priced like several frames.
pub const HISTORY_COST: u32 = 10;
/// Default room-wide budget: messages the whole room stores in a burst (`ROOM_RATE_BURST`),...
pub const DEFAULT_ROOM_RATE_BURST: u32 = 200;
/// ...and per second (`ROOM_RATE_PER_SEC`). Minting names cannot multiply past this.
pub const DEFAULT_ROOM_RATE_PER_SEC: u32 = 100;
/// Default cap on open sockets in one room (`MAX_SOCKETS`).
pub const DEFAULT_MAX_SOCKETS: u32 = 10_000;
/// Default cap on open sockets in one room from one client address (`MAX_SOCKETS_PER_IP`,
/// read from `CF-Connecting-IP`).
pub const DEFAULT_MAX_SOCKETS_PER_IP: u32 = 64;

/// Default burst of new sockets per client address per room (`CONNECT_RATE_BURST`): enough
/// for a household or an office reconnecting after a deploy...
pub const DEFAULT_CONNECT_BURST: u32 = 30;
/// ...then this many per second (`CONNECT_RATE_PER_SEC`).
pub const DEFAULT_CONNECT_PER_SEC: u32 = 2;

/// Default token-bucket size per member per room (override with the `RATE_BURST` var).
pub const DEFAULT_RATE_BURST: u32 = 20;
/// Default refill rate in messages per second (override with `RATE_PER_SEC`).
pub const DEFAULT_RATE_PER_SEC: u32 = 5;

/// The protocol version this build speaks; `join` and `welcome` carry it.
pub const PROTOCOL_VERSION: u32 = 2;
/// Characters of a quoted message a reply shows.
pub const EXCERPT_MAX_CHARS: usize = 140;
/// `@`s in one message the room resolves to members.
pub const MENTIONS_MAX: usize = 20;
/// Distinct emoji on one message.
pub const REACTIONS_PER_MESSAGE_MAX: u32 = 20;
/// Characters in one reaction (an emoji sequence, or a short word).
pub const REACTION_MAX_CHARS: usize = 16;
/// Bytes in one reaction.
pub const REACTION_MAX_BYTES: usize = 64;
/// Names a reaction summary lists (the count is exact; the names are a sample for a tooltip).
pub const REACTION_NAMES_MAX: usize = 10;
/// Earlier versions of a message the room keeps (the oldest go first).
pub const VERSIONS_MAX: u32 = 20;

/// The longest mute, in minutes (a week).
pub const MUTE_MAX_MINUTES: u32 = 7 * 24 * 60;
/// The longest slow-mode interval, in seconds.
pub const SLOW_MODE_MAX_SECS: u32 = 120;
/// A topic's length in characters.
pub const TOPIC_MAX_CHARS: usize = 200;
/// Messages a ban with `purge` removes at most (the member's newest).
pub const PURGE_MAX: u32 = 500;
/// Invite links a room keeps at once.
pub const INVITES_MAX: u32 = 100;
/// Bots a room may have at once.
pub const BOTS_MAX: u32 = 20;
/// Audit entries per `audit` page.
pub const AUDIT_PAGE_MAX: u32 = 100;
/// A streamed message's chunks: a burst of this many...
pub const STREAM_CHUNK_BURST: u32 = 40;
/// ...then this many per second.
pub const STREAM_CHUNKS_PER_SEC: u32 = 20;
/// A message being streamed that gets no chunk for this long is finished by the room (its
/// writer is gone).
pub const STREAM_IDLE_MS: u64 = 60_000;

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
    /// See [`REACTIONS_PER_MESSAGE_MAX`].
    #[serde(default = "reactions_per_message")]
    pub reactions_per_message: u32,
    /// See [`REACTION_MAX_CHARS`].
    #[serde(default = "reaction_max_chars")]
    pub reaction_max_chars: u32,
}

fn reactions_per_message() -> u32 {
    REACTIONS_PER_MESSAGE_MAX
}

fn reaction_max_chars() -> u32 {
    REACTION_MAX_CHARS as u32
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
            reactions_per_message: REACTIONS_PER_MESSAGE_MAX,
            reaction_max_chars: REACTION_MAX_CHARS as u32,
        }
    }
}

impl Default for Limits {
    fn default() -> Self {
        Self::with_rate(DEFAULT_RATE_BURST, DEFAULT_RATE_PER_SEC)
    }
}
