//! Property tests over the room state machine: any sequence of socket events — joins under
//! contested names, posts, replies, edits, deletes and reactions from several members and
//! sockets with repeated client ids, hostile text, typing, history requests, closes, resumes
//! from wherever a page left off, hibernation and time passing — never panics and keeps what
//! defines a chat room:
//! - the event log is contiguous, and every event reaches every socket joined when it was
//!   recorded exactly once, in `seq` order;
//! - every joined page, built by the page's own `RoomView` from the frames it received (a
//!   resumed page from the frames of its earlier sockets too), holds exactly what a fresh
//!   joiner of the same member sees, message for message (text, tombstones, quotes,
//!   mentions, reaction summaries with `mine`), as a contiguous run of the newest messages;
//! - reaction counts are the sizes of the sets the acknowledged operations make;
//! - moderation (removals, mutes, bans with purges, slow mode, topics, roles) and a bot's
//!   streamed answers are events like the rest: every page ends up holding what the room
//!   holds (a removal's tombstone, a stream's text so far);
//! - the members are exactly those with an open joined socket, and once no presence batch is
//!   pending every page's member list is the room's.

use confab_frontend::state::RoomView;
use confab_shared::{ChatMessage, MemberId, ServerFrame};
use confab_worker::room::{Input, SocketId};
use proptest::prelude::*;
use serde_json::json;
use std::collections::{BTreeMap, BTreeSet};

mod common;
use common::Harness;

#[derive(Debug, Clone)]
enum Op {
    Open,
    Join {
        socket: usize,
        who: usize,
    },
    /// A page that was closed comes back on an open socket, resuming where it left off.
    Resume {
        socket: usize,
        page: usize,
    },
    Send {
        socket: usize,
        client_id: usize,
        text: String,
        reply: Option<usize>,
    },
    /// Many posts at once, so rooms outgrow a welcome (50) and pages hold only the newest.
    Burst {
        socket: usize,
        n: usize,
    },
    Edit {
        socket: usize,
        client_id: usize,
        target: usize,
        text: String,
    },
    Delete {
        socket: usize,
        client_id: usize,
        target: usize,
    },
    React {
        socket: usize,
        client_id: usize,
        target: usize,
        emoji: usize,
        on: bool,
    },
    Typing {
        socket: usize,
    },
    /// The page's own paging: the page before the oldest message it holds.
    Older {
        socket: usize,
        limit: u32,
    },
    Raw {
        socket: usize,
        text: String,
    },
    Binary {
        socket: usize,
        len: usize,
    },
    Close {
        socket: usize,
    },
    Hibernate,
    Wait {
        ms: u64,
    },
    Tick,
    /// A moderation action from a socket (refused unless it is the owner's or a moderator's).
    Moderate {
        socket: usize,
        client_id: usize,
        action: Mod,
    },
    /// The bot (made by the first socket that can) opens, extends or finishes a stream over
    /// HTTP.
    Bot {
        step: BotStep,
        client_id: usize,
    },
}

#[derive(Debug, Clone)]
enum Mod {
    Remove { target: usize },
    Mute { who: usize, minutes: u32 },
    Ban { who: usize, ip: bool, purge: bool },
    Unban { who: usize },
    SlowMode { seconds: u32 },
    Topic,
    Promote { who: usize, on: bool },
}

#[derive(Debug, Clone)]
enum BotStep {
    Open(String),
    Chunk(String),
    Finish,
    Post(String),
}

// "аlice" has a Cyrillic а: one claim with "alice" by its confusable skeleton. Each identity
// is a (name, key) pair; "alice" with the second key is someone else trying the name.
const WHO: [(&str, &str); 6] = [
    ("alice", "kkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkk"),
    ("Alice", "kkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkk"),
    ("\u{430}lice", "jjjjjjjjjjjjjjjjjjjjjjjjjjjjjjjjjjjjjjjj"),
    ("bob", "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb"),
    ("carol", "cccccccccccccccccccccccccccccccccccccccc"),
    ("bob", "jjjjjjjjjjjjjjjjjjjjjjjjjjjjjjjjjjjjjjjj"),
];
const EMOJI: [&str; 3] = ["👍", "🎉", "lgtm"];

