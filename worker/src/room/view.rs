//! How stored messages become what a member sees: the quote of the message each replies to,
//! as that message is now, and the reaction summary with `mine` as the viewer's.

use crate::store::{ReactionRow, RoomStore, StoreError, StoredMessage};
use confab_shared::limits::REACTION_NAMES_MAX;
use confab_shared::{excerpt, ChatMessage, MemberId, Quote, Reaction, Seq};
use std::collections::{BTreeMap, HashMap};

/// `rows` as `viewer` sees them (no `mine` without a viewer), in the same order.
pub(super) fn messages(
    store: &mut impl RoomStore,
    rows: Vec<StoredMessage>,
    viewer: Option<MemberId>,
) -> Result<Vec<ChatMessage>, StoreError> {
    if rows.is_empty() {
        return Ok(Vec::new());
    }
    let quoted: Vec<Seq> = rows.iter().filter_map(|m| m.reply_to).collect();
    let quotes: HashMap<Seq, Quote> = if quoted.is_empty() {
        HashMap::new()
    } else {
        store.messages(&quoted)?.iter().map(|m| (m.id, quote(m))).collect()
    };
    let live: Vec<Seq> = rows.iter().filter(|m| !m.deleted).map(|m| m.id).collect();
    let mut reactions: BTreeMap<Seq, Vec<ReactionRow>> = BTreeMap::new();
    if !live.is_empty() {
        for r in store.reactions(&live)? {
            reactions.entry(r.id).or_default().push(r);
        }
    }
    Ok(rows
        .into_iter()
        .map(|m| {
            let summary = reactions.get(&m.id).map(|rs| summarize(rs, viewer)).unwrap_or_default();
            let reply_to = m.reply_to.and_then(|id| quotes.get(&id).cloned());
            message(m, reply_to, summary)
        })
        .collect())
}

/// A stored message with its quote and reactions.
pub(super) fn message(m: StoredMessage, reply_to: Option<Quote>, reactions: Vec<Reaction>) -> ChatMessage {
    ChatMessage {
        id: m.id,
        version: m.version,
        member: m.member,
        author: m.author,
        client_id: m.client_id,
        text: m.text,
        ts: m.ts,
        edited_ts: m.edited_ts,
        deleted: m.deleted,
        removed: m.removed,
        bot: m.bot,
        streaming: m.streaming,
        reply_to,
        mentions: m.mentions,
        reactions,
    }
}

/// How a reply shows `m`.
pub(super) fn quote(m: &StoredMessage) -> Quote {
    Quote {
        id: m.id,
        member: m.member,
        author: m.author.clone(),
        excerpt: if m.deleted { String::new() } else { excerpt(&m.text) },
        deleted: m.deleted,
    }
}

/// One message's reactions (rows in the order they were added) as a summary: each emoji in
/// the order it was first used, with its exact count, the first [`REACTION_NAMES_MAX`] names,
/// and whether `viewer` is among all who used it.
pub fn summarize(rows: &[ReactionRow], viewer: Option<MemberId>) -> Vec<Reaction> {
    let mut order: Vec<&str> = Vec::new();
    let mut by: HashMap<&str, Reaction> = HashMap::new();
    for r in rows {
        let e = by.entry(r.emoji.as_str()).or_insert_with(|| {
            order.push(r.emoji.as_str());
            Reaction { emoji: r.emoji.clone(), count: 0, names: Vec::new(), mine: false }
        });
        e.count += 1;
        if e.names.len() < REACTION_NAMES_MAX {
            e.names.push(r.name.clone());
        }
        e.mine |= Some(r.member) == viewer;
    }
    order.into_iter().filter_map(|e| by.remove(e)).collect()
}
