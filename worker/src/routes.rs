//! The Worker's HTTP surface as plain functions (no workers-rs types), tested natively.

use confab_shared::{ErrorCode, ProtocolError, RoomName, Seq};

/// What a request under `/api/` asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Route {
    /// `POST /api/rooms`: create a private room.
    CreateRoom,
    /// `GET /api/rooms/{room}`: the room's summary.
    RoomInfo(RoomName),
    /// `GET /api/rooms/{room}/ws`: open the room's WebSocket.
    Socket(RoomName),
    /// `GET /api/rooms/{room}/messages?before=&limit=`: a history page.
    Messages(RoomName),
}

impl Route {
    /// The room the route is about, if any.
    pub fn room(&self) -> Option<&RoomName> {
        match self {
            Route::CreateRoom => None,
            Route::RoomInfo(r) | Route::Socket(r) | Route::Messages(r) => Some(r),
        }
    }

    /// The path of the canonical request the Worker sends the room's object for this route:
    /// the object serves exactly these (`/ws`, `/info`, `/messages`) and nothing else, so a
    /// room's name can never be read as a route.
    pub fn internal_path(&self) -> Option<&'static str> {
        match self {
            Route::CreateRoom => None,
            Route::RoomInfo(_) => Some("/info"),
            Route::Socket(_) => Some("/ws"),
            Route::Messages(_) => Some("/messages"),
        }
    }
}

/// Matches a method and path to a [`Route`], or says why not (bad room name, or nothing there).
/// The route is decided here once; the room's object never looks at the public path.
pub fn route(method: &str, path: &str) -> Result<Route, ProtocolError> {
    let not_found = || ProtocolError::new(ErrorCode::NotFound, format!("nothing at {method} {path}"));
    let segments: Vec<&str> = match path {
        "/api/rooms" | "/api/rooms/" => Vec::new(),
        _ => path.strip_prefix("/api/rooms/").ok_or_else(not_found)?.split('/').collect(),
    };
    match (method, segments.as_slice()) {
        ("POST", []) => Ok(Route::CreateRoom),
        ("GET", [room]) => Ok(Route::RoomInfo(RoomName::parse(room)?)),
        ("GET", [room, "ws"]) => Ok(Route::Socket(RoomName::parse(room)?)),
        ("GET", [room, "messages"]) => Ok(Route::Messages(RoomName::parse(room)?)),
        _ => Err(not_found()),
    }
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
            ("GET", "/api/roomsX/lobby/ws"),
            ("POST", "/api/roomsanything"),
            ("GET", "/api/roomslobby"),
        ] {
            assert_eq!(route(m, p).unwrap_err().code, ErrorCode::NotFound, "{m} {p}");
        }
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
