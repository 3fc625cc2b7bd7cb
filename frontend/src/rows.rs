//! The message list as rows: day separators, the "New" divider, grouping by author, pending
//! messages after the stored ones; and message text cut into text and links. Pure (the day
//! label is passed in), tested natively; the components only render rows.

use crate::state::{same_group, Pending, RoomView};
use confab_shared::{ChatMessage, Seq};

/// One row of the message list. A message row names its message by id: what it shows
/// comes from [`RoomView::shown`], redrawn on its own when that message changes, so the
/// rows only change when messages come or go.
#[derive(Debug, Clone, PartialEq)]
pub enum Row {
    /// A day separator with its label.
    Day(String),
    /// A stored message.
    Message {
        /// The message's id.
        id: Seq,
        /// It continues the previous message's group (same member, within 5 minutes).
        grouped: bool,
    },
    /// One of our posts the room has not acknowledged.
    Pending(Pending),
    /// "New" marker before the first message from others the person had not read.
    Unread,
}

impl Row {
    /// A key that changes whenever the row must be drawn anew.
    pub fn key(&self) -> String {
        match self {
            Row::Day(d) => format!("d{d}"),
            Row::Message { id, grouped } => format!("m{id}{}", u8::from(*grouped)),
            Row::Pending(p) => format!(
                "p{}{}{}{}",
                p.client_id,
                u8::from(p.failed.is_some()),
                u8::from(p.sent),
                p.post_text().unwrap_or_default()
            ),
            Row::Unread => "unread".to_owned(),
        }
    }
}

/// The rows for `v`. `read_up_to` places the "New" divider; `day` labels a timestamp's day.
pub fn rows(v: &RoomView, read_up_to: Option<u64>, day: impl Fn(u64) -> String) -> Vec<Row> {
    let mut out = Vec::with_capacity(v.messages.len() + v.outbox.len() + 4);
    let mut prev: Option<(&ChatMessage, String)> = None;
    let mut divider = read_up_to;
    for m in v.messages.values() {
        if divider.is_some_and(|r| m.id > r && !v.is_mine(m)) {
            out.push(Row::Unread);
            divider = None;
        }
        let label = day(m.ts);
        let new_day = prev.as_ref().is_none_or(|(_, d)| *d != label);
        if new_day {
            out.push(Row::Day(label.clone()));
        }
        let grouped = !new_day && prev.as_ref().is_some_and(|(p, _)| same_group(p, m));
        out.push(Row::Message { id: m.id, grouped });
        prev = Some((m, label));
    }
    out.extend(v.pending_posts().cloned().map(Row::Pending));
    out
}

/// A piece of message text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Token {
    /// Plain text, shown as typed.
    Text(String),
    /// An `http(s)://` link, shown and linked as typed.
    Link(String),
}

/// Cuts `text` into text and `http(s)://` links. A link starts a word (`xhttp://` is not
/// one) and does not take the sentence's closing punctuation: "(see https://x.io/a)." links
/// `https://x.io/a`. A `)` stays when the link opened one, as Wikipedia's do.
pub fn linkify(text: &str) -> Vec<Token> {
    let mut out = Vec::new();
    let mut plain = String::new();
    let mut rest = text;
    while !rest.is_empty() {
        let lower = rest.get(..8).unwrap_or(rest).to_ascii_lowercase();
        let at_word_start = plain.chars().next_back().is_none_or(|c| !c.is_alphanumeric());
        if at_word_start && (lower.starts_with("http://") || lower.starts_with("https://")) {
            let end = rest.find(|c: char| c.is_whitespace() || matches!(c, '<' | '>' | '"')).unwrap_or(rest.len());
            let mut url = &rest[..end];
            while let Some(last) = url.chars().next_back() {
                let unbalanced_paren = last == ')' && url.matches('(').count() < url.matches(')').count();
                if matches!(last, '.' | ',' | ';' | ':' | '!' | '?' | '\'' | ']') || unbalanced_paren {
                    url = &url[..url.len() - last.len_utf8()];
                } else {
                    break;
                }
            }
            let scheme_only = url.len() <= "https://".len() && url.ends_with("//");
            if !scheme_only {
                if !plain.is_empty() {
                    out.push(Token::Text(std::mem::take(&mut plain)));
                }
                out.push(Token::Link(url.to_owned()));
                rest = &rest[url.len()..];
                continue;
            }
        }
        let c = rest.chars().next().expect("rest is not empty");
        plain.push(c);
        rest = &rest[c.len_utf8()..];
    }
    if !plain.is_empty() {
        out.push(Token::Text(plain));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fixtures::{msg, ALICE, BOB};
    use crate::state::Op;

    fn at(id: u64, member: u64, ts: u64) -> ChatMessage {
        ChatMessage { ts, ..msg(id, member, &format!("c{id}")) }
    }

    fn view(messages: Vec<ChatMessage>) -> RoomView {
        let mut v = RoomView::default();
        v.apply(crate::fixtures::welcome(messages, false), 0);
        v
    }

    fn day(ts: u64) -> String {
        format!("day {}", ts / 86_400_000)
    }

    #[test]
    fn days_groups_divider_and_pending_posts_only() {
        let d = 86_400_000;
        let mut v = view(vec![at(1, BOB, d), at(2, BOB, d + 60_000), at(3, ALICE, d + 120_000), at(4, BOB, 2 * d)]);
        v.queue("p1".into(), "on its way".into(), 0);
        v.queue_op("e1".into(), Op::Edit { id: 3, text: "x".into() }, 0);
        let r = rows(&v, Some(2), day);
        let kinds: Vec<String> = r.iter().map(Row::key).collect();
        assert_eq!(kinds, ["dday 1", "m10", "m21", "m30", "unread", "dday 2", "m40", "pp100on its way"]);
    }

    #[test]
    fn an_edit_or_a_reaction_leaves_the_rows_as_they_are() {
        let mut v = view(vec![at(1, BOB, 0), at(2, BOB, 1)]);
        let before = rows(&v, None, day);
        v.apply(
            confab_shared::ServerFrame::Edited { seq: 3, id: 1, text: "new".into(), edited_ts: 3, mentions: vec![] },
            0,
        );
        v.queue_op("r".into(), Op::React { id: 2, emoji: "👍".into(), on: true }, 0);
        assert_eq!(rows(&v, None, day), before);
    }
    #[test]
    fn links_are_cut_from_text_without_trailing_punctuation() {
        use Token::*;
        assert_eq!(
            linkify("(see https://x.io/a). Then HTTPS://y.io/b?c=1, and https://en.wikipedia.org/wiki/Rust_(language)"),
            [
                Text("(see ".into()),
                Link("https://x.io/a".into()),
                Text("). Then ".into()),
                Link("HTTPS://y.io/b?c=1".into()),
                Text(", and ".into()),
                Link("https://en.wikipedia.org/wiki/Rust_(language)".into()),
            ]
        );
        assert_eq!(linkify("xhttp://evil.test"), [Text("xhttp://evil.test".into())]);
        assert_eq!(linkify("javascript:alert(1) https://"), [Text("javascript:alert(1) https://".into())]);
        assert_eq!(linkify("<a href=x>"), [Text("<a href=x>".into())]);
    }
}
