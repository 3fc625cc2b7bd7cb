//! Moderation: who may do what ([`allowed`], pure), and what an allowed action does to the
//! room (its event, its frames, the sockets it closes). Every action is one event in the log;
//! a ban that purges adds one removal event per message.

use super::ops::{failed, recorded, refusal, Outcome};
use super::{Actor, Audience, Effect, Room, ADMIN};
use crate::store::{AuditRow, Change, Op, RoomStore};
use confab_shared::limits::{BOTS_MAX, INVITES_MAX, PURGE_MAX};
use confab_shared::{
    close, Action, AuditEntry, ErrorCode, Member as MemberView, MemberId, MemberKey, ProtocolError, Role, Seq,
    ServerFrame, UserName,
};

/// Whether `actor` (with `role`) may take `action` on `target` (its id and stored role, when
/// the action names a member that exists). The room's rules, in one place:
/// - only moderators (and the owner, and the admin secret) moderate; only the owner names
///   moderators;
/// - nobody acts on the owner or on themselves, and a moderator not on another moderator;
/// - `revoke_bot` is for bots, and a bot cannot be made a moderator.
pub fn allowed(
    actor: MemberId,
    role: Role,
    action: &Action,
    target: Option<(MemberId, Role)>,
) -> Result<(), ProtocolError> {
    let forbidden = |m: &str| Err(ProtocolError::new(ErrorCode::Forbidden, m));
    if !role.moderates() {
        return forbidden("only the room's moderators can do that");
    }
    if matches!(action, Action::SetRole { .. }) && role != Role::Owner {
        return forbidden("only the room's owner names moderators");
    }
    let Some(named) = named(action) else { return Ok(()) };
    let Some((id, their)) = target else {
        return Err(ProtocolError::new(ErrorCode::BadRequest, format!("there is no member {named} in this room")));
    };
    if id == actor {
        return forbidden("not on yourself");
    }
    if their == Role::Owner {
        return forbidden("nobody can act on the room's owner");
    }
    if their == Role::Moderator && role != Role::Owner {
        return forbidden("a moderator cannot act on another moderator");
    }
    match action {
        Action::RevokeBot { .. } if their != Role::Bot => {
            Err(ProtocolError::new(ErrorCode::BadRequest, format!("member {id} is not a bot")))
        }
        Action::SetRole { .. } if their == Role::Bot => {
            Err(ProtocolError::new(ErrorCode::BadRequest, "a bot cannot be a moderator"))
        }
        _ => Ok(()),
    }
}

/// The member an action is about, if it names one.
fn named(action: &Action) -> Option<MemberId> {
    match action {
        Action::Mute { member, .. }
        | Action::Ban { member, .. }
        | Action::Unban { member }
        | Action::SetRole { member, .. }
        | Action::RevokeBot { member } => Some(*member),
        _ => None,
    }
}

/// A random token: `prefix` and 32 bytes of hex.
pub(super) fn random(prefix: &str) -> Result<String, ProtocolError> {
    let mut bytes = [0u8; 32];
    getrandom::getrandom(&mut bytes).map_err(|_| super::internal())?;
    Ok(std::iter::once(prefix.to_owned()).chain(bytes.iter().map(|b| format!("{b:02x}"))).collect())
}

/// A bot's token: `cb_{id}_{secret}`. The id lets the room find the bot without a scan; the
/// secret is what authenticates (only its salted hash is stored).
pub fn bot_token(id: MemberId, secret: &str) -> String {
    format!("cb_{id}_{secret}")
}

/// The bot id a token names, if it has the shape of one.
pub fn token_bot(token: &str) -> Option<(MemberId, MemberKey)> {
    let rest = token.strip_prefix("cb_")?;
    let (id, _) = rest.split_once('_')?;
    Some((id.parse().ok()?, MemberKey::parse(token).ok()?))
}

