//! What the room needs from storage, as a trait. Durable Object SQLite is synchronous, so the
//! room can call it in the middle of a rule: an event is stored and has its `seq` before any
//! effect that broadcasts it exists. `SqlStore` (in `sql.rs`) is the real one; [`MemoryStore`]
//! serves native tests, benchmarks of the room and fuzzing, with the same semantics.
//!
//! # The model
//! - **Members**: one row per (name, key) that ever joined: a stable [`MemberId`], the display
//!   name it last joined with, and its rate budget (so the budget survives hibernation).
//! - **Names**: which member holds each claim key now, and when it last joined. A claim
//!   unused for [`CLAIM_IDLE_MS`] lapses; the next key to take the name is a *new* member, so
//!   it can never edit or delete the old owner's messages.
//! - **Events**: the room's log. Every post, edit, delete and reaction change takes the next
//!   `seq`; `(member, client_id)` is unique, which makes a retried operation a no-op.
//! - **Messages**: each post's current state (id = its event's `seq`), earlier versions of
//!   edited text (at most [`VERSIONS_MAX`] each), and reactions as `(id, emoji, member)` rows.
//!
//! The rules (who may edit, caps, what a no-op is) are the room's; a store only records.

use crate::budget::Bucket;
use confab_shared::limits::VERSIONS_MAX;
use confab_shared::{Action, MemberId, MemberKey, Role, RoomSettings, Seq};
use sha2::{Digest, Sha256};
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::fmt;

/// Storage failed; the room answers `internal` and the client may retry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoreError(pub String);

impl fmt::Display for StoreError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "storage failed: {}", self.0)
    }
}

/// A claim on a name lapses when its owner has not joined with it for this long: another key
/// may then take it (as a new member). Claims cost nothing to make, so without this every
/// common name could be squatted forever.
pub const CLAIM_IDLE_MS: u64 = 90 * 24 * 60 * 60 * 1000;

/// The hash of a member key a room stores: salted with the room's own random salt, so the same
/// key in two rooms has unrelated hashes and identities cannot be linked across rooms from
/// storage. Keys are random 32+ character secrets, so one SHA-256 is enough.
pub fn key_hash(salt: &str, key: &MemberKey) -> String {
    hex(&Sha256::digest(format!("confab-member-key:v2:{salt}:{}", key.as_str())))
}

/// The unsalted hash protocol 1 rooms stored. A claim still holding one is re-hashed with the
/// salt the first time its owner joins.
pub fn legacy_key_hash(key: &MemberKey) -> String {
    hex(&Sha256::digest(format!("confab-member-key:v1:{}", key.as_str())))
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// A message as stored: the room adds its quote and reaction summary to make a
/// [`confab_shared::ChatMessage`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredMessage {
    /// Its post's `seq`.
    pub id: Seq,
    /// The newest event that changed it.
    pub version: Seq,
    /// The author.
    pub member: MemberId,
    /// The author's display name when posted.
    pub author: String,
    /// The author's id for the post.
    pub client_id: String,
    /// Current text; empty once deleted.
    pub text: String,
    /// When posted.
    pub ts: u64,
    /// When last edited.
    pub edited_ts: Option<u64>,
    /// A tombstone.
    pub deleted: bool,
    /// The message it replies to.
    pub reply_to: Option<Seq>,
    /// Members it mentions.
    pub mentions: Vec<MemberId>,
    /// Deleted by a moderator.
    pub removed: bool,
    /// Posted by a bot.
    pub bot: bool,
    /// Still being streamed.
    pub streaming: bool,
}

/// One member's reaction on one message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReactionRow {
    /// The message.
    pub id: Seq,
    /// The reaction.
    pub emoji: String,
    /// Who.
    pub member: MemberId,
    /// Their display name when they reacted.
    pub name: String,
    /// The event that added it (the summary orders emoji by first use, names by arrival:
    /// by seq, as timestamps tie).
    pub seq: Seq,
}

/// What an operation changes. The room has checked it is allowed and changes something.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Change<'a> {
    /// A new message.
    Post {
        /// Display name of the author.
        author: &'a str,
        /// Its text.
        text: &'a str,
        /// What it replies to.
        reply_to: Option<Seq>,
        /// Members it mentions.
        mentions: &'a [MemberId],
        /// Its author is a bot.
        bot: bool,
        /// The start of a streamed message.
        streaming: bool,
    },
    /// New text for message `id`; the old text becomes a version.
    Edit {
        /// Which message.
        id: Seq,
        /// The new text.
        text: &'a str,
        /// Members the new text mentions.
        mentions: &'a [MemberId],
    },
    /// Message `id` becomes a tombstone: its text, versions, mentions, quote, edit time and
    /// reactions go.
    Delete {
        /// Which message.
        id: Seq,
        /// By a moderator (recorded in the audit trail as [`Action::Remove`]).
        removed: bool,
    },
    /// `text` goes on the end of streamed message `id`.
    Append {
        /// Which message.
        id: Seq,
        /// The chunk.
        text: &'a str,
    },
    /// Streamed message `id` is complete.
    Finish {
        /// Which message.
        id: Seq,
    },
    /// A moderation action (not [`Action::Remove`], which is a `Delete`), applied and
    /// recorded in the audit trail. A `CreateBot` names the member `create_bot` made.
    Moderate {
        /// What.
        action: &'a Action,
    },
    /// The member's reaction `emoji` on message `id` is added (`on`) or removed.
    React {
        /// Which message.
        id: Seq,
        /// The reaction.
        emoji: &'a str,
        /// Add or remove.
        on: bool,
        /// The member's display name now, kept with the reaction as a post keeps its
        /// author's: a summary reads the same to everyone, whenever they look.
        name: &'a str,
    },
}

