//! Property tests over the room state machine: any sequence of socket events — joins under
//! contested names, sends with repeated client ids, hostile text, typing, history requests,
//! closes, hibernation and time passing — never panics and keeps what defines a chat room:
//! - every stored message reaches every socket joined at that moment exactly once, and each
//!   socket receives messages in seq order;
//! - the members are exactly the names with an open joined socket;
//! - every joined socket's member list, built by the page's own `RoomView` from the frames it
//!   received and compared exactly as the page compares (display strings, case and all),
//!   equals the room's once no presence batch is pending.

use confab_frontend::state::RoomView;
use confab_shared::ServerFrame;
use confab_worker::room::{Input, SocketId};
use proptest::prelude::*;
use serde_json::json;
use std::collections::{BTreeMap, BTreeSet};

mod common;
use common::Harness;

#[derive(Debug, Clone)]
enum Op {
    Open,
    Join { socket: usize, name: usize, key: usize, since: Option<u64> },
    Send { socket: usize, client_id: usize, text: String },
    Typing { socket: usize },
    History { socket: usize, before: u64, limit: u32 },
    Raw { socket: usize, text: String },
    Binary { socket: usize, len: usize },
    Close { socket: usize },
    Hibernate,
    Wait { ms: u64 },
    Tick,
}

// "аlice" has a Cyrillic а: one claim with "alice" by its confusable skeleton.
const NAMES: [&str; 5] = ["alice", "Alice", "\u{430}lice", "bob", "carol"];
const KEYS: [&str; 2] = ["kkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkk", "jjjjjjjjjjjjjjjjjjjjjjjjjjjjjjjjjjjjjjjj"];

fn claim_key(name: &str) -> String {
    confab_shared::UserName::parse(name).expect("test names are valid").claim_key()
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        2 => Just(Op::Open),
        5 => (0..8usize, 0..NAMES.len(), 0..KEYS.len(), prop::option::of(0u64..30))
            .prop_map(|(socket, name, key, since)| Op::Join { socket, name, key, since }),
        6 => (0..8usize, 0..6usize, prop_oneof!["[a-z ]{0,20}", "\\PC{0,10}", Just(String::new())])
            .prop_map(|(socket, client_id, text)| Op::Send { socket, client_id, text }),
        1 => (0..8usize).prop_map(|socket| Op::Typing { socket }),
        1 => (0..8usize, 0u64..40, 0u32..120).prop_map(|(socket, before, limit)| Op::History { socket, before, limit }),
        1 => (0..8usize, any::<String>()).prop_map(|(socket, text)| Op::Raw { socket, text }),
        1 => (0..8usize, 0usize..20_000).prop_map(|(socket, len)| Op::Binary { socket, len }),
        4 => (0..8usize).prop_map(|socket| Op::Close { socket }),
        1 => Just(Op::Hibernate),
        1 => (0u64..5_000).prop_map(|ms| Op::Wait { ms }),
        2 => (0u64..150).prop_map(|ms| Op::Wait { ms }),
        1 => Just(Op::Tick),
    ]
}

