//! A person's inbox, the rules (design: docs/ARCHITECTURE.md): the rooms the person is in,
//! their read position in each, unread and mention counts kept exact by recounting from the
//! room whenever they might not be, notification levels, and notifications coalesced per room.
//! Pure, like the room: inputs in, effects out, time passed in. (Work in progress for
//! issue 11: the Durable Object glue and the rooms' side come next.)

pub use confab_shared::inbox::{Level, PostSummary};
use confab_shared::{MemberId, Seq};
use std::collections::{BTreeMap, BTreeSet};

/// Rooms one inbox lists at most.
pub const ROOMS_MAX: usize = 1_000;
/// Direct messages one person starts per hour at most.
pub const DMS_PER_HOUR: usize = 20;
/// New direct messages others may start with one person per hour: past it they are refused,
/// so nobody fills a person's list of rooms with conversations from throwaway keys.
pub const DMS_RECEIVED_PER_HOUR: usize = 60;
const HOUR_MS: u64 = 3_600_000;
/// Pages (tabs and devices) one person has open on their inbox at most.
pub const SOCKETS_MAX: usize = 16;

/// A room raises at most one notification per this long; what comes meanwhile is counted into
/// the next one.
pub const NOTIFY_EVERY_MS: u64 = 10_000;

/// What the inbox knows of one room.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    /// The person's member id there.
    pub member: MemberId,
    /// A direct message (two people).
    pub dm: bool,
    /// Everything up to here is read.
    pub last_read: Seq,
    /// Posts by others after `last_read`, not deleted.
    pub unread: u32,
    /// Of those, the ones that mention the person.
    pub mentions: u32,
    /// The room's summaries have covered its log up to here: a batch that does not start here
    /// missed something, and the counts are recounted.
    pub covered_to: Seq,
    /// The counts may be wrong until the room recounts them.
    pub stale: bool,
    /// When notifications go out.
    pub level: Level,
    /// A direct message's other person.
    pub peer: Option<String>,
    /// When the room last raised a notification, and how many it has held back since (the
    /// newest of them kept, for when the room goes quiet: [`Inbox::flush_held`]).
    notified_ms: Option<u64>,
    held: u32,
    held_last: Option<(Seq, String, String)>,
}

/// What the glue must do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Out {
    /// Tell every socket of the person the room's counts now.
    Counts {
        /// The room.
        room: String,
        /// Read position.
        last_read: Seq,
        /// Unread posts.
        unread: u32,
        /// Unread mentions.
        mentions: u32,
    },
    /// Ask the room for the exact counts after `after` (the answer comes back as
    /// [`Inbox::recounted`]).
    Recount {
        /// The room.
        room: String,
        /// The person's member there.
        member: MemberId,
        /// The read position.
        after: Seq,
    },
    /// Raise a notification on the person's sockets (a page shows it only while hidden).
    Notify {
        /// The room.
        room: String,
        /// The newest message it is about.
        id: Seq,
        /// Its author.
        author: String,
        /// Its start.
        excerpt: String,
        /// How many notifications this one stands for (held back while the room was noisy).
        count: u32,
    },
}

/// Why an inbox refused something.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refused {
    /// The person is in [`ROOMS_MAX`] rooms already.
    TooManyRooms,
    /// The room is not in this inbox.
    UnknownRoom,
}

/// One person's inbox.
#[derive(Debug, Default)]
pub struct Inbox {
    rooms: BTreeMap<String, Entry>,
    /// When the person started their recent direct messages (the last hour's).
    dms_started: Vec<u64>,
    /// When others started new direct messages with the person (the last hour's).
    dms_received: Vec<u64>,
    /// The rooms focused tabs of the person show (each page says its own; usually one):
    /// nothing from them notifies.
    focused: BTreeSet<String>,
}

fn entry_counts(room: &str, e: &Entry) -> confab_shared::inbox::RoomCounts {
    confab_shared::inbox::RoomCounts {
        room: room.to_owned(),
        dm: e.dm,
        last_read: e.last_read,
        unread: e.unread,
        mentions: e.mentions,
        level: e.level,
        peer: e.peer.clone(),
    }
}

