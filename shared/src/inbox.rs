//! A person's inbox (issue 11, in progress; design in docs/ARCHITECTURE.md): the frames
//! between a page and its person's `Inbox` object, and the inbox's name, derived from the
//! browser's key by the page, the Worker and every room alike.

use crate::values::{MemberKey, Seq};
use crate::MemberId;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// The name of the inbox that belongs to `key`: `inbox-` and 64 hex digits of SHA-256. Not a
/// secret (a room keeps it on the member's row to address notifications); opening the inbox
/// needs the key itself, which it checks against its name.
pub fn inbox_id(key: &MemberKey) -> String {
    let digest = Sha256::digest(format!("confab-inbox:v1:{}", key.as_str()));
    std::iter::once("inbox-".to_owned()).chain(digest.iter().map(|b| format!("{b:02x}"))).collect()
}

/// The room two people's direct messages live in: `dm-` and 60 hex digits of SHA-256 of their
/// two inboxes' names in sorted order. Both sides arrive at the same room; nobody else can
/// guess it (and its room admits only those two keys anyway).
pub fn dm_room(a: &str, b: &str) -> String {
    let (first, second) = if a <= b { (a, b) } else { (b, a) };
    let digest = Sha256::digest(format!("confab-dm:v1:{first}:{second}"));
    let hex: String = digest.iter().map(|b| format!("{b:02x}")).collect();
    format!("dm-{}", hex.get(..60).unwrap_or_default())
}

/// When a room's posts raise a notification.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Level {
    /// Every post by someone else.
    All,
    /// Posts that mention you (the default in rooms).
    Mentions,
    /// None.
    Nothing,
}

/// One room as the person's sidebar shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RoomCounts {
    /// The room's name.
    pub room: String,
    /// A direct message.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub dm: bool,
    /// Everything up to here is read (the same on every tab and device of the person).
    pub last_read: Seq,
    /// Posts by others after `last_read`, not deleted (exact; 9,999 at most shown as such).
    pub unread: u32,
    /// Of those, the ones that mention the person.
    pub mentions: u32,
    /// When its posts notify.
    pub level: Level,
    /// A direct message's other person, by the name they were known by when it started.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub peer: Option<String>,
}

/// Page → inbox.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", content = "data", rename_all = "snake_case")]
pub enum InboxFrame {
    /// First on every socket: the key whose inbox this is (checked against the inbox's name).
    Hello {
        /// The browser's key (a [`MemberKey`]; checked by the inbox).
        key: String,
    },
    /// This tab showed `room` up to `seq` while focused.
    Read {
        /// The room.
        room: String,
        /// Its newest event read.
        seq: Seq,
    },
    /// "Mark as unread from here": message `id` and everything after it are unread again.
    MarkUnread {
        /// The room.
        room: String,
        /// The message.
        id: Seq,
    },
    /// A room's notification level.
    Level {
        /// The room.
        room: String,
        /// The level.
        level: Level,
    },
    /// The room this (focused) tab shows, or `None` when it loses focus.
    Focus {
        /// The room.
        room: Option<String>,
    },
    /// Start (or open) a direct message with `member` of `room`, a room the person is in.
    /// Answered with the DM room's `counts` on every page, then `dm_opened` on this socket.
    Dm {
        /// Where the other person is a member.
        room: String,
        /// Their member id there.
        member: MemberId,
    },
}

/// Inbox → page.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", content = "data", rename_all = "snake_case")]
pub enum InboxEvent {
    /// Answers `hello`: every room of the person.
    Rooms {
        /// By name.
        rooms: Vec<RoomCounts>,
    },
    /// One room's counts changed.
    Counts(RoomCounts),
    /// A frame was refused (an unknown room, too many rooms, too many DMs started, a member
    /// who cannot be messaged).
    Refused {
        /// Stable code.
        code: crate::ErrorCode,
        /// For people.
        message: String,
    },
    /// Answers `dm` on the socket that asked: the direct message to open (listed already).
    DmOpened {
        /// The DM room.
        room: String,
    },
    /// Something to notify of (a page shows it only while hidden).
    Notify {
        /// The room.
        room: String,
        /// The newest message it is about.
        id: Seq,
        /// Its author.
        author: String,
        /// Its start.
        excerpt: String,
        /// How many notifications this one stands for (the room was noisy).
        count: u32,
    },
}

