//! The inboxes that watch a room (issue 11, in progress; docs/ARCHITECTURE.md): which posts
//! and deletes each is told of, coalesced to one batch per inbox per [`BATCH_MS`], with a
//! mention sent at once, and each batch saying which stretch of the log it covers so an inbox
//! that missed one recounts. Pure; the room feeds it its stored posts and deletes and sends
//! what [`Watchers::due`] hands back.

use confab_shared::inbox::{PostSummary, Summaries};
use confab_shared::{MemberId, Seq};
use std::collections::BTreeMap;

/// Counts reach a watching inbox at most this often (the sidebar's promise is 2 s).
pub const BATCH_MS: u64 = 1_000;
/// Posts one batch holds at most: past it the batch goes at once (the inbox counts them all,
/// so a busy room costs one request per this many posts, never more than one per post).
pub const BATCH_MAX: usize = 100;

/// One watching inbox.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Watch {
    /// The inbox's name.
    inbox: String,
    /// The log is covered up to here by what was sent.
    from: Seq,
    /// Waiting to go.
    pending: Vec<PostSummary>,
    /// When the pending batch goes.
    due_ms: Option<u64>,
}

/// A batch for the glue to POST to an inbox.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Batch {
    /// The inbox's name.
    pub inbox: String,
    /// What to tell it.
    pub body: Summaries,
}

/// The room's watching inboxes, by the member each is for.
#[derive(Debug, Default)]
pub struct Watchers {
    room: String,
    watches: BTreeMap<MemberId, Watch>,
}

impl Watchers {
    /// No watchers yet, for room `room`.
    pub fn new(room: &str) -> Self {
        Self { room: room.to_owned(), watches: BTreeMap::new() }
    }

    /// `member`'s inbox watches from `latest` on (it has just been told the exact counts).
    /// After the room restarts, watches are read back with `from` 0: their next batch does not
    /// start where the inbox's counts end, so the inbox recounts.
    pub fn watch(&mut self, member: MemberId, inbox: &str, latest: Seq) {
        // One watch per inbox: a person who watched as nobody (a DM they had not joined yet)
        // and then as their member is one stream of batches, not two.
        self.watches.retain(|m, w| *m == member || w.inbox != inbox);
        self.watches.insert(member, Watch { inbox: inbox.to_owned(), from: latest, pending: Vec::new(), due_ms: None });
    }

    /// The members whose inboxes watch.
    pub fn members(&self) -> Vec<MemberId> {
        self.watches.keys().copied().collect()
    }

    /// The inbox answered "stop" (no socket of its person is open).
    pub fn unwatch(&mut self, member: MemberId) {
        self.watches.remove(&member);
    }

    /// Whether `member`'s inbox watches.
    pub fn watching(&self, member: MemberId) -> bool {
        self.watches.contains_key(&member)
    }

    /// Whether this inbox watches (for whichever member).
    pub fn watching_inbox(&self, inbox: &str) -> bool {
        self.watches.values().any(|w| w.inbox == inbox)
    }

    /// How many inboxes watch.
    pub fn len(&self) -> usize {
        self.watches.len()
    }

    /// Whether none does.
    pub fn is_empty(&self) -> bool {
        self.watches.is_empty()
    }

    /// A post (or delete) stored as event `seq`: every watching inbox is told of it within
    /// [`BATCH_MS`] (its author's too: your own post marks the room read); one it mentions, at
    /// once (the 1 s promise).
    pub fn stored(&mut self, seq: Seq, post: &PostSummary, mentions: &[MemberId], now_ms: u64) -> Vec<Batch> {
        let mut out = Vec::new();
        let room = self.room.clone();
        for (member, w) in &mut self.watches {
            let mut p = post.clone();
            p.mentions_me = mentions.contains(member) && post.member != *member;
            let urgent = p.mentions_me && !p.deleted;
            w.pending.push(p);
            if urgent || w.pending.len() >= BATCH_MAX {
                out.push(take(&room, *member, w, seq));
            } else if w.due_ms.is_none() {
                w.due_ms = Some(now_ms + BATCH_MS);
            }
        }
        out
    }

