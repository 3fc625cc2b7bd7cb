//! Validated values. Parse, don't validate: once a value has one of these types it is valid,
//! and the only way to get one from untrusted input is its `parse`, which says what is wrong.

use crate::error::{ErrorCode, ProtocolError};
use crate::limits::*;
use crate::names;
use serde::{Serialize, Serializer};
use std::fmt;

/// A position in a room's event log (every post, edit, delete and reaction change takes the next
/// one, with no holes); a message's id is the `seq` of its post.
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
    /// A member's display name, as everyone sees it: trimmed, each inner run of white space
    /// made one ASCII space, then 1–32 characters, none of them a control, format or
    /// default-ignorable character (the one exception is U+FE0F right after an emoji, as in
    /// `❤️`). So no name holds anything invisible or reorders the text around it. Two names
    /// are one member when their [`canonical`](UserName::canonical) forms are equal, and one
    /// claim when their look-alike `claim_key`s are (feature `claims`). The rules and their
    /// reasons are in [`crate::names`].
    UserName
);
string_newtype!(
    /// A message's text: 1–4000 characters, kept as typed, no control characters other than
    /// newline, carriage return and tab, and not only white space or other characters that
    /// show nothing (default-ignorables such as U+200B, U+2060, U+FE0F, and U+2800).
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

string_newtype!(
    /// A reaction: an emoji sequence (flags, skin tones and ZWJ sequences included) or a short
    /// word, 1–16 characters and at most 64 bytes, with no white space, control or invisible
    /// character except the joiners emoji sequences need (U+200D, U+FE0F and the tag
    /// characters of subdivision flags). Kept as sent: `👍` and `👍🏽` are two reactions.
    Emoji
);

fn is_token_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '_' || c == '-'
}

impl Emoji {
    /// Parses a reaction. The joiners emoji sequences need are accepted only where a sequence
    /// uses them (U+FE0F after a character, U+200D between two, tag characters after a black
    /// flag and ending with a cancel tag), so `👍` and `👍` plus a stray selector are not two
    /// reactions that look alike.
    pub fn parse(s: &str) -> Result<Self, ProtocolError> {
        let refused = || {
            ProtocolError::new(
                ErrorCode::InvalidReaction,
                format!("a reaction is 1 to {REACTION_MAX_CHARS} visible characters, without spaces"),
            )
        };
        let chars: Vec<char> = s.chars().collect();
        if chars.is_empty() || chars.len() > REACTION_MAX_CHARS || s.len() > REACTION_MAX_BYTES {
            return Err(refused());
        }
        const VS16: char = '\u{FE0F}';
        const ZWJ: char = '\u{200D}';
        const BLACK_FLAG: char = '\u{1F3F4}';
        const CANCEL_TAG: char = '\u{E007F}';
        let is_tag = |c: char| ('\u{E0020}'..='\u{E007F}').contains(&c);
        let is_joiner = |c: char| c == VS16 || c == ZWJ || is_tag(c);
        let mut in_tags = false;
        for (i, &c) in chars.iter().enumerate() {
            let prev = i.checked_sub(1).and_then(|p| chars.get(p)).copied();
            let next = chars.get(i + 1).copied();
            let ok = match c {
                VS16 => prev.is_some_and(|p| !is_joiner(p)),
                ZWJ => prev.is_some_and(|p| p == VS16 || !is_joiner(p)) && next.is_some_and(|n| !is_joiner(n)),
                c if is_tag(c) => {
                    let starts = prev == Some(BLACK_FLAG);
                    let ok = in_tags || (starts && c != CANCEL_TAG);
                    in_tags = ok && c != CANCEL_TAG;
                    ok
                }
                c => !in_tags && !c.is_whitespace() && !c.is_control() && !names::is_default_ignorable(c),
            };
            if !ok {
                return Err(refused());
            }
        }
        if in_tags {
            return Err(refused());
        }
        Ok(Self(s.to_owned()))
    }
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
    /// Parses a display name: trims white space at both ends, refuses control, format and
    /// default-ignorable characters (U+FE0F only right after an emoji is allowed), turns each
    /// inner run of white space into one ASCII space, and counts what is left in characters.
    pub fn parse(s: &str) -> Result<Self, ProtocolError> {
        let t = s.trim();
        if t.is_empty() {
            return Err(ProtocolError::new(ErrorCode::InvalidName, "the name is empty"));
        }
        // Before collapsing: line breaks are white space too, and refused inside a name.
        if names::has_refused_char(t) {
            return Err(ProtocolError::new(
                ErrorCode::InvalidName,
                "a name cannot contain control or invisible characters",
            ));
        }
        let display = names::collapse_white_space(t);
        if display.chars().count() > NAME_MAX_CHARS {
            return Err(ProtocolError::new(
                ErrorCode::InvalidName,
                format!("a name has at most {NAME_MAX_CHARS} characters"),
            ));
        }
        Ok(Self(display))
    }