impl Room {
    /// A moderation action by `actor`, recorded as event `seq` at `ts`.
    #[allow(clippy::too_many_arguments)] // one rule's inputs
    pub(super) fn moderate(
        &mut self,
        store: &mut impl RoomStore,
        actor: &Actor,
        client_id: &str,
        mut action: Action,
        seq: Seq,
        ts: u64,
        now_ms: u64,
    ) -> Result<Outcome, ProtocolError> {
        let target = match named(&action) {
            Some(id) => self.describe(store, id)?,
            None => None,
        };
        allowed(actor.id, actor.role, &action, target.as_ref().map(|t| (t.id, t.role)))?;
        let (bots, invites) = store.counts().map_err(failed)?;
        let mut token = None;
        match &mut action {
            Action::CreateInvite { code } => {
                if invites >= INVITES_MAX {
                    return Err(refusal(ErrorCode::BadRequest, format!("a room has at most {INVITES_MAX} invites")));
                }
                *code = Some(random("i")?.chars().take(33).collect());
            }
            Action::CreateBot { name, member } => {
                if bots >= BOTS_MAX {
                    return Err(refusal(ErrorCode::BadRequest, format!("a room has at most {BOTS_MAX} bots")));
                }
                let name = UserName::parse(name)?;
                // The token names the bot's id, which the store assigns: make the bot with a
                // placeholder key, then set the real one (both before the event).
                let secret = random("")?;
                let provisional = MemberKey::parse(&random("p")?)?;
                let Some(id) =
                    store.create_bot(&name.claim_key(), name.as_str(), &provisional, now_ms).map_err(failed)?
                else {
                    return Err(refusal(ErrorCode::NameTaken, format!("“{name}” belongs to someone in this room")));
                };
                let full = bot_token(id, &secret);
                store.set_bot_token(id, &MemberKey::parse(&full)?).map_err(failed)?;
                *member = Some(id);
                token = Some((MemberView { id, name: name.into_string(), role: Role::Bot }, full));
            }
            _ => {}
        }
        let bucket = self.actor_ref(actor.id).and_then(|m| self.bucket_to_save(m.bucket, now_ms));
        let op = Op { seq, member: actor.id, client_id, ts, change: Change::Moderate { action: &action }, bucket };
        let seq = match recorded(store.append(&op))? {
            Ok(seq) => seq,
            Err(duplicate) => return Ok(duplicate),
        };
        self.created_bot = token;
        if let Action::CreateInvite { code } = &action {
            self.created_invite = code.clone();
        }
        self.latest = Some((seq, ts));
        let mut then = Vec::new();
        self.enact(store, &action, ts, now_ms, &mut then);
        let target = match (&action, target) {
            (Action::CreateBot { member: Some(id), name }, _) => {
                Some(MemberView { id: *id, name: name.clone(), role: Role::Bot })
            }
            (_, t) => t.map(|t| MemberView { id: t.id, name: t.name, role: t.role }),
        };
        let by = actor.view();
        let entry = |action: Action| AuditEntry { seq, ts, by: by.clone(), action, target: target.clone() };
        let purge = matches!(action, Action::Ban { purge: true, .. }).then(|| named(&action)).flatten();
        let public = action.public();
        let frames = if public == action {
            vec![(Audience::Room, ServerFrame::Moderated(entry(action)))]
        } else {
            let (mods, others) = self.split_moderators();
            vec![
                (Audience::Members(mods), ServerFrame::Moderated(entry(action))),
                (Audience::Members(others), ServerFrame::Moderated(entry(public))),
            ]
        };
        // A purge follows its ban: one removal event per message, each after the ban's.
        let mut frames = frames;
        if let Some(member) = purge {
            frames.extend(self.purge(store, actor, client_id, member, now_ms));
        }
        Ok(Outcome::Stored { seq, ts, frames, then })
    }

    /// A member as the rules need it: id, name, role (the owner's from the room's record).
    fn describe(&mut self, store: &mut impl RoomStore, id: MemberId) -> Result<Option<Described>, ProtocolError> {
        let owner = self.record(store).map_err(failed)?.owner;
        let info = store.members(&[id]).map_err(failed)?.into_iter().next();
        Ok(info.map(|i| Described {
            id: i.id,
            name: i.name,
            role: if Some(i.id) == owner { Role::Owner } else { i.role },
        }))
    }

    /// A member's role now (the owner's from the room's record).
    pub(super) fn role_of(&mut self, store: &mut impl RoomStore, id: MemberId) -> Result<Role, ProtocolError> {
        if let Some(m) = self.actor_ref(id) {
            return Ok(m.role);
        }
        Ok(self.describe(store, id)?.map_or(Role::Member, |d| d.role))
    }

    /// Online members who moderate, and everyone else online.
    fn split_moderators(&self) -> (Vec<MemberId>, Vec<MemberId>) {
        self.members.iter().map(|(id, m)| (*id, m.role.moderates())).fold(
            (Vec::new(), Vec::new()),
            |mut acc, (id, m)| {
                if m {
                    acc.0.push(id);
                } else {
                    acc.1.push(id);
                }
                acc
            },
        )
    }

    /// What an action changes in memory: the room's settings, an online member's role or
    /// mute, and the sockets a ban or a revoked bot loses.
    fn enact(&mut self, store: &mut impl RoomStore, action: &Action, ts: u64, now_ms: u64, out: &mut Vec<Effect>) {
        if let Some(record) = self.record.as_mut() {
            match action {
                Action::SlowMode { seconds } => {
                    record.settings.slow_mode_secs = *seconds;
                    record.slow_since = ts;
                }
                Action::Topic { text } => record.settings.topic = text.clone(),
                Action::InviteOnly { on } => record.settings.invite_only = *on,
                _ => {}
            }
        }
        match action {
            Action::Mute { member, minutes } => {
                let until = (*minutes > 0).then(|| ts + u64::from(*minutes) * 60_000);
                if let Some(m) = self.actor_mut(*member) {
                    m.muted_until = until;
                }
            }
            Action::SetRole { member, role } => {
                if let Some(m) = self.actor_mut(*member) {
                    m.role = *role;
                }
            }
            Action::Ban { member, ip, .. } => {
                let addr = if *ip {
                    store.members(&[*member]).ok().and_then(|m| m.into_iter().next()).and_then(|m| m.addr)
                } else {
                    None
                };
                self.remove_sockets(|c| c.member == Some(*member) || (addr.is_some() && c.ip == addr), now_ms, out);
                self.remote.remove(member);
            }
            Action::RevokeBot { member } => {
                self.remove_sockets(|c| c.member == Some(*member), now_ms, out);
                self.remote.remove(member);
            }
            _ => {}
        }
    }

