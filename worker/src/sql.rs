//! [`RoomStore`] on the Durable Object's SQLite, and the upgrade of rooms written by older
//! builds. The schema is made by the first write, so reading a room that does not exist (any
//! `GET` of a made-up name) writes nothing.
//!
//! Tables (see `store.rs` for the model):
//! - `meta (key, value)`: `schema` (4), `epoch` and `salt` (random hex, made with the tables);
//!   the room's `owner` (a member id) or `owner_key` (a private room's creator's key hash,
//!   until they join), and its settings: `topic`, `slow_mode_secs`, `invite_only`.
//! - `members (id, claim, key_hash, display, bucket_milli, bucket_at, role, muted_until,
//!   banned, addr)`: `claim` is the claim key the member was made for, so an owner whose
//!   lapsed claim was pruned gets it back; `role` is 0 member, 1 bot, 2 moderator; `addr` the
//!   per-address key it last joined from (for bans by address). A bot's `key_hash` is its
//!   token's.
//! - `names (claim, member, claimed_ms)`: who holds each claim key.
//! - `posts (id, version, member, author, client_id, text, ts, edited_ts, deleted, reply_to,
//!   mentions, removed, bot, streaming)`: each message as it is now (`mentions` is a comma-separated list of ids). A
//!   post is its own event: its `id` is its `seq`, so storing one is a single insert.
//! - `events (seq, id, member, client_id, ts, action)`: every other event (edits, deletes,
//!   reaction changes, a stream's chunks) of message `id`, and moderation events (`id` 0 but
//!   for a removal; `action` is the JSON of the `Action`, which makes the audit trail). The log is the two together: `seq`s are taken from both, one
//!   after the other, and `(member, client_id)` is unique across both.
//! - `reactions (id, emoji, member, seq, name)` (`seq`: the event that added it; `name`: the
//!   member's name then) and
//!   `versions (id, version, text, ts)`.
//! - `bans (addr, member)`: banned addresses; `invites (code, member, created_ms)`.
//! - `deliveries (id, bot, message, body, attempts, due_ms)`: the webhook queue (a bot's
//!   `webhook_url` and `webhook_secret` are on its `members` row).
//!
//! A method that writes more than once runs in one `transactionSync` ([`atomically`]): an
//! event is never stored without the change it records, and a failure leaves nothing.

use crate::budget::Bucket;
use crate::migrate::{plan_members, stored_claims, ClaimRow};
use crate::store::*;
use confab_shared::limits::VERSIONS_MAX;
use confab_shared::{Action, MemberId, MemberKey, Role, Seq};
use serde::Deserialize;
use std::cell::{Cell, RefCell};
use wasm_bindgen::{JsCast, JsValue};
use worker::*;

/// SQLite stores integers as i64 and the JS bridge as f64: keep bounds inside 2^53.
const MAX_SAFE: Seq = (1 << 53) - 1;
/// The schema this build writes.
const SCHEMA: u64 = 5;

#[wasm_bindgen::prelude::wasm_bindgen]
extern "C" {
    /// The runtime's `DurableObjectStorage`, for the one method workers-rs does not bind.
    #[wasm_bindgen(extends = js_sys::Object)]
    type TxStorage;
    /// Runs `callback` in a transaction: committed when it returns, rolled back when it
    /// throws (here: returns `Err`). Durable Object SQL refuses `BEGIN`; this is the way.
    #[wasm_bindgen(method, catch, js_name = transactionSync)]
    fn transaction_sync(
        this: &TxStorage,
        callback: &mut dyn FnMut() -> std::result::Result<JsValue, JsValue>,
    ) -> std::result::Result<JsValue, JsValue>;
}

/// Runs `body` in one transaction of `storage` (the runtime's `DurableObjectStorage`): its
/// writes all happen, or, if it fails (or the commit does), none of them.
pub fn atomically<T>(
    storage: &JsValue,
    body: impl FnOnce() -> std::result::Result<T, StoreError>,
) -> std::result::Result<T, StoreError> {
    let tx: &TxStorage = storage.unchecked_ref();
    let mut body = Some(body);
    let mut out: Option<std::result::Result<T, StoreError>> = None;
    let mut run = || {
        let result = body.take().map_or_else(|| Err(StoreError("the transaction ran twice".into())), |b| b());
        let failed = result.is_err();
        out = Some(result);
        if failed {
            Err(JsValue::from_str("rolled back"))
        } else {
            Ok(JsValue::UNDEFINED)
        }
    };
    let committed = tx.transaction_sync(&mut run);
    match (out, committed) {
        (Some(Err(e)), _) => Err(e),
        (Some(Ok(v)), Ok(_)) => Ok(v),
        (_, Err(e)) => Err(StoreError(format!("the transaction failed: {e:?}"))),
        (None, Ok(_)) => Err(StoreError("the transaction did not run".into())),
    }
}

/// What one Durable Object instance caches about its storage.
#[derive(Default)]
pub struct SqlCache {
    /// Whether the tables exist.
    pub schema: Cell<bool>,
    /// Whether lapsed claims were deleted since this instance started (once is enough).
    pub pruned: Cell<bool>,
    /// The room's salt and epoch, once read.
    pub salt: RefCell<Option<String>>,
    /// See `salt`.
    pub epoch: RefCell<Option<String>>,
    /// The tables were created by the transaction under way: if it rolls back, so must what
    /// this cache says about them.
    pub created: Cell<bool>,
    /// A claim unused this long lapses (`CLAIM_IDLE_MS`; 90 days unless a test shortens it).
    pub claim_idle_ms: Cell<u64>,
}

impl SqlCache {
    /// A cache that knows nothing yet, with the claim lapse time.
    pub fn new(claim_idle_ms: u64) -> Self {
        Self { claim_idle_ms: Cell::new(claim_idle_ms), ..Self::default() }
    }

    /// After a transaction: if it failed and had created the tables, they are gone again.
    fn settle<T>(&self, result: &std::result::Result<T, StoreError>) {
        if result.is_err() && self.created.get() {
            self.schema.set(false);
            self.salt.replace(None);
            self.epoch.replace(None);
        }
        self.created.set(false);
    }
}

/// The store of one Durable Object.
pub struct SqlStore<'a> {
    /// The object's SQLite.
    pub sql: SqlStorage,
    /// The runtime's `DurableObjectStorage`, for transactions.
    pub storage: &'a JsValue,
    /// Its cache.
    pub cache: &'a SqlCache,
}

fn store_err(e: Error) -> StoreError {
    StoreError(e.to_string())
}

fn int(v: u64) -> SqlStorageValue {
    SqlStorageValue::Integer(v.min(MAX_SAFE) as i64)
}

fn opt_int(v: Option<u64>) -> SqlStorageValue {
    v.map_or(SqlStorageValue::Null, int)
}

/// A random token, as `prefix` then 32 hex digits. The prefix keeps it text: the `meta` of
/// rooms made by older builds has a column of integer affinity, which would turn an
/// all-digit token into a number.
fn random_token(prefix: char) -> String {
    let mut bytes = [0u8; 16];
    // The runtime's crypto.getRandomValues; it does not fail in a Worker.
    if getrandom::getrandom(&mut bytes).is_err() {
        let now = Date::now().as_millis();
        bytes[..8].copy_from_slice(&now.to_le_bytes());
    }
    std::iter::once(prefix.to_string()).chain(bytes.iter().map(|b| format!("{b:02x}"))).collect()
}

/// A member's saved rate budget, from its two columns (both null: never saved).
fn saved_bucket(milli: Option<f64>, at_ms: Option<f64>) -> Option<Bucket> {
    milli.zip(at_ms).map(|(m, a)| Bucket { milli: m as u64, at_ms: a as u64 })
}