/// One operation to record as the next event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Op<'a> {
    /// The `seq` it takes if recorded: the one after the room's newest. The room is the only
    /// writer and reads its log's head from storage once, so it knows; the stores refuse a
    /// `seq` their own keys show taken rather than record an event out of order.
    pub seq: Seq,
    /// Who did it.
    pub member: MemberId,
    /// Their id for the operation (unique per member).
    pub client_id: &'a str,
    /// When (never before the newest event's `ts`).
    pub ts: u64,
    /// What it does.
    pub change: Change<'a>,
    /// The member's rate budget after paying for it, to save with the event; `None` when it
    /// need not be saved (see `Room`'s `bucket_to_save`).
    pub bucket: Option<Bucket>,
}

/// What [`RoomStore::append`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Appended {
    /// Recorded as event `seq`.
    Stored(Seq),
    /// This member already did an operation with this `client_id`; nothing was written.
    Duplicate {
        /// Its event.
        seq: Seq,
        /// When.
        ts: u64,
    },
}

/// A member as the room loads it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MemberInfo {
    /// Its id.
    pub id: MemberId,
    /// Its display name now.
    pub name: String,
    /// Its saved rate budget.
    pub bucket: Option<Bucket>,
    /// Its stored role: `Member`, `Moderator` or `Bot` (the owner is the room's record).
    pub role: Role,
    /// Muted until then.
    pub muted_until: Option<u64>,
    /// Banned (or, for a bot, revoked).
    pub banned: bool,
    /// The address (per-address key) it last joined from.
    pub addr: Option<String>,
    /// Its person's inbox (`confab_shared::inbox::inbox_id` of the key it joins with).
    pub inbox: Option<String>,
}

/// A member a key joined as.
pub type Claimed = MemberInfo;

/// What the room keeps about itself.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RoomRecord {
    /// Its owner, once someone owns it.
    pub owner: Option<MemberId>,
    /// The hash of the key that will own it (a private room's creator), until they join.
    pub owner_key: Option<String>,
    /// Topic, slow mode, invite-only.
    pub settings: RoomSettings,
    /// When slow mode was last set: posts from before it do not count towards the wait.
    pub slow_since: u64,
    /// A direct message: the two inboxes whose keys alone may join (issue 11).
    pub dm: Option<(String, String)>,
}

/// A bot's webhook.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Hook {
    /// The bot.
    pub bot: MemberInfo,
    /// Where deliveries go.
    pub url: String,
    /// What they are signed with.
    pub secret: String,
}

/// A queued webhook delivery, with where it goes now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Delivery {
    /// Its id in the queue.
    pub id: u64,
    /// The bot it is for, as it is now.
    pub hook: Hook,
    /// The message that mentioned the bot.
    pub message: Seq,
    /// The JSON body.
    pub body: String,
    /// Tries so far.
    pub attempts: u32,
}

/// One moderation event, as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditRow {
    /// Its seq.
    pub seq: Seq,
    /// When.
    pub ts: u64,
    /// Who acted (0: the admin secret).
    pub member: MemberId,
    /// The action.
    pub action: Action,
}