    /// The batches due by `now_ms` (the room's alarm), each covering the log up to `latest`.
    pub fn due(&mut self, latest: Seq, now_ms: u64) -> Vec<Batch> {
        let room = self.room.clone();
        let mut out = Vec::new();
        for (member, w) in &mut self.watches {
            if w.due_ms.is_some_and(|at| at <= now_ms) {
                out.push(take(&room, *member, w, latest));
            }
        }
        out
    }

    /// When the next batch is due.
    pub fn next_due(&self) -> Option<u64> {
        self.watches.values().filter_map(|w| w.due_ms).min()
    }
}

/// The pending batch of `w`, covering the log from where the last ended to `to`.
fn take(room: &str, member: MemberId, w: &mut Watch, to: Seq) -> Batch {
    let body = Summaries { room: room.to_owned(), member, from: w.from, to, posts: std::mem::take(&mut w.pending) };
    w.from = to;
    w.due_ms = None;
    Batch { inbox: w.inbox.clone(), body }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn post(id: Seq, member: MemberId) -> PostSummary {
        PostSummary {
            id,
            member,
            author: format!("m{member}"),
            mentions_me: false,
            deleted: false,
            excerpt: "hi".into(),
        }
    }

    #[test]
    fn posts_are_coalesced_per_inbox_and_mentions_go_at_once() {
        let mut w = Watchers::new("lobby");
        w.watch(1, "inbox-a", 10);
        w.watch(2, "inbox-b", 10);
        assert!(w.stored(11, &post(11, 3), &[], 0).is_empty(), "held for the batch");
        assert!(w.stored(12, &post(12, 3), &[], 200).is_empty());
        assert_eq!(w.next_due(), Some(BATCH_MS));
        // A mention of member 2 goes to its inbox at once, with what was held for it.
        let now = w.stored(13, &post(13, 3), &[2], 300);
        assert_eq!(now.len(), 1);
        assert_eq!(now[0].inbox, "inbox-b");
        assert_eq!((now[0].body.from, now[0].body.to, now[0].body.posts.len()), (10, 13, 3));
        assert!(now[0].body.posts[2].mentions_me && !now[0].body.posts[0].mentions_me);
        // The rest at the due time: one batch for member 1, covering the same stretch.
        let due = w.due(13, BATCH_MS);
        assert_eq!(due.len(), 1);
        assert_eq!((due[0].body.member, due[0].body.from, due[0].body.to, due[0].body.posts.len()), (1, 10, 13, 3));
        assert_eq!(w.next_due(), None);
        // The next batches start where these ended: no hole, no recount.
        w.stored(14, &post(14, 3), &[], 2_000);
        let due = w.due(14, 3_000);
        assert!(due.iter().all(|b| b.body.from == 13 && b.body.to == 14), "{due:?}");
    }

    #[test]
    fn your_own_post_is_told_to_your_inbox_and_never_mentions_you() {
        let mut w = Watchers::new("lobby");
        w.watch(1, "inbox-a", 0);
        assert!(w.stored(1, &post(1, 1), &[1], 0).is_empty(), "mentioning yourself is no mention");
        w.stored(2, &post(2, 4), &[], 0);
        let due = w.due(2, BATCH_MS);
        assert_eq!(due[0].body.posts.iter().map(|p| (p.id, p.member)).collect::<Vec<_>>(), vec![(1, 1), (2, 4)]);
        assert_eq!((due[0].body.from, due[0].body.to), (0, 2));
    }

    #[test]
    fn one_watch_per_inbox() {
        let mut w = Watchers::new("dm");
        w.watch(0, "inbox-a", 0);
        w.watch(7, "inbox-a", 3);
        assert_eq!(w.members(), vec![7], "the watch as nobody is replaced by the member's");
        w.stored(4, &post(4, 9), &[], 0);
        assert_eq!(w.due(4, BATCH_MS).len(), 1, "one stream of batches");
    }

    #[test]
    fn a_busy_room_costs_one_request_per_batch_not_per_post() {
        let mut w = Watchers::new("busy");
        w.watch(1, "inbox-a", 0);
        let mut requests = 0;
        for id in 1..=1_000u64 {
            requests += w.stored(id, &post(id, 2), &[], id).len();
            requests += w.due(id, id).len();
        }
        assert!(requests <= 1_000 / BATCH_MAX + 1, "{requests} requests for 1,000 posts in one second");
        w.unwatch(1);
        assert!(w.is_empty() && w.stored(1_001, &post(1_001, 2), &[1], 2_000).is_empty());
    }
}