fn ids_list(ids: &[u64]) -> String {
    ids.iter().map(u64::to_string).collect::<Vec<_>>().join(",")
}

fn parse_ids(s: &str) -> Vec<u64> {
    s.split(',').filter_map(|p| p.parse().ok()).collect()
}

#[derive(Deserialize)]
struct SeqTs {
    seq: f64,
    ts: f64,
}

#[derive(Deserialize)]
struct PostRow {
    id: f64,
    version: f64,
    member: f64,
    author: String,
    client_id: String,
    text: String,
    ts: f64,
    edited_ts: Option<f64>,
    deleted: f64,
    reply_to: Option<f64>,
    mentions: String,
    removed: f64,
    bot: f64,
    streaming: f64,
}

impl From<PostRow> for StoredMessage {
    fn from(r: PostRow) -> Self {
        Self {
            id: r.id as Seq,
            version: r.version as Seq,
            member: r.member as MemberId,
            author: r.author,
            client_id: r.client_id,
            text: r.text,
            ts: r.ts as u64,
            edited_ts: r.edited_ts.map(|t| t as u64),
            deleted: r.deleted != 0.0,
            reply_to: r.reply_to.map(|t| t as Seq),
            mentions: parse_ids(&r.mentions),
            removed: r.removed != 0.0,
            bot: r.bot != 0.0,
            streaming: r.streaming != 0.0,
        }
    }
}

const POST_COLUMNS: &str =
    "id, version, member, author, client_id, text, ts, edited_ts, deleted, reply_to, mentions, removed, bot, streaming";

fn role_of(n: f64) -> Role {
    match n as u8 {
        1 => Role::Bot,
        2 => Role::Moderator,
        _ => Role::Member,
    }
}

fn role_int(r: Role) -> u64 {
    match r {
        Role::Bot => 1,
        Role::Moderator => 2,
        Role::Member | Role::Owner => 0,
    }
}

/// A member row as the room loads it.
#[derive(Deserialize)]
struct MemberRow {
    id: f64,
    display: String,
    bucket_milli: Option<f64>,
    bucket_at: Option<f64>,
    role: f64,
    muted_until: Option<f64>,
    banned: f64,
    addr: Option<String>,
    inbox: Option<String>,
}

const MEMBER_COLUMNS: &str = "id, display, bucket_milli, bucket_at, role, muted_until, banned, addr, inbox";

impl From<MemberRow> for MemberInfo {
    fn from(r: MemberRow) -> Self {
        Self {
            id: r.id as MemberId,
            name: r.display,
            bucket: saved_bucket(r.bucket_milli, r.bucket_at),
            role: role_of(r.role),
            muted_until: r.muted_until.map(|t| t as u64),
            banned: r.banned != 0.0,
            addr: r.addr,
            inbox: r.inbox,
        }
    }
}

/// The columns and tables schema 4 added, for a room made by schema 3.
const SCHEMA_4: [&str; 14] = [
    "ALTER TABLE members ADD COLUMN role INTEGER NOT NULL DEFAULT 0",
    "ALTER TABLE members ADD COLUMN muted_until INTEGER",
    "ALTER TABLE members ADD COLUMN banned INTEGER NOT NULL DEFAULT 0",
    "ALTER TABLE members ADD COLUMN addr TEXT",
    "ALTER TABLE members ADD COLUMN webhook_url TEXT",
    "ALTER TABLE members ADD COLUMN webhook_secret TEXT",
    "ALTER TABLE posts ADD COLUMN removed INTEGER NOT NULL DEFAULT 0",
    "ALTER TABLE posts ADD COLUMN bot INTEGER NOT NULL DEFAULT 0",
    "ALTER TABLE posts ADD COLUMN streaming INTEGER NOT NULL DEFAULT 0",
    "ALTER TABLE events ADD COLUMN action TEXT",
    "CREATE TABLE IF NOT EXISTS bans (addr TEXT PRIMARY KEY, member INTEGER NOT NULL)",
    "CREATE TABLE IF NOT EXISTS invites (code TEXT PRIMARY KEY, member INTEGER NOT NULL, created_ms INTEGER NOT NULL)",
    DELIVERIES,
    STREAMING,
];

/// The columns and tables schema 5 added (inboxes), for a room made by schema 4.
const SCHEMA_5: [&str; 2] = ["ALTER TABLE members ADD COLUMN inbox TEXT", WATCHES];

/// The inboxes that watch the room (issue 11).
const WATCHES: &str = "CREATE TABLE IF NOT EXISTS watches (member INTEGER PRIMARY KEY, inbox TEXT NOT NULL)";

/// Streams under way are looked up on every wake: a partial index keeps that off the posts.
const STREAMING: &str = "CREATE INDEX IF NOT EXISTS streaming_posts ON posts (id) WHERE streaming = 1";

const DELIVERIES: &str = "CREATE TABLE IF NOT EXISTS deliveries (id INTEGER PRIMARY KEY, bot INTEGER NOT NULL,
    message INTEGER NOT NULL, body TEXT NOT NULL, attempts INTEGER NOT NULL DEFAULT 0, due_ms INTEGER NOT NULL)";

#[derive(Deserialize)]
struct Text {
    value: String,
}

#[derive(Deserialize)]
struct Number {
    value: f64,
}

/// Creates the protocol 2 tables. Idempotent.
fn create_tables(sql: &SqlStorage) -> Result<()> {
    for statement in [
        "CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value NOT NULL)",
        "CREATE TABLE IF NOT EXISTS members (id INTEGER PRIMARY KEY, claim TEXT, key_hash TEXT,
            display TEXT NOT NULL, bucket_milli INTEGER, bucket_at INTEGER, role INTEGER NOT NULL DEFAULT 0,
            muted_until INTEGER, banned INTEGER NOT NULL DEFAULT 0, addr TEXT, webhook_url TEXT, webhook_secret TEXT,
            inbox TEXT)",
        "CREATE INDEX IF NOT EXISTS members_by_claim ON members (claim)",
        "CREATE TABLE IF NOT EXISTS names (claim TEXT PRIMARY KEY, member INTEGER NOT NULL,
            claimed_ms INTEGER NOT NULL)",
        "CREATE TABLE IF NOT EXISTS events (seq INTEGER PRIMARY KEY, id INTEGER NOT NULL,
            member INTEGER NOT NULL, client_id TEXT NOT NULL, ts INTEGER NOT NULL, action TEXT,
            UNIQUE (member, client_id))",
        "CREATE TABLE IF NOT EXISTS posts (id INTEGER PRIMARY KEY, version INTEGER NOT NULL,
            member INTEGER NOT NULL, author TEXT NOT NULL, client_id TEXT NOT NULL, text TEXT NOT NULL,
            ts INTEGER NOT NULL, edited_ts INTEGER, deleted INTEGER NOT NULL DEFAULT 0, reply_to INTEGER,
            mentions TEXT NOT NULL DEFAULT '', removed INTEGER NOT NULL DEFAULT 0, bot INTEGER NOT NULL DEFAULT 0,
            streaming INTEGER NOT NULL DEFAULT 0, UNIQUE (member, client_id))",
        "CREATE TABLE IF NOT EXISTS reactions (id INTEGER NOT NULL, emoji TEXT NOT NULL, member INTEGER NOT NULL,
            seq INTEGER NOT NULL, name TEXT NOT NULL, PRIMARY KEY (id, emoji, member)) WITHOUT ROWID",
        "CREATE TABLE IF NOT EXISTS versions (id INTEGER NOT NULL, version INTEGER NOT NULL, text TEXT NOT NULL,
            ts INTEGER NOT NULL, PRIMARY KEY (id, version)) WITHOUT ROWID",
        "CREATE TABLE IF NOT EXISTS bans (addr TEXT PRIMARY KEY, member INTEGER NOT NULL)",
        "CREATE TABLE IF NOT EXISTS invites (code TEXT PRIMARY KEY, member INTEGER NOT NULL, created_ms INTEGER NOT NULL)",
        DELIVERIES,
        STREAMING,
        WATCHES,
    ] {
        sql.exec(statement, None)?;
    }
    // Made once: a rerun keeps the room's salt (or every claim would stop matching) and epoch.
    sql.exec("INSERT OR IGNORE INTO meta (key, value) VALUES ('salt', ?)", vec![random_token('s').into()])?;
    sql.exec("INSERT OR IGNORE INTO meta (key, value) VALUES ('epoch', ?)", vec![random_token('e').into()])?;
    Ok(())
}

