//! The frames. One WebSocket text message is one frame: `{"type": "...", "data": {...}}`.
//! `ClientFrame` goes from a browser to its room, `ServerFrame` from the room to browsers.

use crate::error::{ErrorCode, ProtocolError};
use crate::limits::{Limits, FRAME_MAX_BYTES, HISTORY_PAGE_MAX};
use crate::values::*;
use serde::{Deserialize, Serialize};

/// Sent by a browser to its room.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", content = "data", rename_all = "snake_case")]
#[serde(try_from = "RawClientFrame")]
pub enum ClientFrame {
    /// Must come first on every socket. Claims `name` with `key` (or proves it owns it).
    /// `since` is the last `seq` the client has seen: the room then sends what came after it.
    Join {
        /// Display name.
        name: UserName,
        /// Secret that owns the name in this room.
        key: MemberKey,
        /// Resume point, if the client has seen messages before.
        #[serde(skip_serializing_if = "Option::is_none")]
        since: Option<Seq>,
    },
    /// A new message. `client_id` makes a resend after a reconnect harmless.
    Send {
        /// Unique per message from this client.
        client_id: ClientId,
        /// What was typed.
        text: MessageText,
    },
    /// "I am typing." The room relays it to the others at most once per 2 s per member.
    Typing {},
    /// Older messages: `seq < before`, at most `limit` (1–100), newest last.
    History {
        /// Exclusive upper bound.
        before: Seq,
        /// Page size.
        limit: u32,
    },
}

/// [`ClientFrame`] as it arrives, before its values are validated. Kept private: the rest of
/// the code only ever sees a `ClientFrame`, whose values are valid by construction.
#[derive(Deserialize)]
#[serde(tag = "type", content = "data", rename_all = "snake_case")]
enum RawClientFrame {
    Join {
        name: String,
        key: String,
        #[serde(default)]
        since: Option<Seq>,
    },
    Send {
        client_id: String,
        text: String,
    },
    Typing {},
    History {
        before: Seq,
        #[serde(default = "default_page")]
        limit: u32,
    },
}

fn default_page() -> u32 {
    crate::limits::WELCOME_MESSAGES
}

impl TryFrom<RawClientFrame> for ClientFrame {
    type Error = ProtocolError;

    fn try_from(raw: RawClientFrame) -> Result<Self, ProtocolError> {
        Ok(match raw {
            RawClientFrame::Join { name, key, since } => {
                ClientFrame::Join { name: UserName::parse(&name)?, key: MemberKey::parse(&key)?, since }
            }
            RawClientFrame::Send { client_id, text } => {
                ClientFrame::Send { client_id: ClientId::parse(&client_id)?, text: MessageText::parse(&text)? }
            }
            RawClientFrame::Typing {} => ClientFrame::Typing {},
            RawClientFrame::History { before, limit } => {
                if limit == 0 || limit > HISTORY_PAGE_MAX {
                    return Err(ProtocolError::new(ErrorCode::BadRequest, format!("limit is 1 to {HISTORY_PAGE_MAX}")));
                }
                ClientFrame::History { before, limit }
            }
        })
    }
}

impl ClientFrame {
    /// Parses one WebSocket text message. Never panics: anything that is not a valid frame
    /// is an error with the code the room sends back.
    pub fn parse(text: &str) -> Result<Self, ProtocolError> {
        if text.len() > FRAME_MAX_BYTES {
            return Err(ProtocolError::new(
                ErrorCode::FrameTooLarge,
                format!("a frame has at most {FRAME_MAX_BYTES} bytes"),
            ));
        }
        let raw: RawClientFrame = serde_json::from_str(text).map_err(|e| {
            // serde's message can quote the input; keep what we echo back short.
            let mut message = format!("not a valid frame: {e}");
            if message.len() > 200 {
                let mut cut = 200;
                while !message.is_char_boundary(cut) {
                    cut -= 1;
                }
                message.truncate(cut);
            }
            ProtocolError::new(ErrorCode::BadFrame, message)
        })?;
        raw.try_into()
    }

    /// The frame as the JSON text sent on the socket.
    pub fn to_json(&self) -> String {
        serde_json::to_string(self).expect("frames hold only strings and integers, which always serialize")
    }
}

