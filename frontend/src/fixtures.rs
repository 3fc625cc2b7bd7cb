//! Frames the native and browser tests build over and over: one place, so a new protocol
//! field is added once. The room has alice (member 1, "us"), bob (2) and carol (3).

use confab_shared::{Action, AuditEntry, ChatMessage, Limits, Member, MemberId, Role, RoomSettings, Seq, ServerFrame};

/// Our member id in every fixture.
pub const ALICE: MemberId = 1;
/// Another member.
pub const BOB: MemberId = 2;
/// A third member.
pub const CAROL: MemberId = 3;
/// The epoch of the fixtures' room.
pub const EPOCH: &str = "e1";

/// The name of a fixture member.
pub fn name(id: MemberId) -> &'static str {
    match id {
        ALICE => "alice",
        BOB => "bob",
        CAROL => "carol",
        _ => "someone",
    }
}

/// A fixture member.
pub fn member(id: MemberId) -> Member {
    Member::new(id, name(id))
}

/// Message `id` by `member`, as posted (version = id), text `m{id}`, sent at `id` s.
pub fn msg(id: Seq, member: MemberId, client_id: &str) -> ChatMessage {
    ChatMessage {
        id,
        version: id,
        member,
        author: name(member).to_owned(),
        client_id: client_id.to_owned(),
        text: format!("m{id}"),
        ts: id * 1000,
        ..ChatMessage::default()
    }
}

/// A `welcome` for alice in "lobby" holding `messages`, with alice and bob online; the log's
/// head is the newest version held.
pub fn welcome(messages: Vec<ChatMessage>, older: bool) -> ServerFrame {
    let latest = messages.iter().map(|m| m.version).max().unwrap_or(0);
    welcome_at(messages, older, latest)
}

/// [`welcome`] with the log's head at `latest_seq`.
pub fn welcome_at(messages: Vec<ChatMessage>, older: bool, latest_seq: Seq) -> ServerFrame {
    ServerFrame::Welcome {
        protocol: confab_shared::limits::PROTOCOL_VERSION,
        epoch: EPOCH.to_owned(),
        you: member(ALICE),
        room: "lobby".into(),
        members: vec![member(ALICE), member(BOB)],
        messages,
        older,
        gap: false,
        reset: false,
        latest_seq,
        limits: Limits::default(),
        settings: RoomSettings::default(),
        muted_until: None,
        slow_wait_ms: None,
    }
}

/// `frame` (a welcome) with us (alice) in `role`.
pub fn as_role(mut frame: ServerFrame, role: Role) -> ServerFrame {
    if let ServerFrame::Welcome { you, members, .. } = &mut frame {
        you.role = role;
        for m in members.iter_mut().filter(|m| m.id == you.id) {
            m.role = role;
        }
    }
    frame
}

/// A `moderated` event: `by` did `action` (to `target`), as event `seq` at `seq` s.
pub fn moderated(seq: Seq, by: MemberId, action: Action, target: Option<MemberId>) -> ServerFrame {
    ServerFrame::Moderated(AuditEntry { seq, ts: seq * 1000, by: member(by), action, target: target.map(member) })
}

/// `frame` (a welcome) with its `gap`, `reset` and `epoch` changed.
pub fn flagged(mut frame: ServerFrame, gap_flag: bool, reset_flag: bool, new_epoch: &str) -> ServerFrame {
    if let ServerFrame::Welcome { gap, reset, epoch, .. } = &mut frame {
        *gap = gap_flag;
        *reset = reset_flag;
        *epoch = new_epoch.to_owned();
    }
    frame
}
