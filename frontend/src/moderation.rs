//! Rooms with owners, as the page sees them: the room's settings, the roles it knows, our mute
//! and slow-mode wait, the invite links and bots it has seen, and our moderation actions on
//! their way. Built only from frames (`welcome`, `moderated`, `bot_created`, `audit`, acks and
//! refusals), pure, tested natively. The room checks every right; the page only decides what
//! to offer.
//!
//! Rules:
//! - A `moderated` event is an event like any other: it takes the next `seq` (see `state.rs`),
//!   then changes what it names: the settings, a member's role, our mute, the member list
//!   (a ban), the invite links and bots known.
//! - A resume does not replay `moderated` events: the `welcome` carries the settings, our
//!   mute, our slow-mode wait and the roles of the members online, and replaces what was held.
//! - Invite links and bots have no listing in the protocol: the page knows those it saw
//!   created or revoked, live or in the audit pages it loaded, each as of the newest event
//!   about it (an older page read later never revives a revoked one).
//! - Slow mode: after each of our posts the room acknowledges, we wait
//!   `settings.slow_mode_secs` before the next (by this page's clock); the welcome's
//!   `slow_wait_ms` restarts a wait that was running before a reload. Moderators and bots are
//!   exempt.
//! - Moderation actions are not saved in the outbox (see `engine.rs`): they go out only on a
//!   joined socket, and one the room never answered is reported when the next welcome comes.

use crate::audit::AuditTrail;
use crate::state::RoomView;
use confab_shared::{Action, AuditEntry, Member, MemberId, Role, RoomSettings, Seq};
use std::collections::BTreeMap;

/// Mute lengths the menus offer: minutes, and how they read.
pub const MUTE_CHOICES: [(u32, &str); 3] = [(10, "10 min"), (60, "1 hour"), (24 * 60, "1 day")];

/// Slow-mode intervals the settings offer, in seconds (0 is off).
pub const SLOW_MODE_CHOICES: [u32; 6] = [0, 5, 10, 30, 60, 120];

/// What keeps us from posting right now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Wait {
    /// A moderator muted us until then (ms since the epoch).
    Muted(u64),
    /// Slow mode: we may post again at this time (ms since the epoch).
    Slow(u64),
}

impl Wait {
    /// When it ends.
    pub fn until(self) -> u64 {
        match self {
            Wait::Muted(t) | Wait::Slow(t) => t,
        }
    }
}

/// Who we are and the roles known: all that decides what the page offers whom (one copy the
/// components share, so a message row reacts to a role change and to nothing else).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Rights {
    /// Our member id, once welcomed.
    pub me: Option<MemberId>,
    /// Our role.
    pub role: Role,
    /// The roles known, by member id.
    pub roles: BTreeMap<MemberId, Role>,
}

impl Rights {
    /// Whether we moderate (the moderation tools are offered).
    pub fn moderates(&self) -> bool {
        self.role.moderates()
    }

    /// Whether we may act on member `id` as the room will judge it: not on ourselves, never on
    /// the owner, and a moderator not on another moderator (roles of members the page has not
    /// seen count as plain members; the room has the last word).
    pub fn can_act_on(&self, id: MemberId) -> bool {
        if !self.moderates() || self.me == Some(id) {
            return false;
        }
        match self.roles.get(&id).copied().unwrap_or_default() {
            Role::Owner => false,
            Role::Moderator => self.role == Role::Owner,
            Role::Member | Role::Bot => true,
        }
    }
}

/// An invite link or a bot, as of the newest event the page saw about it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Known {
    /// A bot's name (empty for an invite).
    pub name: String,
    /// The event it is known as of (0: seen online, no event).
    pub seq: Seq,
    /// Not revoked.
    pub live: bool,
}

