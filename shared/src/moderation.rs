//! Rooms with owners: who may do what ([`Role`]), what moderators do ([`Action`]), the room's
//! settings every member sees ([`RoomSettings`]), and the audit trail ([`AuditEntry`]).
//!
//! Every action is an event in the room's log (it takes the next `seq`), checked by the room,
//! never by the page. The rules, in short:
//! - the **owner** (whoever created a private room with their key, or a public room's first
//!   member) does everything, and alone names moderators;
//! - a **moderator** removes any message, mutes, bans, sets slow mode, the topic and
//!   invite-only, makes and revokes invite links, and reads the audit trail; nobody can act on
//!   the owner, and a moderator cannot act on another moderator;
//! - the owner and moderators make and revoke **bots**; a bot is a member with a token;
//! - the deployment's admin secret acts as an owner in any room (over HTTP).

use crate::chat::{Member, MemberId};
use crate::error::{ErrorCode, ProtocolError};
use crate::limits::{MUTE_MAX_MINUTES, SLOW_MODE_MAX_SECS, TOPIC_MAX_CHARS};
use crate::values::{Seq, UserName};
use serde::{Deserialize, Serialize};

/// What a member may do in a room.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// Chats.
    #[default]
    Member,
    /// A program with a token (shown with a bot badge); chats over HTTP or a socket.
    Bot,
    /// Moderates.
    Moderator,
    /// Moderates and names moderators; cannot be acted on.
    Owner,
}

impl Role {
    /// Whether this role moderates.
    pub fn moderates(self) -> bool {
        matches!(self, Self::Moderator | Self::Owner)
    }

    /// Whether this is the default role (left out of frames).
    pub fn is_member(&self) -> bool {
        *self == Self::Member
    }
}

/// The room's settings, as every member sees them (in `welcome`, and changed by `moderated`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RoomSettings {
    /// Shown under the room's name; empty for none.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub topic: String,
    /// Slow mode: a member (not a moderator or bot) posts at most once per this many seconds;
    /// 0 is off.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub slow_mode_secs: u32,
    /// Only existing members and holders of an invite link may join.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub invite_only: bool,
}

fn is_zero(n: &u32) -> bool {
    *n == 0
}

/// One moderation action, as sent in `moderate` and recorded in the log. Fields the room fills
/// in (an invite's code, a new bot's id) are ignored when a client sends them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Action {
    /// Remove a message: a tombstone marked "removed by a moderator" (a `delete` frame from a
    /// moderator on someone else's message is this).
    Remove {
        /// The message.
        id: Seq,
    },
    /// Silence a member for `minutes` (1 to [`MUTE_MAX_MINUTES`]); 0 lifts a mute.
    Mute {
        /// Who.
        member: MemberId,
        /// How long.
        minutes: u32,
    },
    /// Remove a member: their sockets close and they cannot join again; with `ip`, nobody can
    /// from the address they were last seen at; with `purge`, their messages are removed.
    Ban {
        /// Who.
        member: MemberId,
        /// Also ban their address.
        #[serde(default)]
        ip: bool,
        /// Also remove their messages (at most [`crate::limits::PURGE_MAX`], newest first).
        #[serde(default)]
        purge: bool,
    },
    /// Lift a ban (and the address ban that came with it).
    Unban {
        /// Who.
        member: MemberId,
    },
    /// Slow mode: 1 to [`SLOW_MODE_MAX_SECS`] seconds between posts per member; 0 is off.
    SlowMode {
        /// Seconds.
        seconds: u32,
    },
    /// The room's topic (at most [`TOPIC_MAX_CHARS`] characters; empty clears it).
    Topic {
        /// The text.
        text: String,
    },
    /// Invite-only on or off.
    InviteOnly {
        /// On.
        on: bool,
    },
    /// A new invite link. Its code is in the event as moderators see it, never in anyone
    /// else's.
    CreateInvite {
        /// Filled in by the room.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        code: Option<String>,
    },
    /// Revoke an invite link.
    RevokeInvite {
        /// Its code.
        code: String,
    },
    /// Owner only: make a member a moderator (`moderator`) or take it back (`member`).
    SetRole {
        /// Who.
        member: MemberId,
        /// `moderator` or `member`.
        role: Role,
    },
    /// A new bot named `name`. Its token goes to the socket that asked (`bot_created`), once.
    CreateBot {
        /// Its display name (a name like a member's; it must be free).
        name: String,
        /// Filled in by the room.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        member: Option<MemberId>,
    },
    /// Revoke a bot: its token stops working and its sockets close.
    RevokeBot {
        /// Which.
        member: MemberId,
    },
}

