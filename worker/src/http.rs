//! The Worker's `fetch`: `/api/*` only (wrangler's `[assets]` serves the page, and
//! `run_worker_first` sends only `/api/*` here). Requests are checked and forwarded to the
//! room's Durable Object; the routing rules themselves live in [`crate::routes`].

use crate::durable::{error_response, read_at_most};
use crate::routes::{origin_allowed, route, Route};
use confab_shared::api::{CreateRoom, IDEMPOTENCY_KEY};
use confab_shared::limits::FRAME_MAX_BYTES;
use confab_shared::{CreatedRoom, ErrorCode, MemberKey, ProtocolError};
use worker::*;

#[event(fetch)]
async fn fetch(mut req: Request, env: Env, _ctx: Context) -> Result<Response> {
    let method = req.method().to_string();
    // Every upgrade is Origin-checked, whatever the path: the check must not depend on the
    // route being the one that upgrades.
    let upgrade = req.headers().get("Upgrade")?.is_some_and(|u| u.eq_ignore_ascii_case("websocket"));
    if upgrade {
        let own = req.url()?.origin().ascii_serialization();
        let allowed = env.var("ALLOWED_ORIGINS").map(|v| v.to_string()).unwrap_or_default();
        if !origin_allowed(req.headers().get("Origin")?.as_deref(), &own, &allowed) {
            let e = ProtocolError::new(ErrorCode::ForbiddenOrigin, "this origin may not open a socket here");
            return error_response(e, 403);
        }
    }
    let route = match route(&method, &req.path()) {
        Ok(r) => r,
        Err(e) => {
            let status = if e.code == ErrorCode::NotFound { 404 } else { 400 };
            return error_response(e, status);
        }
    };
    if let Route::InboxSocket(inbox) = &route {
        if !upgrade {
            let e = ProtocolError::new(ErrorCode::UpgradeRequired, "this endpoint speaks WebSocket only");
            return error_response(e, 426);
        }
        let headers = Headers::new();
        for (name, value) in req.headers().entries() {
            if name.starts_with("sec-websocket-") || name == "upgrade" || name == "connection" {
                headers.set(&name, &value)?;
            }
        }
        let mut init = RequestInit::new();
        init.with_method(Method::Get).with_headers(headers);
        let internal = Request::new_with_init("https://inbox/ws", &init)?;
        let stub = env.durable_object("INBOXES")?.id_from_name(inbox)?.get_stub()?;
        return stub.fetch_with_request(internal).await;
    }
    if matches!(route, Route::Socket(_)) && !upgrade {
        let e = ProtocolError::new(ErrorCode::UpgradeRequired, "this endpoint speaks WebSocket only");
        return error_response(e, 426);
    }
    let (Some(room), Some(path)) = (route.room(), route.internal_path()) else {
        return create_room(&mut req, &env).await;
    };
    // The room's object gets a canonical request built from the route, never the public one:
    // it serves `/ws`, `/info`, `/messages` and `/write` and nothing else.
    let query = match &route {
        Route::Messages(_) => req.url()?.query().map(|q| format!("?{q}")).unwrap_or_default(),
        Route::Write(_, write) => write.query(),
        _ => String::new(),
    };
    let headers = Headers::new();
    for name in ["Upgrade", "Connection", "CF-Connecting-IP", "Authorization", IDEMPOTENCY_KEY] {
        if let Some(v) = req.headers().get(name)? {
            headers.set(name, &v)?;
        }
    }
    if matches!(route, Route::Socket(_)) {
        for (name, value) in req.headers().entries() {
            if name.starts_with("sec-websocket-") {
                headers.set(&name, &value)?;
            }
        }
    }
    let mut init = RequestInit::new();
    if matches!(route, Route::Write(..) | Route::Webhook(..)) {
        let Ok(body) = body_text(&mut req).await else { return too_large() };
        init.with_method(Method::Post).with_body(Some(body.into()));
    } else {
        init.with_method(Method::Get);
    }
    init.with_headers(headers);
    let internal = Request::new_with_init(&format!("https://room{path}{query}"), &init)?;
    let stub = env.durable_object("ROOMS")?.id_from_name(room.as_str())?.get_stub()?;
    stub.fetch_with_request(internal).await
}

fn too_large() -> Result<Response> {
    let e = ProtocolError::new(ErrorCode::FrameTooLarge, format!("a request body has at most {FRAME_MAX_BYTES} bytes"));
    error_response(e, 413)
}

/// A request's body, at most a frame's size.
/// A body is read only up to the limit (a declared length over it is refused unread): the
/// platform accepts far larger ones, and wasm memory never shrinks.
async fn body_text(req: &mut Request) -> Result<String> {
    let declared = req.headers().get("Content-Length")?.and_then(|l| l.parse::<usize>().ok());
    if declared.is_some_and(|l| l > FRAME_MAX_BYTES) {
        return Err(Error::RustError("body too large".into()));
    }
    let (body, cut) = read_at_most(req.stream(), FRAME_MAX_BYTES).await?;
    if cut {
        return Err(Error::RustError("body too large".into()));
    }
    Ok(body)
}

/// A private room: 32 random bytes as hex. With the creator's key in the body
/// (`{"key": …}`), the room records it, and the first join with that key owns the room;
/// without one, the first member does.
async fn create_room(req: &mut Request, env: &Env) -> Result<Response> {
    let Ok(body) = body_text(req).await else { return too_large() };
    let created: CreateRoom = if body.trim().is_empty() {
        CreateRoom::default()
    } else {
        match serde_json::from_str(&body) {
            Ok(c) => c,
            Err(_) => {
                return error_response(ProtocolError::new(ErrorCode::BadRequest, "the body is {\"key\": …}"), 400)
            }
        }
    };
    let key = match created.key.as_deref().map(MemberKey::parse).transpose() {
        Ok(k) => k,
        Err(e) => return error_response(e, 400),
    };
    let mut bytes = [0u8; 32];
    getrandom::getrandom(&mut bytes).map_err(|e| Error::RustError(format!("no randomness: {e}")))?;
    let room: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
    if let Some(key) = key {
        let headers = Headers::new();
        headers.set("Content-Type", "application/json")?;
        let mut init = RequestInit::new();
        init.with_method(Method::Post).with_headers(headers).with_body(Some(key.as_str().to_owned().into()));
        let internal = Request::new_with_init("https://room/create", &init)?;
        let stub = env.durable_object("ROOMS")?.id_from_name(&room)?.get_stub()?;
        let answer = stub.fetch_with_request(internal).await?;
        if answer.status_code() >= 300 {
            return Ok(answer);
        }
    }
    Ok(Response::from_json(&CreatedRoom { room })?.with_status(201))
}
