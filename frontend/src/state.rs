//! What the page knows about a room, built only by applying [`ServerFrame`]s and the user's
//! own sends. Pure and idempotent: replaying frames after a reconnect adds nothing twice, so
//! the connection can resend and resume freely. Tested natively (no browser).

use confab_shared::limits::TYPING_DISPLAY_MS;
use confab_shared::{ChatMessage, ErrorCode, Limits, Seq, ServerFrame};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};

/// A message the user sent that the room has not acknowledged yet. Kept (and persisted by the
/// page, see `outbox.rs`) until its `ack` or its `message` arrives, and resent on every
/// reconnect.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Pending {
    /// The id the room deduplicates resends by.
    pub client_id: String,
    /// What the user typed.
    pub text: String,
    /// When the user pressed Enter (ms since the epoch), for display.
    pub created_ms: u64,
    /// The name it was written under: it is only ever sent as that name. Empty in outboxes
    /// saved by older pages.
    #[serde(default)]
    pub author: String,
    /// The room refused it in a way sending it again cannot fix (why, in the room's words):
    /// it waits for the person to edit, retry or delete it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub failed: Option<String>,
    /// It has gone out on a joined socket at least once, so the room may have stored it
    /// already: it can no longer be taken back (edit or delete), only waited for.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub sent: bool,
}

/// A refusal from the room, shown inline near the composer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Notice {
    /// The room's stable code.
    pub code: ErrorCode,
    /// Its explanation.
    pub message: String,
    /// For `rate_limited`: when sending works again (ms since the epoch).
    pub retry_at_ms: Option<u64>,
    /// The refused message, if the refusal named one: the notice goes once it is stored.
    pub client_id: Option<String>,
}

/// One room as the page shows it.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct RoomView {
    /// Our name as the room recorded it, once welcomed.
    pub me: Option<String>,
    /// Messages by `seq`: a resend or a replay lands on the same key.
    pub messages: BTreeMap<Seq, ChatMessage>,
    /// Names online.
    pub members: BTreeSet<String>,
    /// Who is typing, until when (ms since the epoch).
    pub typing: BTreeMap<String, u64>,
    /// Older messages exist than the oldest we hold.
    pub has_more: bool,
    /// A `history` request is in flight.
    pub loading_older: bool,
    /// The person wants the older page (scrolled to the top, or asked): kept until it arrives,
    /// across reconnects.
    pub want_older: bool,
    /// Sent but not acknowledged, in the order they were typed.
    pub outbox: Vec<Pending>,
    /// The room's limits, from `welcome`.
    pub limits: Option<Limits>,
    /// The last refusal, until the user acts again.
    pub notice: Option<Notice>,
    /// The join was refused (e.g. `name_taken`): reconnecting will not help.
    pub fatal: Option<Notice>,
    /// Bumped whenever the list starts afresh (first welcome, a resume gap, a reset room):
    /// what was on screen is not where the reader was.
    pub generation: u64,
    /// Bumped when the room said its history was reset: read markers no longer mean anything.
    pub resets: u64,
    /// A resume left out this many messages (more were missed than the room sends at once);
    /// they are older than those shown and load by paging back.
    pub skipped: Option<u64>,
    /// Messages this page queued (own sends): the list follows the person's own new message.
    pub queued: u64,
    /// Frames this page could not read (a newer room): the page suggests a reload.
    pub unknown_frames: u32,
    /// Bumped on every change, so a driver can tell a frame that changed nothing (and skip
    /// re-rendering) from one that did.
    pub revision: u64,
}

impl RoomView {
    /// A view with the outbox restored from a previous page load.
    pub fn with_outbox(outbox: Vec<Pending>) -> Self {
        Self { outbox, ..Self::default() }
    }

    /// The newest `seq` we hold: the resume point for the next join.
    pub fn last_seq(&self) -> Option<Seq> {
        self.messages.keys().next_back().copied()
    }