/// The room's storage. Every method is a few statements, which Durable Object write
/// coalescing commits together. Reads never write: looking at a room that was never written
/// to creates nothing.
pub trait RoomStore {
    /// The storage's epoch (random, made with the tables), if the room was ever written.
    fn epoch(&mut self) -> Result<Option<String>, StoreError>;
    /// The newest event's `(seq, ts)`, if any.
    fn latest(&mut self) -> Result<Option<(Seq, u64)>, StoreError>;
    /// Joins claim key `claim` with `key`: the member that holds it if the key is its owner's
    /// (renewing the claim and taking `display` as its name now), a new member if the name is
    /// free or its claim lapsed, `None` if someone else holds it.
    /// `addr` is the address it joins from (kept for bans by address).
    fn claim(
        &mut self,
        claim: &str,
        display: &str,
        key: &MemberKey,
        addr: Option<&str>,
        now_ms: u64,
    ) -> Result<Option<Claimed>, StoreError>;
    /// These members (those that exist).
    fn members(&mut self, ids: &[MemberId]) -> Result<Vec<MemberInfo>, StoreError>;
    /// The member holding claim key `claim` now.
    fn holder(&mut self, claim: &str) -> Result<Option<MemberId>, StoreError>;
    /// Where the operation `(member, client_id)` was recorded, if it was: `(seq, ts)`.
    fn find(&mut self, member: MemberId, client_id: &str) -> Result<Option<(Seq, u64)>, StoreError>;
    /// Records `op` as the next event, unless `(member, client_id)` is already recorded.
    fn append(&mut self, op: &Op<'_>) -> Result<Appended, StoreError>;
    /// These messages (those that exist), by id ascending.
    fn messages(&mut self, ids: &[Seq]) -> Result<Vec<StoredMessage>, StoreError>;
    /// The newest `limit` messages with `id < before`, oldest first.
    fn before(&mut self, before: Seq, limit: u32) -> Result<Vec<StoredMessage>, StoreError>;
    /// Ids of the messages changed by events after `since`, ascending, at most `limit`.
    fn changed_since(&mut self, since: Seq, limit: u32) -> Result<Vec<Seq>, StoreError>;
    /// Reactions on these messages, by message, then in the order they were added.
    fn reactions(&mut self, ids: &[Seq]) -> Result<Vec<ReactionRow>, StoreError>;
    /// Saves a member's rate budget (when its last socket closes with the budget spent).
    fn save_bucket(&mut self, member: MemberId, bucket: Bucket) -> Result<(), StoreError>;
    /// Earlier texts of message `id` with the `seq` that replaced each, oldest first (kept for
    /// moderators; not sent to clients).
    fn versions(&mut self, id: Seq) -> Result<Vec<(Seq, String)>, StoreError>;

    // --- Rooms with owners.

    /// The room's owner and settings (all defaults for a room never written).
    fn record(&mut self) -> Result<RoomRecord, StoreError>;
    /// A private room's creator: the first join with `key` will own it (creates the tables).
    fn set_owner_key(&mut self, key: &MemberKey) -> Result<(), StoreError>;
    /// Makes the room the direct message of inboxes `a` and `b` (creates the tables). False if
    /// it is already another pair's, or already has messages while not a direct message.
    fn set_dm(&mut self, a: &str, b: &str) -> Result<bool, StoreError>;
    /// `member` joined with `key`: it becomes the owner if the room has none yet and either
    /// no owner key was set or `key` is it. Returns the owner after.
    fn adopt_owner(&mut self, member: MemberId, key: &MemberKey) -> Result<Option<MemberId>, StoreError>;
    /// Whether `key` ever joined as a member under claim `claim` (an invite-only room lets
    /// them back in).
    fn is_member(&mut self, claim: &str, key: &MemberKey) -> Result<bool, StoreError>;
    /// Whether `code` is a live invite.
    fn invite_valid(&mut self, code: &str) -> Result<bool, StoreError>;
    /// Whether address `addr` is banned.
    fn address_banned(&mut self, addr: &str) -> Result<bool, StoreError>;
    /// A new bot named `display` (claim `claim`, which it holds for good) with `token` as its
    /// key; `None` if a member holds the name.
    fn create_bot(
        &mut self,
        claim: &str,
        display: &str,
        token: &MemberKey,
        now_ms: u64,
    ) -> Result<Option<MemberId>, StoreError>;
    /// Sets bot `id`'s token (made after its id, which it names).
    fn set_bot_token(&mut self, id: MemberId, token: &MemberKey) -> Result<(), StoreError>;
    /// The bot `id` if `token` is its (and it is not revoked).
    fn authenticate(&mut self, id: MemberId, token: &MemberKey) -> Result<Option<MemberInfo>, StoreError>;
    /// How many bots and live invites the room has.
    fn counts(&mut self) -> Result<(u32, u32), StoreError>;
    /// Moderation events with `seq < before`, the newest `limit`, oldest first.
    fn audit(&mut self, before: Seq, limit: u32) -> Result<Vec<AuditRow>, StoreError>;
    /// When `member` last posted.
    fn last_post(&mut self, member: MemberId) -> Result<Option<u64>, StoreError>;
    /// `member`'s messages that are not deleted, newest first, at most `limit`.
    fn posts_by(&mut self, member: MemberId, limit: u32) -> Result<Vec<Seq>, StoreError>;

    // --- Webhooks.

    /// Sets (`Some((url, secret))`) or clears bot `id`'s webhook.
    fn set_webhook(&mut self, id: MemberId, hook: Option<(&str, &str)>) -> Result<(), StoreError>;
    /// The webhooks of those of `ids` that are live bots with one.
    fn webhooks(&mut self, ids: &[MemberId]) -> Result<Vec<Hook>, StoreError>;
    /// Queues a delivery to `bot` about `message`, due at `due_ms`; past
    /// [`crate::webhook::QUEUE_MAX`] queued, the oldest go.
    fn enqueue(&mut self, bot: MemberId, message: Seq, body: &str, due_ms: u64) -> Result<(), StoreError>;
    /// Deliveries due by `now_ms` whose bot still has a webhook, at most `limit`, oldest first
    /// (those whose bot has none any more are dropped).
    fn due(&mut self, now_ms: u64, limit: u32) -> Result<Vec<Delivery>, StoreError>;
    /// Delivery `id` is done with (delivered, refused, or out of tries).
    fn finish_delivery(&mut self, id: u64) -> Result<(), StoreError>;
    /// Delivery `id` failed its `attempts`th try: due again at `due_ms`.
    fn reschedule(&mut self, id: u64, attempts: u32, due_ms: u64) -> Result<(), StoreError>;
    /// When the next delivery is due.
    fn next_due(&mut self) -> Result<Option<u64>, StoreError>;

    // --- Inboxes (issue 11, in progress).

    /// Keeps `member`'s inbox (its person's, from the key it joined with).
    fn set_inbox(&mut self, member: MemberId, inbox: &str) -> Result<(), StoreError>;
    /// Posts by others than `member` with `id > after`, not deleted, and of those the ones
    /// that mention `member`: each counted up to `cap`.
    fn unread_after(&mut self, member: MemberId, after: Seq, cap: u32) -> Result<(u32, u32), StoreError>;
    /// `member`'s inbox watches the room (replacing any watch by the same inbox).
    fn save_watch(&mut self, member: MemberId, inbox: &str) -> Result<(), StoreError>;
    /// It does not any more.
    fn drop_watch(&mut self, member: MemberId) -> Result<(), StoreError>;
    /// The watching inboxes, by member.
    fn watches(&mut self) -> Result<Vec<(MemberId, String)>, StoreError>;
    /// Streams under way: `(message id, author, ts of its newest event)`.
    fn open_streams(&mut self) -> Result<Vec<(Seq, MemberId, u64)>, StoreError>;
}

/// An in-memory [`RoomStore`] with the same semantics as the SQLite one.
#[derive(Debug, Default, Clone)]
pub struct MemoryStore {
    epoch: Option<String>,
    members: BTreeMap<MemberId, MemberRow>,
    names: HashMap<String, (MemberId, u64)>,
    /// seq → (message id (0 for a moderation event), member, client id, ts).
    events: BTreeMap<Seq, (Seq, MemberId, String, u64)>,
    /// seq → the moderation action an event recorded.
    actions: BTreeMap<Seq, Action>,
    record: RoomRecord,
    invites: BTreeSet<String>,
    /// Banned address → the ban's member.
    banned_addrs: HashMap<String, MemberId>,
    /// Bot → (url, secret).
    hooks: BTreeMap<MemberId, (String, String)>,
    /// Member → its watching inbox.
    watching: BTreeMap<MemberId, String>,
    /// id → (bot, message, body, attempts, due).
    deliveries: BTreeMap<u64, Queued>,
    ops: HashMap<(MemberId, String), Seq>,
    messages: BTreeMap<Seq, StoredMessage>,
    /// (id, emoji, member) → (the seq that added it, the name it was added under).
    reactions: BTreeMap<(Seq, String, MemberId), (Seq, String)>,
    versions: BTreeMap<(Seq, Seq), String>,
    /// When set, every call fails: lets tests check how the room answers a platform failure.
    pub fail: bool,
    /// Whether lapsed names were pruned (once per store, as the SQL store does per instance).
    pruned: bool,
}

/// A queued delivery in [`MemoryStore`]: (bot, message, body, attempts, due).
type Queued = (MemberId, Seq, String, u32, u64);

#[derive(Debug, Clone)]
struct MemberRow {
    /// The claim key it was made for.
    claim: String,
    key_hash: Option<String>,
    display: String,
    bucket: Option<Bucket>,
    role: Role,
    muted_until: Option<u64>,
    banned: bool,
    addr: Option<String>,
    inbox: Option<String>,
}

impl MemberRow {
    fn new(claim: &str, key_hash: String, display: &str) -> Self {
        Self {
            claim: claim.to_owned(),
            key_hash: Some(key_hash),
            display: display.to_owned(),
            bucket: None,
            role: Role::Member,
            muted_until: None,
            banned: false,
            addr: None,
            inbox: None,
        }
    }

