//! The Worker's HTTP surface as plain functions (no workers-rs types), tested natively.

use confab_shared::api::{AppendChunk, EditMessage, Moderate, PostMessage, ReactTo};
use confab_shared::frames::chunk;
use confab_shared::{ClientFrame, ClientId, Emoji, ErrorCode, MessageText, ProtocolError, RoomName, Seq};

/// What a request under `/api/` asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Route {
    /// `POST /api/rooms`: create a private room.
    CreateRoom,
    /// `GET /api/rooms/{room}`: the room's summary.
    RoomInfo(RoomName),
    /// `GET /api/rooms/{room}/ws`: open the room's WebSocket.
    Socket(RoomName),
    /// `GET /api/rooms/{room}/messages?before=&limit=` (a history page) or `?since=` (what
    /// changed after an event).
    Messages(RoomName),
    /// A write with a bearer token: a bot's message operation, or the admin's moderation.
    Write(RoomName, Write),
    /// `PUT` (true) or `DELETE` (false) `/api/rooms/{room}/webhook`: a bot sets or clears its
    /// webhook.
    Webhook(RoomName, bool),
    /// `GET /api/me/{inbox}/ws`: a person's inbox socket (issue 11; the inbox checks the key
    /// in its first frame against its name).
    InboxSocket(String),
}

/// A write over HTTP, as the room's object gets it (`POST /write?op=…&id=…`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Write {
    /// `POST /api/rooms/{room}/messages` ([`PostMessage`]).
    Post,
    /// `PATCH /api/rooms/{room}/messages/{id}` ([`EditMessage`]).
    Edit(Seq),
    /// `DELETE /api/rooms/{room}/messages/{id}`.
    Delete(Seq),
    /// `POST /api/rooms/{room}/messages/{id}/reactions` ([`ReactTo`]).
    React(Seq),
    /// `POST /api/rooms/{room}/messages/{id}/append` ([`AppendChunk`]).
    Append(Seq),
    /// `POST /api/rooms/{room}/messages/{id}/finish`.
    Finish(Seq),
    /// `POST /api/rooms/{room}/moderate` ([`Moderate`]): the admin secret only.
    Moderate,
}

impl Write {
    /// The query the Worker forwards it as.
    pub fn query(self) -> String {
        let (op, id) = match self {
            Write::Post => ("post", None),
            Write::Edit(id) => ("edit", Some(id)),
            Write::Delete(id) => ("delete", Some(id)),
            Write::React(id) => ("react", Some(id)),
            Write::Append(id) => ("append", Some(id)),
            Write::Finish(id) => ("finish", Some(id)),
            Write::Moderate => ("moderate", None),
        };
        match id {
            Some(id) => format!("?op={op}&id={id}"),
            None => format!("?op={op}"),
        }
    }

    /// Reads [`Write::query`] back (in the room's object).
    pub fn from_query(query: Option<&str>) -> Option<Self> {
        let mut op = None;
        let mut id = None;
        for pair in query.unwrap_or("").split('&') {
            match pair.split_once('=') {
                Some(("op", v)) => op = Some(v),
                Some(("id", v)) => id = v.parse::<Seq>().ok(),
                _ => {}
            }
        }
        Some(match (op?, id) {
            ("post", None) => Write::Post,
            ("edit", Some(id)) => Write::Edit(id),
            ("delete", Some(id)) => Write::Delete(id),
            ("react", Some(id)) => Write::React(id),
            ("append", Some(id)) => Write::Append(id),
            ("finish", Some(id)) => Write::Finish(id),
            ("moderate", None) => Write::Moderate,
            _ => return None,
        })
    }

