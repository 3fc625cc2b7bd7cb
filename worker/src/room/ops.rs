//! Operations on messages: send (optionally replying, optionally streamed), edit, delete
//! (a moderator's is a removal), react, a stream's append and finish, and moderation. Each
//! pays from the actor's and the room's budgets, is recorded as the next event (or found to be
//! a retry of one already recorded, or to change nothing), is acknowledged, and is broadcast
//! as its event. The same path serves a socket's frames and a bot's HTTP requests.

use super::{internal, view, Actor, Audience, Effect, Room, SocketId};
use crate::store::{Appended, Change, Op, ReactionRow, RoomStore, StoreError, StoredMessage};
use confab_shared::inbox::PostSummary;
use confab_shared::limits::{REACTIONS_PER_MESSAGE_MAX, STREAM_CHUNKS_PER_SEC, STREAM_CHUNK_BURST, TEXT_MAX_CHARS};
use confab_shared::{
    mention_candidates, Action, ClientFrame, ErrorCode, Member as MemberView, MemberId, ProtocolError, Role, Seq,
    ServerFrame, UserName,
};

/// What an operation came to.
pub(super) enum Outcome {
    /// Recorded as event `seq` at `ts`; these frames announce it, then these effects follow
    /// (a ban's closes).
    Stored { seq: Seq, ts: u64, frames: Vec<(Audience, ServerFrame)>, then: Vec<Effect> },
    /// A retry of an operation recorded as `seq`.
    Duplicate { seq: Seq, ts: u64 },
    /// Allowed, but it changes nothing (a reaction already there, the same text).
    Unchanged,
}

/// A performed operation, as its sender learns it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Done {
    /// Its event (or the room's newest `seq` when it changed nothing).
    pub seq: Seq,
    /// When.
    pub ts: u64,
    /// A retry of one already recorded.
    pub duplicate: bool,
    /// A new bot and its token (once).
    pub bot: Option<(MemberView, String)>,
    /// A new invite's code.
    pub invite: Option<String>,
}

/// Which budget an operation was charged to.
#[derive(Debug, Clone, Copy)]
enum Charged {
    /// None (the admin secret).
    Nothing,
    /// The member's and the room's.
    Member,
    /// A bot's stream budget (chunks).
    Stream,
}

/// Why an operation was refused, and how long to wait before trying again (for waits).
pub type Refusal = (ProtocolError, Option<u64>);

pub(super) fn refusal(code: ErrorCode, message: impl Into<String>) -> ProtocolError {
    ProtocolError::new(code, message)
}

pub(super) fn failed(_: StoreError) -> ProtocolError {
    internal()
}

impl Room {
    /// An operation from a joined socket: acknowledged (or refused) to that socket, then
    /// broadcast.
    pub(super) fn on_op(
        &mut self,
        store: &mut impl RoomStore,
        socket: SocketId,
        member: MemberId,
        frame: ClientFrame,
        now_ms: u64,
        out: &mut Vec<Effect>,
    ) {
        let Some(client_id) = frame.client_id().map(str::to_owned) else { return };
        let Some(actor) = self.actor(member) else { return };
        let mut then = Vec::new();
        match self.perform(store, &actor, frame, now_ms, &mut then) {
            Ok(done) => {
                Self::reply(out, socket, ServerFrame::Ack { client_id: client_id.clone(), seq: done.seq, ts: done.ts });
                if let Some((bot, token)) = done.bot {
                    Self::reply(out, socket, ServerFrame::BotCreated { client_id, bot, token });
                }
            }
            Err((e, wait)) => Self::reply(out, socket, ServerFrame::refused_send(&client_id, e, wait)),
        }
        out.extend(then);
    }