    fn info(&self, id: MemberId) -> MemberInfo {
        MemberInfo {
            id,
            name: self.display.clone(),
            bucket: self.bucket,
            role: self.role,
            muted_until: self.muted_until,
            banned: self.banned,
            addr: self.addr.clone(),
            inbox: self.inbox.clone(),
        }
    }
}

/// The salt [`MemoryStore`] hashes with (storage the tests can read, like a real room's).
pub const MEMORY_SALT: &str = "memory-salt";

impl MemoryStore {
    /// Every stored message, oldest first.
    pub fn all(&self) -> impl Iterator<Item = &StoredMessage> {
        self.messages.values()
    }

    /// Every event as `(seq, message id)`, oldest first.
    pub fn events(&self) -> impl Iterator<Item = (Seq, Seq)> + '_ {
        self.events.iter().map(|(seq, (id, ..))| (*seq, *id))
    }

    /// Every stored key hash (for the test that no unsalted hash is kept).
    pub fn key_hashes(&self) -> impl Iterator<Item = &str> {
        self.members.values().filter_map(|m| m.key_hash.as_deref())
    }

    /// A room written by a protocol 1 build: its claims hold unsalted hashes (see
    /// [`legacy_key_hash`]). Returns the member.
    pub fn insert_legacy_claim(&mut self, claim: &str, display: &str, key: &MemberKey, ms: u64) -> MemberId {
        self.make_epoch();
        let id = self.members.keys().next_back().map_or(1, |k| k + 1);
        self.members.insert(id, MemberRow::new(claim, legacy_key_hash(key), display));
        self.names.insert(claim.to_owned(), (id, ms));
        id
    }

    /// The event an operation `(member, client_id)` was recorded as, if it was.
    pub fn find_op(&self, member: MemberId, client_id: &str) -> Option<Seq> {
        self.ops.get(&(member, client_id.to_owned())).copied()
    }

    /// The budget saved for a member, if any.
    pub fn saved_bucket(&self, member: MemberId) -> Option<Bucket> {
        self.members.get(&member).and_then(|m| m.bucket)
    }

    /// What a new instance of the object would do: prune lapsed claims again on its first
    /// join (the SQL store does it once per instance).
    pub fn new_instance(&mut self) {
        self.pruned = false;
    }

    /// Forgets the epoch and everything else: storage recreated.
    pub fn wipe(&mut self) {
        *self = Self { epoch: Some(format!("{}-wiped", self.epoch.clone().unwrap_or_default())), ..Self::default() };
    }

    fn check(&self) -> Result<(), StoreError> {
        if self.fail {
            Err(StoreError("injected failure".into()))
        } else {
            Ok(())
        }
    }

