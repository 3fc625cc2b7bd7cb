//! What the page knows about a room, built only by applying [`ServerFrame`]s and the person's
//! own operations. Pure and idempotent: the room is an event log (every post, edit, delete
//! and reaction change takes the next `seq`), and the view tracks the last event it applied,
//! so a replay after a reconnect changes nothing and a hole is noticed (and resumed over)
//! rather than papered over. Tested natively (no browser).
//!
//! The outbox holds operations, not only posts: a post, an edit, a delete, a reaction, each
//! with its own `client_id`, applied exactly once by the room. [`RoomView::shown`] lays the
//! unacknowledged ones over the room's copy, so the person sees their change at once.

use crate::moderation::Moderation;
use confab_shared::limits::{REACTION_NAMES_MAX, TYPING_DISPLAY_MS};
use confab_shared::{excerpt, ChatMessage, ErrorCode, Limits, Member, MemberId, Reaction, Seq, ServerFrame};
use std::collections::{BTreeMap, BTreeSet};

pub use crate::pending::{Op, Pending};

/// A refusal from the room, shown inline near the composer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Notice {
    /// The room's stable code.
    pub code: ErrorCode,
    /// Its explanation.
    pub message: String,
    /// For `rate_limited`: when sending works again (ms since the epoch).
    pub retry_at_ms: Option<u64>,
    /// The refused operation, if the refusal named one: the notice goes once it is applied.
    pub client_id: Option<String>,
}

/// A message as the page shows it: the room's copy with our unacknowledged operations laid
/// over it, and what the page knows about it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Shown {
    /// The message, with pending edits, deletes and reactions applied.
    pub m: ChatMessage,
    /// We wrote it (edit and delete are offered).
    pub mine: bool,
    /// Its text mentions us.
    pub mentions_me: bool,
    /// An edit of ours is on its way.
    pub pending_edit: bool,
    /// Our delete is on its way.
    pub pending_delete: bool,
    /// An operation of ours on it was refused (why): shown on the message until dismissed.
    pub conflict: Option<String>,
}

/// Where a frame's event `seq` stands against the last one applied.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Order {
    /// The next one: apply it.
    Next,
    /// Applied already (a replay): ignore it.
    Seen,
    /// Events are missing before it: resume from the last applied.
    Hole,
}

/// One room as the page shows it.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct RoomView {
    /// Us as the room recorded us, once welcomed.
    pub me: Option<Member>,
    /// The room's storage epoch, from `welcome`: ids and seqs only mean something in it.
    pub epoch: Option<String>,
    /// The last event `seq` applied: the resume point for the next join.
    pub last_seq: Option<Seq>,
    /// Messages by id, in their current state: a resend or a replay lands on the same key.
    pub messages: BTreeMap<Seq, ChatMessage>,
    /// Members online, by id (their roles are in [`RoomView::moderation`]).
    pub members: BTreeMap<MemberId, String>,
    /// Who is typing (name), until when (ms since the epoch), by member id.
    pub typing: BTreeMap<MemberId, (String, u64)>,
    /// Older messages exist than the oldest we hold.
    pub has_more: bool,
    /// A `history` request is in flight.
    pub loading_older: bool,
    /// The person (or a jump to a message) wants the older page: kept until it arrives,
    /// across reconnects.
    pub want_older: bool,
    /// Operations not acknowledged, in the order they were made.
    pub outbox: Vec<Pending>,
    /// The room's limits, from `welcome`.
    pub limits: Option<Limits>,
    /// The last refusal, until the person acts again.
    pub notice: Option<Notice>,
    /// The join was refused (`name_taken`, `unsupported_version`): reconnecting will not help.
    pub fatal: Option<Notice>,
    /// Refused operations, by the message they were for: shown on that message.
    pub conflicts: BTreeMap<Seq, String>,
    /// Bumped whenever the list starts afresh (first welcome, a resume gap, a reset room):
    /// what was on screen is not where the reader was.
    pub generation: u64,
    /// Bumped when the room said its history was reset: read markers no longer mean anything.
    pub resets: u64,
    /// A resume missed more than the room replays: the list shows a fresh view, and what
    /// happened in between loads by paging back.
    pub away_gap: bool,
    /// Posts this page queued: the list follows the person's own new message.
    pub queued: u64,
    /// Frames this page could not read (a newer room): the page suggests a reload.
    pub unknown_frames: u32,
    /// An event arrived after a hole in the log: the connection must resume from
    /// [`RoomView::last_seq`] (events after the hole are not applied until then).
    pub resume_needed: bool,
    /// Bumped on every change, so a driver can tell a frame that changed nothing (and skip
    /// re-rendering) from one that did.
    pub revision: u64,
    /// Bumped when the list's rows change (a message added or dropped, a pending post queued
    /// or gone): an edit or a reaction leaves it, so the list is not rebuilt for one.
    pub layout: u64,
    /// Messages whose display changed since the page last took this set: the page redraws
    /// only their rows.
    pub touched: BTreeSet<Seq>,
    /// Our operations the room acknowledged as event `seq` before that event arrived here (the
    /// room answers the sender first): still shown as done, never sent again, gone when the
    /// event is applied. Without this the change would blink out for a frame.
    pub settling: Vec<(Seq, Pending)>,
    /// The room's settings, the roles known, our mute and slow-mode wait, invite links, bots,
    /// our moderation actions on their way (see `moderation.rs`).
    pub moderation: Moderation,
}

impl RoomView {
    /// A view with the outbox restored from a previous page load.
    pub fn with_outbox(outbox: Vec<Pending>) -> Self {
        Self { outbox, ..Self::default() }
    }

    /// Our member id, once welcomed.
    pub fn me_id(&self) -> Option<MemberId> {
        self.me.as_ref().map(|m| m.id)
    }

    /// Our name as the room recorded it, once welcomed.
    pub fn me_name(&self) -> Option<&str> {
        self.me.as_ref().map(|m| m.name.as_str())
    }

    /// Whether we wrote `m`.
    pub fn is_mine(&self, m: &ChatMessage) -> bool {
        self.me_id() == Some(m.member)
    }

    /// The newest message id held.
    pub fn newest_id(&self) -> Option<Seq> {
        self.messages.keys().next_back().copied()
    }

    /// The oldest message id held: where the next older page ends.
    pub fn oldest_id(&self) -> Option<Seq> {
        self.messages.keys().next().copied()
    }

    /// Notes a change made outside [`RoomView::apply`].
    pub fn touch(&mut self) {
        self.revision = self.revision.wrapping_add(1);
    }

    fn relayout(&mut self) {
        self.layout = self.layout.wrapping_add(1);
    }

    /// Marks the message an operation is about as redrawn (and the list, for a post).
    fn touch_op(&mut self, op: &Op) {
        match op.target() {
            Some(id) => {
                self.touched.insert(id);
            }
            None => self.relayout(),
        }
    }

    /// A post the person typed, into the outbox under our name if known.
    pub fn queue(&mut self, client_id: String, text: String, now_ms: u64) {
        self.queue_op(client_id, Op::Send { text, reply_to: None }, now_ms);
    }

    /// An operation the person made, into the outbox (see [`RoomView::push_pending`]).
    pub fn queue_op(&mut self, client_id: String, op: Op, now_ms: u64) {
        let p = self.pending(client_id, op, now_ms);
        self.push_pending(p);
    }

    /// A [`Pending`] for `op`, under our name and epoch.
    pub fn pending(&self, client_id: String, op: Op, now_ms: u64) -> Pending {
        Pending {
            client_id,
            op,
            created_ms: now_ms,
            author: self.me_name().unwrap_or_default().to_owned(),
            epoch: self.epoch.clone(),
            failed: None,
            sent: false,
        }
    }