    /// The oldest `seq` we hold: where the next older page ends.
    pub fn oldest_seq(&self) -> Option<Seq> {
        self.messages.keys().next().copied()
    }

    /// Notes a change made outside [`RoomView::apply`].
    pub fn touch(&mut self) {
        self.revision = self.revision.wrapping_add(1);
    }

    /// Adds a message the user typed to the outbox, under our name if known.
    pub fn queue(&mut self, client_id: String, text: String, now_ms: u64) {
        let author = self.me.clone().unwrap_or_default();
        self.push_pending(Pending { client_id, text, created_ms: now_ms, author, failed: None, sent: false });
    }

    /// Adds a message the user typed to the outbox (once per `client_id`).
    pub fn push_pending(&mut self, p: Pending) {
        self.notice = None;
        if !self.outbox.iter().any(|q| q.client_id == p.client_id) {
            self.outbox.push(p);
            self.queued += 1;
        }
        self.touch();
    }

    /// Marks an outbox message as refused for good (until the person acts).
    pub fn fail(&mut self, client_id: &str, why: String) {
        if let Some(p) = self.outbox.iter_mut().find(|p| p.client_id == client_id) {
            p.failed = Some(why);
            self.touch();
        }
    }

    /// Takes a message out of the outbox (the person deleted it, or takes it back to edit).
    pub fn cancel(&mut self, client_id: &str) -> Option<Pending> {
        let i = self.outbox.iter().position(|p| p.client_id == client_id)?;
        self.touch();
        Some(self.outbox.remove(i))
    }

    /// Replaces the outbox with `saved` (another tab changed it), keeping the order in which
    /// messages were typed and what this page knows about refusals.
    pub fn replace_outbox(&mut self, saved: Vec<Pending>) {
        let mut next = saved;
        for p in &mut next {
            if let Some(old) = self.outbox.iter().find(|o| o.client_id == p.client_id) {
                p.failed = p.failed.take().or_else(|| old.failed.clone());
            }
        }
        if next != self.outbox {
            self.outbox = next;
            self.touch();
        }
    }

    /// Applies one frame from the room. `now_ms` dates typing indicators and retry times.
    /// Returns whether anything changed (and bumps [`RoomView::revision`] if so).
    pub fn apply(&mut self, frame: ServerFrame, now_ms: u64) -> bool {
        let changed = self.apply_inner(frame, now_ms);
        if changed {
            self.touch();
        }
        changed
    }