/// Counts one more at `now_ms` if fewer than `max` happened in the hour before it.
fn within_hour(times: &mut Vec<u64>, max: usize, now_ms: u64) -> bool {
    times.retain(|t| now_ms.saturating_sub(*t) < HOUR_MS);
    if times.len() >= max {
        return false;
    }
    times.push(now_ms);
    true
}

impl Inbox {
    /// An inbox rebuilt from what its storage keeps per room: `(room, member, dm, last_read,
    /// level)`. Its counts are unknown until the rooms recount them.
    pub fn restore(rooms: impl IntoIterator<Item = (String, MemberId, bool, Seq, Level, Option<String>)>) -> Self {
        let rooms = rooms
            .into_iter()
            .map(|(room, member, dm, last_read, level, peer)| {
                let entry = Entry {
                    member,
                    dm,
                    last_read,
                    unread: 0,
                    mentions: 0,
                    covered_to: 0,
                    stale: true,
                    level,
                    peer,
                    notified_ms: None,
                    held: 0,
                    held_last: None,
                };
                (room, entry)
            })
            .collect();
        Self { rooms, focused: BTreeSet::new(), dms_started: Vec::new(), dms_received: Vec::new() }
    }

    /// Every room's recount, as the person's first socket opens.
    pub fn recount_all(&self) -> Vec<Out> {
        self.rooms
            .iter()
            .map(|(room, e)| Out::Recount { room: room.clone(), member: e.member, after: e.last_read })
            .collect()
    }

    /// The sidebar's rooms, as sent to a page.
    pub fn listing(&self) -> Vec<confab_shared::inbox::RoomCounts> {
        self.rooms.iter().map(|(room, e)| entry_counts(room, e)).collect()
    }

    /// One room's entry, as sent to a page: a batch's work is that room's, whatever the number
    /// of rooms the person is in.
    pub fn room_counts(&self, room: &str) -> Option<confab_shared::inbox::RoomCounts> {
        self.rooms.get(room).map(|e| entry_counts(room, e))
    }

    /// The rooms, by name.
    pub fn rooms(&self) -> &BTreeMap<String, Entry> {
        &self.rooms
    }

    /// The person joined `room` as `member` (a room tells its members' inboxes on join). A
    /// room already listed keeps its read position.
    pub fn joined(&mut self, room: &str, member: MemberId, dm: bool, latest: Seq) -> Result<Vec<Out>, Refused> {
        if let Some(e) = self.rooms.get_mut(room) {
            e.member = member;
            return Ok(Vec::new());
        }
        self.add(room, member, dm, latest, None)
    }

    /// Asks `room` (listed) to watch for this inbox, with its exact counts: a room joined
    /// while a page of the person is open (the watches made on that page's `hello` did not
    /// include it) must not wait for the next `hello` to count.
    pub fn watch(&self, room: &str) -> Option<Out> {
        let e = self.rooms.get(room)?;
        Some(Out::Recount { room: room.to_owned(), member: e.member, after: e.last_read })
    }

    /// Whether the person may start another direct message now (at most [`DMS_PER_HOUR`] an
    /// hour); counts it if so. The glue stores each one, and gives them back with
    /// [`Inbox::restore_dm_times`] when the inbox is read back.
    pub fn may_start_dm(&mut self, now_ms: u64) -> bool {
        within_hour(&mut self.dms_started, DMS_PER_HOUR, now_ms)
    }

    /// Whether someone may start a new direct message with the person now (at most
    /// [`DMS_RECEIVED_PER_HOUR`] an hour); counts it if so.
    pub fn may_receive_dm(&mut self, now_ms: u64) -> bool {
        within_hour(&mut self.dms_received, DMS_RECEIVED_PER_HOUR, now_ms)
    }