    fn make_epoch(&mut self) {
        if self.epoch.is_none() {
            self.epoch = Some("e1".to_owned());
        }
    }

    fn new_member(&mut self, claim: &str, display: &str, key: &MemberKey, now_ms: u64) -> MemberId {
        let id = self.members.keys().next_back().map_or(1, |k| k + 1);
        self.members.insert(id, MemberRow::new(claim, key_hash(MEMORY_SALT, key), display));
        self.names.insert(claim.to_owned(), (id, now_ms));
        id
    }

    /// A free or lapsed name: the key's own member again if it ever held this claim (an
    /// owner back after a lapse, whoever held it in between), else a new member.
    fn take_free(&mut self, claim: &str, display: &str, key: &MemberKey, addr: Option<&str>, now_ms: u64) -> Claimed {
        let hashes = [key_hash(MEMORY_SALT, key), legacy_key_hash(key)];
        let own = self
            .members
            .iter_mut()
            .rev()
            .find(|(_, m)| m.claim == claim && m.key_hash.as_ref().is_some_and(|h| hashes.contains(h)));
        let id = match own {
            Some((&id, m)) => {
                m.key_hash = Some(key_hash(MEMORY_SALT, key));
                m.display = display.to_owned();
                self.names.insert(claim.to_owned(), (id, now_ms));
                id
            }
            None => self.new_member(claim, display, key, now_ms),
        };
        let m = self.members.get_mut(&id).expect("found or made just above");
        if addr.is_some() {
            m.addr = addr.map(str::to_owned);
        }
        m.info(id)
    }

    fn apply_action(&mut self, action: &Action, ts: u64) -> Result<(), StoreError> {
        fn member<'m>(
            members: &'m mut BTreeMap<MemberId, MemberRow>,
            id: &MemberId,
        ) -> Result<&'m mut MemberRow, StoreError> {
            members.get_mut(id).ok_or_else(|| StoreError(format!("no member {id}")))
        }
        let members = &mut self.members;
        match action {
            Action::Mute { member: id, minutes } => {
                member(members, id)?.muted_until = (*minutes > 0).then(|| ts + u64::from(*minutes) * 60_000);
            }
            Action::Ban { member: id, ip, .. } => {
                let m = member(members, id)?;
                m.banned = true;
                let addr = m.addr.clone().filter(|_| *ip);
                if let Some(addr) = addr {
                    self.banned_addrs.insert(addr, *id);
                }
            }
            Action::Unban { member: id } => {
                member(members, id)?.banned = false;
                self.banned_addrs.retain(|_, m| m != id);
            }
            Action::SetRole { member: id, role } => member(members, id)?.role = *role,
            Action::RevokeBot { member: id } => {
                let m = member(members, id)?;
                m.banned = true;
                m.key_hash = None;
                self.hooks.remove(id);
            }
            Action::SlowMode { seconds } => {
                self.record.settings.slow_mode_secs = *seconds;
                self.record.slow_since = ts;
            }
            Action::Topic { text } => self.record.settings.topic = text.clone(),
            Action::InviteOnly { on } => self.record.settings.invite_only = *on,
            Action::CreateInvite { code } => {
                self.invites.insert(code.clone().ok_or_else(|| StoreError("an invite without a code".into()))?);
            }
            Action::RevokeInvite { code } => {
                self.invites.remove(code);
            }
            Action::CreateBot { .. } | Action::Remove { .. } => {}
        }
        Ok(())
    }

    fn message_mut(&mut self, id: Seq) -> Result<&mut StoredMessage, StoreError> {
        self.messages.get_mut(&id).ok_or_else(|| StoreError(format!("no message {id}")))
    }
}

impl RoomStore for MemoryStore {
    fn epoch(&mut self) -> Result<Option<String>, StoreError> {
        self.check()?;
        Ok(self.epoch.clone())
    }

    fn latest(&mut self) -> Result<Option<(Seq, u64)>, StoreError> {
        self.check()?;
        Ok(self.events.iter().next_back().map(|(seq, (_, _, _, ts))| (*seq, *ts)))
    }

    fn claim(
        &mut self,
        claim: &str,
        display: &str,
        key: &MemberKey,
        addr: Option<&str>,
        now_ms: u64,
    ) -> Result<Option<Claimed>, StoreError> {
        self.check()?;
        self.make_epoch();
        if !std::mem::replace(&mut self.pruned, true) {
            self.names.retain(|_, (_, ms)| now_ms.saturating_sub(*ms) < CLAIM_IDLE_MS);
        }
        let Some(&(id, ms)) = self.names.get(claim) else {
            return Ok(Some(self.take_free(claim, display, key, addr, now_ms)));
        };
        let row = self.members.get_mut(&id).ok_or_else(|| StoreError("a name points at no member".into()))?;
        let owner = row.key_hash.as_deref() == Some(&key_hash(MEMORY_SALT, key))
            || row.key_hash.as_deref() == Some(&legacy_key_hash(key));
        if owner {
            row.key_hash = Some(key_hash(MEMORY_SALT, key));
            row.display = display.to_owned();
            if addr.is_some() {
                row.addr = addr.map(str::to_owned);
            }
            let info = row.info(id);
            self.names.insert(claim.to_owned(), (id, ms.max(now_ms)));
            return Ok(Some(info));
        }
        if now_ms.saturating_sub(ms) >= CLAIM_IDLE_MS {
            return Ok(Some(self.take_free(claim, display, key, addr, now_ms)));
        }
        Ok(None)
    }

