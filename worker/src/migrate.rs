//! Bringing rooms written by older builds up to date, as pure plans the SQL glue carries out
//! (`sql.rs`), so the decisions are tested natively.
//!
//! - Protocol 1 rooms keyed name claims by the lowercased name; [`rekey_claims`] moves them
//!   to `UserName::claim_key`.
//! - Protocol 1 rooms stored messages by a member *name* (the claim key) with its `seq`;
//!   [`plan_members`] gives every author and every claim a stable member id, so their
//!   messages become post events with the same ids.

use confab_shared::MemberId;
use std::collections::BTreeMap;

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

/// Each claim of a protocol 1 room as `(stored name, claim key, key hash, ms)`: re-keyed if
/// the room's claims predate claim keys (`keyed` false), and with the name its messages are
/// stored under, which for a claim re-keyed now is still its old name.
pub fn stored_claims(old: Vec<ClaimRow>, keyed: bool) -> Vec<(String, String, String, u64)> {
    if keyed {
        return old.into_iter().map(|(key, hash, ms)| (key.clone(), key, hash, ms)).collect();
    }
    let (new, renames) = rekey_claims(old);
    new.into_iter()
        .map(|(key, hash, ms)| {
            let stored = renames.iter().find(|(_, k)| *k == key).map_or_else(|| key.clone(), |(o, _)| o.clone());
            (stored, key, hash, ms)
        })
        .collect()
}

/// A member of a protocol 2 room made from a protocol 1 room.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlannedMember {
    /// Its new id.
    pub id: MemberId,
    /// The name its messages are stored under in the old `messages` table.
    pub stored: String,
    /// Its claim, if it still has one: `(claim key, unsalted key hash, when it last joined)`.
    /// A member without one wrote messages under a claim that lapsed or lost the re-keying:
    /// nobody can join as it, so nobody can edit or delete those messages.
    pub claim: Option<(String, String, u64)>,
    /// The name to show: its newest message's author, else the claim key.
    pub display: String,
}

/// Member ids for a protocol 1 room: one per name messages are stored under and one per
/// claim, numbered in the order of those names, so running the plan twice (a migration cut
/// short and run again) gives every member the same id. `claims` is `(stored name, claim key,
/// key hash, ms)`: a claim re-keyed just now still has its messages under its old name, and
/// a losing claim's messages stay under theirs, even when that name is the winner's new key
/// (`ernrna` losing to `emma`, whose key is `ernrna`): they never merge. `authors` is
/// `(stored name, newest author display)` for each name that wrote messages.
pub fn plan_members(claims: Vec<(String, String, String, u64)>, authors: Vec<(String, String)>) -> Vec<PlannedMember> {
    let mut by_stored: BTreeMap<String, PlannedMember> = BTreeMap::new();
    for (stored, key, hash, ms) in claims {
        by_stored.insert(
            stored.clone(),
            PlannedMember { id: 0, stored, claim: Some((key.clone(), hash, ms)), display: key },
        );
    }
    for (stored, display) in authors {
        by_stored
            .entry(stored.clone())
            .or_insert_with(|| PlannedMember { id: 0, stored, claim: None, display: String::new() })
            .display = display;
    }
    by_stored.into_values().zip(1..).map(|(m, id)| PlannedMember { id, ..m }).collect()
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

    #[test]
    fn every_author_and_claim_gets_one_stable_id() {
        let claims = vec![
            ("bob".to_owned(), "bob".to_owned(), "hb".to_owned(), 5),
            ("alice".to_owned(), "alice".to_owned(), "ha".to_owned(), 9),
        ];
        let authors = vec![("alice".to_owned(), "Alice".to_owned()), ("zed".to_owned(), "Zed".to_owned())];
        let plan = plan_members(claims.clone(), authors.clone());
        assert_eq!(plan, plan_members(claims, authors), "a rerun plans the same ids");
        let by: BTreeMap<_, _> = plan.iter().map(|m| (m.stored.as_str(), m)).collect();
        assert_eq!(plan.iter().map(|m| m.id).collect::<Vec<_>>(), vec![1, 2, 3]);
        assert_eq!(by["alice"].display, "Alice", "the newest author name shows");
        assert_eq!(by["alice"].claim, Some(("alice".to_owned(), "ha".to_owned(), 9)));
        assert_eq!(by["bob"].display, "bob", "a claim without messages shows its key");
        assert_eq!(by["zed"].claim, None, "an author whose claim lapsed can never be joined as");
    }

    #[test]
    fn a_loser_whose_name_is_the_winners_new_key_keeps_its_own_messages() {
        let key = |n: &str| confab_shared::UserName::parse(n).unwrap().claim_key();
        // Two old claims that are one claim key now, where the loser's own name is that key.
        let (winner, loser) = ("emma", "ernrna");
        assert_eq!(key(winner), key(loser));
        assert_eq!(key(loser), loser, "the loser's name is the shared key");
        let old = vec![(winner.to_owned(), "hw".to_owned(), 20), (loser.to_owned(), "hl".to_owned(), 10)];
        let claims = stored_claims(old, false);
        let authors = vec![(winner.to_owned(), "Emma".to_owned()), (loser.to_owned(), "ernrna".to_owned())];
        let plan = plan_members(claims, authors);
        let by: BTreeMap<_, _> = plan.iter().map(|m| (m.stored.as_str(), m)).collect();
        assert_eq!(by[winner].claim.as_ref().map(|c| c.1.as_str()), Some("hw"), "the winner holds the key");
        assert_eq!(by[loser].claim, None, "the loser's messages are their own member's, unclaimable");
        assert_ne!(by[winner].id, by[loser].id);
    }
}