/// Room → inbox: what happened to posts, for the counts. A batch covers the room's log from
/// `from` (exclusive) to `to`: one that does not start where the last ended missed something.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Summaries {
    /// The room.
    pub room: String,
    /// The person's member there.
    pub member: MemberId,
    /// Covered from (exclusive).
    pub from: Seq,
    /// Covered to.
    pub to: Seq,
    /// The posts and deletes, oldest first.
    pub posts: Vec<PostSummary>,
}

/// One post (or delete) in [`Summaries`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PostSummary {
    /// The message.
    pub id: Seq,
    /// Its author.
    pub member: MemberId,
    /// Its author's name.
    pub author: String,
    /// It mentions the person.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub mentions_me: bool,
    /// It was deleted (then `excerpt` is empty).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub deleted: bool,
    /// The start of its text (140 characters at most).
    pub excerpt: String,
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn an_inbox_is_named_by_its_key_alone() {
        let k = MemberKey::parse(&"a".repeat(40)).unwrap();
        let id = inbox_id(&k);
        assert_eq!(id.len(), 6 + 64);
        assert!(id.starts_with("inbox-"));
        assert_eq!(id, inbox_id(&MemberKey::parse(&"a".repeat(40)).unwrap()), "stable");
        assert_ne!(id, inbox_id(&MemberKey::parse(&"b".repeat(40)).unwrap()));
        // Pinned: the page, the Worker and the rooms must agree on it across builds.
        assert_eq!(
            inbox_id(&MemberKey::parse("0123456789abcdef0123456789abcdef").unwrap()),
            format!("inbox-{}", hex(&Sha256::digest(b"confab-inbox:v1:0123456789abcdef0123456789abcdef")))
        );
    }

    #[test]
    fn a_dm_room_is_the_same_from_both_sides_and_a_valid_room_name() {
        let (a, b) = ("inbox-aa", "inbox-bb");
        assert_eq!(dm_room(a, b), dm_room(b, a));
        assert_ne!(dm_room(a, b), dm_room(a, "inbox-cc"));
        assert!(crate::RoomName::parse(&dm_room(a, b)).is_ok());
        assert_eq!(dm_room(a, b).len(), 63);
    }

    fn hex(b: &[u8]) -> String {
        b.iter().map(|x| format!("{x:02x}")).collect()
    }

    #[test]
    fn golden_frames() {
        let f = InboxFrame::Read { room: "lobby".into(), seq: 9 };
        assert_eq!(serde_json::to_value(&f).unwrap(), json!({"type": "read", "data": {"room": "lobby", "seq": 9}}));
        let f = InboxFrame::Focus { room: None };
        assert_eq!(serde_json::to_value(&f).unwrap(), json!({"type": "focus", "data": {"room": null}}));
        let e = InboxEvent::Counts(RoomCounts {
            room: "lobby".into(),
            dm: false,
            last_read: 9,
            unread: 3,
            mentions: 1,
            level: Level::Mentions,
            peer: None,
        });
        assert_eq!(
            serde_json::to_value(&e).unwrap(),
            json!({"type": "counts", "data": {"room": "lobby", "last_read": 9, "unread": 3, "mentions": 1, "level": "mentions"}})
        );
        assert_eq!(
            serde_json::to_value(InboxEvent::DmOpened { room: "dm-1".into() }).unwrap(),
            json!({"type": "dm_opened", "data": {"room": "dm-1"}})
        );
        for f in [
            InboxFrame::MarkUnread { room: "r".into(), id: 4 },
            InboxFrame::Level { room: "r".into(), level: Level::All },
        ] {
            assert_eq!(serde_json::from_str::<InboxFrame>(&serde_json::to_string(&f).unwrap()).unwrap(), f);
        }
    }
}
