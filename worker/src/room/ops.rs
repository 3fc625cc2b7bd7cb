//! Operations on messages: send (optionally replying), edit, delete, react. Each pays from
//! the member's and the room's budgets, is recorded as the next event (or found to be a
//! retry of one already recorded, or to change nothing), is acknowledged to its socket, and
//! is broadcast as its event.

use super::{internal, view, Audience, Effect, Room, SocketId};
use crate::store::{Appended, Change, Op, ReactionRow, RoomStore, StoreError, StoredMessage};
use confab_shared::limits::REACTIONS_PER_MESSAGE_MAX;
use confab_shared::{mention_candidates, ClientFrame, ErrorCode, MemberId, ProtocolError, Seq, ServerFrame, UserName};

/// What an operation came to.
enum Outcome {
    /// Recorded as event `seq` at `ts`; these frames announce it.
    Stored { seq: Seq, ts: u64, frames: Vec<(Audience, ServerFrame)> },
    /// A retry of an operation recorded as `seq`.
    Duplicate { seq: Seq, ts: u64 },
    /// Allowed, but it changes nothing (a reaction already there, the same text).
    Unchanged,
}

fn refusal(code: ErrorCode, message: impl Into<String>) -> ProtocolError {
    ProtocolError::new(code, message)
}

fn failed(_: StoreError) -> ProtocolError {
    internal()
}

impl Room {
    /// `send`, `edit`, `delete` or `react` from a joined socket.
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
        let refused = |e: ProtocolError, wait: Option<u64>| ServerFrame::refused_send(&client_id, e, wait);
        let ack = |seq, ts| ServerFrame::Ack { client_id: client_id.clone(), seq, ts };
        // The member's budget, then the room's. A retry of a recorded operation costs nothing
        // (an outbox flushed after a reconnect must not run into the limit it already paid):
        // when a budget is empty the store is asked whether this one is a retry.
        if let Err((wait, why)) = self.take_budget(member, now_ms) {
            return Self::reply(
                out,
                socket,
                match store.find(member, &client_id) {
                    Ok(Some((seq, ts))) => ack(seq, ts),
                    Ok(None) => refused(refusal(ErrorCode::RateLimited, why), Some(wait)),
                    Err(_) => refused(internal(), None),
                },
            );
        }
        let outcome = self.apply(store, member, &client_id, frame, now_ms);
        if !matches!(outcome, Ok(Outcome::Stored { .. } | Outcome::Unchanged)) {
            self.refund(member);
        }
        if outcome.is_err() {
            // Storage may have failed after writing: read the log's head again next time
            // rather than hand out a seq that may be taken.
            self.latest = None;
        }
        match outcome {
            Ok(Outcome::Stored { seq, ts, frames }) => {
                self.latest = Some((seq, ts));
                Self::reply(out, socket, ack(seq, ts));
                for (to, frame) in frames {
                    out.push(Effect::Send { to, text: frame.to_json() });
                }
            }
            Ok(Outcome::Duplicate { seq, ts }) => Self::reply(out, socket, ack(seq, ts)),
            Ok(Outcome::Unchanged) => {
                let (seq, ts) = self.latest.unwrap_or((0, now_ms));
                Self::reply(out, socket, ack(seq, ts))
            }
            Err(e) => Self::reply(out, socket, refused(e, None)),
        }
    }

    /// Takes one operation's worth from the member's budget, then the room's; `Err` says how
    /// long to wait and why.
    fn take_budget(&mut self, member: MemberId, now_ms: u64) -> Result<(), (u64, &'static str)> {
        let config = self.config;
        let m = self
            .members
            .get_mut(&member)
            .expect("a joined socket's member is in `members` until its last socket closes");
        m.bucket.take(&config, now_ms).map_err(|wait| (wait, "you are sending too fast"))?;
        self.room_bucket.take_of(1, config.room_rate_burst, config.room_rate_per_sec, now_ms).map_err(|wait| {
            // Not this member's fault: its token goes back.
            m.bucket.milli += 1000;
            (wait, "the room is busy; your message waits a moment")
        })
    }

    /// Gives back the tokens an operation took that recorded nothing.
    fn refund(&mut self, member: MemberId) {
        let (member_cap, room_cap) =
            (u64::from(self.config.rate_burst) * 1000, u64::from(self.config.room_rate_burst) * 1000);
        if let Some(m) = self.members.get_mut(&member) {
            m.bucket.milli = (m.bucket.milli + 1000).min(member_cap);
        }
        self.room_bucket.milli = (self.room_bucket.milli + 1000).min(room_cap);
    }

    fn apply(
        &mut self,
        store: &mut impl RoomStore,
        member: MemberId,
        client_id: &str,
        frame: ClientFrame,
        now_ms: u64,
    ) -> Result<Outcome, ProtocolError> {
        // A retried operation whose first copy was recorded is acknowledged, never applied
        // again: a reaction added, removed elsewhere, then retried must stay removed. A plain
        // post skips this read: the insert's unique index catches its retry in one statement.
        if !matches!(frame, ClientFrame::Send { reply_to: None, .. }) {
            if let Some((seq, ts)) = store.find(member, client_id).map_err(failed)? {
                return Ok(Outcome::Duplicate { seq, ts });
            }
        }
        let (last_seq, last_ts) = self.latest(store).map_err(failed)?;
        let seq = last_seq + 1;
        // Timestamps never go backwards within a room, whatever the clock does.
        let ts = now_ms.max(last_ts);
        let display = self.members.get(&member).map(|m| m.display.clone()).unwrap_or_default();
        let bucket = self.members.get(&member).and_then(|m| self.bucket_to_save(m.bucket, now_ms));
        let op = |change| Op { seq, member, client_id, ts, change, bucket };
        match frame {
            ClientFrame::Send { text, reply_to, .. } => {
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
                let change = Change::Post { author: &display, text: text.as_str(), reply_to, mentions: &mentions };
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
                };
                let frame = ServerFrame::Message(view::message(stored, quote, Vec::new()));
                Ok(Outcome::Stored { seq, ts, frames: vec![(Audience::Room, frame)] })
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
                Ok(Outcome::Stored { seq, ts, frames: vec![(Audience::Room, frame)] })
            }
            ClientFrame::Delete { id, .. } => {
                let target = own(target(store, id)?, member, "delete")?;
                if target.deleted {
                    return Ok(Outcome::Unchanged);
                }
                let seq = match recorded(store.append(&op(Change::Delete { id })))? {
                    Ok(seq) => seq,
                    Err(duplicate) => return Ok(duplicate),
                };
                Ok(Outcome::Stored { seq, ts, frames: vec![(Audience::Room, ServerFrame::Deleted { seq, id })] })
            }
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
                Ok(Outcome::Stored { seq, ts, frames })
            }
            ClientFrame::Join { .. } | ClientFrame::Typing {} | ClientFrame::History { .. } => Ok(Outcome::Unchanged),
        }
    }
}

/// The event an edit, delete or reaction was recorded as, or (`Err`) the outcome of a retry
/// the store caught (its `find` ran first, so only a caller that skips it sees one).
fn recorded(appended: Result<Appended, StoreError>) -> Result<Result<Seq, Outcome>, ProtocolError> {
    Ok(match appended.map_err(failed)? {
        Appended::Stored(seq) => Ok(seq),
        Appended::Duplicate { seq, ts } => Err(Outcome::Duplicate { seq, ts }),
    })
}

/// The message an operation names.
fn target(store: &mut impl RoomStore, id: Seq) -> Result<StoredMessage, ProtocolError> {
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
