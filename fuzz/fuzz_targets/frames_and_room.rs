//! Frame parsing plus the room: the input is a script of socket events. Each chunk (split on
//! 0xFF) is one event; its first byte picks the socket and the kind of event, the rest is the
//! frame text. After every event the room's invariants must hold and nothing may panic.
#![no_main]

use confab_shared::ClientFrame;
use confab_worker::room::{Attachment, Effect, Input, Room, RoomConfig, SocketId};
use confab_worker::store::MemoryStore;
use libfuzzer_sys::fuzz_target;
use std::collections::BTreeMap;

const JOIN: &str = r#"{"type":"join","data":{"v":2,"name":"NAME","key":"kkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkk"}}"#;

fuzz_target!(|data: &[u8]| {
    // The parser alone, on the whole input.
    let _ = ClientFrame::parse(&String::from_utf8_lossy(data));

    // Small budgets and caps, so the fuzzer reaches every refusal and close.
    let config = RoomConfig {
        rate_burst: 5,
        rate_per_sec: 2,
        presence_immediate: 2,
        room_rate_burst: 8,
        room_rate_per_sec: 3,
        socket_burst: 12,
        socket_per_sec: 4,
        max_sockets: 6,
        ..RoomConfig::default()
    };
    let mut room = Room::new("fuzz", config);
    let mut store = MemoryStore::default();
    let mut sockets: Vec<SocketId> = Vec::new();
    let mut attachments: BTreeMap<SocketId, Attachment> = BTreeMap::new();
    let mut now = 1_000_000u64;
    let mut last_seq = 0;

    for chunk in data.split(|b| *b == 0xFF).take(256) {
        let Some((&op, rest)) = chunk.split_first() else { continue };
        let text = String::from_utf8_lossy(rest);
        let pick = |sockets: &Vec<SocketId>| sockets.get(usize::from(op >> 3) % sockets.len().max(1)).copied();
        let effects = match op & 0b111 {
            0 => {
                let Ok((a, _)) = room.open(now, None) else { continue };
                sockets.push(a.id);
                attachments.insert(a.id, a);
                continue;
            }
            1 => match pick(&sockets) {
                // A join with a fuzzed name.
                Some(s) => room.handle(&mut store, Input::Text(s, &JOIN.replace("NAME", &text.replace('"', ""))), now),
                None => continue,
            },
            2 | 3 => match pick(&sockets) {
                Some(s) => room.handle(&mut store, Input::Text(s, &text), now),
                None => continue,
            },
            4 => match pick(&sockets) {
                Some(s) => room.handle(&mut store, Input::Binary(s, rest.len() * 100), now),
                None => continue,
            },
            5 => match pick(&sockets) {
                Some(s) => {
                    sockets.retain(|x| *x != s);
                    attachments.remove(&s);
                    room.handle(&mut store, Input::Closed(s), now)
                }
                None => continue,
            },
            6 if rest.first().is_some_and(|b| b % 2 == 0) => room.handle(&mut store, Input::Tick, now),
            6 => {
                room = Room::restore("fuzz", config, attachments.values().cloned(), &mut store);
                Vec::new()
            }
            _ => {
                now += u64::from(rest.first().copied().unwrap_or(1)) * 37;
                continue;
            }
        };
        for e in effects {
            match e {
                Effect::Save(s, a) => {
                    assert_eq!(s, a.id);
                    if sockets.contains(&s) {
                        attachments.insert(s, a);
                    }
                }
                Effect::Close { socket, .. } => {
                    if sockets.contains(&socket) {
                        sockets.retain(|x| *x != socket);
                        attachments.remove(&socket);
                        // The room forgot the socket when it closed it: the runtime's late close
                        // event changes nothing (no second member_left).
                        let more = room.handle(&mut store, Input::Closed(socket), now);
                        assert!(more.is_empty(), "a socket the room closed left twice");
                    }
                }
                Effect::WakeAt(at) => assert!(at >= now, "a wake-up in the past"),
                Effect::Send { text, .. } => {
                    assert!(confab_shared::ServerFrame::parse(&text).is_ok(), "the room sent an unreadable frame");
                }
            }
        }
        room.check_invariants().expect("room invariants");
        // The event log is contiguous: seqs 1..=n with no hole, whatever was refused.
        let seqs: Vec<u64> = store.events().map(|(seq, _)| seq).collect();
        assert!(seqs.iter().copied().eq(1..=seqs.len() as u64), "a hole in the event log");
        assert!(seqs.len() as u64 >= last_seq, "seq went backwards");
        last_seq = seqs.len() as u64;
    }
});