/// One stored message, as the room sends it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChatMessage {
    /// Position in the room; strictly increasing.
    pub seq: Seq,
    /// The sender's id for it: lets the sender match it to its outbox.
    pub client_id: String,
    /// The sender's name, as the room authenticated it (never taken from the frame).
    pub author: String,
    /// The text. Plain text: clients must never interpret it as HTML.
    pub text: String,
    /// When the room stored it, in ms since the Unix epoch; never goes backwards in a room.
    pub ts: u64,
}

/// Sent by the room to browsers.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", content = "data", rename_all = "snake_case")]
pub enum ServerFrame {
    /// Answers a valid `join`: who is here and the recent messages (or those after `since`).
    Welcome {
        /// The name as the room recorded it (trimmed).
        you: String,
        /// The room's name.
        room: String,
        /// Names of the members online, including `you`.
        members: Vec<String>,
        /// The last 50 messages, or those after `since` (at most 200), oldest first.
        messages: Vec<ChatMessage>,
        /// Older messages exist that are not in `messages`: page with `history`.
        has_more: bool,
        /// The room's newest `seq` (0 for an empty room).
        latest_seq: Seq,
        /// The `since` of the `join` is above `latest_seq`: the room's history is not the one
        /// the client holds (its storage was reset or recreated). `messages` are then those of
        /// a fresh join, and the client must drop every message and `seq` it kept.
        #[serde(default, skip_serializing_if = "std::ops::Not::not")]
        reset: bool,
        /// Limits in force in this room.
        limits: Limits,
    },
    /// A new message, to every joined member (the sender included), in `seq` order.
    Message(ChatMessage),
    /// To the sending socket: the message with this `client_id` is stored as `seq`.
    Ack {
        /// The id the client gave.
        client_id: String,
        /// Where it was stored.
        seq: Seq,
        /// When.
        ts: u64,
    },
    /// A name's first socket joined.
    MemberJoined {
        /// Who.
        name: String,
    },
    /// A name's last socket left.
    MemberLeft {
        /// Who.
        name: String,
    },
    /// Several members came or went at once (a burst of joins or leaves, batched so a crowd
    /// arriving does not cost one frame per member per member). Apply like the frames above,
    /// `joined` then `left`.
    Presence {
        /// Names whose first socket joined.
        joined: Vec<String>,
        /// Names whose last socket left.
        left: Vec<String>,
    },
    /// Someone is typing: show it for 5 s unless renewed; a `message` from them ends it.
    Typing {
        /// Who.
        name: String,
    },
    /// Answers `history`: older messages, oldest first.
    History {
        /// The page.
        messages: Vec<ChatMessage>,
        /// Messages older than this page exist.
        has_more: bool,
    },
    /// A frame was refused. The socket stays open unless the code says otherwise.
    Error {
        /// Stable code.
        code: ErrorCode,
        /// Human-readable detail.
        message: String,
        /// For `rate_limited`: wait this long before sending again.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        retry_after_ms: Option<u64>,
        /// The refused `send`'s `client_id`, so the client knows which message it concerns.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        client_id: Option<String>,
    },
}

impl ServerFrame {
    /// The frame as the JSON text sent on the socket.
    pub fn to_json(&self) -> String {
        serde_json::to_string(self).expect("frames hold only strings and integers, which always serialize")
    }

    /// An `error` frame for a refusal.
    pub fn error(e: ProtocolError) -> Self {
        Self::Error { code: e.code, message: e.message, retry_after_ms: None, client_id: None }
    }

    /// An `error` frame refusing the `send` with `client_id`.
    pub fn refused_send(client_id: &str, e: ProtocolError, retry_after_ms: Option<u64>) -> Self {
        Self::Error { code: e.code, message: e.message, retry_after_ms, client_id: Some(client_id.to_owned()) }
    }