    /// Adds an operation to the outbox (once per `client_id`), folding it into an earlier one
    /// that has not gone out yet where that is the same wish: a second edit of a message
    /// rewrites the first, a reaction taken back before it went out leaves nothing, a delete
    /// makes an unsent edit moot. Returns the `client_id`s the fold removed (the caller saves
    /// their removal).
    pub fn push_pending(&mut self, p: Pending) -> Vec<String> {
        self.notice = None;
        let mut removed = Vec::new();
        if self.outbox.iter().any(|q| q.client_id == p.client_id) {
            self.touch();
            return removed;
        }
        let unsent_same = |q: &Pending| -> bool {
            q.revocable()
                && match (&q.op, &p.op) {
                    (Op::Edit { id: a, .. }, Op::Edit { id: b, .. } | Op::Delete { id: b }) => a == b,
                    (Op::React { id: a, emoji: x, on: on_a }, Op::React { id: b, emoji: y, on: on_b }) => {
                        a == b && x == y && on_a != on_b
                    }
                    _ => false,
                }
        };
        let cancels = matches!(p.op, Op::React { .. }) && self.outbox.iter().any(unsent_same);
        self.outbox.retain(|q| {
            let drop = unsent_same(q);
            if drop {
                removed.push(q.client_id.clone());
            }
            !drop
        });
        self.touch_op(&p.op);
        if p.is_post() {
            self.queued += 1;
        }
        if !cancels {
            self.outbox.push(p);
        }
        self.touch();
        removed
    }

    /// Rewrites an unsent post's text (an edit of a message that has not gone out is just a
    /// new draft of it). Whether it could.
    pub fn rewrite_post(&mut self, client_id: &str, new_text: String) -> bool {
        let Some(p) = self.outbox.iter_mut().find(|p| p.client_id == client_id && p.revocable()) else {
            return false;
        };
        let Op::Send { text, .. } = &mut p.op else { return false };
        *text = new_text;
        p.failed = None;
        self.relayout();
        self.touch();
        true
    }

    /// Marks an outbox post as refused for good (until the person acts).
    pub fn fail(&mut self, client_id: &str, why: String) {
        if let Some(p) = self.outbox.iter_mut().find(|p| p.client_id == client_id) {
            p.failed = Some(why);
            self.relayout();
            self.touch();
        }
    }

    /// A refusal sending again cannot fix. A post waits, marked, for the person; any other
    /// operation is dropped and the refusal shown on its message (a conflict: the message
    /// was deleted, or is not ours, or the reaction is not allowed).
    pub fn refuse(&mut self, client_id: &str, why: String) {
        let Some(i) = self.outbox.iter().position(|p| p.client_id == client_id) else { return };
        match self.outbox[i].op.target() {
            None => self.fail(client_id, why),
            Some(id) => {
                let p = self.outbox.remove(i);
                self.touch_op(&p.op);
                self.conflicts.insert(id, why);
                self.touch();
            }
        }
    }

    /// Forgets the refusal shown on message `id`.
    pub fn dismiss_conflict(&mut self, id: Seq) {
        if self.conflicts.remove(&id).is_some() {
            self.touched.insert(id);
            self.touch();
        }
    }

    /// Takes an operation out of the outbox (the person deleted a pending post, or took it
    /// back to edit).
    pub fn cancel(&mut self, client_id: &str) -> Option<Pending> {
        let i = self.outbox.iter().position(|p| p.client_id == client_id)?;
        let p = self.outbox.remove(i);
        self.touch_op(&p.op);
        self.touch();
        Some(p)
    }

