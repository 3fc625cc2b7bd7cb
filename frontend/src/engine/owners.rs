//! The engine in rooms with owners: moderation actions and audit pages (sent only on a joined
//! socket, never kept), and posts held for slow mode. The rules are in the engine's module
//! doc; the refusals (`invite_required`, `banned`, `slow_mode`) are handled where every
//! refusal is, in `Engine::on_text`.

use super::{Engine, Out};
use crate::audit::{AuditTrail, AUDIT_PAGE};
use crate::moderation::Wait;
use crate::state::RoomView;
use confab_shared::{Action, ClientFrame, ClientId, Role, Seq};

impl Engine {
    /// A moderation action: out at once if joined, else refused on the spot (it is not kept,
    /// see the module's rules). Its ack or refusal comes back by `client_id`.
    pub fn moderate(&mut self, view: &mut RoomView, client_id: String, action: Action) -> Vec<Out> {
        let refuse = |view: &mut RoomView, why: String| {
            view.moderation.refusal = Some(why);
            view.touch();
            Vec::new()
        };
        if !self.welcomed {
            return refuse(view, "Not connected: try again once the room is back.".into());
        }
        if let Err(e) = action.validate() {
            return refuse(view, e.message);
        }
        let Ok(id) = ClientId::parse(&client_id) else { return refuse(view, "That cannot be sent.".into()) };
        view.moderation.pending.insert(client_id, action.clone());
        view.moderation.refusal = None;
        view.touch();
        vec![Out::Send(ClientFrame::Moderate { client_id: id, action }.to_json())]
    }

    /// The audit trail's newest page (`before: None`, starting the trail afresh) or the page
    /// before entry `before`. Asked only if joined and no page is on its way.
    pub fn audit(&mut self, view: &mut RoomView, before: Option<Seq>) -> Vec<Out> {
        let loading = view.moderation.audit.as_ref().is_some_and(|t| t.loading);
        if !self.welcomed || loading {
            return Vec::new();
        }
        match (&mut view.moderation.audit, before) {
            (Some(trail), Some(_)) => trail.loading = true,
            (trail, _) => *trail = Some(AuditTrail::asked()),
        }
        view.touch();
        vec![Out::Send(ClientFrame::Audit { before, limit: AUDIT_PAGE }.to_json())]
    }

    /// Whether posts wait now: a slow-mode wait runs (the view's, or one the room named), or
    /// slow mode is on and a post of ours is out unanswered. Sets the wake for the wait's end.
    pub(super) fn posts_held(&mut self, view: &RoomView, now_ms: u64) -> bool {
        let view_wait = match view.post_wait(now_ms) {
            Some(Wait::Slow(t)) => Some(t),
            _ => None,
        };
        let until = view_wait.max(self.posts_at_ms.filter(|t| *t > now_ms));
        if let Some(t) = until {
            self.post_wake_ms = Some(t);
            return true;
        }
        self.posts_at_ms = None;
        slow_mode_applies(view)
            && view.outbox.iter().any(|p| p.is_post() && p.failed.is_none() && self.sent.contains_key(&p.client_id))
    }
}

/// Slow mode is on and we are not exempt from it.
pub(super) fn slow_mode_applies(view: &RoomView) -> bool {
    view.moderation.settings.slow_mode_secs > 0 && !view.moderates() && view.my_role() != Role::Bot
}

#[cfg(test)]
mod tests {
    use crate::engine::tests::{sent, sent_ids};
    use crate::engine::{Engine, Link, Out};
    use crate::fixtures::{as_role, msg, welcome, ALICE, BOB};
    use crate::state::{Op, RoomView};
    use confab_shared::{close, Action, ClientFrame, ErrorCode, MemberKey, Role, RoomSettings, ServerFrame, UserName};

    fn engine(invite: Option<&str>) -> Engine {
        Engine::new(UserName::parse("alice").unwrap(), MemberKey::parse(&"k".repeat(40)).unwrap())
            .with_invite(invite.map(Into::into))
    }

    /// A welcome as `role` in a room with slow mode at `secs`, our wait `wait_ms`.
    fn slow_welcome(role: Role, secs: u32, wait_ms: Option<u64>) -> String {
        let mut w = as_role(welcome(vec![msg(1, BOB, "b1")], false), role);
        if let ServerFrame::Welcome { settings, slow_wait_ms, .. } = &mut w {
            *settings = RoomSettings { slow_mode_secs: secs, ..RoomSettings::default() };
            *slow_wait_ms = wait_ms;
        }
        w.to_json()
    }

    fn joined(welcome: &str, now: u64) -> (Engine, RoomView) {
        let mut e = engine(None);
        let mut v = RoomView::default();
        e.start_at(now);
        e.on_open(&v, now);
        e.on_text(&mut v, welcome, now);
        (e, v)
    }