    /// Performs one operation for `actor`; the frames and effects it causes go to `out` (the
    /// caller acknowledges first).
    pub(super) fn perform(
        &mut self,
        store: &mut impl RoomStore,
        actor: &Actor,
        frame: ClientFrame,
        now_ms: u64,
        out: &mut Vec<Effect>,
    ) -> Result<Done, Refusal> {
        let Some(client_id) = frame.client_id().map(str::to_owned) else {
            return Err((refusal(ErrorCode::BadRequest, "not an operation"), None));
        };
        // A moderator's `remove` is their delete of someone else's message: one path.
        let frame = match frame {
            ClientFrame::Moderate { client_id, action: Action::Remove { id } } if actor.role.moderates() => {
                ClientFrame::Delete { client_id, id }
            }
            f => f,
        };
        // A retry of a recorded operation is acknowledged whatever has changed since (a budget
        // spent, a mute, slow mode): an outbox flushed after a reconnect must not be refused
        // what it already did. The store is asked only on these refusal paths.
        if let Some(refused) = self.silenced(store, actor, &frame, now_ms).map_err(|e| (e, None))? {
            return unless_recorded(store, actor.id, &client_id, refused);
        }
        let charged = match self.take_budget(actor, &frame, now_ms) {
            Ok(charged) => charged,
            Err((wait, why)) => {
                let refused = (refusal(ErrorCode::RateLimited, why), Some(wait));
                return unless_recorded(store, actor.id, &client_id, refused);
            }
        };
        let is_post = matches!(frame, ClientFrame::Send { .. });
        let streamish = matches!(
            frame,
            ClientFrame::Send { streaming: true, .. }
                | ClientFrame::Append { .. }
                | ClientFrame::Finish { .. }
                | ClientFrame::Delete { .. }
        )
        .then(|| frame.clone());
        let outcome = self.apply(store, actor, &client_id, frame, now_ms);
        if !matches!(outcome, Ok(Outcome::Stored { .. } | Outcome::Unchanged)) {
            self.refund(actor.id, charged);
        }
        if outcome.is_err() {
            // Storage may have failed after writing: read the log's head again next time
            // rather than hand out a seq that may be taken.
            self.latest = None;
        }
        match outcome {
            Ok(Outcome::Stored { seq, ts, frames, then }) => {
                if self.latest.is_none_or(|(l, _)| l < seq) {
                    self.latest = Some((seq, ts));
                }
                if let Some(f) = &streamish {
                    self.track_stream(f, actor.id, seq, ts);
                    // A stream already past its deadline (nothing ticked since) is due now.
                    if let Some(at) = self.next_stream_deadline() {
                        out.push(Effect::WakeAt(at.max(now_ms)));
                    }
                }
                if is_post {
                    if let Some(m) = self.actor_mut(actor.id) {
                        m.last_post_ms = Some(ts);
                    }
                    if let Some((_, ServerFrame::Message(m))) = frames.first() {
                        let m = m.clone();
                        self.notify_mentioned(store, actor, &m, now_ms, out);
                        let summary = PostSummary {
                            id: m.id,
                            member: m.member,
                            author: m.author.clone(),
                            mentions_me: false,
                            deleted: false,
                            excerpt: confab_shared::excerpt(&m.text),
                        };
                        // In a direct message every post is for the other person, as a mention is.
                        let dm = self.record.as_ref().is_some_and(|r| r.dm.is_some());
                        let mentioned = if dm { self.watchers.members() } else { m.mentions.clone() };
                        let batches = self.watchers.stored(seq, &summary, &mentioned, now_ms);
                        self.to_inboxes.extend(batches);
                        // In a DM the other person is told of every post (a mention of them
                        // too, once); elsewhere, those mentioned.
                        if dm {
                            self.tell_dm_peer(store, seq, &summary);
                        } else {
                            self.tell_mentioned(store, seq, &summary, &m.mentions);
                        }
                    }
                }
                if let Some((_, ServerFrame::Deleted { id, .. })) = frames.first() {
                    // A delete moves the counts of whoever had not read it.
                    let id = *id;
                    if let Ok(Some(m)) = store.messages(&[id]).map(|v| v.into_iter().next()) {
                        let summary = PostSummary {
                            id,
                            member: m.member,
                            author: m.author,
                            mentions_me: false,
                            deleted: true,
                            excerpt: String::new(),
                        };
                        let batches = self.watchers.stored(seq, &summary, &[], now_ms);
                        self.to_inboxes.extend(batches);
                    }
                }
                for (to, frame) in frames {
                    out.push(Effect::Send { to, text: frame.to_json() });
                }
                let bot = self.created_bot.take();
                let invite = self.created_invite.take();
                out.extend(then);
                Ok(Done { seq, ts, duplicate: false, bot, invite })
            }
            Ok(Outcome::Duplicate { seq, ts }) => Ok(Done { seq, ts, duplicate: true, bot: None, invite: None }),
            Ok(Outcome::Unchanged) => {
                let (seq, ts) = self.latest.unwrap_or((0, now_ms));
                Ok(Done { seq, ts, duplicate: false, bot: None, invite: None })
            }
            Err(e) => Err((e, None)),
        }
    }