    /// The times stored by the glue: direct messages started by the person, and by others.
    pub fn restore_dm_times(&mut self, started: Vec<u64>, received: Vec<u64>) {
        self.dms_started = started;
        self.dms_received = received;
    }

    /// A direct message with `peer` was started (by either side): listed before its person
    /// ever joins it (their member id there is 0 until then), with every post notifying.
    pub fn dm_started(&mut self, room: &str, peer: &str) -> Result<Vec<Out>, Refused> {
        if let Some(e) = self.rooms.get_mut(room) {
            e.peer = Some(peer.to_owned());
            return Ok(vec![self.counts(room)]);
        }
        self.add(room, 0, true, 0, Some(peer.to_owned()))
    }

    fn add(
        &mut self,
        room: &str,
        member: MemberId,
        dm: bool,
        latest: Seq,
        peer: Option<String>,
    ) -> Result<Vec<Out>, Refused> {
        if self.rooms.len() >= ROOMS_MAX {
            return Err(Refused::TooManyRooms);
        }
        let level = if dm { Level::All } else { Level::Mentions };
        let entry = Entry {
            member,
            dm,
            last_read: latest,
            unread: 0,
            mentions: 0,
            covered_to: latest,
            stale: false,
            level,
            peer,
            notified_ms: None,
            held: 0,
            held_last: None,
        };
        self.rooms.insert(room.to_owned(), entry);
        Ok(vec![self.counts(room)])
    }

    /// A batch of summaries covering the room's log from `from` (exclusive) to `to`.
    pub fn summaries(&mut self, room: &str, from: Seq, to: Seq, batch: &[PostSummary], now_ms: u64) -> Vec<Out> {
        let focused = self.focused.contains(room);
        let Some(e) = self.rooms.get_mut(room) else { return Vec::new() };
        let mut out = Vec::new();
        // Counts already in doubt, or a batch after a gap: what this batch adds is a guess.
        let guessing = e.stale || from != e.covered_to;
        if from != e.covered_to {
            // Something was missed (a lost batch, a room that restarted): count again.
            e.stale = true;
        }
        e.covered_to = e.covered_to.max(to);
        let mut notify: Option<(Seq, String, String)> = None;
        for s in batch {
            if s.deleted {
                if s.id > e.last_read && s.member != e.member {
                    // One fewer unread; whether it mentioned the person is gone with its text,
                    // so the room recounts the mentions.
                    e.unread = e.unread.saturating_sub(1);
                    e.stale = true;
                }
            } else if s.member == e.member {
                // Your own message marks the room read up to it.
                if s.id > e.last_read {
                    e.last_read = s.id;
                    e.unread = 0;
                    e.mentions = 0;
                    e.stale = false;
                }
            } else if s.id > e.last_read {
                e.unread += 1;
                e.mentions += u32::from(s.mentions_me);
                let wanted = match e.level {
                    Level::All => true,
                    Level::Mentions => s.mentions_me || e.dm,
                    Level::Nothing => false,
                };
                if wanted && !focused {
                    notify = Some((s.id, s.author.clone(), s.excerpt.clone()));
                    e.held += 1;
                }
            }
        }
        // A guess, unless your own post in this batch made the counts exact again.
        let exact = !guessing || !e.stale;
        if let Some((id, author, excerpt)) = notify {
            // Coalesced: one per room per NOTIFY_EVERY_MS; the next carries the count (sent by
            // `flush_held` when the window ends, if nothing else comes).
            if e.notified_ms.is_none_or(|t| now_ms >= t + NOTIFY_EVERY_MS) {
                out.push(Out::Notify { room: room.to_owned(), id, author, excerpt, count: e.held });
                e.notified_ms = Some(now_ms);
                e.held = 0;
                e.held_last = None;
            } else {
                e.held_last = Some((id, author, excerpt));
            }
        }
        // Counts that are a guess (a batch after a gap, the first after the inbox was read
        // back from storage with every count at 0) are not shown: the room's exact answer
        // follows at once, so a badge never drops to a guess and back. A delete's one fewer
        // is exact and shown; only its mention is recounted.
        if exact {
            out.push(self.counts(room));
        }
        if let Some(r) = self.recount_if_stale(room) {
            out.push(r);
        }
        out
    }

