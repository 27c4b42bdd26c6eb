//! `GET /api/events`: the signed-in user's live updates as Server-Sent
//! Events (see `services::events`).

use actix_web::{HttpRequest, HttpResponse, get, web};
use futures_util::stream;
use trader_api_types::ErrorBody;

use crate::auth::AuthUser;
use crate::error::ApiError;
use crate::services::events;
use crate::state::AppState;

/// The signed-in user's live updates, as Server-Sent Events: `signals`,
/// `order`, `fill`, `scheduler_pass`, `auto_trade` and `session_ended`,
/// each with a numeric `id` and JSON `data`, and a heartbeat comment every
/// 15 s. A reconnect with `Last-Event-ID` first gets what it missed (up to
/// a day back). The stream ends when the session or token stops holding
/// (checked every 30 s) and when the server shuts down. At most 5 at once
/// per user on a server (429 beyond).
#[utoipa::path(
    tag = "events",
    operation_id = "stream_events",
    params(("Last-Event-ID" = Option<i64>, Header, description = "The id of the last event received, to resume after it")),
    responses(
        (status = 200, description = "An event stream", content_type = "text/event-stream", body = String),
        (status = 401, description = "Not signed in", body = ErrorBody),
        (status = 429, description = "Five streams are open already", body = ErrorBody),
        (status = "default", description = "An error", body = ErrorBody),
    ),
    security(("session" = []), ("bearer" = []))
)]
#[get("/events")]
pub(crate) async fn stream_events(
    state: web::Data<AppState>,
    caller: AuthUser,
    req: HttpRequest,
) -> Result<HttpResponse, ApiError> {
    let last_id = req
        .headers()
        .get("last-event-id")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<i64>().ok())
        .filter(|id| *id >= 0);
    let rx = events::open(state, caller, last_id)?;
    let body = stream::unfold(rx, |mut rx| async move {
        rx.recv()
            .await
            .map(|chunk| (Ok::<_, std::convert::Infallible>(chunk), rx))
    });
    // Cache-Control: no-store comes with every /api answer.
    Ok(HttpResponse::Ok()
        .content_type("text/event-stream")
        // Tells nginx not to buffer the stream.
        .insert_header(("X-Accel-Buffering", "no"))
        .streaming(body))
}