    /// Whether the actor may not do this now: muted (anything but deleting their own
    /// messages), or in slow mode (a post too soon). `Some` is the refusal; `Err` a failed
    /// read.
    fn silenced(
        &mut self,
        store: &mut impl RoomStore,
        actor: &Actor,
        frame: &ClientFrame,
        now_ms: u64,
    ) -> Result<Option<Refusal>, ProtocolError> {
        let speaks = matches!(
            frame,
            ClientFrame::Send { .. }
                | ClientFrame::Edit { .. }
                | ClientFrame::React { .. }
                | ClientFrame::Append { .. }
        );
        if let Some(until) = actor.muted_until.filter(|u| *u > now_ms && speaks) {
            let mins = (until - now_ms).div_ceil(60_000);
            let e = refusal(ErrorCode::Muted, format!("a moderator muted you; {mins} min left"));
            return Ok(Some((e, Some(until - now_ms))));
        }
        let record = self.record(store).map_err(failed)?;
        let (secs, since) = (record.settings.slow_mode_secs, record.slow_since);
        let exempt = actor.role.moderates() || actor.role == Role::Bot;
        if secs == 0 || exempt || !matches!(frame, ClientFrame::Send { .. }) {
            return Ok(None);
        }
        let last = match self.actor_mut(actor.id).and_then(|m| m.last_post_ms) {
            Some(t) => Some(t),
            None => {
                let t = store.last_post(actor.id).map_err(failed)?;
                if let (Some(m), Some(t)) = (self.actor_mut(actor.id), t) {
                    m.last_post_ms = Some(t);
                }
                t
            }
        };
        // A post from before slow mode was set does not count: the first post under it is free.
        let ready = last.filter(|t| *t >= since).map_or(0, |t| t + u64::from(secs) * 1000);
        if ready > now_ms {
            let e = refusal(ErrorCode::SlowMode, format!("slow mode: one message per {secs} s"));
            return Ok(Some((e, Some(ready - now_ms))));
        }
        Ok(None)
    }

    /// Takes one operation's worth from the actor's budget, then the room's (a stream's
    /// chunks from the stream budget only); `Err` says how long to wait and why. The admin
    /// secret pays nothing.
    fn take_budget(&mut self, actor: &Actor, frame: &ClientFrame, now_ms: u64) -> Result<Charged, (u64, &'static str)> {
        let config = self.config;
        let Some(m) = self.actor_mut(actor.id) else { return Ok(Charged::Nothing) };
        if matches!(frame, ClientFrame::Append { .. }) {
            return m
                .stream_bucket
                .take_of(1, STREAM_CHUNK_BURST, STREAM_CHUNKS_PER_SEC, now_ms)
                .map(|()| Charged::Stream)
                .map_err(|wait| (wait, "chunks come too fast"));
        }
        m.bucket.take(&config, now_ms).map_err(|wait| (wait, "you are sending too fast"))?;
        let taken = self.room_bucket.take_of(1, config.room_rate_burst, config.room_rate_per_sec, now_ms);
        taken.map_err(|wait| {
            // Not this member's fault: its token goes back.
            if let Some(m) = self.actor_mut(actor.id) {
                m.bucket.milli += 1000;
            }
            (wait, "the room is busy; your message waits a moment")
        })?;
        Ok(Charged::Member)
    }

