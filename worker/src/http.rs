//! The Worker's `fetch`: `/api/*` only (wrangler's `[assets]` serves the page, and
//! `run_worker_first` sends only `/api/*` here). Requests are checked and forwarded to the
//! room's Durable Object; the routing rules themselves live in [`crate::routes`].

use crate::durable::error_response;
use crate::routes::{origin_allowed, route, Route};
use confab_shared::{CreatedRoom, ErrorCode, ProtocolError};
use worker::*;

#[event(fetch)]
async fn fetch(req: Request, env: Env, _ctx: Context) -> Result<Response> {
    let method = req.method().to_string();
    let route = match route(&method, &req.path()) {
        Ok(r) => r,
        Err(e) => {
            let status = if e.code == ErrorCode::NotFound { 404 } else { 400 };
            return error_response(e, status);
        }
    };
    let room = match route {
        Route::CreateRoom => return create_room(),
        Route::Socket(room) => {
            if !req.headers().get("Upgrade")?.is_some_and(|u| u.eq_ignore_ascii_case("websocket")) {
                let e = ProtocolError::new(ErrorCode::UpgradeRequired, "this endpoint speaks WebSocket only");
                return error_response(e, 426);
            }
            let url = req.url()?;
            let own = url.origin().ascii_serialization();
            let allowed = env.var("ALLOWED_ORIGINS").map(|v| v.to_string()).unwrap_or_default();
            let origin = req.headers().get("Origin")?;
            if !origin_allowed(origin.as_deref(), &own, &allowed) {
                let e = ProtocolError::new(ErrorCode::ForbiddenOrigin, "this origin may not open a socket here");
                return error_response(e, 403);
            }
            room
        }
        Route::RoomInfo(room) | Route::Messages(room) => room,
    };
    let stub = env.durable_object("ROOMS")?.id_from_name(room.as_str())?.get_stub()?;
    stub.fetch_with_request(req).await
}

/// A private room: 32 random bytes as hex. Nothing records it; whoever has the id can join.
fn create_room() -> Result<Response> {
    let mut bytes = [0u8; 32];
    getrandom::getrandom(&mut bytes).map_err(|e| Error::RustError(format!("no randomness: {e}")))?;
    let room = bytes.iter().map(|b| format!("{b:02x}")).collect();
    Ok(Response::from_json(&CreatedRoom { room })?.with_status(201))
}
