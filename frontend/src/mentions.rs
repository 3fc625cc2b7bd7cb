//! `@` autocompletion in the composer: which name is being typed, which members match, and
//! the text once one is chosen. Pure (text and caret in, text and caret out), tested
//! natively; the room resolves mentions itself (`confab_shared::mention_candidates`).

/// Most suggestions shown at once.
pub const SUGGESTIONS_MAX: usize = 6;

/// The `@` being typed before byte offset `caret` of `text`: its byte offset and what follows
/// it so far. An `@` counts at the start or after a character that is not a letter or digit
/// (as the room reads mentions), and the name typed so far has no line break and at most
/// two spaces (names can have spaces).
pub fn query_at(text: &str, caret: usize) -> Option<(usize, String)> {
    let before = text.get(..caret)?;
    let at = before.rfind('@')?;
    let typed = &before[at + 1..];
    let prev = before[..at].chars().next_back();
    if prev.is_some_and(char::is_alphanumeric) || typed.contains(['\n', '\t', '@']) || typed.matches(' ').count() > 2 {
        return None;
    }
    Some((at, typed.to_owned()))
}

/// Members whose name starts with `query` (case-insensitive), then those containing it;
/// never `me`; at most [`SUGGESTIONS_MAX`].
pub fn suggest<'a>(members: impl IntoIterator<Item = &'a str>, query: &str, me: Option<&str>) -> Vec<String> {
    let q = query.to_lowercase();
    let mut starts = Vec::new();
    let mut contains = Vec::new();
    for name in members {
        if Some(name) == me {
            continue;
        }
        let lower = name.to_lowercase();
        if lower.starts_with(&q) {
            starts.push(name.to_owned());
        } else if lower.contains(&q) {
            contains.push(name.to_owned());
        }
    }
    starts.sort_by_key(|n| n.to_lowercase());
    contains.sort_by_key(|n| n.to_lowercase());
    starts.extend(contains);
    starts.truncate(SUGGESTIONS_MAX);
    starts
}

/// `text` with the `@` at byte `at` and what was typed up to `caret` replaced by `@name `,
/// and the caret after it.
pub fn complete(text: &str, at: usize, caret: usize, name: &str) -> (String, usize) {
    let head = text.get(..at).unwrap_or(text);
    let tail = text.get(caret..).unwrap_or_default();
    let inserted = format!("@{name} ");
    let caret = head.len() + inserted.len();
    (format!("{head}{inserted}{}", tail.strip_prefix(' ').unwrap_or(tail)), caret)
}

/// A byte offset in `text` from a UTF-16 offset (what a textarea's `selectionStart` is).
pub fn byte_offset(text: &str, utf16: usize) -> usize {
    let mut units = 0;
    for (i, c) in text.char_indices() {
        if units >= utf16 {
            return i;
        }
        units += c.len_utf16();
    }
    text.len()
}

/// The UTF-16 offset of byte offset `byte` in `text` (to put a textarea's caret there).
pub fn utf16_offset(text: &str, byte: usize) -> usize {
    text.get(..byte).unwrap_or(text).encode_utf16().count()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_query_is_the_at_being_typed() {
        assert_eq!(query_at("hi @bo", 6), Some((3, "bo".into())));
        assert_eq!(query_at("@", 1), Some((0, String::new())));
        assert_eq!(query_at("hi @Alice Sm", 12), Some((3, "Alice Sm".into())), "names have spaces");
        assert_eq!(query_at("mail bob@example", 16), None, "an address is not a mention");
        assert_eq!(query_at("@bob\nnext", 9), None);
        assert_eq!(query_at("hi @bob there you are", 21), None, "long past the name");
        assert_eq!(query_at("no at here", 10), None);
        assert_eq!(query_at("(@ev", 4), Some((1, "ev".into())));
        assert_eq!(query_at("é@", 99), None, "a caret past the end is no query");
    }

    #[test]
    fn suggestions_prefer_prefixes_and_leave_us_out() {
        let members = ["alice", "Bob", "bobby", "Rob", "zed"];
        assert_eq!(suggest(members, "bo", Some("alice")), ["Bob", "bobby"]);
        assert_eq!(suggest(members, "ob", None), ["Bob", "bobby", "Rob"]);
        assert_eq!(suggest(members, "", Some("alice")), ["Bob", "bobby", "Rob", "zed"]);
        assert!(suggest(members, "al", Some("alice")).is_empty());
    }

    #[test]
    fn completing_replaces_what_was_typed() {
        assert_eq!(complete("hi @bo", 3, 6, "Bob"), ("hi @Bob ".into(), 8));
        assert_eq!(complete("@a see", 0, 2, "alice"), ("@alice see".into(), 7), "no double space");
        let text = "😀 @b";
        let caret = byte_offset(text, 5);
        assert_eq!(caret, text.len());
        let (done, at) = complete(text, query_at(text, caret).expect("a query").0, caret, "bob");
        assert_eq!(done, "😀 @bob ");
        assert_eq!(utf16_offset(&done, at), 8);
    }
}