    /// Gives back the tokens an operation took that recorded nothing: from the budget it
    /// was charged to.
    fn refund(&mut self, member: MemberId, charged: Charged) {
        let (member_cap, room_cap) =
            (u64::from(self.config.rate_burst) * 1000, u64::from(self.config.room_rate_burst) * 1000);
        match charged {
            Charged::Nothing => {}
            Charged::Stream => {
                if let Some(m) = self.actor_mut(member) {
                    m.stream_bucket.milli = (m.stream_bucket.milli + 1000).min(u64::from(STREAM_CHUNK_BURST) * 1000);
                }
            }
            Charged::Member => {
                if let Some(m) = self.actor_mut(member) {
                    m.bucket.milli = (m.bucket.milli + 1000).min(member_cap);
                }
                self.room_bucket.milli = (self.room_bucket.milli + 1000).min(room_cap);
            }
        }
    }

    fn apply(
        &mut self,
        store: &mut impl RoomStore,
        actor: &Actor,
        client_id: &str,
        frame: ClientFrame,
        now_ms: u64,
    ) -> Result<Outcome, ProtocolError> {
        let member = actor.id;
        // A retried operation whose first copy was recorded is acknowledged, never applied
        // again: a reaction added, removed elsewhere, then retried must stay removed. A plain
        // post skips this read: the insert's unique index catches its retry in one statement.
        if !matches!(frame, ClientFrame::Send { reply_to: None, streaming: false, .. }) {
            if let Some((seq, ts)) = store.find(member, client_id).map_err(failed)? {
                return Ok(Outcome::Duplicate { seq, ts });
            }
        }
        let (last_seq, last_ts) = self.latest(store).map_err(failed)?;
        let seq = last_seq + 1;
        // Timestamps never go backwards within a room, whatever the clock does.
        let ts = now_ms.max(last_ts);
        let display = actor.name.clone();
        let bucket = self.actor_ref(member).and_then(|m| self.bucket_to_save(m.bucket, now_ms));
        let op = |change| Op { seq, member, client_id, ts, change, bucket };
        let bot = actor.role == Role::Bot;
        match frame {
            ClientFrame::Send { streaming: true, .. } if !bot => {
                Err(refusal(ErrorCode::Forbidden, "only bots stream messages"))
            }
            ClientFrame::Send { text, reply_to, streaming, .. } => {
                let quote = match reply_to {
                    Some(id) => {
                        let target = target(store, id)?;
                        if target.deleted {
                            return Err(refusal(
                                ErrorCode::MessageDeleted,
                                "that message was deleted; it takes no replies",
                            ));
                        }
                        Some(view::quote(&target))
                    }
                    None => None,
                };
                let mentions = mentions(store, text.as_str()).map_err(failed)?;
                let change = Change::Post {
                    author: &display,
                    text: text.as_str(),
                    reply_to,
                    mentions: &mentions,
                    bot,
                    streaming,
                };
                let seq = match store.append(&op(change)).map_err(failed)? {
                    Appended::Stored(seq) => seq,
                    Appended::Duplicate { seq, ts } => return Ok(Outcome::Duplicate { seq, ts }),
                };
                // A message from this member ends its "typing", so the next keystroke relays.
                if let Some(m) = self.members.get_mut(&member) {
                    m.typing_ms = None;
                }
                let stored = StoredMessage {
                    id: seq,
                    version: seq,
                    member,
                    author: display,
                    client_id: client_id.to_owned(),
                    text: text.into_string(),
                    ts,
                    edited_ts: None,
                    deleted: false,
                    reply_to,
                    mentions,
                    removed: false,
                    bot,
                    streaming,
                };
                let frame = ServerFrame::Message(view::message(stored, quote, Vec::new()));
                Ok(Outcome::Stored { seq, ts, frames: vec![(Audience::Room, frame)], then: Vec::new() })
            }
            ClientFrame::Edit { id, text, .. } => {
                let target = own(target(store, id)?, member, "edit")?;
                if target.deleted {
                    return Err(refusal(ErrorCode::MessageDeleted, "that message was deleted; it cannot be edited"));
                }
                if target.text == text.as_str() {
                    return Ok(Outcome::Unchanged);
                }
                let mentions = mentions(store, text.as_str()).map_err(failed)?;
                let seq =
                    match recorded(store.append(&op(Change::Edit { id, text: text.as_str(), mentions: &mentions })))? {
                        Ok(seq) => seq,
                        Err(duplicate) => return Ok(duplicate),
                    };
                let frame = ServerFrame::Edited { seq, id, text: text.into_string(), edited_ts: ts, mentions };
                Ok(Outcome::Stored { seq, ts, frames: vec![(Audience::Room, frame)], then: Vec::new() })
            }
            ClientFrame::Delete { id, .. } => {
                let target = target(store, id)?;
                // Someone else's message: a moderator's removal, or not allowed.
                let removed = target.member != member;
                if removed && !actor.role.moderates() {
                    return Err(refusal(ErrorCode::NotAuthor, "only its author (or a moderator) can delete a message"));
                }
                if removed && actor.role != Role::Owner {
                    // The rights table holds for messages too: a moderator does not remove the
                    // owner's or another moderator's.
                    let author = self.role_of(store, target.member)?;
                    if author.moderates() {
                        return Err(refusal(
                            ErrorCode::Forbidden,
                            "a moderator cannot remove the owner's or another moderator's messages",
                        ));
                    }
                }
                if target.deleted {
                    return Ok(Outcome::Unchanged);
                }
                let seq = match recorded(store.append(&op(Change::Delete { id, removed })))? {
                    Ok(seq) => seq,
                    Err(duplicate) => return Ok(duplicate),
                };
                let frame = ServerFrame::Deleted { seq, id, removed };
                Ok(Outcome::Stored { seq, ts, frames: vec![(Audience::Room, frame)], then: Vec::new() })
            }
            ClientFrame::Append { id, text, .. } => {
                let target = self.stream_of(store, id, member)?;
                if target.text.chars().count() + text.chars().count() > TEXT_MAX_CHARS {
                    return Err(refusal(
                        ErrorCode::TextTooLong,
                        format!("a message has at most {TEXT_MAX_CHARS} characters; finish this one"),
                    ));
                }
                let seq = match recorded(store.append(&op(Change::Append { id, text: &text })))? {
                    Ok(seq) => seq,
                    Err(duplicate) => return Ok(duplicate),
                };
                let frame = ServerFrame::Appended { seq, id, text };
                Ok(Outcome::Stored { seq, ts, frames: vec![(Audience::Room, frame)], then: Vec::new() })
            }
            ClientFrame::Finish { id, .. } => {
                self.stream_of(store, id, member)?;
                let seq = match recorded(store.append(&op(Change::Finish { id })))? {
                    Ok(seq) => seq,
                    Err(duplicate) => return Ok(duplicate),
                };
                let frame = ServerFrame::Finished { seq, id };
                Ok(Outcome::Stored { seq, ts, frames: vec![(Audience::Room, frame)], then: Vec::new() })
            }
            ClientFrame::Moderate { action, .. } => self.moderate(store, actor, client_id, action, seq, ts, now_ms),
            ClientFrame::React { id, emoji, on, .. } => {
                let target = target(store, id)?;
                if target.deleted {
                    return Err(refusal(ErrorCode::MessageDeleted, "that message was deleted"));
                }
                let mut rows = store.reactions(&[id]).map_err(failed)?;
                let emoji = emoji.as_str();
                let has = rows.iter().any(|r| r.member == member && r.emoji == emoji);
                if has == on {
                    return Ok(Outcome::Unchanged);
                }
                if on && !rows.iter().any(|r| r.emoji == emoji) {
                    let mut distinct: Vec<&str> = rows.iter().map(|r| r.emoji.as_str()).collect();
                    distinct.sort_unstable();
                    distinct.dedup();
                    if distinct.len() >= REACTIONS_PER_MESSAGE_MAX as usize {
                        return Err(refusal(
                            ErrorCode::TooManyReactions,
                            format!("a message has at most {REACTIONS_PER_MESSAGE_MAX} different reactions"),
                        ));
                    }
                }
                let seq = match recorded(store.append(&op(Change::React { id, emoji, on, name: &display })))? {
                    Ok(seq) => seq,
                    Err(duplicate) => return Ok(duplicate),
                };
                if on {
                    // The newest event: last in the order of addition, as storage will list it.
                    rows.push(ReactionRow { id, emoji: emoji.to_owned(), member, name: display, seq });
                } else {
                    rows.retain(|r| !(r.member == member && r.emoji == emoji));
                }
                // Two frames whatever the room's size: the reactor's `mine`, and everyone else's
                // summary without one (their own flags did not change).
                let frames = vec![
                    (
                        Audience::Members(vec![member]),
                        ServerFrame::Reactions { seq, id, by: member, reactions: view::summarize(&rows, Some(member)) },
                    ),
                    (
                        Audience::Others(member),
                        ServerFrame::Reactions { seq, id, by: member, reactions: view::summarize(&rows, None) },
                    ),
                ];
                Ok(Outcome::Stored { seq, ts, frames, then: Vec::new() })
            }
            ClientFrame::Join { .. }
            | ClientFrame::Typing {}
            | ClientFrame::History { .. }
            | ClientFrame::Audit { .. } => Ok(Outcome::Unchanged),
        }
    }
}

