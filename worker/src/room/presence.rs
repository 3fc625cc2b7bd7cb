//! Who is here, and who is typing: announced at once while the room is quiet, batched while
//! it is busy.

use super::{Audience, Effect, Room};
use confab_shared::limits::TYPING_RELAY_INTERVAL_MS;
use confab_shared::{Member as MemberView, MemberId, ServerFrame};
use std::collections::{BTreeMap, VecDeque};

/// Presence announcements sent at once within [`PRESENCE_WINDOW_MS`]; past that, joins and
/// leaves are batched into one `presence` frame every [`PRESENCE_BATCH_MS`]. A room of people
/// coming and going one by one sees `member_joined`/`member_left` as they happen; a crowd
/// arriving at once (a link shared in a big channel, everyone reconnecting after an outage)
/// costs one frame per batch per member instead of one per arrival per member.
pub const PRESENCE_IMMEDIATE: usize = 8;
/// See [`PRESENCE_IMMEDIATE`].
pub const PRESENCE_WINDOW_MS: u64 = 1_000;
/// See [`PRESENCE_IMMEDIATE`].
pub const PRESENCE_BATCH_MS: u64 = 100;

/// Presence changes held back while the room is busy: per member, the last thing that
/// happened (clients key members by id, so only the final state of each matters, whatever
/// name it had on the way).
#[derive(Debug, Default)]
pub(super) struct PresenceBatch {
    /// When recent announcements went out at once (within the last window).
    recent: VecDeque<u64>,
    /// Member → (as it is or was last, present now).
    changes: BTreeMap<MemberId, (MemberView, bool)>,
    /// When the held-back changes go out.
    pub(super) flush_at: Option<u64>,
}

impl Room {
    /// Tells the others that `member` arrived (or is now shown under a new name) or went:
    /// at once while the room is quiet, batched while it is busy (see [`PRESENCE_IMMEDIATE`]).
    /// `renamed`: the member was already here under another name, so its own other tabs must
    /// hear it too.
    pub(super) fn announce(
        &mut self,
        member: MemberView,
        present: bool,
        renamed: bool,
        now_ms: u64,
        out: &mut Vec<Effect>,
    ) {
        let p = &mut self.presence;
        while p.recent.front().is_some_and(|t| now_ms.saturating_sub(*t) >= PRESENCE_WINDOW_MS) {
            p.recent.pop_front();
        }
        if p.flush_at.is_none() && p.recent.len() < self.config.presence_immediate {
            p.recent.push_back(now_ms);
            let (to, frame) = if present {
                let to = if renamed { Audience::Room } else { Audience::Others(member.id) };
                (to, ServerFrame::MemberJoined(member))
            } else {
                (Audience::Room, ServerFrame::MemberLeft(member))
            };
            out.push(Effect::Send { to, text: frame.to_json() });
            return;
        }
        p.changes.insert(member.id, (member, present));
        if p.flush_at.is_none() {
            let at = now_ms + PRESENCE_BATCH_MS;
            p.flush_at = Some(at);
            out.push(Effect::WakeAt(at));
        }
    }

    pub(super) fn flush_presence(&mut self, out: &mut Vec<Effect>) {
        self.presence.flush_at = None;
        let (mut joined, mut left) = (Vec::new(), Vec::new());
        for (_, (member, present)) in std::mem::take(&mut self.presence.changes) {
            if present {
                joined.push(member);
            } else {
                left.push(member);
            }
        }
        if !joined.is_empty() || !left.is_empty() {
            out.push(Effect::Send { to: Audience::Room, text: ServerFrame::Presence { joined, left }.to_json() });
        }
    }

    /// Whether presence changes are held back, waiting for a tick.
    pub fn presence_pending(&self) -> bool {
        self.presence.flush_at.is_some()
    }

    pub(super) fn on_typing(&mut self, member: MemberId, now_ms: u64, out: &mut Vec<Effect>) {
        let m = self
            .members
            .get_mut(&member)
            .expect("a joined socket's member is in `members` until its last socket closes");
        if m.typing_ms.is_some_and(|t| now_ms < t.saturating_add(TYPING_RELAY_INTERVAL_MS)) {
            return;
        }
        // A muted member cannot speak, so is not shown typing either.
        if m.muted_until.is_some_and(|u| u > now_ms) {
            return;
        }
        m.typing_ms = Some(now_ms);
        let frame = ServerFrame::Typing(MemberView { id: member, name: m.display.clone(), role: m.role });
        out.push(Effect::Send { to: Audience::Others(member), text: frame.to_json() });
    }
}