    /// Tells each socket `which` picks that it was removed, and closes it.
    fn remove_sockets(&mut self, which: impl Fn(&super::Conn) -> bool, now_ms: u64, out: &mut Vec<Effect>) {
        let mut gone: Vec<_> = self.conns.iter().filter(|(_, c)| which(c)).map(|(id, _)| *id).collect();
        gone.sort_unstable();
        for socket in gone {
            let e = ProtocolError::new(ErrorCode::Banned, "you were removed from this room");
            Self::reply(out, socket, ServerFrame::error(e));
            self.close_socket(socket, close::REMOVED, "removed", now_ms, out);
        }
    }

    /// After a ban with `purge`: the banned member's messages removed, newest first, each its
    /// own event. A failure stops it (the ban stands; banning again purges the rest).
    fn purge(
        &mut self,
        store: &mut impl RoomStore,
        actor: &Actor,
        client_id: &str,
        member: MemberId,
        now_ms: u64,
    ) -> Vec<(Audience, ServerFrame)> {
        let mut frames = Vec::new();
        let Ok(ids) = store.posts_by(member, PURGE_MAX) else { return frames };
        for id in ids {
            let Ok((head, head_ts)) = self.latest(store) else { break };
            let (seq, ts) = (head + 1, now_ms.max(head_ts));
            let cid = format!("{client_id}~{id}");
            let change = Change::Delete { id, removed: true };
            let op = Op { seq, member: actor.id, client_id: &cid, ts, change, bucket: None };
            match recorded(store.append(&op)) {
                Ok(Ok(seq)) => {
                    self.latest = Some((seq, ts));
                    self.streams.remove(&id);
                    frames.push((Audience::Room, ServerFrame::Deleted { seq, id, removed: true }));
                    // Watching inboxes count it out, as any delete.
                    let gone = confab_shared::inbox::PostSummary {
                        id,
                        member,
                        author: String::new(),
                        mentions_me: false,
                        deleted: true,
                        excerpt: String::new(),
                    };
                    let batches = self.watchers.stored(seq, &gone, &[], now_ms);
                    self.to_inboxes.extend(batches);
                }
                // Recorded by an earlier try of this ban: nothing new to announce.
                Ok(Err(_)) => {}
                Err(_) => {
                    self.latest = None;
                    break;
                }
            }
        }
        frames
    }

    /// `audit`: moderation events for a moderator.
    pub(super) fn audit_page(
        &mut self,
        store: &mut impl RoomStore,
        before: Option<Seq>,
        limit: u32,
    ) -> Result<(Vec<AuditEntry>, bool), ProtocolError> {
        let mut rows = store.audit(before.unwrap_or(Seq::MAX), limit + 1).map_err(failed)?;
        let older = rows.len() > limit as usize;
        if older {
            rows.remove(0);
        }
        let mut ids: Vec<MemberId> = rows.iter().map(|r| r.member).collect();
        ids.extend(rows.iter().filter_map(|r| named(&r.action)));
        let owner = self.record(store).map_err(failed)?.owner;
        let known: std::collections::HashMap<MemberId, MemberView> = store
            .members(&ids)
            .map_err(failed)?
            .into_iter()
            .map(|i| {
                let role = if Some(i.id) == owner { Role::Owner } else { i.role };
                (i.id, MemberView { id: i.id, name: i.name, role })
            })
            .collect();
        let view = |id: MemberId| {
            if id == ADMIN {
                return MemberView { id, name: "admin".into(), role: Role::Owner };
            }
            known.get(&id).cloned().unwrap_or_else(|| MemberView::new(id, format!("member {id}")))
        };
        let entries = rows
            .into_iter()
            .map(|AuditRow { seq, ts, member, action }| {
                let target = match &action {
                    Action::CreateBot { name, member: Some(id) } => {
                        Some(MemberView { id: *id, name: name.clone(), role: Role::Bot })
                    }
                    a => named(a).map(view),
                };
                AuditEntry { seq, ts, by: view(member), action, target }
            })
            .collect();
        Ok((entries, older))
    }
}

/// A member an action names, as the rules see it.
struct Described {
    id: MemberId,
    name: String,
    role: Role,
}
