//! Validated values. Parse, don't validate: once a value has one of these types it is valid,
//! and the only way to get one from untrusted input is its `parse`, which says what is wrong.

use crate::error::{ErrorCode, ProtocolError};
use crate::limits::*;
use serde::{Serialize, Serializer};
use std::fmt;

/// A message's position in its room: SQLite's integer primary key, strictly increasing.
pub type Seq = u64;

macro_rules! string_newtype {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub struct $name(String);

        impl $name {
            /// The value as a string slice.
            pub fn as_str(&self) -> &str {
                &self.0
            }
            /// The value as an owned string.
            pub fn into_string(self) -> String {
                self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl Serialize for $name {
            fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.serialize_str(&self.0)
            }
        }

        impl AsRef<str> for $name {
            fn as_ref(&self) -> &str {
                &self.0
            }
        }
    };
}

string_newtype!(
    /// A room name: 1–64 of `[a-z0-9_-]`. Private rooms are 64 random hex digits, which is
    /// also a valid room name: the id is the secret.
    RoomName
);
string_newtype!(
    /// A member's display name: 1–32 characters after trimming, with no control or
    /// invisible formatting characters (so two names that look alike are rare, and no name
    /// can reorder the text around it).
    UserName
);
string_newtype!(
    /// A message's text: 1–4000 characters, not only white space, no control characters
    /// other than newline, carriage return and tab.
    MessageText
);
string_newtype!(
    /// Unique per message from one client (`[A-Za-z0-9_-]`, 1–64): a resend with the same id
    /// is recognised and stored once.
    ClientId
);
string_newtype!(
    /// The random secret a browser keeps for a name (`[A-Za-z0-9_-]`, 32–128). The first key
    /// to claim a name in a room owns it; the room stores only a hash.
    MemberKey
);

fn is_token_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '_' || c == '-'
}

/// Characters that render as nothing or change the direction of the text around them.
/// Unicode's `Cf` (format) class and the fillers that look blank, less the emoji variation
/// selectors, which people do put in names.
pub fn is_invisible(c: char) -> bool {
    matches!(c as u32,
        0x00AD | 0x034F | 0x061C | 0x115F | 0x1160 | 0x17B4 | 0x17B5 | 0x180B..=0x180F
        | 0x200B..=0x200F | 0x202A..=0x202E | 0x2060..=0x206F | 0x2800 | 0x3164
        | 0xFEFF | 0xFFA0 | 0xFFF9..=0xFFFB | 0x1D173..=0x1D17A | 0xE0000..=0xE007F)
}

impl RoomName {
    /// Parses a room name from a URL path segment.
    pub fn parse(s: &str) -> Result<Self, ProtocolError> {
        if s.is_empty() || s.len() > ROOM_NAME_MAX_LEN {
            return Err(ProtocolError::new(
                ErrorCode::InvalidRoom,
                format!("a room name has 1 to {ROOM_NAME_MAX_LEN} characters"),
            ));
        }
        if !s.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_' || b == b'-') {
            return Err(ProtocolError::new(ErrorCode::InvalidRoom, "a room name uses only a-z, 0-9, '_' and '-'"));
        }
        Ok(Self(s.to_owned()))
    }

    /// Whether this is a private room's id (64 hex digits) rather than a public name.
    pub fn is_private(&self) -> bool {
        self.0.len() == PRIVATE_ROOM_ID_LEN && self.0.bytes().all(|b| b.is_ascii_hexdigit())
    }
}

impl UserName {
    /// Parses a display name, trimming white space at both ends.
    pub fn parse(s: &str) -> Result<Self, ProtocolError> {
        let t = s.trim();
        let n = t.chars().count();
        if n == 0 {
            return Err(ProtocolError::new(ErrorCode::InvalidName, "the name is empty"));
        }
        if n > NAME_MAX_CHARS {
            return Err(ProtocolError::new(
                ErrorCode::InvalidName,
                format!("a name has at most {NAME_MAX_CHARS} characters"),
            ));
        }
        if t.chars().any(|c| c.is_control() || is_invisible(c)) {
            return Err(ProtocolError::new(
                ErrorCode::InvalidName,
                "a name cannot contain control or invisible characters",
            ));
        }
        Ok(Self(t.to_owned()))
    }

    /// The form names are owned and compared by: lowercase, so "Alice" and "alice" are one
    /// name and nobody can claim the other.
    pub fn canonical(&self) -> String {
        self.0.to_lowercase()
    }
}