/// How many of the tables `names` exist. An error is an error, never "none": taking a failed
/// read of the catalogue for an empty room would start a second history beside the first.
fn table_count(sql: &SqlStorage, names: &str) -> std::result::Result<f64, StoreError> {
    let rows: Vec<Number> = sql
        .exec(&format!("SELECT count(*) AS value FROM sqlite_master WHERE type = 'table' AND name IN ({names})"), None)
        .and_then(|c| c.to_array())
        .map_err(store_err)?;
    Ok(rows.first().map_or(0.0, |r| r.value))
}

impl SqlStore<'_> {
    /// Whether the room has protocol 2 tables (a read of the catalogue; it writes nothing).
    /// Every table, or the creation runs again (its statements are idempotent) and makes what
    /// is missing: a schema half made by a failed first write is mended by the next.
    pub fn exists(sql: &SqlStorage) -> std::result::Result<bool, StoreError> {
        let all =
            "'meta', 'members', 'names', 'events', 'posts', 'reactions', 'versions', 'bans', 'invites', 'deliveries'";
        Ok(table_count(sql, all)? >= 10.0)
    }

    /// Brings a room written by a protocol 1 build up to date, once, in the constructor (a
    /// room that was never written stays unwritten), in one transaction: it all happens or
    /// none of it does. Its name claims are re-keyed if they predate claim keys, then every
    /// name messages are stored under and every claim becomes a member ([`plan_members`]),
    /// every message a post event with the same id, and the old tables go. Returns whether it
    /// ran.
    pub fn upgrade(sql: &SqlStorage, storage: &JsValue) -> std::result::Result<bool, StoreError> {
        let from_1 = Self::upgrade_from_1(sql, storage)?;
        let from_3 = Self::upgrade_from_3(sql, storage)?;
        let from_4 = Self::upgrade_from_4(sql, storage)?;
        Ok(from_1 || from_3 || from_4)
    }

    /// A room made by schema 4 gets schema 5's column and table (inboxes), in one transaction.
    fn upgrade_from_4(sql: &SqlStorage, storage: &JsValue) -> std::result::Result<bool, StoreError> {
        if table_count(sql, "'meta', 'posts', 'bans'")? < 3.0 || table_count(sql, "'watches'")? > 0.0 {
            return Ok(false);
        }
        atomically(storage, || {
            let run = || -> Result<()> {
                for statement in SCHEMA_5 {
                    sql.exec(statement, None)?;
                }
                sql.exec("INSERT OR REPLACE INTO meta (key, value) VALUES ('schema', ?)", vec![int(SCHEMA)])?;
                Ok(())
            };
            run().map_err(store_err)
        })?;
        console_log!("room storage upgraded to schema 5");
        Ok(true)
    }

    /// A room made by schema 3 (protocol 2 before rooms had owners) gets schema 4's columns
    /// and tables, in one transaction; its first member becomes its owner.
    fn upgrade_from_3(sql: &SqlStorage, storage: &JsValue) -> std::result::Result<bool, StoreError> {
        if table_count(sql, "'meta', 'posts'")? < 2.0 || table_count(sql, "'bans'")? > 0.0 {
            return Ok(false);
        }
        atomically(storage, || {
            let run = || -> Result<()> {
                for statement in SCHEMA_4 {
                    sql.exec(statement, None)?;
                }
                // The first member who still holds a name: one nobody can join as owns nothing.
                sql.exec(
                    "INSERT OR IGNORE INTO meta (key, value) SELECT 'owner', 'm' || min(member) FROM names
                     HAVING min(member) IS NOT NULL",
                    None,
                )?;
                sql.exec("INSERT OR REPLACE INTO meta (key, value) VALUES ('schema', ?)", vec![int(SCHEMA)])?;
                Ok(())
            };
            run().map_err(store_err)
        })?;
        console_log!("room storage upgraded to schema 4");
        Ok(true)
    }

    fn upgrade_from_1(sql: &SqlStorage, storage: &JsValue) -> std::result::Result<bool, StoreError> {
        if table_count(sql, "'messages', 'claims'")? < 2.0 {
            return Ok(false);
        }
        // Protocol 1 tables beside protocol 2 ones: something wrote this room before its
        // upgrade. Merging the two would mix two histories; serve nothing instead.
        if table_count(sql, "'posts', 'events'")? > 0.0 {
            return Err(StoreError("the room has both protocol 1 and protocol 2 tables".into()));
        }
        atomically(storage, || Self::upgrade_tables(sql).map_err(store_err))?;
        console_log!("room storage upgraded to protocol 2");
        Ok(true)
    }

    fn upgrade_tables(sql: &SqlStorage) -> Result<()> {
        #[derive(Deserialize)]
        struct Claim {
            name: String,
            key_hash: String,
            claimed_ms: f64,
        }
        #[derive(Deserialize)]
        struct Author {
            member: String,
            author: String,
        }
        sql.exec("CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value NOT NULL)", None)?;
        let keyed: Vec<Number> = sql.exec("SELECT value FROM meta WHERE key = 'claims_keyed_by'", None)?.to_array()?;
        let rows: Vec<Claim> = sql.exec("SELECT name, key_hash, claimed_ms FROM claims", None)?.to_array()?;
        let old: Vec<ClaimRow> = rows.into_iter().map(|c| (c.name, c.key_hash, c.claimed_ms as u64)).collect();
        let claims = stored_claims(old, keyed.first().is_some_and(|v| v.value >= 2.0));
        // The newest display each stored name wrote under.
        let authors: Vec<Author> = sql
            .exec(
                "SELECT member, author FROM messages WHERE seq IN (SELECT max(seq) FROM messages GROUP BY member)",
                None,
            )?
            .to_array()?;
        let authors: Vec<(String, String)> = authors.into_iter().map(|a| (a.member, a.author)).collect();
        create_tables(sql)?;
        for m in plan_members(claims, authors) {
            let (key, hash, ms) = match m.claim {
                Some((key, hash, ms)) => (Some(key), Some(hash), Some(ms)),
                None => (None, None, None),
            };
            let text = |v: Option<String>| v.map_or(SqlStorageValue::Null, Into::into);
            sql.exec(
                "INSERT OR REPLACE INTO members (id, claim, key_hash, display) VALUES (?, ?, ?, ?)",
                vec![int(m.id), text(key.clone()), text(hash), m.display.into()],
            )?;
            if let (Some(key), Some(ms)) = (key, ms) {
                sql.exec(
                    "INSERT OR REPLACE INTO names (claim, member, claimed_ms) VALUES (?, ?, ?)",
                    vec![key.into(), int(m.id), int(ms)],
                )?;
            }
            sql.exec(
                "INSERT OR IGNORE INTO posts (id, version, member, author, client_id, text, ts)
                 SELECT seq, seq, ?, author, client_id, text, ts FROM messages WHERE member = ?",
                vec![int(m.id), m.stored.clone().into()],
            )?;
        }
        sql.exec("INSERT OR REPLACE INTO meta (key, value) VALUES ('schema', ?)", vec![int(SCHEMA)])?;
        // A public room's first member owns it: here, whoever wrote its oldest message and still
        // holds a name (protocol 1 numbered nobody, and a member whose claim is gone cannot
        // join), else the member holding a name with the smallest id.
        sql.exec(
            "INSERT OR IGNORE INTO meta (key, value) SELECT 'owner', 'm' || coalesce(
                (SELECT p.member FROM posts p JOIN names n ON n.member = p.member ORDER BY p.id LIMIT 1),
                (SELECT min(member) FROM names))
             WHERE EXISTS (SELECT 1 FROM names)",
            None,
        )?;
        sql.exec("DROP TABLE messages", None)?;
        sql.exec("DROP TABLE claims", None)?;
        sql.exec("DELETE FROM meta WHERE key = 'claims_keyed_by'", None)?;
        Ok(())
    }

    /// Creates the tables before the first write. Idempotent.
    fn migrate(&self) -> std::result::Result<(), StoreError> {
        if self.cache.schema.get() {
            return Ok(());
        }
        create_tables(&self.sql)
            .and_then(|()| {
                self.sql.exec("INSERT OR REPLACE INTO meta (key, value) VALUES ('schema', ?)", vec![int(SCHEMA)])
            })
            .map_err(store_err)?;
        self.cache.schema.set(true);
        self.cache.created.set(true);
        // Said once per room: the tests check that reads alone never get here.
        console_log!("room tables created");
        Ok(())
    }

    fn meta(&self, key: &str, cached: &RefCell<Option<String>>) -> std::result::Result<Option<String>, StoreError> {
        if let Some(v) = cached.borrow().clone() {
            return Ok(Some(v));
        }
        if !self.cache.schema.get() {
            return Ok(None);
        }
        let rows: Vec<Text> = self
            .sql
            .exec("SELECT value FROM meta WHERE key = ?", vec![key.into()])
            .and_then(|c| c.to_array())
            .map_err(store_err)?;
        let v = rows.into_iter().next().map(|r| r.value);
        cached.replace(v.clone());
        Ok(v)
    }

    fn salt(&self) -> std::result::Result<String, StoreError> {
        self.meta("salt", &self.cache.salt)?.ok_or_else(|| StoreError("the room has no salt".into()))
    }

    fn rows<T: for<'de> Deserialize<'de>>(
        &self,
        query: &str,
        bindings: Vec<SqlStorageValue>,
    ) -> std::result::Result<Vec<T>, StoreError> {
        if !self.cache.schema.get() {
            return Ok(Vec::new());
        }
        self.sql.exec(query, bindings).and_then(|c| c.to_array()).map_err(store_err)
    }

    fn run(&self, query: &str, bindings: Vec<SqlStorageValue>) -> std::result::Result<(), StoreError> {
        self.sql.exec(query, bindings).map(|_| ()).map_err(store_err)
    }

    fn new_member(
        &self,
        claim: &str,
        display: &str,
        hash: String,
        now_ms: u64,
    ) -> std::result::Result<MemberId, StoreError> {
        #[derive(Deserialize)]
        struct Id {
            id: f64,
        }
        let ids: Vec<Id> = self.rows(
            "INSERT INTO members (claim, key_hash, display) VALUES (?, ?, ?) RETURNING id",
            vec![claim.into(), hash.into(), display.into()],
        )?;
        let id = ids.first().map(|r| r.id as MemberId).ok_or_else(|| StoreError("no member id".into()))?;
        self.run(
            "INSERT OR REPLACE INTO names (claim, member, claimed_ms) VALUES (?, ?, ?)",
            vec![claim.into(), int(id), int(now_ms)],
        )?;
        Ok(id)
    }

    fn claim_inner(
        &self,
        claim: &str,
        display: &str,
        key: &MemberKey,
        addr: Option<&str>,
        now_ms: u64,
    ) -> std::result::Result<Option<Claimed>, StoreError> {
        #[derive(Deserialize)]
        struct Holder {
            member: f64,
            claimed_ms: f64,
            key_hash: Option<String>,
        }
        self.migrate()?;
        let cutoff = now_ms.saturating_sub(self.cache.claim_idle_ms.get());
        if !self.cache.pruned.replace(true) {
            // Once per instance: lapsed claims go, so claims do not pile up for ever. (Their
            // members stay: they wrote messages.)
            self.run("DELETE FROM names WHERE claimed_ms <= ?", vec![int(cutoff)])?;
        }
        let hash = key_hash(&self.salt()?, key);
        let holders: Vec<Holder> = self.rows(
            "SELECT n.member, n.claimed_ms, m.key_hash FROM names n JOIN members m ON m.id = n.member WHERE n.claim = ?",
            vec![claim.into()],
        )?;
        let Some(h) = holders.into_iter().next() else {
            return self.take_free(claim, display, key, hash, addr, now_ms);
        };
        let member = h.member as MemberId;
        if h.key_hash.as_deref() == Some(&hash) || h.key_hash.as_deref() == Some(&legacy_key_hash(key)) {
            self.renew(member, claim, &hash, display, now_ms)?;
            return self.joined(member, addr);
        }
        if (h.claimed_ms as u64) <= cutoff {
            return self.take_free(claim, display, key, hash, addr, now_ms);
        }
        Ok(None)
    }

    /// A member joined from `addr`: remember it (for bans by address), and load it.
    fn joined(&self, member: MemberId, addr: Option<&str>) -> std::result::Result<Option<Claimed>, StoreError> {
        if let Some(addr) = addr {
            self.run("UPDATE members SET addr = ?1 WHERE id = ?2 AND addr IS NOT ?1", vec![addr.into(), int(member)])?;
        }
        let rows: Vec<MemberRow> =
            self.rows(&format!("SELECT {MEMBER_COLUMNS} FROM members WHERE id = ?"), vec![int(member)])?;
        rows.into_iter().next().map(|r| Some(r.into())).ok_or_else(|| StoreError("the member vanished".into()))
    }

    /// Takes a free (or lapsed) name: the key's own member again if it ever held this claim
    /// (an owner back after a lapse, whoever held the name in between: their messages stay
    /// theirs to edit), else a new member.
    fn take_free(
        &self,
        claim: &str,
        display: &str,
        key: &MemberKey,
        hash: String,
        addr: Option<&str>,
        now_ms: u64,
    ) -> std::result::Result<Option<Claimed>, StoreError> {
        #[derive(Deserialize)]
        struct Own {
            id: f64,
        }
        let own: Vec<Own> = self.rows(
            "SELECT id FROM members WHERE claim = ? AND key_hash IN (?, ?)
             ORDER BY id DESC LIMIT 1",
            vec![claim.into(), hash.clone().into(), legacy_key_hash(key).into()],
        )?;
        if let Some(own) = own.into_iter().next() {
            let member = own.id as MemberId;
            self.renew(member, claim, &hash, display, now_ms)?;
            return self.joined(member, addr);
        }
        let member = self.new_member(claim, display, hash, now_ms)?;
        self.joined(member, addr)
    }

    /// The owner joined: renew the claim (or take it back, if it was pruned), take the name
    /// as typed now, salt an unsalted hash, and record the claim key on rows that lack it, so
    /// a later lapse finds it.
    fn renew(
        &self,
        member: MemberId,
        claim: &str,
        hash: &str,
        display: &str,
        now_ms: u64,
    ) -> std::result::Result<(), StoreError> {
        self.run(
            "UPDATE members SET claim = ?, key_hash = ?, display = ? WHERE id = ?",
            vec![claim.into(), hash.into(), display.into(), int(member)],
        )?;
        self.run(
            "INSERT INTO names (claim, member, claimed_ms) VALUES (?1, ?2, ?3)
             ON CONFLICT (claim) DO UPDATE SET member = ?2, claimed_ms = max(claimed_ms, ?3)",
            vec![claim.into(), int(member), int(now_ms)],
        )
    }

    /// A post: one statement takes the next seq, stores the message and rejects a retry (the
    /// unique index, and a guard against an id already used by another kind of operation),
    /// so it needs no transaction; the budget after it is saved next to it.
    fn post(&self, op: &Op<'_>) -> std::result::Result<Appended, StoreError> {
        #[derive(Deserialize)]
        struct Id {
            id: f64,
        }
        let Change::Post { author, text, reply_to, mentions, bot, streaming } = &op.change else {
            return Err(StoreError("not a post".into()));
        };
        self.migrate()?;
        let inserted: Vec<Id> = self.rows(
            "INSERT INTO posts (id, version, member, author, client_id, text, ts, reply_to, mentions, bot, streaming)
                 SELECT ?8, ?8, ?1, ?2, ?3, ?4, ?5, ?6, ?7, ?9, ?10
                 WHERE NOT EXISTS (SELECT 1 FROM events WHERE member = ?1 AND client_id = ?3)
                 ON CONFLICT (member, client_id) DO NOTHING RETURNING id",
            vec![
                int(op.member),
                (*author).into(),
                op.client_id.into(),
                (*text).into(),
                int(op.ts),
                opt_int(*reply_to),
                ids_list(mentions).into(),
                int(op.seq),
                int((*bot).into()),
                int((*streaming).into()),
            ],
        )?;
        let Some(seq) = inserted.first().map(|r| r.id as Seq) else { return self.duplicate(op) };
        // The post is stored: a failed budget write costs that member a refill, and must not
        // make the room think the post was not (its seq is taken now).
        if let Err(e) = self.save_bucket(op) {
            console_error!("saving a budget failed: {e}");
        }
        Ok(Appended::Stored(seq))
    }

    fn duplicate(&self, op: &Op<'_>) -> std::result::Result<Appended, StoreError> {
        let (seq, ts) = self
            .find_inner(op.member, op.client_id)?
            .ok_or_else(|| StoreError("insert conflicted but no event matches".into()))?;
        Ok(Appended::Duplicate { seq, ts })
    }

    fn save_bucket(&self, op: &Op<'_>) -> std::result::Result<(), StoreError> {
        match op.bucket {
            Some(b) => self.write_bucket(op.member, b),
            None => Ok(()),
        }
    }

    fn write_bucket(&self, member: MemberId, b: Bucket) -> std::result::Result<(), StoreError> {
        self.run(
            "UPDATE members SET bucket_milli = ?, bucket_at = ? WHERE id = ?",
            vec![int(b.milli), int(b.at_ms), int(member)],
        )
    }

    /// An edit, delete or reaction: the event, then its change, in one transaction.
    fn change(&self, op: &Op<'_>) -> std::result::Result<Appended, StoreError> {
        #[derive(Deserialize)]
        struct Seq_ {
            seq: f64,
        }
        let (target, action) = match &op.change {
            Change::Post { .. } => return Err(StoreError("a post is not a change".into())),
            Change::Delete { id, removed: true } => (*id, Some(Action::Remove { id: *id })),
            Change::Edit { id, .. }
            | Change::Delete { id, .. }
            | Change::React { id, .. }
            | Change::Append { id, .. }
            | Change::Finish { id } => (*id, None),
            Change::Moderate { action } => (0, Some((*action).clone())),
        };
        let action = match action {
            Some(a) => serde_json::to_string(&a).map_err(|e| StoreError(e.to_string()))?.into(),
            None => SqlStorageValue::Null,
        };
        self.migrate()?;
        let inserted: Vec<Seq_> = self.rows(
            "INSERT INTO events (seq, id, member, client_id, ts, action)
                 SELECT ?5, ?1, ?2, ?3, ?4, ?6
                 WHERE NOT EXISTS (SELECT 1 FROM posts WHERE member = ?2 AND client_id = ?3)
                 ON CONFLICT (member, client_id) DO NOTHING RETURNING seq",
            vec![int(target), int(op.member), op.client_id.into(), int(op.ts), int(op.seq), action],
        )?;
        let Some(seq) = inserted.first().map(|r| r.seq as Seq) else { return self.duplicate(op) };
        match &op.change {
            Change::Post { .. } => {}
            Change::Edit { id, text, mentions } => {
                self.run(
                    "INSERT INTO versions (id, version, text, ts) SELECT id, ?2, text, ?3 FROM posts WHERE id = ?1",
                    vec![int(*id), int(seq), int(op.ts)],
                )?;
                self.run(
                    "UPDATE posts SET text = ?2, mentions = ?3, edited_ts = ?4, version = ?5 WHERE id = ?1",
                    vec![int(*id), (*text).into(), ids_list(mentions).into(), int(op.ts), int(seq)],
                )?;
                self.run(
                    "DELETE FROM versions WHERE id = ?1 AND version NOT IN
                     (SELECT version FROM versions WHERE id = ?1 ORDER BY version DESC LIMIT ?2)",
                    vec![int(*id), int(VERSIONS_MAX.into())],
                )?;
            }
            Change::Delete { id, removed } => {
                self.run(
                    "UPDATE posts SET text = '', mentions = '', edited_ts = NULL, reply_to = NULL, deleted = 1,
                     streaming = 0, removed = ?3, version = ?2 WHERE id = ?1",
                    vec![int(*id), int(seq), int((*removed).into())],
                )?;
                self.run("DELETE FROM versions WHERE id = ?", vec![int(*id)])?;
                self.run("DELETE FROM reactions WHERE id = ?", vec![int(*id)])?;
            }
            Change::React { id, emoji, on, name } => {
                if *on {
                    self.run(
                        "INSERT OR IGNORE INTO reactions (id, emoji, member, seq, name) VALUES (?, ?, ?, ?, ?)",
                        vec![int(*id), (*emoji).into(), int(op.member), int(seq), (*name).into()],
                    )?;
                } else {
                    self.run(
                        "DELETE FROM reactions WHERE id = ? AND emoji = ? AND member = ?",
                        vec![int(*id), (*emoji).into(), int(op.member)],
                    )?;
                }
                self.run("UPDATE posts SET version = ? WHERE id = ?", vec![int(seq), int(*id)])?;
            }
            Change::Append { id, text } => {
                self.run(
                    "UPDATE posts SET text = text || ?2, version = ?3 WHERE id = ?1",
                    vec![int(*id), (*text).into(), int(seq)],
                )?;
            }
            Change::Finish { id } => {
                self.run("UPDATE posts SET streaming = 0, version = ?2 WHERE id = ?1", vec![int(*id), int(seq)])?;
            }
            Change::Moderate { action } => self.enact(action, op.member, op.ts)?,
        }
        self.save_bucket(op)?;
        Ok(Appended::Stored(seq))
    }

    /// What a moderation action changes, beside its event (in the same transaction).
    fn enact(&self, action: &Action, by: MemberId, ts: u64) -> std::result::Result<(), StoreError> {
        let set = |key: &str, value: SqlStorageValue| {
            self.run("INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)", vec![key.into(), value])
        };
        match action {
            Action::Mute { member, minutes } => self.run(
                "UPDATE members SET muted_until = ? WHERE id = ?",
                vec![opt_int((*minutes > 0).then(|| ts + u64::from(*minutes) * 60_000)), int(*member)],
            ),
            Action::Ban { member, ip, .. } => {
                self.run("UPDATE members SET banned = 1 WHERE id = ?", vec![int(*member)])?;
                if *ip {
                    self.run(
                        "INSERT OR REPLACE INTO bans (addr, member) SELECT addr, id FROM members
                         WHERE id = ? AND addr IS NOT NULL",
                        vec![int(*member)],
                    )?;
                }
                Ok(())
            }
            Action::Unban { member } => {
                self.run("UPDATE members SET banned = 0 WHERE id = ?", vec![int(*member)])?;
                self.run("DELETE FROM bans WHERE member = ?", vec![int(*member)])
            }
            Action::SetRole { member, role } => {
                self.run("UPDATE members SET role = ? WHERE id = ?", vec![int(role_int(*role)), int(*member)])
            }
            Action::RevokeBot { member } => {
                // For good: the token and the webhook go (an unban does not bring them back).
                self.run(
                    "UPDATE members SET banned = 1, key_hash = NULL, webhook_url = NULL, webhook_secret = NULL
                     WHERE id = ?",
                    vec![int(*member)],
                )
            }
            // Text values get a prefix: older rooms' `meta.value` has numeric affinity.
            Action::SlowMode { seconds } => {
                set("slow_since", format!("n{ts}").into())?;
                set("slow_mode_secs", format!("n{seconds}").into())
            }
            Action::Topic { text } => set("topic", format!("t{text}").into()),
            Action::InviteOnly { on } => set("invite_only", format!("b{}", u8::from(*on)).into()),
            Action::CreateInvite { code } => {
                let code = code.as_deref().ok_or_else(|| StoreError("an invite without a code".into()))?;
                self.run(
                    "INSERT INTO invites (code, member, created_ms) VALUES (?, ?, ?)",
                    vec![code.into(), int(by), int(ts)],
                )
            }
            Action::RevokeInvite { code } => self.run("DELETE FROM invites WHERE code = ?", vec![code.as_str().into()]),
            Action::CreateBot { .. } | Action::Remove { .. } => Ok(()),
        }
    }

    fn find_inner(&self, member: MemberId, client_id: &str) -> std::result::Result<Option<(Seq, u64)>, StoreError> {
        let rows: Vec<SeqTs> = self.rows(
            "SELECT id AS seq, ts FROM posts WHERE member = ?1 AND client_id = ?2
             UNION ALL SELECT seq, ts FROM events WHERE member = ?1 AND client_id = ?2",
            vec![int(member), client_id.into()],
        )?;
        Ok(rows.first().map(|r| (r.seq as Seq, r.ts as u64)))
    }
}