    fn members(&mut self, ids: &[MemberId]) -> Result<Vec<MemberInfo>, StoreError> {
        self.check()?;
        Ok(ids
            .iter()
            .collect::<BTreeSet<_>>()
            .into_iter()
            .filter_map(|id| self.members.get(id).map(|m| m.info(*id)))
            .collect())
    }

    fn holder(&mut self, claim: &str) -> Result<Option<MemberId>, StoreError> {
        self.check()?;
        Ok(self.names.get(claim).map(|(id, _)| *id))
    }

    fn find(&mut self, member: MemberId, client_id: &str) -> Result<Option<(Seq, u64)>, StoreError> {
        self.check()?;
        let Some(&seq) = self.ops.get(&(member, client_id.to_owned())) else { return Ok(None) };
        let ts = self.events.get(&seq).map(|e| e.3).ok_or_else(|| StoreError("index points nowhere".into()))?;
        Ok(Some((seq, ts)))
    }

    fn append(&mut self, op: &Op<'_>) -> Result<Appended, StoreError> {
        self.check()?;
        if let Some((seq, ts)) = self.find(op.member, op.client_id)? {
            return Ok(Appended::Duplicate { seq, ts });
        }
        self.make_epoch();
        let seq = self.events.keys().next_back().map_or(1, |s| s + 1);
        if seq != op.seq {
            return Err(StoreError(format!("the room expected seq {}, the log is at {}", op.seq, seq - 1)));
        }
        let id = match &op.change {
            Change::Post { author, text, reply_to, mentions, bot, streaming } => {
                let m = StoredMessage {
                    id: seq,
                    version: seq,
                    member: op.member,
                    author: (*author).to_owned(),
                    client_id: op.client_id.to_owned(),
                    text: (*text).to_owned(),
                    ts: op.ts,
                    edited_ts: None,
                    deleted: false,
                    reply_to: *reply_to,
                    mentions: mentions.to_vec(),
                    removed: false,
                    bot: *bot,
                    streaming: *streaming,
                };
                self.messages.insert(seq, m);
                seq
            }
            Change::Edit { id, text, mentions } => {
                let m = self.message_mut(*id)?;
                let old = std::mem::replace(&mut m.text, (*text).to_owned());
                m.mentions = mentions.to_vec();
                m.edited_ts = Some(op.ts);
                m.version = seq;
                self.versions.insert((*id, seq), old);
                let kept: Vec<_> = self.versions.range((*id, 0)..(*id + 1, 0)).map(|(k, _)| *k).collect();
                for k in kept.iter().take(kept.len().saturating_sub(VERSIONS_MAX as usize)) {
                    self.versions.remove(k);
                }
                *id
            }
            Change::Delete { id, removed } => {
                let m = self.message_mut(*id)?;
                m.text.clear();
                m.mentions.clear();
                m.edited_ts = None;
                m.reply_to = None;
                m.deleted = true;
                m.removed = *removed;
                m.streaming = false;
                m.version = seq;
                if *removed {
                    self.actions.insert(seq, Action::Remove { id: *id });
                }
                self.versions.retain(|(i, _), _| i != id);
                self.reactions.retain(|(i, _, _), _| i != id);
                *id
            }
            Change::React { id, emoji, on, name } => {
                self.message_mut(*id)?.version = seq;
                let k = (*id, (*emoji).to_owned(), op.member);
                if *on {
                    self.reactions.entry(k).or_insert_with(|| (seq, (*name).to_owned()));
                } else {
                    self.reactions.remove(&k);
                }
                *id
            }
            Change::Append { id, text } => {
                let m = self.message_mut(*id)?;
                m.text.push_str(text);
                m.version = seq;
                *id
            }
            Change::Finish { id } => {
                let m = self.message_mut(*id)?;
                m.streaming = false;
                m.version = seq;
                *id
            }
            Change::Moderate { action } => {
                self.apply_action(action, op.ts)?;
                self.actions.insert(seq, (*action).clone());
                0
            }
        };
        self.events.insert(seq, (id, op.member, op.client_id.to_owned(), op.ts));
        self.ops.insert((op.member, op.client_id.to_owned()), seq);
        if let (Some(m), Some(b)) = (self.members.get_mut(&op.member), op.bucket) {
            m.bucket = Some(b);
        }
        Ok(Appended::Stored(seq))
    }

    fn messages(&mut self, ids: &[Seq]) -> Result<Vec<StoredMessage>, StoreError> {
        self.check()?;
        let ids: BTreeSet<_> = ids.iter().collect();
        Ok(ids.into_iter().filter_map(|id| self.messages.get(id).cloned()).collect())
    }

    fn before(&mut self, before: Seq, limit: u32) -> Result<Vec<StoredMessage>, StoreError> {
        self.check()?;
        let mut page: Vec<_> =
            self.messages.range(..before).rev().take(limit as usize).map(|(_, m)| m.clone()).collect();
        page.reverse();
        Ok(page)
    }

    fn changed_since(&mut self, since: Seq, limit: u32) -> Result<Vec<Seq>, StoreError> {
        self.check()?;
        let ids: BTreeSet<Seq> =
            self.events.range(since.saturating_add(1)..).map(|(_, e)| e.0).filter(|id| *id > 0).collect();
        Ok(ids.into_iter().take(limit as usize).collect())
    }

