//! What the room needs from storage, as a trait. Durable Object SQLite is synchronous, so the
//! room can call it in the middle of a rule: the message is stored and has its `seq` before
//! any effect that broadcasts it exists. `SqlStore` (in `durable.rs`) is the real one;
//! [`MemoryStore`] serves native tests, benchmarks of the room and fuzzing.

use confab_shared::{ChatMessage, Seq};
use std::collections::{BTreeMap, HashMap};
use std::fmt;

/// Storage failed; the room answers `internal` and the client may retry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoreError(pub String);

impl fmt::Display for StoreError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "storage failed: {}", self.0)
    }
}

/// What [`RoomStore::append`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Appended {
    /// Stored as a new message.
    Stored(ChatMessage),
    /// This member already sent a message with this `client_id`; nothing was written.
    Duplicate {
        /// Where the first copy is.
        seq: Seq,
        /// When the first copy was stored.
        ts: u64,
    },
}

/// A claim on a name lapses when its owner has not joined with it for this long: another key
/// may then take it. Claims cost nothing to make, so without this every common name could be
/// squatted forever.
pub const CLAIM_IDLE_MS: u64 = 90 * 24 * 60 * 60 * 1000;

/// One stored claim: `(name or claim key, key hash, when its owner last joined)`.
pub type ClaimRow = (String, String, u64);

/// Name claims as stored before they were keyed by `UserName::claim_key` (rooms written by
/// builds that keyed them by the lowercased name), re-keyed: each `(name, key_hash, ms)`
/// moves to its claim key. Where several old names now share one key (`alice` and a Cyrillic
/// `аlice`), the name that is plain ASCII keeps it, and among equals the most recently used
/// (`ms` is when its owner last joined): an impersonator who rejoins just before the upgrade
/// must not win the plain spelling. The others may take another name.
/// Rows whose name no longer parses keep their old key (nobody can join with it any more).
/// Also returns the renames `(old name, new key)` of the claims that kept their key, so the
/// room can move those members' stored messages (their resends are deduplicated by member);
/// a losing claim's messages stay under its old name, out of the winner's way.
pub fn rekey_claims(rows: Vec<ClaimRow>) -> (Vec<ClaimRow>, Vec<(String, String)>) {
    let mut by_key: BTreeMap<String, (String, String, u64)> = BTreeMap::new();
    let mut rows = rows;
    rows.sort_by_key(|(name, _, ms)| (!name.is_ascii(), std::cmp::Reverse(*ms)));
    for (name, hash, ms) in rows {
        let key = confab_shared::UserName::parse(&name).map_or_else(|_| name.clone(), |n| n.claim_key());
        by_key.entry(key).or_insert((name, hash, ms));
    }
    let renames =
        by_key.iter().filter(|(k, (name, _, _))| *k != name).map(|(k, (n, _, _))| (n.clone(), k.clone())).collect();
    (by_key.into_iter().map(|(k, (_, h, ms))| (k, h, ms)).collect(), renames)
}

/// The room's storage. Every method is one short transaction (two statements at most, which
/// Durable Object write coalescing commits together). Reads never write: looking at a room
/// that was never written to creates nothing.
pub trait RoomStore {
    /// The newest message's `(seq, ts)`, if any.
    fn latest(&mut self) -> Result<Option<(Seq, u64)>, StoreError>;
    /// Claims `canonical_name` for `key_hash` if nobody has, or if its claim lapsed (unused for
    /// [`CLAIM_IDLE_MS`]); `true` if `key_hash` owns it now, and then the claim is renewed.
    fn claim(&mut self, canonical_name: &str, key_hash: &str, now_ms: u64) -> Result<bool, StoreError>;
    /// Where the message `(member, client_id)` is stored, if it is: `(seq, ts)`.
    fn find(&mut self, member: &str, client_id: &str) -> Result<Option<(Seq, u64)>, StoreError>;
    /// Stores a message unless `(member, client_id)` is already stored. `seq` is assigned here.
    fn append(
        &mut self,
        member: &str,
        client_id: &str,
        author: &str,
        text: &str,
        ts: u64,
    ) -> Result<Appended, StoreError>;
    /// The newest `limit` messages with `seq < before`, oldest first.
    fn before(&mut self, before: Seq, limit: u32) -> Result<Vec<ChatMessage>, StoreError>;
    /// The newest `limit` messages with `seq > after`, oldest first.
    fn after(&mut self, after: Seq, limit: u32) -> Result<Vec<ChatMessage>, StoreError>;
}