    fn apply_inner(&mut self, frame: ServerFrame, now_ms: u64) -> bool {
        match frame {
            ServerFrame::Welcome { you, members, messages, has_more, limits, reset, .. } => {
                // Our name first: a stored copy of a message still in our outbox is ours.
                self.me = Some(you);
                // A resume that left a gap (more than the room sends at once happened while we
                // were away) starts the list afresh from what arrived; the rest stays pageable.
                let gap = has_more
                    && match (messages.first(), self.last_seq()) {
                        (Some(first), Some(last)) => first.seq > last + 1,
                        _ => false,
                    };
                let gap_size = match (messages.first(), self.last_seq()) {
                    (Some(first), Some(last)) if gap => Some(first.seq - last - 1),
                    _ => None,
                };
                if reset {
                    // The room's history is not the one we hold: nothing we kept means
                    // anything there. Our outbox does: it is still unsent.
                    self.resets += 1;
                }
                if self.messages.is_empty() || gap || reset {
                    self.messages.clear();
                    self.has_more = has_more;
                    self.generation += 1;
                    self.want_older = false;
                    self.skipped = gap_size;
                }
                for m in messages {
                    self.add(m);
                }
                self.members = members.into_iter().collect();
                self.limits = Some(limits);
                self.loading_older = false;
                self.fatal = None;
                self.typing.clear();
                true
            }
            ServerFrame::Message(m) => {
                let typing = self.typing.remove(&m.author).is_some();
                self.add(m) || typing
            }
            ServerFrame::Ack { client_id, .. } => {
                if self.notice.as_ref().is_some_and(|n| n.client_id.as_ref() == Some(&client_id)) {
                    self.notice = None;
                }
                let n = self.outbox.len();
                self.outbox.retain(|p| p.client_id != client_id);
                n != self.outbox.len()
            }
            ServerFrame::MemberJoined { name } => self.members.insert(name),
            ServerFrame::MemberLeft { name } => {
                let typing = self.typing.remove(&name).is_some();
                self.members.remove(&name) || typing
            }
            ServerFrame::Presence { joined, left } => {
                let mut changed = false;
                for name in joined {
                    changed |= self.members.insert(name);
                }
                for name in left {
                    changed |= self.typing.remove(&name).is_some();
                    changed |= self.members.remove(&name);
                }
                changed
            }
            ServerFrame::Typing { name } => {
                if self.me.as_deref() != Some(name.as_str()) {
                    self.typing.insert(name, now_ms + TYPING_DISPLAY_MS);
                    true
                } else {
                    false
                }
            }
            ServerFrame::History { messages, has_more } => {
                for m in messages {
                    self.add(m);
                }
                self.has_more = has_more;
                if !has_more {
                    self.skipped = None;
                }
                self.loading_older = false;
                self.want_older = false;
                true
            }
            ServerFrame::Error { code, message, retry_after_ms, client_id } => {
                let retry_at_ms = retry_after_ms.map(|d| now_ms.saturating_add(d));
                let notice = Notice { code, message, retry_at_ms, client_id };
                if self.me.is_none() && matches!(code, ErrorCode::NameTaken | ErrorCode::InvalidName) {
                    self.fatal = Some(notice);
                } else {
                    self.notice = Some(notice);
                }
                true
            }
        }
    }

    /// Stores a message; whether it was new or different.
    fn add(&mut self, m: ChatMessage) -> bool {
        // Our own message, seen stored: it leaves the outbox even if its ack was lost.
        let mut changed = false;
        if self.me.as_deref() == Some(m.author.as_str()) {
            let n = self.outbox.len();
            self.outbox.retain(|p| p.client_id != m.client_id);
            changed = n != self.outbox.len();
        }
        if self.messages.get(&m.seq) != Some(&m) {
            self.messages.insert(m.seq, m);
            changed = true;
        }
        changed
    }

    /// Names typing at `now_ms`, sorted.
    pub fn typing_names(&self, now_ms: u64) -> Vec<&str> {
        self.typing.iter().filter(|(_, until)| **until > now_ms).map(|(n, _)| n.as_str()).collect()
    }

    /// Messages with `seq` above `seq`: what arrived since the user last looked.
    pub fn count_after(&self, seq: Seq) -> usize {
        self.messages.range(seq + 1..).filter(|(_, m)| self.me.as_deref() != Some(m.author.as_str())).count()
    }
}

/// "alice is typing…", "alice and bob are typing…", "several people are typing…".
pub fn typing_text(names: &[&str]) -> Option<String> {
    match names {
        [] => None,
        [a] => Some(format!("{a} is typing…")),
        [a, b] => Some(format!("{a} and {b} are typing…")),
        _ => Some("several people are typing…".to_owned()),
    }
}

/// Whether `next` continues `prev`'s group: same author within five minutes.
pub fn same_group(prev: &ChatMessage, next: &ChatMessage) -> bool {
    prev.author == next.author && next.ts.saturating_sub(prev.ts) < 5 * 60 * 1000
}

/// A message's time as people say it: "now", "5 min ago", or `None` past the hour (show the
/// clock time then; the day separators carry the date).
pub fn relative_time(ts: u64, now_ms: u64) -> Option<String> {
    let ago = now_ms.saturating_sub(ts) / 1000;
    match ago {
        0..45 => Some("now".to_owned()),
        45..3600 => Some(format!("{} min ago", (ago + 30) / 60)),
        _ => None,
    }
}