    /// A tab read `room` up to `seq`.
    pub fn read(&mut self, room: &str, seq: Seq) -> Result<Vec<Out>, Refused> {
        let e = self.rooms.get_mut(room).ok_or(Refused::UnknownRoom)?;
        if seq <= e.last_read {
            return Ok(Vec::new());
        }
        e.last_read = seq;
        // Exact without asking only when the room's batches are known to have covered its log
        // up to here (not right after the inbox was read back from storage: 0).
        if e.covered_to > 0 && seq >= e.covered_to {
            // Everything the room told of is read: exact without asking.
            e.unread = 0;
            e.mentions = 0;
            e.stale = false;
        } else {
            e.stale = true;
        }
        e.held = 0;
        e.held_last = None;
        Ok(self.counts_and_recount(room))
    }

    /// "Mark as unread from here": everything from message `id` on is unread again.
    pub fn mark_unread(&mut self, room: &str, id: Seq) -> Result<Vec<Out>, Refused> {
        let e = self.rooms.get_mut(room).ok_or(Refused::UnknownRoom)?;
        e.last_read = id.saturating_sub(1);
        e.stale = true;
        Ok(self.counts_and_recount(room))
    }

    /// The room's exact counts after `after` (the answer to [`Out::Recount`]), as of its log
    /// at `latest`. An answer for a read position that has moved since is dropped: another
    /// recount is on its way.
    pub fn recounted(&mut self, room: &str, after: Seq, latest: Seq, unread: u32, mentions: u32) -> Vec<Out> {
        let Some(e) = self.rooms.get_mut(room) else { return Vec::new() };
        if after != e.last_read {
            return Vec::new();
        }
        e.unread = unread;
        e.mentions = mentions;
        e.covered_to = e.covered_to.max(latest);
        e.stale = false;
        vec![self.counts(room)]
    }

    /// Notifications held back in a room whose window has ended with nothing more said: sent
    /// now, one per room, counting what they stand for.
    pub fn flush_held(&mut self, now_ms: u64) -> Vec<Out> {
        let mut out = Vec::new();
        for (room, e) in &mut self.rooms {
            if e.notified_ms.is_none_or(|t| now_ms < t + NOTIFY_EVERY_MS) {
                continue;
            }
            if let Some((id, author, excerpt)) = e.held_last.take() {
                out.push(Out::Notify { room: room.clone(), id, author, excerpt, count: e.held });
                e.notified_ms = Some(now_ms);
                e.held = 0;
            }
        }
        out
    }

    /// When `room`'s held-back notification is due, if it holds one (after a batch: that
    /// room's alone, not a walk over every room).
    pub fn flush_due(&self, room: &str) -> Option<u64> {
        let e = self.rooms.get(room)?;
        e.held_last.as_ref().and(e.notified_ms).map(|t| t + NOTIFY_EVERY_MS)
    }

    /// When [`Inbox::flush_held`] next has something to send.
    pub fn next_flush(&self) -> Option<u64> {
        self.rooms
            .values()
            .filter(|e| e.held_last.is_some())
            .filter_map(|e| e.notified_ms)
            .map(|t| t + NOTIFY_EVERY_MS)
            .min()
    }

    /// A room's notification level: every page is told (its title counts follow the level).
    pub fn set_level(&mut self, room: &str, level: Level) -> Result<Vec<Out>, Refused> {
        self.rooms.get_mut(room).ok_or(Refused::UnknownRoom)?.level = level;
        Ok(vec![self.counts(room)])
    }

    /// The rooms the focused tabs show now (none: no tab of the person is focused).
    pub fn focus(&mut self, rooms: impl IntoIterator<Item = String>) {
        self.focused = rooms.into_iter().collect();
    }

