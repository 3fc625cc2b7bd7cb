//! What the page knows about a room, built only by applying [`ServerFrame`]s and the user's
//! own sends. Pure and idempotent: replaying frames after a reconnect adds nothing twice, so
//! the connection can resend and resume freely. Tested natively (no browser).

use confab_shared::limits::TYPING_DISPLAY_MS;
use confab_shared::{ChatMessage, ErrorCode, Limits, Seq, ServerFrame};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};

/// A message the user sent that the room has not acknowledged yet. Kept (and persisted by the
/// page) until its `ack` or its `message` arrives, and resent on every reconnect.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Pending {
    /// The id the room deduplicates resends by.
    pub client_id: String,
    /// What the user typed.
    pub text: String,
    /// When the user pressed Enter (ms since the epoch), for display.
    pub created_ms: u64,
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
    /// Sent but not acknowledged, in the order they were typed.
    pub outbox: Vec<Pending>,
    /// The room's limits, from `welcome`.
    pub limits: Option<Limits>,
    /// The last refusal, until the user acts again.
    pub notice: Option<Notice>,
    /// The join was refused (e.g. `name_taken`): reconnecting will not help.
    pub fatal: Option<Notice>,
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

    /// Adds a message the user typed to the outbox.
    pub fn queue(&mut self, client_id: String, text: String, now_ms: u64) {
        self.notice = None;
        if !self.outbox.iter().any(|p| p.client_id == client_id) {
            self.outbox.push(Pending { client_id, text, created_ms: now_ms });
        }
    }

    /// Applies one frame from the room. `now_ms` dates typing indicators and retry times.
    pub fn apply(&mut self, frame: ServerFrame, now_ms: u64) {
        match frame {
            ServerFrame::Welcome { you, members, messages, has_more, limits, .. } => {
                // A resume that left a gap (more than the room sends at once happened while we
                // were away) starts the list afresh from what arrived; the rest stays pageable.
                let gap = has_more
                    && match (messages.first(), self.last_seq()) {
                        (Some(first), Some(last)) => first.seq > last + 1,
                        _ => false,
                    };
                if self.messages.is_empty() || gap {
                    self.messages.clear();
                    self.has_more = has_more;
                }
                for m in messages {
                    self.add(m);
                }
                self.me = Some(you);
                self.members = members.into_iter().collect();
                self.limits = Some(limits);
                self.loading_older = false;
                self.fatal = None;
                self.typing.clear();
            }
            ServerFrame::Message(m) => {
                self.typing.remove(&m.author);
                self.add(m);
            }
            ServerFrame::Ack { client_id, .. } => self.outbox.retain(|p| p.client_id != client_id),
            ServerFrame::MemberJoined { name } => {
                self.members.insert(name);
            }
            ServerFrame::MemberLeft { name } => {
                self.typing.remove(&name);
                self.members.remove(&name);
            }
            ServerFrame::Presence { joined, left } => {
                self.members.extend(joined);
                for name in left {
                    self.typing.remove(&name);
                    self.members.remove(&name);
                }
            }
            ServerFrame::Typing { name } => {
                if self.me.as_deref() != Some(name.as_str()) {
                    self.typing.insert(name, now_ms + TYPING_DISPLAY_MS);
                }
            }
            ServerFrame::History { messages, has_more } => {
                for m in messages {
                    self.add(m);
                }
                self.has_more = has_more;
                self.loading_older = false;
            }
            ServerFrame::Error { code, message, retry_after_ms, .. } => {
                let notice = Notice { code, message, retry_at_ms: retry_after_ms.map(|d| now_ms + d) };
                if self.me.is_none() && matches!(code, ErrorCode::NameTaken | ErrorCode::InvalidName) {
                    self.fatal = Some(notice);
                } else {
                    self.notice = Some(notice);
                }
            }
        }
    }

    fn add(&mut self, m: ChatMessage) {
        // Our own message, seen stored: it leaves the outbox even if its ack was lost.
        if self.me.as_deref() == Some(m.author.as_str()) {
            self.outbox.retain(|p| p.client_id != m.client_id);
        }
        self.messages.insert(m.seq, m);
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
        ServerFrame::Welcome {
            reset: false,
            you: "alice".into(),
            room: "lobby".into(),
            members: vec!["alice".into(), "bob".into()],
            latest_seq: messages.last().map_or(0, |m| m.seq),
            messages,
            has_more,
            limits: Limits::default(),
        }
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
}
