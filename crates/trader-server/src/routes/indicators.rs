//! The user's settings (`/api/indicators`): the Python version's
//! `settings.yaml` as JSON. Reading takes a session or any token; changing
//! takes a session or a `trade` token, except that raising auto-trade's
//! risk takes a session with 2FA and a recent confirmation (403 for
//! tokens). One 422 names every bad field by its JSON path.

use actix_web::{get, patch, put, web};
use trader_api_types::ErrorBody;
use trader_api_types::signals::Settings;

use crate::auth::AuthUser;
use crate::error::ApiError;
use crate::json::ApiJson;
use crate::meta::RequestMeta;
use crate::services::settings as service;
use crate::state::AppState;

/// The user's settings (the defaults until they save any).
#[utoipa::path(
    tag = "settings",
    operation_id = "get_indicators",
    responses((status = 200, body = Settings), (status = "default", description = "An error", body = ErrorBody)),
    security(("session" = []), ("bearer" = []))
)]
#[get("/indicators")]
pub(crate) async fn get_indicators(
    state: web::Data<AppState>,
    caller: AuthUser,
) -> Result<web::Json<Settings>, ApiError> {
    // Read afresh, not from the cache: the settings form sends back what
    // it showed, and a stale `auto_trade.enabled` (just after the kill
    // switch on another instance) would turn auto-trade on again.
    Ok(web::Json(service::load(&state, caller.id()).await?))
}

/// Replaces the settings (missing groups and fields take the defaults).
#[utoipa::path(
    tag = "settings",
    operation_id = "put_indicators",
    request_body = Settings,
    responses(
        (status = 200, body = Settings),
        (status = 422, description = "Every bad field, by its JSON path", body = ErrorBody),
        (status = "default", description = "An error", body = ErrorBody),
    ),
    security(("session" = [], "csrf" = []), ("bearer" = []))
)]
#[put("/indicators")]
pub(crate) async fn put_indicators(
    state: web::Data<AppState>,
    caller: AuthUser,
    meta: RequestMeta,
    body: ApiJson<serde_json::Value>,
) -> Result<web::Json<Settings>, ApiError> {
    let authority = service::Authority::of(&caller, state.clock.now());
    let change = service::replace(&state, caller.id(), authority, body.into_inner()).await?;
    service::audit_change(&state, &caller, &meta, &change).await?;
    Ok(web::Json(change.new))
}

/// Changes some settings: a JSON merge patch (RFC 7396) on the current ones.
#[utoipa::path(
    tag = "settings",
    operation_id = "patch_indicators",
    request_body(content = Object, description = "A JSON merge patch, e.g. {\"indicators\": {\"rsi\": {\"period\": 10}}}", content_type = "application/merge-patch+json"),
    responses(
        (status = 200, body = Settings),
        (status = 422, description = "Every bad field, by its JSON path", body = ErrorBody),
        (status = "default", description = "An error", body = ErrorBody),
    ),
    security(("session" = [], "csrf" = []), ("bearer" = []))
)]
#[patch("/indicators")]
pub(crate) async fn patch_indicators(
    state: web::Data<AppState>,
    caller: AuthUser,
    meta: RequestMeta,
    body: ApiJson<serde_json::Value>,
) -> Result<web::Json<Settings>, ApiError> {
    let authority = service::Authority::of(&caller, state.clock.now());
    let change = service::patch(&state, caller.id(), authority, body.into_inner()).await?;
    service::audit_change(&state, &caller, &meta, &change).await?;
    Ok(web::Json(change.new))
}
