//! What a room's parts share ([`RoomCtx`]): the view, the link, the clock, and the small pieces
//! of page state the message rows, the toolbar and the composer hand each other (what is
//! being replied to or edited, the open picker, a jump in progress); and the person's
//! operations, each saved to the outbox and shown at once before the connection is told.

use crate::browser::{self, now_ms};
use crate::connection::Command;
use crate::engine::Link;
use crate::moderation::Rights;
use crate::outbox;
use crate::reactions;
use crate::state::{Op, Pending, RoomView};
use confab_shared::{Action, Seq};
use futures::channel::mpsc::UnboundedSender;
use leptos::html;
use leptos::prelude::*;

/// What the composer is editing instead of writing a new message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Editing {
    /// A stored message of ours, by id: saving sends an `edit`.
    Message(Seq),
    /// A post of ours that has not gone out: saving rewrites it.
    Pending(String),
}

/// What the room's parts share: the view, the link, the commands, the saved outbox, and the
/// small pieces of page state the message rows, the toolbar and the composer hand each other.
#[derive(Clone, Copy)]
pub struct RoomCtx {
    /// The room as the page knows it.
    pub view: RwSignal<RoomView>,
    /// The connection's state.
    pub link: RwSignal<Link>,
    /// The time, while something on screen needs it (see [`RoomPage`]).
    pub now: RwSignal<u64>,
    /// The composer's text (a pending message taken back to edit lands here).
    pub draft: RwSignal<String>,
    /// The composer, to focus.
    pub composer: NodeRef<html::Textarea>,
    /// The message the next post replies to (shown above the composer).
    pub reply_to: RwSignal<Option<Seq>>,
    /// What the composer is editing, if anything.
    pub editing: RwSignal<Option<Editing>>,
    /// What the person was writing when an edit took the composer: back once the edit is
    /// saved or cancelled.
    pub stash: RwSignal<String>,
    /// The message whose emoji picker is open.
    pub picker: RwSignal<Option<Seq>>,
    /// A jump in progress: the message wanted and the older pages asked for it so far.
    pub jump: RwSignal<Option<(Seq, u32)>>,
    /// The message highlighted after a jump, briefly.
    pub highlight: RwSignal<Option<Seq>>,
    /// A short status line ("Link copied"), announced politely.
    pub flash: RwSignal<Option<String>>,
    /// The message whose moderation menu is open.
    pub mod_menu: RwSignal<Option<Seq>>,
    /// Who we are and the roles known: what the message rows offer follows it (it changes
    /// only with a role, so a reaction or a typing line does not reach every row).
    pub rights: Memo<Rights>,
    commands: StoredValue<UnboundedSender<Command>>,
    outbox_key: StoredValue<String>,
    name: StoredValue<String>,
    room: StoredValue<String>,
}

impl RoomCtx {
    /// Tells the connection.
    pub fn send(&self, c: Command) {
        let _ = self.commands.with_value(|tx| tx.unbounded_send(c));
    }

    /// An operation the person made: into the outbox, saved, and on screen at once, whatever
    /// the connection is doing; then the connection is told.
    fn operate(&self, op: Op) {
        let mut p = self.view.with_untracked(|v| v.pending(browser::random_hex(16), op, now_ms()));
        p.author = self.name.get_value();
        let cid = p.client_id.clone();
        let Some(removed) = self.view.try_update(|v| v.push_pending(p)) else { return };
        // Saved as it stands after folding (it may have cancelled an earlier one).
        let kept: Vec<Pending> =
            self.view.with_untracked(|v| v.outbox.iter().filter(|q| q.client_id == cid).cloned().collect());
        self.outbox_key.with_value(|k| outbox::update(k, &kept, &removed));
        self.send(Command::Flush);
    }

    /// The person wrote a message (a reply, if one is being replied to).
    pub fn queue(&self, text: String) {
        let reply_to = self.reply_to.get_untracked();
        self.reply_to.set(None);
        self.operate(Op::Send { text, reply_to });
    }

    /// The person saved an edit of message `id` (nothing is sent if the text is the same).
    pub fn edit(&self, id: Seq, text: String) {
        let same = self.view.with_untracked(|v| v.shown(id).is_some_and(|s| s.m.text == text));
        if !same {
            self.operate(Op::Edit { id, text });
        }
    }

    /// The person deleted message `id`.
    pub fn delete(&self, id: Seq) {
        if self.reply_to.get_untracked() == Some(id) {
            self.reply_to.set(None);
        }
        // Deleting the message being edited ends the edit: what was being written comes back.
        if self.editing.get_untracked() == Some(Editing::Message(id)) {
            self.editing.set(None);
            self.draft.set(self.stash.try_update(std::mem::take).unwrap_or_default());
        }
        self.operate(Op::Delete { id });
    }