/// What the page knows about the room's moderation.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Moderation {
    /// Topic, slow mode, invite-only.
    pub settings: RoomSettings,
    /// Roles the page knows, by member id: the members online (from `welcome` and joins) and
    /// the members a role change named since.
    pub roles: BTreeMap<MemberId, Role>,
    /// A moderator muted us until then (ms since the epoch, as the room dates it).
    pub muted_until: Option<u64>,
    /// Slow mode: we may post again at this time (ms since the epoch, this page's clock).
    pub slow_until: Option<u64>,
    /// Invite links by code (codes reach moderators only).
    pub invites: BTreeMap<String, Known>,
    /// Bots by member id.
    pub bots: BTreeMap<MemberId, Known>,
    /// Our moderation actions the room has not answered yet, by `client_id`.
    pub pending: BTreeMap<String, Action>,
    /// The room refused one of our actions (why, in its words), until dismissed.
    pub refusal: Option<String>,
    /// The bot we just made and its token: shown once, never saved, gone when dismissed.
    pub new_bot: Option<(Member, String)>,
    /// The audit trail loaded so far (`None`: not asked since the last welcome).
    pub audit: Option<AuditTrail>,
}

impl Moderation {
    /// The role the page knows for `id` (a plain member if it knows none).
    pub fn role_of(&self, id: MemberId) -> Role {
        self.roles.get(&id).copied().unwrap_or_default()
    }

    /// Learns a member's role as a frame names it (a bot is also a bot known); whether it
    /// changed.
    pub fn saw(&mut self, m: &Member) -> bool {
        if m.role == Role::Bot {
            self.bots.entry(m.id).or_insert_with(|| Known { name: m.name.clone(), seq: 0, live: true });
        }
        self.roles.insert(m.id, m.role) != Some(m.role)
    }

    /// A welcome's view of the room: it replaces the settings, our mute and slow-mode wait,
    /// and the roles (of the members online). `fresh_epoch`: ids and seqs from before mean
    /// nothing now. Actions of ours still unanswered are reported, not resent.
    pub fn welcome(
        &mut self,
        settings: RoomSettings,
        muted_until: Option<u64>,
        slow_wait_ms: Option<u64>,
        members: &[Member],
        fresh_epoch: bool,
        now_ms: u64,
    ) {
        self.settings = settings;
        self.muted_until = muted_until;
        self.slow_until = slow_wait_ms.filter(|ms| *ms > 0).map(|ms| now_ms.saturating_add(ms));
        self.roles.clear();
        for m in members {
            self.saw(m);
        }
        if fresh_epoch {
            self.invites.clear();
            self.bots.clear();
            self.new_bot = None;
        }
        // Moderation events are not replayed: a trail loaded before may miss some.
        self.audit = None;
        if !self.pending.is_empty() {
            self.pending.clear();
            self.refusal = Some(
                "The connection dropped before the room answered: check that your last action took effect.".into(),
            );
        }
    }

    /// Learns the invite links and bots an event names (live, or from an audit page), unless
    /// a newer event about the same one is known.
    pub fn learn(&mut self, e: &AuditEntry) {
        match &e.action {
            Action::CreateInvite { code: Some(code) } if !code.is_empty() => {
                note(&mut self.invites, code.clone(), e.seq, String::new(), true)
            }
            Action::RevokeInvite { code } if !code.is_empty() => {
                note(&mut self.invites, code.clone(), e.seq, String::new(), false)
            }
            Action::CreateBot { name, member: Some(id) } => note(&mut self.bots, *id, e.seq, name.clone(), true),
            Action::RevokeBot { member } => {
                let name = e.target.as_ref().map(|t| t.name.clone()).unwrap_or_default();
                note(&mut self.bots, *member, e.seq, name, false);
            }
            _ => {}
        }
    }

    /// Invite codes not revoked, newest first.
    pub fn live_invites(&self) -> Vec<&str> {
        let mut codes: Vec<(&String, &Known)> = self.invites.iter().filter(|(_, k)| k.live).collect();
        codes.sort_by_key(|(_, k)| std::cmp::Reverse(k.seq));
        codes.into_iter().map(|(c, _)| c.as_str()).collect()
    }

    /// Bots not revoked, by name.
    pub fn live_bots(&self) -> Vec<(MemberId, &str)> {
        let mut bots: Vec<(MemberId, &str)> =
            self.bots.iter().filter(|(_, k)| k.live).map(|(id, k)| (*id, k.name.as_str())).collect();
        bots.sort_by_key(|(_, name)| name.to_lowercase());
        bots
    }

    /// The `bot_created` frame: the bot, and its token to show once.
    pub fn bot_created(&mut self, client_id: &str, bot: Member, token: String) {
        self.pending.remove(client_id);
        self.bots.entry(bot.id).or_insert_with(|| Known { name: bot.name.clone(), seq: 0, live: true });
        self.new_bot = Some((bot, token));
    }

