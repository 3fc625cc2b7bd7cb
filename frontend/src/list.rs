//! What the message list does after the view changed: where the viewport goes, and what is
//! announced to screen readers. Pure decisions from two snapshots of the view's shape, tested
//! natively; the component only carries them out.
//!
//! The list follows the newest message only when the reader is already at the bottom or has
//! just sent a message; a frame that changes nothing else (presence, typing, a pong) never
//! moves it. An older page keeps the messages on screen in place. A list that starts afresh
//! (first welcome, a long absence, a reset room) lands at the bottom. A jump to a message (a
//! quote clicked, a `#m{id}` link opened) pages back until the message is held, a bounded
//! number of pages.

use crate::state::RoomView;
use confab_shared::Seq;

/// The parts of a view the list's behaviour depends on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Shape {
    /// [`RoomView::generation`].
    pub generation: u64,
    /// Oldest message id held.
    pub oldest: Option<Seq>,
    /// Newest message id held.
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
            oldest: v.oldest_id(),
            newest: v.newest_id(),
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
    if anchored && now.queued == prev.queued {
        // An older page is on its way: the view stays where it was asked from until it lands
        // (the reader's "at the bottom" may be stale: a jump asks for pages without a scroll);
        // only the person's own new message still brings it down.
        return Scroll::Keep;
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
    let new: Vec<_> = v.messages.range(after + 1..).map(|(_, m)| m).filter(|m| !v.is_mine(m)).collect();
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

/// The tab's title while the person is away: mentions of them first, as a count in brackets
/// ("(2) #lobby"), else how many messages came ("#lobby · 5 new"), else the room.
pub fn tab_title(room: &str, unread: usize, mentions: usize) -> String {
    match (mentions, unread) {
        (0, 0) => format!("{room} · Confab"),
        (0, n) => format!("{room} · {n} new · Confab"),
        (m, _) => format!("({m}) {room} · Confab"),
    }
}

/// Most older pages a jump to a message asks for before it gives up.
pub const JUMP_PAGES_MAX: u32 = 20;

/// What a jump to a message does next.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Jump {
    /// The message is held: scroll to it and highlight it.
    Show,
    /// Not joined yet, or an older page is on its way: wait for the next change.
    Wait,
    /// It is older than anything held: ask for the page before the oldest.
    PageBack,
    /// It is not in this room (or too far back): say so.
    NotFound,
}

/// The next step of a jump to message `id`, after `pages` older pages were asked for it.
pub fn jump_step(v: &RoomView, id: Seq, pages: u32) -> Jump {
    if v.messages.contains_key(&id) {
        return Jump::Show;
    }
    if v.me.is_none() || v.want_older || v.loading_older {
        return Jump::Wait;
    }
    let older = v.oldest_id().is_some_and(|oldest| id < oldest);
    if older && v.has_more && pages < JUMP_PAGES_MAX {
        Jump::PageBack
    } else {
        Jump::NotFound
    }
}