    fn error(code: ErrorCode, client_id: Option<&str>, retry_after_ms: Option<u64>) -> String {
        ServerFrame::Error { code, message: "no".into(), retry_after_ms, client_id: client_id.map(Into::into) }
            .to_json()
    }

    fn ack(client_id: &str, seq: u64) -> String {
        ServerFrame::Ack { client_id: client_id.into(), seq, ts: 0 }.to_json()
    }

    #[test]
    fn the_join_carries_the_invite_until_we_are_a_member() {
        let mut e = engine(Some("inv1"));
        let mut v = RoomView::default();
        e.start_at(0);
        let out = e.on_open(&v, 0);
        assert!(matches!(&sent(&out)[..], [ClientFrame::Join { invite: Some(i), .. }] if i == "inv1"), "{out:?}");
        e.on_text(&mut v, &welcome(vec![], false).to_json(), 1);
        e.on_closed(2, 0.0);
        let out = e.on_open(&v, 1_000);
        assert!(matches!(&sent(&out)[..], [ClientFrame::Join { invite: None, since: Some(_), .. }]), "{out:?}");
    }

    #[test]
    fn an_invite_only_room_without_a_valid_invite_is_not_retried_in_a_loop() {
        let mut e = engine(Some("revoked"));
        let mut v = RoomView::default();
        e.start_at(0);
        e.on_open(&v, 0);
        assert_eq!(e.on_text(&mut v, &error(ErrorCode::InviteRequired, None, None), 1), [Out::Close]);
        assert!(e.on_closed(2, 0.5).is_empty());
        assert_eq!(e.link(), Link::Refused);
        assert_eq!(e.next_wake(), None, "no timer: only the person can bring a new link");
        assert!(e.wake(3).is_empty());
        assert_eq!(v.fatal.as_ref().map(|n| n.code), Some(ErrorCode::InviteRequired));
    }

    #[test]
    fn a_ban_ends_the_visit_for_good() {
        let (mut e, mut v) = joined(&welcome(vec![], false).to_json(), 0);
        e.send(&mut v, "c1".into(), "still here?".into(), 1);
        assert_eq!(e.on_text(&mut v, &error(ErrorCode::Banned, None, None), 2), [Out::Close]);
        assert!(e.on_close(3, Some(close::REMOVED), 0.5).is_empty());
        assert_eq!(e.link(), Link::Removed);
        assert_eq!(e.next_wake(), None);
        assert!(e.wake(4).is_empty() && e.retry_now(&mut v, 5).is_empty(), "not even when asked");
        assert_eq!(v.outbox.len(), 1, "what was typed is kept");
        // The close code alone says it (the error frame may be lost).
        let (mut e, _) = joined(&welcome(vec![], false).to_json(), 0);
        assert!(e.on_close(5, Some(close::REMOVED), 0.5).is_empty());
        assert_eq!(e.link(), Link::Removed);
        assert_eq!(e.next_wake(), None);
    }

    #[test]
    fn a_post_refused_for_slow_mode_waits_and_goes_again_while_other_operations_go_on() {
        let (mut e, mut v) = joined(&slow_welcome(Role::Member, 10, None), 0);
        assert_eq!(sent_ids(&e.send(&mut v, "c1".into(), "one".into(), 0)), ["c1"]);
        e.on_text(&mut v, &error(ErrorCode::SlowMode, Some("c1"), Some(4_000)), 10);
        assert_eq!(v.outbox.len(), 1, "still pending");
        assert!(v.outbox[0].failed.is_none() && !v.outbox[0].sent, "not failed; refused, so it can be taken back");
        assert!(v.notice.is_none(), "the composer counts down instead");
        // A reaction is not held.
        let out = e.operate(&mut v, "r1".into(), Op::React { id: 1, emoji: "👍".into(), on: true }, 20);
        assert!(matches!(sent(&out)[..], [ClientFrame::React { .. }]), "{out:?}");
        assert!(sent_ids(&e.on_tick(&mut v, 3_000, 0.5)).is_empty(), "the wait runs");
        assert_eq!(e.next_wake(), Some(4_010));
        assert_eq!(sent_ids(&e.on_tick(&mut v, 4_010, 0.5)), ["c1"], "sent when it ends");
    }

    #[test]
    fn under_slow_mode_posts_wait_from_the_welcome_and_go_one_at_a_time() {
        let (mut e, mut v) = joined(&slow_welcome(Role::Member, 10, Some(5_000)), 0);
        assert!(e.send(&mut v, "c1".into(), "one".into(), 1).is_empty(), "the wait from before the reload");
        assert!(e.send(&mut v, "c2".into(), "two".into(), 2).is_empty());
        assert_eq!(e.next_wake(), Some(5_000));
        assert_eq!(sent_ids(&e.on_tick(&mut v, 5_000, 0.5)), ["c1"], "one, then the next waits for its ack");
        assert!(sent_ids(&e.flush_outbox(&mut v, 5_100)).is_empty());
        e.on_text(&mut v, &ack("c1", 2), 5_200);
        assert!(sent_ids(&e.on_tick(&mut v, 15_199, 0.5)).is_empty(), "the ack started the next wait");
        assert_eq!(e.next_wake(), Some(15_200));
        assert_eq!(sent_ids(&e.on_tick(&mut v, 15_200, 0.5)), ["c2"]);
    }