/// Reconnect delay: full-jitter exponential backoff, 0.5 s base, 30 s cap. `random` is in
/// `[0, 1)`; jitter spreads a room's clients out after an outage instead of stampeding.
pub fn backoff_ms(attempt: u32, random: f64) -> u64 {
    let ceiling = 500u64.saturating_mul(1u64 << attempt.min(16)).min(30_000);
    (ceiling as f64 * random.clamp(0.0, 1.0)) as u64
}

#[cfg(test)]
mod tests {
    use super::*;

    fn msg(seq: Seq, author: &str, client_id: &str) -> ChatMessage {
        ChatMessage { seq, client_id: client_id.into(), author: author.into(), text: format!("m{seq}"), ts: seq * 1000 }
    }

    fn welcome(messages: Vec<ChatMessage>, has_more: bool) -> ServerFrame {
        crate::fixtures::welcome(messages, &["alice", "bob"], has_more)
    }

    #[test]
    fn welcome_then_live_messages_in_seq_order() {
        let mut v = RoomView::default();
        v.apply(welcome(vec![msg(1, "bob", "b1"), msg(2, "bob", "b2")], false), 0);
        v.apply(ServerFrame::Message(msg(4, "bob", "b4")), 0);
        v.apply(ServerFrame::Message(msg(3, "bob", "b3")), 0);
        assert_eq!(v.messages.keys().copied().collect::<Vec<_>>(), [1, 2, 3, 4]);
        assert_eq!(v.me.as_deref(), Some("alice"));
        assert_eq!(v.members.len(), 2);
        assert!(!v.has_more);
    }

    #[test]
    fn replays_add_nothing_twice() {
        let mut v = RoomView::default();
        v.apply(welcome(vec![msg(1, "bob", "b1")], false), 0);
        let once = v.clone();
        v.apply(ServerFrame::Message(msg(1, "bob", "b1")), 0);
        v.apply(welcome(vec![msg(1, "bob", "b1")], false), 0);
        v.revision = once.revision;
        assert_eq!(v, once);
    }

    #[test]
    fn resume_without_gap_merges_and_keeps_paging_state() {
        let mut v = RoomView::default();
        v.apply(welcome((51..=100).map(|s| msg(s, "bob", &format!("b{s}"))).collect(), true), 0);
        assert!(v.has_more);
        v.apply(welcome(vec![msg(101, "bob", "b101")], false), 0);
        assert_eq!(v.messages.len(), 51);
        assert!(v.has_more, "older pages are still there");
    }

    #[test]
    fn resume_with_gap_restarts_the_list() {
        let mut v = RoomView::default();
        v.apply(welcome(vec![msg(1, "bob", "b1")], false), 0);
        v.apply(welcome((300..=500).map(|s| msg(s, "bob", &format!("b{s}"))).collect(), true), 0);
        assert_eq!(v.oldest_seq(), Some(300));
        assert!(v.has_more);
    }

    #[test]
    fn outbox_clears_on_ack_or_on_seeing_our_message() {
        let mut v = RoomView::default();
        v.apply(welcome(vec![], false), 0);
        v.queue("c1".into(), "one".into(), 0);
        v.queue("c2".into(), "two".into(), 0);
        v.queue("c2".into(), "two".into(), 0);
        assert_eq!(v.outbox.len(), 2);
        v.apply(ServerFrame::Ack { client_id: "c1".into(), seq: 1, ts: 0 }, 0);
        assert_eq!(v.outbox.len(), 1);
        // Another member's message with the same client_id is not ours.
        v.apply(ServerFrame::Message(msg(2, "bob", "c2")), 0);
        assert_eq!(v.outbox.len(), 1);
        v.apply(ServerFrame::Message(msg(3, "alice", "c2")), 0);
        assert!(v.outbox.is_empty());
    }

    #[test]
    fn batched_presence_adds_then_removes() {
        let mut v = RoomView::default();
        v.apply(welcome(vec![], false), 0);
        v.apply(ServerFrame::Typing { name: "bob".into() }, 0);
        v.apply(ServerFrame::Presence { joined: vec!["carol".into(), "dave".into()], left: vec!["bob".into()] }, 0);
        assert_eq!(v.members.iter().map(String::as_str).collect::<Vec<_>>(), ["alice", "carol", "dave"]);
        assert!(v.typing_names(1).is_empty());
    }

