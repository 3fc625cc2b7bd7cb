//! What the message list does after the view changed: where the viewport goes, and what is
//! announced to screen readers. Pure decisions from two snapshots of the view's shape, tested
//! natively; the component only carries them out.
//!
//! The list follows the newest message only when the reader is already at the bottom or has
//! just sent a message; a frame that changes nothing else (presence, typing, a pong) never
//! moves it. An older page keeps the messages on screen in place. A list that starts afresh
//! (first welcome, a long absence, a reset room) lands at the bottom.

use crate::state::RoomView;
use confab_shared::Seq;

/// The parts of a view the list's behaviour depends on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Shape {
    /// [`RoomView::generation`].
    pub generation: u64,
    /// Oldest `seq` held.
    pub oldest: Option<Seq>,
    /// Newest `seq` held.
    pub newest: Option<Seq>,
    /// [`RoomView::queued`]: own sends so far.
    pub queued: u64,
    /// An older page is wanted or on its way.
    pub paging: bool,
}

impl Shape {
    /// The shape of `v`.
    pub fn of(v: &RoomView) -> Self {
        Self {
            generation: v.generation,
            oldest: v.oldest_seq(),
            newest: v.last_seq(),
            queued: v.queued,
            paging: v.want_older || v.loading_older,
        }
    }
}

/// What to do with the viewport.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scroll {
    /// Leave it where the reader is.
    Keep,
    /// Go to (or stay at) the newest message; what is on screen is read.
    Bottom,
    /// An older page landed above: keep the messages on screen where they were.
    RestoreAnchor,
    /// The older page asked for will not land as asked (the list started afresh, or there
    /// was nothing): forget the saved position.
    DropAnchor,
}

/// Decides the viewport after the view went from `prev` to `now`. `at_bottom`: the reader
/// was at the bottom; `anchored`: a position was saved when an older page was asked for.
pub fn decide(prev: Option<Shape>, now: Shape, at_bottom: bool, anchored: bool) -> Scroll {
    let Some(prev) = prev else { return Scroll::Bottom };
    if now.generation != prev.generation {
        return Scroll::Bottom;
    }
    if anchored && now.oldest != prev.oldest {
        return Scroll::RestoreAnchor;
    }
    if anchored && !now.paging {
        return Scroll::DropAnchor;
    }
    if now.queued != prev.queued || at_bottom {
        return Scroll::Bottom;
    }
    Scroll::Keep
}

/// What to announce after the view went from `prev` to `now`: the messages from others that
/// are newer than anything held before (never the first welcome, history pages or replays).
pub fn announcement(prev: Option<Shape>, v: &RoomView) -> Option<String> {
    let prev = prev?;
    let now = Shape::of(v);
    if now.generation != prev.generation {
        return None;
    }
    let after = prev.newest?;
    let new: Vec<_> =
        v.messages.range(after + 1..).map(|(_, m)| m).filter(|m| v.me.as_deref() != Some(m.author.as_str())).collect();
    match new[..] {
        [] => None,
        [m] => Some(format!("{}: {}", m.author, m.text)),
        _ => Some(format!(
            "{} new messages, the last from {}: {}",
            new.len(),
            new[new.len() - 1].author,
            new[new.len() - 1].text
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use confab_shared::{ChatMessage, Limits, ServerFrame};

    fn msg(seq: u64, author: &str) -> ChatMessage {
        ChatMessage { seq, client_id: format!("c{seq}"), author: author.into(), text: format!("m{seq}"), ts: seq }
    }

    fn welcome(messages: Vec<ChatMessage>, has_more: bool) -> ServerFrame {
        ServerFrame::Welcome {
            reset: false,
            you: "alice".into(),
            room: "lobby".into(),
            members: vec!["alice".into()],
            latest_seq: 0,
            messages,
            has_more,
            limits: Limits::default(),
        }
    }

    #[test]
    fn reading_above_your_own_last_message_is_never_interrupted() {
        let mut v = RoomView::default();
        v.apply(welcome(vec![msg(1, "bob"), msg(2, "alice")], false), 0);
        let before = Shape::of(&v);
        // The newest message is ours, the reader scrolled up; a pong, typing, presence arrive.
        v.apply(ServerFrame::Typing { name: "bob".into() }, 0);
        v.apply(ServerFrame::MemberJoined { name: "carol".into() }, 0);
        assert_eq!(decide(Some(before), Shape::of(&v), false, false), Scroll::Keep);
        // A message from someone else: still kept (the pill says so).
        v.apply(ServerFrame::Message(msg(3, "bob")), 0);
        assert_eq!(decide(Some(before), Shape::of(&v), false, false), Scroll::Keep);
        // Our own new message: follow it.
        let before = Shape::of(&v);
        v.queue("c9".into(), "mine".into(), 0);
        assert_eq!(decide(Some(before), Shape::of(&v), false, false), Scroll::Bottom);
        // At the bottom: stay there.
        assert_eq!(decide(Some(before), before, true, false), Scroll::Bottom);
    }

    #[test]
    fn older_pages_keep_the_view_and_a_fresh_list_lands_at_the_bottom() {
        let mut v = RoomView::default();
        v.apply(welcome((51..=100).map(|s| msg(s, "bob")).collect(), true), 0);
        v.want_older = true;
        let before = Shape::of(&v);
        v.apply(ServerFrame::History { messages: (1..=50).map(|s| msg(s, "bob")).collect(), has_more: false }, 0);
        assert_eq!(decide(Some(before), Shape::of(&v), false, true), Scroll::RestoreAnchor);
        // The request was dropped (paging ended, nothing landed): forget the anchor.
        let same = Shape { paging: false, ..before };
        assert_eq!(decide(Some(before), same, false, true), Scroll::DropAnchor);
        // A resume after a long absence: the list starts afresh, land at the bottom.
        let before = Shape::of(&v);
        v.apply(welcome((400..=600).map(|s| msg(s, "bob")).collect(), true), 0);
        assert_eq!(decide(Some(before), Shape::of(&v), false, true), Scroll::Bottom);
    }

    #[test]
    fn only_new_messages_from_others_are_announced() {
        let mut v = RoomView::default();
        assert_eq!(announcement(None, &v), None);
        v.apply(welcome(vec![msg(1, "bob")], true), 0);
        let before = Shape::of(&v);
        v.apply(ServerFrame::History { messages: vec![msg(0, "bob")], has_more: false }, 0);
        assert_eq!(announcement(Some(before), &v), None, "an older page is not news");
        let before = Shape::of(&v);
        v.apply(ServerFrame::Message(msg(2, "alice")), 0);
        assert_eq!(announcement(Some(before), &v), None, "our own message is not announced");
        let before = Shape::of(&v);
        v.apply(ServerFrame::Message(msg(3, "bob")), 0);
        assert_eq!(announcement(Some(before), &v).as_deref(), Some("bob: m3"));
    }
}