/// The message id a link's fragment names: `#m42` is message 42.
pub fn message_anchor(hash: &str) -> Option<Seq> {
    hash.strip_prefix('#').unwrap_or(hash).strip_prefix('m')?.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fixtures::{member, msg, welcome, ALICE, BOB, CAROL};
    use confab_shared::ServerFrame;

    #[test]
    fn reading_above_your_own_last_message_is_never_interrupted() {
        let mut v = RoomView::default();
        v.apply(welcome(vec![msg(1, BOB, "a"), msg(2, ALICE, "b")], false), 0);
        let before = Shape::of(&v);
        // The newest message is ours, the reader scrolled up; typing, presence, a reaction.
        v.apply(ServerFrame::Typing(member(BOB)), 0);
        v.apply(ServerFrame::MemberJoined(member(CAROL)), 0);
        v.apply(ServerFrame::Reactions { seq: 3, id: 1, by: 2, reactions: vec![] }, 0);
        assert_eq!(decide(Some(before), Shape::of(&v), false, false), Scroll::Keep);
        // A message from someone else: still kept (the pill says so).
        v.apply(ServerFrame::Message(msg(4, BOB, "c")), 0);
        assert_eq!(decide(Some(before), Shape::of(&v), false, false), Scroll::Keep);
        // Our own new message: follow it.
        let before = Shape::of(&v);
        v.queue("c9".into(), "mine".into(), 0);
        assert_eq!(decide(Some(before), Shape::of(&v), false, false), Scroll::Bottom);
        // At the bottom: stay there.
        assert_eq!(decide(Some(before), before, true, false), Scroll::Bottom);
    }

    #[test]
    fn an_edit_or_reaction_of_ours_does_not_move_the_list() {
        let mut v = RoomView::default();
        v.apply(welcome(vec![msg(1, ALICE, "a"), msg(2, BOB, "b")], false), 0);
        let before = Shape::of(&v);
        v.queue_op("e".into(), crate::state::Op::Edit { id: 1, text: "x".into() }, 0);
        v.queue_op("r".into(), crate::state::Op::React { id: 2, emoji: "👍".into(), on: true }, 0);
        assert_eq!(decide(Some(before), Shape::of(&v), false, false), Scroll::Keep);
    }

    #[test]
    fn older_pages_keep_the_view_and_a_fresh_list_lands_at_the_bottom() {
        let mut v = RoomView::default();
        v.apply(welcome((51..=100).map(|s| msg(s, BOB, "x")).collect(), true), 0);
        v.want_older = true;
        let before = Shape::of(&v);
        // While it is on its way, other changes do not move the view, even "at the bottom".
        let mut waiting = v.clone();
        waiting.apply(ServerFrame::Message(msg(101, BOB, "x")), 0);
        assert_eq!(decide(Some(before), Shape::of(&waiting), true, true), Scroll::Keep);
        v.apply(ServerFrame::History { messages: (1..=50).map(|s| msg(s, BOB, "x")).collect(), older: false }, 0);
        assert_eq!(decide(Some(before), Shape::of(&v), false, true), Scroll::RestoreAnchor);
        // The request was dropped (paging ended, nothing landed): forget the anchor.
        let same = Shape { paging: false, ..before };
        assert_eq!(decide(Some(before), same, false, true), Scroll::DropAnchor);
        // A resume after a long absence: the list starts afresh, land at the bottom.
        let before = Shape::of(&v);
        let gap = crate::fixtures::flagged(
            welcome((400..=449).map(|s| msg(s, BOB, "x")).collect(), true),
            true,
            false,
            crate::fixtures::EPOCH,
        );
        v.apply(gap, 0);
        assert_eq!(decide(Some(before), Shape::of(&v), false, true), Scroll::Bottom);
    }

    #[test]
    fn only_new_messages_from_others_are_announced() {
        let mut v = RoomView::default();
        assert_eq!(announcement(None, &v), None);
        v.apply(welcome(vec![msg(2, BOB, "x")], true), 0);
        let before = Shape::of(&v);
        v.apply(ServerFrame::History { messages: vec![msg(1, BOB, "x")], older: false }, 0);
        assert_eq!(announcement(Some(before), &v), None, "an older page is not news");
        let before = Shape::of(&v);
        v.apply(ServerFrame::Message(msg(3, ALICE, "y")), 0);
        assert_eq!(announcement(Some(before), &v), None, "our own message is not announced");
        let before = Shape::of(&v);
        v.apply(ServerFrame::Reactions { seq: 4, id: 2, by: 2, reactions: vec![] }, 0);
        assert_eq!(announcement(Some(before), &v), None, "a reaction is not a new message");
        v.apply(ServerFrame::Message(msg(5, BOB, "z")), 0);
        assert_eq!(announcement(Some(before), &v).as_deref(), Some("bob: m5"));
    }

    #[test]
    fn a_jump_pages_back_until_the_message_is_held_and_gives_up_in_bounds() {
        let mut v = RoomView::default();
        assert_eq!(jump_step(&v, 5, 0), Jump::Wait, "not joined yet");
        v.apply(welcome((51..=100).map(|s| msg(s, BOB, "x")).collect(), true), 0);
        assert_eq!(jump_step(&v, 60, 0), Jump::Show);
        assert_eq!(jump_step(&v, 5, 0), Jump::PageBack);
        v.want_older = true;
        assert_eq!(jump_step(&v, 5, 1), Jump::Wait, "a page is on its way");
        v.apply(ServerFrame::History { messages: (1..=50).map(|s| msg(s, BOB, "x")).collect(), older: false }, 0);
        assert_eq!(jump_step(&v, 5, 1), Jump::Show);
        assert_eq!(jump_step(&v, 500, 1), Jump::NotFound, "newer than anything: not in this room");
        v.messages.remove(&5);
        assert_eq!(jump_step(&v, 5, 1), Jump::NotFound, "a hole in the middle is not paged for");
        v.has_more = true;
        v.messages.remove(&1);
        assert_eq!(jump_step(&v, 1, JUMP_PAGES_MAX), Jump::NotFound, "bounded");
    }

    #[test]
    fn the_title_counts_mentions_first() {
        assert_eq!(tab_title("#lobby", 0, 0), "#lobby · Confab");
        assert_eq!(tab_title("#lobby", 5, 0), "#lobby · 5 new · Confab");
        assert_eq!(tab_title("#lobby", 5, 2), "(2) #lobby · Confab");
    }

    #[test]
    fn message_links_name_a_message_by_its_fragment() {
        assert_eq!(message_anchor("#m42"), Some(42));
        assert_eq!(message_anchor("m7"), Some(7));
        for bad in ["", "#", "#42", "#mx", "#m-1", "#m99999999999999999999999"] {
            assert_eq!(message_anchor(bad), None, "{bad}");
        }
    }
}