impl RoomStore for SqlStore<'_> {
    fn epoch(&mut self) -> std::result::Result<Option<String>, StoreError> {
        self.meta("epoch", &self.cache.epoch)
    }

    fn latest(&mut self) -> std::result::Result<Option<(Seq, u64)>, StoreError> {
        let rows: Vec<SeqTs> = self.rows(
            "SELECT seq, ts FROM (SELECT seq, ts FROM events ORDER BY seq DESC LIMIT 1)
             UNION ALL SELECT seq, ts FROM (SELECT id AS seq, ts FROM posts ORDER BY id DESC LIMIT 1)
             ORDER BY seq DESC LIMIT 1",
            Vec::new(),
        )?;
        Ok(rows.first().map(|r| (r.seq as Seq, r.ts as u64)))
    }

    fn claim(
        &mut self,
        claim: &str,
        display: &str,
        key: &MemberKey,
        addr: Option<&str>,
        now_ms: u64,
    ) -> std::result::Result<Option<Claimed>, StoreError> {
        let this = &*self;
        let result = atomically(self.storage, || this.claim_inner(claim, display, key, addr, now_ms));
        self.cache.settle(&result);
        result
    }

    fn members(&mut self, ids: &[MemberId]) -> std::result::Result<Vec<MemberInfo>, StoreError> {
        // Ids are integers the room produced: inlining them is safe and one statement.
        let rows: Vec<MemberRow> = self.rows(
            &format!("SELECT {MEMBER_COLUMNS} FROM members WHERE id IN ({}) ORDER BY id", ids_list(ids)),
            Vec::new(),
        )?;
        Ok(rows.into_iter().map(Into::into).collect())
    }

    fn holder(&mut self, claim: &str) -> std::result::Result<Option<MemberId>, StoreError> {
        #[derive(Deserialize)]
        struct Row {
            member: f64,
        }
        let rows: Vec<Row> = self.rows("SELECT member FROM names WHERE claim = ?", vec![claim.into()])?;
        Ok(rows.first().map(|r| r.member as MemberId))
    }

    fn find(&mut self, member: MemberId, client_id: &str) -> std::result::Result<Option<(Seq, u64)>, StoreError> {
        self.find_inner(member, client_id)
    }

    fn append(&mut self, op: &Op<'_>) -> std::result::Result<Appended, StoreError> {
        let result = if matches!(op.change, Change::Post { .. }) {
            // One insert: atomic by itself (the budget saved after it is not part of it).
            self.post(op)
        } else {
            let this = &*self;
            atomically(self.storage, || this.change(op))
        };
        self.cache.settle(&result);
        result
    }

    fn messages(&mut self, ids: &[Seq]) -> std::result::Result<Vec<StoredMessage>, StoreError> {
        // Ids are integers (parsed from frames or read from storage): inlining them is safe.
        let rows: Vec<PostRow> = self.rows(
            &format!("SELECT {POST_COLUMNS} FROM posts WHERE id IN ({}) ORDER BY id", ids_list(ids)),
            Vec::new(),
        )?;
        Ok(rows.into_iter().map(Into::into).collect())
    }

    fn before(&mut self, before: Seq, limit: u32) -> std::result::Result<Vec<StoredMessage>, StoreError> {
        let rows: Vec<PostRow> = self.rows(
            &format!("SELECT {POST_COLUMNS} FROM posts WHERE id < ? ORDER BY id DESC LIMIT ?"),
            vec![int(before), int(limit.into())],
        )?;
        Ok(rows.into_iter().rev().map(Into::into).collect())
    }

    fn changed_since(&mut self, since: Seq, limit: u32) -> std::result::Result<Vec<Seq>, StoreError> {
        #[derive(Deserialize)]
        struct Row {
            id: f64,
        }
        let rows: Vec<Row> = self.rows(
            "SELECT id FROM (SELECT id FROM posts WHERE id > ?1 UNION SELECT id FROM events WHERE seq > ?1 AND id > 0)
             ORDER BY id LIMIT ?2",
            vec![int(since), int(limit.into())],
        )?;
        Ok(rows.into_iter().map(|r| r.id as Seq).collect())
    }

    fn reactions(&mut self, ids: &[Seq]) -> std::result::Result<Vec<ReactionRow>, StoreError> {
        #[derive(Deserialize)]
        struct Row {
            id: f64,
            emoji: String,
            member: f64,
            name: String,
            seq: f64,
        }
        let rows: Vec<Row> = self.rows(
            &format!(
                "SELECT id, emoji, member, name, seq FROM reactions WHERE id IN ({}) ORDER BY id, seq",
                ids_list(ids)
            ),
            Vec::new(),
        )?;
        Ok(rows
            .into_iter()
            .map(|r| ReactionRow {
                id: r.id as Seq,
                emoji: r.emoji,
                member: r.member as MemberId,
                name: r.name,
                seq: r.seq as Seq,
            })
            .collect())
    }

    fn save_bucket(&mut self, member: MemberId, bucket: Bucket) -> std::result::Result<(), StoreError> {
        if !self.cache.schema.get() {
            return Ok(());
        }
        self.write_bucket(member, bucket)
    }

    fn versions(&mut self, id: Seq) -> std::result::Result<Vec<(Seq, String)>, StoreError> {
        #[derive(Deserialize)]
        struct Row {
            version: f64,
            text: String,
        }
        let rows: Vec<Row> =
            self.rows("SELECT version, text FROM versions WHERE id = ? ORDER BY version", vec![int(id)])?;
        Ok(rows.into_iter().map(|r| (r.version as Seq, r.text)).collect())
    }

    fn record(&mut self) -> std::result::Result<RoomRecord, StoreError> {
        #[derive(Deserialize)]
        struct Row {
            key: String,
            value: serde_json::Value,
        }
        let rows: Vec<Row> = self.rows(
            "SELECT key, value FROM meta
             WHERE key IN ('owner', 'owner_key', 'topic', 'slow_mode_secs', 'slow_since', 'invite_only', 'dm')",
            Vec::new(),
        )?;
        let mut r = RoomRecord::default();
        for row in rows {
            let text = match row.value {
                serde_json::Value::String(s) => s,
                other => other.to_string(),
            };
            let body = text.get(1..).unwrap_or_default();
            match row.key.as_str() {
                "owner" => r.owner = body.parse().ok(),
                "owner_key" => r.owner_key = Some(body.to_owned()),
                "topic" => r.settings.topic = body.to_owned(),
                "slow_mode_secs" => r.settings.slow_mode_secs = body.parse().unwrap_or(0),
                "slow_since" => r.slow_since = body.parse().unwrap_or(0),
                "invite_only" => r.settings.invite_only = body == "1",
                "dm" => r.dm = body.split_once(' ').map(|(a, b)| (a.to_owned(), b.to_owned())),
                _ => {}
            }
        }
        Ok(r)
    }

    fn set_owner_key(&mut self, key: &MemberKey) -> std::result::Result<(), StoreError> {
        let this = &*self;
        let result = atomically(self.storage, || {
            this.migrate()?;
            let hash = key_hash(&this.salt()?, key);
            this.run(
                "INSERT INTO meta (key, value) SELECT 'owner_key', ? WHERE NOT EXISTS
                 (SELECT 1 FROM meta WHERE key IN ('owner', 'owner_key'))",
                vec![format!("k{hash}").into()],
            )
        });
        self.cache.settle(&result);
        result
    }

    fn adopt_owner(&mut self, member: MemberId, key: &MemberKey) -> std::result::Result<Option<MemberId>, StoreError> {
        let record = self.record()?;
        if record.owner.is_some() {
            return Ok(record.owner);
        }
        let hash = key_hash(&self.salt()?, key);
        if record.owner_key.as_ref().is_some_and(|h| *h != hash) {
            return Ok(None);
        }
        let this = &*self;
        atomically(self.storage, || {
            this.run(
                "INSERT OR REPLACE INTO meta (key, value) VALUES ('owner', ?)",
                vec![format!("m{member}").into()],
            )?;
            this.run("DELETE FROM meta WHERE key = 'owner_key'", Vec::new())
        })?;
        Ok(Some(member))
    }

    fn is_member(&mut self, claim: &str, key: &MemberKey) -> std::result::Result<bool, StoreError> {
        if !self.cache.schema.get() {
            return Ok(false);
        }
        let rows: Vec<Number> = self.rows(
            "SELECT count(*) AS value FROM members WHERE claim = ? AND key_hash IN (?, ?)",
            vec![claim.into(), key_hash(&self.salt()?, key).into(), legacy_key_hash(key).into()],
        )?;
        Ok(rows.first().is_some_and(|r| r.value > 0.0))
    }

    fn invite_valid(&mut self, code: &str) -> std::result::Result<bool, StoreError> {
        let rows: Vec<Number> = self.rows("SELECT count(*) AS value FROM invites WHERE code = ?", vec![code.into()])?;
        Ok(rows.first().is_some_and(|r| r.value > 0.0))
    }

    fn address_banned(&mut self, addr: &str) -> std::result::Result<bool, StoreError> {
        let rows: Vec<Number> = self.rows("SELECT count(*) AS value FROM bans WHERE addr = ?", vec![addr.into()])?;
        Ok(rows.first().is_some_and(|r| r.value > 0.0))
    }

    fn create_bot(
        &mut self,
        claim: &str,
        display: &str,
        token: &MemberKey,
        now_ms: u64,
    ) -> std::result::Result<Option<MemberId>, StoreError> {
        let this = &*self;
        let result = atomically(self.storage, || {
            this.migrate()?;
            let cutoff = now_ms.saturating_sub(this.cache.claim_idle_ms.get());
            let held: Vec<Number> = this.rows(
                "SELECT count(*) AS value FROM names WHERE claim = ? AND claimed_ms > ?",
                vec![claim.into(), int(cutoff)],
            )?;
            if held.first().is_some_and(|r| r.value > 0.0) {
                return Ok(None);
            }
            // A bot holds its name for good: its claim is dated as far ahead as storage goes.
            let id = this.new_member(claim, display, key_hash(&this.salt()?, token), MAX_SAFE)?;
            this.run("UPDATE members SET role = 1 WHERE id = ?", vec![int(id)])?;
            Ok(Some(id))
        });
        self.cache.settle(&result);
        result
    }

    fn set_bot_token(&mut self, id: MemberId, token: &MemberKey) -> std::result::Result<(), StoreError> {
        let hash = key_hash(&self.salt()?, token);
        self.run("UPDATE members SET key_hash = ? WHERE id = ? AND role = 1", vec![hash.into(), int(id)])
    }

    fn authenticate(&mut self, id: MemberId, token: &MemberKey) -> std::result::Result<Option<MemberInfo>, StoreError> {
        if !self.cache.schema.get() {
            return Ok(None);
        }
        let hash = key_hash(&self.salt()?, token);
        let rows: Vec<MemberRow> = self.rows(
            &format!("SELECT {MEMBER_COLUMNS} FROM members WHERE id = ? AND role = 1 AND banned = 0 AND key_hash = ?"),
            vec![int(id), hash.into()],
        )?;
        Ok(rows.into_iter().next().map(Into::into))
    }

    fn counts(&mut self) -> std::result::Result<(u32, u32), StoreError> {
        #[derive(Deserialize)]
        struct Row {
            bots: f64,
            invites: f64,
        }
        let rows: Vec<Row> = self.rows(
            "SELECT (SELECT count(*) FROM members WHERE role = 1 AND key_hash IS NOT NULL) AS bots,
                    (SELECT count(*) FROM invites) AS invites",
            Vec::new(),
        )?;
        Ok(rows.first().map_or((0, 0), |r| (r.bots as u32, r.invites as u32)))
    }

    fn audit(&mut self, before: Seq, limit: u32) -> std::result::Result<Vec<AuditRow>, StoreError> {
        #[derive(Deserialize)]
        struct Row {
            seq: f64,
            ts: f64,
            member: f64,
            action: String,
        }
        let rows: Vec<Row> = self.rows(
            "SELECT seq, ts, member, action FROM events WHERE action IS NOT NULL AND seq < ? ORDER BY seq DESC LIMIT ?",
            vec![int(before), int(limit.into())],
        )?;
        Ok(rows
            .into_iter()
            .rev()
            .filter_map(|r| {
                let action = serde_json::from_str(&r.action).ok()?;
                Some(AuditRow { seq: r.seq as Seq, ts: r.ts as u64, member: r.member as MemberId, action })
            })
            .collect())
    }

    fn last_post(&mut self, member: MemberId) -> std::result::Result<Option<u64>, StoreError> {
        #[derive(Deserialize)]
        struct Row {
            ts: Option<f64>,
        }
        let rows: Vec<Row> = self.rows("SELECT max(ts) AS ts FROM posts WHERE member = ?", vec![int(member)])?;
        Ok(rows.first().and_then(|r| r.ts).map(|t| t as u64))
    }

    fn posts_by(&mut self, member: MemberId, limit: u32) -> std::result::Result<Vec<Seq>, StoreError> {
        #[derive(Deserialize)]
        struct Row {
            id: f64,
        }
        let rows: Vec<Row> = self.rows(
            "SELECT id FROM posts WHERE member = ? AND deleted = 0 ORDER BY id DESC LIMIT ?",
            vec![int(member), int(limit.into())],
        )?;
        Ok(rows.into_iter().map(|r| r.id as Seq).collect())
    }

    fn set_webhook(&mut self, id: MemberId, hook: Option<(&str, &str)>) -> std::result::Result<(), StoreError> {
        let (url, secret) = match hook {
            Some((u, s)) => (SqlStorageValue::from(u), SqlStorageValue::from(s)),
            None => (SqlStorageValue::Null, SqlStorageValue::Null),
        };
        self.run(
            "UPDATE members SET webhook_url = ?, webhook_secret = ? WHERE id = ? AND role = 1",
            vec![url, secret, int(id)],
        )
    }

    fn webhooks(&mut self, ids: &[MemberId]) -> std::result::Result<Vec<Hook>, StoreError> {
        #[derive(Deserialize)]
        struct Row {
            #[serde(flatten)]
            member: MemberRow,
            webhook_url: String,
            webhook_secret: String,
        }
        let rows: Vec<Row> = self.rows(
            &format!(
                "SELECT {MEMBER_COLUMNS}, webhook_url, webhook_secret FROM members WHERE id IN ({})
                 AND role = 1 AND banned = 0 AND webhook_url IS NOT NULL",
                ids_list(ids)
            ),
            Vec::new(),
        )?;
        Ok(rows
            .into_iter()
            .map(|r| Hook { bot: r.member.into(), url: r.webhook_url, secret: r.webhook_secret })
            .collect())
    }

    fn enqueue(&mut self, bot: MemberId, message: Seq, body: &str, due_ms: u64) -> std::result::Result<(), StoreError> {
        self.run(
            "INSERT INTO deliveries (bot, message, body, due_ms) VALUES (?, ?, ?, ?)",
            vec![int(bot), int(message), body.into(), int(due_ms)],
        )?;
        self.run(
            "DELETE FROM deliveries WHERE id <= (SELECT max(id) FROM deliveries) - ?",
            vec![int(crate::webhook::QUEUE_MAX.into())],
        )
    }

    fn due(&mut self, now_ms: u64, limit: u32) -> std::result::Result<Vec<Delivery>, StoreError> {
        #[derive(Deserialize)]
        struct Row {
            delivery: f64,
            message: f64,
            body: String,
            attempts: f64,
            #[serde(flatten)]
            member: MemberRow,
            webhook_url: String,
            webhook_secret: String,
        }
        if !self.cache.schema.get() {
            return Ok(Vec::new());
        }
        self.run(
            "DELETE FROM deliveries WHERE bot NOT IN
             (SELECT id FROM members WHERE role = 1 AND banned = 0 AND webhook_url IS NOT NULL)",
            Vec::new(),
        )?;
        let rows: Vec<Row> = self.rows(
            "SELECT d.id AS delivery, d.message, d.body, d.attempts, m.id, m.display, m.bucket_milli, m.bucket_at,
                    m.role, m.muted_until, m.banned, m.addr, m.webhook_url, m.webhook_secret
             FROM deliveries d JOIN members m ON m.id = d.bot WHERE d.due_ms <= ? ORDER BY d.id LIMIT ?",
            vec![int(now_ms), int(limit.into())],
        )?;
        Ok(rows
            .into_iter()
            .map(|r| Delivery {
                id: r.delivery as u64,
                hook: Hook { bot: r.member.into(), url: r.webhook_url, secret: r.webhook_secret },
                message: r.message as Seq,
                body: r.body,
                attempts: r.attempts as u32,
            })
            .collect())
    }

    fn finish_delivery(&mut self, id: u64) -> std::result::Result<(), StoreError> {
        self.run("DELETE FROM deliveries WHERE id = ?", vec![int(id)])
    }

    fn reschedule(&mut self, id: u64, attempts: u32, due_ms: u64) -> std::result::Result<(), StoreError> {
        self.run(
            "UPDATE deliveries SET attempts = ?, due_ms = ? WHERE id = ?",
            vec![int(attempts.into()), int(due_ms), int(id)],
        )
    }

    fn next_due(&mut self) -> std::result::Result<Option<u64>, StoreError> {
        #[derive(Deserialize)]
        struct Row {
            due: Option<f64>,
        }
        let rows: Vec<Row> = self.rows("SELECT min(due_ms) AS due FROM deliveries", Vec::new())?;
        Ok(rows.first().and_then(|r| r.due).map(|d| d as u64))
    }

    fn open_streams(&mut self) -> std::result::Result<Vec<(Seq, MemberId, u64)>, StoreError> {
        #[derive(Deserialize)]
        struct Row {
            id: f64,
            member: f64,
            at: f64,
        }
        let rows: Vec<Row> = self.rows(
            // `version` is the message's newest event: its time, by primary key.
            "SELECT p.id, p.member, coalesce((SELECT e.ts FROM events e WHERE e.seq = p.version), p.ts) AS at
             FROM posts p WHERE p.streaming = 1",
            Vec::new(),
        )?;
        Ok(rows.into_iter().map(|r| (r.id as Seq, r.member as MemberId, r.at as u64)).collect())
    }

    fn set_inbox(&mut self, member: MemberId, inbox: &str) -> std::result::Result<(), StoreError> {
        self.run("UPDATE members SET inbox = ?1 WHERE id = ?2 AND inbox IS NOT ?1", vec![inbox.into(), int(member)])
    }

    fn unread_after(&mut self, member: MemberId, after: Seq, cap: u32) -> std::result::Result<(u32, u32), StoreError> {
        #[derive(Deserialize)]
        struct Row {
            unread: f64,
            mentions: f64,
        }
        // At most `cap`, the oldest first: a range over the posts' primary key from the read
        // position. The member is cast before it is spliced into the pattern: the runtime may
        // bind a number as REAL, and `'%,' || 1.0 || ',%'` matches no list of ids.
        let rows: Vec<Row> = self.rows(
            "SELECT count(*) AS unread,
                    coalesce(sum((',' || mentions || ',') LIKE '%,' || CAST(?1 AS INTEGER) || ',%'), 0) AS mentions
             FROM (SELECT mentions FROM posts WHERE id > ?2 AND member != ?1 AND deleted = 0 ORDER BY id LIMIT ?3)",
            vec![int(member), int(after), int(cap.into())],
        )?;
        Ok(rows.first().map_or((0, 0), |r| (r.unread as u32, r.mentions as u32)))
    }

    fn save_watch(&mut self, member: MemberId, inbox: &str) -> std::result::Result<(), StoreError> {
        self.run("DELETE FROM watches WHERE inbox = ?1 AND member != ?2", vec![inbox.into(), int(member)])?;
        self.run("INSERT OR REPLACE INTO watches (member, inbox) VALUES (?, ?)", vec![int(member), inbox.into()])
    }

    fn drop_watch(&mut self, member: MemberId) -> std::result::Result<(), StoreError> {
        self.run("DELETE FROM watches WHERE member = ?", vec![int(member)])
    }

    fn watches(&mut self) -> std::result::Result<Vec<(MemberId, String)>, StoreError> {
        #[derive(Deserialize)]
        struct Row {
            member: f64,
            inbox: String,
        }
        let rows: Vec<Row> = self.rows("SELECT member, inbox FROM watches", Vec::new())?;
        Ok(rows.into_iter().map(|r| (r.member as MemberId, r.inbox)).collect())
    }

    fn set_dm(&mut self, a: &str, b: &str) -> std::result::Result<bool, StoreError> {
        let record = self.record()?;
        if let Some((x, y)) = record.dm {
            return Ok((x.as_str(), y.as_str()) == (a, b));
        }
        if self.latest()?.is_some() {
            return Ok(false);
        }
        let this = &*self;
        let result = atomically(self.storage, || {
            this.migrate()?;
            this.run("INSERT OR IGNORE INTO meta (key, value) VALUES ('dm', ?)", vec![format!("d{a} {b}").into()])
        });
        self.cache.settle(&result);
        result.map(|()| true)
    }
}