    /// The form names are one member by: the display with U+FE0F dropped, NFKC-normalised
    /// and fully case-folded (Unicode's compatibility caseless match), white space collapsed.
    /// So `Alice`/`ALICE`, `José` in NFC/NFD, `ａｌｉｃｅ`/`alice`, `Straße`/`STRASSE` and
    /// `❤️ bob`/`❤ bob` are each one name. It does not catch look-alikes from other scripts
    /// (`аlice` with a Cyrillic а): the room claims names by `claim_key` (feature `claims`).
    pub fn canonical(&self) -> String {
        names::canonical(&self.0)
    }

    /// The key a room claims a name by: the Unicode TS #39 confusable skeleton of
    /// [`canonical`](Self::canonical). Names that look alike share it: `alice`, `Alice`,
    /// `аlice` (Cyrillic а) and `ａｌｉｃｅ`; `emma` and `ernrna`; `José` in NFC and NFD.
    /// Not meant for display (`m` becomes `rn`, `0` becomes `O`). Case is folded before the
    /// skeleton, so capitals that look like other letters (`AIice` with a capital i, Cyrillic
    /// `ВОВ`) are not caught. Only with the `claims` feature, because it carries the
    /// confusables table.
    #[cfg(feature = "claims")]
    pub fn claim_key(&self) -> String {
        names::claim_key(&self.0)
    }
}