    fn counts(&self, room: &str) -> Out {
        let e = self.rooms.get(room).expect("callers pass a listed room");
        Out::Counts { room: room.to_owned(), last_read: e.last_read, unread: e.unread, mentions: e.mentions }
    }

    fn recount_if_stale(&self, room: &str) -> Option<Out> {
        let e = self.rooms.get(room)?;
        e.stale.then(|| Out::Recount { room: room.to_owned(), member: e.member, after: e.last_read })
    }

    fn counts_and_recount(&self, room: &str) -> Vec<Out> {
        let mut out = vec![self.counts(room)];
        out.extend(self.recount_if_stale(room));
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ME: MemberId = 1;
    const BOB: MemberId = 2;

    fn post(id: Seq, member: MemberId, mentions_me: bool) -> PostSummary {
        PostSummary { id, member, mentions_me, deleted: false, author: "bob".into(), excerpt: format!("m{id}") }
    }

    fn counts(out: &[Out]) -> Option<(Seq, u32, u32)> {
        out.iter().rev().find_map(|o| match o {
            Out::Counts { last_read, unread, mentions, .. } => Some((*last_read, *unread, *mentions)),
            _ => None,
        })
    }

    #[test]
    fn counts_follow_posts_reads_and_deletes_and_your_own_post_reads_the_room() {
        let mut i = Inbox::default();
        i.joined("lobby", ME, false, 10).unwrap();
        let out = i.summaries("lobby", 10, 13, &[post(11, BOB, false), post(12, BOB, true), post(13, BOB, false)], 0);
        assert_eq!(counts(&out), Some((10, 3, 1)));
        let out = i.summaries(
            "lobby",
            13,
            14,
            &[PostSummary { deleted: true, excerpt: String::new(), ..post(12, BOB, false) }],
            0,
        );
        assert_eq!(counts(&out), Some((10, 2, 1)), "one fewer unread at once");
        assert!(out.contains(&Out::Recount { room: "lobby".into(), member: ME, after: 10 }), "mentions recounted");
        assert_eq!(counts(&i.recounted("lobby", 10, 14, 2, 0)), Some((10, 2, 0)));
        let out = i.read("lobby", 14).unwrap();
        assert_eq!(counts(&out), Some((14, 0, 0)), "read to the end: exact without asking");
        i.summaries("lobby", 14, 15, &[post(15, BOB, false)], 0);
        let out = i.summaries("lobby", 15, 16, &[post(16, ME, false)], 0);
        assert_eq!(counts(&out), Some((16, 0, 0)), "your own post marks the room read");
    }

    #[test]
    fn a_missed_batch_or_a_partial_read_asks_the_room_and_a_late_answer_is_dropped() {
        let mut i = Inbox::default();
        i.joined("lobby", ME, false, 0).unwrap();
        let out = i.summaries("lobby", 5, 6, &[post(6, BOB, false)], 0);
        assert!(out.contains(&Out::Recount { room: "lobby".into(), member: ME, after: 0 }), "{out:?}");
        // The answer: exact counts, as of the room's log at 6.
        let out = i.recounted("lobby", 0, 6, 4, 1);
        assert_eq!(counts(&out), Some((0, 4, 1)));
        // Read part of it: recount from the new position; an answer for the old one is dropped.
        let out = i.read("lobby", 3).unwrap();
        assert!(out.contains(&Out::Recount { room: "lobby".into(), member: ME, after: 3 }));
        assert!(i.recounted("lobby", 0, 6, 4, 1).is_empty());
        assert_eq!(counts(&i.recounted("lobby", 3, 6, 2, 0)), Some((3, 2, 0)));
        // Mark as unread from 2: everything from it on is unread again, recounted.
        let out = i.mark_unread("lobby", 2).unwrap();
        assert!(out.contains(&Out::Recount { room: "lobby".into(), member: ME, after: 1 }));
    }

    #[test]
    fn notifications_follow_levels_skip_a_focused_room_and_are_coalesced() {
        let mut i = Inbox::default();
        i.joined("lobby", ME, false, 0).unwrap();
        i.joined("dm-x", ME, true, 0).unwrap();
        let notes = |out: &[Out]| out.iter().filter(|o| matches!(o, Out::Notify { .. })).count();
        assert_eq!(notes(&i.summaries("lobby", 0, 1, &[post(1, BOB, false)], 0)), 0, "mentions only, by default");
        assert_eq!(notes(&i.summaries("dm-x", 0, 1, &[post(1, BOB, false)], 0)), 1, "every DM");
        assert_eq!(notes(&i.summaries("lobby", 1, 2, &[post(2, BOB, true)], 0)), 1);
        // A flood of mentions: one notification per 10 s, the next counting what was held.
        let mut raised = 0;
        for (n, id) in (3..1003).enumerate() {
            raised += notes(&i.summaries("lobby", id - 1, id, &[post(id, BOB, true)], n as u64 * 60));
        }
        // The mention at 0 just notified: then one at 10, 20, 30, 40 and 50 s.
        assert_eq!(raised, 5, "1,000 mentions in a minute: 5 more notifications");
        let last = i.summaries("lobby", 1002, 1003, &[post(1003, BOB, true)], 70_000);
        assert!(matches!(last.first(), Some(Out::Notify { count, .. }) if *count > 1), "{last:?}");
        // A focused tab on the room: nothing notifies. Another level: nothing either.
        i.focus(["lobby".to_owned()]);
        assert_eq!(notes(&i.summaries("lobby", 1003, 1004, &[post(1004, BOB, true)], 200_000)), 0);
        i.focus(["dm-x".to_owned()]);
        assert_eq!(
            notes(&i.summaries("lobby", 1004, 1005, &[post(1005, BOB, true)], 210_000)),
            1,
            "another room's focus"
        );
        i.focus([]);
        i.set_level("lobby", Level::Nothing).unwrap();
        assert_eq!(notes(&i.summaries("lobby", 1005, 1006, &[post(1006, BOB, true)], 300_000)), 0);
        assert_eq!(i.set_level("nowhere", Level::All), Err(Refused::UnknownRoom));
        assert!(matches!(i.set_level("lobby", Level::All).as_deref(), Ok([Out::Counts { .. }])), "told to every page");
    }

    #[test]
    fn a_dm_is_listed_before_its_person_joins_it_and_keeps_its_place() {
        let mut i = Inbox::default();
        let out = i.dm_started("dm-1", "bob").unwrap();
        assert_eq!(counts(&out), Some((0, 0, 0)));
        let e = &i.rooms()["dm-1"];
        assert!(e.dm && e.peer.as_deref() == Some("bob") && e.level == Level::All);
        let out = i.summaries("dm-1", 0, 1, &[post(1, BOB, false)], 0);
        assert!(out.iter().any(|o| matches!(o, Out::Notify { .. })), "every DM notifies");
        i.joined("dm-1", ME, true, 1).unwrap();
        assert_eq!(i.rooms()["dm-1"].member, ME);
        assert_eq!(i.rooms()["dm-1"].unread, 1, "joining keeps the counts");
        assert_eq!(i.listing()[0].peer.as_deref(), Some("bob"));
    }

    #[test]
    fn a_batch_after_a_read_back_or_a_gap_shows_no_guess() {
        // Read back from storage: counts 0 until the room answers, and none shown before.
        let mut i = Inbox::restore([("lobby".to_owned(), ME, false, 5, Level::Mentions, None)]);
        let out = i.summaries("lobby", 9, 10, &[post(10, BOB, false)], 0);
        assert_eq!(counts(&out), None, "{out:?}");
        assert!(out.contains(&Out::Recount { room: "lobby".into(), member: ME, after: 5 }), "{out:?}");
        assert_eq!(counts(&i.recounted("lobby", 5, 10, 3, 0)), Some((5, 3, 0)));
        // In order again: shown.
        assert_eq!(counts(&i.summaries("lobby", 10, 11, &[post(11, BOB, false)], 0)), Some((5, 4, 0)));
        // A gap: not shown, recounted.
        let out = i.summaries("lobby", 20, 21, &[post(21, BOB, false)], 0);
        assert_eq!(counts(&out), None, "{out:?}");
        assert!(out.iter().any(|o| matches!(o, Out::Recount { .. })));
        // A gap whose batch holds your own post: exact from it on, shown, no recount needed.
        let out = i.summaries("lobby", 30, 32, &[post(31, ME, false), post(32, BOB, false)], 0);
        assert_eq!(counts(&out), Some((31, 1, 0)), "{out:?}");
    }

    #[test]
    fn what_a_noisy_room_held_back_is_sent_when_it_goes_quiet() {
        let mut i = Inbox::default();
        i.joined("lobby", ME, false, 0).unwrap();
        i.summaries("lobby", 0, 1, &[post(1, BOB, true)], 0);
        i.summaries("lobby", 1, 2, &[post(2, BOB, true)], 1_000);
        i.summaries("lobby", 2, 3, &[post(3, BOB, true)], 2_000);
        assert_eq!(i.next_flush(), Some(NOTIFY_EVERY_MS));
        assert_eq!(i.flush_due("lobby"), Some(NOTIFY_EVERY_MS), "what a batch of lobby's asks the alarm for");
        assert_eq!(i.flush_due("elsewhere"), None);
        assert!(i.flush_held(NOTIFY_EVERY_MS - 1).is_empty());
        let out = i.flush_held(NOTIFY_EVERY_MS);
        assert!(matches!(out.as_slice(), [Out::Notify { id: 3, count: 2, .. }]), "{out:?}");
        assert_eq!(i.next_flush(), None);
        assert_eq!(i.flush_due("lobby"), None);
        // Read in the meantime: nothing left to say.
        i.summaries("lobby", 3, 4, &[post(4, BOB, true)], 11_000);
        i.read("lobby", 4).unwrap();
        assert!(i.flush_held(30_000).is_empty());
    }

    #[test]
    fn a_read_after_a_restore_asks_the_room() {
        let mut i = Inbox::restore([("lobby".to_owned(), ME, false, 3, Level::Mentions, None)]);
        let out = i.read("lobby", 9).unwrap();
        assert!(out.contains(&Out::Recount { room: "lobby".into(), member: ME, after: 9 }), "{out:?}");
    }

    #[test]
    fn starting_dms_is_bounded_per_hour() {
        let mut i = Inbox::default();
        let started = (0..30).filter(|n| i.may_start_dm(n * 1_000)).count();
        assert_eq!(started, DMS_PER_HOUR);
        assert!(i.may_start_dm(3_600_000 + 1_000), "an hour later, again");
        let received = (0..100).filter(|n| i.may_receive_dm(n * 1_000)).count();
        assert_eq!(received, DMS_RECEIVED_PER_HOUR, "others starting new ones are bounded too");
        // Read back from storage: the hour's times still count.
        let mut back = Inbox::default();
        back.restore_dm_times(vec![10; DMS_PER_HOUR], vec![10; DMS_RECEIVED_PER_HOUR]);
        assert!(!back.may_start_dm(20) && !back.may_receive_dm(20));
        assert!(back.may_start_dm(10 + 3_600_000) && back.may_receive_dm(10 + 3_600_000));
    }

    #[test]
    fn rooms_are_bounded() {
        let mut i = Inbox::default();
        for n in 0..ROOMS_MAX {
            i.joined(&format!("r{n}"), ME, false, 0).unwrap();
        }
        assert_eq!(i.joined("one-more", ME, false, 0), Err(Refused::TooManyRooms));
        assert_eq!(i.watch("r1"), Some(Out::Recount { room: "r1".into(), member: ME, after: 0 }));
        assert_eq!(i.watch("one-more"), None, "not listed: nothing to watch");
        assert!(i.joined("r1", 7, false, 0).is_ok(), "a room already listed is no new room");
        assert_eq!(i.rooms()["r1"].member, 7);
    }
}
