//! The saved outbox: unacknowledged operations (posts, edits, deletes, reactions) in local
//! storage, so closing the tab loses nothing.
//!
//! One key per room *and name* (`confab.outbox.{room}.{canonical name}`), each entry
//! carrying its author: a message is only ever sent under the name that wrote it, even when
//! another tab changes the name. Tabs share storage, so nobody writes a whole in-memory copy
//! back: every change is a read-modify-write of the entries that changed ([`merge`]), and a
//! tab hears the others through the `storage` event. The pure part (keys, merge, diff) is
//! tested natively; the storage calls below it are wasm-only glue.

use crate::state::Pending;

/// Every saved outbox key starts with this.
pub const PREFIX: &str = "confab.outbox.";

/// The key for `room`'s outbox written as `name` (its canonical form).
pub fn key(room: &str, canonical_name: &str) -> String {
    format!("{PREFIX}{room}.{canonical_name}")
}

/// The key older pages used for a room (no name).
pub fn legacy_key(room: &str) -> String {
    format!("{PREFIX}{room}")
}

/// Whether `key` is an outbox of `room` (any name).
pub fn is_room_key(key: &str, room: &str) -> bool {
    key.strip_prefix(PREFIX).and_then(|rest| rest.strip_prefix(room)).is_some_and(|rest| rest.starts_with('.'))
}

/// `saved` with `removed` taken out and `upserted` put in (replacing an entry with the same
/// `client_id`), in the order the messages were typed.
pub fn merge(saved: Vec<Pending>, upserted: &[Pending], removed: &[String]) -> Vec<Pending> {
    let mut out: Vec<Pending> = saved.into_iter().filter(|p| !removed.contains(&p.client_id)).collect();
    for p in upserted {
        match out.iter_mut().find(|q| q.client_id == p.client_id) {
            Some(q) => *q = p.clone(),
            None => out.push(p.clone()),
        }
    }
    out.sort_by_key(|p| p.created_ms);
    out
}

/// The entries of a saved outbox. Each entry is read on its own: one this page cannot read
/// (saved by a newer page, or damaged) is skipped rather than losing the others.
pub fn parse_saved(text: &str) -> Vec<Pending> {
    let entries: Vec<serde_json::Value> = serde_json::from_str(text).unwrap_or_default();
    entries.into_iter().filter_map(|e| serde_json::from_value(e).ok()).collect()
}

/// What changed from `before` to `after`: entries new or changed, and ids gone.
pub fn diff(before: &[Pending], after: &[Pending]) -> (Vec<Pending>, Vec<String>) {
    let upserted = after.iter().filter(|p| !before.contains(p)).cloned().collect();
    let removed = before
        .iter()
        .filter(|p| !after.iter().any(|q| q.client_id == p.client_id))
        .map(|p| p.client_id.clone())
        .collect();
    (upserted, removed)
}

#[cfg(target_arch = "wasm32")]
pub use glue::*;

#[cfg(target_arch = "wasm32")]
mod glue {
    use super::*;
    use crate::browser;

    /// The entries saved under `key`.
    pub fn load(key: &str) -> Vec<Pending> {
        browser::load_text(key).map(|t| parse_saved(&t)).unwrap_or_default()
    }

    /// Read-modify-write of `key`: another tab's entries are never overwritten.
    pub fn update(key: &str, upserted: &[Pending], removed: &[String]) {
        if upserted.is_empty() && removed.is_empty() {
            return;
        }
        let next = merge(load(key), upserted, removed);
        if next.is_empty() {
            browser::remove(key);
        } else {
            browser::save(key, &next);
        }
    }

    /// Saves what changed between `before` and `after` (both this page's view of `key`).
    pub fn sync(key: &str, before: &[Pending], after: &[Pending]) {
        let (upserted, removed) = diff(before, after);
        update(key, &upserted, &removed);
    }

    /// The outbox of `room` for `name` (`canonical`): its own key, plus what an older page
    /// saved under the room alone (adopted by the first name that opens the room).
    pub fn load_for(room: &str, name: &str, canonical: &str) -> Vec<Pending> {
        let key = key(room, canonical);
        let legacy = load(&legacy_key(room));
        if !legacy.is_empty() {
            let adopted: Vec<Pending> = legacy.into_iter().map(|p| Pending { author: name.to_owned(), ..p }).collect();
            update(&key, &adopted, &[]);
        }
        browser::remove(&legacy_key(room));
        load(&key)
    }

    /// Other names' unsent messages in `room` (another tab wrote them under another name):
    /// `(key, author, entries)`.
    pub fn others(room: &str, own_key: &str) -> Vec<(String, String, Vec<Pending>)> {
        browser::keys()
            .into_iter()
            .filter(|k| k != own_key && is_room_key(k, room))
            .filter_map(|k| {
                let entries = load(&k);
                let author = entries.iter().find(|p| !p.author.is_empty())?.author.clone();
                Some((k, author, entries))
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::state::Op;

    fn p(id: &str, at: u64, author: &str) -> Pending {
        Pending {
            client_id: id.into(),
            op: Op::Send { text: id.into(), reply_to: None },
            created_ms: at,
            author: author.into(),
            epoch: None,
            failed: None,
            sent: false,
        }
    }

    #[test]
    fn one_unreadable_entry_does_not_lose_the_others() {
        let text = r#"[{"client_id":"a","text":"old page","created_ms":1},
                       {"client_id":"b","op":"hologram","id":4,"created_ms":2},
                       {"client_id":"c","op":"react","id":4,"emoji":"👍","on":true,"created_ms":3}]"#;
        let ids: Vec<String> = parse_saved(text).into_iter().map(|p| p.client_id).collect();
        assert_eq!(ids, ["a", "c"]);
        assert!(parse_saved("not json").is_empty());
    }

    #[test]
    fn keys_name_the_room_and_the_name() {
        assert_eq!(key("lobby", "alice"), "confab.outbox.lobby.alice");
        assert!(is_room_key("confab.outbox.lobby.bob", "lobby"));
        assert!(!is_room_key("confab.outbox.lobby2.bob", "lobby"));
        assert!(!is_room_key("confab.outbox.lobby", "lobby"), "the legacy key is read separately");
    }

    #[test]
    fn two_tabs_writing_the_same_key_both_survive() {
        // Tab A saved x; tab B, which loaded before x existed, adds y: x is kept.
        let saved = merge(Vec::new(), &[p("x", 1, "alice")], &[]);
        let (upserted, removed) = diff(&[], &[p("y", 2, "alice")]);
        let saved = merge(saved, &upserted, &removed);
        assert_eq!(saved.iter().map(|p| p.client_id.as_str()).collect::<Vec<_>>(), ["x", "y"]);
        // B's x is acked: B removes only x, A's later z survives.
        let saved = merge(saved, &[p("z", 3, "alice")], &[]);
        let (upserted, removed) = diff(&[p("x", 1, "alice"), p("y", 2, "alice")], &[p("y", 2, "alice")]);
        let saved = merge(saved, &upserted, &removed);
        assert_eq!(saved.iter().map(|p| p.client_id.as_str()).collect::<Vec<_>>(), ["y", "z"]);
    }

    #[test]
    fn a_changed_entry_replaces_the_saved_one() {
        let mut failed = p("x", 1, "alice");
        failed.failed = Some("too long".into());
        let (upserted, removed) = diff(&[p("x", 1, "alice")], std::slice::from_ref(&failed));
        assert!(removed.is_empty());
        assert_eq!(merge(vec![p("x", 1, "alice")], &upserted, &removed), [failed]);
    }
}