fn op() -> impl Strategy<Value = Op> {
    let text = prop_oneof!["[a-z ]{1,12}", "@(alice|bob|carol|nobody)[ ,]?[a-z]{0,4}", "\\PC{0,10}"];
    prop_oneof![
        2 => Just(Op::Open),
        4 => (0..8usize, 0..WHO.len()).prop_map(|(socket, who)| Op::Join { socket, who }),
        2 => (0..8usize, 0..8usize).prop_map(|(socket, page)| Op::Resume { socket, page }),
        6 => (0..8usize, 0..8usize, text.clone(), prop::option::of(0..40usize))
            .prop_map(|(socket, client_id, text, reply)| Op::Send { socket, client_id, text, reply }),
        1 => (0..8usize, 20..60usize).prop_map(|(socket, n)| Op::Burst { socket, n }),
        3 => (0..8usize, 0..8usize, 0..40usize, text)
            .prop_map(|(socket, client_id, target, text)| Op::Edit { socket, client_id, target, text }),
        2 => (0..8usize, 0..8usize, 0..40usize)
            .prop_map(|(socket, client_id, target)| Op::Delete { socket, client_id, target }),
        5 => (0..8usize, 0..8usize, 0..40usize, 0..EMOJI.len(), any::<bool>())
            .prop_map(|(socket, client_id, target, emoji, on)| Op::React { socket, client_id, target, emoji, on }),
        1 => (0..8usize).prop_map(|socket| Op::Typing { socket }),
        1 => (0..8usize, 1u32..20).prop_map(|(socket, limit)| Op::Older { socket, limit }),
        1 => (0..8usize, any::<String>()).prop_map(|(socket, text)| Op::Raw { socket, text }),
        1 => (0..8usize, 0usize..20_000).prop_map(|(socket, len)| Op::Binary { socket, len }),
        4 => (0..8usize).prop_map(|socket| Op::Close { socket }),
        1 => Just(Op::Hibernate),
        1 => (0u64..5_000).prop_map(|ms| Op::Wait { ms }),
        2 => (0u64..150).prop_map(|ms| Op::Wait { ms }),
        1 => Just(Op::Tick),
        3 => (0..8usize, 0..8usize, moderation()).prop_map(|(socket, client_id, action)| Op::Moderate { socket, client_id, action }),
        3 => (bot_step(), 0..12usize).prop_map(|(step, client_id)| Op::Bot { step, client_id }),
    ]
}

fn moderation() -> impl Strategy<Value = Mod> {
    prop_oneof![
        3 => (0..40usize).prop_map(|target| Mod::Remove { target }),
        2 => (0..WHO.len(), 0u32..2).prop_map(|(who, minutes)| Mod::Mute { who, minutes }),
        1 => (0..WHO.len(), any::<bool>(), any::<bool>()).prop_map(|(who, ip, purge)| Mod::Ban { who, ip, purge }),
        1 => (0..WHO.len()).prop_map(|who| Mod::Unban { who }),
        1 => (0u32..3).prop_map(|seconds| Mod::SlowMode { seconds }),
        1 => Just(Mod::Topic),
        1 => (0..WHO.len(), any::<bool>()).prop_map(|(who, on)| Mod::Promote { who, on }),
    ]
}

fn bot_step() -> impl Strategy<Value = BotStep> {
    prop_oneof![
        1 => "[a-z]{1,8}".prop_map(BotStep::Open),
        3 => "[ a-z.]{1,6}".prop_map(BotStep::Chunk),
        1 => Just(BotStep::Finish),
        1 => "[a-z @]{1,10}".prop_map(BotStep::Post),
    ]
}

/// Every message as `viewer` sees it now: the truth a page must match.
fn truth(h: &mut Harness, viewer: MemberId) -> BTreeMap<u64, ChatMessage> {
    let mut all = BTreeMap::new();
    let mut before = u64::MAX;
    loop {
        let page = h.room.page_for(&mut h.store, before, 100, viewer).expect("the memory store does not fail");
        let Some(first) = page.messages.first() else { break };
        before = first.id;
        all.extend(page.messages.into_iter().map(|m| (m.id, m)));
        if !page.older {
            break;
        }
    }
    all
}