fn run(ops: Vec<Op>, presence_immediate: usize) -> Result<(), TestCaseError> {
    let mut h = Harness::with_config(confab_worker::room::RoomConfig { presence_immediate, ..Default::default() });
    let mut sockets: Vec<SocketId> = Vec::new();
    let mut open: BTreeSet<SocketId> = BTreeSet::new();
    let mut joined: BTreeMap<SocketId, String> = BTreeMap::new(); // socket -> claim key
                                                                  // What each joined socket's page holds, built from the frames it received.
    let mut views: BTreeMap<SocketId, RoomView> = BTreeMap::new();
    // The newest message seq each socket received as a `message` frame.
    let mut last_delivered: BTreeMap<SocketId, u64> = BTreeMap::new();
    let pick = |sockets: &Vec<SocketId>, i: usize| sockets.get(i % sockets.len().max(1)).copied();

    for op in ops {
        let joined_before: BTreeSet<SocketId> = joined.keys().copied().collect();
        let stored_before = h.store.all().last().map_or(0, |m| m.seq);
        match op {
            Op::Open => {
                let s = h.open();
                sockets.push(s);
                open.insert(s);
            }
            Op::Join { socket, name, key, since } => {
                let Some(s) = pick(&sockets, socket).filter(|s| open.contains(s)) else { continue };
                let mut data = json!({"name": NAMES[name], "key": KEYS[key]});
                if let Some(since) = since {
                    data["since"] = json!(since);
                }
                h.text(s, json!({"type": "join", "data": data}));
                if h.inbox.get(&s).is_some_and(|f| f.iter().any(|f| matches!(f, ServerFrame::Welcome { .. }))) {
                    joined.insert(s, claim_key(NAMES[name]));
                }
            }
            Op::Send { socket, client_id, text } => {
                let Some(s) = pick(&sockets, socket).filter(|s| open.contains(s)) else { continue };
                h.send(s, &format!("c{client_id}"), &text);
            }
            Op::Typing { socket } => {
                let Some(s) = pick(&sockets, socket).filter(|s| open.contains(s)) else { continue };
                h.text(s, json!({"type": "typing", "data": {}}));
            }
            Op::History { socket, before, limit } => {
                let Some(s) = pick(&sockets, socket).filter(|s| open.contains(s)) else { continue };
                h.text(s, json!({"type": "history", "data": {"before": before, "limit": limit}}));
            }
            Op::Raw { socket, text } => {
                let Some(s) = pick(&sockets, socket).filter(|s| open.contains(s)) else { continue };
                h.raw(s, &text);
            }
            Op::Binary { socket, len } => {
                let Some(s) = pick(&sockets, socket).filter(|s| open.contains(s)) else { continue };
                let effects = h.room.handle(&mut h.store, Input::Binary(s, len), h.now);
                h.apply(effects);
            }
            Op::Close { socket } => {
                let Some(s) = pick(&sockets, socket).filter(|s| open.contains(s)) else { continue };
                h.close(s);
                open.remove(&s);
                joined.remove(&s);
            }
            Op::Hibernate => h.hibernate(),
            Op::Wait { ms } => h.now += ms,
            Op::Tick => h.tick(),
        }
        // Sockets the room closed (frame too large) are gone, as the runtime would report.
        for s in h.closed.keys().copied().collect::<Vec<_>>() {
            if open.remove(&s) {
                h.close(s);
                joined.remove(&s);
            }
        }
        // Exactly once, in order: each message stored by this event reached every socket
        // that was joined when it was stored, once.
        let new: Vec<u64> = h.store.all().map(|m| m.seq).filter(|s| *s > stored_before).collect();
        for s in &joined_before {
            if !open.contains(s) && !h.closed.contains_key(s) {
                continue;
            }
            let got: Vec<u64> = h
                .inbox
                .get(s)
                .into_iter()
                .flatten()
                .filter_map(|f| match f {
                    ServerFrame::Message(m) => Some(m.seq),
                    _ => None,
                })
                .collect();
            prop_assert_eq!(&got, &new, "socket {} receives each new message once", s);
        }
        for (s, frames) in &h.inbox {
            let view = views.entry(*s).or_default();
            for f in frames {
                if let ServerFrame::Message(m) = f {
                    let last = last_delivered.entry(*s).or_default();
                    prop_assert!(m.seq > *last, "socket {} got seq {} after {}", s, m.seq, last);
                    *last = m.seq;
                }
                if let ServerFrame::Welcome { messages, .. } = f {
                    if let Some(m) = messages.last() {
                        let last = last_delivered.entry(*s).or_default();
                        *last = (*last).max(m.seq);
                    }
                }
                view.apply(f.clone(), h.now);
            }
        }
        h.inbox.clear();
        views.retain(|s, _| joined.contains_key(s));
        last_delivered.retain(|s, _| open.contains(s));

        let members = h.room.member_names();
        let mut canonical: Vec<String> = members.iter().map(|n| claim_key(n)).collect();
        canonical.sort();
        let expected: BTreeSet<String> = joined.values().cloned().collect();
        prop_assert_eq!(
            &canonical,
            &expected.into_iter().collect::<Vec<_>>(),
            "members are the names with an open joined socket"
        );
        // Once no presence batch is pending, every page's member list is the room's, exactly.
        if !h.room.presence_pending() {
            for (s, view) in &views {
                let view: Vec<String> = view.members.iter().cloned().collect();
                prop_assert_eq!(&view, &members, "socket {}'s member list", s);
            }
        }
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn no_sequence_of_events_breaks_the_room(ops in prop::collection::vec(op(), 1..250), immediate in 0usize..4) {
        // A small `presence_immediate` makes presence batching the rule rather than the exception.
        run(ops, immediate)?;
    }
}