    /// The frame a write is: its body read as the type the route takes, its `client_id` the
    /// `Idempotency-Key` (or `fresh`, for a request without one: never deduplicated).
    pub fn frame(self, body: &str, idempotency_key: Option<&str>, fresh: &str) -> Result<ClientFrame, ProtocolError> {
        fn json<T: serde::de::DeserializeOwned>(body: &str) -> Result<T, ProtocolError> {
            serde_json::from_str(body).map_err(|e| {
                let mut m = format!("the body is not what this endpoint takes: {e}");
                m.truncate(m.char_indices().nth(200).map_or(m.len(), |(i, _)| i));
                ProtocolError::new(ErrorCode::BadRequest, m)
            })
        }
        let client_id = match idempotency_key {
            Some(k) => ClientId::parse(k).map_err(|_| {
                ProtocolError::new(ErrorCode::BadRequest, "Idempotency-Key is 1 to 64 of A-Z a-z 0-9 _ -")
            })?,
            None => ClientId::parse(fresh)?,
        };
        Ok(match self {
            Write::Post => {
                let p: PostMessage = json(body)?;
                ClientFrame::Send {
                    client_id,
                    text: MessageText::parse(&p.text)?,
                    reply_to: p.reply_to,
                    streaming: p.streaming,
                }
            }
            Write::Edit(id) => {
                let e: EditMessage = json(body)?;
                ClientFrame::Edit { client_id, id, text: MessageText::parse(&e.text)? }
            }
            Write::Delete(id) => ClientFrame::Delete { client_id, id },
            Write::React(id) => {
                let r: ReactTo = json(body)?;
                ClientFrame::React { client_id, id, emoji: Emoji::parse(&r.emoji)?, on: r.on }
            }
            Write::Append(id) => {
                let a: AppendChunk = json(body)?;
                ClientFrame::Append { client_id, id, text: chunk(a.text)? }
            }
            Write::Finish(id) => ClientFrame::Finish { client_id, id },
            Write::Moderate => {
                let m: Moderate = json(body)?;
                m.action.validate()?;
                ClientFrame::Moderate { client_id, action: m.action }
            }
        })
    }
}

/// The HTTP status for a refusal.
pub fn status_of(code: ErrorCode) -> u16 {
    use ErrorCode::*;
    match code {
        Unauthorized => 401,
        Forbidden | NotAuthor | Muted | Banned | ForbiddenOrigin | InviteRequired => 403,
        NotFound | MessageNotFound => 404,
        MessageDeleted | NotStreaming | NameTaken => 409,
        RateLimited | SlowMode | TooManyConnections => 429,
        FrameTooLarge => 413,
        Internal | Unknown => 500,
        _ => 400,
    }
}

impl Route {
    /// The room the route is about, if any.
    pub fn room(&self) -> Option<&RoomName> {
        match self {
            Route::CreateRoom | Route::InboxSocket(_) => None,
            Route::RoomInfo(r) | Route::Socket(r) | Route::Messages(r) | Route::Write(r, _) | Route::Webhook(r, _) => {
                Some(r)
            }
        }
    }

    /// The path of the canonical request the Worker sends the room's object for this route:
    /// the object serves exactly these (`/ws`, `/info`, `/messages`, `/write`, `/webhook/…`,
    /// and `/create` from the Worker itself) and nothing else, so a room's name can never be
    /// read as a route.
    pub fn internal_path(&self) -> Option<&'static str> {
        match self {
            Route::CreateRoom => None,
            Route::InboxSocket(_) => Some("/ws"),
            Route::RoomInfo(_) => Some("/info"),
            Route::Socket(_) => Some("/ws"),
            Route::Messages(_) => Some("/messages"),
            Route::Write(..) => Some("/write"),
            Route::Webhook(_, true) => Some("/webhook/set"),
            Route::Webhook(_, false) => Some("/webhook/clear"),
        }
    }
}