    #[test]
    fn history_pages_merge_older_messages() {
        let mut v = RoomView::default();
        v.apply(welcome((51..=100).map(|s| msg(s, "bob", "x")).collect(), true), 0);
        v.loading_older = true;
        v.apply(ServerFrame::History { messages: (1..=50).map(|s| msg(s, "bob", "x")).collect(), has_more: false }, 0);
        assert_eq!(v.oldest_seq(), Some(1));
        assert!(!v.has_more && !v.loading_older);
    }

    #[test]
    fn typing_expires_and_ends_with_a_message() {
        let mut v = RoomView::default();
        v.apply(welcome(vec![], false), 0);
        v.apply(ServerFrame::Typing { name: "bob".into() }, 1_000);
        v.apply(ServerFrame::Typing { name: "alice".into() }, 1_000);
        assert_eq!(v.typing_names(2_000), ["bob"], "our own typing is not shown");
        assert!(v.typing_names(6_001).is_empty(), "shown for 5 s");
        v.apply(ServerFrame::Typing { name: "bob".into() }, 10_000);
        v.apply(ServerFrame::Message(msg(1, "bob", "b1")), 10_100);
        assert!(v.typing_names(10_200).is_empty());
        v.apply(ServerFrame::Typing { name: "bob".into() }, 11_000);
        v.apply(ServerFrame::MemberLeft { name: "bob".into() }, 11_000);
        assert!(v.typing_names(11_100).is_empty());
        assert!(!v.members.contains("bob"));
    }

    #[test]
    fn refusals_before_join_are_fatal_after_join_a_notice() {
        let mut v = RoomView::default();
        let taken = ServerFrame::Error {
            client_id: None,
            code: ErrorCode::NameTaken,
            message: "no".into(),
            retry_after_ms: None,
        };
        v.apply(taken, 0);
        assert_eq!(v.fatal.as_ref().map(|n| n.code), Some(ErrorCode::NameTaken));
        v.apply(welcome(vec![], false), 0);
        assert!(v.fatal.is_none());
        v.apply(
            ServerFrame::Error {
                client_id: None,
                code: ErrorCode::RateLimited,
                message: "slow".into(),
                retry_after_ms: Some(300),
            },
            1_000,
        );
        assert_eq!(v.notice.as_ref().and_then(|n| n.retry_at_ms), Some(1_300));
        // A refusal naming a message goes once that message is stored.
        v.queue("c7".into(), "x".into(), 0);
        v.apply(
            ServerFrame::Error {
                client_id: Some("c7".into()),
                code: ErrorCode::Internal,
                message: "later".into(),
                retry_after_ms: None,
            },
            1_000,
        );
        assert!(v.notice.is_some());
        v.apply(ServerFrame::Ack { client_id: "c7".into(), seq: 9, ts: 0 }, 1_100);
        assert!(v.notice.is_none());
    }

    #[test]
    fn unread_counts_only_others() {
        let mut v = RoomView::default();
        v.apply(welcome(vec![msg(1, "bob", "a"), msg(2, "alice", "b"), msg(3, "bob", "c")], false), 0);
        assert_eq!(v.count_after(1), 1);
        assert_eq!(v.count_after(0), 2);
    }

    #[test]
    fn typing_sentences() {
        assert_eq!(typing_text(&[]), None);
        assert_eq!(typing_text(&["alice"]).unwrap(), "alice is typing…");
        assert_eq!(typing_text(&["alice", "bob"]).unwrap(), "alice and bob are typing…");
        assert_eq!(typing_text(&["a", "b", "c"]).unwrap(), "several people are typing…");
    }