    /// Parses a frame from the room (used by clients).
    pub fn parse(text: &str) -> Result<Self, ProtocolError> {
        serde_json::from_str(text).map_err(|e| ProtocolError::new(ErrorCode::BadFrame, e.to_string()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn key() -> String {
        "k".repeat(40)
    }

    #[test]
    fn golden_client_frames() {
        let join = ClientFrame::Join {
            name: UserName::parse("alice").unwrap(),
            key: MemberKey::parse(&key()).unwrap(),
            since: Some(7),
        };
        assert_eq!(
            serde_json::to_value(&join).unwrap(),
            json!({"type": "join", "data": {"name": "alice", "key": key(), "since": 7}})
        );
        let send =
            ClientFrame::Send { client_id: ClientId::parse("c1").unwrap(), text: MessageText::parse("hi").unwrap() };
        assert_eq!(
            serde_json::to_value(&send).unwrap(),
            json!({"type": "send", "data": {"client_id": "c1", "text": "hi"}})
        );
        assert_eq!(serde_json::to_value(ClientFrame::Typing {}).unwrap(), json!({"type": "typing", "data": {}}));
        assert_eq!(
            serde_json::to_value(ClientFrame::History { before: 10, limit: 20 }).unwrap(),
            json!({"type": "history", "data": {"before": 10, "limit": 20}})
        );
        // And each round-trips through the parser.
        for f in [join, send, ClientFrame::Typing {}, ClientFrame::History { before: 10, limit: 20 }] {
            assert_eq!(ClientFrame::parse(&f.to_json()).unwrap(), f);
        }
    }

    #[test]
    fn join_without_since_and_typing_without_data() {
        let f = ClientFrame::parse(&format!(r#"{{"type":"join","data":{{"name":"bob","key":"{}"}}}}"#, key())).unwrap();
        assert!(matches!(f, ClientFrame::Join { since: None, .. }));
        assert_eq!(ClientFrame::parse(r#"{"type":"typing","data":{}}"#).unwrap(), ClientFrame::Typing {});
    }

    #[test]
    fn golden_server_frames() {
        let m = ChatMessage { seq: 3, client_id: "c1".into(), author: "alice".into(), text: "hi".into(), ts: 1700 };
        assert_eq!(
            serde_json::to_value(ServerFrame::Message(m.clone())).unwrap(),
            json!({"type": "message", "data": {"seq": 3, "client_id": "c1", "author": "alice", "text": "hi", "ts": 1700}})
        );
        assert_eq!(
            serde_json::to_value(ServerFrame::Ack { client_id: "c1".into(), seq: 3, ts: 1700 }).unwrap(),
            json!({"type": "ack", "data": {"client_id": "c1", "seq": 3, "ts": 1700}})
        );
        assert_eq!(
            serde_json::to_value(ServerFrame::Error {
                client_id: None,
                code: ErrorCode::RateLimited,
                message: "slow down".into(),
                retry_after_ms: Some(200)
            })
            .unwrap(),
            json!({"type": "error", "data": {"code": "rate_limited", "message": "slow down", "retry_after_ms": 200}})
        );
        assert_eq!(
            serde_json::to_value(ServerFrame::error(ProtocolError::new(ErrorCode::NotJoined, "join first"))).unwrap(),
            json!({"type": "error", "data": {"code": "not_joined", "message": "join first"}})
        );
        assert_eq!(
            serde_json::to_value(ServerFrame::MemberJoined { name: "bob".into() }).unwrap(),
            json!({"type": "member_joined", "data": {"name": "bob"}})
        );
        assert_eq!(
            serde_json::to_value(ServerFrame::Presence { joined: vec!["bob".into()], left: vec!["eve".into()] })
                .unwrap(),
            json!({"type": "presence", "data": {"joined": ["bob"], "left": ["eve"]}})
        );
        let welcome = ServerFrame::Welcome {
            reset: false,
            you: "alice".into(),
            room: "lobby".into(),
            members: vec!["alice".into()],
            messages: vec![m],
            has_more: false,
            latest_seq: 3,
            limits: Limits::default(),
        };
        let v = serde_json::to_value(&welcome).unwrap();
        assert_eq!(v["type"], "welcome");
        assert_eq!(v["data"]["limits"]["text_max_chars"], 4000);
        assert_eq!(v["data"]["limits"]["rate_burst"], 20);
        assert_eq!(ServerFrame::parse(&welcome.to_json()).unwrap(), welcome);
    }

    #[test]
    fn bad_frames_are_errors_with_codes_never_panics() {
        let cases: &[(&str, ErrorCode)] = &[
            ("", ErrorCode::BadFrame),
            ("ping", ErrorCode::BadFrame),
            ("null", ErrorCode::BadFrame),
            ("[]", ErrorCode::BadFrame),
            (r#"{"type":"nope","data":{}}"#, ErrorCode::BadFrame),
            (r#"{"type":"send"}"#, ErrorCode::BadFrame),
            (r#"{"type":"send","data":{"client_id":1,"text":"x"}}"#, ErrorCode::BadFrame),
            (r#"{"type":"history","data":{"before":-1,"limit":5}}"#, ErrorCode::BadFrame),
            (r#"{"type":"history","data":{"before":99999999999999999999999,"limit":5}}"#, ErrorCode::BadFrame),
            (r#"{"type":"history","data":{"before":5,"limit":0}}"#, ErrorCode::BadRequest),
            (r#"{"type":"history","data":{"before":5,"limit":101}}"#, ErrorCode::BadRequest),
            (r#"{"type":"send","data":{"client_id":"c","text":""}}"#, ErrorCode::EmptyText),
            (r#"{"type":"send","data":{"client_id":"","text":"x"}}"#, ErrorCode::BadRequest),
            (
                r#"{"type":"join","data":{"name":"","key":"kkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkk"}}"#,
                ErrorCode::InvalidName,
            ),
            (r#"{"type":"join","data":{"name":"a","key":"short"}}"#, ErrorCode::BadRequest),
        ];
        for (text, code) in cases {
            assert_eq!(ClientFrame::parse(text).unwrap_err().code, *code, "{text}");
        }
        let deep = format!("{}{}", "[".repeat(10_000), "]".repeat(10_000));
        assert_eq!(ClientFrame::parse(&deep).unwrap_err().code, ErrorCode::FrameTooLarge);
        let deep = format!("{}{}", "[".repeat(5_000), "]".repeat(5_000));
        assert_eq!(ClientFrame::parse(&deep).unwrap_err().code, ErrorCode::BadFrame);
        let big = format!(r#"{{"type":"send","data":{{"client_id":"c","text":"{}"}}}}"#, "x".repeat(FRAME_MAX_BYTES));
        assert_eq!(ClientFrame::parse(&big).unwrap_err().code, ErrorCode::FrameTooLarge);
        let long = format!(r#"{{"type":"send","data":{{"client_id":"c","text":"{}"}}}}"#, "x".repeat(4001));
        assert_eq!(ClientFrame::parse(&long).unwrap_err().code, ErrorCode::TextTooLong);
    }

    #[test]
    fn newer_rooms_error_codes_and_refusals_parse() {
        // A code this build does not know is `unknown`, not a frame dropped on the floor.
        let f = ServerFrame::parse(r#"{"type":"error","data":{"code":"shiny_new_code","message":"m"}}"#).unwrap();
        assert!(matches!(f, ServerFrame::Error { code: ErrorCode::Unknown, .. }), "{f:?}");
        let refused = ServerFrame::refused_send("c9", ProtocolError::new(ErrorCode::RateLimited, "slow"), Some(250));
        assert_eq!(
            serde_json::to_value(&refused).unwrap(),
            json!({"type": "error", "data": {"code": "rate_limited", "message": "slow", "retry_after_ms": 250, "client_id": "c9"}})
        );
        // `reset` appears only when set, and older welcomes without it parse.
        let w = r#"{"type":"welcome","data":{"you":"a","room":"r","members":[],"messages":[],"has_more":false,
            "latest_seq":0,"limits":{"name_max_chars":32,"text_max_chars":4000,"frame_max_bytes":16384,
            "history_page_max":100,"rate_burst":20,"rate_per_sec":5}}}"#;
        assert!(matches!(ServerFrame::parse(w).unwrap(), ServerFrame::Welcome { reset: false, .. }));
    }

    #[test]
    fn error_messages_do_not_echo_large_input() {
        let e = ClientFrame::parse(&format!(r#"{{"type":"{}"}}"#, "x".repeat(5000))).unwrap_err();
        assert!(e.message.len() <= 200);
    }
}