impl Action {
    /// Checks what can be checked without the room: lengths and ranges.
    pub fn validate(&self) -> Result<(), ProtocolError> {
        let bad = |m: String| Err(ProtocolError::new(ErrorCode::BadRequest, m));
        match self {
            Self::Mute { minutes, .. } if *minutes > MUTE_MAX_MINUTES => {
                bad(format!("a mute lasts at most {MUTE_MAX_MINUTES} minutes"))
            }
            Self::SlowMode { seconds } if *seconds > SLOW_MODE_MAX_SECS => {
                bad(format!("slow mode is 0 (off) to {SLOW_MODE_MAX_SECS} seconds"))
            }
            Self::Topic { text } => {
                if text.chars().count() > TOPIC_MAX_CHARS {
                    return bad(format!("a topic has at most {TOPIC_MAX_CHARS} characters"));
                }
                if text.chars().any(char::is_control) {
                    return bad("a topic is one line without control characters".into());
                }
                Ok(())
            }
            Self::SetRole { role, .. } if !matches!(role, Role::Moderator | Role::Member) => {
                bad("a role is `moderator` or `member`".into())
            }
            Self::CreateBot { name, .. } => UserName::parse(name).map(|_| ()),
            Self::RevokeInvite { code } if code.is_empty() || code.len() > 64 => bad("not an invite code".into()),
            _ => Ok(()),
        }
    }

    /// The action as a member who does not moderate sees it in the log: an invite's code is
    /// left out.
    pub fn public(&self) -> Self {
        match self {
            Self::CreateInvite { .. } => Self::CreateInvite { code: None },
            Self::RevokeInvite { .. } => Self::RevokeInvite { code: String::new() },
            other => other.clone(),
        }
    }
}

/// One moderation event, as the `moderated` frame and the audit trail show it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuditEntry {
    /// Its event `seq`.
    pub seq: Seq,
    /// When.
    pub ts: u64,
    /// Who acted (`id` 0 and name `admin` for the deployment's admin secret).
    pub by: Member,
    /// What they did.
    pub action: Action,
    /// The member acted on, if any, as the room knows them (they may be offline).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target: Option<Member>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn golden_actions() {
        let cases = [
            (Action::Remove { id: 4 }, json!({"kind": "remove", "id": 4})),
            (Action::Mute { member: 2, minutes: 10 }, json!({"kind": "mute", "member": 2, "minutes": 10})),
            (
                Action::Ban { member: 2, ip: true, purge: false },
                json!({"kind": "ban", "member": 2, "ip": true, "purge": false}),
            ),
            (Action::SlowMode { seconds: 30 }, json!({"kind": "slow_mode", "seconds": 30})),
            (Action::Topic { text: "hi".into() }, json!({"kind": "topic", "text": "hi"})),
            (Action::InviteOnly { on: true }, json!({"kind": "invite_only", "on": true})),
            (Action::CreateInvite { code: None }, json!({"kind": "create_invite"})),
            (
                Action::SetRole { member: 3, role: Role::Moderator },
                json!({"kind": "set_role", "member": 3, "role": "moderator"}),
            ),
            (
                Action::CreateBot { name: "deploys".into(), member: None },
                json!({"kind": "create_bot", "name": "deploys"}),
            ),
        ];
        for (action, wire) in cases {
            assert_eq!(serde_json::to_value(&action).unwrap(), wire);
            assert_eq!(serde_json::from_value::<Action>(wire).unwrap(), action);
        }
        let ban: Action = serde_json::from_value(json!({"kind": "ban", "member": 2})).unwrap();
        assert_eq!(ban, Action::Ban { member: 2, ip: false, purge: false });
    }

    #[test]
    fn validation() {
        assert!(Action::Mute { member: 1, minutes: MUTE_MAX_MINUTES }.validate().is_ok());
        assert!(Action::Mute { member: 1, minutes: MUTE_MAX_MINUTES + 1 }.validate().is_err());
        assert!(Action::SlowMode { seconds: 121 }.validate().is_err());
        assert!(Action::SlowMode { seconds: 0 }.validate().is_ok());
        assert!(Action::Topic { text: "x".repeat(TOPIC_MAX_CHARS + 1) }.validate().is_err());
        assert!(Action::Topic { text: "a\nb".into() }.validate().is_err());
        assert!(Action::SetRole { member: 1, role: Role::Owner }.validate().is_err());
        assert!(Action::SetRole { member: 1, role: Role::Bot }.validate().is_err());
        assert_eq!(
            Action::CreateBot { name: "\u{202e}x".into(), member: None }.validate().unwrap_err().code,
            ErrorCode::InvalidName
        );
    }

    #[test]
    fn invite_codes_stay_with_moderators() {
        let a = Action::CreateInvite { code: Some("secret".into()) };
        assert_eq!(a.public(), Action::CreateInvite { code: None });
        assert_eq!(
            Action::RevokeInvite { code: "secret".into() }.public(),
            Action::RevokeInvite { code: String::new() }
        );
        assert_eq!(Action::Topic { text: "t".into() }.public(), Action::Topic { text: "t".into() });
    }
}