    /// The person added (`on`) or removed a reaction; the emoji goes first in their recent ones.
    pub fn react(&self, id: Seq, emoji: &str, on: bool) {
        let fits = self.view.with_untracked(|v| {
            let limit = v.limits.unwrap_or_default().reactions_per_message;
            v.shown(id).is_none_or(|s| reactions::has_room_for(&s.m.reactions, emoji, limit))
        });
        if on && !fits {
            self.say("This message has as many different reactions as it can take.");
            return;
        }
        if on {
            let recent = reactions::remember(browser::load(reactions::RECENT_KEY).unwrap_or_default(), emoji);
            browser::save(reactions::RECENT_KEY, &recent);
        }
        self.operate(Op::React { id, emoji: emoji.to_owned(), on });
    }

    /// Rewrites a post that has not gone out yet; whether it could.
    pub fn rewrite_pending(&self, client_id: &str, text: String) -> bool {
        let done = self.view.try_update(|v| v.rewrite_post(client_id, text)).unwrap_or(false);
        if done {
            let p: Vec<Pending> =
                self.view.with_untracked(|v| v.outbox.iter().filter(|p| p.client_id == client_id).cloned().collect());
            self.outbox_key.with_value(|k| outbox::update(k, &p, &[]));
            self.send(Command::Flush);
        }
        done
    }

    /// Takes a pending post out of the outbox (deleted, or back into the composer).
    pub fn cancel(&self, client_id: &str) -> Option<Pending> {
        let p = self.view.try_update(|v| v.cancel(client_id)).flatten()?;
        self.outbox_key.with_value(|k| outbox::update(k, &[], std::slice::from_ref(&p.client_id)));
        Some(p)
    }

    /// A moderation action, sent at once if the room is joined. Not saved: see `engine.rs`.
    pub fn moderate(&self, action: Action) {
        self.send(Command::Moderate { client_id: browser::random_hex(16), action });
    }

    /// Asks for the audit trail's newest page (`None`) or the page before entry `before`.
    pub fn audit(&self, before: Option<Seq>) {
        self.send(Command::Audit(before));
    }

    /// The room's name, as in its address.
    pub fn room(&self) -> String {
        self.room.get_value()
    }

    /// Scrolls to message `id`, paging back until it is loaded (see `list::jump_step`).
    pub fn jump_to(&self, id: Seq) {
        self.jump.set(Some((id, 0)));
    }

    /// The link to message `id`: `/r/{room}#m{id}` on this origin.
    pub fn link_to(&self, id: Seq) -> String {
        format!("{}/r/{}#m{id}", browser::origin(), self.room.get_value())
    }

    /// Shows a short status line for a few seconds.
    pub fn say(&self, text: &str) {
        let flash = self.flash;
        let text = text.to_owned();
        flash.set(Some(text.clone()));
        set_timeout(
            move || {
                if flash.try_get_untracked().flatten().as_deref() == Some(text.as_str()) {
                    flash.try_set(None);
                }
            },
            std::time::Duration::from_secs(4),
        );
    }

    /// Starts editing message `id` in the composer.
    pub fn start_edit(&self, id: Seq) {
        let Some(text) = self.view.with_untracked(|v| v.shown(id).filter(|s| s.mine && !s.m.deleted).map(|s| s.m.text))
        else {
            return;
        };
        self.reply_to.set(None);
        if self.editing.get_untracked().is_none() {
            self.stash.set(self.draft.get_untracked());
        }
        self.editing.set(Some(Editing::Message(id)));
        self.draft.set(text);
        self.focus_composer();
    }

    /// A context for the room `room` as `name`: operations are saved under `outbox_key` and
    /// the connection is told through `commands`.
    pub fn new(
        view: RwSignal<RoomView>,
        link: RwSignal<Link>,
        commands: UnboundedSender<Command>,
        outbox_key: String,
        name: String,
        room: String,
    ) -> Self {
        Self {
            view,
            link,
            now: RwSignal::new(now_ms()),
            draft: RwSignal::new(String::new()),
            composer: NodeRef::new(),
            reply_to: RwSignal::new(None),
            editing: RwSignal::new(None),
            stash: RwSignal::new(String::new()),
            picker: RwSignal::new(None),
            jump: RwSignal::new(None),
            highlight: RwSignal::new(None),
            flash: RwSignal::new(None),
            mod_menu: RwSignal::new(None),
            rights: Memo::new(move |_| view.with(RoomView::rights)),
            commands: StoredValue::new(commands),
            outbox_key: StoredValue::new(outbox_key),
            name: StoredValue::new(name),
            room: StoredValue::new(room),
        }
    }

    /// Stops the connection (the room is closed).
    pub fn close(&self) {
        self.commands.with_value(|tx| tx.close_channel());
    }

    /// A context over `view` with no connection behind it (component tests).
    #[cfg(test)]
    pub fn detached(view: RwSignal<RoomView>, now: u64) -> (Self, futures::channel::mpsc::UnboundedReceiver<Command>) {
        let (tx, rx) = futures::channel::mpsc::unbounded();
        let ctx = Self::new(
            view,
            RwSignal::new(Link::Online),
            tx,
            "test.outbox".to_owned(),
            "alice".to_owned(),
            "lobby".to_owned(),
        );
        ctx.now.set(now);
        (ctx, rx)
    }

    /// Focuses the composer.
    pub fn focus_composer(&self) {
        if let Some(el) = self.composer.get_untracked() {
            let _ = el.focus();
        }
    }
}
