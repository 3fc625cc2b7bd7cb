//! What a room holds, as clients see it: members, messages in their current state, quotes and
//! reaction summaries; and the two text rules both ends share (a quote's excerpt, the `@name`
//! candidates a room resolves to member ids).

use crate::limits::{EXCERPT_MAX_CHARS, MENTIONS_MAX, NAME_MAX_CHARS};
use crate::moderation::Role;
use crate::values::Seq;
use serde::{Deserialize, Serialize};

/// A member's id in its room: assigned when a key first claims a name there, never reused,
/// never shared with another room. Display names can change their case or spacing; the id
/// does not. Another key that later takes a lapsed name gets a new id.
pub type MemberId = u64;

/// A member as frames name one: the id to key by, the name to show.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Member {
    /// Stable id.
    pub id: MemberId,
    /// Display name, as the member last joined with it.
    pub name: String,
    /// What the member may do here (left out for a plain member).
    #[serde(default, skip_serializing_if = "Role::is_member")]
    pub role: Role,
}

impl Member {
    /// A plain member.
    pub fn new(id: MemberId, name: impl Into<String>) -> Self {
        Self { id, name: name.into(), role: Role::Member }
    }
}

/// One message, in its current state (after every edit, delete and reaction so far).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChatMessage {
    /// The message's id: the `seq` of its post in the room's event log.
    pub id: Seq,
    /// The `seq` of the newest event that changed it (its post, an edit, its delete, a
    /// reaction). A client holding a copy with a higher `version` keeps that one.
    pub version: Seq,
    /// The author's member id.
    pub member: MemberId,
    /// The author's display name when it was sent (authenticated by the room, never taken
    /// from the frame).
    pub author: String,
    /// The sender's id for it: lets the sender match it to its outbox.
    pub client_id: String,
    /// The text, as last edited. Plain text: clients must never interpret it as HTML. Empty
    /// once deleted.
    pub text: String,
    /// When the room stored the post, in ms since the Unix epoch; never goes backwards.
    pub ts: u64,
    /// When it was last edited.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub edited_ts: Option<u64>,
    /// Deleted (by its author, or removed by a moderator): a tombstone that keeps its place. Text, mentions, reactions and
    /// earlier versions are gone from the room's storage.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub deleted: bool,
    /// Deleted by a moderator, not its author ("removed by a moderator").
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub removed: bool,
    /// Posted by a bot (shown with a badge).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub bot: bool,
    /// Still being written (a bot's streamed answer): `appended` frames extend `text` until
    /// `finished`.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub streaming: bool,
    /// The message this one replies to, as it is now.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reply_to: Option<Quote>,
    /// Members the text mentions (`@name`), resolved by the room.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub mentions: Vec<MemberId>,
    /// Reaction summary, in the order each emoji was first used.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub reactions: Vec<Reaction>,
}

/// The message a reply quotes, as it is now: it follows edits, and a delete empties it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Quote {
    /// The quoted message's id: clients jump to it.
    pub id: Seq,
    /// Its author's member id.
    pub member: MemberId,
    /// Its author's display name.
    pub author: String,
    /// [`excerpt`] of its text; empty if deleted.
    pub excerpt: String,
    /// The quoted message was deleted.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub deleted: bool,
}

/// One emoji's reactions on a message. Clients replace the whole list when a `reactions`
/// frame arrives: summaries, never deltas, so a lost or repeated frame cannot skew a count.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Reaction {
    /// The emoji (or short text) reacted with.
    pub emoji: String,
    /// How many members reacted with it.
    pub count: u32,
    /// The first members who did, at most [`crate::limits::REACTION_NAMES_MAX`], earliest
    /// first, for a tooltip.
    pub names: Vec<String>,
    /// Whether the member this frame went to is one of them.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub mine: bool,
}

/// The quote of `text`: white space collapsed, at most [`EXCERPT_MAX_CHARS`] characters
/// ending in `…` when cut. The room sends it; a client that sees an edit recomputes it for
/// the replies it holds with this same function.
pub fn excerpt(text: &str) -> String {
    let flat = text.split_whitespace().collect::<Vec<_>>().join(" ");
    if flat.chars().count() <= EXCERPT_MAX_CHARS {
        return flat;
    }
    let mut cut: String = flat.chars().take(EXCERPT_MAX_CHARS - 1).collect();
    cut.truncate(cut.trim_end().len());
    cut.push('…');
    cut
}