    /// The room refused operation `client_id`: if it was one of our moderation actions, the
    /// refusal is ours to show (and this says so).
    pub fn refused(&mut self, client_id: &str, why: &str) -> bool {
        if self.pending.remove(client_id).is_none() {
            return false;
        }
        self.refusal = Some(why.to_owned());
        true
    }
}

/// Records what event `seq` says about `key`, unless a newer event about it is known (a name
/// left empty keeps the one known).
fn note<K: Ord>(map: &mut BTreeMap<K, Known>, key: K, seq: Seq, name: String, live: bool) {
    let known = map.entry(key).or_insert(Known { name: String::new(), seq: 0, live });
    if seq >= known.seq {
        known.seq = seq;
        known.live = live;
        if !name.is_empty() {
            known.name = name;
        }
    }
}

impl RoomView {
    /// Our role, once welcomed.
    pub fn my_role(&self) -> Role {
        self.me.as_ref().map_or(Role::Member, |m| m.role)
    }

    /// Whether we moderate (the moderation tools are offered).
    pub fn moderates(&self) -> bool {
        self.my_role().moderates()
    }

    /// Who we are and the roles known (see [`Rights`]).
    pub fn rights(&self) -> Rights {
        Rights { me: self.me_id(), role: self.my_role(), roles: self.moderation.roles.clone() }
    }

    /// Whether we may act on member `id` (see [`Rights::can_act_on`]).
    pub fn can_act_on(&self, id: MemberId) -> bool {
        self.rights().can_act_on(id)
    }

    /// What keeps us from posting at `now_ms`: a mute first, then a slow-mode wait (neither
    /// once it has run out; moderators and bots do not wait for slow mode).
    pub fn post_wait(&self, now_ms: u64) -> Option<Wait> {
        let m = &self.moderation;
        if let Some(t) = m.muted_until.filter(|t| *t > now_ms) {
            return Some(Wait::Muted(t));
        }
        let exempt = self.moderates() || self.my_role() == Role::Bot;
        m.slow_until.filter(|t| *t > now_ms && !exempt).map(Wait::Slow)
    }

    /// One of our posts was acknowledged at `now_ms`: under slow mode, the next waits.
    pub(crate) fn posted(&mut self, now_ms: u64) {
        let secs = self.moderation.settings.slow_mode_secs;
        if secs > 0 && !self.moderates() && self.my_role() != Role::Bot {
            self.moderation.slow_until = Some(now_ms.saturating_add(u64::from(secs) * 1000));
        }
    }