    #[test]
    fn moderators_are_not_held_by_slow_mode() {
        let (mut e, mut v) = joined(&slow_welcome(Role::Moderator, 10, None), 0);
        let mut out = e.send(&mut v, "c1".into(), "one".into(), 1);
        out.extend(e.send(&mut v, "c2".into(), "two".into(), 2));
        assert_eq!(sent_ids(&out), ["c1", "c2"]);
    }

    #[test]
    fn a_post_refused_while_muted_is_marked_failed_with_the_reason() {
        let (mut e, mut v) = joined(&welcome(vec![], false).to_json(), 1_000);
        e.send(&mut v, "c1".into(), "hello?".into(), 1_000);
        let muted = ServerFrame::Error {
            code: ErrorCode::Muted,
            message: "you are muted".into(),
            retry_after_ms: Some(60_000),
            client_id: Some("c1".into()),
        };
        e.on_text(&mut v, &muted.to_json(), 1_000);
        assert_eq!(v.outbox[0].failed.as_deref(), Some("you are muted"));
        assert_eq!(v.moderation.muted_until, Some(61_000), "the banner knows until when");
        assert!(e.flush_outbox(&mut v, 2_000).is_empty(), "not resent by itself");
        assert_eq!(sent_ids(&e.retry_now(&mut v, 70_000)), ["c1"], "the person may retry");
    }

    #[test]
    fn moderation_actions_go_out_only_when_joined_and_are_answered_by_client_id() {
        let mut e = engine(None);
        let mut v = RoomView::default();
        e.start_at(0);
        let mute = Action::Mute { member: BOB, minutes: 10 };
        assert!(e.moderate(&mut v, "m1".into(), mute.clone()).is_empty());
        assert!(v.moderation.refusal.as_deref().is_some_and(|r| r.contains("Not connected")));
        assert!(v.moderation.pending.is_empty(), "not kept for later");
        e.on_open(&v, 0);
        e.on_text(&mut v, &as_role(welcome(vec![], false), Role::Moderator).to_json(), 1);
        let out = e.moderate(&mut v, "m1".into(), mute.clone());
        assert!(matches!(&sent(&out)[..], [ClientFrame::Moderate { action, .. }] if *action == mute), "{out:?}");
        assert!(v.moderation.refusal.is_none());
        e.on_text(&mut v, &ack("m1", 1), 2);
        assert!(v.moderation.pending.is_empty());
        // Checked before it goes: a topic with a line break is refused on the spot.
        assert!(e.moderate(&mut v, "m2".into(), Action::Topic { text: "a\nb".into() }).is_empty());
        assert!(v.moderation.refusal.is_some());
        // A refusal the room might not repeat (internal) is shown, not resent: it is not in the outbox.
        e.moderate(&mut v, "m3".into(), Action::SlowMode { seconds: 5 });
        e.on_text(&mut v, &error(ErrorCode::Internal, Some("m3"), None), 3);
        assert!(sent(&e.on_tick(&mut v, 10_000, 0.5)).is_empty());
        assert_eq!(v.moderation.refusal.as_deref(), Some("no"));
        assert_eq!(v.me_id(), Some(ALICE));
    }

    #[test]
    fn the_audit_trail_is_asked_a_page_at_a_time() {
        let (mut e, mut v) = joined(&as_role(welcome(vec![], false), Role::Owner).to_json(), 0);
        let out = e.audit(&mut v, None);
        assert!(matches!(sent(&out)[..], [ClientFrame::Audit { before: None, limit: 50 }]), "{out:?}");
        assert!(e.audit(&mut v, None).is_empty(), "one page at a time");
        let entry = |seq| confab_shared::AuditEntry {
            seq,
            ts: 0,
            by: crate::fixtures::member(ALICE),
            action: Action::InviteOnly { on: true },
            target: None,
        };
        e.on_text(&mut v, &ServerFrame::Audit { entries: vec![entry(7), entry(9)], older: true }.to_json(), 1);
        let trail = v.moderation.audit.clone().expect("a trail");
        assert!(trail.older && !trail.loading);
        let out = e.audit(&mut v, trail.oldest());
        assert!(matches!(sent(&out)[..], [ClientFrame::Audit { before: Some(7), .. }]), "{out:?}");
        // Refused (a refusal names no request): not stuck loading, it can be asked again.
        e.on_text(&mut v, &error(ErrorCode::RateLimited, None, Some(100)), 2);
        assert!(v.moderation.audit.as_ref().is_some_and(|t| !t.loading && t.entries.len() == 2));
        assert_eq!(sent(&e.audit(&mut v, Some(7))).len(), 1);
    }
}