fn run(ops: Vec<Op>, presence_immediate: usize) -> Result<(), TestCaseError> {
    let mut h = Harness::with_config(confab_worker::room::RoomConfig { presence_immediate, ..common::unlimited() });
    let mut sockets: Vec<SocketId> = Vec::new();
    let mut open: BTreeSet<SocketId> = BTreeSet::new();
    // Joined sockets: which identity, and the page each holds.
    let mut joined: BTreeMap<SocketId, usize> = BTreeMap::new();
    let mut views: BTreeMap<SocketId, RoomView> = BTreeMap::new();
    // Pages whose socket closed, with their identity, ready to resume.
    let mut closed_pages: Vec<(usize, RoomView)> = Vec::new();
    // The newest event seq each socket received.
    let mut last_delivered: BTreeMap<SocketId, u64> = BTreeMap::new();
    // Reaction sets as acknowledged operations make them: (id, emoji) -> members.
    let mut model: BTreeMap<(u64, &'static str), BTreeSet<MemberId>> = BTreeMap::new();
    let mut pending_react: Option<(MemberId, String, u64, &'static str, bool)> = None;
    let mut pending_delete: Option<(MemberId, String, u64)> = None;
    // A ban with purge: (moderator, client id, the banned member).
    let mut pending_purge: Option<(MemberId, String, MemberId)> = None;
    // The bot, once made, and the stream it has open.
    let mut bot: Option<confab_worker::store::MemberInfo> = None;
    let mut stream: Option<u64> = None;
    let pick = |sockets: &Vec<SocketId>, i: usize| sockets.get(i % sockets.len().max(1)).copied();

    for op in ops {
        let joined_before: BTreeSet<SocketId> = joined.keys().copied().collect();
        let closed_before: BTreeSet<SocketId> = h.closed.keys().copied().collect();
        let events_before = h.store.events().count() as u64;
        let ids: Vec<u64> = h.store.all().map(|m| m.id).collect();
        let target = |i: usize| ids.get(i % ids.len().max(1)).copied().unwrap_or(1);
        let live = |s: &Option<SocketId>| s.filter(|s| open.contains(s));
        match op {
            Op::Open => {
                let s = h.open();
                sockets.push(s);
                open.insert(s);
            }
            Op::Join { socket, who } => {
                let Some(s) = live(&pick(&sockets, socket)) else { continue };
                let (name, key) = WHO[who];
                h.text(s, json!({"type": "join", "data": {"v": 2, "name": name, "key": key}}));
                if h.inbox.get(&s).is_some_and(|f| f.iter().any(|f| matches!(f, ServerFrame::Welcome { .. }))) {
                    joined.insert(s, who);
                    views.insert(s, RoomView::default());
                }
            }
            Op::Resume { socket, page } => {
                let Some(s) = live(&pick(&sockets, socket)).filter(|s| !joined.contains_key(s)) else { continue };
                if closed_pages.is_empty() {
                    continue;
                }
                let (who, view) = closed_pages.remove(page % closed_pages.len());
                let (name, key) = WHO[who];
                let mut data = json!({"v": 2, "name": name, "key": key});
                if let (Some(since), Some(epoch)) = (view.last_seq, view.epoch.clone()) {
                    data["since"] = json!(since);
                    data["epoch"] = json!(epoch);
                }
                h.text(s, json!({"type": "join", "data": data}));
                if h.inbox.get(&s).is_some_and(|f| f.iter().any(|f| matches!(f, ServerFrame::Welcome { .. }))) {
                    joined.insert(s, who);
                    views.insert(s, view);
                }
            }
            Op::Send { socket, client_id, text, reply } => {
                let Some(s) = live(&pick(&sockets, socket)) else { continue };
                let mut data = json!({"client_id": format!("c{client_id}"), "text": text});
                if let Some(r) = reply {
                    data["reply_to"] = json!(target(r));
                }
                h.text(s, json!({"type": "send", "data": data}));
            }
            Op::Burst { socket, n } => {
                let Some(s) = live(&pick(&sockets, socket)) else { continue };
                for i in 0..n {
                    h.send(s, &format!("burst{}-{i}", h.now), "burst");
                }
            }
            Op::Edit { socket, client_id, target: t, text } => {
                let Some(s) = live(&pick(&sockets, socket)) else { continue };
                h.edit(s, &format!("c{client_id}"), target(t), &text);
            }
            Op::Delete { socket, client_id, target: t } => {
                let Some(s) = live(&pick(&sockets, socket)) else { continue };
                if let Some(m) = h.room.member_of(s) {
                    pending_delete = Some((m, format!("c{client_id}"), target(t)));
                }
                h.delete(s, &format!("c{client_id}"), target(t));
            }
            Op::React { socket, client_id, target: t, emoji, on } => {
                let Some(s) = live(&pick(&sockets, socket)) else { continue };
                if let Some(m) = h.room.member_of(s) {
                    pending_react = Some((m, format!("c{client_id}"), target(t), EMOJI[emoji], on));
                }
                h.react(s, &format!("c{client_id}"), target(t), EMOJI[emoji], on);
            }
            Op::Typing { socket } => {
                let Some(s) = live(&pick(&sockets, socket)) else { continue };
                h.text(s, json!({"type": "typing", "data": {}}));
            }
            Op::Older { socket, limit } => {
                let Some(s) = live(&pick(&sockets, socket)) else { continue };
                let before = views.get(&s).and_then(|v| v.oldest_id()).unwrap_or(u64::MAX >> 12);
                h.text(s, json!({"type": "history", "data": {"before": before, "limit": limit}}));
            }
            Op::Raw { socket, text } => {
                let Some(s) = live(&pick(&sockets, socket)) else { continue };
                h.raw(s, &text);
            }
            Op::Binary { socket, len } => {
                let Some(s) = live(&pick(&sockets, socket)) else { continue };
                let effects = h.room.handle(&mut h.store, Input::Binary(s, len), h.now);
                h.apply(effects);
            }
            Op::Close { socket } => {
                let Some(s) = live(&pick(&sockets, socket)) else { continue };
                h.close(s);
                open.remove(&s);
            }
            Op::Hibernate => h.hibernate(),
            Op::Wait { ms } => h.now += ms,
            Op::Tick => h.tick(),
            Op::Moderate { socket, client_id, action } => {
                let Some(s) = live(&pick(&sockets, socket)) else { continue };
                let holder = |h: &mut Harness, who: usize| {
                    use confab_worker::store::RoomStore;
                    let claim = confab_shared::UserName::parse(WHO[who].0).expect("valid").claim_key();
                    h.store.holder(&claim).ok().flatten().unwrap_or(999)
                };
                let action = match action {
                    Mod::Remove { target: t } => json!({"kind": "remove", "id": target(t)}),
                    Mod::Mute { who, minutes } => {
                        json!({"kind": "mute", "member": holder(&mut h, who), "minutes": minutes})
                    }
                    Mod::Ban { who, ip, purge } => {
                        json!({"kind": "ban", "member": holder(&mut h, who), "ip": ip, "purge": purge})
                    }
                    Mod::Unban { who } => json!({"kind": "unban", "member": holder(&mut h, who)}),
                    Mod::SlowMode { seconds } => json!({"kind": "slow_mode", "seconds": seconds}),
                    Mod::Topic => json!({"kind": "topic", "text": format!("topic {}", h.now)}),
                    Mod::Promote { who, on } => json!({"kind": "set_role", "member": holder(&mut h, who),
                        "role": if on { "moderator" } else { "member" }}),
                };
                if let (Some(m), Some(id)) = (h.room.member_of(s), action["id"].as_u64()) {
                    // A removal drops the message's reactions, as a delete does.
                    pending_delete = Some((m, format!("m{client_id}"), id));
                }
                if let (Some(m), true, Some(banned)) =
                    (h.room.member_of(s), action["purge"] == json!(true), action["member"].as_u64())
                {
                    // A purge removes every message of the banned member: their reactions go.
                    pending_purge = Some((m, format!("m{client_id}"), banned as MemberId));
                }
                h.moderate(s, &format!("m{client_id}"), action);
            }
            Op::Bot { step, client_id } => {
                if bot.is_none() {
                    // Made once, by the first joined socket whose member may.
                    for s in joined.keys().copied().collect::<Vec<_>>() {
                        h.moderate(s, "mkbot", json!({"kind": "create_bot", "name": "oracle"}));
                        let token = h.inbox.get(&s).into_iter().flatten().find_map(|f| match f {
                            ServerFrame::BotCreated { token, .. } => Some(token.clone()),
                            _ => None,
                        });
                        if let Some(token) = token {
                            bot = h.room.authenticate(&mut h.store, &token).expect("memory");
                            break;
                        }
                    }
                }
                // (No `continue` from here on: making the bot was an event to check.)
                if let Some(info) = bot.clone() {
                    let cid = confab_shared::ClientId::parse(&format!("b{client_id}")).expect("valid");
                    let text = |t: &str| confab_shared::MessageText::parse(t).ok();
                    let frame = match (step, stream) {
                        (BotStep::Open(t), _) => text(&t).map(|text| confab_shared::ClientFrame::Send {
                            client_id: cid,
                            text,
                            reply_to: None,
                            streaming: true,
                        }),
                        (BotStep::Post(t), _) => text(&t).map(|text| confab_shared::ClientFrame::Send {
                            client_id: cid,
                            text,
                            reply_to: None,
                            streaming: false,
                        }),
                        (BotStep::Chunk(t), Some(id)) => {
                            Some(confab_shared::ClientFrame::Append { client_id: cid, id, text: t })
                        }
                        (BotStep::Finish, Some(id)) => Some(confab_shared::ClientFrame::Finish { client_id: cid, id }),
                        _ => None,
                    };
                    if let Some(frame) = frame {
                        let opens = matches!(frame, confab_shared::ClientFrame::Send { streaming: true, .. });
                        let (result, effects) = h.room.bot_op(&mut h.store, &info, frame, h.now);
                        h.apply(effects);
                        if let Ok(done) = result {
                            if opens && !done.duplicate {
                                stream = Some(done.seq);
                            }
                        }
                    }
                }
            }
        }
        // Sockets the room closed (a frame too large, a protocol refusal) are gone, as the
        // runtime would report.
        for s in h.closed.keys().copied().collect::<Vec<_>>() {
            if open.remove(&s) {
                h.close(s);
            }
        }

        // The log is contiguous.
        let events: Vec<(u64, u64)> = h.store.events().collect();
        prop_assert!(events.iter().map(|e| e.0).eq(1..=events.len() as u64), "a hole in the event log");
        let new: Vec<u64> = events.iter().map(|e| e.0).filter(|s| *s > events_before).collect();
        // Reaction sets, from what was acknowledged as a new event.
        if let Some((m, cid, id, emoji, on)) = pending_react.take() {
            if !new.is_empty() && h.store.find_op(m, &cid).is_some_and(|seq| seq > events_before) {
                let set = model.entry((id, emoji)).or_default();
                if on {
                    set.insert(m);
                } else {
                    set.remove(&m);
                }
            }
        }
        if let Some((m, cid, id)) = pending_delete.take() {
            if h.store.find_op(m, &cid).is_some_and(|seq| seq > events_before) {
                model.retain(|(i, _), _| *i != id);
            }
        }
        if let Some((m, cid, banned)) = pending_purge.take() {
            if h.store.find_op(m, &cid).is_some_and(|seq| seq > events_before) {
                use confab_worker::store::RoomStore;
                let ids: Vec<u64> = model.keys().map(|(i, _)| *i).collect();
                let purged: BTreeSet<u64> = h
                    .store
                    .messages(&ids)
                    .unwrap_or_default()
                    .into_iter()
                    .filter(|msg| msg.member == banned)
                    .map(|msg| msg.id)
                    .collect();
                model.retain(|(i, _), _| !purged.contains(i));
            }
        }

        // Exactly once, in order: each event recorded now reached every socket joined before
        // it, once.
        for s in &joined_before {
            if !open.contains(s) && !h.closed.contains_key(s) {
                continue;
            }
            // A socket the room closed during this operation (a ban) misses what came after
            // its close; it is gone.
            if h.closed.contains_key(s) && !closed_before.contains(s) {
                continue;
            }
            let got: Vec<u64> = h.inbox.get(s).into_iter().flatten().filter_map(event_seq).collect();
            prop_assert_eq!(&got, &new, "socket {} receives each new event once", s);
        }
        for (s, frames) in &h.inbox {
            for f in frames {
                if let Some(seq) = event_seq(f) {
                    let last = last_delivered.entry(*s).or_default();
                    prop_assert!(seq > *last, "socket {} got seq {} after {}", s, seq, last);
                    *last = seq;
                }
                if let ServerFrame::Welcome { latest_seq, .. } = f {
                    last_delivered.insert(*s, *latest_seq);
                }
                if let Some(view) = views.get_mut(s) {
                    view.apply(f.clone(), h.now);
                }
            }
        }
        h.inbox.clear();
        // Closed pages wait to resume.
        for s in joined.keys().copied().collect::<Vec<_>>() {
            if !open.contains(&s) {
                let who = joined.remove(&s).expect("listed just above");
                if let Some(view) = views.remove(&s) {
                    closed_pages.push((who, view));
                }
            }
        }
        last_delivered.retain(|s, _| open.contains(s));

        // Every page holds what a fresh joiner of its member sees: message for message, a
        // contiguous run of the newest.
        let mut truths: BTreeMap<MemberId, BTreeMap<u64, ChatMessage>> = BTreeMap::new();
        for (s, view) in &views {
            let Some(member) = h.room.member_of(*s) else { continue };
            prop_assert_eq!(view.me_id(), Some(member), "socket {}'s page is its member's", s);
            prop_assert!(!view.resume_needed, "socket {} saw a hole", s);
            let truth = truths.entry(member).or_insert_with(|| truth(&mut h, member));
            for (id, m) in &view.messages {
                prop_assert_eq!(Some(m), truth.get(id), "socket {}'s message {}", s, id);
            }
            if let Some(oldest) = view.oldest_id() {
                let expected: Vec<u64> = truth.keys().copied().filter(|id| *id >= oldest).collect();
                let held: Vec<u64> = view.messages.keys().copied().collect();
                prop_assert_eq!(held, expected, "socket {} holds a contiguous run of the newest", s);
            }
        }
        // Reaction counts are set sizes.
        if let Some(truth) = truths.values().next() {
            for m in truth.values() {
                let counts: BTreeMap<&str, u32> = m.reactions.iter().map(|r| (r.emoji.as_str(), r.count)).collect();
                let expected: BTreeMap<&str, u32> = model
                    .iter()
                    .filter(|((id, _), set)| *id == m.id && !set.is_empty())
                    .map(|((_, emoji), set)| (*emoji, set.len() as u32))
                    .collect();
                prop_assert_eq!(counts, expected, "reactions on {}", m.id);
            }
        }

        let online = h.room.online();
        let expected: BTreeSet<MemberId> = joined.keys().filter_map(|s| h.room.member_of(*s)).collect();
        prop_assert_eq!(
            online.iter().map(|m| m.id).collect::<BTreeSet<_>>(),
            expected,
            "members are those with an open joined socket"
        );
        // Once no presence batch is pending, every page's member list is the room's, exactly.
        if !h.room.presence_pending() {
            let room: BTreeMap<MemberId, String> = online.into_iter().map(|m| (m.id, m.name)).collect();
            for (s, view) in &views {
                prop_assert_eq!(&view.members, &room, "socket {}'s member list", s);
            }
        }
    }
    Ok(())
}

/// The event `seq` a frame carries, if it is an event.
fn event_seq(f: &ServerFrame) -> Option<u64> {
    match f {
        ServerFrame::Message(m) => Some(m.id),
        ServerFrame::Edited { seq, .. }
        | ServerFrame::Deleted { seq, .. }
        | ServerFrame::Reactions { seq, .. }
        | ServerFrame::Appended { seq, .. }
        | ServerFrame::Finished { seq, .. } => Some(*seq),
        ServerFrame::Moderated(e) => Some(e.seq),
        _ => None,
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn no_sequence_of_events_breaks_the_room(ops in prop::collection::vec(op(), 1..250), immediate in 0usize..4) {
        // A small `presence_immediate` makes presence batching the rule rather than the exception.
        run(ops, immediate)?;
    }
}

/// The case the random runs reach only rarely, spelled out: a page holding the newest 50 of
/// 60 messages closes, someone reacts to the oldest, and the page resumes. The replay
/// includes that old message; the page must not hold it above a hole.
#[test]
fn a_resume_replaying_a_message_older_than_the_page_holds_leaves_no_hole() {
    let ops = vec![
        Op::Open,
        Op::Join { socket: 0, who: 0 },
        Op::Burst { socket: 0, n: 60 },
        Op::Open,
        Op::Join { socket: 1, who: 3 },
        Op::Close { socket: 1 },
        Op::React { socket: 0, client_id: 1, target: 0, emoji: 0, on: true },
        Op::Open,
        Op::Resume { socket: 2, page: 0 },
        Op::Older { socket: 2, limit: 20 },
    ];
    run(ops, 8).unwrap();
}