impl MessageText {
    /// Parses a message's text. It is kept as typed: only the checks, no trimming.
    pub fn parse(s: &str) -> Result<Self, ProtocolError> {
        if s.trim().is_empty() {
            return Err(ProtocolError::new(ErrorCode::EmptyText, "the message is empty"));
        }
        if s.chars().count() > TEXT_MAX_CHARS {
            return Err(ProtocolError::new(
                ErrorCode::TextTooLong,
                format!("a message has at most {TEXT_MAX_CHARS} characters"),
            ));
        }
        if s.chars().any(|c| c.is_control() && !matches!(c, '\n' | '\r' | '\t')) {
            return Err(ProtocolError::new(ErrorCode::BadRequest, "a message cannot contain control characters"));
        }
        Ok(Self(s.to_owned()))
    }
}

impl ClientId {
    /// Parses a message's client id.
    pub fn parse(s: &str) -> Result<Self, ProtocolError> {
        if s.is_empty() || s.len() > CLIENT_ID_MAX_LEN || !s.chars().all(is_token_char) {
            return Err(ProtocolError::new(
                ErrorCode::BadRequest,
                format!("client_id is 1 to {CLIENT_ID_MAX_LEN} of A-Z, a-z, 0-9, '_', '-'"),
            ));
        }
        Ok(Self(s.to_owned()))
    }
}

impl MemberKey {
    /// Parses a member key.
    pub fn parse(s: &str) -> Result<Self, ProtocolError> {
        if s.len() < KEY_MIN_LEN || s.len() > KEY_MAX_LEN || !s.chars().all(is_token_char) {
            return Err(ProtocolError::new(
                ErrorCode::BadRequest,
                format!("key is {KEY_MIN_LEN} to {KEY_MAX_LEN} of A-Z, a-z, 0-9, '_', '-'"),
            ));
        }
        Ok(Self(s.to_owned()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn room_names() {
        assert!(RoomName::parse("lobby").is_ok());
        assert!(RoomName::parse("a-b_c-123").is_ok());
        assert!(RoomName::parse(&"a".repeat(64)).is_ok());
        for bad in ["", "Lobby", "a b", "a/b", "ü", "../x", &"a".repeat(65)] {
            assert_eq!(RoomName::parse(bad).unwrap_err().code, ErrorCode::InvalidRoom, "{bad:?}");
        }
        assert!(RoomName::parse(&"ab".repeat(32)).unwrap().is_private());
        assert!(!RoomName::parse("lobby").unwrap().is_private());
    }

    #[test]
    fn user_names_are_trimmed_and_counted_in_characters() {
        assert_eq!(UserName::parse("  alice ").unwrap().as_str(), "alice");
        assert!(UserName::parse(&"é".repeat(32)).is_ok());
        assert!(UserName::parse("❤️ bob").is_ok(), "emoji variation selector is allowed");
        let long = "é".repeat(33);
        for bad in
            ["", "   ", long.as_str(), "a\u{0}b", "a\nb", "ev\u{202E}il", "zero\u{200B}width", "\u{2800}", "a\u{FEFF}"]
        {
            assert_eq!(UserName::parse(bad).unwrap_err().code, ErrorCode::InvalidName, "{bad:?}");
        }
    }

    #[test]
    fn canonical_names_ignore_case() {
        assert_eq!(UserName::parse("Alice").unwrap().canonical(), UserName::parse("aLICE").unwrap().canonical());
    }

    #[test]
    fn message_texts() {
        assert!(MessageText::parse("hi\nthere\t!").is_ok());
        assert!(MessageText::parse(&"x".repeat(TEXT_MAX_CHARS)).is_ok());
        assert!(MessageText::parse(&"😀".repeat(TEXT_MAX_CHARS)).is_ok());
        assert_eq!(MessageText::parse("").unwrap_err().code, ErrorCode::EmptyText);
        assert_eq!(MessageText::parse(" \n\t ").unwrap_err().code, ErrorCode::EmptyText);
        assert_eq!(MessageText::parse(&"x".repeat(TEXT_MAX_CHARS + 1)).unwrap_err().code, ErrorCode::TextTooLong);
        assert_eq!(MessageText::parse("a\u{7}b").unwrap_err().code, ErrorCode::BadRequest);
    }

    #[test]
    fn ids_and_keys() {
        assert!(ClientId::parse("c-1_A").is_ok());
        assert!(ClientId::parse("").is_err());
        assert!(ClientId::parse("a b").is_err());
        assert!(ClientId::parse(&"a".repeat(65)).is_err());
        assert!(MemberKey::parse(&"k".repeat(32)).is_ok());
        assert!(MemberKey::parse(&"k".repeat(31)).is_err());
        assert!(MemberKey::parse(&"k".repeat(129)).is_err());
        assert!(MemberKey::parse(&format!("{}!", "k".repeat(40))).is_err());
    }
}