impl Room {
    /// The message `id` if `member` is streaming it.
    fn stream_of(&self, store: &mut impl RoomStore, id: Seq, member: MemberId) -> Result<StoredMessage, ProtocolError> {
        let m = target(store, id)?;
        if m.member != member || !m.streaming {
            return Err(refusal(ErrorCode::NotStreaming, format!("message {id} is not a stream of yours under way")));
        }
        Ok(m)
    }
}

/// The operation's acknowledgement if it was recorded before, else `refused`.
fn unless_recorded(
    store: &mut impl RoomStore,
    member: MemberId,
    client_id: &str,
    refused: Refusal,
) -> Result<Done, Refusal> {
    match store.find(member, client_id) {
        Ok(Some((seq, ts))) => Ok(Done { seq, ts, duplicate: true, bot: None, invite: None }),
        Ok(None) => Err(refused),
        Err(_) => Err((internal(), None)),
    }
}

/// The event an edit, delete or reaction was recorded as, or (`Err`) the outcome of a retry
/// the store caught (its `find` ran first, so only a caller that skips it sees one).
pub(super) fn recorded(appended: Result<Appended, StoreError>) -> Result<Result<Seq, Outcome>, ProtocolError> {
    Ok(match appended.map_err(failed)? {
        Appended::Stored(seq) => Ok(seq),
        Appended::Duplicate { seq, ts } => Err(Outcome::Duplicate { seq, ts }),
    })
}