/// An in-memory [`RoomStore`] with the same semantics as the SQLite one.
#[derive(Debug, Default, Clone)]
pub struct MemoryStore {
    messages: BTreeMap<Seq, ChatMessage>,
    by_client: HashMap<(String, String), Seq>,
    claims: HashMap<String, (String, u64)>,
    /// When set, every call fails: lets tests check how the room answers a platform failure.
    pub fail: bool,
}

impl MemoryStore {
    /// Every stored message, oldest first.
    pub fn all(&self) -> impl Iterator<Item = &ChatMessage> {
        self.messages.values()
    }

    fn check(&self) -> Result<(), StoreError> {
        if self.fail {
            Err(StoreError("injected failure".into()))
        } else {
            Ok(())
        }
    }

    fn page(iter: impl DoubleEndedIterator<Item = ChatMessage>, limit: u32) -> Vec<ChatMessage> {
        let mut page: Vec<_> = iter.rev().take(limit as usize).collect();
        page.reverse();
        page
    }
}

impl RoomStore for MemoryStore {
    fn latest(&mut self) -> Result<Option<(Seq, u64)>, StoreError> {
        self.check()?;
        Ok(self.messages.values().next_back().map(|m| (m.seq, m.ts)))
    }

    fn claim(&mut self, canonical_name: &str, key_hash: &str, now_ms: u64) -> Result<bool, StoreError> {
        self.check()?;
        let claim = self.claims.entry(canonical_name.to_owned()).or_insert_with(|| (key_hash.to_owned(), now_ms));
        if claim.0 == key_hash || now_ms.saturating_sub(claim.1) >= CLAIM_IDLE_MS {
            *claim = (key_hash.to_owned(), now_ms.max(claim.1));
            return Ok(true);
        }
        Ok(false)
    }

    fn find(&mut self, member: &str, client_id: &str) -> Result<Option<(Seq, u64)>, StoreError> {
        self.check()?;
        let Some(&seq) = self.by_client.get(&(member.to_owned(), client_id.to_owned())) else { return Ok(None) };
        let ts = self.messages.get(&seq).map(|m| m.ts).ok_or_else(|| StoreError("index points nowhere".into()))?;
        Ok(Some((seq, ts)))
    }

    fn append(
        &mut self,
        member: &str,
        client_id: &str,
        author: &str,
        text: &str,
        ts: u64,
    ) -> Result<Appended, StoreError> {
        self.check()?;
        if let Some(&seq) = self.by_client.get(&(member.to_owned(), client_id.to_owned())) {
            let ts = self.messages.get(&seq).map(|m| m.ts).ok_or_else(|| StoreError("index points nowhere".into()))?;
            return Ok(Appended::Duplicate { seq, ts });
        }
        let seq = self.messages.keys().next_back().map_or(1, |s| s + 1);
        let m = ChatMessage { seq, client_id: client_id.into(), author: author.into(), text: text.into(), ts };
        self.messages.insert(seq, m.clone());
        self.by_client.insert((member.to_owned(), client_id.to_owned()), seq);
        Ok(Appended::Stored(m))
    }

    fn before(&mut self, before: Seq, limit: u32) -> Result<Vec<ChatMessage>, StoreError> {
        self.check()?;
        Ok(Self::page(self.messages.range(..before).map(|(_, m)| m.clone()), limit))
    }

    fn after(&mut self, after: Seq, limit: u32) -> Result<Vec<ChatMessage>, StoreError> {
        self.check()?;
        Ok(Self::page(self.messages.range(after.saturating_add(1)..).map(|(_, m)| m.clone()), limit))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn old_claims_move_to_their_claim_keys_and_the_plain_spelling_keeps_a_shared_one() {
        let old = vec![
            ("\u{430}lice".to_owned(), "mallory".to_owned(), 90), // Cyrillic а, rejoined just before
            ("alice".to_owned(), "alice".to_owned(), 20),
            ("emma".to_owned(), "emma".to_owned(), 5),
            ("bob".to_owned(), "bob".to_owned(), 30),
        ];
        let (new, renames) = rekey_claims(old);
        let key = |n: &str| confab_shared::UserName::parse(n).unwrap().claim_key();
        assert_eq!(new.len(), 3);
        assert!(new.contains(&(key("alice"), "alice".to_owned(), 20)), "{new:?}");
        assert!(renames.contains(&("emma".to_owned(), key("emma"))), "{renames:?}");
        assert!(!renames.iter().any(|(old, _)| old == "\u{430}lice"), "the loser's messages stay put: {renames:?}");
        assert!(new.contains(&(key("emma"), "emma".to_owned(), 5)));
        assert!(new.contains(&(key("bob"), "bob".to_owned(), 30)));
        assert_ne!(key("emma"), "emma", "the confusable skeleton really changes some keys");
    }
}