impl MessageText {
    /// Parses a message's text. It is kept as typed: only the checks, no trimming. A text of
    /// only white space, default-ignorable characters and U+2800 (blank braille) is
    /// `empty_text`.
    pub fn parse(s: &str) -> Result<Self, ProtocolError> {
        // Invisible characters count as white space here only: the text is kept as typed.
        if s.chars().all(names::is_blank) {
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

    fn name(s: &str) -> UserName {
        UserName::parse(s).unwrap_or_else(|e| panic!("{s:?} should parse: {}", e.message))
    }

    fn refused(s: &str) {
        assert_eq!(UserName::parse(s).map(|n| n.into_string()).unwrap_err().code, ErrorCode::InvalidName, "{s:?}");
    }

    #[test]
    fn canonical_is_nfkc_and_case_folded() {
        for (a, b) in [
            ("José", "Jose\u{301}"),    // NFC and NFD
            ("ａｌｉｃｅ", "alice"),    // full-width (NFKC)
            ("ＡＬＩＣＥ", "alice"),    // full-width capitals
            ("Straße", "STRASSE"),      // full case folding, not lowercasing
            ("ΟΔΟΣ", "οδοσ"),           // final sigma folds like sigma
            ("❤\u{FE0F} bob", "❤ bob"), // the emoji selector is not part of the name
            ("ﬁne", "fine"),            // ligature (NFKC)
        ] {
            assert_eq!(name(a).canonical(), name(b).canonical(), "{a:?} / {b:?}");
        }
        assert_eq!(name("José").canonical(), "jos\u{e9}");
        assert_eq!(name("❤\u{FE0F} Bob").canonical(), "❤ bob");
        assert_ne!(name("alice").canonical(), name("bob").canonical());
        // Canonical does not do look-alikes; the claim key does.
        assert_ne!(name("alice").canonical(), name("\u{430}lice").canonical());
    }

    #[test]
    fn look_alike_names_share_one_claim_key() {
        for (a, b) in [
            ("alice", "\u{430}lice"), // Cyrillic а
            ("José", "Jose\u{301}"),
            ("a b", "a\u{A0}b"),
            ("a b", "a  b"),
            ("a b", "a\u{3000}\u{2003} b"),
            ("Alice", "alice"),
            ("ａｌｉｃｅ", "alice"),
            ("❤\u{FE0F} bob", "❤ bob"),
            ("emma", "ernrna"),
            ("Paypal", "\u{420}\u{430}ypal"),
        ] {
            assert_eq!(name(a).claim_key(), name(b).claim_key(), "{a:?} / {b:?}");
        }
        for (a, b) in [("alice", "bob"), ("alice", "alice2"), ("ann", "anne"), ("a b", "ab")] {
            assert_ne!(name(a).claim_key(), name(b).claim_key(), "{a:?} / {b:?}");
        }
    }

    #[test]
    fn invisible_characters_are_refused_in_names() {
        for bad in [
            "alice\u{FE0F}",  // the emoji selector after a letter is invisible
            "alice\u{E0100}", // variation selectors supplement
            "alice\u{FE00}",
            "\u{2764}\u{FE0E}", // text-style selector
            "\u{2764}\u{FE0F}\u{FE0F}",
            "\u{FE0F}",
            "al\u{2028}ice", // line separator (Zl)
            "al\u{2029}ice", // paragraph separator (Zp)
            "a\u{85}b",      // next line (Cc)
            "a\tb",
            "zero\u{200B}width",
            "a\u{200D}b",
            "a\u{2060}b",
            "a\u{180E}b", // Mongolian vowel separator
            "\u{3164}",   // Hangul filler
            "\u{115F}a",
            "a\u{AD}b",                   // soft hyphen
            "a\u{34F}b",                  // combining grapheme joiner
            "\u{600}1",                   // Arabic number sign (Cf, not default-ignorable)
            "a\u{FFF9}b\u{FFFB}",         // interlinear annotation (Cf)
            "a\u{E0041}",                 // tag character
            "\u{1F469}\u{200D}\u{1F4BB}", // emoji ZWJ sequence
        ] {
            refused(bad);
        }
    }

    #[test]
    fn emoji_keep_their_presentation_selector() {
        assert_eq!(name("❤\u{FE0F} bob").as_str(), "❤\u{FE0F} bob");
        assert!(UserName::parse("❤️ bob").is_ok());
        assert!(UserName::parse("1\u{FE0F}\u{20E3} fan").is_ok(), "keycap");
        assert!(UserName::parse("\u{263A}\u{FE0F}").is_ok());
        assert!(UserName::parse("\u{1F44B}\u{1F3FD} hi").is_ok(), "skin tone modifier");
        assert!(UserName::parse("\u{1F1EB}\u{1F1F7} fan").is_ok(), "flag of France");
    }

    #[test]
    fn white_space_is_collapsed_in_the_display() {
        assert_eq!(name("a  b").as_str(), "a b");
        assert_eq!(name("a\u{A0}b").as_str(), "a b");
        assert_eq!(name(" \u{3000}a \u{2003}\u{205F} b\u{2028}").as_str(), "a b");
        assert_eq!(name(&format!("a{}b", " ".repeat(60))).as_str(), "a b", "counted after collapsing");
        assert_eq!(name("\u{2029}alice\n").as_str(), "alice", "line breaks at the ends are trimmed");
        assert_eq!(name(&format!("a{}", " b".repeat(15))).as_str().chars().count(), 31);
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
    fn message_texts_of_only_invisible_characters_are_empty() {
        for empty in [
            "\u{200B}",
            "\u{FE0F}",
            " \u{2060} \n\u{2060}",
            "\u{200B}\u{200C}\u{200D}",
            "\u{2800}",
            "\u{E0100}\u{3164}",
        ] {
            assert_eq!(MessageText::parse(empty).unwrap_err().code, ErrorCode::EmptyText, "{empty:?}");
        }
        // Kept as typed, invisible characters and all.
        assert_eq!(MessageText::parse("a\u{200B}").unwrap().as_str(), "a\u{200B}");
        assert_eq!(MessageText::parse("❤\u{FE0F}").unwrap().as_str(), "❤\u{FE0F}");
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