/// The message an operation names.
pub(super) fn target(store: &mut impl RoomStore, id: Seq) -> Result<StoredMessage, ProtocolError> {
    store
        .messages(&[id])
        .map_err(failed)?
        .into_iter()
        .next()
        .ok_or_else(|| refusal(ErrorCode::MessageNotFound, format!("there is no message {id} in this room")))
}

/// `m` if `member` wrote it.
fn own(m: StoredMessage, member: MemberId, what: &str) -> Result<StoredMessage, ProtocolError> {
    if m.member == member {
        Ok(m)
    } else {
        Err(refusal(ErrorCode::NotAuthor, format!("only its author can {what} a message")))
    }
}

/// The members `text` mentions: per `@`, the longest candidate that is a name someone in the
/// room holds (compared as claims compare, so `@ALICE` finds alice), each member once.
fn mentions(store: &mut impl RoomStore, text: &str) -> Result<Vec<MemberId>, StoreError> {
    /// Names looked up for one message at most: a text of many long `@` runs costs no more.
    const LOOKUPS_MAX: usize = 64;
    let mut ids = Vec::new();
    let mut lookups = 0;
    for candidates in mention_candidates(text) {
        for name in candidates {
            lookups += 1;
            if lookups > LOOKUPS_MAX {
                return Ok(ids);
            }
            let Ok(name) = UserName::parse(&name) else { continue };
            if let Some(id) = store.holder(&name.claim_key())? {
                if !ids.contains(&id) {
                    ids.push(id);
                }
                break;
            }
        }
    }
    Ok(ids)
}