/// Matches a method and path to a [`Route`], or says why not (bad room name, or nothing there).
/// The route is decided here once; the room's object never looks at the public path.
pub fn route(method: &str, path: &str) -> Result<Route, ProtocolError> {
    let not_found = || ProtocolError::new(ErrorCode::NotFound, format!("nothing at {method} {path}"));
    if let Some(rest) = path.strip_prefix("/api/me/") {
        return match (method, rest.split('/').collect::<Vec<_>>().as_slice()) {
            ("GET", [inbox, "ws"]) if is_inbox_id(inbox) => Ok(Route::InboxSocket((*inbox).to_owned())),
            _ => Err(not_found()),
        };
    }
    let segments: Vec<&str> = match path {
        "/api/rooms" | "/api/rooms/" => Vec::new(),
        _ => path.strip_prefix("/api/rooms/").ok_or_else(not_found)?.split('/').collect(),
    };
    match (method, segments.as_slice()) {
        ("POST", []) => Ok(Route::CreateRoom),
        ("GET", [room]) => Ok(Route::RoomInfo(RoomName::parse(room)?)),
        ("GET", [room, "ws"]) => Ok(Route::Socket(RoomName::parse(room)?)),
        ("GET", [room, "messages"]) => Ok(Route::Messages(RoomName::parse(room)?)),
        ("POST", [room, "messages"]) => Ok(Route::Write(RoomName::parse(room)?, Write::Post)),
        ("POST", [room, "moderate"]) => Ok(Route::Write(RoomName::parse(room)?, Write::Moderate)),
        ("PUT", [room, "webhook"]) => Ok(Route::Webhook(RoomName::parse(room)?, true)),
        ("DELETE", [room, "webhook"]) => Ok(Route::Webhook(RoomName::parse(room)?, false)),
        (method, [room, "messages", id, rest @ ..]) => {
            let room = RoomName::parse(room)?;
            let id: Seq = id.parse().map_err(|_| not_found())?;
            let write = match (method, rest) {
                ("PATCH", []) => Write::Edit(id),
                ("DELETE", []) => Write::Delete(id),
                ("POST", ["reactions"]) => Write::React(id),
                ("POST", ["append"]) => Write::Append(id),
                ("POST", ["finish"]) => Write::Finish(id),
                _ => return Err(not_found()),
            };
            Ok(Route::Write(room, write))
        }
        _ => Err(not_found()),
    }
}

/// Whether `s` is an inbox's name: `inbox-` and 64 lowercase hex digits.
pub fn is_inbox_id(s: &str) -> bool {
    s.strip_prefix("inbox-").is_some_and(|h| h.len() == 64 && h.chars().all(|c| matches!(c, '0'..='9' | 'a'..='f')))
}

/// Reads `since` from a query string, if it has one.
pub fn since_query(query: Option<&str>) -> Result<Option<Seq>, ProtocolError> {
    for pair in query.unwrap_or("").split('&') {
        if let Some(("since", v)) = pair.split_once('=') {
            return v
                .parse()
                .map(Some)
                .map_err(|_| ProtocolError::new(ErrorCode::BadRequest, "since must be a whole number"));
        }
    }
    Ok(None)
}

/// Reads `before` and `limit` from a query string; a missing `limit` is 50.
pub fn history_query(query: Option<&str>) -> Result<(Option<Seq>, u32), ProtocolError> {
    let mut before = None;
    let mut limit = confab_shared::limits::WELCOME_MESSAGES;
    for pair in query.unwrap_or("").split('&').filter(|p| !p.is_empty()) {
        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
        let bad = || ProtocolError::new(ErrorCode::BadRequest, format!("{k} must be a whole number"));
        match k {
            "before" => before = Some(v.parse::<Seq>().map_err(|_| bad())?),
            "limit" => limit = v.parse::<u32>().map_err(|_| bad())?,
            _ => {}
        }
    }
    if limit == 0 || limit > confab_shared::limits::HISTORY_PAGE_MAX {
        return Err(ProtocolError::new(ErrorCode::BadRequest, "limit is 1 to 100"));
    }
    Ok((before, limit))
}