/// Where `text` may mention someone: for each `@` at the start or after a character that is
/// not a letter or digit, the names it could begin (as many words as fit in a name, trailing
/// punctuation dropped), longest first. The room takes, per `@`, the first that is a member's
/// name. At most [`MENTIONS_MAX`] `@`s are looked at.
pub fn mention_candidates(text: &str) -> Vec<Vec<String>> {
    let mut out = Vec::new();
    let mut prev: Option<char> = None;
    for (i, c) in text.char_indices() {
        if c == '@' && !prev.is_some_and(char::is_alphanumeric) {
            let rest = text.get(i + 1..).unwrap_or_default();
            let mut words: Vec<&str> = Vec::new();
            // As many words as a name can hold (names are at most NAME_MAX_CHARS long); a line
            // break or tab ends the name.
            let mut len = 0;
            for w in rest.split(' ') {
                let head = w.split(['\n', '\t']).next().unwrap_or_default();
                if head.is_empty() || head.starts_with('@') {
                    break;
                }
                len += head.chars().count() + usize::from(!words.is_empty());
                if len > NAME_MAX_CHARS {
                    break;
                }
                words.push(head);
                if head.len() != w.len() {
                    break;
                }
            }
            let mut names = Vec::new();
            for n in (1..=words.len()).rev() {
                let joined = words.iter().take(n).copied().collect::<Vec<_>>().join(" ");
                // "Bob (work)" is a name; "(@eve)" mentions eve: try both readings.
                let keep_paren = joined.trim_end_matches(|c: char| is_trailing_punct(c) && c != ')');
                let bare = joined.trim_end_matches(is_trailing_punct);
                for name in [keep_paren, bare] {
                    if !name.is_empty() && name.chars().count() <= NAME_MAX_CHARS && !names.iter().any(|n| n == name) {
                        names.push(name.to_owned());
                    }
                }
            }
            if !names.is_empty() {
                out.push(names);
                if out.len() >= MENTIONS_MAX {
                    break;
                }
            }
        }
        prev = Some(c);
    }
    out
}

fn is_trailing_punct(c: char) -> bool {
    !c.is_alphanumeric() && !crate::names::is_emoji(c)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn excerpts_collapse_and_cut() {
        assert_eq!(excerpt("  hello\n\n world "), "hello world");
        let long = "word ".repeat(100);
        let e = excerpt(&long);
        assert!(e.chars().count() <= EXCERPT_MAX_CHARS, "{e}");
        assert!(e.ends_with('…') && !e.ends_with(" …"), "{e}");
        let exact = "x".repeat(EXCERPT_MAX_CHARS);
        assert_eq!(excerpt(&exact), exact);
        assert_eq!(excerpt(""), "");
    }

    #[test]
    fn mention_candidates_longest_first() {
        // Every candidate is only tried against the room's members: extra ones cost a lookup.
        assert_eq!(mention_candidates("hi @bob, look").first().unwrap().last().unwrap(), "bob");
        assert_eq!(mention_candidates("hi @bob"), vec![vec!["bob".to_owned()]]);
        assert_eq!(
            mention_candidates("@Alice Smith said hi"),
            vec![vec![
                "Alice Smith said hi".to_owned(),
                "Alice Smith said".to_owned(),
                "Alice Smith".to_owned(),
                "Alice".to_owned()
            ]]
        );
        assert!(mention_candidates("mail me at bob@example.com").is_empty());
        assert!(mention_candidates("@ alone").is_empty());
        assert_eq!(mention_candidates("(@eve)").first().unwrap().last().unwrap(), "eve");
        assert_eq!(mention_candidates("@a\nnext"), vec![vec!["a".to_owned()]]);
        assert_eq!(mention_candidates(&format!("@bob\n{}", "x".repeat(40))), vec![vec!["bob".to_owned()]]);
        let long = mention_candidates("@Anne Marie de Vries says hi");
        assert_eq!(long[0][1], "Anne Marie de Vries says", "four-word names are candidates");
        assert!(long[0].iter().all(|n| n.chars().count() <= NAME_MAX_CHARS));
        assert_eq!(mention_candidates("@a @b").len(), 2);
        assert_eq!(mention_candidates(&"@x ".repeat(100)).len(), MENTIONS_MAX);
    }
}