    #[test]
    fn grouping() {
        assert!(same_group(&msg(1, "bob", "a"), &msg(2, "bob", "b")));
        assert!(!same_group(&msg(1, "bob", "a"), &msg(2, "eve", "b")));
        assert!(!same_group(&msg(1, "bob", "a"), &msg(1000, "bob", "b")));
    }

    #[test]
    fn relative_times() {
        assert_eq!(relative_time(1_000, 1_000).as_deref(), Some("now"));
        assert_eq!(relative_time(2_000, 1_000).as_deref(), Some("now"), "a clock ahead of ours is 'now'");
        assert_eq!(relative_time(0, 50_000).as_deref(), Some("1 min ago"));
        assert_eq!(relative_time(0, 5 * 60_000).as_deref(), Some("5 min ago"));
        assert_eq!(relative_time(0, 3_600_000), None);
    }

    #[test]
    fn backoff_grows_with_full_jitter_and_caps() {
        assert_eq!(backoff_ms(0, 0.0), 0);
        assert_eq!(backoff_ms(0, 0.999_999), 499);
        assert_eq!(backoff_ms(3, 0.5), 2_000);
        assert_eq!(backoff_ms(40, 0.999_999), 29_999);
        assert!(backoff_ms(u32::MAX, 1.0) <= 30_000);
    }

    #[test]
    fn a_reset_room_starts_afresh_and_keeps_the_outbox() {
        let mut v = RoomView::default();
        v.apply(welcome((1..=60).map(|s| msg(s, "bob", "x")).collect(), false), 0);
        v.queue("c1".into(), "unsent".into(), 0);
        let generation = v.generation;
        let mut w = welcome(vec![msg(1, "carol", "new1"), msg(2, "carol", "new2")], false);
        if let ServerFrame::Welcome { reset, .. } = &mut w {
            *reset = true;
        }
        v.apply(w, 0);
        assert_eq!(v.messages.len(), 2, "old seqs dropped, not mixed with the new room's");
        assert_eq!(v.messages[&1].author, "carol");
        assert_eq!(v.last_seq(), Some(2), "the next resume is from the new history");
        assert_eq!(v.outbox.len(), 1, "unsent messages are still unsent");
        assert_eq!(v.resets, 1);
        assert!(v.generation > generation);
    }

    #[test]
    fn a_resume_gap_says_how_much_was_skipped() {
        let mut v = RoomView::default();
        v.apply(welcome(vec![msg(1, "bob", "b1")], false), 0);
        let generation = v.generation;
        v.apply(welcome((300..=500).map(|s| msg(s, "bob", "x")).collect(), true), 0);
        assert_eq!(v.skipped, Some(298));
        assert!(v.generation > generation, "the list starts afresh: the page lands anew");
        v.apply(ServerFrame::History { messages: (2..=299).map(|s| msg(s, "bob", "x")).collect(), has_more: false }, 0);
        assert_eq!(v.skipped, None);
    }

    #[test]
    fn a_stored_copy_of_our_pending_message_in_the_first_welcome_clears_it() {
        let mut v = RoomView::with_outbox(vec![Pending {
            client_id: "c1".into(),
            text: "hi".into(),
            created_ms: 0,
            author: "alice".into(),
            failed: None,
            sent: false,
        }]);
        v.apply(welcome(vec![msg(1, "alice", "c1")], false), 0);
        assert!(v.outbox.is_empty(), "not shown twice after a reload");
    }

    #[test]
    fn frames_that_change_nothing_say_so() {
        let mut v = RoomView::default();
        v.apply(welcome(vec![msg(1, "bob", "b1")], false), 0);
        assert!(!v.apply(ServerFrame::Message(msg(1, "bob", "b1")), 0));
        assert!(!v.apply(ServerFrame::MemberJoined { name: "bob".into() }, 0));
        assert!(!v.apply(ServerFrame::Presence { joined: vec![], left: vec!["zed".into()] }, 0));
        assert!(!v.apply(ServerFrame::Typing { name: "alice".into() }, 0));
        assert!(v.apply(ServerFrame::Message(msg(2, "bob", "b2")), 0));
    }
}