/// Whether a browser page at `origin` may open a socket. Browsers always send `Origin` on a
/// WebSocket upgrade, so checking it stops cross-site WebSocket hijacking; programs (bots,
/// tests) send none and are let in, as they could forge it anyway. Allowed: the Worker's own
/// origin, and those listed in `allowed` (comma-separated, e.g. the `trunk serve` origin).
pub fn origin_allowed(origin: Option<&str>, own_origin: &str, allowed: &str) -> bool {
    match origin {
        None => true,
        Some(o) => o == own_origin || allowed.split(',').map(str::trim).any(|a| !a.is_empty() && a == o),
    }
}

/// Reads a positive number from a `wrangler.toml` var, or the default when absent or invalid.
pub fn var_u32(value: Option<String>, default: u32) -> u32 {
    value.and_then(|v| v.trim().parse().ok()).unwrap_or(default)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn routes() {
        assert_eq!(route("POST", "/api/rooms"), Ok(Route::CreateRoom));
        assert_eq!(route("GET", "/api/rooms/lobby"), Ok(Route::RoomInfo(RoomName::parse("lobby").unwrap())));
        assert_eq!(route("GET", "/api/rooms/lobby/ws"), Ok(Route::Socket(RoomName::parse("lobby").unwrap())));
        assert_eq!(route("GET", "/api/rooms/lobby/messages"), Ok(Route::Messages(RoomName::parse("lobby").unwrap())));
        assert_eq!(route("GET", "/api/rooms/Bad%20Room/ws").unwrap_err().code, ErrorCode::InvalidRoom);
        assert_eq!(route("GET", "/api/rooms//ws").unwrap_err().code, ErrorCode::InvalidRoom);
        // Rooms named like routes are rooms: the route is decided by position, once.
        assert_eq!(route("GET", "/api/rooms/ws"), Ok(Route::RoomInfo(RoomName::parse("ws").unwrap())));
        assert_eq!(route("GET", "/api/rooms/messages"), Ok(Route::RoomInfo(RoomName::parse("messages").unwrap())));
        assert_eq!(route("GET", "/api/rooms/ws/ws"), Ok(Route::Socket(RoomName::parse("ws").unwrap())));
        assert_eq!(Route::RoomInfo(RoomName::parse("ws").unwrap()).internal_path(), Some("/info"));
        for (m, p) in [
            ("GET", "/api/rooms"),
            ("DELETE", "/api/rooms/lobby"),
            ("GET", "/api/other"),
            ("GET", "/api/rooms/lobby/ws/x"),
            ("GET", "/api/rooms/lobby/messages/3"),
            ("PUT", "/api/rooms/lobby/messages/3"),
            ("POST", "/api/rooms/lobby/messages/x/append"),
            ("POST", "/api/rooms/lobby/messages/3/other"),
            ("GET", "/api/roomsX/lobby/ws"),
            ("POST", "/api/roomsanything"),
            ("GET", "/api/roomslobby"),
        ] {
            assert_eq!(route(m, p).unwrap_err().code, ErrorCode::NotFound, "{m} {p}");
        }
    }

    #[test]
    fn writes() {
        let lobby = || RoomName::parse("lobby").unwrap();
        for (m, p, w) in [
            ("POST", "/api/rooms/lobby/messages", Write::Post),
            ("PATCH", "/api/rooms/lobby/messages/3", Write::Edit(3)),
            ("DELETE", "/api/rooms/lobby/messages/3", Write::Delete(3)),
            ("POST", "/api/rooms/lobby/messages/3/reactions", Write::React(3)),
            ("POST", "/api/rooms/lobby/messages/3/append", Write::Append(3)),
            ("POST", "/api/rooms/lobby/messages/3/finish", Write::Finish(3)),
            ("POST", "/api/rooms/lobby/moderate", Write::Moderate),
        ] {
            assert_eq!(route(m, p), Ok(Route::Write(lobby(), w)), "{m} {p}");
            assert_eq!(Write::from_query(Some(&w.query()[1..])), Some(w), "the query reads back");
        }
        assert_eq!(route("PUT", "/api/rooms/lobby/webhook"), Ok(Route::Webhook(lobby(), true)));
        let inbox = format!("inbox-{}", "ab".repeat(32));
        assert_eq!(route("GET", &format!("/api/me/{inbox}/ws")), Ok(Route::InboxSocket(inbox.clone())));
        for bad in ["/api/me/inbox-12/ws", "/api/me/lobby/ws", &format!("/api/me/{}/ws", inbox.to_uppercase())] {
            assert_eq!(route("GET", bad).unwrap_err().code, ErrorCode::NotFound, "{bad}");
        }
        assert_eq!(route("DELETE", "/api/rooms/lobby/webhook"), Ok(Route::Webhook(lobby(), false)));
        assert_eq!(Write::from_query(Some("op=edit")), None, "an edit names its message");
        let post = Write::Post.frame(r#"{"text":"hi"}"#, Some("k1"), "fresh").unwrap();
        assert_eq!(post.client_id(), Some("k1"), "the idempotency key is the client id");
        let post = Write::Post.frame(r#"{"text":"hi","streaming":true}"#, None, "fresh").unwrap();
        assert!(matches!(post, ClientFrame::Send { streaming: true, .. }));
        assert_eq!(post.client_id(), Some("fresh"));
        assert_eq!(Write::Post.frame(r#"{"text":""}"#, None, "f").unwrap_err().code, ErrorCode::EmptyText);
        assert_eq!(Write::Post.frame("nope", None, "f").unwrap_err().code, ErrorCode::BadRequest);
        assert_eq!(Write::Post.frame(r#"{"text":"x"}"#, Some("a b"), "f").unwrap_err().code, ErrorCode::BadRequest);
        let chunk = Write::Append(3).frame(r#"{"text":" "}"#, None, "f").unwrap();
        assert!(matches!(chunk, ClientFrame::Append { id: 3, .. }), "white space is a chunk");
        let react = Write::React(3).frame(r#"{"emoji":"👍"}"#, None, "f").unwrap();
        assert!(matches!(react, ClientFrame::React { on: true, .. }), "on by default");
        let bad = Write::Moderate.frame(r#"{"action":{"kind":"slow_mode","seconds":500}}"#, None, "f");
        assert_eq!(bad.unwrap_err().code, ErrorCode::BadRequest);
        assert_eq!(status_of(ErrorCode::Unauthorized), 401);
        assert_eq!(status_of(ErrorCode::SlowMode), 429);
        assert_eq!(status_of(ErrorCode::Muted), 403);
        assert_eq!(since_query(Some("since=5")), Ok(Some(5)));
        assert_eq!(since_query(Some("before=5")), Ok(None));
    }

    #[test]
    fn history_queries() {
        assert_eq!(history_query(None), Ok((None, 50)));
        assert_eq!(history_query(Some("before=10&limit=5")), Ok((Some(10), 5)));
        assert_eq!(history_query(Some("limit=101")).unwrap_err().code, ErrorCode::BadRequest);
        assert_eq!(history_query(Some("before=x")).unwrap_err().code, ErrorCode::BadRequest);
    }

    #[test]
    fn origins() {
        let own = "http://127.0.0.1:8787";
        assert!(origin_allowed(None, own, ""));
        assert!(origin_allowed(Some(own), own, ""));
        assert!(!origin_allowed(Some("https://evil.example"), own, ""));
        assert!(origin_allowed(Some("http://127.0.0.1:8080"), own, "http://localhost:8080, http://127.0.0.1:8080"));
        assert!(!origin_allowed(Some(""), own, ""));
    }

    #[test]
    fn vars() {
        assert_eq!(var_u32(Some(" 7 ".into()), 1), 7);
        assert_eq!(var_u32(Some("x".into()), 1), 1);
        assert_eq!(var_u32(None, 3), 3);
    }
}