    fn reactions(&mut self, ids: &[Seq]) -> Result<Vec<ReactionRow>, StoreError> {
        self.check()?;
        let mut rows = Vec::new();
        for id in ids.iter().collect::<BTreeSet<_>>() {
            let mut of: Vec<_> = self
                .reactions
                .range((*id, String::new(), 0)..)
                .take_while(|((i, _, _), _)| i == id)
                .map(|((i, emoji, member), (seq, name))| ReactionRow {
                    id: *i,
                    emoji: emoji.clone(),
                    member: *member,
                    name: name.clone(),
                    seq: *seq,
                })
                .collect();
            of.sort_by_key(|r| r.seq);
            rows.extend(of);
        }
        Ok(rows)
    }

    fn save_bucket(&mut self, member: MemberId, bucket: Bucket) -> Result<(), StoreError> {
        self.check()?;
        if let Some(m) = self.members.get_mut(&member) {
            m.bucket = Some(bucket);
        }
        Ok(())
    }

    fn versions(&mut self, id: Seq) -> Result<Vec<(Seq, String)>, StoreError> {
        self.check()?;
        Ok(self.versions.range((id, 0)..(id + 1, 0)).map(|((_, v), t)| (*v, t.clone())).collect())
    }

    fn record(&mut self) -> Result<RoomRecord, StoreError> {
        self.check()?;
        Ok(self.record.clone())
    }

    fn set_owner_key(&mut self, key: &MemberKey) -> Result<(), StoreError> {
        self.check()?;
        self.make_epoch();
        if self.record.owner.is_none() && self.record.owner_key.is_none() {
            self.record.owner_key = Some(key_hash(MEMORY_SALT, key));
        }
        Ok(())
    }

    fn adopt_owner(&mut self, member: MemberId, key: &MemberKey) -> Result<Option<MemberId>, StoreError> {
        self.check()?;
        if self.record.owner.is_none()
            && self.record.owner_key.as_ref().is_none_or(|h| *h == key_hash(MEMORY_SALT, key))
        {
            self.record.owner = Some(member);
            self.record.owner_key = None;
        }
        Ok(self.record.owner)
    }

    fn is_member(&mut self, claim: &str, key: &MemberKey) -> Result<bool, StoreError> {
        self.check()?;
        let hashes = [key_hash(MEMORY_SALT, key), legacy_key_hash(key)];
        Ok(self.members.values().any(|m| m.claim == claim && m.key_hash.as_ref().is_some_and(|h| hashes.contains(h))))
    }

    fn invite_valid(&mut self, code: &str) -> Result<bool, StoreError> {
        self.check()?;
        Ok(self.invites.contains(code))
    }

    fn address_banned(&mut self, addr: &str) -> Result<bool, StoreError> {
        self.check()?;
        Ok(self.banned_addrs.contains_key(addr))
    }

    fn create_bot(
        &mut self,
        claim: &str,
        display: &str,
        token: &MemberKey,
        _now_ms: u64,
    ) -> Result<Option<MemberId>, StoreError> {
        self.check()?;
        self.make_epoch();
        if self.names.contains_key(claim) {
            return Ok(None);
        }
        // A bot's claim never lapses.
        let id = self.new_member(claim, display, token, u64::MAX / 2);
        if let Some(m) = self.members.get_mut(&id) {
            m.role = Role::Bot;
        }
        Ok(Some(id))
    }

    fn set_bot_token(&mut self, id: MemberId, token: &MemberKey) -> Result<(), StoreError> {
        self.check()?;
        let m = self.members.get_mut(&id).ok_or_else(|| StoreError(format!("no member {id}")))?;
        m.key_hash = Some(key_hash(MEMORY_SALT, token));
        Ok(())
    }

    fn authenticate(&mut self, id: MemberId, token: &MemberKey) -> Result<Option<MemberInfo>, StoreError> {
        self.check()?;
        let hash = key_hash(MEMORY_SALT, token);
        Ok(self
            .members
            .get(&id)
            .filter(|m| m.role == Role::Bot && !m.banned && m.key_hash.as_deref() == Some(&hash))
            .map(|m| m.info(id)))
    }

    fn counts(&mut self) -> Result<(u32, u32), StoreError> {
        self.check()?;
        let bots = self.members.values().filter(|m| m.role == Role::Bot && m.key_hash.is_some()).count();
        Ok((bots as u32, self.invites.len() as u32))
    }

    fn audit(&mut self, before: Seq, limit: u32) -> Result<Vec<AuditRow>, StoreError> {
        self.check()?;
        let mut rows: Vec<AuditRow> = self
            .actions
            .range(..before)
            .rev()
            .take(limit as usize)
            .filter_map(|(seq, action)| {
                let (_, member, _, ts) = self.events.get(seq)?;
                Some(AuditRow { seq: *seq, ts: *ts, member: *member, action: action.clone() })
            })
            .collect();
        rows.reverse();
        Ok(rows)
    }

    fn last_post(&mut self, member: MemberId) -> Result<Option<u64>, StoreError> {
        self.check()?;
        Ok(self.messages.values().rev().find(|m| m.member == member).map(|m| m.ts))
    }

    fn posts_by(&mut self, member: MemberId, limit: u32) -> Result<Vec<Seq>, StoreError> {
        self.check()?;
        Ok(self
            .messages
            .values()
            .rev()
            .filter(|m| m.member == member && !m.deleted)
            .take(limit as usize)
            .map(|m| m.id)
            .collect())
    }