    /// Replaces the outbox with `saved` (another tab changed it), keeping what this page
    /// knows about refusals.
    pub fn replace_outbox(&mut self, saved: Vec<Pending>) {
        let mut next = saved;
        for p in &mut next {
            if let Some(old) = self.outbox.iter().find(|o| o.client_id == p.client_id) {
                p.failed = p.failed.take().or_else(|| old.failed.clone());
            }
        }
        if next != self.outbox {
            let ops: Vec<Op> = self.outbox.iter().chain(next.iter()).map(|p| p.op.clone()).collect();
            for op in &ops {
                self.touch_op(op);
            }
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

    /// Where event `seq` stands. Before a welcome nothing is tracked (no events come then).
    fn order(&self, seq: Seq) -> Order {
        match self.last_seq {
            Some(last) if seq <= last => Order::Seen,
            Some(last) if seq > last + 1 => Order::Hole,
            _ => Order::Next,
        }
    }

    /// Checks an event's `seq`: `Ok` to apply it (it is now the last applied), else whether
    /// the view changed (a hole asks for a resume; a replay changes nothing).
    fn take_seq(&mut self, seq: Seq) -> Result<(), bool> {
        match self.order(seq) {
            Order::Next => {
                self.last_seq = Some(seq);
                self.settle();
                Ok(())
            }
            Order::Seen => Err(false),
            Order::Hole => {
                let changed = !self.resume_needed;
                self.resume_needed = true;
                Err(changed)
            }
        }
    }

    fn apply_inner(&mut self, frame: ServerFrame, now_ms: u64) -> bool {
        match frame {
            // The engine unpacks batches before they get here; a view fed one applies its
            // frames in order all the same.
            ServerFrame::Batch(frames) => {
                frames.into_iter().fold(false, |changed, f| self.apply_inner(f, now_ms) | changed)
            }
            ServerFrame::Welcome {
                epoch,
                you,
                members,
                messages,
                older,
                gap,
                reset,
                latest_seq,
                limits,
                settings,
                muted_until,
                slow_wait_ms,
                ..
            } => {
                // Another epoch than the one our ids came from is a reset, whatever the flag.
                let reset = reset || self.epoch.as_ref().is_some_and(|e| *e != epoch);
                if reset {
                    // Nothing we kept means anything there. Our posts do: they are resent.
                    self.resets += 1;
                }
                self.drop_ops_from_other_epochs(&epoch);
                // The settings, our mute and wait, the roles online: a resume replays no
                // moderation events, the welcome says where things stand.
                self.moderation.welcome(settings, muted_until, slow_wait_ms, &members, reset, now_ms);
                self.moderation.saw(&you);
                // Our id first: a stored copy of a post still in our outbox is ours.
                self.me = Some(you);
                let fresh = self.epoch.is_none() || gap || reset;
                // A resume replays every message that changed, loaded or not. One older than
                // the oldest we hold (while older ones exist) is not added: it would sit above
                // a hole in the list, and paging back would start below it. It still updates
                // the quotes of the replies we hold.
                let floor = if fresh || !self.has_more { None } else { self.oldest_id() };
                if fresh {
                    self.messages.clear();
                    self.conflicts.clear();
                    self.touched.clear();
                    self.has_more = older;
                    self.generation += 1;
                    self.want_older = false;
                    self.away_gap = gap;
                    self.relayout();
                }
                // A resume replays what changed, not the replies quoting it: those we hold
                // follow here, as they would have followed the live edit or delete.
                let quotes: BTreeMap<Seq, (String, bool)> = messages
                    .iter()
                    .map(|m| (m.id, (if m.deleted { String::new() } else { excerpt(&m.text) }, m.deleted)))
                    .collect();
                for m in messages {
                    if floor.is_none_or(|oldest| m.id >= oldest) {
                        self.put(m);
                    }
                }
                self.requote_with(&quotes);
                self.epoch = Some(epoch);
                self.last_seq = Some(latest_seq);
                // The welcome is the room's state: what was settling is in it (or was reset).
                self.settling.clear();
                self.resume_needed = false;
                self.members = members.into_iter().map(|m| (m.id, m.name)).collect();
                self.limits = Some(limits);
                self.loading_older = false;
                self.fatal = None;
                self.typing.clear();
                true
            }
            ServerFrame::Message(m) => {
                if let Err(changed) = self.take_seq(m.id) {
                    return changed;
                }
                // A message from someone ends their typing line.
                self.typing.remove(&m.member);
                self.put(m);
                true
            }
            ServerFrame::Edited { seq, id, text, edited_ts, mentions } => {
                if let Err(changed) = self.take_seq(seq) {
                    return changed;
                }
                let quote = excerpt(&text);
                if let Some(m) = self.messages.get_mut(&id).filter(|m| m.version < seq) {
                    m.text = text;
                    m.edited_ts = Some(edited_ts);
                    m.mentions = mentions;
                    m.version = seq;
                    self.touched.insert(id);
                }
                self.requote(id, quote, false);
                true
            }
            ServerFrame::Deleted { seq, id, removed } => {
                if let Err(changed) = self.take_seq(seq) {
                    return changed;
                }
                self.tombstone(id, seq, removed);
                true
            }
            ServerFrame::Appended { seq, id, text } => {
                if let Err(changed) = self.take_seq(seq) {
                    return changed;
                }
                self.append(seq, id, &text);
                true
            }
            ServerFrame::Finished { seq, id } => {
                if let Err(changed) = self.take_seq(seq) {
                    return changed;
                }
                self.finish(seq, id);
                true
            }
            ServerFrame::Moderated(entry) => {
                // An event like any other: without taking its seq the next one is a hole.
                if let Err(changed) = self.take_seq(entry.seq) {
                    return changed;
                }
                self.apply_moderated(entry);
                true
            }
            ServerFrame::BotCreated { client_id, bot, token } => {
                self.moderation.bot_created(&client_id, bot, token);
                true
            }
            ServerFrame::Audit { entries, older } => {
                // Invite links and bots have no listing: the trail is where the page learns them.
                for e in &entries {
                    self.moderation.learn(e);
                }
                self.moderation.audit.get_or_insert_with(Default::default).merge(entries, older);
                true
            }
            ServerFrame::Reactions { seq, id, by, reactions } => {
                if let Err(changed) = self.take_seq(seq) {
                    return changed;
                }
                let me = self.me_id();
                if let Some(m) = self.messages.get_mut(&id).filter(|m| m.version < seq) {
                    // Only `by` can have changed its own `mine`; ours stay as they were.
                    m.reactions = if me == Some(by) {
                        reactions
                    } else {
                        reactions
                            .into_iter()
                            .map(|r| {
                                let mine = m.reactions.iter().any(|h| h.emoji == r.emoji && h.mine);
                                Reaction { mine, ..r }
                            })
                            .collect()
                    };
                    m.version = seq;
                    self.touched.insert(id);
                }
                true
            }
            ServerFrame::Ack { client_id, seq, .. } => {
                if self.moderation.pending.remove(&client_id).is_some() {
                    return true;
                }
                if self.notice.as_ref().is_some_and(|n| n.client_id.as_ref() == Some(&client_id)) {
                    self.notice = None;
                }
                let Some(p) = self.cancel(&client_id) else { return false };
                if p.is_post() {
                    self.posted(now_ms);
                }
                if self.last_seq.is_some_and(|last| seq > last) {
                    self.touch_op(&p.op);
                    self.settling.push((seq, p));
                }
                true
            }
            ServerFrame::MemberJoined(m) => {
                let role = self.moderation.saw(&m);
                self.members.insert(m.id, m.name.clone()) != Some(m.name) || role
            }
            ServerFrame::MemberLeft(m) => {
                let typing = self.typing.remove(&m.id).is_some();
                self.members.remove(&m.id).is_some() || typing
            }
            ServerFrame::Presence { joined, left } => {
                let mut changed = false;
                for m in joined {
                    changed |= self.moderation.saw(&m);
                    changed |= self.members.insert(m.id, m.name.clone()) != Some(m.name);
                }
                for m in left {
                    changed |= self.typing.remove(&m.id).is_some();
                    changed |= self.members.remove(&m.id).is_some();
                }
                changed
            }
            ServerFrame::Typing(m) => {
                if self.me_id() != Some(m.id) {
                    self.typing.insert(m.id, (m.name, now_ms + TYPING_DISPLAY_MS));
                    true
                } else {
                    false
                }
            }
            ServerFrame::History { messages, older } => {
                for m in messages {
                    self.put(m);
                }
                self.has_more = older;
                if !older {
                    self.away_gap = false;
                }
                self.loading_older = false;
                self.want_older = false;
                true
            }
            ServerFrame::Error { code, message, retry_after_ms, client_id } => {
                // One of our moderation actions: the moderation tools show why.
                if client_id.as_deref().is_some_and(|id| self.moderation.refused(id, &message)) {
                    return true;
                }
                // A refusal naming no operation may be of the audit page asked (it carries no
                // client_id): the trail can be asked again rather than stay "loading".
                if client_id.is_none() {
                    if let Some(trail) = self.moderation.audit.as_mut() {
                        trail.loading = false;
                    }
                }
                let retry_at_ms = retry_after_ms.map(|d| now_ms.saturating_add(d));
                match code {
                    // Like `rate_limited`: the post stays in the outbox and goes again when
                    // the wait ends (the engine holds it). The composer counts the wait down,
                    // so there is no notice.
                    ErrorCode::SlowMode => {
                        self.moderation.slow_until = Some(retry_at_ms.unwrap_or(now_ms.saturating_add(1_000)));
                        return true;
                    }
                    // The banner says until when; the post is marked failed below, for the
                    // person to retry or discard.
                    ErrorCode::Muted => self.moderation.muted_until = retry_at_ms.or(self.moderation.muted_until),
                    _ => {}
                }
                // An operation refused in a way a resend cannot fix: a post waits for the
                // person, anything else is dropped and the refusal shown on its message.
                let mut inline = code == ErrorCode::Muted;
                if let Some(id) = client_id.as_deref().filter(|_| !retryable(code) && code != ErrorCode::RateLimited) {
                    inline |= self.outbox.iter().any(|p| p.client_id == id && !p.is_post());
                    self.refuse(id, message.clone());
                }
                let notice = Notice { code, message, retry_at_ms, client_id };
                let refused_join = self.me.is_none() && matches!(code, ErrorCode::NameTaken | ErrorCode::InvalidName);
                // Banned, or an invite-only room without a valid invite: this visit is over.
                let over =
                    matches!(code, ErrorCode::UnsupportedVersion | ErrorCode::Banned | ErrorCode::InviteRequired);
                if refused_join || over {
                    self.fatal = Some(notice);
                } else if !inline {
                    self.notice = Some(notice);
                }
                true
            }
        }
    }

    /// Drops the acknowledged operations whose event has been applied.
    fn settle(&mut self) {
        let Some(last) = self.last_seq else { return };
        if self.settling.iter().any(|(seq, _)| *seq <= last) {
            let (done, waiting): (Vec<_>, Vec<_>) =
                std::mem::take(&mut self.settling).into_iter().partition(|(seq, _)| *seq <= last);
            self.settling = waiting;
            for (_, p) in done {
                self.touch_op(&p.op);
            }
        }
    }

    /// Message `id` deleted by event `seq` (`removed`: by a moderator): a tombstone, as the
    /// room stores it (no text, quote, mentions, reactions or edit time); the replies quoting
    /// it follow.
    pub(crate) fn tombstone(&mut self, id: Seq, seq: Seq, removed: bool) {
        if let Some(m) = self.messages.get_mut(&id).filter(|m| m.version < seq) {
            m.deleted = true;
            m.removed = removed;
            m.streaming = false;
            m.text.clear();
            m.mentions.clear();
            m.reactions.clear();
            m.reply_to = None;
            m.edited_ts = None;
            m.version = seq;
            self.touched.insert(id);
        }
        self.requote(id, String::new(), true);
    }

    /// Our posts on their way, oldest first: acknowledged ones whose message has not arrived,
    /// then the outbox's.
    pub fn pending_posts(&self) -> impl Iterator<Item = &Pending> {
        self.settling.iter().map(|(_, p)| p).chain(self.outbox.iter()).filter(|p| p.is_post())
    }

    /// The quotes of message `id` in the replies we hold follow its edit or delete.
    pub(crate) fn requote(&mut self, id: Seq, text: String, deleted: bool) {
        for (reply_id, m) in &mut self.messages {
            if let Some(q) = m.reply_to.as_mut().filter(|q| q.id == id) {
                if q.excerpt != text || q.deleted != deleted {
                    q.excerpt = text.clone();
                    q.deleted = deleted;
                    self.touched.insert(*reply_id);
                }
            }
        }
    }

    /// The quotes of the replies we hold to the messages in `quotes` (id → excerpt now,
    /// deleted) follow them.
    fn requote_with(&mut self, quotes: &BTreeMap<Seq, (String, bool)>) {
        for (reply, m) in &mut self.messages {
            let Some(q) = m.reply_to.as_mut() else { continue };
            if let Some((excerpt_now, deleted)) = quotes.get(&q.id) {
                if q.excerpt != *excerpt_now || q.deleted != *deleted {
                    q.excerpt = excerpt_now.clone();
                    q.deleted = *deleted;
                    self.touched.insert(*reply);
                }
            }
        }
    }

    /// Operations naming ids from another epoch than `epoch` cannot mean what the person
    /// meant: edits, deletes and reactions are dropped (and the person told), posts keep their
    /// text and lose the reply (they are resent by `client_id`).
    fn drop_ops_from_other_epochs(&mut self, epoch: &str) {
        let stale = |p: &Pending| p.op.names_id() && p.epoch.as_deref().is_some_and(|e| e != epoch);
        let mut dropped = 0;
        self.outbox.retain_mut(|p| {
            if !stale(p) {
                return true;
            }
            match &mut p.op {
                Op::Send { reply_to, .. } => {
                    *reply_to = None;
                    p.epoch = Some(epoch.to_owned());
                    true
                }
                _ => {
                    dropped += 1;
                    false
                }
            }
        });
        if dropped > 0 {
            self.notice = Some(Notice {
                code: ErrorCode::MessageNotFound,
                message: format!(
                    "The room's history was reset: {dropped} change{} you made to earlier messages could not be applied.",
                    if dropped == 1 { "" } else { "s" }
                ),
                retry_at_ms: None,
                client_id: None,
            });
        }
    }

    /// Stores a message in its current state, unless we hold a newer version of it; whether
    /// anything changed.
    fn put(&mut self, m: ChatMessage) -> bool {
        let mut changed = false;
        // Our own post, seen stored: it leaves the outbox even if its ack was lost.
        if self.is_mine(&m) {
            let n = self.outbox.len();
            self.outbox.retain(|p| !(p.is_post() && p.client_id == m.client_id));
            if n != self.outbox.len() {
                changed = true;
                self.relayout();
            }
        }
        match self.messages.get(&m.id) {
            Some(held) if held.version > m.version || *held == m => {}
            held => {
                if held.is_none() {
                    self.relayout();
                }
                self.touched.insert(m.id);
                self.messages.insert(m.id, m);
                changed = true;
            }
        }
        changed
    }

    /// Message `id` as the page shows it: the room's copy with our unacknowledged edits,
    /// deletes and reactions laid over it, in the order we made them.
    pub fn shown(&self, id: Seq) -> Option<Shown> {
        let mut m = self.messages.get(&id)?.clone();
        let me = self.me.as_ref();
        let (mut pending_edit, mut pending_delete) = (false, false);
        let ops = self.settling.iter().map(|(_, p)| p).chain(self.outbox.iter());
        for p in ops.filter(|p| p.op.target() == Some(id) && p.failed.is_none()) {
            match &p.op {
                Op::Edit { text, .. } if !m.deleted => {
                    m.text = text.clone();
                    pending_edit = true;
                }
                Op::Delete { .. } => {
                    m.deleted = true;
                    m.text.clear();
                    m.reactions.clear();
                    pending_delete = true;
                    pending_edit = false;
                }
                Op::React { emoji, on, .. } if !m.deleted => {
                    let name = me.map_or(p.author.as_str(), |me| me.name.as_str());
                    react(&mut m.reactions, emoji, *on, name);
                }
                _ => {}
            }
        }
        Some(Shown {
            mine: self.is_mine(&m),
            mentions_me: !m.deleted && me.is_some_and(|me| m.mentions.contains(&me.id)),
            pending_edit,
            pending_delete,
            conflict: self.conflicts.get(&id).cloned(),
            m,
        })
    }

    /// Our newest message that can still be edited (Up arrow in an empty composer).
    pub fn last_editable(&self) -> Option<Seq> {
        self.messages.keys().rev().copied().find(|id| self.shown(*id).is_some_and(|s| s.mine && !s.m.deleted))
    }

    /// Names typing at `now_ms`, sorted.
    pub fn typing_names(&self, now_ms: u64) -> Vec<&str> {
        let mut names: Vec<&str> =
            self.typing.values().filter(|(_, until)| *until > now_ms).map(|(n, _)| n.as_str()).collect();
        names.sort_unstable();
        names
    }

    /// Messages from others with an id above `id`: what arrived since the person last looked.
    pub fn count_after(&self, id: Seq) -> usize {
        self.messages.range(id + 1..).filter(|(_, m)| !self.is_mine(m) && !m.deleted).count()
    }

    /// Of those, the ones that mention us.
    pub fn mentions_after(&self, id: Seq) -> usize {
        let Some(me) = self.me_id() else { return 0 };
        self.messages.range(id + 1..).filter(|(_, m)| m.member != me && !m.deleted && m.mentions.contains(&me)).count()
    }
}

/// Our reaction `emoji` turned `on` or off in a summary, as the room will do it: the count
/// moves by one only if our state changes (set semantics), our name is listed while there is
/// room in the sample, an emoji nobody has any more goes.
pub fn react(reactions: &mut Vec<Reaction>, emoji: &str, on: bool, name: &str) {
    match reactions.iter().position(|r| r.emoji == emoji) {
        Some(i) => {
            let r = &mut reactions[i];
            if r.mine == on {
                return;
            }
            r.mine = on;
            if on {
                r.count += 1;
                if r.names.len() < REACTION_NAMES_MAX {
                    r.names.push(name.to_owned());
                }
            } else {
                r.count = r.count.saturating_sub(1);
                r.names.retain(|n| n != name);
                if r.count == 0 {
                    reactions.remove(i);
                }
            }
        }
        None if on => {
            reactions.push(Reaction { emoji: emoji.to_owned(), count: 1, names: vec![name.to_owned()], mine: true })
        }
        None => {}
    }
}

/// Refusals of an operation that may succeed if the same frame is sent again later.
pub fn retryable(code: ErrorCode) -> bool {
    matches!(code, ErrorCode::Internal | ErrorCode::Unknown | ErrorCode::TooManyConnections | ErrorCode::NotJoined)
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

/// Whether `next` continues `prev`'s group: same member within five minutes.
pub fn same_group(prev: &ChatMessage, next: &ChatMessage) -> bool {
    prev.member == next.member && next.ts.saturating_sub(prev.ts) < 5 * 60 * 1000
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
    use crate::fixtures::{flagged, member, msg, welcome, welcome_at, ALICE, BOB, CAROL, EPOCH};
    use confab_shared::Quote;

    fn ids(v: &RoomView) -> Vec<Seq> {
        v.messages.keys().copied().collect()
    }

    fn error(code: ErrorCode, client_id: Option<&str>) -> ServerFrame {
        ServerFrame::Error { code, message: "no".into(), retry_after_ms: None, client_id: client_id.map(Into::into) }
    }

    fn reply(id: Seq, member: MemberId, to: &ChatMessage) -> ChatMessage {
        ChatMessage {
            reply_to: Some(Quote {
                id: to.id,
                member: to.member,
                author: to.author.clone(),
                excerpt: excerpt(&to.text),
                deleted: false,
            }),
            ..msg(id, member, &format!("r{id}"))
        }
    }

    fn thumbs(count: u32, names: &[&str], mine: bool) -> Vec<Reaction> {
        vec![Reaction { emoji: "👍".into(), count, names: names.iter().map(|n| (*n).to_owned()).collect(), mine }]
    }

    #[test]
    fn a_resume_does_not_add_a_message_older_than_the_loaded_window_but_its_quotes_follow() {
        // We hold 40..=42 (one a reply to 10, which we never loaded), and older ones exist.
        let ten = msg(10, BOB, "b10");
        let mut v = RoomView::default();
        v.apply(welcome_at(vec![msg(40, BOB, "b40"), reply(41, CAROL, &ten), msg(42, BOB, "b42")], true, 42), 0);
        // Offline, message 10 was edited and 43 was posted: the resume replays both.
        let edited = ChatMessage { text: "ten, fixed".into(), version: 44, edited_ts: Some(44_000), ..ten };
        v.apply(welcome_at(vec![edited, msg(43, BOB, "b43")], true, 44), 0);
        assert_eq!(ids(&v), vec![40, 41, 42, 43], "no hole above 40");
        assert_eq!(v.oldest_id(), Some(40), "paging back starts below what we hold");
        let quote = v.messages[&41].reply_to.as_ref().unwrap();
        assert_eq!(quote.excerpt, "ten, fixed", "the reply we hold follows the edit");
        // A page that holds the whole room (nothing older) takes every replayed message.
        let mut all = RoomView::default();
        all.apply(welcome_at(vec![msg(1, BOB, "b1"), msg(2, BOB, "b2")], false, 2), 0);
        all.apply(
            welcome_at(vec![ChatMessage { version: 3, text: "one, fixed".into(), ..msg(1, BOB, "b1") }], false, 3),
            0,
        );
        assert_eq!(all.messages[&1].text, "one, fixed");
    }

    #[test]
    fn welcome_then_live_events_in_seq_order() {
        let mut v = RoomView::default();
        v.apply(welcome(vec![msg(1, BOB, "b1"), msg(2, BOB, "b2")], false), 0);
        assert_eq!((v.last_seq, v.epoch.as_deref()), (Some(2), Some(EPOCH)));
        assert!(v.apply(ServerFrame::Message(msg(3, BOB, "b3")), 0));
        assert!(v.apply(ServerFrame::Reactions { seq: 4, id: 3, by: BOB, reactions: thumbs(1, &["bob"], false) }, 0));
        assert_eq!(ids(&v), [1, 2, 3]);
        assert_eq!(v.last_seq, Some(4), "a reaction is an event too");
        assert_eq!(v.messages[&3].version, 4);
        assert_eq!(v.me, Some(member(ALICE)));
        assert_eq!(v.members.len(), 2);
        assert!(!v.has_more && !v.resume_needed);
    }

    #[test]
    fn a_hole_in_the_log_asks_for_a_resume_and_applies_nothing_past_it() {
        let mut v = RoomView::default();
        v.apply(welcome(vec![msg(1, BOB, "b1")], false), 0);
        assert!(v.apply(ServerFrame::Message(msg(3, BOB, "b3")), 0), "a hole is a change: the engine must act");
        assert!(v.resume_needed);
        assert_eq!(ids(&v), [1], "3 waits for the resume, which replays 2 and 3");
        assert_eq!(v.last_seq, Some(1), "the resume starts after the last applied");
        assert!(
            !v.apply(ServerFrame::Deleted { seq: 4, id: 1, removed: false }, 0),
            "still waiting: nothing more applies"
        );
        assert!(!v.messages[&1].deleted);
        // The resume: since=1, the room replays what changed after it.
        let deleted = ChatMessage { deleted: true, text: String::new(), version: 4, ..msg(1, BOB, "b1") };
        v.apply(welcome_at(vec![deleted, msg(2, BOB, "b2"), msg(3, BOB, "b3")], false, 4), 0);
        assert_eq!(ids(&v), [1, 2, 3]);
        assert!(v.messages[&1].deleted && !v.resume_needed);
        assert_eq!(v.last_seq, Some(4));
    }

    #[test]
    fn replays_change_nothing() {
        let mut v = RoomView::default();
        v.apply(welcome(vec![msg(1, BOB, "b1")], false), 0);
        v.apply(ServerFrame::Edited { seq: 2, id: 1, text: "new".into(), edited_ts: 5, mentions: vec![] }, 0);
        let once = v.clone();
        assert!(!v.apply(ServerFrame::Message(msg(1, BOB, "b1")), 0));
        assert!(!v.apply(ServerFrame::Edited { seq: 2, id: 1, text: "new".into(), edited_ts: 5, mentions: vec![] }, 0));
        assert!(!v.apply(ServerFrame::Reactions { seq: 2, id: 1, by: ALICE, reactions: thumbs(9, &[], true) }, 0));
        assert_eq!(v, once);
        // A resume that replays an older copy of message 1 does not undo the edit.
        v.apply(welcome_at(vec![msg(1, BOB, "b1")], false, 2), 0);
        assert_eq!(v.messages[&1].text, "new", "the held version is newer");
    }

    #[test]
    fn a_resume_replaces_changed_messages_by_id_and_keeps_paging_state() {
        let mut v = RoomView::default();
        v.apply(welcome((51..=100).map(|s| msg(s, BOB, &format!("b{s}"))).collect(), true), 0);
        let generation = v.generation;
        let edited = ChatMessage { text: "fixed".into(), version: 102, edited_ts: Some(9), ..msg(60, BOB, "b60") };
        v.apply(welcome_at(vec![edited, msg(101, BOB, "b101")], false, 102), 0);
        assert_eq!(v.messages.len(), 51);
        assert_eq!(v.messages[&60].text, "fixed");
        assert!(v.has_more, "a resume keeps what was known about older pages");
        assert_eq!(v.generation, generation, "the list stays where it was");
        assert_eq!(v.last_seq, Some(102));
    }

    #[test]
    fn a_gap_replaces_the_messages_and_keeps_the_outbox() {
        let mut v = RoomView::default();
        v.apply(welcome(vec![msg(1, BOB, "b1")], false), 0);
        v.queue("c1".into(), "unsent".into(), 0);
        let generation = v.generation;
        v.apply(flagged(welcome((300..=349).map(|s| msg(s, BOB, "x")).collect(), true), true, false, EPOCH), 0);
        assert_eq!(v.oldest_id(), Some(300), "message 1 is dropped: it may be stale");
        assert!(v.has_more && v.away_gap);
        assert!(v.generation > generation, "the list starts afresh");
        assert_eq!(v.outbox.len(), 1);
        v.apply(ServerFrame::History { messages: (250..300).map(|s| msg(s, BOB, "x")).collect(), older: false }, 0);
        assert!(!v.away_gap, "paged back to the start: nothing is missing any more");
    }

    #[test]
    fn a_reset_room_drops_every_id_and_the_operations_naming_them() {
        let mut v = RoomView::default();
        v.apply(welcome((1..=60).map(|s| msg(s, BOB, "x")).collect(), false), 0);
        v.queue("post".into(), "unsent".into(), 0);
        v.queue_op("reply".into(), Op::Send { text: "re".into(), reply_to: Some(5) }, 1);
        v.queue_op("edit".into(), Op::Edit { id: 5, text: "x".into() }, 2);
        v.queue_op("like".into(), Op::React { id: 6, emoji: "👍".into(), on: true }, 3);
        let generation = v.generation;
        let w = welcome(vec![msg(1, CAROL, "new1"), msg(2, CAROL, "new2")], false);
        v.apply(flagged(w, false, true, "e2"), 0);
        assert_eq!(v.messages.len(), 2, "old ids dropped, not mixed with the new room's");
        assert_eq!(v.messages[&1].author, "carol");
        assert_eq!(v.last_seq, Some(2));
        assert_eq!(v.outbox.iter().map(|p| p.client_id.as_str()).collect::<Vec<_>>(), ["post", "reply"]);
        assert_eq!(v.outbox[1].op, Op::Send { text: "re".into(), reply_to: None }, "the reply's target is gone");
        let notice = v.notice.as_ref().expect("the person is told");
        assert!(notice.message.contains("2 changes"), "{}", notice.message);
        assert_eq!(v.resets, 1);
        assert!(v.generation > generation);
    }

    #[test]
    fn operations_saved_under_another_epoch_are_dropped_on_the_first_welcome_after_a_reload() {
        let mut edit = RoomView::default().pending("e".into(), Op::Edit { id: 5, text: "x".into() }, 0);
        edit.epoch = Some("old".into());
        let mut post = RoomView::default().pending("p".into(), Op::Send { text: "x".into(), reply_to: None }, 0);
        post.epoch = Some("old".into());
        let mut v = RoomView::with_outbox(vec![edit, post]);
        v.apply(welcome(vec![], false), 0);
        assert_eq!(v.outbox.len(), 1, "the post is kept, the edit could mean another message");
        assert!(v.notice.is_some());
        assert_eq!(v.resets, 0, "a fresh join is not a reset");
    }

    #[test]
    fn a_welcome_from_another_epoch_is_a_reset_even_unflagged() {
        let mut v = RoomView::default();
        v.apply(welcome(vec![msg(1, BOB, "b1"), msg(2, BOB, "b2")], false), 0);
        v.apply(flagged(welcome(vec![msg(1, CAROL, "c")], false), false, false, "e2"), 0);
        assert_eq!(ids(&v), [1]);
        assert_eq!(v.messages[&1].member, CAROL);
        assert_eq!(v.resets, 1);
    }

    #[test]
    fn the_outbox_clears_on_ack_or_on_seeing_our_post() {
        let mut v = RoomView::default();
        v.apply(welcome(vec![], false), 0);
        v.queue("c1".into(), "one".into(), 0);
        v.queue("c2".into(), "two".into(), 0);
        v.queue("c2".into(), "two".into(), 0);
        assert_eq!(v.outbox.len(), 2);
        v.apply(ServerFrame::Ack { client_id: "c1".into(), seq: 1, ts: 0 }, 0);
        assert!(!v.apply(ServerFrame::Ack { client_id: "c1".into(), seq: 1, ts: 0 }, 0), "a duplicate ack is harmless");
        assert_eq!(v.outbox.len(), 1);
        // Another member's message with the same client_id is not ours.
        v.apply(ServerFrame::Message(msg(1, BOB, "c2")), 0);
        assert_eq!(v.outbox.len(), 1);
        v.apply(ServerFrame::Message(msg(2, ALICE, "c2")), 0);
        assert!(v.outbox.is_empty());
    }

    #[test]
    fn presence_and_typing_are_keyed_by_member_id() {
        let mut v = RoomView::default();
        v.apply(welcome(vec![], false), 0);
        v.apply(ServerFrame::Typing(member(BOB)), 0);
        let carol = member(CAROL);
        let bob_renamed = Member::new(BOB, "Bob");
        v.apply(ServerFrame::Presence { joined: vec![carol.clone(), bob_renamed], left: vec![] }, 0);
        assert_eq!(v.members.get(&BOB).map(String::as_str), Some("Bob"), "one member, the name as last joined");
        v.apply(ServerFrame::Presence { joined: vec![], left: vec![member(BOB)] }, 0);
        assert_eq!(v.members.keys().copied().collect::<Vec<_>>(), [ALICE, CAROL]);
        assert!(v.typing_names(1).is_empty(), "who left stops typing");
        assert!(!v.apply(ServerFrame::MemberJoined(carol), 0), "already here: nothing changed");
    }

    #[test]
    fn history_pages_merge_older_messages_without_undoing_newer_copies() {
        let mut v = RoomView::default();
        v.apply(welcome((51..=100).map(|s| msg(s, BOB, "x")).collect(), true), 0);
        v.apply(ServerFrame::Edited { seq: 101, id: 51, text: "new".into(), edited_ts: 1, mentions: vec![] }, 0);
        v.loading_older = true;
        let mut page: Vec<ChatMessage> = (1..=51).map(|s| msg(s, BOB, "x")).collect();
        page[50].text = "stale".into();
        v.apply(ServerFrame::History { messages: page, older: false }, 0);
        assert_eq!(v.oldest_id(), Some(1));
        assert_eq!(v.messages[&51].text, "new");
        assert!(!v.has_more && !v.loading_older);
    }

    #[test]
    fn typing_expires_and_ends_with_a_message() {
        let mut v = RoomView::default();
        v.apply(welcome(vec![], false), 0);
        v.apply(ServerFrame::Typing(member(BOB)), 1_000);
        v.apply(ServerFrame::Typing(member(ALICE)), 1_000);
        assert_eq!(v.typing_names(2_000), ["bob"], "our own typing is not shown");
        assert!(v.typing_names(6_001).is_empty(), "shown for 5 s");
        v.apply(ServerFrame::Typing(member(BOB)), 10_000);
        v.apply(ServerFrame::Message(msg(1, BOB, "b1")), 10_100);
        assert!(v.typing_names(10_200).is_empty());
        v.apply(ServerFrame::Typing(member(BOB)), 11_000);
        v.apply(ServerFrame::MemberLeft(member(BOB)), 11_000);
        assert!(v.typing_names(11_100).is_empty());
        assert!(!v.members.contains_key(&BOB));
    }

    #[test]
    fn refusals_before_join_are_fatal_after_join_a_notice() {
        let mut v = RoomView::default();
        v.apply(error(ErrorCode::NameTaken, None), 0);
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
        // A refusal naming a post goes once that post is stored.
        v.queue("c7".into(), "x".into(), 0);
        v.apply(error(ErrorCode::Internal, Some("c7")), 1_000);
        assert!(v.notice.is_some());
        assert!(v.outbox[0].failed.is_none(), "internal: sent again, not failed");
        v.apply(ServerFrame::Ack { client_id: "c7".into(), seq: 9, ts: 0 }, 1_100);
        assert!(v.notice.is_none());
    }

    #[test]
    fn an_unsupported_version_is_fatal() {
        let mut v = RoomView::default();
        v.apply(error(ErrorCode::UnsupportedVersion, None), 0);
        assert_eq!(v.fatal.as_ref().map(|n| n.code), Some(ErrorCode::UnsupportedVersion));
    }

    #[test]
    fn quotes_follow_edits_and_deletes_of_the_message_they_quote() {
        let mut v = RoomView::default();
        let original = ChatMessage { text: "the plan".into(), ..msg(1, BOB, "b1") };
        let r = reply(2, CAROL, &original);
        let other = msg(3, CAROL, "c3");
        v.apply(welcome(vec![original, r, other], false), 0);
        v.touched.clear();
        let long = "word ".repeat(100);
        v.apply(ServerFrame::Edited { seq: 4, id: 1, text: long.clone(), edited_ts: 9, mentions: vec![] }, 0);
        let q = v.messages[&2].reply_to.clone().expect("a quote");
        assert_eq!(q.excerpt, excerpt(&long), "the room's own excerpt rule");
        assert_eq!(v.messages[&1].edited_ts, Some(9));
        assert_eq!(v.touched.iter().copied().collect::<Vec<_>>(), [1, 2], "the message and its reply, nothing else");
        v.apply(ServerFrame::Deleted { seq: 5, id: 1, removed: false }, 0);
        let q = v.messages[&2].reply_to.clone().expect("a quote");
        assert!(q.deleted && q.excerpt.is_empty());
        assert!(v.messages[&1].deleted && v.messages[&1].text.is_empty());
        // An edit of a message we do not hold still updates the replies we do.
        let r = reply(7, BOB, &msg(6, CAROL, "gone"));
        v.apply(ServerFrame::Message(ChatMessage { id: 6, version: 6, ..msg(6, CAROL, "c6") }), 0);
        v.messages.remove(&6);
        v.apply(ServerFrame::Message(r), 0);
        v.apply(ServerFrame::Edited { seq: 8, id: 6, text: "later".into(), edited_ts: 1, mentions: vec![] }, 0);
        assert_eq!(v.messages[&7].reply_to.as_ref().map(|q| q.excerpt.as_str()), Some("later"));
    }

    #[test]
    fn a_resume_that_replays_an_edit_updates_the_replies_we_hold() {
        let mut v = RoomView::default();
        let original = ChatMessage { text: "before".into(), ..msg(1, BOB, "b1") };
        v.apply(welcome(vec![original.clone(), reply(2, CAROL, &original)], false), 0);
        // Away: message 1 edited (seq 3), then deleted (seq 4); the resume replays message 1 only.
        let edited = ChatMessage { text: "after".into(), version: 3, edited_ts: Some(3), ..original.clone() };
        v.apply(welcome_at(vec![edited], false, 3), 0);
        assert_eq!(v.messages[&2].reply_to.as_ref().map(|q| q.excerpt.as_str()), Some("after"));
        let gone = ChatMessage { text: String::new(), deleted: true, version: 4, ..original };
        v.apply(welcome_at(vec![gone], false, 4), 0);
        let q = v.messages[&2].reply_to.clone().expect("a quote");
        assert!(q.deleted && q.excerpt.is_empty());
        assert!(v.touched.contains(&2));
    }

    #[test]
    fn someone_elses_reaction_keeps_our_own_flags() {
        let mut v = RoomView::default();
        v.apply(welcome(vec![msg(1, BOB, "b1")], false), 0);
        v.apply(ServerFrame::Reactions { seq: 2, id: 1, by: ALICE, reactions: thumbs(1, &["alice"], true) }, 0);
        // Bob adds 👍 too: his frame carries no `mine` for us; ours stays.
        v.apply(ServerFrame::Reactions { seq: 3, id: 1, by: BOB, reactions: thumbs(2, &["alice", "bob"], false) }, 0);
        assert_eq!(v.messages[&1].reactions, thumbs(2, &["alice", "bob"], true));
        // We take ours back: our frame says so.
        v.apply(ServerFrame::Reactions { seq: 4, id: 1, by: ALICE, reactions: thumbs(1, &["bob"], false) }, 0);
        assert_eq!(v.messages[&1].reactions, thumbs(1, &["bob"], false));
    }

    #[test]
    fn a_reaction_redraws_one_row_and_not_the_list() {
        let mut v = RoomView::default();
        v.apply(welcome((1..=50).map(|s| msg(s, BOB, "x")).collect(), false), 0);
        v.touched.clear();
        let layout = v.layout;
        v.apply(ServerFrame::Reactions { seq: 51, id: 7, by: BOB, reactions: thumbs(2, &["bob", "carol"], false) }, 0);
        v.apply(ServerFrame::Reactions { seq: 52, id: 7, by: BOB, reactions: thumbs(1, &["bob"], false) }, 0);
        assert_eq!(v.messages[&7].reactions, thumbs(1, &["bob"], false), "replaced, never added");
        assert_eq!(v.touched.iter().copied().collect::<Vec<_>>(), [7]);
        assert_eq!(v.layout, layout, "the rows are the same rows");
        v.apply(ServerFrame::Message(msg(53, BOB, "x")), 0);
        assert_ne!(v.layout, layout, "a new message is a new row");
    }

    #[test]
    fn our_pending_changes_show_at_once_and_reconcile_with_the_rooms() {
        let mut v = RoomView::default();
        v.apply(welcome(vec![msg(1, ALICE, "a1"), msg(2, BOB, "b2")], false), 0);
        v.apply(ServerFrame::Reactions { seq: 3, id: 2, by: BOB, reactions: thumbs(1, &["bob"], false) }, 0);
        v.queue_op("e".into(), Op::Edit { id: 1, text: "better".into() }, 0);
        v.queue_op("r".into(), Op::React { id: 2, emoji: "👍".into(), on: true }, 0);
        let s = v.shown(1).expect("held");
        assert!(s.mine && s.pending_edit);
        assert_eq!(s.m.text, "better");
        assert_eq!(v.shown(2).expect("held").m.reactions, thumbs(2, &["bob", "alice"], true));
        // The room's events, then the acks: what is shown does not move.
        v.apply(ServerFrame::Edited { seq: 4, id: 1, text: "better".into(), edited_ts: 4, mentions: vec![] }, 0);
        v.apply(ServerFrame::Reactions { seq: 5, id: 2, by: ALICE, reactions: thumbs(2, &["bob", "alice"], true) }, 0);
        assert_eq!(v.shown(2).expect("held").m.reactions, thumbs(2, &["bob", "alice"], true), "not counted twice");
        v.apply(ServerFrame::Ack { client_id: "e".into(), seq: 4, ts: 4 }, 0);
        v.apply(ServerFrame::Ack { client_id: "r".into(), seq: 5, ts: 5 }, 0);
        let s = v.shown(1).expect("held");
        assert!(!s.pending_edit);
        assert_eq!(s.m.text, "better");
        assert!(v.outbox.is_empty());
        // Removing ours: down by one, our name gone; a delete shows a tombstone at once.
        v.queue_op("r2".into(), Op::React { id: 2, emoji: "👍".into(), on: false }, 0);
        assert_eq!(v.shown(2).expect("held").m.reactions, thumbs(1, &["bob"], false));
        v.queue_op("d".into(), Op::Delete { id: 1 }, 0);
        let s = v.shown(1).expect("held");
        assert!(s.m.deleted && s.pending_delete && s.m.text.is_empty());
        assert_eq!(v.last_editable(), None, "the only message of ours is going");
    }

    #[test]
    fn unsent_operations_fold_into_one_wish() {
        let mut v = RoomView::default();
        v.apply(welcome(vec![msg(1, ALICE, "a1")], false), 0);
        let react = |on| Op::React { id: 1, emoji: "🎉".into(), on };
        v.queue_op("r1".into(), react(true), 0);
        let removed = v.push_pending(v.pending("r2".into(), react(false), 0));
        assert_eq!(removed, ["r1"]);
        assert!(v.outbox.is_empty(), "on then off before anything went out: nothing to send");
        v.queue_op("e1".into(), Op::Edit { id: 1, text: "one".into() }, 0);
        v.queue_op("e2".into(), Op::Edit { id: 1, text: "two".into() }, 0);
        assert_eq!(v.outbox.len(), 1);
        assert_eq!(v.outbox[0].op, Op::Edit { id: 1, text: "two".into() });
        v.queue_op("d".into(), Op::Delete { id: 1 }, 0);
        assert_eq!(v.outbox.iter().map(|p| p.client_id.as_str()).collect::<Vec<_>>(), ["d"]);
        // Once out, the room may have applied it: both go, in order.
        let mut v = RoomView::default();
        v.apply(welcome(vec![msg(1, ALICE, "a1")], false), 0);
        v.queue_op("r1".into(), react(true), 0);
        v.outbox[0].sent = true;
        v.queue_op("r2".into(), react(false), 0);
        assert_eq!(v.outbox.len(), 2);
    }

    #[test]
    fn an_ack_that_comes_before_its_event_keeps_the_change_shown() {
        let mut v = RoomView::default();
        v.apply(welcome(vec![msg(1, ALICE, "a1")], false), 0);
        v.queue_op("e".into(), Op::Edit { id: 1, text: "better".into() }, 0);
        v.queue("p".into(), "next".into(), 0);
        // The room answers the sender first, then sends the events.
        v.apply(ServerFrame::Ack { client_id: "e".into(), seq: 2, ts: 2 }, 0);
        v.apply(ServerFrame::Ack { client_id: "p".into(), seq: 3, ts: 3 }, 0);
        assert!(v.outbox.is_empty(), "acknowledged: never sent again");
        assert_eq!(v.shown(1).map(|s| s.m.text).as_deref(), Some("better"), "no blink back to the old text");
        assert_eq!(v.pending_posts().count(), 1, "the post stays on screen until its message comes");
        v.apply(ServerFrame::Edited { seq: 2, id: 1, text: "better".into(), edited_ts: 2, mentions: vec![] }, 0);
        v.apply(ServerFrame::Message(ChatMessage { text: "next".into(), ..msg(3, ALICE, "p") }), 0);
        assert!(v.settling.is_empty());
        assert_eq!(v.pending_posts().count(), 0);
        assert_eq!(v.shown(1).map(|s| s.m.text).as_deref(), Some("better"));
        // An ack for what changed nothing names an event already applied: nothing to wait for.
        v.queue_op("r".into(), Op::React { id: 1, emoji: "👍".into(), on: false }, 0);
        v.apply(ServerFrame::Ack { client_id: "r".into(), seq: 3, ts: 3 }, 0);
        assert!(v.settling.is_empty());
    }

    #[test]
    fn an_unsent_post_is_rewritten_by_an_edit() {
        let mut v = RoomView::default();
        v.apply(welcome(vec![], false), 0);
        v.queue("c1".into(), "typo".into(), 0);
        let layout = v.layout;
        assert!(v.rewrite_post("c1", "fixed".into()));
        assert_eq!(v.outbox[0].post_text(), Some("fixed"));
        assert_ne!(v.layout, layout, "its row is drawn anew");
        v.outbox[0].sent = true;
        assert!(!v.rewrite_post("c1", "again".into()), "out on the wire: the room may have it");
    }

    #[test]
    fn a_conflict_drops_the_operation_and_shows_on_its_message() {
        let mut v = RoomView::default();
        v.apply(welcome(vec![msg(1, ALICE, "a1"), msg(2, BOB, "b2")], false), 0);
        v.queue_op("e".into(), Op::Edit { id: 1, text: "x".into() }, 0);
        v.queue_op("r".into(), Op::React { id: 2, emoji: "👍".into(), on: true }, 0);
        v.queue("p".into(), "post".into(), 0);
        v.apply(
            ServerFrame::Error {
                code: ErrorCode::MessageDeleted,
                message: "that message was deleted".into(),
                retry_after_ms: None,
                client_id: Some("e".into()),
            },
            0,
        );
        assert_eq!(v.conflicts.get(&1).map(String::as_str), Some("that message was deleted"));
        assert_eq!(v.shown(1).and_then(|s| s.conflict).as_deref(), Some("that message was deleted"));
        assert!(v.notice.is_none(), "shown on the message, not at the composer");
        v.apply(error(ErrorCode::NotAuthor, Some("r")), 0);
        v.apply(error(ErrorCode::TextTooLong, Some("p")), 0);
        assert_eq!(v.outbox.len(), 1, "the post waits for the person");
        assert_eq!(v.outbox[0].failed.as_deref(), Some("no"));
        assert!(v.conflicts.contains_key(&2));
        v.dismiss_conflict(1);
        assert!(v.shown(1).is_some_and(|s| s.conflict.is_none()));
    }

    #[test]
    fn saved_outboxes_of_older_pages_load_and_every_operation_round_trips() {
        let old = r#"[{"client_id":"c1","text":"hi","created_ms":5},
                      {"client_id":"c2","text":"yo","created_ms":6,"author":"alice","failed":"too long","sent":true}]"#;
        let saved: Vec<Pending> = serde_json::from_str(old).expect("older outboxes load");
        assert_eq!(saved[0].op, Op::Send { text: "hi".into(), reply_to: None });
        assert_eq!((saved[1].failed.as_deref(), saved[1].sent), (Some("too long"), true));
        let v = RoomView::default();
        let ops = [
            Op::Send { text: "hi".into(), reply_to: Some(3) },
            Op::Edit { id: 3, text: "new".into() },
            Op::Delete { id: 3 },
            Op::React { id: 3, emoji: "👍".into(), on: false },
        ];
        for op in ops {
            let p = v.pending("c".into(), op, 7);
            let text = serde_json::to_string(&p).expect("serializes");
            assert_eq!(serde_json::from_str::<Pending>(&text).expect("loads"), p, "{text}");
        }
        // A post is saved in the shape older pages read.
        let text = serde_json::to_string(&v.pending("c".into(), Op::Send { text: "hi".into(), reply_to: None }, 7))
            .expect("serializes");
        assert_eq!(text, r#"{"client_id":"c","text":"hi","created_ms":7,"author":""}"#);
        for bad in [r#"{"client_id":"c","op":"edit","text":"x"}"#, r#"{"client_id":"c","op":"zap","id":1}"#] {
            assert!(serde_json::from_str::<Pending>(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn unread_and_mentions_count_only_others() {
        let mut v = RoomView::default();
        let mention = ChatMessage { mentions: vec![ALICE], ..msg(3, BOB, "c") };
        v.apply(welcome(vec![msg(1, BOB, "a"), msg(2, ALICE, "b"), mention], false), 0);
        assert_eq!(v.count_after(1), 1);
        assert_eq!(v.count_after(0), 2);
        assert_eq!(v.mentions_after(0), 1);
        assert!(v.shown(3).is_some_and(|s| s.mentions_me));
        v.apply(ServerFrame::Deleted { seq: 4, id: 3, removed: false }, 0);
        assert_eq!(v.mentions_after(0), 0, "a deleted mention no longer calls");
    }

    #[test]
    fn our_reaction_toggles_with_set_semantics() {
        let mut r = thumbs(1, &["bob"], false);
        react(&mut r, "👍", false, "alice");
        assert_eq!(r, thumbs(1, &["bob"], false), "removing one we do not have changes nothing");
        react(&mut r, "👍", true, "alice");
        react(&mut r, "👍", true, "alice");
        assert_eq!(r, thumbs(2, &["bob", "alice"], true));
        let many: Vec<String> = (0..10).map(|i| format!("m{i}")).collect();
        let mut r = vec![Reaction { emoji: "🎉".into(), count: 10, names: many.clone(), mine: false }];
        react(&mut r, "🎉", true, "alice");
        assert_eq!((r[0].count, r[0].names.len()), (11, 10), "the sample stays at ten names");
        react(&mut r, "🎉", false, "alice");
        react(&mut r, "🎉", true, "zed");
        react(&mut r, "❤️", true, "alice");
        assert_eq!(r[1].emoji, "❤️");
        react(&mut r, "❤️", false, "alice");
        assert_eq!(r.len(), 1, "an emoji nobody has goes");
    }

    #[test]
    fn frames_that_change_nothing_say_so() {
        let mut v = RoomView::default();
        v.apply(welcome(vec![msg(1, BOB, "b1")], false), 0);
        assert!(!v.apply(ServerFrame::Message(msg(1, BOB, "b1")), 0));
        assert!(!v.apply(ServerFrame::MemberJoined(member(BOB)), 0));
        assert!(!v.apply(ServerFrame::Presence { joined: vec![], left: vec![member(CAROL)] }, 0));
        assert!(!v.apply(ServerFrame::Typing(member(ALICE)), 0));
        assert!(v.apply(ServerFrame::Message(msg(2, BOB, "b2")), 0));
    }

    #[test]
    fn typing_sentences() {
        assert_eq!(typing_text(&[]), None);
        assert_eq!(typing_text(&["alice"]).unwrap(), "alice is typing…");
        assert_eq!(typing_text(&["alice", "bob"]).unwrap(), "alice and bob are typing…");
        assert_eq!(typing_text(&["a", "b", "c"]).unwrap(), "several people are typing…");
    }

    #[test]
    fn grouping_is_by_member_id() {
        assert!(same_group(&msg(1, BOB, "a"), &msg(2, BOB, "b")));
        let renamed = ChatMessage { author: "Bob".into(), ..msg(2, BOB, "b") };
        assert!(same_group(&msg(1, BOB, "a"), &renamed));
        assert!(!same_group(&msg(1, BOB, "a"), &msg(2, CAROL, "b")));
        assert!(!same_group(&msg(1, BOB, "a"), &msg(1000, BOB, "b")));
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
    fn a_stored_copy_of_our_pending_post_in_the_first_welcome_clears_it() {
        let p = RoomView::default().pending("c1".into(), Op::Send { text: "hi".into(), reply_to: None }, 0);
        let mut v = RoomView::with_outbox(vec![p]);
        v.apply(welcome(vec![msg(1, ALICE, "c1")], false), 0);
        assert!(v.outbox.is_empty(), "not shown twice after a reload");
    }
}