    /// Applies a `moderated` event whose `seq` was just taken.
    pub(crate) fn apply_moderated(&mut self, e: AuditEntry) {
        let me = self.me_id();
        match &e.action {
            Action::Topic { text } => self.moderation.settings.topic = text.clone(),
            Action::SlowMode { seconds } => {
                self.moderation.settings.slow_mode_secs = *seconds;
                // The room counts only posts made under the new setting: whatever wait ran
                // under the old one is over.
                self.moderation.slow_until = None;
            }
            Action::InviteOnly { on } => self.moderation.settings.invite_only = *on,
            Action::SetRole { member, role } => {
                self.moderation.roles.insert(*member, *role);
                if let Some(m) = self.me.as_mut().filter(|m| m.id == *member) {
                    m.role = *role;
                }
            }
            Action::Mute { member, minutes } if me == Some(*member) => {
                self.moderation.muted_until = (*minutes > 0).then(|| e.ts.saturating_add(u64::from(*minutes) * 60_000));
            }
            Action::Ban { member, .. } => {
                self.members.remove(member);
                self.typing.remove(member);
                if me == Some(*member) {
                    self.fatal = Some(crate::state::Notice {
                        code: confab_shared::ErrorCode::Banned,
                        message: "You were removed from this room.".into(),
                        retry_at_ms: None,
                        client_id: None,
                    });
                }
            }
            Action::Remove { id } => self.tombstone(*id, e.seq, true),
            Action::Mute { .. }
            | Action::Unban { .. }
            | Action::CreateInvite { .. }
            | Action::RevokeInvite { .. }
            | Action::CreateBot { .. }
            | Action::RevokeBot { .. } => {}
        }
        self.moderation.learn(&e);
        if let Some(trail) = self.moderation.audit.as_mut() {
            trail.push(e);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fixtures::{as_role, member, moderated, msg, welcome, ALICE, BOB, CAROL};
    use confab_shared::{ChatMessage, ServerFrame};

    fn room_as(role: Role) -> RoomView {
        let mut v = RoomView::default();
        v.apply(as_role(welcome(vec![msg(1, BOB, "b1")], false), role), 0);
        v
    }

    #[test]
    fn a_moderated_event_advances_the_log_and_changes_the_settings() {
        let mut v = room_as(Role::Member);
        assert!(v.apply(moderated(2, CAROL, Action::Topic { text: "release day".into() }, None), 0));
        assert!(v.apply(moderated(3, CAROL, Action::SlowMode { seconds: 30 }, None), 0));
        assert!(v.apply(moderated(4, CAROL, Action::InviteOnly { on: true }, None), 0));
        assert_eq!(v.last_seq, Some(4), "each moderation action is an event");
        assert!(!v.resume_needed);
        assert_eq!(
            v.moderation.settings,
            RoomSettings { topic: "release day".into(), slow_mode_secs: 30, invite_only: true }
        );
        // The next message follows on; a replay changes nothing.
        assert!(v.apply(ServerFrame::Message(msg(5, BOB, "b5")), 0));
        assert!(!v.apply(moderated(4, CAROL, Action::InviteOnly { on: false }, None), 0));
        assert!(v.moderation.settings.invite_only);
        // One skipped is a hole, as for any event.
        v.apply(moderated(7, CAROL, Action::InviteOnly { on: false }, None), 0);
        assert!(v.resume_needed && v.moderation.settings.invite_only);
    }

    #[test]
    fn role_changes_follow_the_member_and_us() {
        let mut v = room_as(Role::Member);
        assert!(!v.moderates());
        v.apply(moderated(2, CAROL, Action::SetRole { member: BOB, role: Role::Moderator }, Some(BOB)), 0);
        assert_eq!(v.moderation.role_of(BOB), Role::Moderator);
        v.apply(moderated(3, CAROL, Action::SetRole { member: ALICE, role: Role::Moderator }, Some(ALICE)), 0);
        assert_eq!(v.my_role(), Role::Moderator);
        assert!(v.moderates());
        assert!(!v.can_act_on(BOB), "a moderator does not act on another moderator");
        assert!(v.can_act_on(CAROL), "a member the page has no role for is a plain member");
        assert!(!v.can_act_on(ALICE), "nor on themselves");
        v.apply(moderated(4, CAROL, Action::SetRole { member: ALICE, role: Role::Member }, Some(ALICE)), 0);
        assert!(!v.moderates() && !v.can_act_on(CAROL));
    }

    #[test]
    fn the_owner_acts_on_moderators_but_nobody_on_the_owner() {
        let mut v = room_as(Role::Owner);
        v.apply(moderated(2, ALICE, Action::SetRole { member: BOB, role: Role::Moderator }, Some(BOB)), 0);
        assert!(v.can_act_on(BOB));
        let mut v = room_as(Role::Moderator);
        v.apply(ServerFrame::MemberJoined(Member { role: Role::Owner, ..member(CAROL) }), 0);
        assert!(!v.can_act_on(CAROL));
        assert_eq!(v.moderation.role_of(CAROL), Role::Owner, "joins carry roles");
    }

    #[test]
    fn a_mute_of_us_runs_from_the_event_and_zero_minutes_lifts_it() {
        let mut v = room_as(Role::Member);
        let mut mute = moderated(2, CAROL, Action::Mute { member: ALICE, minutes: 10 }, Some(ALICE));
        if let ServerFrame::Moderated(e) = &mut mute {
            e.ts = 1_000;
        }
        v.apply(mute, 5_000);
        assert_eq!(v.moderation.muted_until, Some(1_000 + 600_000));
        assert_eq!(v.post_wait(5_000), Some(Wait::Muted(601_000)));
        assert_eq!(v.post_wait(601_000), None, "over when it runs out");
        v.apply(moderated(3, CAROL, Action::Mute { member: BOB, minutes: 60 }, Some(BOB)), 5_000);
        assert_eq!(v.moderation.muted_until, Some(601_000), "someone else's mute is not ours");
        v.apply(moderated(4, CAROL, Action::Mute { member: ALICE, minutes: 0 }, Some(ALICE)), 5_000);
        assert_eq!(v.moderation.muted_until, None);
    }

    #[test]
    fn a_ban_takes_the_member_off_the_list_and_a_ban_of_us_ends_the_visit() {
        let mut v = room_as(Role::Member);
        assert!(v.members.contains_key(&BOB));
        v.apply(moderated(2, CAROL, Action::Ban { member: BOB, ip: false, purge: true }, Some(BOB)), 0);
        assert!(!v.members.contains_key(&BOB));
        // The purge follows as removals, one event each.
        v.apply(ServerFrame::Deleted { seq: 3, id: 1, removed: true }, 0);
        assert!(v.messages[&1].deleted && v.messages[&1].removed);
        assert!(v.fatal.is_none());
        v.apply(moderated(4, CAROL, Action::Ban { member: ALICE, ip: true, purge: false }, Some(ALICE)), 0);
        assert_eq!(v.fatal.as_ref().map(|n| n.code), Some(confab_shared::ErrorCode::Banned));
    }

    #[test]
    fn a_welcome_replaces_settings_mute_wait_and_roles() {
        let mut v = room_as(Role::Member);
        v.apply(moderated(2, CAROL, Action::Topic { text: "old".into() }, None), 0);
        v.apply(moderated(3, CAROL, Action::SetRole { member: CAROL, role: Role::Moderator }, Some(CAROL)), 0);
        let mut w = as_role(crate::fixtures::welcome_at(vec![], false, 9), Role::Moderator);
        if let ServerFrame::Welcome { settings, muted_until, slow_wait_ms, members, .. } = &mut w {
            *settings = RoomSettings { topic: "new".into(), slow_mode_secs: 10, invite_only: false };
            *muted_until = Some(70_000);
            *slow_wait_ms = Some(4_000);
            members.push(Member { role: Role::Bot, ..member(CAROL) });
        }
        v.apply(w, 1_000);
        assert_eq!(v.moderation.settings.topic, "new");
        assert_eq!(v.moderation.muted_until, Some(70_000));
        assert_eq!(v.moderation.slow_until, Some(5_000));
        assert_eq!(v.moderation.role_of(CAROL), Role::Bot, "the welcome's roles, not what was held");
        assert_eq!(v.my_role(), Role::Moderator);
        assert_eq!(v.moderation.live_bots(), [(CAROL, "carol")], "a bot online is a bot known");
    }

    #[test]
    fn slow_mode_waits_from_the_welcome_and_after_each_acked_post_unless_we_moderate() {
        let mut v = room_as(Role::Member);
        v.apply(moderated(2, CAROL, Action::SlowMode { seconds: 10 }, None), 0);
        assert_eq!(v.post_wait(0), None, "no post yet: no wait");
        v.queue("c1".into(), "hi".into(), 100);
        v.apply(ServerFrame::Ack { client_id: "c1".into(), seq: 3, ts: 100 }, 1_000);
        assert_eq!(v.post_wait(1_000), Some(Wait::Slow(11_000)));
        assert_eq!(v.post_wait(11_000), None);
        // An ack of something else (a reaction) starts nothing.
        v.moderation.slow_until = None;
        v.queue_op("r".into(), crate::state::Op::React { id: 1, emoji: "👍".into(), on: true }, 0);
        v.apply(ServerFrame::Ack { client_id: "r".into(), seq: 4, ts: 100 }, 2_000);
        assert_eq!(v.post_wait(2_000), None);
        // The events acknowledged arrive.
        v.apply(ServerFrame::Message(msg(3, ALICE, "c1")), 2_000);
        let thumbs =
            vec![confab_shared::Reaction { emoji: "👍".into(), count: 1, names: vec!["alice".into()], mine: true }];
        v.apply(ServerFrame::Reactions { seq: 4, id: 1, by: ALICE, reactions: thumbs }, 2_000);
        // A new setting ends a running wait: the room counts only posts made under it.
        v.moderation.slow_until = Some(50_000);
        v.apply(moderated(5, CAROL, Action::SlowMode { seconds: 5 }, None), 0);
        assert_eq!(v.post_wait(2_000), None, "shortened from 120 s to 5 s: post at once");
        // Slow mode turned off ends a running wait too.
        v.moderation.slow_until = Some(50_000);
        v.apply(moderated(6, CAROL, Action::SlowMode { seconds: 0 }, None), 0);
        assert_eq!(v.post_wait(2_000), None);
        // Moderators do not wait.
        let mut v = room_as(Role::Moderator);
        v.apply(moderated(2, CAROL, Action::SlowMode { seconds: 10 }, None), 0);
        v.queue("c1".into(), "hi".into(), 100);
        v.apply(ServerFrame::Ack { client_id: "c1".into(), seq: 3, ts: 100 }, 1_000);
        assert_eq!(v.post_wait(1_000), None);
    }

    #[test]
    fn the_welcomes_slow_wait_survives_a_reload() {
        let mut w = welcome(vec![], false);
        if let ServerFrame::Welcome { settings, slow_wait_ms, .. } = &mut w {
            settings.slow_mode_secs = 30;
            *slow_wait_ms = Some(12_000);
        }
        let mut v = RoomView::default();
        v.apply(w, 100_000);
        assert_eq!(v.post_wait(100_000), Some(Wait::Slow(112_000)));
        // Made a moderator while it runs: no more waiting (nor after the next post).
        v.apply(moderated(1, CAROL, Action::SetRole { member: ALICE, role: Role::Moderator }, Some(ALICE)), 100_000);
        assert_eq!(v.post_wait(100_000), None);
        // A mute still holds a moderator's post back (the room would refuse it).
        v.moderation.muted_until = Some(200_000);
        assert_eq!(v.post_wait(100_000), Some(Wait::Muted(200_000)));
    }

    #[test]
    fn invites_and_bots_are_known_as_of_the_newest_event_about_them() {
        let mut v = room_as(Role::Moderator);
        v.apply(moderated(2, ALICE, Action::CreateInvite { code: Some("i1".into()) }, None), 0);
        v.apply(moderated(3, ALICE, Action::CreateInvite { code: Some("i2".into()) }, None), 0);
        v.apply(moderated(4, ALICE, Action::RevokeInvite { code: "i1".into() }, None), 0);
        v.apply(moderated(5, ALICE, Action::CreateBot { name: "deploys".into(), member: Some(9) }, None), 0);
        assert_eq!(v.moderation.live_invites(), ["i2"]);
        assert_eq!(v.moderation.live_bots(), [(9, "deploys")]);
        v.apply(moderated(6, ALICE, Action::RevokeBot { member: 9 }, Some(9)), 0);
        assert!(v.moderation.live_bots().is_empty());
        // An older audit page read afterwards revives nothing.
        let old = |seq, action| AuditEntry { seq, ts: 0, by: member(ALICE), action, target: None };
        v.moderation.learn(&old(2, Action::CreateInvite { code: Some("i1".into()) }));
        v.moderation.learn(&old(5, Action::CreateBot { name: "deploys".into(), member: Some(9) }));
        assert_eq!(v.moderation.live_invites(), ["i2"]);
        assert!(v.moderation.live_bots().is_empty());
        // What members who do not moderate see carries no code: nothing to list.
        v.apply(moderated(7, ALICE, Action::CreateInvite { code: None }, None), 0);
        assert_eq!(v.moderation.live_invites(), ["i2"]);
    }

    #[test]
    fn our_actions_are_answered_by_client_id_and_a_refusal_is_kept_for_the_person() {
        let mut v = room_as(Role::Moderator);
        v.moderation.pending.insert("m1".into(), Action::Mute { member: BOB, minutes: 10 });
        v.moderation.pending.insert("m2".into(), Action::Ban { member: CAROL, ip: false, purge: false });
        assert!(v.apply(ServerFrame::Ack { client_id: "m1".into(), seq: 2, ts: 0 }, 0));
        assert!(!v.moderation.pending.contains_key("m1"));
        let refusal = ServerFrame::Error {
            code: confab_shared::ErrorCode::Forbidden,
            message: "carol is a moderator".into(),
            retry_after_ms: None,
            client_id: Some("m2".into()),
        };
        v.apply(refusal, 0);
        assert_eq!(v.moderation.refusal.as_deref(), Some("carol is a moderator"));
        assert!(v.notice.is_none(), "not a composer notice");
        // The bot token arrives to the socket that asked, once.
        v.moderation.pending.insert("b1".into(), Action::CreateBot { name: "ci".into(), member: None });
        let bot = Member { role: Role::Bot, ..Member::new(12, "ci") };
        v.apply(ServerFrame::BotCreated { client_id: "b1".into(), bot: bot.clone(), token: "t0k".into() }, 0);
        assert_eq!(v.moderation.new_bot, Some((bot, "t0k".into())));
        assert!(v.moderation.pending.is_empty());
        // An action never answered before the socket dropped is reported on the next welcome.
        v.moderation.pending.insert("m3".into(), Action::Topic { text: "x".into() });
        v.moderation.refusal = None;
        v.apply(as_role(crate::fixtures::welcome_at(vec![], false, 9), Role::Moderator), 0);
        assert!(v.moderation.pending.is_empty() && v.moderation.refusal.is_some());
    }

    #[test]
    fn a_message_removed_by_a_moderator_is_a_tombstone_that_says_so() {
        let mut v = room_as(Role::Member);
        let reply = ChatMessage {
            reply_to: Some(confab_shared::Quote {
                id: 1,
                member: BOB,
                author: "bob".into(),
                excerpt: "m1".into(),
                deleted: false,
            }),
            ..msg(2, CAROL, "c2")
        };
        v.apply(ServerFrame::Message(reply), 0);
        v.apply(ServerFrame::Deleted { seq: 3, id: 1, removed: true }, 0);
        let m = &v.messages[&1];
        assert!(m.deleted && m.removed && m.text.is_empty());
        assert!(v.messages[&2].reply_to.as_ref().is_some_and(|q| q.deleted), "the quote follows");
        // A welcome's or a history page's copy says so too.
        let gone = ChatMessage { deleted: true, removed: true, text: String::new(), ..msg(4, BOB, "b4") };
        v.apply(ServerFrame::History { messages: vec![gone], older: false }, 0);
        assert!(v.shown(4).is_some_and(|s| s.m.removed));
    }

    #[test]
    fn an_invite_only_refusal_or_a_ban_ends_the_visit_even_after_a_welcome() {
        let refusal = |code| ServerFrame::Error { code, message: "no".into(), retry_after_ms: None, client_id: None };
        for code in [confab_shared::ErrorCode::InviteRequired, confab_shared::ErrorCode::Banned] {
            let mut v = RoomView::default();
            v.apply(refusal(code), 0);
            assert_eq!(v.fatal.as_ref().map(|n| n.code), Some(code));
            let mut v = room_as(Role::Member);
            v.apply(refusal(code), 0);
            assert_eq!(v.fatal.as_ref().map(|n| n.code), Some(code), "a rejoin after a welcome");
            assert!(v.notice.is_none());
        }
    }

    #[test]
    fn audit_pages_teach_the_page_its_bots_and_invites() {
        let mut v = room_as(Role::Owner);
        let e = |seq, action| AuditEntry { seq, ts: 0, by: member(ALICE), action, target: None };
        let page = vec![
            e(2, Action::CreateBot { name: "ci".into(), member: Some(8) }),
            e(3, Action::CreateInvite { code: Some("k1".into()) }),
            e(4, Action::Topic { text: "old".into() }),
        ];
        v.apply(ServerFrame::Audit { entries: page, older: false }, 0);
        assert_eq!(v.moderation.live_bots(), [(8, "ci")]);
        assert_eq!(v.moderation.live_invites(), ["k1"]);
        assert_eq!(v.moderation.settings.topic, "", "an old entry does not change the settings");
        assert_eq!(v.moderation.audit.as_ref().map(|t| t.entries.len()), Some(3));
        // While the trail is open, live events join it at the bottom.
        v.apply(moderated(2, ALICE, Action::SlowMode { seconds: 5 }, None), 0);
        assert_eq!(
            v.moderation.audit.as_ref().and_then(|t| t.entries.last()).map(|e| e.seq),
            Some(4),
            "a replay is not"
        );
        v.last_seq = Some(4);
        v.apply(moderated(5, ALICE, Action::SlowMode { seconds: 5 }, None), 0);
        assert_eq!(v.moderation.audit.as_ref().and_then(|t| t.entries.last()).map(|e| e.seq), Some(5));
    }
}