    fn set_webhook(&mut self, id: MemberId, hook: Option<(&str, &str)>) -> Result<(), StoreError> {
        self.check()?;
        match hook {
            Some((url, secret)) => self.hooks.insert(id, (url.to_owned(), secret.to_owned())),
            None => self.hooks.remove(&id),
        };
        Ok(())
    }

    fn webhooks(&mut self, ids: &[MemberId]) -> Result<Vec<Hook>, StoreError> {
        self.check()?;
        Ok(ids
            .iter()
            .filter_map(|id| {
                let m = self.members.get(id).filter(|m| m.role == Role::Bot && !m.banned)?;
                let (url, secret) = self.hooks.get(id)?;
                Some(Hook { bot: m.info(*id), url: url.clone(), secret: secret.clone() })
            })
            .collect())
    }

    fn enqueue(&mut self, bot: MemberId, message: Seq, body: &str, due_ms: u64) -> Result<(), StoreError> {
        self.check()?;
        // As SQLite numbers rows: one past the largest there is now (an id comes back once
        // its row is gone).
        let id = self.deliveries.keys().next_back().map_or(1, |k| k + 1);
        self.deliveries.insert(id, (bot, message, body.to_owned(), 0, due_ms));
        while self.deliveries.len() > crate::webhook::QUEUE_MAX as usize {
            self.deliveries.pop_first();
        }
        Ok(())
    }

    fn due(&mut self, now_ms: u64, limit: u32) -> Result<Vec<Delivery>, StoreError> {
        self.check()?;
        // As the SQL store: deliveries whose bot has no webhook, or is banned or revoked, go.
        let live = |bot: &MemberId| {
            self.hooks.contains_key(bot) && self.members.get(bot).is_some_and(|m| m.role == Role::Bot && !m.banned)
        };
        let hookless: Vec<u64> = self.deliveries.iter().filter(|(_, d)| !live(&d.0)).map(|(id, _)| *id).collect();
        for id in hookless {
            self.deliveries.remove(&id);
        }
        let due: Vec<(u64, Queued)> = self
            .deliveries
            .iter()
            .filter(|(_, d)| d.4 <= now_ms)
            .take(limit as usize)
            .map(|(id, d)| (*id, d.clone()))
            .collect();
        let mut out = Vec::new();
        for (id, (bot, message, body, attempts, _)) in due {
            if let Some(hook) = self.webhooks(&[bot])?.into_iter().next() {
                out.push(Delivery { id, hook, message, body, attempts });
            }
        }
        Ok(out)
    }

    fn finish_delivery(&mut self, id: u64) -> Result<(), StoreError> {
        self.check()?;
        self.deliveries.remove(&id);
        Ok(())
    }

    fn reschedule(&mut self, id: u64, attempts: u32, due_ms: u64) -> Result<(), StoreError> {
        self.check()?;
        if let Some(d) = self.deliveries.get_mut(&id) {
            d.3 = attempts;
            d.4 = due_ms;
        }
        Ok(())
    }

    fn next_due(&mut self) -> Result<Option<u64>, StoreError> {
        self.check()?;
        Ok(self.deliveries.values().map(|d| d.4).min())
    }

    fn open_streams(&mut self) -> Result<Vec<(Seq, MemberId, u64)>, StoreError> {
        self.check()?;
        Ok(self
            .messages
            .values()
            .filter(|m| m.streaming)
            .map(|m| {
                let at = self.events.get(&m.version).map_or(m.ts, |e| e.3);
                (m.id, m.member, at)
            })
            .collect())
    }

    fn set_inbox(&mut self, member: MemberId, inbox: &str) -> Result<(), StoreError> {
        self.check()?;
        if let Some(m) = self.members.get_mut(&member) {
            m.inbox = Some(inbox.to_owned());
        }
        Ok(())
    }

    fn unread_after(&mut self, member: MemberId, after: Seq, cap: u32) -> Result<(u32, u32), StoreError> {
        self.check()?;
        let unread: Vec<&StoredMessage> = self
            .messages
            .range(after.saturating_add(1)..)
            .map(|(_, m)| m)
            .filter(|m| m.member != member && !m.deleted)
            .take(cap as usize)
            .collect();
        let mentions = unread.iter().filter(|m| m.mentions.contains(&member)).count();
        Ok((unread.len() as u32, mentions as u32))
    }

    fn save_watch(&mut self, member: MemberId, inbox: &str) -> Result<(), StoreError> {
        self.check()?;
        self.watching.retain(|m, i| *m == member || i != inbox);
        self.watching.insert(member, inbox.to_owned());
        Ok(())
    }

    fn drop_watch(&mut self, member: MemberId) -> Result<(), StoreError> {
        self.check()?;
        self.watching.remove(&member);
        Ok(())
    }

    fn watches(&mut self) -> Result<Vec<(MemberId, String)>, StoreError> {
        self.check()?;
        Ok(self.watching.iter().map(|(m, i)| (*m, i.clone())).collect())
    }

    fn set_dm(&mut self, a: &str, b: &str) -> Result<bool, StoreError> {
        self.check()?;
        self.make_epoch();
        match &self.record.dm {
            Some((x, y)) => Ok((x.as_str(), y.as_str()) == (a, b)),
            None if !self.messages.is_empty() => Ok(false),
            None => {
                self.record.dm = Some((a.to_owned(), b.to_owned()));
                Ok(true)
            }
        }
    }
}
